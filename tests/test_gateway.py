"""The FHIR gateway and the gather stage over a stand-in HTTP layer (``responses``)."""

from __future__ import annotations

import time

import pytest
import requests
import responses

from service.fhir_gateway import FhirBadResponse, FhirError, FhirGateway, FhirTimeout, FhirUnavailable, is_loopback
from service.gather import PrefetchUnavailable, gather
from tests.conftest import condition, observation, searchset

BASE = "http://127.0.0.1:9999/fhir"
TEMPLATES = {
    "conditions": "Condition?patient={{context.patientId}}",
    "receptors": "Observation?patient={{context.patientId}}&code=http://loinc.org|85319-2",
}


def deadline(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


@responses.activate
def test_search_follows_next_links_and_sends_the_token():
    page2 = f"{BASE}?_getpages=abc&_offset=1"
    first = searchset([condition("c1", "snomed", "254837009", "2022-01-01")]) | {"link": [{"relation": "next", "url": page2}]}
    responses.get(f"{BASE}/Condition", json=first, match=[responses.matchers.query_param_matcher({"patient": "p1"})])
    responses.get(f"{BASE}", json=searchset([condition("c2", "snomed", "94381002", "2024-01-01")]))
    result = FhirGateway().search(BASE, "Condition?patient=p1", "secret-token", deadline())
    assert [r["id"] for r in result.resources] == ["c1", "c2"]
    assert all(call.request.headers["Authorization"] == "Bearer secret-token" for call in responses.calls)


@responses.activate
def test_next_link_to_another_origin_is_not_followed():
    first = searchset([]) | {"link": [{"relation": "next", "url": "http://evil.example/steal"}]}
    responses.get(f"{BASE}/Condition", json=first)
    with pytest.raises(FhirBadResponse, match="another server"):
        FhirGateway().search(BASE, "Condition?patient=p1", "t", deadline())
    assert len(responses.calls) == 1


@responses.activate
def test_endless_next_chain_stops():
    looping = searchset([]) | {"link": [{"relation": "next", "url": f"{BASE}/Condition?page=1"}]}
    responses.get(f"{BASE}/Condition", json=looping)
    with pytest.raises(FhirBadResponse):
        FhirGateway(max_pages=5).search(BASE, "Condition?page=1", None, deadline())


@responses.activate
def test_error_keeps_the_operation_outcome():
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]}
    responses.get(f"{BASE}/Condition", json=outcome, status=403)
    with pytest.raises(FhirError) as caught:
        FhirGateway().search(BASE, "Condition?patient=p1", None, deadline())
    assert caught.value.status == 403 and caught.value.operation_outcome == outcome


@responses.activate
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body>Login</body></html>", "text/html"),
        ('{"resourceType": "Bundle", "entry": [', "application/json"),
    ],
)
def test_html_or_truncated_json_is_a_bad_response(body, content_type):
    responses.get(f"{BASE}/Condition", body=body, content_type=content_type)
    with pytest.raises(FhirBadResponse):
        FhirGateway().search(BASE, "Condition?patient=p1", None, deadline())


@responses.activate
def test_wrong_bundle_type_is_a_bad_response():
    responses.get(f"{BASE}/Condition", json={"resourceType": "Patient", "id": "x"})
    with pytest.raises(FhirBadResponse):
        FhirGateway().search(BASE, "Condition?patient=p1", None, deadline())


@responses.activate
def test_transport_errors_are_typed():
    responses.get(f"{BASE}/Condition", body=requests.ConnectionError("refused"))
    responses.get(f"{BASE}/Observation", body=requests.ReadTimeout("slow"))
    with pytest.raises(FhirUnavailable):
        FhirGateway().search(BASE, "Condition?patient=p1", None, deadline())
    with pytest.raises(FhirTimeout):
        FhirGateway().search(BASE, "Observation?patient=p1", None, deadline())


@responses.activate
def test_redirects_are_not_followed():
    responses.get(f"{BASE}/Condition", status=302, headers={"Location": "http://evil.example/"})
    with pytest.raises(FhirBadResponse, match="redirect"):
        FhirGateway().search(BASE, "Condition?patient=p1", "t", deadline())
    assert len(responses.calls) == 1


def test_loopback_detection():
    assert is_loopback("http://127.0.0.1:8090/fhir") and is_loopback("http://localhost/fhir") and is_loopback("http://[::1]/")
    assert not is_loopback("http://10.0.0.5/fhir") and not is_loopback("https://fhir.example.org/r4")


