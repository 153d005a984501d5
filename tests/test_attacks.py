"""Issue 13's attacks, replayed against the real service: gunicorn as the Dockerfile runs it, on 127.0.0.1.

Two services are started once per module: production mode (one trusted client with a tenant, its FHIR
server a loopback stub, ``public_base_url`` set) and development mode. An "OTHER" server on 127.0.0.2
(a second loopback address) records every request it gets: the EHR's FHIR token must never reach it.
Each test sends the attack and, where it has one, a harmless twin that must still work, so that a
check that refuses everything fails too.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from service.app import prefetch_templates
from service.cli import bundle_resources, example_bundles
from service.knowledge import load_knowledge
from service.sandbox import run_template
from tests.processes import Service, free_port, served
from tests.stub_server import BacklogHTTPServer, StubServer, empty_fhir, stub_server
from tests.tokens import ISSUER, bearer, claims, jwks, mint, signing_key

GUIDANCE = "/cds-services/her2-mbc-guidance"
TENANT = "hospital-a"
OTHER_ISSUER = "https://other-ehr.example.org"
FHIR_TOKEN = "ehr-fhir-token-for-the-fhir-server-only"  # noqa: S105 - made up; what must not leak


class Recorder:
    """A server on 127.0.0.2 that answers every GET with an empty searchset and remembers the headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                recorder.requests.append(dict(self.headers))
                body = b'{"resourceType": "Bundle", "type": "searchset"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                pass

        self.server = BacklogHTTPServer(("127.0.0.2", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture(scope="module")
def other() -> Iterator[Recorder]:
    recorder = Recorder()
    thread = threading.Thread(target=recorder.server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def fhir() -> Iterator[StubServer]:
    with stub_server() as stub:
        empty_fhir(stub, patient={"resourceType": "Patient", "id": "p1"})
        yield stub


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory, fhir: StubServer) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("production")
    port = free_port()
    config = {
        "public_base_url": f"http://127.0.0.1:{port}",
        # These tests are about tokens, addresses and feedback, not timeouts: a 0.5 s connect to the stub
        # server in this (busy) test process once ran out on a loaded CI machine and made a hook call 412.
        "fhir_connect_timeout_seconds": 2.0,
        "clients": [
            {
                "issuer": ISSUER,
                "jwks": jwks(signing_key("ES384"), signing_key("RS256")),
                "fhir_servers": [fhir.base + "/fhir"],
                "private_networks": ["127.0.0.0/8"],
                "tenant": TENANT,
            },
            {
                "issuer": OTHER_ISSUER,
                "jwks": jwks(signing_key("ES256")),
                "fhir_servers": [fhir.base + "/fhir"],
                "private_networks": ["127.0.0.0/8"],
            },
        ],
    }
    (workdir / "her2cds.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with served(workdir, {"HER2CDS_CONFIG": str(workdir / "her2cds.yaml")}, port=port) as service:
        yield service


@pytest.fixture(scope="module")
def development(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with served(tmp_path_factory.mktemp("development")) as service:
        yield service


def token_for(service: Service, path: str = GUIDANCE, **extra: Any) -> dict[str, str]:
    payload = claims(aud=service.base_url + path, **({"tenant": TENANT} | extra))
    return bearer(mint(signing_key("ES384"), payload))


def fallback_body(fhir: StubServer, prefetch: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "attack-1",
        "context": {"patientId": "p1", "userId": "Practitioner/1"},
        "fhirServer": fhir.base + "/fhir",
        "fhirAuthorization": {"access_token": FHIR_TOKEN, "token_type": "Bearer", "scope": "patient/*.read", "subject": "x"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def tricky_next(other: Recorder, fhir: StubServer) -> str:
    """urlsplit reads the FHIR server's host and port here; urllib3 (requests) connects to OTHER."""
    fhir_port = fhir.base.rsplit(":", 1)[1]
    return f"http://127.0.0.2:{other.port}\\@127.0.0.1:{fhir_port}/fhir/MedicationAdministration?page=2"


def paged_bundle(next_url: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "next", "url": next_url}]}


def leaked(other: Recorder) -> list[dict[str, str]]:
    return [headers for headers in other.requests if FHIR_TOKEN in json.dumps(headers)]


# -- 1 and 4: the FHIR token goes to another host through a next link ----------------------------------


def test_a_next_link_in_the_fhir_answer_never_takes_the_token_elsewhere(production, fhir, other):
    route = "/fhir/MedicationAdministration"
    saved = fhir.routes[route]
    fhir.routes[route] = paged_bundle(tricky_next(other, fhir))
    try:
        before = len(other.requests)
        url = production.base_url + GUIDANCE
        response = requests.post(url, json=fallback_body(fhir), headers=token_for(production), timeout=10)
    finally:
        fhir.routes[route] = saved
    assert response.status_code == 200, response.text
    assert other.requests[before:] == [] and leaked(other) == []
    assert fhir.hits["/fhir/Condition"] > 0  # the fallback did run against the real FHIR server
    assert "medicationAdministrations" in json.dumps(response.json())  # named on the data card


def test_a_next_link_inside_a_prefetched_bundle_never_takes_the_token_elsewhere(production, fhir, other):
    prefetch = {"medicationAdministrations": paged_bundle(tricky_next(other, fhir))}
    before = len(other.requests)
    response = requests.post(
        production.base_url + GUIDANCE, json=fallback_body(fhir, prefetch), headers=token_for(production), timeout=10
    )
    assert response.status_code == 200, response.text
    assert other.requests[before:] == [] and leaked(other) == []


# -- 5: a client with a tenant accepts a token without the claim ------------------------------------------


def test_a_token_without_the_clients_tenant_is_refused(production, fhir):
    url = production.base_url + GUIDANCE
    assert requests.post(url, json=fallback_body(fhir), headers=token_for(production), timeout=10).status_code == 200
    no_tenant = bearer(mint(signing_key("ES384"), claims(aud=url)))
    assert requests.post(url, json=fallback_body(fhir), headers=no_tenant, timeout=10).status_code == 401


# -- 9: an algorithm that does not fit the key's type ----------------------------------------------------


def test_rs256_over_an_ec_key_is_a_bare_401_without_a_traceback(production, fhir):
    url = production.base_url + GUIDANCE
    forged = mint(signing_key("RS256"), claims(aud=url, tenant=TENANT), kid=signing_key("ES384").kid)  # kid of the EC key
    response = requests.post(url, json=fallback_body(fhir), headers=bearer(forged), timeout=10)
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "Traceback" not in production.log_text()


# -- 12: DNS rebinding against development mode ---------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "10.0.0.5", "127.0.0.1.evil.example"])
def test_development_mode_answers_loopback_hosts_only(development, host):
    response = requests.get(development.base_url + "/cds-services", headers={"Host": host}, timeout=10)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:1234", "[::1]:8080"])
def test_development_mode_still_answers_loopback_hosts(development, host):
    assert requests.get(development.base_url + "/cds-services", headers={"Host": host}, timeout=10).status_code == 200


# -- 13: the SQLite file is private ----------------------------------------------------------------------


def test_the_sqlite_database_is_readable_by_the_service_user_only(development):
    database = Path(development.log).parent / "her2cds-feedback.sqlite3"
    files = [database] + [Path(f"{database}{suffix}") for suffix in ("-wal", "-shm") if os.path.exists(f"{database}{suffix}")]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# -- 14: headers on responses with patient facts, the sandbox page ---------------------------------------


def example_prefetch() -> tuple[str, dict[str, Any]]:
    templates = prefetch_templates(load_knowledge())
    resources = bundle_resources(example_bundles()[0][1])
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return patient_id, {key: run_template(template, patient_id, resources) for key, template in templates.items()}


def test_hook_answers_are_not_stored_by_caches_nor_sniffed(development):
    patient_id, prefetch = example_prefetch()
    body = {"hook": "patient-view", "hookInstance": "h-1", "context": {"patientId": patient_id}, "prefetch": prefetch}
    response = requests.post(development.base_url + GUIDANCE, json=body, timeout=10)
    assert response.status_code == 200 and response.json()["cards"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_sandbox_page_has_a_content_security_policy(development):
    response = requests.get(development.base_url + "/sandbox", timeout=10)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_glob_like_cors_origin_allows_one_subdomain_label_only(tmp_path):
    settings = {"HER2CDS_CORS_ORIGINS": "https://*.hospital.example"}
    with served(tmp_path, settings) as service:

        def allowed(origin: str) -> bool:
            response = requests.get(service.base_url + "/cds-services", headers={"Origin": origin}, timeout=10)
            return response.headers.get("Access-Control-Allow-Origin") == origin

        assert allowed("https://ehr.hospital.example")
        assert not allowed("https://evilhospital.example")  # the regex reading: "/*" any slashes, "." any character
        assert not allowed("https://ehr.hospital.example.evil.example")  # ...and no end anchor
        assert not allowed("https://a.b.hospital.example")
        assert not allowed("http://ehr.hospital.example")


# -- 8 and 11: feedback floods, feedback on cards never issued or issued to another client ---------------


def feedback_item(card: str, **extra: Any) -> dict[str, Any]:
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-06-01T10:00:00Z", **extra}


def post_feedback(service: Service, items: list[dict[str, Any]], headers: dict[str, str]) -> requests.Response:
    url = service.base_url + GUIDANCE + "/feedback"
    return requests.post(url, json={"feedback": items}, headers=headers, timeout=10)


def issued_card(service: Service, fhir: StubServer) -> str:
    response = requests.post(service.base_url + GUIDANCE, json=fallback_body(fhir), headers=token_for(service), timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["cards"][0]["uuid"])


def feedback_token(service: Service, issuer: str = ISSUER) -> dict[str, str]:
    if issuer == ISSUER:
        return token_for(service, GUIDANCE + "/feedback")
    return bearer(mint(signing_key("ES256"), claims(aud=service.base_url + GUIDANCE + "/feedback", iss=issuer)))


def test_feedback_on_a_card_never_issued_is_refused(production, fhir):
    card = issued_card(production, fhir)
    assert post_feedback(production, [feedback_item(card)], feedback_token(production)).status_code == 200
    refused = post_feedback(production, [feedback_item("9f1d1b0a-5b0e-5d4e-8c0b-0e7d1c3f2a10")], feedback_token(production))
    assert refused.status_code == 404 and refused.json()["resourceType"] == "OperationOutcome"


def test_feedback_on_a_card_issued_to_another_client_is_refused(production, fhir):
    card = issued_card(production, fhir)
    assert post_feedback(production, [feedback_item(card)], feedback_token(production, OTHER_ISSUER)).status_code == 404
    assert post_feedback(production, [feedback_item(card)], feedback_token(production)).status_code == 200


def test_a_feedback_flood_is_bounded(production, fhir):
    """Issue 13.8: five requests of oversized override reasons grew the database by 28 MiB."""
    card = issued_card(production, fhir)
    database = Path(production.log).parent / "her2cds-feedback.sqlite3"
    before = sum(os.path.getsize(f"{database}{suffix}") for suffix in ("", "-wal") if os.path.exists(f"{database}{suffix}"))
    padding = "x" * 1_000_000
    flood = [
        feedback_item(
            card, overrideReason={"reason": {"code": "c", "system": "s", "extra": padding}, "userComment": "ok", "more": padding}
        ),
        feedback_item(card, overrideReason={"reason": {"code": padding}}),
        feedback_item(card, overrideReason={"userComment": padding}),
    ]
    for item in flood:
        response = post_feedback(production, [item], feedback_token(production))
        assert response.status_code in (200, 400), response.text
    # Unknown keys are dropped and every kept field has a size: the database grows by kilobytes, not megabytes.
    after = sum(os.path.getsize(f"{database}{suffix}") for suffix in ("", "-wal") if os.path.exists(f"{database}{suffix}"))
    assert after - before < 1024 * 1024
    # And no card takes feedback without end.
    statuses = [
        post_feedback(
            production, [feedback_item(card, outcomeTimestamp=f"2026-06-01T10:{n:02d}:00Z")], feedback_token(production)
        ).status_code
        for n in range(12)
    ]
    assert 429 in statuses and statuses.count(200) <= 10
