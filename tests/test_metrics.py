"""Prometheus metrics: the counters of the README's list move as requests are answered, under real
gunicorn they add up over all workers (dead ones included), and no label holds a patient id or token."""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from service import create_app
from service.ops import metrics
from tests.conftest import her2_positive_liver_patient, prefetch_for
from tests.gunicorn_run import start_gunicorn
from tests.processes import stop
from tests.stub_server import empty_fhir, stub_server
from tests.tokens import bearer, claims, mint, signing_key

SERVICE = "/cds-services/her2-mbc-guidance"
PATIENT_ID = "pat-metrics-5813"
FAMILIES = (
    "her2cds_http_requests",
    "her2cds_http_request_duration_seconds",
    "her2cds_cards",
    "her2cds_fhir_requests",
    "her2cds_fhir_request_duration_seconds",
    "her2cds_fhir_faults",
    "her2cds_prefetch_unavailable",
    "her2cds_auth_refusals",
    "her2cds_feedback",
)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def hook_body(patient_id: str = "p1", **extra):
    return {"hook": "patient-view", "hookInstance": "hi-metrics-1", "context": {"patientId": patient_id}, **extra}


def feedback_body(*outcomes: str, cards: list[str]):
    """Feedback on cards the service issued (it refuses any other uuid), one item per outcome."""
    return {
        "feedback": [
            {"card": cards[index % len(cards)], "outcome": outcome, "outcomeTimestamp": f"2026-06-01T10:00:{index:02d}Z"}
            for index, outcome in enumerate(outcomes)
        ]
    }


def test_a_hook_call_counts_the_request_its_latency_and_its_cards(client, app, knowledge):
    prefetch = prefetch_for(her2_positive_liver_patient(), app.extensions["her2cds"].templates, knowledge)
    labels = {"route": "/cds-services/<service_id>", "service": "her2-mbc-guidance", "hook": "patient-view", "status": "200"}
    before = value("her2cds_http_requests_total", **labels)
    before_latency = value("her2cds_http_request_duration_seconds_count", **labels)
    response = client.post(SERVICE, json=hook_body(prefetch=prefetch))
    assert response.status_code == 200 and response.headers["X-Request-ID"]
    cards = response.json["cards"]
    assert cards
    by_kind: dict[tuple[str, str], int] = {}
    for card in cards:
        key = (card["source"]["topic"]["code"], card["indicator"])
        by_kind[key] = by_kind.get(key, 0) + 1
    assert value("her2cds_http_requests_total", **labels) == before + 1
    assert value("her2cds_http_request_duration_seconds_count", **labels) == before_latency + 1
    for (kind, indicator), count in by_kind.items():
        card_labels = {"service": "her2-mbc-guidance", "hook": "patient-view", "kind": kind, "indicator": indicator}
        assert value("her2cds_cards_total", **card_labels) >= count  # exact deltas: the next test


def test_cards_are_counted_exactly(client, app, knowledge):
    prefetch = prefetch_for(her2_positive_liver_patient(), app.extensions["her2cds"].templates, knowledge)
    first = client.post(SERVICE, json=hook_body(prefetch=prefetch)).json["cards"]
    card_labels = {
        "service": "her2-mbc-guidance",
        "hook": "patient-view",
        "kind": first[0]["source"]["topic"]["code"],
        "indicator": first[0]["indicator"],
    }
    same = sum(
        1
        for card in first
        if (card["source"]["topic"]["code"], card["indicator"]) == (card_labels["kind"], card_labels["indicator"])
    )
    before = value("her2cds_cards_total", **card_labels)
    client.post(SERVICE, json=hook_body(prefetch=prefetch))
    assert value("her2cds_cards_total", **card_labels) == before + same


def test_a_412_counts_each_required_key_that_was_missing(client, knowledge):
    required = knowledge.services["required_prefetch"]
    before = {key: value("her2cds_prefetch_unavailable_total", key=key) for key in required}
    assert client.post(SERVICE, json=hook_body()).status_code == 412
    assert {key: value("her2cds_prefetch_unavailable_total", key=key) - before[key] for key in required} == dict.fromkeys(
        required, 1.0
    )
    labels = {"route": "/cds-services/<service_id>", "service": "her2-mbc-guidance", "hook": "patient-view", "status": "412"}
    assert value("her2cds_http_requests_total", **labels) >= 1


