"""A long infusion history paged by a real FHIR-speaking server on loopback (issue 12, item 6).

The server below ignores ``_count`` and pages by 10, newest first, as some EHRs do: 150
administrations must be read in full (15 pages), and a paging cap below that must give
``history-incomplete`` and no options rather than a line guessed from the first pages.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from service import create_app
from tests.conftest import condition, observation, patient
from tests.paging_fhir import paging_fhir_server

PATIENT = "p-paged"
PAGE = 10
FIRST_INFUSION = date(2026, 5, 20) - timedelta(days=21 * 149)  # the last one 12 days before "now"


def infusions(count: int = 150) -> list[dict[str, Any]]:
    """One Phesgo administration every 21 days, newest first."""
    records = []
    for number in range(count):
        given = FIRST_INFUSION + timedelta(days=21 * number)
        records.append(
            {
                "resourceType": "MedicationAdministration",
                "id": f"adm-{number:03d}",
                "status": "completed",
                "subject": {"reference": f"Patient/{PATIENT}"},
                "medicationCodeableConcept": {"text": "Phesgo 600 mg/600 mg"},
                "effectiveDateTime": f"{given.isoformat()}T09:30:00-05:00",
            }
        )
    return list(reversed(records))


RECORDS: list[dict[str, Any]] = [
    patient(PATIENT),
    condition("bc", "snomed", "254837009", "2016-03-01", patient=PATIENT),
    condition("liver", "icd10cm", "C78.7", "2017-05-10", patient=PATIENT),
    observation("ihc", "85319-2", "2017-05-12", patient=PATIENT, valueCodeableConcept={"text": "3+"}),
    *infusions(),
]


def patient_view(app: Any, fhir_server: str) -> dict[str, Any]:
    body = {
        "hook": "patient-view",
        "hookInstance": "5d0c0f8e-1f5e-4b61-9d6f-0d6c7f7f2a11",
        "fhirServer": fhir_server,
        "context": {"patientId": PATIENT},
    }
    response = app.test_client().post("/cds-services/her2-mbc-guidance", json=body)
    assert response.status_code == 200, response.json
    return dict(response.json)


@pytest.mark.parametrize(("max_pages", "complete"), [(20, True), (5, False)])
def test_150_infusions_paged_by_10_are_read_in_full_or_the_history_is_untrusted(tmp_path, max_pages, complete):
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/feedback.sqlite3",
            "evaluation_date": "2026-06-01",
            "max_fhir_pages": max_pages,
        }
    )
    with paging_fhir_server(RECORDS, PAGE) as fhir_server:
        cards = patient_view(app, fhir_server)["cards"]
    assessment = cards[0]["extension"]["her2-cds-assessment"]
    line = assessment["lineOfTherapy"]
    if complete:
        assert "history-incomplete" not in assessment.get("alerts", [])
        assert line["current"] == 1 and line["status"] == "on-treatment"
        assert line["history"][0]["start"] == FIRST_INFUSION.isoformat()  # only the last page holds it
    else:
        assert "history-incomplete" in assessment["alerts"]
        assert "recommendedLine" not in assessment and "recommendedRegimens" not in assessment
        assert "suggestions" not in cards[0]
        assert any("medicationAdministrations" in card.get("detail", "") for card in cards[1:])
