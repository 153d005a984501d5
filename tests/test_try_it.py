"""`her2-cds serve --examples` as a newcomer runs it: every curl of the README's "Try it" answers 200 (with
cards where a hook is called), with no FHIR server but the service's own examples endpoint; `GET /` and the
start-up lines point to discovery and the sandboxes; a browser page on the official CDS Hooks sandbox's
origin gets its CORS grants.

The public sandbox (https://sandbox.cds-hooks.org) cannot be reached from the test machine, so what it
needs is checked from its side: its preflight and its calls carry ``Origin: https://sandbox.cds-hooks.org``
(and Chromium's Private Network Access header), it reads discovery and keys services by id, it fetches
``/metadata`` and ``/Patient`` from the FHIR server it is given.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import requests

from service.cli import evaluate_bundle, example_bundles, patient_id_of
from service.examples import bundle_resources
from tests.conftest import ROOT
from tests.processes import free_port, stop

SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"
NOW = "2026-06-01"


@dataclass(frozen=True)
class Served:
    base: str
    port: int
    log: Path


def start_serve(workdir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = workdir / f"serve-{port}.log"
    binary = Path(sys.executable).parent / "her2-cds"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HER2CDS_")}
    environment.update({"HER2CDS_DATABASE_URL": f"sqlite:///{workdir}/fb-{port}.sqlite3", **(env or {})})
    with log.open("w") as out:
        command = [str(binary), "serve", "--port", str(port), "--now", NOW, *args]
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=environment)
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base, log
        except requests.ConnectionError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    stop(process, grace_seconds=5)
    pytest.fail("her2-cds serve did not answer /healthz: " + log.read_text()[-3000:])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("try-it")
    process, base, log = start_serve(workdir, "--examples")
    try:
        yield Served(base, int(base.rsplit(":", 1)[1]), log)
    finally:
        stop(process, grace_seconds=10)


def try_it_commands() -> list[str]:
    """The curl commands of the README's "Try it" (a command runs until the next line starting with curl)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Try it", 1)[1].split("\n### ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        for line in block.splitlines():
            if line.startswith("curl "):
                commands.append(line)
            elif commands and not line.startswith("her2-cds ") and line.strip():
                commands[-1] += "\n" + line
    return commands


def run_shell(command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # `python` as in an activated venv
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60, env=env)


def test_the_readme_tries_discovery_both_hooks_and_the_examples_endpoint() -> None:
    commands = try_it_commands()
    assert len(commands) >= 5
    joined = "\n".join(commands)
    for needed in ("/cds-services/her2-mbc-guidance", "/cds-services/her2-mbc-order-check", "/fhir/", "localhost:8080/\n"):
        assert needed in joined, needed
    assert "fhirServer" not in joined  # the point: no FHIR server of one's own


@pytest.mark.parametrize("index", range(len(try_it_commands())))
def test_every_readme_curl_answers_200(served: Served, index: int) -> None:
    command = try_it_commands()[index].replace("localhost:8080", f"127.0.0.1:{served.port}")
    as_written = run_shell(command)
    assert as_written.returncode == 0, as_written.stderr
    curl_only = command.split(" | ")[0].replace("curl -s ", "curl -s -w '\\n%{http_code}' ", 1)
    answered = run_shell(curl_only)
    body, _, status = answered.stdout.rpartition("\n")
    assert status == "200", answered.stdout[-2000:]
    if "/cds-services/her2-mbc" in command:
        cards = json.loads(body)["cards"]
        assert cards, body[:2000]
        assert not any("could not be read" in card["summary"] for card in cards), body[:2000]


def test_the_examples_fallback_gives_the_cards_of_the_bundle_itself(served: Served) -> None:
    """Every example read over HTTP from /fhir gets the cards `her2-cds evaluate` gives for its Bundle."""
    for name, bundle in example_bundles():
        patient_id = patient_id_of(bundle_resources(bundle))
        context = {"patientId": patient_id, "userId": "Practitioner/1"}
        request = {"hook": "patient-view", "hookInstance": f"try-{name}", "context": context}
        answer = requests.post(f"{served.base}/cds-services/her2-mbc-guidance", json=request, timeout=30)
        assert answer.status_code == 200, (name, answer.text[:500])
        expected = evaluate_bundle(bundle, "patient-view", date.fromisoformat(NOW))["cards"]
        got = [(card["indicator"], card["summary"]) for card in answer.json()["cards"]]
        assert got == [(card["indicator"], card["summary"]) for card in expected], name


