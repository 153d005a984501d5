"""Medication records that name their drug only by a reference to a Medication resource.

Synthea and many EHRs keep the drug in a Medication resource and point at it from each
MedicationRequest or MedicationAdministration, often with no ``display``. No prefetch template can ask
for those Medications (CDS Hooks' restricted query subset has no ``_include``), so the service fetches
the ones it was not sent from the FHIR server; when it cannot, it does not guess the line of therapy
from the records it could read: the history is incomplete (contract: ``history-incomplete``, no line,
no regimen) and the data card names the records.
"""

from __future__ import annotations

from typing import Any

import pytest

from service import create_app
from service.engine import Engine
from service.gather import missing_medication_ids
from tests.cards import response_problems
from tests.conftest import condition, draft_order, observation, patient, prefetch_for
from tests.paging_fhir import paging_fhir_server
from tests.scenario_table import load_scenarios
from tests.test_dialects import as_medication_resources, with_infusions

SERVICE = "/cds-services/her2-mbc-guidance"
MEDICATION_RECORDS = ("MedicationStatement", "MedicationRequest", "MedicationAdministration")
# Scenarios whose advice rests on a medication history (a line was given, a next one is offered).
WITH_HISTORY = [
    s for s in load_scenarios() if s.expected.get("recommendedRegimens") and s.expected["lineOfTherapy"].get("history")
]


def referenced(scenario: Any) -> list[dict[str, Any]]:
    """The scenario's records, every drug a Medication resource the records reference with no display."""
    from datetime import date

    return as_medication_resources(with_infusions(scenario.resources(), date.fromisoformat(scenario.now)))


def call(tmp_path, scenario: Any, **body: Any) -> dict[str, Any]:
    # Small pages cost many round trips: the limits are raised so that only what is tested can fail.
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/f.sqlite3",
            "evaluation_date": scenario.now,
            "time_budget_seconds": 30,
            "max_fhir_pages": 500,
        }
    )
    request = {
        "hook": "patient-view",
        "hookInstance": "5f0c1e9a-7a51-4d3b-9b3e-2f7d8c6a1b20",
        "context": {"patientId": scenario.patient_id()},
        **body,
    }
    response = app.test_client().post(SERVICE, json=request)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response_problems(response.json, "patient-view") == []
    return response.json


def templates(tmp_path) -> dict[str, str]:
    return create_app({"database_url": f"sqlite:///{tmp_path}/t.sqlite3"}).extensions["her2cds"].templates


