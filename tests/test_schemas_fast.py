"""``load_hook_request`` answers as ``HOOK_SCHEMA.load`` does: the same dict, or the same error (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from service.schemas import HOOK_SCHEMA, _plain_hook_request, load_hook_request

odd = st.one_of(st.none(), st.integers(-1, 1), st.booleans(), st.just([]), st.just({}), st.just(""), st.floats(0, 1))
texts = st.one_of(
    st.text(max_size=5), st.text(min_size=199, max_size=201), st.sampled_from(["patient-view", "order-sign", "order-select"])
)
patient_ids = st.one_of(st.sampled_from(["p1", " ", ""]), odd)
draft_orders = st.one_of(
    odd,
    st.just({"resourceType": "Bundle", "entry": []}),
    st.just({"resourceType": "Bundle", "entry": {}}),
    st.just({"resourceType": "Patient"}),
    st.just({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "MedicationRequest"}}]}),
)
contexts = st.one_of(
    odd,
    st.fixed_dictionaries(
        {}, optional={"patientId": patient_ids, "userId": st.just("Practitioner/1"), "draftOrders": draft_orders}
    ),
)
servers = st.one_of(
    odd,
    st.sampled_from(["http://127.0.0.1:8080/fhir", "https://ehr.example.org/fhir/r4", "ftp://x.example", "not a url", "http://"]),
)
authorizations = st.one_of(
    odd,
    st.fixed_dictionaries(
        {},
        optional={
            "access_token": st.one_of(st.just("abc"), st.just(""), odd),
            "token_type": st.one_of(st.just("Bearer"), odd),
            "expires_in": st.one_of(st.integers(0, 300), odd, st.just("300")),
            "scope": st.one_of(st.just("patient/*.read"), odd),
            "subject": st.just("client"),
            "extra": st.just(1),
        },
    ),
)
prefetches = st.one_of(
    odd,
    st.dictionaries(st.sampled_from(["patient", "conditions", "x"]), st.one_of(st.none(), st.just({"resourceType": "Bundle"}))),
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "hook": st.one_of(texts, odd),
        "hookInstance": st.one_of(texts, odd),
        "context": contexts,
        "fhirServer": servers,
        "fhirAuthorization": authorizations,
        "prefetch": prefetches,
        "unknown": st.just("ignored"),
    },
)


def outcome(load: Any, body: Any) -> tuple[str, Any]:
    try:
        loaded = load(body)
    except ValidationError as error:
        return "error", error.messages
    return "loaded", (loaded, list(loaded))  # the keys' order too


@settings(max_examples=400)
@given(bodies)
def test_the_fast_load_agrees_with_the_schema(body: dict[str, Any]) -> None:
    assert outcome(load_hook_request, body) == outcome(HOOK_SCHEMA.load, body)


def test_the_usual_request_takes_the_fast_path_and_copies_what_load_copies() -> None:
    """Not vacuous: a plain request (with a server and a token) is loaded here, not handed to marshmallow."""
    body = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "https://ehr.example.org/fhir",
        "fhirAuthorization": {
            "access_token": "abc",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "x",
        },
        "context": {"patientId": "p1", "userId": "Practitioner/1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}},
    }
    loaded = _plain_hook_request(body)
    assert loaded is not None and loaded == HOOK_SCHEMA.load(body)
    assert loaded["context"] is not body["context"] and loaded["prefetch"] is not body["prefetch"]


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_a_body_that_is_no_object_is_refused_by_the_schema(body: Any) -> None:
    with pytest.raises(ValidationError):
        load_hook_request(body)
