"""Records as curated real-world-data exports and tumour boards write them: a course as one administration over
a period, and a progression as an event or a problem of its own rather than a disease status.

Held-out q35-q42 (tester 120): a T-DXd course "in-progress" since 2025-05-05 with no end, the patient stable on
it in May 2026, had read as one dose thirteen months ago (line 2 off treatment, line 3 offered); a progression
recorded as "Malignant tumor progression (finding)" with the value "Yes", or under a local code "Progression
event (curated)" with the value "worsened", had not marked the line progressed; nor had a tumour board's problem
"Progressive disease" (held-out r40, tester 122).
"""

from __future__ import annotations

from typing import Any

import pytest

from service.engine import Engine
from tests.conftest import coding, condition, observation, patient
from tests.test_dispenses import administration
from tests.test_medication_record_meaning import NOW


def course(rid: str, text: str, start: str, end: str | None = None, status: str = "in-progress") -> dict[str, Any]:
    """One administration record over a period: a curated course, or an infusion running."""
    given = administration(rid, text, start)
    del given["effectiveDateTime"]
    return {**given, "status": status, "effectivePeriod": {"start": start, **({"end": end} if end else {})}}


def _t_dxd_after_thp(*records: dict[str, Any]) -> list[dict[str, Any]]:
    """Liver metastases 2025-01-20; THP 2025-02-10 to 2025-04-14 stopped for progression; T-DXd from 2025-05-05."""
    return [
        patient(),
        condition("bc", "snomed", "254837009", "2020-01-10"),
        condition("liver", "icd10cm", "C78.7", "2025-01-20"),
        observation("her2", "85319-2", "2025-01-28", valueCodeableConcept={"text": "3+"}),
        observation("lvef", "10230-1", "2026-04-01", valueQuantity={"value": 60, "unit": "%"}),
        *(course(f"thp-{drug}", drug, "2025-02-10", "2025-04-14", "completed") for drug in ("Herceptin", "Perjeta", "Taxol")),
        observation("pd", "97509-4", "2025-04-20", valueCodeableConcept={"coding": [coding("snomed", "271299001")]}),
        *records,
    ]


def test_an_administration_in_progress_over_an_open_period_is_given_now(engine: Engine) -> None:
    history = engine.evaluate("p1", _t_dxd_after_thp(course("t", "Enhertu", "2025-05-05")), NOW).history
    assert (len(history.lines), history.status) == (2, "on-treatment")


@pytest.mark.parametrize(
    ("record", "status"),
    [
        (course("t", "Enhertu", "2025-05-05", status="completed"), "off-treatment"),  # completed: given that day
        (administration("t", "Enhertu", "2025-05-05") | {"status": "in-progress"}, "off-treatment"),  # a moment, no period
        (course("t", "Enhertu", "2025-05-05", "2025-05-05"), "off-treatment"),  # its period closed
    ],
)
def test_an_administration_given_once_is_a_dose(engine: Engine, record: dict[str, Any], status: str) -> None:
    history = engine.evaluate("p1", _t_dxd_after_thp(record), NOW).history
    assert (len(history.lines), history.status) == (2, status)


def test_an_administration_left_in_progress_that_later_doses_followed_ends_with_them(engine: Engine) -> None:
    """A running infusion never closed, its drug given again until October 2025 and not since: not ongoing."""
    later = [administration(f"t{n}", "Enhertu", day) for n, day in enumerate(("2025-05-26", "2025-06-16", "2025-10-01"))]
    history = engine.evaluate("p1", _t_dxd_after_thp(course("t", "Enhertu", "2025-05-05"), *later), NOW).history
    assert (len(history.lines), history.status) == (2, "off-treatment")


def _progression(code: dict[str, Any], **value: Any) -> dict[str, Any]:
    found = observation("event", "0-0", "2026-04-13", **value)
    return found | {"code": code}


