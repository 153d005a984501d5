"""The examples FHIR endpoint (``serve --examples``) in process: what the prefetch templates and the sandbox
ask of it, paging, refusals; discovery ids and development-mode CORS of the same app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service import create_app
from service.examples import bundle_resources, example_bundles
from tests.tokens import ISSUER, jwks, signing_key

SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"
LOINC = "http://loinc.org"


@pytest.fixture()
def examples_app(tmp_path: Path) -> Any:
    return create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "examples_fhir": True, "evaluation_date": "2026-06-01"})


def ex3_resources(resource_type: str) -> list[dict[str, Any]]:
    bundle = dict(example_bundles())["ex3-progressed-thp-liver-tdxd.json"]
    return [r for r in bundle_resources(bundle) if r["resourceType"] == resource_type]


def test_a_search_by_patient_returns_exactly_that_patients_records(examples_app: Any) -> None:
    answer = examples_app.test_client().get("/fhir/Condition?patient=ex3-patient&_count=200")
    assert answer.status_code == 200 and answer.mimetype == "application/fhir+json"
    bundle = answer.json
    assert bundle["type"] == "searchset"
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == sorted(r["id"] for r in ex3_resources("Condition"))
    assert "next" not in {link["relation"] for link in bundle["link"]}


def test_a_code_search_is_a_token_or(examples_app: Any) -> None:
    observations = ex3_resources("Observation")
    codes = sorted({c["code"] for r in observations for c in r["code"].get("coding", []) if c.get("system") == LOINC})[:2]
    query = ",".join(f"{LOINC}|{code}" for code in codes)
    answer = examples_app.test_client().get(f"/fhir/Observation?patient=Patient/ex3-patient&code={query}&_count=500").json
    expected = {r["id"] for r in observations if any(c.get("code") in codes for c in r["code"].get("coding", []))}
    assert {e["resource"]["id"] for e in answer["entry"]} == expected and expected
    assert answer["total"] == len(expected)
    other_system = examples_app.test_client().get(f"/fhir/Observation?patient=ex3-patient&code=http://snomed.info/sct|{codes[0]}").json
    assert other_system["total"] == 0


def test_paging_follows_next_links_to_every_record(examples_app: Any) -> None:
    client = examples_app.test_client()
    url = "/fhir/Observation?patient=ex3-patient&_count=7"
    seen: list[str] = []
    while url:
        page = client.get(url).json
        seen += [e["resource"]["id"] for e in page["entry"]]
        url = next((link["url"].removeprefix("http://localhost") for link in page["link"] if link["relation"] == "next"), "")
    assert sorted(seen) == sorted(r["id"] for r in ex3_resources("Observation"))
    assert len(seen) == len(set(seen))


def test_reads_and_refusals(examples_app: Any) -> None:
    client = examples_app.test_client()
    assert client.get("/fhir/Patient/ex3-patient").json["id"] == "ex3-patient"
    missing = client.get("/fhir/Patient/nobody")
    assert missing.status_code == 404 and missing.json["resourceType"] == "OperationOutcome"
    written = client.post("/fhir/Patient", json={"resourceType": "Patient"})
    assert written.status_code == 405 and written.json["issue"][0]["code"] == "not-supported"
    assert client.put("/fhir/Patient/ex3-patient", json={}).status_code == 405
    assert client.get("/fhir/Observation?_count=many").status_code == 400
    assert client.get("/fhir/metadata").json["fhirVersion"] == "4.0.1"


def test_without_examples_there_is_no_fhir_endpoint_and_no_fallback(tmp_path: Path) -> None:
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
    assert app.test_client().get("/fhir/metadata").status_code == 404
    request = {"hook": "patient-view", "hookInstance": "x-1", "context": {"patientId": "ex3-patient"}}
    assert app.test_client().post("/cds-services/her2-mbc-guidance", json=request).status_code == 412


def test_production_serves_no_examples_even_when_asked(tmp_path: Path) -> None:
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/f.sqlite3",
            "examples_fhir": True,
            "clients": [{"issuer": ISSUER, "jwks": jwks(signing_key("ES384"))}],
            "public_base_url": "https://cds.example.org",
        }
    )
    assert app.test_client().get("/fhir/metadata").status_code == 404
    about = app.test_client().get("/").json
    assert set(about["links"]) == {"discovery", "health"} and "version" not in about
    preflight = app.test_client().options(
        "/cds-services", headers={"Origin": SANDBOX_ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers  # the sandbox origin is development-only


def test_development_mode_allows_the_sandbox_origin_by_default(tmp_path: Path) -> None:
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
    answer = app.test_client().get("/cds-services", headers={"Origin": SANDBOX_ORIGIN})
    assert answer.headers["Access-Control-Allow-Origin"] == SANDBOX_ORIGIN
    closed = create_app({"database_url": f"sqlite:///{tmp_path}/g.sqlite3", "development_cors_origins": []})
    refused = closed.test_client().get("/cds-services", headers={"Origin": SANDBOX_ORIGIN})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_shared_ids_by_default_and_per_hook_ids_on_request(tmp_path: Path) -> None:
    shared = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"}).test_client().get("/cds-services").json["services"]
    assert [(s["id"], s["hook"]) for s in shared] == [
        ("her2-mbc-guidance", "patient-view"),
        ("her2-mbc-order-check", "order-select"),
        ("her2-mbc-order-check", "order-sign"),
    ]
    app = create_app({"database_url": f"sqlite:///{tmp_path}/g.sqlite3", "discovery_ids": "per-hook"})
    per_hook = app.test_client().get("/cds-services").json["services"]
    ids = [s["id"] for s in per_hook]
    assert ids == ["her2-mbc-guidance", "her2-mbc-order-check-order-select", "her2-mbc-order-check-order-sign"]
    assert [s["prefetch"] for s in per_hook] == [s["prefetch"] for s in shared]
    feedback = {"feedback": [{"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2026-06-01T10:00:00Z"}]}
    # The per-hook id is a service (its feedback route judges the card: never issued here), an unknown id is not.
    per_hook_feedback = app.test_client().post("/cds-services/her2-mbc-order-check-order-sign/feedback", json=feedback)
    assert per_hook_feedback.status_code == 404
    assert "no card issued by service 'her2-mbc-order-check-order-sign'" in per_hook_feedback.get_data(as_text=True)
    unknown = app.test_client().post("/cds-services/her2-mbc-order-check-order-view/feedback", json=feedback)
    assert unknown.status_code == 404
    assert "no CDS service with id" in unknown.get_data(as_text=True)
