"""docs/clinical-rules.md lists every regimen and every label safety row as mappings/ holds them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tables_module():
    spec = importlib.util.spec_from_file_location("clinical_tables", ROOT / "scripts" / "clinical_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_document_tables_are_those_of_the_mappings(knowledge):
    tables = _tables_module()
    text = tables.DOC.read_text(encoding="utf-8")
    assert tables.render_document(text, knowledge) == text, "run: python scripts/clinical_tables.py"
    for regimen_id in knowledge.regimens:
        assert f"`{regimen_id}`" in text, f"{regimen_id} missing from the regimen table"
    for agent, rule in knowledge.safety["liver"]["rules"].items():
        for row in rule["rows"]:
            assert row["section"] in text and agent in text


def test_every_regimen_states_its_label_status_and_every_unverified_source_says_why(knowledge):
    for regimen in knowledge.regimen_models.values():
        assert regimen.label_status, f"{regimen.id}: label_status"
    for source_id, source in knowledge.sources.items():
        if source.get("check"):
            assert source.get("note"), f"{source_id}: check without a note saying what is unverified"
