"""A metastasis first recorded during a line (mappings/lines.yaml new_site_on_line).

RECIST 1.1 counts a new lesion as progression. A site first recorded more than six weeks after a line
began, with no progression on record, is that line's progression on its onset, and the summary card names
it. Earlier, the Condition may be the line's baseline staging written down late; a disease status saying
stable or better on or after its day keeps the line going. Two held-out testers (t13, s21) read a new
liver metastasis during T-DXd as its progression, where the service had only named the site.
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
NOTE = "Progression read from a metastasis first recorded more than 42 days after a line began"


def _liver_metastatic() -> list[dict[str, Any]]:
    """HER2-positive, liver metastases at diagnosis (2025-12), an LVEF of 60 % in April."""
    return [
        patient(),
        condition("bc", "snomed", "254837009", "2025-12-01"),
        condition("liver", "snomed", "94381002", "2025-12-10"),
        observation("her2", "85319-2", "2025-12-05", valueCodeableConcept={"text": "3+"}),
        observation("lvef", "10230-1", "2026-04-01", valueQuantity={"value": 60, "unit": "%"}),
    ]


def _on_thp(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """HER2-positive, liver metastases at diagnosis, THP from 2026-01-05 and HP maintenance since April."""
    return [
        *_liver_metastatic(),
        statement("hp", "Phesgo", "2026-01-05", status="active"),
        statement("doc", "docetaxel", "2026-01-05", "2026-04-20"),
        *extra,
    ]


def _summary_detail(engine: Engine, knowledge, resources: list[dict[str, Any]]) -> tuple[Any, str]:
    evaluation = engine.evaluate("p1", resources, NOW)
    return evaluation, CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]


def test_a_bone_metastasis_first_recorded_months_into_the_line_is_its_progression(engine, knowledge):
    bone = condition("bone", "snomed", "94222008", "2026-05-10")
    evaluation, detail = _summary_detail(engine, knowledge, _on_thp(bone))
    assert evaluation.new_sites == (("bone", date(2026, 5, 10)),)
    assert NOTE in detail and "bone (2026-05-10, line 1). A new lesion is progression by RECIST 1.1" in detail
    assessment = evaluation.assessment()
    assert assessment["lineOfTherapy"]["status"] == "progressed" and assessment["recommendedLine"] == 2
    assert assessment["metastaticSites"] == ["bone", "liver"]


def test_a_new_site_during_an_earlier_line_ends_it_for_progression(engine):
    """A liver metastasis first recorded during line 1 (after its last dose, before line 2 began): line 1's
    end reason is progression (held-out t13)."""
    records = [
        patient(),
        condition("bc", "snomed", "254837009", "2025-01-01"),
        condition("bone", "snomed", "94222008", "2025-01-10"),
        observation("her2", "85319-2", "2025-01-05", valueCodeableConcept={"text": "3+"}),
        statement("thp", "docetaxel + trastuzumab + pertuzumab", "2025-01-20", "2025-09-01"),
        condition("liver", "snomed", "94381002", "2025-09-20"),
        statement("tdxd", "Enhertu", "2025-10-01", status="active"),
    ]
    history = engine.evaluate("p1", records, NOW).assessment()["lineOfTherapy"]["history"]
    assert [(line["line"], line.get("endReason")) for line in history] == [(1, "progression"), (2, None)]


def test_a_stable_disease_status_since_the_new_site_keeps_the_line(engine):
    """The restaging that recorded the site called the disease stable: the clinician read the scan otherwise."""
    stable = observation("ds", "97509-4", "2026-05-12", valueCodeableConcept={"coding": [coding("snomed", "359746009")]})
    evaluation = engine.evaluate("p1", _on_thp(condition("bone", "snomed", "94222008", "2026-05-10"), stable), NOW)
    assert evaluation.new_sites == () and evaluation.history.status == "on-treatment"


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


def _tdxd_infusions(last: str) -> list[dict[str, Any]]:
    """T-DXd (line 1 here) infused every three weeks from 2026-01-05 to ``last``; its order completed."""
    days = ["2026-01-05", "2026-01-26", "2026-02-16", "2026-03-09", "2026-03-30", "2026-04-20", "2026-05-11"]
    return [
        {
            "resourceType": "MedicationAdministration",
            "id": f"tdxd-{day}",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "Enhertu"},
            "effectiveDateTime": day,
        }
        for day in days
        if day <= last
    ]


def _on_tdxd(last_infusion: str, brain_on: str) -> list[dict[str, Any]]:
    return [
        *_liver_metastatic(),
        *_tdxd_infusions(last_infusion),
        condition("brain", "snomed", "94225005", brain_on),
    ]


def test_a_brain_metastasis_after_which_the_line_was_not_given_again_is_its_progression(engine):
    """Held-out r68: T-DXd last infused 2026-03-09, new brain metastases on 2026-03-30, no infusion in the nine weeks
    since (the plan was discontinued for progression, in words on its premedication orders): the line progressed."""
    evaluation = engine.evaluate("p1", _on_tdxd("2026-03-09", "2026-03-30"), NOW)
    assert evaluation.new_sites == (("brain", date(2026, 3, 30)),)
    assessment = evaluation.assessment()
    assert assessment["lineOfTherapy"]["status"] == "progressed" and assessment["recommendedLine"] == 2


@pytest.mark.parametrize(
    ("last_infusion", "brain_on"),
    [("2026-05-11", "2026-03-30"), ("2026-05-11", "2026-05-10"), ("2026-04-20", "2026-04-25")],
    ids=["given-after-it", "given-since", "too-soon-to-tell"],
)
def test_a_brain_metastasis_the_line_went_on_after_stays_the_brain_cards(engine, last_infusion, brain_on):
    """T-DXd given again after the brain metastasis (local therapy, the line continued: ASCO 2022), or too few days
    gone to tell (the next infusion not yet due, and SRS may hold it): no progression read."""
    evaluation = engine.evaluate("p1", _on_tdxd(last_infusion, brain_on), NOW)
    assert evaluation.new_sites == ()
    assert evaluation.assessment()["lineOfTherapy"]["status"] == "on-treatment"