@pytest.fixture()
def patient_client(tmp_path):
    """An app with a long time budget: a busy machine must not turn the fallback into a 412."""
    return create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "time_budget_seconds": 20}).test_client()


def test_fhir_fallback_calls_latency_and_faults_by_kind(patient_client):
    client = patient_client
    with stub_server() as ehr:
        base = empty_fhir(ehr)  # no Patient: the read is a 404
        calls = {
            kind: value("her2cds_fhir_requests_total", resource_type=kind, status="2xx")
            for kind in ("Condition", "Observation")
        }
        missing = value("her2cds_fhir_requests_total", resource_type="Patient", status="4xx")
        faults = value("her2cds_fhir_faults_total", kind="http_4xx")
        latency = value("her2cds_fhir_request_duration_seconds_count", resource_type="Condition")
        response = client.post(SERVICE, json=hook_body(PATIENT_ID, fhirServer=base))
    assert response.status_code == 200
    for kind, before in calls.items():
        assert value("her2cds_fhir_requests_total", resource_type=kind, status="2xx") == before + ehr.hits[f"/fhir/{kind}"]
    assert value("her2cds_fhir_requests_total", resource_type="Patient", status="4xx") == missing + 1
    assert value("her2cds_fhir_faults_total", kind="http_4xx") == faults + 1
    assert (
        value("her2cds_fhir_request_duration_seconds_count", resource_type="Condition") == latency + ehr.hits["/fhir/Condition"]
    )


def test_an_unreachable_fhir_server_is_a_fault_of_kind_unavailable(client):
    with stub_server() as ehr:
        base = empty_fhir(ehr)
    # the stub is gone: nothing listens on its port any more
    before = value("her2cds_fhir_faults_total", kind="unavailable")
    assert client.post(SERVICE, json=hook_body(PATIENT_ID, fhirServer=base)).status_code == 412
    assert value("her2cds_fhir_faults_total", kind="unavailable") > before


@pytest.mark.parametrize(
    ("reason", "token"),
    [
        ("no_token", None),
        ("malformed", "not-a-jwt"),
        ("unknown_issuer", lambda: mint(signing_key(), claims(iss="https://other.example.org"))),
        ("expired", lambda: mint(signing_key(), claims(now=1_700_000_000))),
        ("audience", lambda: mint(signing_key(), claims(aud="https://elsewhere.example.org/"))),
        ("signature", lambda: mint(signing_key(serial=9, kid="es384-0"))),
    ],
)
def test_auth_refusals_are_counted_by_reason(tmp_path, reason, token):
    client_entry = {"issuer": "https://ehr.example.org", "jwks": {"keys": [signing_key().public_jwk()]}}
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "clients": [client_entry], "public_base_url": "http://localhost"})
    before = value("her2cds_auth_refusals_total", reason=reason)
    headers = bearer(token() if callable(token) else token) if token else {}
    assert app.test_client().get("/cds-services", headers=headers).status_code == 401
    assert value("her2cds_auth_refusals_total", reason=reason) == before + 1


def test_a_replayed_token_is_counted_as_replay(tmp_path):
    client_entry = {"issuer": "https://ehr.example.org", "jwks": {"keys": [signing_key().public_jwk()]}}
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "clients": [client_entry], "public_base_url": "http://localhost"})
    token = mint(signing_key(), claims(aud="http://localhost/cds-services"))
    before = value("her2cds_auth_refusals_total", reason="replay")
    assert app.test_client().get("/cds-services", headers=bearer(token)).status_code == 200
    assert app.test_client().get("/cds-services", headers=bearer(token)).status_code == 401
    assert value("her2cds_auth_refusals_total", reason="replay") == before + 1


