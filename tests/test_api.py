"""The HTTP surface: discovery, hooks with prefetch, bad input, 412, feedback, health."""

from __future__ import annotations

import pytest

from tests.cards import response_problems
from tests.conftest import her2_positive_liver_patient, observation, prefetch_for

SERVICE = "/cds-services/her2-mbc-guidance"


def hook_body(prefetch=None, **extra):
    body = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"patientId": "p1", "userId": "Practitioner/example"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


@pytest.fixture()
def full_prefetch(app, knowledge):
    return prefetch_for(her2_positive_liver_patient(), app.extensions["her2cds"].templates, knowledge)


def test_discovery_lists_both_services_with_restricted_prefetch(client):
    services = client.get("/cds-services").json["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("her2-mbc-guidance", "patient-view"),
        ("her2-mbc-order-check", "order-select"),
        ("her2-mbc-order-check", "order-sign"),
    }
    for service in services:
        assert service["description"] and service["title"]
        for template in service["prefetch"].values():
            resource_type = template.split("?")[0].split("/")[0]
            assert resource_type in {
                "Patient",
                "Condition",
                "Observation",
                "MedicationStatement",
                "MedicationRequest",
                "MedicationAdministration",
                "MedicationDispense",
            }
            params = template.split("?", 1)[1].split("&") if "?" in template else []
            assert all(p.split("=")[0] in {"patient", "code", "_count"} for p in params), template


def test_patient_view_with_prefetch(client, full_prefetch):
    response = client.post(SERVICE, json=hook_body(full_prefetch))
    assert response.status_code == 200
    assert response_problems(response.json, "patient-view") == []
    assessment = response.json["cards"][0]["extension"]["her2-cds-assessment"]
    assert assessment["recommendedLine"] == 2
    assert assessment["recommendedRegimens"][0] == {"id": "trastuzumab-deruxtecan", "preferred": True}


def test_unknown_fields_and_extensions_are_ignored(client, full_prefetch):
    body = hook_body(full_prefetch, extension={"com.example.x": {"a": 1}}, somethingNew=[1, 2])
    body["context"]["extension"] = {"y": True}
    assert client.post(SERVICE, json=body).status_code == 200


def test_null_prefetch_key_means_no_data(client, full_prefetch):
    full_prefetch["medicationStatements"] = None
    assessment = client.post(SERVICE, json=hook_body(full_prefetch)).json["cards"][0]["extension"]["her2-cds-assessment"]
    assert assessment["lineOfTherapy"] == {"current": 0, "status": "naive", "earlyRelapse": False}


def test_operation_outcome_prefetch_without_server_is_named_in_a_card(client, full_prefetch):
    full_prefetch["cardiac"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    cards = client.post(SERVICE, json=hook_body(full_prefetch)).json["cards"]
    assert "cardiac" in cards[-1]["detail"] and cards[-1]["indicator"] == "info"


def _assessment(client, body):
    return client.post(SERVICE, json=body).json["cards"][0]["extension"]["her2-cds-assessment"]


def test_a_patient_id_sent_as_a_reference_is_the_patients_id(client, full_prefetch):
    """CDS Hooks' patientId is the Patient's logical id; an EHR that sends "Patient/p1" means p1. Its records
    name "Patient/p1": read as sent, none had been the patient's (held-out h25: no breast cancer)."""
    body = hook_body(full_prefetch)
    body["context"]["patientId"] = "Patient/p1"
    assert _assessment(client, body) == _assessment(client, hook_body(full_prefetch))


def test_a_search_wrapped_in_a_batch_response_is_read(client, full_prefetch):
    """An EHR that runs the prefetch as a batch may send its batch-response: each entry's searchset holds the
    records (held-out h23: read as no breast cancer)."""
    wrapped = {
        key: {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [{"resource": value, "response": {"status": "200 OK"}}],
        }
        if isinstance(value, dict) and value.get("resourceType") == "Bundle"
        else value
        for key, value in full_prefetch.items()
    }
    assert _assessment(client, hook_body(wrapped)) == _assessment(client, hook_body(full_prefetch))


def test_search_entries_without_their_record_make_the_history_incomplete(client, full_prefetch):
    """A medication search's entries holding only a fullUrl (the records not sent): the history cannot be
    trusted, so no regimen is offered on it (held-out h24)."""
    bundle = full_prefetch["medicationStatements"]
    bundle["entry"] = [
        {"fullUrl": f"http://fhir.test/MedicationStatement/{entry['resource']['id']}", "search": {"mode": "match"}}
        for entry in bundle["entry"]
    ]
    response = client.post(SERVICE, json=hook_body(full_prefetch)).json
    assessment = response["cards"][0]["extension"]["her2-cds-assessment"]
    assert "history-incomplete" in assessment["alerts"] and "recommendedRegimens" not in assessment
    assert "medicationStatements is partial" in response["cards"][-1]["detail"]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b"[1,2]", "application/json", 400),
        (b'{"hook": "patient-view"}', "text/plain", 415),
        (b'{"hookInstance": "x", "context": {"patientId": "p1"}}', "application/json", 400),
        (b'{"hook": "patient-view", "hookInstance": "x"}', "application/json", 400),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {}}', "application/json", 400),
        (b'{"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p1"}}', "application/json", 400),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
    ],
)
def test_bad_input_is_a_4xx_with_an_operation_outcome(client, data, content_type, status):
    response = client.post(SERVICE, data=data, content_type=content_type)
    assert response.status_code == status
    assert response.json["resourceType"] == "OperationOutcome"
    assert "Traceback" not in response.get_data(as_text=True)


