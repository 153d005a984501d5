"""order-select / order-sign: a request without its draft orders is a 400 naming the field, never an empty 200."""

from __future__ import annotations

import pytest

from tests.patients import Patient

PATH = "/cds-services/her2-mbc-order-check"


def request(hook: str, context_extra: dict) -> dict:
    entries = [{"resource": r} for r in Patient().resources()]
    prefetch = {key: {"resourceType": "Bundle", "type": "searchset", "entry": entries} for key in ("conditions", "receptors")}
    return {
        "hook": hook,
        "hookInstance": "o1",
        "context": {"patientId": "p1", "userId": "Practitioner/x"} | context_extra,
        "prefetch": prefetch,
    }


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize(
    "draft_orders",
    [None, [{"resourceType": "MedicationRequest", "id": "d1"}], {"resourceType": "MedicationRequest", "id": "d1"}, "Bundle"],
    ids=["missing", "array", "resource", "string"],
)
def test_draft_orders_must_be_a_bundle(client, hook, draft_orders):
    extra = {} if draft_orders is None else {"draftOrders": draft_orders}
    if hook == "order-select":
        extra["selections"] = ["MedicationRequest/d1"]
    response = client.post(PATH, json=request(hook, extra))
    assert response.status_code == 400
    assert "context.draftOrders" in response.get_data(as_text=True)
    assert response.json["resourceType"] == "OperationOutcome"


def test_an_empty_bundle_is_still_answered(client):
    """A Bundle with no entries is a valid request with nothing to check: 200, no cards."""
    body = request("order-sign", {"draftOrders": {"resourceType": "Bundle", "type": "collection"}})
    response = client.post(PATH, json=body)
    assert response.status_code == 200 and response.json == {"cards": []}


def test_order_check_cards_come_critical_first(engine, knowledge):
    """A draft the liver label forbids (critical) is shown before one the disease progressed on (warning)."""
    from datetime import date

    from service.order_check import OrderChecker
    from service.render import CardRenderer, RenderContext
    from tests.patients import Line

    progressed = Line(["Enhertu"], "2021-07-15", "2023-01-31", progressed="2023-01-20")
    patient = Patient(lines=[progressed], labs=[("bilirubin", "2026-11-10", 1.6, 1.2)])
    evaluation = engine.evaluate(patient.pid, patient.resources(), date(2026, 11, 20))
    drafts = [
        {
            "resourceType": "MedicationRequest",
            "id": name,
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {"text": name},
        }
        for name in ("Enhertu", "Taxotere")
    ]
    renderer = CardRenderer(knowledge)
    cards = OrderChecker(knowledge, engine.normaliser, renderer).cards(evaluation, drafts, RenderContext("h", patient.pid))
    assert [card["indicator"] for card in cards] == ["critical", "warning"]
    assert "docetaxel" in cards[0]["summary"].lower()


def test_the_conformance_checker_rejects_two_recommended_suggestions_on_an_at_most_one_card():
    from tests.cards import response_problems

    suggestion = {"label": "Order", "uuid": "u1", "isRecommended": True, "actions": []}
    card = {
        "summary": "s",
        "indicator": "info",
        "source": {"label": "x"},
        "suggestions": [suggestion, suggestion | {"uuid": "u2"}],
        "selectionBehavior": "at-most-one",
    }
    assert any("at-most-one" in problem for problem in response_problems({"cards": [card]}, "patient-view"))
    assert not any(
        "at-most-one" in p for p in response_problems({"cards": [card | {"selectionBehavior": "any"}]}, "patient-view")
    )
