"""Every scenario's whole assessment, through ``her2-cds evaluate --now`` and through HTTP with prefetch.

(The same table runs against a real HAPI FHIR server in tests/integration/.)
"""

from __future__ import annotations

import json

import pytest

from service.cli import main
from tests.cards import response_problems
from tests.conftest import prefetch_for
from tests.scenario_table import load_scenarios

SCENARIOS = load_scenarios()


def test_the_table_is_big_enough_and_ids_are_unique():
    assert len(SCENARIOS) >= 30
    seen: set[str] = set()
    for scenario in SCENARIOS:
        for resource in scenario.resources():
            key = f"{resource['resourceType']}/{resource['id']}"
            assert key not in seen, key
            seen.add(key)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_evaluate_cli(scenario, capsys):
    assert main(["evaluate", str(scenario.path), "--now", scenario.now]) == 0
    response = json.loads(capsys.readouterr().out)
    assert response_problems(response, "patient-view") == []
    assert response["cards"][0]["extension"]["her2-cds-assessment"] == scenario.expected


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_http_with_prefetch(scenario, app, client, knowledge):
    app.config["HER2CDS_EVALUATION_DATE"] = scenario.now
    prefetch = prefetch_for(scenario.resources(), app.extensions["her2cds"].templates, knowledge)
    body = {
        "hook": "patient-view",
        "hookInstance": f"scenario-{scenario.id}",
        "context": {"patientId": scenario.patient_id(), "userId": "Practitioner/1"},
        "prefetch": prefetch,
    }
    response = client.post("/cds-services/her2-mbc-guidance", json=body)
    assert response.status_code == 200
    assert response_problems(response.json, "patient-view") == []
    assert response.json["cards"][0]["extension"]["her2-cds-assessment"] == scenario.expected