def test_feedback_is_counted_by_outcome(client, app, knowledge):
    prefetch = prefetch_for(her2_positive_liver_patient(), app.extensions["her2cds"].templates, knowledge)
    answered = client.post(SERVICE, json=hook_body(prefetch=prefetch))
    cards = [card["uuid"] for card in answered.json["cards"]]
    before = {
        outcome: value("her2cds_feedback_total", service="her2-mbc-guidance", outcome=outcome)
        for outcome in ("accepted", "overridden")
    }
    body = feedback_body("accepted", "overridden", "overridden", cards=cards)
    assert client.post(f"{SERVICE}/feedback", json=body).status_code == 200
    assert value("her2cds_feedback_total", service="her2-mbc-guidance", outcome="accepted") == before["accepted"] + 1
    assert value("her2cds_feedback_total", service="her2-mbc-guidance", outcome="overridden") == before["overridden"] + 2


def test_labels_stay_bounded_whatever_the_caller_sends(client):
    client.post("/cds-services/made-up-service-qzxv", json=hook_body())
    client.post(SERVICE, json={"hook": "made-up-hook-qzxv", "hookInstance": "x", "context": {"patientId": "p"}})
    client.get("/no/such/path-qzxv")
    text = client.get("/metrics").get_data(as_text=True)
    assert "qzxv" not in text
    assert 'service="unknown"' in text and 'route="unmatched"' in text and 'hook="other"' in text


def test_metrics_livez_readyz_need_no_token_in_production(tmp_path):
    client_entry = {"issuer": "https://ehr.example.org", "jwks": {"keys": [signing_key().public_jwk()]}}
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "clients": [client_entry], "public_base_url": "http://localhost"})
    client = app.test_client()
    assert client.get("/cds-services").status_code == 401
    metrics_response = client.get("/metrics")
    assert metrics_response.status_code == 200 and metrics_response.content_type.startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(metrics_response.get_data(as_text=True))}
    assert set(FAMILIES) <= names
    assert client.get("/livez").json == {"status": "alive"}
    assert client.get("/readyz").json == {"status": "ready", "database": "ok", "knowledge": "ok"}


def test_readyz_is_503_naming_the_database_when_it_is_down_and_livez_stays_200(tmp_path):
    from sqlalchemy import create_engine

    from tests.processes import free_port

    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
    store = app.extensions["her2cds"].feedback
    store.engine = create_engine(f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/none", connect_args={"connect_timeout": 2})
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "down", "knowledge": "ok"}
    assert client.get("/livez").status_code == 200


def test_a_callers_request_id_is_kept_and_a_bad_one_replaced(client):
    assert client.get("/livez", headers={"X-Request-ID": "ehr-req.42"}).headers["X-Request-ID"] == "ehr-req.42"
    replaced = client.get("/livez", headers={"X-Request-ID": "bad id {with} spaces"}).headers["X-Request-ID"]
    assert replaced != "bad id {with} spaces" and len(replaced) == 32
    assert client.get("/livez", headers={"X-Request-ID": "x" * 65}).headers["X-Request-ID"] != "x" * 65
    made = {client.get("/livez").headers["X-Request-ID"] for _ in range(50)}
    assert len(made) == 50 and all(re.fullmatch(r"[0-9a-f]{32}", made_id) for made_id in made)


# --- under gunicorn, several workers ---------------------------------------------------------------


def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def per_worker_counts(metrics_dir: Path, tmp_path: Path, name: str, **labels: str) -> dict[int, float]:
    """The value each worker's own file holds (each file read alone by the multiprocess collector)."""
    counts = {}
    for db in metrics_dir.glob("counter_*.db"):
        alone = tmp_path / f"alone-{db.stem}"
        alone.mkdir()
        shutil.copy(db, alone / db.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(alone))
        counts[int(db.stem.split("_")[1])] = registry.get_sample_value(name, labels) or 0.0
    return counts


@pytest.fixture()
def gunicorn(tmp_path) -> Iterator:
    server = start_gunicorn(tmp_path, {"HER2CDS_TIME_BUDGET_SECONDS": "20"})
    try:
        yield server
    finally:
        stop(server.process)


