"""A metastasis first recorded while the current line goes on (mappings/lines.yaml new_site_on_line).

RECIST 1.1 counts a new lesion as progression, but a Condition entered weeks after the line began may be
the line's baseline staging written down late. With no progression on record the line is not changed: the
summary card names the site and its date, for the clinician to record the progression if it is one.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.engine import Engine
from service.knowledge import load_knowledge
from service.render import CardRenderer, RenderContext
from tests.conftest import coding, condition, observation, patient, statement

NOW = date(2026, 6, 1)
NOTE = "A metastasis first recorded more than 42 days after line 1 began (2026-01-05)"


def _on_thp(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """HER2-positive, liver metastases at diagnosis, THP from 2026-01-05 and HP maintenance since April."""
    return [
        patient(),
        condition("bc", "snomed", "254837009", "2025-12-01"),
        condition("liver", "snomed", "94381002", "2025-12-10"),
        observation("her2", "85319-2", "2025-12-05", valueCodeableConcept={"text": "3+"}),
        observation("lvef", "10230-1", "2026-04-01", valueQuantity={"value": 60, "unit": "%"}),
        statement("hp", "Phesgo", "2026-01-05", status="active"),
        statement("doc", "docetaxel", "2026-01-05", "2026-04-20"),
        *extra,
    ]


def _summary_detail(engine: Engine, knowledge, resources: list[dict[str, Any]]) -> tuple[Any, str]:
    evaluation = engine.evaluate("p1", resources, NOW)
    return evaluation, CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]


def test_a_bone_metastasis_first_recorded_months_into_the_line_is_named_and_the_line_kept(engine, knowledge):
    bone = condition("bone", "snomed", "94222008", "2026-05-10")
    evaluation, detail = _summary_detail(engine, knowledge, _on_thp(bone))
    assert evaluation.new_sites == (("bone", date(2026, 5, 10)),)
    assert f"{NOTE}: bone (2026-05-10). A new lesion is progression by RECIST 1.1" in detail
    assessment = evaluation.assessment()
    assert assessment["lineOfTherapy"]["status"] == "on-treatment" and assessment["metastaticSites"] == ["bone", "liver"]


@pytest.mark.parametrize(
    "extra",
    [
        [condition("bone", "snomed", "94222008", "2026-02-01")],  # within six weeks: the baseline staging
        [condition("brain", "snomed", "94225005", "2026-05-10")],  # the brain card's matter (ASCO 2022)
        [condition("liver2", "icd10cm", "C78.7", "2026-05-10")],  # the liver was known at diagnosis
        [condition("bone", "snomed", "94222008", "x", recordedDate="2026-05-10")],  # only the day it was recorded
        [
            condition("bone", "snomed", "94222008", "2026-05-10"),
            observation("ds", "97509-4", "2026-05-12", valueCodeableConcept={"coding": [coding("snomed", "271299001")]}),
        ],  # the progression is on record: the next line's options, no note
    ],
    ids=["within-six-weeks", "brain", "site-known-before", "recorded-only", "progression-recorded"],
)
def test_no_note_when_the_site_may_not_be_new_or_the_progression_is_recorded(engine, knowledge, extra):
    for record in extra:
        if record.get("onsetDateTime") == "x":
            del record["onsetDateTime"]
    evaluation, detail = _summary_detail(engine, knowledge, _on_thp(*extra))
    assert evaluation.new_sites == ()
    assert "A metastasis first recorded more than" not in detail


def test_the_window_is_data(mappings_copy: Path):
    path = mappings_copy / "lines.yaml"
    document = yaml.safe_load(path.read_text())
    document["new_site_on_line"]["days_after_start"] = 200
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    engine = Engine(load_knowledge(str(mappings_copy)))
    assert engine.evaluate("p1", _on_thp(condition("bone", "snomed", "94222008", "2026-05-10")), NOW).new_sites == ()
