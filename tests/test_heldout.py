"""Held-out patients: records written by testers who never read the service, checked against what they expected.

tests/heldout/ holds 514 patients and 82 order drafts written in other EHRs' dialects (Epic-, Cerner-,
mCODE-, German MII-, NHS-, Synthea-, French-, Australian-, Spanish- and Dutch-like, and an older FHIR
style, US oncology exports, records converted from C-CDA and HL7 v2, free text in six languages,
records in non-Latin scripts, and many more) by fifty-seven testers who read only the
contract (../shared/contract) and the clinical reference (../shared/reference/clinical.md), and wrote
what each assessment should say before the service was run on them (tests/heldout/README.md). Where
the service answers otherwise on purpose, ``expected.json`` says so under ``adjudicated``, with the
reason; every other expectation is the tester's.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from service.cli import bundle_resources, patient_id_of
from service.order_check import OrderChecker
from service.render import CardRenderer, RenderContext
from tests.cards import assessment_validator

HELDOUT = Path(__file__).parent / "heldout"
EXPECTED = json.loads((HELDOUT / "expected.json").read_text(encoding="utf-8"))
NOW = date.fromisoformat(EXPECTED["evaluateAs"])


def _bundle(path: Path) -> list[dict[str, Any]]:
    return bundle_resources(json.loads(path.read_text(encoding="utf-8")))


def _assessment(engine, knowledge, name: str) -> dict[str, Any]:
    resources = _bundle(HELDOUT / f"{name}.json")
    patient_id = patient_id_of(resources)
    cards = CardRenderer(knowledge).cards(engine.evaluate(patient_id, resources, NOW), RenderContext("heldout", patient_id))
    found: dict[str, Any] = cards[0]["extension"]["her2-cds-assessment"]
    return found


def _present(assessment: dict[str, Any], field: str) -> bool:
    parent, _, child = field.partition(".")
    return child in assessment.get(parent, {}) if child else parent in assessment


@pytest.mark.parametrize("name", sorted(EXPECTED["patients"]))
def test_a_held_out_patient_reads_as_its_tester_expected(engine, knowledge, name):
    case = EXPECTED["patients"][name]
    assessment = _assessment(engine, knowledge, name)
    assert not list(assessment_validator().iter_errors(assessment))
    expected = case["expected"]
    for field in ("breastCancer", "deceased", "metastatic", "metastaticSites", "her2", "hormoneReceptor", "recommendedLine"):
        if field in expected:
            assert assessment.get(field) == expected[field], (field, case.get("rationale"))
    line = assessment["lineOfTherapy"]
    if "lineOfTherapy" in expected:  # a tester may leave it open (another cancer's treatment: is it a line?)
        assert {key: line.get(key) for key in expected["lineOfTherapy"]} == expected["lineOfTherapy"], case.get("rationale")
    if "history" in case:  # every field the tester gave, line by line; no end while a line is active
        assert len(line.get("history", [])) == len(case["history"]), case.get("rationale")
        for found, wanted in zip(line.get("history", []), case["history"], strict=True):
            assert {key: found.get(key) for key in wanted} == wanted, case.get("rationale")
            assert not [key for key in ("end", "endReason") if key in found and key not in wanted], case.get("rationale")
    open_alerts = set(case["alertsOpen"])
    assert set(assessment.get("alerts", [])) - open_alerts == set(expected.get("alerts", [])) - open_alerts
    offered = {regimen["id"]: regimen["preferred"] for regimen in assessment.get("recommendedRegimens", [])}
    for regimen, preferred in case["regimens"].items():
        assert offered.get(regimen) == preferred, (regimen, case.get("rationale"))
    assert not [regimen for regimen in case["regimensNotPreferred"] if offered.get(regimen)]
    assert not [field for field in case["omitted"] if _present(assessment, field)]


@pytest.mark.parametrize("name", sorted(EXPECTED["orders"]))
def test_a_held_out_order_gets_the_warning_its_tester_expected(engine, knowledge, name):
    case = EXPECTED["orders"][name]
    resources = _bundle(HELDOUT / "orders" / f"{name}.json")
    patient_id = patient_id_of(resources)
    drafts = [r for r in resources if r.get("resourceType") == "MedicationRequest" and r.get("status") == "draft"]
    assert len(drafts) == 1
    checker = OrderChecker(knowledge, engine.normaliser, CardRenderer(knowledge))
    medications = engine.normaliser.medications_by_reference(resources)  # a draft may name a Medication sent beside it
    cards = checker.cards(engine.evaluate(patient_id, resources, NOW), drafts, RenderContext("heldout", patient_id), medications)
    summaries = " | ".join(card["summary"] for card in cards)
    for words in case["summaryHolds"]:
        assert words in summaries, (case["expectedWarning"], summaries)
    for words in case["summaryLacks"]:
        assert words not in summaries, (case["expectedWarning"], summaries)
    if not case["summaryHolds"]:  # nothing argues against the draft: no card at all
        assert cards == [], summaries
    named = [card["indicator"] for card in cards if any(words in card["summary"] for words in case["summaryHolds"])]
    assert set(named) <= set(case["indicators"])
