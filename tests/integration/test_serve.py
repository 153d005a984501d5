"""`her2-cds serve` as a user runs it: a real process on a real port, called over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from service.cli import example_bundles
from tests.cards import response_problems
from tests.integration.conftest import post_transaction
from tests.processes import free_port, stop


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("serve")
    log = (workdir / "serve.log").open("w")
    binary = Path(sys.executable).parent / "her2-cds"
    process = subprocess.Popen(
        [str(binary), "serve", "--port", str(port)],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HER2CDS_DATABASE_URL": f"sqlite:///{workdir}/fb.sqlite3"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("her2-cds serve did not answer /healthz: " + (workdir / "serve.log").read_text()[-2000:])
        yield base
    finally:
        stop(process, grace_seconds=10)
        log.close()
    text = (workdir / "serve.log").read_text()
    assert "DEVELOPMENT MODE" in text  # said loudly


def test_discovery_over_http(served):
    response = requests.get(f"{served}/cds-services", timeout=5)
    assert response.status_code == 200
    assert {s["id"] for s in response.json()["services"]} == {"her2-mbc-guidance", "her2-mbc-order-check"}


def test_every_example_in_fallback_mode(served, hapi_base):
    for name, bundle in example_bundles():
        post_transaction(hapi_base, bundle)
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        body = {
            "hook": "patient-view",
            "hookInstance": f"serve-{name}",
            "fhirServer": hapi_base,
            "context": {"patientId": patient["id"], "userId": "Practitioner/1"},
        }
        response = requests.post(f"{served}/cds-services/her2-mbc-guidance", json=body, timeout=30)
        assert response.status_code == 200, name
        assert response_problems(response.json(), "patient-view") == [], name


def test_malformed_json_over_http(served):
    response = requests.post(
        f"{served}/cds-services/her2-mbc-guidance", data=b"{oops", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
