"""A real HAPI FHIR server for the integration tests, started through scripts/hapi.sh.

If HAPI does not start, the run FAILS (never skips): the integration tests are part of `make test`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import ROOT

HAPI_PORT = os.environ.get("HAPI_PORT", "8090")
HAPI_BASE = f"http://127.0.0.1:{HAPI_PORT}/fhir"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.hapi)


@pytest.fixture(scope="session")
def hapi_base() -> Iterator[str]:
    """Start HAPI (building it if needed) and yield its base URL; stop it afterwards if we started it."""
    script = ROOT / "scripts" / "hapi.sh"
    env = {**os.environ, "HAPI_PORT": HAPI_PORT}
    already = subprocess.run(["bash", str(script), "status"], env=env, capture_output=True, text=True).returncode == 0
    started = subprocess.run(["bash", str(script), "start"], env=env, capture_output=True, text=True, timeout=1800)
    if started.returncode != 0:
        pytest.fail(f"HAPI FHIR did not start (scripts/hapi.sh start):\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}")
    print(started.stdout.strip())
    yield HAPI_BASE
    if not already:
        subprocess.run(["bash", str(script), "stop"], env=env, capture_output=True, text=True, timeout=120)


def fhir_get_all(base: str, query: str) -> list[dict[str, Any]]:
    """Every resource of a search, following next links (a test helper, not the service's gateway)."""
    url: str | None = f"{base}/{query}"
    found: list[dict[str, Any]] = []
    while url:
        response = requests.get(url, headers={"Accept": "application/fhir+json"}, timeout=30)
        response.raise_for_status()
        bundle = response.json()
        found.extend(entry["resource"] for entry in bundle.get("entry", []))
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
    return found


def post_transaction(base: str, bundle: dict[str, Any]) -> None:
    from service.cli import transaction_of

    response = requests.post(base, json=transaction_of(bundle), headers={"Content-Type": "application/fhir+json"}, timeout=120)
    assert response.status_code < 300, response.text[:2000]
