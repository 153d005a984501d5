"""The service against a real FHIR server that misbehaves on purpose (tests/faultserver.py).

Hooks are called WITHOUT prefetch, so every record comes over HTTP from the fault server. Each fault
must give a 200 with an info card naming the prefetch key that could not be read and the assessment
of what could (the same assessment as when the EHR says that key has no data), or a 412 when a
required key (mappings/services.yaml ``required_prefetch``) is lost; never a 500, never later than the
time budget plus a second. The second server ("another origin") proves that redirects and foreign
``next`` links are not followed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service import create_app
from service.app import prefetch_templates
from service.cli import bundle_resources, example_bundles
from service.config import Settings
from service.fhir_gateway import FhirBadResponse, FhirError, FhirGateway, FhirTimeout, FhirUnavailable, retry_after_seconds
from service.gather import render_query
from service.sandbox import run_template
from tests.cards import ASSESSMENT_KEY, response_problems
from tests.conftest import ROOT, draft_order
from tests.faultserver import HARMLESS_MODES, MODES, SEARCH_ONLY_MODES, FaultServer, closed_port, example_resources

PATIENT = "ex3-patient"  # progressed on THP with liver metastases: every key has records
ORDER_PATIENT = "ex4-patient"  # progressed on T-DXd (recorded as MedicationAdministrations): ordering it again warns
TOKEN = "fhir-token-for-the-ehr-only"
BYTE_LIMIT = 400_000  # the largest page of any example is far below; the oversized answer far above
SLACK = 1.0
FAULTS = [mode for mode in MODES if mode not in HARMLESS_MODES]
READ_FAULTS = [mode for mode in FAULTS if mode not in SEARCH_ONLY_MODES]


@pytest.fixture(scope="module")
def templates(knowledge) -> dict[str, str]:
    return prefetch_templates(knowledge)


@pytest.fixture(scope="module")
def other_origin(templates) -> Iterator[FaultServer]:
    with FaultServer([], templates) as server:
        yield server


@pytest.fixture(scope="module")
def fault_server(templates, other_origin) -> Iterator[FaultServer]:
    with FaultServer(example_resources(), templates, other_origin=other_origin.base_url, oversize_bytes=2 * BYTE_LIMIT) as server:
        yield server


@pytest.fixture()
def fhir(fault_server, other_origin) -> Iterator[FaultServer]:
    """The fault server with no fault set; afterwards: no request ever reached the other origin."""
    fault_server.reset()
    other_origin.reset()
    yield fault_server
    assert list(other_origin.seen) == [], "a request (with the token?) reached another origin"
    assert all(seen.authorization == f"Bearer {TOKEN}" for seen in fault_server.seen)


@pytest.fixture(scope="module")
def fault_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    return create_app(
        {
            "database_url": f"sqlite:///{folder}/feedback.sqlite3",
            "evaluation_date": "2026-06-01",
            "max_fhir_bundle_bytes": BYTE_LIMIT,
        }
    )


@pytest.fixture(scope="module")
def budget(fault_app) -> float:
    return float(fault_app.extensions["her2cds"].settings.time_budget_seconds)


@pytest.fixture(scope="module")
def client(fault_app):
    return fault_app.test_client()


def example(patient_id: str) -> list[dict[str, Any]]:
    """The resources of the example bundle whose Patient has ``patient_id``."""
    for _name, bundle in example_bundles():
        resources = bundle_resources(bundle)
        if any(r["resourceType"] == "Patient" and r.get("id") == patient_id for r in resources):
            return resources
    raise LookupError(patient_id)


def patient_view(patient_id: str = PATIENT, fhir_server: str | None = None, prefetch: dict[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": f"faults-{patient_id}",
        "context": {"patientId": patient_id, "userId": "Practitioner/1"},
        "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer", "scope": "patient/*.read", "subject": "cds"},
    }
    if fhir_server:
        body["fhirServer"] = fhir_server
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def order_sign(fhir_server: str, medication: str = "Enhertu") -> dict:
    draft = draft_order("draft1", ORDER_PATIENT, medicationCodeableConcept={"text": medication})
    body = patient_view(ORDER_PATIENT, fhir_server) | {"hook": "order-sign", "hookInstance": "faults-order"}
    draft_orders = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
    body["context"] = body["context"] | {"draftOrders": draft_orders}
    return body


def timed_post(client, path: str, body: dict) -> tuple[Any, float]:
    started = time.monotonic()
    response = client.post(path, json=body)
    return response, time.monotonic() - started


def assessment_of(response) -> dict[str, Any]:
    return response.json["cards"][0]["extension"][ASSESSMENT_KEY]


@pytest.fixture(scope="module")
def assessment_without(client, templates):
    """The assessment when the EHR prefetches everything but says ``key`` has no data (``null``)."""
    resources = example(PATIENT)
    found: dict[str | None, dict[str, Any]] = {}

    def assessment(*missing: str) -> dict[str, Any]:
        if missing not in found:
            prefetch = {key: None if key in missing else run_template(t, PATIENT, resources) for key, t in templates.items()}
            response = client.post("/cds-services/her2-mbc-guidance", json=patient_view(prefetch=prefetch))
            assert response.status_code == 200
            found[missing] = assessment_of(response)
        return found[missing]

    return assessment


def data_card_detail(cards: list[dict[str, Any]]) -> str:
    """The detail of the info card naming what could not be read ('' when there is none)."""
    return next((c["detail"] for c in cards if c["indicator"] == "info" and "could not be read" in c.get("detail", "")), "")


# -- the fault server is a correct FHIR server ---------------------------------------------------------


@pytest.mark.parametrize("name", [name for name, _bundle in example_bundles()])
def test_every_example_over_fhir_matches_its_prefetch(client, fhir, templates, name):
    bundle = dict(example_bundles())[name]
    resources = bundle_resources(bundle)
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    prefetch = {key: run_template(t, patient_id, resources) for key, t in templates.items()}
    by_prefetch = client.post("/cds-services/her2-mbc-guidance", json=patient_view(patient_id, prefetch=prefetch))
    over_fhir, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", patient_view(patient_id, fhir.base_url))
    assert over_fhir.status_code == 200
    assert response_problems(over_fhir.json, "patient-view") == []
    assert over_fhir.json == by_prefetch.json  # same cards, no data-problems card
    assert {seen.key for seen in fhir.seen} == set(templates)  # every key was fetched, nothing else


# -- one prefetch key misbehaves -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", FAULTS)
def test_fault_on_an_optional_search_gives_an_info_card_and_the_rest(client, fhir, budget, assessment_without, mode):
    fhir.faults["cardiac"] = mode
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 200, response.json
    assert elapsed < budget + SLACK
    assert response_problems(response.json, "patient-view") == []
    assert "cardiac could not be read" in data_card_detail(response.json["cards"])
    assert assessment_of(response) == assessment_without("cardiac")
    if mode == "endless-next":
        assert fhir.requests_for("cardiac") <= client.application.extensions["her2cds"].settings.max_fhir_pages + 1


@pytest.mark.parametrize("mode", READ_FAULTS)
def test_fault_on_the_patient_read_gives_an_info_card_and_the_rest(client, fhir, budget, assessment_without, mode):
    fhir.faults["patient"] = mode
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 200, response.json
    assert elapsed < budget + SLACK
    assert response_problems(response.json, "patient-view") == []
    assert "patient could not be read" in data_card_detail(response.json["cards"])
    assert assessment_of(response) == assessment_without("patient")


@pytest.mark.parametrize("key", ["conditions", "receptors"])
@pytest.mark.parametrize("mode", FAULTS)
def test_fault_on_required_data_is_412(client, fhir, budget, key, mode):
    fhir.faults[key] = mode
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 412, response.json
    assert elapsed < budget + SLACK
    assert response.json["resourceType"] == "OperationOutcome"
    assert key in response.json["issue"][0]["diagnostics"]


@pytest.mark.parametrize("mode", FAULTS)
def test_order_sign_names_unreadable_history_even_without_a_warning(client, fhir, budget, mode):
    fhir.faults["medicationAdministrations"] = mode  # where the T-DXd progression is recorded: no warning is left
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-order-check", order_sign(fhir.base_url))
    assert response.status_code == 200, response.json
    assert elapsed < budget + SLACK
    assert response_problems(response.json, "order-sign") == []
    assert "medicationAdministrations could not be read" in data_card_detail(response.json["cards"])


MEDICATION_KEYS = ("medicationStatements", "medicationRequests", "medicationAdministrations")


@pytest.mark.parametrize("key", MEDICATION_KEYS)
@pytest.mark.parametrize("mode", ["outcome-error", "outcome-fatal", "503+oo", "500"])
def test_a_medication_search_the_server_answers_in_part_gives_history_incomplete(client, fhir, assessment_without, key, mode):
    """An error OperationOutcome among a search's entries (``search.mode = outcome``) or an HTTP error:
    the medication history was not read in full, so no line and no regimen (issue 12), whatever the
    records that did arrive say."""
    complete = assessment_without()
    assert complete["recommendedLine"] >= 2 and complete["recommendedRegimens"]  # something to lose
    fhir.faults[key] = mode
    response = client.post("/cds-services/her2-mbc-guidance", json=patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 200, response.json
    assert response_problems(response.json, "patient-view") == []
    assessment = assessment_of(response)
    assert "history-incomplete" in assessment["alerts"]
    assert "recommendedLine" not in assessment and "recommendedRegimens" not in assessment
    assert "suggestions" not in response.json["cards"][0]
    assert f"{key} could not be read" in data_card_detail(response.json["cards"])
    if mode.startswith("outcome-"):  # the records that did arrive are still read
        assert assessment["lineOfTherapy"] == complete["lineOfTherapy"]
        assert "OperationOutcome among the records, issue incomplete" in data_card_detail(response.json["cards"])


@pytest.mark.parametrize("mode", ["404", "404+oo", "403", "500", "outcome-error", "hang"])
def test_a_dispense_search_that_fails_is_named_and_the_history_still_trusted(client, fhir, budget, assessment_without, mode):
    """Dispenses are read when they can be (mappings/services.yaml ``best_effort_prefetch``): a server
    that fails on the search loses the dispenses only, named on the data card; one that does not offer
    it (404, FHIR's answer for an unsupported resource type) keeps none, and nothing is named. The
    history from orders, statements and administrations is trusted as before."""
    complete = assessment_without()
    assert complete["recommendedRegimens"]  # something a history-incomplete would take away
    fhir.faults["medicationDispenses"] = mode
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 200, response.json
    assert elapsed < budget + SLACK
    assert assessment_of(response) == complete
    named = "medicationDispenses could not be read" in data_card_detail(response.json["cards"])
    assert named is not mode.startswith("404")


def test_an_ordinary_key_the_server_does_not_offer_is_still_named(client, fhir):
    fhir.faults["medicationAdministrations"] = "404"
    response = client.post("/cds-services/her2-mbc-guidance", json=patient_view(fhir_server=fhir.base_url))
    assert "history-incomplete" in assessment_of(response)["alerts"]
    assert "medicationAdministrations could not be read" in data_card_detail(response.json["cards"])


def test_dispenses_neither_prefetched_nor_fetchable_are_passed_over_in_silence(client, templates):
    """An EHR that prefetches what it keeps and names no FHIR server: no dispenses is no fault."""
    resources = example(PATIENT)
    prefetch = {key: run_template(t, PATIENT, resources) for key, t in templates.items() if key != "medicationDispenses"}
    response = client.post("/cds-services/her2-mbc-guidance", json=patient_view(prefetch=prefetch))
    assert response.status_code == 200
    assert not any("could not be read" in card.get("detail", "") for card in response.json["cards"])
    without_statements = {**prefetch}
    del without_statements["medicationStatements"]  # an ordinary key missing is still named
    response = client.post("/cds-services/her2-mbc-guidance", json=patient_view(prefetch=without_statements))
    assert "medicationStatements could not be read" in data_card_detail(response.json["cards"])


@pytest.mark.parametrize("key", [*MEDICATION_KEYS, "cardiac"])
def test_an_informational_outcome_in_a_search_answer_changes_nothing(client, fhir, assessment_without, key):
    fhir.faults[key] = "outcome-information"
    response = client.post("/cds-services/her2-mbc-guidance", json=patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 200, response.json
    assert assessment_of(response) == assessment_without()
    assert data_card_detail(response.json["cards"]) == ""


def test_an_error_outcome_in_another_search_names_the_key_but_keeps_the_options(client, fhir, assessment_without):
    fhir.faults["cardiac"] = "outcome-error"
    response = client.post("/cds-services/her2-mbc-guidance", json=patient_view(fhir_server=fhir.base_url))
    assert "cardiac could not be read in full" in data_card_detail(response.json["cards"])
    assert assessment_of(response) == assessment_without()  # an LVEF search is not the medication history


def test_order_sign_keeps_its_warning_when_other_data_fails(client, fhir):
    clean = client.post("/cds-services/her2-mbc-order-check", json=order_sign(fhir.base_url)).json["cards"]
    assert [c["indicator"] for c in clean] == ["warning"] and "progressed" in clean[0]["summary"]
    fhir.faults["cardiac"] = "503+oo"
    cards = client.post("/cds-services/her2-mbc-order-check", json=order_sign(fhir.base_url)).json["cards"]
    assert cards[0] == clean[0]
    assert "cardiac could not be read" in data_card_detail(cards)


def test_an_order_the_service_does_not_check_gets_no_data_card(client, fhir):
    fhir.faults["cardiac"] = "503"
    response = client.post("/cds-services/her2-mbc-order-check", json=order_sign(fhir.base_url, "paracetamol 500 mg"))
    assert response.status_code == 200 and response.json == {"cards": []}


# -- the whole server misbehaves -----------------------------------------------------------------------


def test_connection_refused_without_prefetch_is_412(client, budget):
    response, elapsed = timed_post(
        client, "/cds-services/her2-mbc-guidance", patient_view(fhir_server=f"http://127.0.0.1:{closed_port()}/fhir")
    )
    assert response.status_code == 412 and elapsed < budget + SLACK
    assert "could not be reached" in response.json["issue"][0]["diagnostics"]


def test_connection_refused_with_required_data_prefetched_names_the_rest(client, templates, budget, assessment_without):
    resources = example(PATIENT)
    prefetch = {key: run_template(templates[key], PATIENT, resources) for key in ("conditions", "receptors")}
    refused = f"http://127.0.0.1:{closed_port()}/fhir"
    body = patient_view(fhir_server=refused, prefetch=prefetch)
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", body)
    assert response.status_code == 200 and elapsed < budget + SLACK
    assert response_problems(response.json, "patient-view") == []
    others = sorted(set(templates) - set(prefetch))
    detail = data_card_detail(response.json["cards"])
    assert all(f"{key} could not be read" in detail for key in others)
    # Unreadable medication keys are not "no data": the history is untrusted, so no regimen is offered
    # and history-incomplete is raised (contract, issue 12); everything else is as if the keys were empty.
    expected = dict(assessment_without(*others))
    expected.pop("recommendedLine", None)
    expected.pop("recommendedRegimens", None)
    expected["alerts"] = sorted({*expected.get("alerts", []), "history-incomplete"} - {"hepatic-impairment"})
    assessment = assessment_of(response)
    assessment["alerts"] = sorted(set(assessment.get("alerts", [])) - {"hepatic-impairment"})
    assert assessment == expected


@pytest.mark.parametrize("mode", ["hang", "slow-drip", "503"])
def test_every_key_failing_is_412_within_the_budget(client, fhir, budget, mode):
    fhir.faults["*"] = mode
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 412 and elapsed < budget + SLACK


def test_429_with_a_short_retry_after_is_retried_within_the_budget(client, fhir, budget):
    fhir.faults["cardiac"] = "429-once"
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 200 and elapsed < budget + SLACK
    assert data_card_detail(response.json["cards"]) == ""
    assert fhir.requests_for("cardiac") == 2


def test_searches_run_in_parallel(client, fhir, budget, templates):
    fhir.faults["*"] = "slow"  # one after another, the keys would take several budgets
    assert fhir.slow_seconds * len(templates) > 2 * budget
    response, elapsed = timed_post(client, "/cds-services/her2-mbc-guidance", patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 200 and elapsed < budget + SLACK
    assert data_card_detail(response.json["cards"]) == ""


def test_the_configured_time_budget_is_kept(fhir, tmp_path):
    default = Settings.model_fields["time_budget_seconds"].default
    budget = 0.4
    assert budget + SLACK < default  # the ceiling below tells the configured budget from the default one
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "time_budget_seconds": budget})
    fhir.faults["cardiac"] = "hang"
    response, elapsed = timed_post(app.test_client(), "/cds-services/her2-mbc-guidance", patient_view(fhir_server=fhir.base_url))
    assert response.status_code == 200 and budget <= elapsed < budget + SLACK
    assert "cardiac could not be read" in data_card_detail(response.json["cards"])


def test_a_cookie_set_by_the_fhir_server_is_never_sent_back(client, fhir):
    fhir.faults["patient"] = "cookie"  # the session serves every user: a cookie would join the next user's request
    for _ in range(2):
        response = client.post("/cds-services/her2-mbc-guidance", json=patient_view(fhir_server=fhir.base_url))
        assert response.status_code == 200 and data_card_detail(response.json["cards"]) == ""
    assert len(fhir.seen) > 2 * 9 - 1
    assert [seen.path for seen in fhir.seen if seen.cookie] == []


# -- the gateway on its own: timing and connections ----------------------------------------------------


def test_the_connect_timeout_ends_a_connection_that_is_never_accepted():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # a full accept queue: the next connection hangs in its handshake
        port = listener.getsockname()[1]
        queued = [socket.socket() for _ in range(3)]
        for sock in queued:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        started = time.monotonic()
        with pytest.raises(FhirTimeout):
            FhirGateway(connect_timeout=0.3).search(f"http://127.0.0.1:{port}/fhir", "Condition?patient=p1", TOKEN, started + 3)
        assert time.monotonic() - started < 1.5  # the connect timeout, not the 3 s deadline
        for sock in queued:
            sock.close()


def cardiac_query(templates: dict[str, str]) -> str:
    query = render_query(templates["cardiac"], {"patientId": PATIENT})
    assert query
    return query


@pytest.mark.parametrize(("mode", "error"), [("hang", FhirTimeout), ("slow-drip", FhirTimeout), ("truncated", FhirUnavailable)])
def test_the_gateway_gives_up_at_the_deadline(fhir, templates, mode, error):
    fhir.faults["cardiac"] = mode
    gateway = FhirGateway()
    started = time.monotonic()
    with pytest.raises(error):
        gateway.search(fhir.base_url, cardiac_query(templates), TOKEN, started + 1.0)
    # the worker thread is free again, not only the response: well before the hang (10 s) or the drip ends
    assert time.monotonic() - started < 1.0 + SLACK


def test_the_gateway_reuses_connections(fhir, templates):
    gateway = FhirGateway()
    before = fhir.connections
    for _ in range(10):
        gateway.search(fhir.base_url, cardiac_query(templates), TOKEN, time.monotonic() + 2)
    assert fhir.connections - before == 1


def test_an_oversized_answer_is_refused(fhir, templates):
    fhir.faults["cardiac"] = "oversized"
    with pytest.raises(FhirBadResponse, match="over"):
        FhirGateway(max_bytes=BYTE_LIMIT).search(fhir.base_url, cardiac_query(templates), TOKEN, time.monotonic() + 2)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("3", 3.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after(value, seconds):
    assert retry_after_seconds(value) == seconds


@pytest.mark.parametrize(
    "next_url", ["http://127.0.0.1:99999/fhir/x", "ftp://127.0.0.1/x", 42, {"url": "x"}, "/fhir/relative", "http:///nohost"]
)
def test_odd_next_links_are_not_followed(fhir, next_url):
    page = {"resourceType": "Bundle", "type": "searchset", "entry": [], "link": [{"relation": "next", "url": next_url}]}
    with pytest.raises(FhirBadResponse, match="another server"):
        FhirGateway().follow(fhir.base_url, fhir.base_url, TOKEN, time.monotonic() + 2, first_page=page)


@pytest.mark.parametrize("patient_id", ["../Observation", "p1&_include=*", "p1?x=1", "p1#frag"])
def test_a_patient_id_cannot_change_the_query(patient_id):
    query = render_query("Condition?patient={{context.patientId}}&_count=200", {"patientId": patient_id})
    assert query is not None and query.count("&") == 1 and query.count("?") == 1 and "/" not in query


# -- memory --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oversized_server() -> Iterator[str]:
    """A fault server in its own process (its 20 MB answers are not this process's memory) that
    answers every request with an oversized chunked answer."""
    command = [sys.executable, "-m", "tests.faultserver", "--fault-every", "1", "--rotation", "oversized-chunked"]
    server = subprocess.Popen([*command, "--oversize-bytes", str(24 * 1024 * 1024)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


def rss_mib() -> float:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_refused_oversized_answers_leave_no_memory_behind(oversized_server, templates):
    """Eight threads (a request's searches) each read 16 MB before refusing it; the process keeps none of it."""
    gateway = FhirGateway(connect_timeout=10, max_bytes=16 * 1024 * 1024)
    query = cardiac_query(templates)
    errors: list[Exception] = []

    def search() -> None:
        try:
            gateway.search(oversized_server, query, TOKEN, time.monotonic() + 30)
        except FhirError as exc:
            errors.append(exc)

    before = rss_mib()
    for _round in range(3):
        threads = [threading.Thread(target=search) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(errors) == 24 and all("over" in str(error) for error in errors)
    assert rss_mib() - before < 32, f"{rss_mib() - before:.0f} MiB kept after refusing 24 answers of 16 MB"