def data_card(cards: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((card for card in cards if card["summary"].startswith("Some records could not be read")), None)


def test_there_are_scenarios_with_a_history():
    assert len(WITH_HISTORY) >= 10


@pytest.mark.parametrize("scenario", WITH_HISTORY, ids=[s.id for s in WITH_HISTORY])
def test_unsent_medications_leave_the_history_incomplete(tmp_path, scenario, knowledge):
    """Prefetch without the Medications and no FHIR server: no line, no regimen, the records named."""
    resources = [r for r in referenced(scenario) if r["resourceType"] != "Medication"]
    cards = call(tmp_path, scenario, prefetch=prefetch_for(resources, templates(tmp_path), knowledge))["cards"]
    assessment = cards[0]["extension"]["her2-cds-assessment"]
    assert "history-incomplete" in assessment["alerts"]
    assert "recommendedLine" not in assessment and "recommendedRegimens" not in assessment
    card = data_card(cards)
    assert card is not None
    assert "its medication Medication/formulary-1 could not be read" in card["detail"].replace("\\", "")  # markdown escapes


@pytest.mark.parametrize("scenario", WITH_HISTORY, ids=[s.id for s in WITH_HISTORY])
def test_unsent_medications_are_fetched_from_the_fhir_server(tmp_path, scenario, knowledge):
    """Prefetch without the Medications, and a FHIR server that holds them: the same advice as coded records."""
    resources = referenced(scenario)
    sent = [r for r in resources if r["resourceType"] != "Medication"]
    with paging_fhir_server(resources, 2) as fhir_server:
        prefetch = prefetch_for(sent, templates(tmp_path), knowledge)
        cards = call(tmp_path, scenario, prefetch=prefetch, fhirServer=fhir_server)["cards"]
    assert cards[0]["extension"]["her2-cds-assessment"] == scenario.expected
    assert data_card(cards) is None


def test_fallback_reads_the_records_then_their_medications(tmp_path):
    """No prefetch at all: the searches find records that reference Medications, fetched afterwards."""
    scenario = max(WITH_HISTORY, key=lambda s: len(s.resources()))
    with paging_fhir_server(referenced(scenario), 3) as fhir_server:
        cards = call(tmp_path, scenario, fhirServer=fhir_server)["cards"]
    assert cards[0]["extension"]["her2-cds-assessment"] == scenario.expected
    assert data_card(cards) is None


def test_a_medication_the_server_does_not_have_leaves_the_history_incomplete(tmp_path, knowledge):
    scenario = WITH_HISTORY[0]
    resources = referenced(scenario)
    without_one = [r for r in resources if not (r["resourceType"] == "Medication" and r["id"] == "formulary-1")]
    with paging_fhir_server(without_one, 50) as fhir_server:
        cards = call(tmp_path, scenario, fhirServer=fhir_server)["cards"]
    assessment = cards[0]["extension"]["her2-cds-assessment"]
    assert "history-incomplete" in assessment["alerts"]
    assert "recommendedRegimens" not in assessment


def _record(reference: dict[str, Any], status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "medicationReference": reference,
        "effectivePeriod": {"start": "2025-01-10", "end": "2025-06-01"},
        **extra,
    }


def _metastatic_patient() -> list[dict[str, Any]]:
    return [
        patient(),
        condition("c1", "snomed", "254837009", "2024-12-01"),
        condition("c2", "snomed", "94381002", "2024-12-20"),
        observation("o1", "85319-2", "2024-12-05", valueCodeableConcept={"text": "3+"}),
    ]


def test_a_reference_with_a_display_is_read_by_its_name(engine: Engine):
    from datetime import date

    resources = [*_metastatic_patient(), _record({"reference": "Medication/gone", "display": "Enhertu 100 mg vial"})]
    evaluation = engine.evaluate("p1", resources, date(2025, 7, 1))
    assert [line.agents for line in evaluation.history.lines] == [["trastuzumab-deruxtecan"]]
    assert evaluation.record.unresolved_medications == []
    assert "history-incomplete" not in evaluation.alerts


CONTAINED_ANTIEMETIC = {"resourceType": "Medication", "id": "here", "code": {"text": "Zofran"}}


@pytest.mark.parametrize(
    ("reference", "extra", "unresolved"),
    [
        ({"reference": "Medication/gone"}, {}, True),
        ({"reference": "http://ehr.test/fhir/Medication/gone/_history/3"}, {}, True),
        ({"reference": "#nowhere"}, {}, True),
        ({"reference": "#here"}, {"contained": [CONTAINED_ANTIEMETIC]}, False),
        ({"reference": "Medication/antiemetic"}, {}, False),  # sent, and names no agent: understood
        ({"reference": "urn:uuid:9d3c2f4e-1b7a-4c55-8e0f-6a2b9c1d7e31"}, {}, False),  # a Synthea Bundle's entry
        ({"reference": "urn:uuid:00000000-1b7a-4c55-8e0f-6a2b9c1d7e31"}, {}, True),
        ({"display": "ondansetron"}, {}, False),
    ],
)
def test_which_references_cannot_be_understood(engine: Engine, reference, extra, unresolved):
    from datetime import date

    antiemetic = {"resourceType": "Medication", "id": "antiemetic", "code": {"text": "ondansetron 8 mg"}}
    bundled = {"resourceType": "Medication", "id": "9d3c2f4e-1b7a-4c55-8e0f-6a2b9c1d7e31", "code": {"text": "Zofran"}}
    resources = [*_metastatic_patient(), antiemetic, bundled, _record(reference, **extra)]
    evaluation = engine.evaluate("p1", resources, date(2025, 7, 1))
    assert bool(evaluation.record.unresolved_medications) is unresolved
    assert ("history-incomplete" in evaluation.alerts) is unresolved


LOCAL_UUID = "urn:uuid:5b1e7c3a-9f2d-4e8b-a6c1-3d4f5e6a7b8c"


def _transaction_bundle() -> dict[str, Any]:
    """A transaction Bundle's new Medication: no id, only its entry's Bundle-local uuid, which the record names."""
    kadcyla = {"resourceType": "Medication", "code": {"text": "Kadcyla 100 mg vial"}}
    entries = [{"resource": resource} for resource in _metastatic_patient()]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [*entries, {"fullUrl": LOCAL_UUID, "resource": kadcyla}, {"resource": _record({"reference": LOCAL_UUID})}],
    }