def test_unknown_service_is_404(client):
    response = client.post("/cds-services/no-such-service", json=hook_body({}))
    assert response.status_code == 404 and response.json["resourceType"] == "OperationOutcome"


def test_required_data_neither_prefetched_nor_fetchable_is_412(client):
    response = client.post(SERVICE, json=hook_body())
    assert response.status_code == 412
    assert "conditions" in response.json["issue"][0]["diagnostics"]


def test_body_over_the_limit_is_413(tmp_path):
    from service import create_app

    small = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "max_body_bytes": 1000}).test_client()
    response = small.post(SERVICE, data=b'{"a": "' + b"x" * 5000 + b'"}', content_type="application/json")
    assert response.status_code == 413 and response.json["resourceType"] == "OperationOutcome"


def test_feedback_is_stored_once(client, app, full_prefetch):
    card = client.post(SERVICE, json=hook_body(full_prefetch)).get_json()["cards"][0]["uuid"]
    feedback = {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"code": "patient-declined", "system": "urn:her2-cds:override-reason"},
                    "userComment": "prefers to wait",
                },
                "outcomeTimestamp": "2026-06-01T10:00:00Z",
            }
        ]
    }
    for _ in range(2):
        response = client.post(f"{SERVICE}/feedback", json=feedback)
        assert response.status_code == 200
    rows = app.extensions["her2cds"].feedback.rows(card)
    assert len(rows) == 1 and rows[0]["outcome"] == "overridden"
    assert (rows[0]["client"], rows[0]["card_kind"], rows[0]["card_indicator"]) == ("development", "summary", "info")
    assert client.post(f"{SERVICE}/feedback", json={"feedback": [{"card": "x"}]}).status_code == 400


def test_order_sign_warns_on_an_agent_the_disease_progressed_on(client, app, knowledge):
    # with a recent normal LVEF (the app evaluates on 2026-06-01): no echocardiogram is asked for
    lvef = observation("ef", "10230-1", "2026-05-01", valueQuantity={"value": 60, "unit": "%"})
    resources = [*her2_positive_liver_patient(), lvef]
    prefetch = prefetch_for(resources, app.extensions["her2cds"].templates, knowledge)
    draft = {
        "resourceType": "MedicationRequest",
        "id": "draft1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Taxotere"},
    }
    body = {
        "hook": "order-sign",
        "hookInstance": "o1",
        "context": {
            "patientId": "p1",
            "userId": "Practitioner/x",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]},
        },
        "prefetch": prefetch,
    }
    assert client.post("/cds-services/her2-mbc-order-check", json=body).json == {"cards": []}
    draft["medicationCodeableConcept"] = {"text": "Enhertu"}
    resources.append(
        {
            "resourceType": "MedicationStatement",
            "id": "m3",
            "status": "stopped",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": "Enhertu"},
            "effectivePeriod": {"start": "2025-03-20", "end": "2026-01-10"},
            "statusReason": [{"coding": [{"system": "http://snomed.info/sct", "code": "266721009"}]}],
        }
    )
    body["prefetch"] = prefetch_for(resources, app.extensions["her2cds"].templates, knowledge)
    cards = client.post("/cds-services/her2-mbc-order-check", json=body).json["cards"]
    assert [c["indicator"] for c in cards] == ["warning"]
    assert "progressed" in cards[0]["summary"]
    assert response_problems({"cards": cards}, "order-sign") == []


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok", "database": "ok"}


def test_flask_asks_once_per_function_whether_it_is_a_coroutine_and_keeps_a_bounded_table(app, client, monkeypatch):
    """``ServiceFlask.ensure_sync``: the view and every hook are looked up once; made-per-request functions don't pile up."""
    import flask.app

    from service.app import SYNCED_KEPT

    asked = []
    real = flask.app.iscoroutinefunction
    monkeypatch.setattr(flask.app, "iscoroutinefunction", lambda func: asked.append(func) or real(func))
    assert client.get("/cds-services").status_code == 200  # every hook and the view are in the table now
    asked.clear()
    for _ in range(3):
        assert client.get("/cds-services").status_code == 200
    assert asked == []
    made = [lambda: None for _ in range(SYNCED_KEPT + 50)]
    assert all(app.ensure_sync(func) is func for func in made)
    assert len(app._synced) <= SYNCED_KEPT