DISCOVERY = {"route": "/cds-services", "service": "none", "hook": "none", "status": "200"}


def test_metrics_add_up_every_gunicorn_worker_and_survive_a_killed_one(gunicorn, tmp_path):
    sent = 60
    for _ in range(sent):  # a new connection each time, so both workers take some
        assert requests.get(f"{gunicorn.base_url}/cds-services", timeout=10).status_code == 200
    for _ in range(3):  # whichever worker answers the scrape, it reports all of them
        assert sample(scrape(gunicorn.base_url), "her2cds_http_requests_total", **DISCOVERY) == sent
    metrics_dir = gunicorn.metrics_dir()  # chosen by service.ops.gunicorn_conf: nothing in the environment names it
    assert metrics_dir.name.startswith("her2cds-metrics-")
    shares = per_worker_counts(metrics_dir, tmp_path, "her2cds_http_requests_total", **DISCOVERY)
    assert sum(shares.values()) == sent
    served = [pid for pid, count in shares.items() if count]
    print(f"requests per worker: {shares}")
    # Kill every worker that served some: in-process counters would die with them; the files do not.
    old = set(gunicorn.worker_pids())
    for pid in served:
        os.kill(pid, signal.SIGKILL)
    gunicorn.wait_for_workers(other_than=set(served) & old)
    after = scrape(gunicorn.base_url)
    assert sample(after, "her2cds_http_requests_total", **DISCOVERY) == sent
    assert requests.get(f"{gunicorn.base_url}/cds-services", timeout=10).status_code == 200
    assert sample(scrape(gunicorn.base_url), "her2cds_http_requests_total", **DISCOVERY) == sent + 1
    stop(gunicorn.process)
    assert not metrics_dir.exists()  # the directory the config made is removed at exit


def test_under_gunicorn_every_listed_counter_moves_and_no_label_holds_a_patient_id(gunicorn):
    with stub_server() as ehr:
        base = empty_fhir(ehr, patient={"resourceType": "Patient", "id": PATIENT_ID})
        for _ in range(4):
            response = requests.post(f"{gunicorn.base_url}{SERVICE}", json=hook_body(PATIENT_ID, fhirServer=base), timeout=30)
            assert response.status_code == 200
            cards = [card["uuid"] for card in response.json()["cards"]]
        stub_hits = ehr.total()
    assert requests.post(f"{gunicorn.base_url}{SERVICE}", json=hook_body(PATIENT_ID), timeout=30).status_code == 412
    feedback = requests.post(f"{gunicorn.base_url}{SERVICE}/feedback", json=feedback_body("accepted", cards=cards), timeout=30)
    assert feedback.status_code == 200
    text = requests.get(f"{gunicorn.base_url}/metrics", timeout=10).text
    samples = scrape(gunicorn.base_url)
    hook = {"route": "/cds-services/<service_id>", "service": "her2-mbc-guidance", "hook": "patient-view"}
    assert sample(samples, "her2cds_http_requests_total", **hook, status="200") == 4
    assert sample(samples, "her2cds_http_requests_total", **hook, status="412") == 1
    assert sample(samples, "her2cds_http_request_duration_seconds_count", **hook, status="200") == 4
    fhir_calls = sum(value for (name, _labels), value in samples.items() if name == "her2cds_fhir_requests_total")
    assert fhir_calls == stub_hits
    assert sum(value for (name, _labels), value in samples.items() if name == "her2cds_cards_total") >= 4
    assert sample(samples, "her2cds_feedback_total", service="her2-mbc-guidance", outcome="accepted") == 1
    assert sum(value for (name, _labels), value in samples.items() if name == "her2cds_prefetch_unavailable_total") >= 1
    assert PATIENT_ID not in text


def test_bounded_label_helpers():
    assert metrics.fhir_resource_type("http://h/fhir/Patient/pat-1") == "Patient"
    assert metrics.fhir_resource_type("http://h/fhir/Observation?patient=pat-1&code=x") == "Observation"
    assert metrics.fhir_resource_type("http://h/fhir/pat-1") == "other"
    assert metrics.fhir_fault_kind(None) == "budget"
