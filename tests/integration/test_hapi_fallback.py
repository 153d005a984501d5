"""The service against a real HAPI FHIR server: FHIR fallback, EHR-style prefetch, paging, load-examples."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from service import create_app
from service.cli import EXAMPLES_PACKAGE, evaluate_bundle, example_bundles, main
from service.gather import render_query
from tests.cards import response_problems
from tests.conftest import ROOT
from tests.integration.conftest import fhir_get_all, post_transaction
from tests.scenario_table import load_scenarios

SCENARIOS = load_scenarios()
SERVICE = "/cds-services/her2-mbc-guidance"


@pytest.fixture(scope="module")
def loaded(hapi_base: str) -> str:
    """Every scenario and example patient in HAPI (PUT by id: repeatable)."""
    for scenario in SCENARIOS:
        post_transaction(hapi_base, scenario.bundle())
    for _name, bundle in example_bundles():
        post_transaction(hapi_base, bundle)
    return hapi_base


@pytest.fixture(scope="module")
def hapi_app(tmp_path_factory):
    return create_app({"database_url": f"sqlite:///{tmp_path_factory.mktemp('db')}/f.sqlite3", "time_budget_seconds": 10})


def call(app, scenario, **body):
    app.config["HER2CDS_EVALUATION_DATE"] = scenario.now
    request = {
        "hook": "patient-view",
        "hookInstance": f"hapi-{scenario.id}",
        "context": {"patientId": scenario.patient_id(), "userId": "Practitioner/1"},
        **body,
    }
    response = app.test_client().post(SERVICE, json=request)
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    assert response_problems(response.json, "patient-view") == []
    return response.json


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_fallback_to_hapi_gives_the_evaluate_assessment(scenario, loaded, hapi_app):
    cards = call(hapi_app, scenario, fhirServer=loaded)["cards"]
    offline = evaluate_bundle(scenario.bundle(), "patient-view", date.fromisoformat(scenario.now))
    assert cards[0]["extension"]["her2-cds-assessment"] == offline["cards"][0]["extension"]["her2-cds-assessment"]
    assert cards[0]["extension"]["her2-cds-assessment"] == scenario.expected
    assert not any(card["summary"].startswith("Some records could not be read") for card in cards)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_prefetch_built_from_our_templates_on_hapi(scenario, loaded, hapi_app):
    templates = hapi_app.extensions["her2cds"].templates
    prefetch = {}
    for key, template in templates.items():
        query = render_query(template, {"patientId": scenario.patient_id()})
        if "?" in query:
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in fhir_get_all(loaded, query)],
            }
        else:
            prefetch[key] = requests.get(f"{loaded}/{query}", headers={"Accept": "application/fhir+json"}, timeout=30).json()
    cards = call(hapi_app, scenario, prefetch=prefetch)["cards"]
    assert cards[0]["extension"]["her2-cds-assessment"] == scenario.expected


def test_small_pages_lose_nothing(loaded, tmp_path: Path):
    """_count=2 in every template: the service follows HAPI's next links and reaches the same assessment."""
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    services = yaml.safe_load((mappings / "services.yaml").read_text())
    services["prefetch"] = {key: re.sub(r"_count=\d+", "_count=2", value) for key, value in services["prefetch"].items()}
    assert sum("_count=2&" in v or v.endswith("_count=2") for v in services["prefetch"].values()) >= 8
    (mappings / "services.yaml").write_text(yaml.safe_dump(services))
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/f.sqlite3",
            "mappings_dir": str(mappings),
            "time_budget_seconds": 20,
            "max_fhir_pages": 200,
        }
    )
    largest = max(SCENARIOS, key=lambda s: len(s.resources()))
    assert len(largest.resources()) > 10
    cards = call(app, largest, fhirServer=loaded)["cards"]
    assert cards[0]["extension"]["her2-cds-assessment"] == largest.expected


@pytest.fixture(scope="module")
def loaded_as_oids(hapi_base: str) -> str:
    """Every scenario again, every code system named by its OID (as C-CDA conversions store them), new ids."""
    from tests.test_dialects import as_oids

    for scenario in SCENARIOS:
        resources = _suffixed(as_oids(scenario.resources()), "-oid")
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
        post_transaction(hapi_base, bundle)
    return hapi_base


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_records_stored_with_oids_are_found_on_hapi(scenario, loaded_as_oids, hapi_app):
    """HAPI matches a token's system exactly: the templates ask each code under its OID too."""
    hapi_app.config["HER2CDS_EVALUATION_DATE"] = scenario.now
    body = {"hook": "patient-view", "hookInstance": f"oid-{scenario.id}", "fhirServer": loaded_as_oids}
    response = hapi_app.test_client().post(SERVICE, json=dict(body, context={"patientId": scenario.patient_id() + "-oid"}))
    assert response.status_code == 200
    assert response.json["cards"][0]["extension"]["her2-cds-assessment"] == scenario.expected