def test_serve_prints_the_sandbox_links(served: Served) -> None:
    printed = served.log.read_text()
    assert f"sandbox EHR page:     {served.base}/sandbox" in printed
    assert f"example patients:     {served.base}/fhir" in printed
    assert f"{SANDBOX_ORIGIN}/?serviceDiscoveryURL={served.base}/cds-services&fhirServiceUrl={served.base}/fhir" in printed


def test_the_root_says_what_the_service_is(served: Served) -> None:
    about = requests.get(f"{served.base}/", timeout=5)
    assert about.status_code == 200 and about.headers["Content-Type"].startswith("application/json")
    body = about.json()
    assert body["name"] == "her2-cds" and "HER2-positive metastatic breast cancer" in body["description"]
    assert body["links"]["discovery"] == f"{served.base}/cds-services"
    assert body["links"]["sandbox"] == f"{served.base}/sandbox"
    assert body["links"]["cdsHooksSandbox"].startswith(f"{SANDBOX_ORIGIN}/?serviceDiscoveryURL=")
    for link in ("discovery", "sandbox", "examplesFhirServer", "health"):
        target = body["links"][link] + ("/metadata" if link == "examplesFhirServer" else "")
        assert requests.get(target, timeout=10).status_code == 200, link
    page = requests.get(f"{served.base}/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    assert f'href="{served.base}/cds-services"' in page.text


def test_the_official_sandbox_origin_gets_cors_on_hooks_and_fhir(served: Served) -> None:
    preflight = requests.options(
        f"{served.base}/cds-services/her2-mbc-guidance",
        headers={
            "Origin": SANDBOX_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
            "Access-Control-Request-Private-Network": "true",
        },
        timeout=5,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == SANDBOX_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers.get("Access-Control-Allow-Private-Network") == "true"
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    for path in ("/cds-services", "/fhir/metadata", "/fhir/Patient"):
        headers = {"Origin": SANDBOX_ORIGIN, "Accept": "application/json+fhir"}  # what the sandbox sends
        answer = requests.get(f"{served.base}{path}", headers=headers, timeout=5)
        assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == SANDBOX_ORIGIN, path
    other = requests.get(f"{served.base}/cds-services", headers={"Origin": "https://attacker.example.com"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_the_sandbox_finds_the_example_patients(served: Served) -> None:
    """The sandbox lists patients with GET {fhir}/Patient and reads name[0].given / family / birthDate."""
    patients = requests.get(f"{served.base}/fhir/Patient", timeout=5).json()
    assert patients["resourceType"] == "Bundle" and patients["total"] == len(example_bundles())
    for entry in patients["entry"]:
        assert entry["resource"]["name"][0]["given"] and entry["resource"]["name"][0]["family"]
    metadata = requests.get(f"{served.base}/fhir/metadata", timeout=5).json()
    assert metadata["resourceType"] == "CapabilityStatement" and metadata["fhirVersion"] == "4.0.1"


def test_per_hook_ids_let_a_client_keyed_by_id_call_both_order_hooks(tmp_path: Path) -> None:
    process, base, _log = start_serve(tmp_path, "--examples", env={"HER2CDS_DISCOVERY_IDS": "per-hook"})
    try:
        services = requests.get(f"{base}/cds-services", headers={"Origin": SANDBOX_ORIGIN}, timeout=5).json()["services"]
        by_id = {service["id"]: service["hook"] for service in services}  # what the sandbox does
        assert by_id == {
            "her2-mbc-guidance": "patient-view",
            "her2-mbc-order-check-order-select": "order-select",
            "her2-mbc-order-check-order-sign": "order-sign",
        }
        for service_id, hook in by_id.items():
            request = {"hook": hook, "hookInstance": f"per-hook-{hook}", "context": order_context(hook)}
            answer = requests.post(f"{base}/cds-services/{service_id}", json=request, timeout=30)
            assert answer.status_code == 200, answer.text[:500]
            assert answer.json()["cards"], hook
        wrong = requests.post(
            f"{base}/cds-services/her2-mbc-order-check-order-sign",
            json={"hook": "order-select", "hookInstance": "x", "context": order_context("order-select")},
            timeout=10,
        )
        assert wrong.status_code == 400  # the per-hook id answers its own hook only
    finally:
        stop(process, grace_seconds=10)


def order_context(hook: str) -> dict[str, object]:
    """ex4 (progressed on T-DXd) with a draft order of T-DXd: the order check warns."""
    context: dict[str, object] = {"patientId": "ex4-patient", "userId": "Practitioner/1"}
    if hook == "patient-view":
        return context
    draft = {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/ex4-patient"},
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2267582"}]},
    }
    context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/draft-1"]
    return context
