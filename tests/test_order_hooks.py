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