def run_gather(prefetch, fhir_server=BASE, allowed=True, required=("conditions", "receptors")):
    return gather(
        TEMPLATES,
        list(required),
        {"patientId": "p1"},
        prefetch,
        fhir_server,
        "tok",
        FhirGateway(),
        2.0,
        lambda url: allowed,
    )


@responses.activate
def test_absent_keys_are_fetched_null_keys_are_not():
    responses.get(f"{BASE}/Condition", json=searchset([condition("c1", "snomed", "254837009", "2022-01-01")]))
    gathered = run_gather({"receptors": None})
    assert [r["id"] for r in gathered.resources] == ["c1"]
    assert [call.request.url.split("?")[0] for call in responses.calls] == [f"{BASE}/Condition"]


@responses.activate
def test_operation_outcome_prefetch_is_fetched_again():
    responses.get(f"{BASE}/Observation", json=searchset([observation("o1", "85319-2", "2024-01-01", valueString="3+")]))
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    gathered = run_gather({"conditions": searchset([]), "receptors": outcome})
    assert [r["id"] for r in gathered.resources] == ["o1"]


def test_server_not_allowed_means_no_request_and_412():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        with pytest.raises(PrefetchUnavailable):
            run_gather({}, allowed=False)
        assert len(mock.calls) == 0


@responses.activate
def test_a_failing_server_with_partial_prefetch_gives_problems_not_errors():
    responses.get(f"{BASE}/Observation", status=503, body="down")
    prefetch = {"conditions": searchset([condition("c1", "snomed", "254837009", "2022-01-01")])}
    gathered = run_gather(prefetch, required=["conditions"])
    assert [r["id"] for r in gathered.resources] == ["c1"]
    assert any("503" in problem for problem in gathered.problems)
    with pytest.raises(PrefetchUnavailable, match="receptors.*503"):  # required data unreadable: no advice at all
        run_gather(prefetch)


@responses.activate
def test_every_page_passes_the_address_guard_before_it_is_fetched():
    """Issue 13.4: the SSRF address check runs on each page, not only on the fhirServer the request named."""
    page2 = f"{BASE}/Condition?page=2"
    first = searchset([condition("c1", "snomed", "254837009", "2022-01-01")]) | {"link": [{"relation": "next", "url": page2}]}
    responses.get(f"{BASE}/Condition", json=first)
    judged: list[str] = []

    def first_page_only(url: str) -> bool:
        judged.append(url)
        return "page=2" not in url

    with pytest.raises(FhirBadResponse, match="may not call"):
        FhirGateway().search(BASE, "Condition?patient=p1", "secret-token", deadline(), first_page_only)
    assert judged == [f"{BASE}/Condition?patient=p1", page2]
    assert len(responses.calls) == 1  # the refused page was never requested


@responses.activate
@pytest.mark.parametrize("page2", ["http://127.0.0.2:9\\@127.0.0.1:9999/fhir/Condition", "http://127.0.0.1:9999\t/fhir"])
def test_a_next_link_read_differently_by_requests_is_not_followed(page2):
    first = searchset([]) | {"link": [{"relation": "next", "url": page2}]}
    responses.get(f"{BASE}/Condition", json=first)
    with pytest.raises(FhirBadResponse, match="another server"):
        FhirGateway().search(BASE, "Condition?patient=p1", "secret-token", deadline())
    assert len(responses.calls) == 1


@responses.activate
def test_a_best_effort_search_the_server_does_not_offer_is_no_fault_but_a_lost_page_is():
    """404 to the search itself is FHIR's answer for a resource type the server does not support: it keeps
    none of those records. A 404 on a later page of a search it answered is a page lost, and named."""
    templates = {**TEMPLATES, "dispenses": "MedicationDispense?patient={{context.patientId}}"}
    prefetch = {"conditions": searchset([]), "receptors": searchset([])}

    def run(best_effort):
        return gather(
            templates,
            ["conditions"],
            {"patientId": "p1"},
            prefetch,
            BASE,
            "t",
            FhirGateway(),
            2.0,
            lambda _url: True,
            None,
            None,
            best_effort,
        )

    responses.get(
        f"{BASE}/MedicationDispense",
        status=404,
        json={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-supported"}]},
    )
    assert run(["dispenses"]).problems == [] and run(["dispenses"]).incomplete == []
    assert run([]).incomplete == ["dispenses"]  # an ordinary key: named, as every fault is
    responses.reset()
    page2 = f"{BASE}/MedicationDispense?page=2"
    responses.get(page2, status=404)
    responses.get(f"{BASE}/MedicationDispense", json=searchset([]) | {"link": [{"relation": "next", "url": page2}]})
    gathered = run(["dispenses"])
    assert gathered.incomplete == ["dispenses"] and any("dispenses could not be read" in p for p in gathered.problems)
