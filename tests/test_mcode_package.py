"""All 179 examples of the mCODE STU4 package through the service, patient by patient (issue 12).

The package is fetched with npm into a cache (tests/mcode_package.py) when it is not there. This test
is part of ``make test``: npm failing is a failure here, never a skip (deselect it explicitly with
``-m "not npm"`` on a machine without the registry). Every patient the examples are about is sent as
a patient-view hook with the prefetch an EHR would send; every response must keep the contract, and
the three patients ../shared/data/mcode-examples/SOURCES.md describes must get its conclusions.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from service.app import prefetch_templates
from service.engine import Engine
from tests.cards import ASSESSMENT_KEY, response_problems
from tests.conftest import prefetch_for
from tests.mcode_package import EXAMPLE_COUNT, ExamplePatients, example_folder, example_resources, group_by_patient
from tests.test_read_records import MCODE

pytestmark = pytest.mark.npm
SERVICE = "/cds-services/her2-mbc-guidance"

# SOURCES.md (../shared/data/mcode-examples/): what the data says about the three patients it describes.
EXPECTED = {
    # Jenny M: 353431000119107, cM0, HER2 LA6577-6 negative, ER positive, PR negative; adjuvant AC-T then
    # anastrozole (curative intent). Not metastatic, so no line of therapy.
    "cancer-patient-jenny-m": {
        "breastCancer": True,
        "metastatic": False,
        "her2": "negative",
        "hormoneReceptor": "positive",
        "lineOfTherapy": {"current": 0, "status": "naive"},
    },
    # Eve Anyperson: 363346000 + bodySite left breast; no receptor test, no metastasis, no therapy.
    "cancer-patient-eve-anyperson": {"breastCancer": True, "metastatic": False, "her2": "unknown", "hormoneReceptor": "unknown"},
    # John Anyperson: NSCLC with a brain metastasis: not breast cancer.
    "cancer-patient-john-anyperson": {"breastCancer": False},
}
# The examples that are about no patient: the people and organisations the records point at, and the
# Group of mCODE patients.
UNATTACHED_TYPES = {"Practitioner", "Organization", "Group"}


@pytest.fixture(scope="module")
def examples() -> ExamplePatients:
    return group_by_patient(example_resources(example_folder()))


def test_every_example_of_the_package_is_read_and_grouped(examples):
    assert examples.files == EXAMPLE_COUNT
    assert set(EXPECTED) <= set(examples.patients)
    assert {reference.split("/")[0] for reference in examples.unattached} <= UNATTACHED_TYPES


def test_every_example_patient_gets_a_response_that_keeps_the_contract(examples, client, app, knowledge):
    templates = prefetch_templates(knowledge)
    for patient_id, resources in sorted(examples.patients.items()):
        body = {
            "hook": "patient-view",
            "hookInstance": "0c8f6a0e-5d43-4b8e-9d55-6d0e7f4a2b11",
            "context": {"patientId": patient_id, "userId": "Practitioner/us-core-practitioner-kyle-anydoc"},
            "prefetch": prefetch_for(resources, templates, knowledge),
        }
        response = client.post(SERVICE, json=body)
        assert response.status_code == 200, (patient_id, response.json)
        assert response_problems(response.json, "patient-view") == [], patient_id
        cards = response.json["cards"]
        assert all("could not be read" not in card.get("detail", "") for card in cards), (patient_id, cards)
        if patient_id in EXPECTED:
            assessment = cards[0]["extension"][ASSESSMENT_KEY]
            assert {key: assessment.get(key) for key in EXPECTED[patient_id]} == EXPECTED[patient_id], patient_id


@pytest.mark.parametrize("patient_id", sorted(EXPECTED))
def test_every_record_of_the_sources_patients_is_readable(examples, knowledge, patient_id):
    """No example of the three described patients is skipped as unreadable (the data card would name it)."""
    evaluation = Engine(knowledge).evaluate(patient_id, examples.patients[patient_id], date(2026, 6, 1), ())
    assert evaluation.record.skipped == []


def test_the_package_holds_the_same_records_as_the_shared_copies(examples):
    """SOURCES.md's files are the package's examples for each patient (narrative removed): same records."""
    shared_copies = {"mcode-jenny-m": "cancer-patient-jenny-m", "mcode-eve-anyperson": "cancer-patient-eve-anyperson"}
    for name, patient_id in shared_copies.items():
        shared = json.loads((MCODE / f"{name}.json").read_text(encoding="utf-8"))
        identities = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in shared["entry"]}
        assert identities == {(r["resourceType"], r["id"]) for r in examples.patients[patient_id]}