def test_a_medication_known_only_by_its_entrys_uuid_is_read_from_a_bundle_file():
    """``her2-cds evaluate`` on a transaction Bundle: the MedicationStatement was unreadable, the history incomplete."""
    from datetime import date

    from service.cli import evaluate_bundle

    assessment = evaluate_bundle(_transaction_bundle(), "patient-view", date(2025, 7, 1))["cards"][0]["extension"]
    history = assessment["her2-cds-assessment"]["lineOfTherapy"]["history"]
    assert [line["agents"] for line in history] == [["trastuzumab-emtansine"]]
    assert "history-incomplete" not in assessment["her2-cds-assessment"].get("alerts", [])


def test_a_medication_known_only_by_its_entrys_uuid_is_read_from_a_prefetch_bundle(tmp_path, knowledge):
    prefetch = prefetch_for(_metastatic_patient(), templates(tmp_path), knowledge)
    prefetch["medicationStatements"] = {**_transaction_bundle(), "type": "searchset"}
    prefetch["medicationStatements"]["entry"] = prefetch["medicationStatements"]["entry"][-2:]
    app = create_app({"database_url": f"sqlite:///{tmp_path}/u.sqlite3", "evaluation_date": "2025-07-01"})
    request = {
        "hook": "patient-view",
        "hookInstance": "5f0c1e9a-7a51-4d3b-9b3e-2f7d8c6a1b21",
        "context": {"patientId": "p1"},
        "prefetch": prefetch,
    }
    response = app.test_client().post(SERVICE, json=request)
    assessment = response.json["cards"][0]["extension"]["her2-cds-assessment"]
    assert [line["agents"] for line in assessment["lineOfTherapy"]["history"]] == [["trastuzumab-emtansine"]]
    assert "history-incomplete" not in assessment.get("alerts", [])


def _transaction_bundle_with_ids() -> dict[str, Any]:
    """As ``_transaction_bundle``, the Medication carrying an id of its own beside its entry's uuid."""
    bundle = _transaction_bundle()
    bundle["entry"][-2]["resource"] = {**bundle["entry"][-2]["resource"], "id": "med-7"}
    return bundle


def test_a_medication_named_by_its_entrys_uuid_is_read_whatever_its_id():
    """FHIR resolves a reference to an entry's fullUrl whatever id the resource carries: the record had lost its drug."""
    from datetime import date

    from service.cli import evaluate_bundle

    assessment = evaluate_bundle(_transaction_bundle_with_ids(), "patient-view", date(2025, 7, 1))["cards"][0]["extension"]
    history = assessment["her2-cds-assessment"]["lineOfTherapy"]["history"]
    assert [line["agents"] for line in history] == [["trastuzumab-emtansine"]]
    assert "history-incomplete" not in assessment["her2-cds-assessment"].get("alerts", [])


def test_a_prefetched_collection_names_its_medications_by_uuid_across_keys(tmp_path, knowledge):
    """An EHR's collection Bundle per key: the record in one key names, by its uuid, a Medication sent in another."""
    prefetch = prefetch_for(_metastatic_patient(), templates(tmp_path), knowledge)
    entries = _transaction_bundle_with_ids()["entry"]
    prefetch["medicationStatements"] = {"resourceType": "Bundle", "type": "collection", "entry": entries[-1:]}
    prefetch["medicationRequests"] = {"resourceType": "Bundle", "type": "collection", "entry": entries[-2:-1]}
    app = create_app({"database_url": f"sqlite:///{tmp_path}/u.sqlite3", "evaluation_date": "2025-07-01"})
    request = {
        "hook": "patient-view",
        "hookInstance": "5f0c1e9a-7a51-4d3b-9b3e-2f7d8c6a1b22",
        "context": {"patientId": "p1"},
        "prefetch": prefetch,
    }
    assessment = app.test_client().post(SERVICE, json=request).json["cards"][0]["extension"]["her2-cds-assessment"]
    assert [line["agents"] for line in assessment["lineOfTherapy"]["history"]] == [["trastuzumab-emtansine"]]
    assert "history-incomplete" not in assessment.get("alerts", [])