def test_load_examples_twice_leaves_one_copy(hapi_base: str):
    assert main(["load-examples", "--fhir-server", hapi_base]) == 0
    assert main(["load-examples", "--fhir-server", hapi_base]) == 0
    for _name, bundle in example_bundles():
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        found = fhir_get_all(hapi_base, f"Observation?patient={patient['id']}&_count=500")
        expected = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
        assert len(found) == expected, EXAMPLES_PACKAGE


def _suffixed(node: Any, suffix: str) -> Any:
    """A copy of FHIR JSON with every resource id and every ``Type/id`` reference suffixed: a new patient."""
    if isinstance(node, list):
        return [_suffixed(item, suffix) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {key: _suffixed(value, suffix) for key, value in node.items()}
    if isinstance(copied.get("resourceType"), str) and isinstance(copied.get("id"), str):
        copied["id"] += suffix
    if isinstance(copied.get("reference"), str) and "/" in copied["reference"]:
        copied["reference"] += suffix
    return copied


def test_records_that_reference_medications_on_hapi(loaded, hapi_app):
    """Every drug a Medication resource the records point at with no display (as Synthea and many EHRs
    write them): HAPI's searches return the records, the service reads their Medications with an ``_id``
    search, and the advice is the coded history's. Sent a prefetch without them, it fetches them too."""
    from tests.test_dialects import as_medication_resources, with_infusions

    with_history = [s for s in SCENARIOS if s.expected.get("recommendedRegimens") and s.expected["lineOfTherapy"].get("history")]
    scenario = max(with_history, key=lambda s: len(s.resources()))
    history = with_infusions(scenario.resources(), date.fromisoformat(scenario.now))
    resources = _suffixed(as_medication_resources(history), "-medref")
    assert sum(r["resourceType"] == "Medication" for r in resources) >= 2
    post_transaction(loaded, {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]})
    patient_id = scenario.patient_id() + "-medref"
    hapi_app.config["HER2CDS_EVALUATION_DATE"] = scenario.now
    fallback = hapi_app.test_client().post(
        SERVICE,
        json={"hook": "patient-view", "hookInstance": "medref-1", "context": {"patientId": patient_id}, "fhirServer": loaded},
    )
    assert fallback.status_code == 200
    assert fallback.json["cards"][0]["extension"]["her2-cds-assessment"] == scenario.expected
    assert not any(card["summary"].startswith("Some records could not be read") for card in fallback.json["cards"])
    templates = hapi_app.extensions["her2cds"].templates
    prefetch = {}
    for key, template in templates.items():
        query = render_query(template, {"patientId": patient_id})
        if "?" in query:
            found = fhir_get_all(loaded, query)
            prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}
    assert not any(e["resource"]["resourceType"] == "Medication" for bundle in prefetch.values() for e in bundle["entry"])
    with_server = hapi_app.test_client().post(
        SERVICE,
        json={
            "hook": "patient-view",
            "hookInstance": "medref-2",
            "context": {"patientId": patient_id},
            "prefetch": prefetch,
            "fhirServer": loaded,
        },
    )
    assert with_server.json["cards"][0]["extension"]["her2-cds-assessment"] == scenario.expected


def test_dispenses_on_hapi(loaded, hapi_app):
    """Oral drugs known only from the pharmacy (tests/test_dispenses.py): HAPI's MedicationDispense search,
    which the service runs because the EHR prefetched nothing, returns them and they join the line, as
    when the same records are evaluated in process."""
    from tests.test_dispenses import NOW, after_tdxd, tucatinib_capecitabine_dispensed

    resources = _suffixed([*after_tdxd(), *tucatinib_capecitabine_dispensed()], "-dispense")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    post_transaction(loaded, bundle)
    assert len(fhir_get_all(loaded, "MedicationDispense?patient=p1-dispense&_count=50")) >= 20
    offline = evaluate_bundle(bundle, "patient-view", NOW)["cards"][0]["extension"]["her2-cds-assessment"]
    assert offline["lineOfTherapy"]["history"][-1]["agents"] == ["capecitabine", "trastuzumab", "tucatinib"]
    hapi_app.config["HER2CDS_EVALUATION_DATE"] = NOW.isoformat()
    response = hapi_app.test_client().post(
        SERVICE,
        json={
            "hook": "patient-view",
            "hookInstance": "dispense-1",
            "context": {"patientId": "p1-dispense"},
            "fhirServer": loaded,
        },
    )
    assert response.status_code == 200
    assert response.json["cards"][0]["extension"]["her2-cds-assessment"] == offline
    assert not any("could not be read" in card.get("detail", "") for card in response.json["cards"])
