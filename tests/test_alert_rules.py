"""Which facts raise which alert is data (mappings/alerts.yaml): a rule changed there changes the alerts, no code change."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml

from service.cli import bundle_resources, example_bundles, patient_id_of
from service.engine import Engine
from service.knowledge import KnowledgeError, load_knowledge
from service.recommend.alerts import ALERT_FACTS
from tests.conftest import ROOT

EXAMPLES = dict(example_bundles())
NOW = date(2026, 12, 1)


def _edit_alerts(folder: Path, edit) -> None:
    path = folder / "alerts.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document))


def _alerts(mappings: Path, example: str) -> list[str]:
    resources = bundle_resources(EXAMPLES[example])
    return Engine(load_knowledge(mappings)).evaluate(patient_id_of(resources), resources, NOW).alerts


def test_the_schema_names_exactly_the_facts_the_code_computes():
    schema = json.loads((ROOT / "mappings" / "schemas" / "alerts.schema.json").read_text())
    assert sorted(schema["$defs"]["fact"]["enum"]) == sorted(ALERT_FACTS)


def test_every_alert_rule_has_wording_and_a_source(knowledge):
    rules = knowledge.alert_rules
    assert set(rules.when) <= set(knowledge.wording.alerts)
    assert set(rules.sources.values()) <= set(knowledge.sources)


def test_an_alert_rule_changed_in_the_data_changes_the_alerts(mappings_copy: Path):
    """ex4 (brain metastases) gets the brain alert; a rule that also needs a visceral crisis no longer raises it."""
    example = "ex4-brain-mets-after-tdxd.json"
    assert "brain-metastases" in _alerts(mappings_copy, example)
    needs_a_crisis_too = ["brain-metastases", "visceral-crisis-liver-criterion"]
    _edit_alerts(mappings_copy, lambda doc: doc["alerts"]["brain-metastases"].update(when=needs_a_crisis_too))
    assert "brain-metastases" not in _alerts(mappings_copy, example)


def test_an_unknown_fact_stops_start_up_naming_the_field(mappings_copy: Path):
    _edit_alerts(mappings_copy, lambda doc: doc["alerts"]["her2-equivocal"].update(when=["her2-maybe"]))
    with pytest.raises(KnowledgeError, match=r"alerts\.yaml: field alerts/her2-equivocal/when/0"):
        load_knowledge(mappings_copy)


def test_an_alert_without_wording_stops_start_up(mappings_copy: Path):
    rule = {"when": ["her2-equivocal"], "source": "asco-cap-her2"}
    _edit_alerts(mappings_copy, lambda doc: doc["alerts"].update({"new-alert": rule}))
    with pytest.raises(KnowledgeError, match=r"alerts\.yaml: field alerts/new-alert: no wording"):
        load_knowledge(mappings_copy)