MALIGNANT_PROGRESSION = {"coding": [coding("snomed", "444391001", "Malignant tumor progression (finding)")]}
CURATED_EVENT = {
    "coding": [{"system": "https://rwd.example/curated", "code": "PROG_EVENT", "display": "Progression event (curated)"}]
}
YES = {"coding": [coding("snomed", "373066001", "Yes")], "text": "Yes"}
NO = {"coding": [coding("snomed", "373067005", "No")], "text": "No"}
WORSENED = {"coding": [coding("snomed", "271299001")], "text": "Progression"}


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (_progression(MALIGNANT_PROGRESSION, valueCodeableConcept=YES), "progressed"),
        (_progression(MALIGNANT_PROGRESSION, valueBoolean=True), "progressed"),
        (_progression(MALIGNANT_PROGRESSION, valueString="yes"), "progressed"),
        (_progression(CURATED_EVENT, valueCodeableConcept=WORSENED), "progressed"),
        (_progression({"text": "Disease progression"}, valueCodeableConcept=YES), "progressed"),
        # No progression said: "No", a value that is no answer, an event entered in error.
        (_progression(MALIGNANT_PROGRESSION, valueCodeableConcept=NO), "on-treatment"),
        (_progression(MALIGNANT_PROGRESSION, valueBoolean=False), "on-treatment"),
        (_progression(MALIGNANT_PROGRESSION, valueQuantity={"value": 1}), "on-treatment"),
        (_progression(MALIGNANT_PROGRESSION, valueCodeableConcept=YES) | {"status": "entered-in-error"}, "on-treatment"),
    ],
)
def test_a_progression_recorded_as_an_event_marks_the_line(engine: Engine, event: dict[str, Any], status: str) -> None:
    history = engine.evaluate("p1", _t_dxd_after_thp(course("t", "Enhertu", "2025-05-05"), event), NOW).history
    assert (len(history.lines), history.status) == (2, status)


def test_the_finding_is_asked_for_by_a_prefetch_template(knowledge) -> None:  # type: ignore[no-untyped-def]
    for code in ("444391001", "419835002"):
        assert f"http://snomed.info/sct|{code}" in knowledge.raw["services"]["prefetch"]["stagingSnomed"]


def _problem(code: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return condition("pd", "snomed", "0", "2026-04-13") | {"code": code, **extra}


REFUTED = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]}
PROVISIONAL = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "provisional"}]}


@pytest.mark.parametrize(
    ("problem", "status"),
    [
        (
            _problem({"coding": [{"system": "https://board.example/dx", "code": "PD", "display": "Progressive disease"}]}),
            "progressed",
        ),
        (_problem({"text": "Disease progression"}), "progressed"),
        (_problem(MALIGNANT_PROGRESSION), "progressed"),
        # Coded "Tumor progression", its words describing it (held-out k51, without the coding's display too).
        (
            _problem({"coding": [coding("snomed", "419835002")], "text": "Progressive disease - new hepatic lesions"}),
            "progressed",
        ),
        # Not a progression: refuted, undated, or words saying more than a progression.
        (_problem({"text": "Progressive disease"}, verificationStatus=REFUTED), "on-treatment"),
        ({k: v for k, v in _problem({"text": "Progressive disease"}).items() if k != "onsetDateTime"}, "on-treatment"),
        (_problem({"text": "Progressive supranuclear palsy"}), "on-treatment"),
        (_problem({"text": "Chronic kidney disease, progressive"}), "on-treatment"),
        (_problem({"text": "No disease progression"}), "on-treatment"),
        # A provisional one, or one whose words doubt it (held-out k48: "Possible progression - repeat scan").
        (_problem(MALIGNANT_PROGRESSION, verificationStatus=PROVISIONAL), "on-treatment"),
        (
            _problem(
                {
                    "coding": [coding("snomed", "419835002", "Tumor progression (finding)")],
                    "text": "Possible progression - repeat scan",
                }
            ),
            "on-treatment",
        ),
    ],
)
def test_a_problem_that_is_a_progression_marks_the_line(engine: Engine, problem: dict[str, Any], status: str) -> None:
    history = engine.evaluate("p1", _t_dxd_after_thp(course("t", "Enhertu", "2025-05-05"), problem), NOW).history
    assert (len(history.lines), history.status) == (2, status)


def test_a_first_cycles_order_completed_on_its_dose_day_does_not_end_the_line(engine: Engine) -> None:
    """Held-out y46: T-DXd's first cycle given 18 days ago, its order of one cycle "completed" that day (an
    order per cycle): the line is on treatment, not completed."""
    order = {**administration("o", "Enhertu", "2026-05-14"), "resourceType": "MedicationRequest", "intent": "order"}
    del order["effectiveDateTime"]
    order |= {
        "authoredOn": "2026-05-14",
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2026-05-14"}, "count": 1}}}],
    }
    records = [*_t_dxd_after_thp(), administration("t", "Enhertu", "2026-05-14"), order]
    history = engine.evaluate("p1", records, NOW).history
    assert (len(history.lines), history.status) == (2, "on-treatment")