def test_a_record_left_out_of_the_history_needs_no_medication(engine: Engine):
    from datetime import date

    resources = [*_metastatic_patient(), _record({"reference": "Medication/gone"}, status="entered-in-error")]
    evaluation = engine.evaluate("p1", resources, date(2025, 7, 1))
    assert evaluation.record.unresolved_medications == []
    assert "history-incomplete" not in evaluation.alerts


def test_which_medications_are_fetched():
    server = "http://ehr.test/fhir"
    records = [
        _record({"reference": "Medication/a"}),
        _record({"reference": "Medication/a"}),  # asked once
        _record({"reference": f"{server}/Medication/b/_history/2"}),  # absolute, on this server
        _record({"reference": "http://elsewhere.test/fhir/Medication/c"}),  # another server's id space
        _record({"reference": "Medication/d", "display": "Enhertu"}),  # readable by its display
        _record({"reference": "#e"}),  # contained or nothing
        _record({"reference": "urn:uuid:9d3c2f4e-1b7a-4c55-8e0f-6a2b9c1d7e31"}),  # Bundle-local
        _record({"reference": "Medication/has space"}),  # not a FHIR id
        _record({"reference": "Medication/sent"}),
        {**_record({"reference": "Medication/f"}), "medicationCodeableConcept": {"text": "Herceptin"}},
        {"resourceType": "Observation", "id": "o", "medicationReference": {"reference": "Medication/g"}},
    ]
    resources = [*records, {"resourceType": "Medication", "id": "sent"}]
    assert missing_medication_ids(resources, server) == ["a", "b"]
    assert missing_medication_ids(resources, server + "/") == ["a", "b"]
    assert missing_medication_ids(resources, None) == []


# -- order hooks: draft orders that reference their drug --------------------------------------------
ORDER_SERVICE = "/cds-services/her2-mbc-order-check"


def _order_sign(tmp_path, knowledge, draft_medication: dict[str, Any], medications=(), fhir_server=None, example="ex3-"):
    from service.cli import bundle_resources, example_bundles

    bundle = next(bundle for name, bundle in example_bundles() if name.startswith(example))
    resources = bundle_resources(bundle)
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    draft = draft_order("draft-1", patient_id, **draft_medication)
    entries = [{"resource": resource} for resource in (draft, *medications)]
    app = create_app({"database_url": f"sqlite:///{tmp_path}/o.sqlite3", "evaluation_date": "2026-12-01"})
    body: dict[str, Any] = {
        "hook": "order-sign",
        "hookInstance": "8c1f3d2e-4b5a-4c6d-9e7f-0a1b2c3d4e5f",
        "context": {
            "patientId": patient_id,
            "userId": "Practitioner/1",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": entries},
        },
        "prefetch": prefetch_for(resources, app.extensions["her2cds"].templates, knowledge),
    }
    if fhir_server:
        body["fhirServer"] = fhir_server
    response = app.test_client().post(ORDER_SERVICE, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response_problems(response.json, "order-sign") == []
    return [(card["indicator"], card["summary"]) for card in response.json["cards"]]


ENHERTU = {"resourceType": "Medication", "id": "enhertu-100mg", "code": {"text": "Enhertu 100 mg vial"}}


def test_a_draft_order_is_checked_through_its_medication(tmp_path, knowledge):
    """ex4 progressed on T-DXd. A draft of it warns the same when coded in place, when its Medication
    rides in draftOrders, and when only the FHIR server holds that Medication."""
    coded = _order_sign(tmp_path, knowledge, {"medicationCodeableConcept": ENHERTU["code"]}, example="ex4-")
    assert [indicator for indicator, _summary in coded] == ["warning"], coded
    by_reference = {"medicationReference": {"reference": "Medication/enhertu-100mg"}}
    assert _order_sign(tmp_path, knowledge, by_reference, medications=[ENHERTU], example="ex4-") == coded
    with paging_fhir_server([ENHERTU], 10) as fhir_server:
        assert _order_sign(tmp_path, knowledge, by_reference, fhir_server=fhir_server, example="ex4-") == coded


def test_a_draft_order_nobody_can_read_is_named(tmp_path, knowledge):
    cards = _order_sign(tmp_path, knowledge, {"medicationReference": {"reference": "Medication/enhertu-100mg"}}, example="ex4-")
    assert cards == [("info", "Some records could not be read: advice rests on partial data")]
