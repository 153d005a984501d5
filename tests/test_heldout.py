"""Held-out patients: records written by testers who never read the service, checked against what they expected.

tests/heldout/ holds 2,874 patients, 197 order drafts (a hundred and ten of them sessions of several drafts) and forty
patient-view requests as EHRs fill their prefetch, written in other EHRs' dialects (Epic-, Cerner-,
mCODE-, German MII-, NHS-, Synthea-, French-, Australian-, Spanish- and Dutch-like, and an older FHIR
style, US oncology exports, records converted from C-CDA and HL7 v2, free text in many languages,
records in non-Latin scripts, and many more) by three hundred and twenty-four testers who read only the
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

from service.app import create_app
from service.cli import bundle_resources, patient_id_of
from service.order_check import OrderChecker
from service.render import CardRenderer, RenderContext
from tests.cards import assessment_validator
from tests.conftest import prefetch_for

HELDOUT = Path(__file__).parent / "heldout"
EXPECTED = json.loads((HELDOUT / "expected.json").read_text(encoding="utf-8"))
NOW = date.fromisoformat(EXPECTED["evaluateAs"])


@pytest.fixture(scope="module")
def heldout_app(tmp_path_factory):
    """One service for the cases posted over HTTP (hook requests, order sessions): built once, not per case."""
    folder = tmp_path_factory.mktemp("heldout")
    return create_app({"database_url": f"sqlite:///{folder}/h.sqlite3", "evaluation_date": EXPECTED["evaluateAs"]})


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
    _reads_as_expected(EXPECTED["patients"][name], _assessment(engine, knowledge, name))


@pytest.mark.parametrize("name", sorted(EXPECTED["hooks"]))
def test_a_held_out_hook_request_is_answered_as_its_tester_expected(heldout_app, name):
    """A patient-view request as an EHR fills the service's prefetch (searchsets with includes, next links
    and warnings, null and absent keys, OperationOutcomes, every Observation in every key), posted as it is."""
    case = EXPECTED["hooks"][name]
    body = json.loads((HELDOUT / "hooks" / f"{name}.json").read_text(encoding="utf-8"))
    response = heldout_app.test_client().post("/cds-services/her2-mbc-guidance", json=body)
    assert response.status_code == case.get("httpStatus", 200), response.get_data(as_text=True)[:300]
    if response.status_code == 200:
        _reads_as_expected(case, response.json["cards"][0]["extension"]["her2-cds-assessment"])


def _reads_as_expected(case: dict[str, Any], assessment: dict[str, Any]) -> None:
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


ORDERS = sorted(name for name, case in EXPECTED["orders"].items() if "hook" not in case)
# Requests an order session drafts beside its MedicationRequests (a treatment plan, an echo, a diet).
SESSION_TYPES = frozenset({"CarePlan", "RequestGroup", "ServiceRequest", "NutritionOrder"})


def _of_the_session(resource: dict[str, Any]) -> bool:
    kind = resource.get("resourceType")
    return (kind == "MedicationRequest" and resource.get("status") == "draft") or kind in SESSION_TYPES


ORDER_SETS = sorted(name for name, case in EXPECTED["orders"].items() if "hook" in case)  # several drafts, through HTTP


def _warned_as_expected(case: dict[str, Any], cards: list[dict[str, Any]]) -> None:
    summaries = " | ".join(card["summary"] for card in cards)
    for words in case["summaryHolds"]:
        assert words in summaries, (case["expectedWarning"], summaries)
    for words in case["summaryLacks"]:
        assert words not in summaries, (case.get("mustNotWarnOf", case["expectedWarning"]), summaries)
    if not case["summaryHolds"]:  # nothing argues against the drafts: no card at all
        assert cards == [], summaries
    named = [card["indicator"] for card in cards if any(words in card["summary"] for words in case["summaryHolds"])]
    assert set(named) <= set(case["indicators"])


@pytest.mark.parametrize("name", ORDERS)
def test_a_held_out_order_gets_the_warning_its_tester_expected(engine, knowledge, name):
    case = EXPECTED["orders"][name]
    resources = _bundle(HELDOUT / "orders" / f"{name}.json")
    patient_id = patient_id_of(resources)
    drafts = [r for r in resources if r.get("resourceType") == "MedicationRequest" and r.get("status") == "draft"]
    assert len(drafts) == 1
    checker = OrderChecker(knowledge, engine.normaliser, CardRenderer(knowledge))
    medications = engine.normaliser.medications_by_reference(resources)  # a draft may name a Medication sent beside it
    _warned_as_expected(
        case,
        checker.cards(engine.evaluate(patient_id, resources, NOW), drafts, RenderContext("heldout", patient_id), medications),
    )


@pytest.mark.parametrize("name", ORDER_SETS)
def test_a_held_out_order_set_gets_the_warnings_its_tester_expected(heldout_app, knowledge, name):
    """An order session of several drafts, posted to the order-check service as an EHR sends it: the
    patient's records through the service's own prefetch templates (with the Medications they reference, as
    an ``_include`` returns them), every draft of the session in ``context.draftOrders`` (with the plans,
    echo and laboratory requests drafted beside them) and, for order-select, the drafts just picked in
    ``context.selections``."""
    case = EXPECTED["orders"][name]
    resources = _bundle(HELDOUT / "orders" / f"{name}.json")
    drafts = [r for r in resources if _of_the_session(r)]
    records = [r for r in resources if not any(r is draft for draft in drafts)]
    medications = [r for r in resources if r.get("resourceType") == "Medication"]
    prefetch = prefetch_for(records, heldout_app.extensions["her2cds"].templates, knowledge)
    for key in ("medicationStatements", "medicationRequests", "medicationAdministrations", "medicationDispenses"):
        if prefetch[key].get("entry"):
            prefetch[key]["entry"] += [{"resource": medication, "search": {"mode": "include"}} for medication in medications]
    context: dict[str, Any] = {
        "patientId": patient_id_of(resources),
        "userId": "Practitioner/1",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in drafts + medications]},
    }
    if case.get("selections"):
        context["selections"] = case["selections"]
    body = {
        "hook": case["hook"],
        "hookInstance": "0c5b7f8e-2d1a-4e3b-9c6d-7a8b9c0d1e2f",
        "context": context,
        "prefetch": prefetch,
    }
    response = heldout_app.test_client().post("/cds-services/her2-mbc-order-check", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    _warned_as_expected(case, response.json["cards"])
