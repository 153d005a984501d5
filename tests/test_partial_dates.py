"""Medication records dated to the month or year only, beside the chart's records dated to the day.

Found by held-out tester 171 (2026-12-07, records a patient or caregiver entered beside the hospital's): a
patient's own list says "Herceptin, Perjeta, Taxotere since 2026-01", read as 1 January, and the line began four
days before the chart's first infusion (s53); an Enhertu "since 2025-10" began line 2 before the progression of
8 October that had ended line 1, so that line 2 read as progressed (s55); "stopped 2024-12" ended a line on
1 December, after its last infusion on 25 November (s57). lines.yaml ``partial_dates``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from service.engine import Engine
from tests.conftest import observation, statement, untreated_her2_positive_patient
from tests.test_dispenses import administration

NOW = date(2026, 6, 1)


def _patient_list(rid: str, text: str, start: str, end: str | None = None, status: str = "active") -> dict[str, Any]:
    """A statement the patient entered in the portal (``informationSource`` the Patient)."""
    return statement(rid, text, start, end, status=status, informationSource={"reference": "Patient/p1"})


def _infusions(text: str, first: date, last: date) -> list[dict[str, Any]]:
    """The chart's administrations of one drug, every 21 days from ``first`` to ``last``."""
    days = []
    day = first
    while day <= last:
        days.append(day)
        day += timedelta(days=21)
    return [administration(f"{text}-{day}", text, day.isoformat()) for day in days]


def _thp_in_chart_and_in_the_patients_list(start: str, end: str | None = None) -> list[dict[str, Any]]:
    chart = [
        *_infusions("Herceptin", date(2026, 1, 5), date(2026, 5, 11)),
        *_infusions("Perjeta", date(2026, 1, 5), date(2026, 5, 11)),
        *_infusions("Docetaxel", date(2026, 1, 5), date(2026, 4, 20)),
    ]
    own = [_patient_list(f"pl-{drug}", drug, start, end) for drug in ("Herceptin", "Perjeta", "Taxotere")]
    return untreated_her2_positive_patient(*chart, *own)


@pytest.mark.parametrize("written", ["2026-01", "2026"])
def test_a_month_or_year_in_the_patients_list_begins_on_the_charts_first_dose_in_it(engine: Engine, written: str) -> None:
    """Held-out s53: "since 2026-01" (or "2026") is some day in January (or that year); the chart's first
    infusion on the 5th is that day, and the line begins on it."""
    line = engine.evaluate("p1", _thp_in_chart_and_in_the_patients_list(written), NOW).history.lines[0]
    assert line.start == date(2026, 1, 5)


def test_a_month_no_dated_record_confirms_stands_as_its_first_day(engine: Engine) -> None:
    """The patient's list alone (an outside course the chart never recorded): 1 January is all there is."""
    own = [_patient_list(f"pl-{drug}", drug, "2026-01") for drug in ("Herceptin", "Perjeta", "Taxotere")]
    line = engine.evaluate("p1", untreated_her2_positive_patient(*own), NOW).history.lines[0]
    assert line.start == date(2026, 1, 1)


def test_a_day_the_record_writes_is_kept(engine: Engine) -> None:
    """A list entry written to the day (the 1st) is not a partial date: it begins the line on its day."""
    line = engine.evaluate("p1", _thp_in_chart_and_in_the_patients_list("2026-01-01"), NOW).history.lines[0]
    assert line.start == date(2026, 1, 1)


def test_a_month_in_the_list_does_not_begin_a_line_before_the_progression_that_ended_the_last(engine: Engine) -> None:
    """Held-out s55: THP progressed on 2025-10-08; T-DXd's first infusion was 2025-10-27 and the daughter's entry
    says "Enhertu since 2025-10". Line 2 began after the progression: it is on treatment, not progressed."""
    records = untreated_her2_positive_patient(
        *_infusions("Herceptin", date(2025, 3, 3), date(2025, 9, 22)),
        *_infusions("Perjeta", date(2025, 3, 3), date(2025, 9, 22)),
        observation(
            "ds1",
            "97509-4",
            "2025-10-08",
            valueCodeableConcept={
                "coding": [{"system": "http://snomed.info/sct", "code": "271299001", "display": "Patient's condition worsened"}]
            },
        ),
        *_infusions("Enhertu", date(2025, 10, 27), date(2026, 5, 25)),
        _patient_list("pl-enhertu", "Enhertu", "2025-10"),
    )
    history = engine.evaluate("p1", records, NOW).history
    assert [line.start for line in history.lines] == [date(2025, 3, 3), date(2025, 10, 27)]
    assert (history.current_number, history.status) == (2, "on-treatment")


def test_a_month_a_stopped_drug_was_ended_in_is_dated_by_its_last_dose_before_it(engine: Engine) -> None:
    """Held-out s57: T-DXd "2025-02 to 2025-12" in the caregiver's list, its last infusion on 2025-11-24 (the
    next would have been due in December): the line ended on 2025-11-24, not on 1 December."""
    records = untreated_her2_positive_patient(
        *_infusions("Enhertu", date(2025, 2, 3), date(2025, 11, 24)),
        _patient_list("pl-enhertu", "Enhertu", "2025-02", "2025-12", status="completed"),
    )
    line = engine.evaluate("p1", records, NOW).history.lines[0]
    assert (line.start, line.end) == (date(2025, 2, 3), date(2025, 11, 24))


def test_a_month_ending_long_after_the_charts_last_dose_keeps_its_own_end(engine: Engine) -> None:
    """The chart's infusions stop in June (the patient moved); the list says she had it until "2025-12": the
    other hospital's doses are not in this chart, and the list's end stands."""
    records = untreated_her2_positive_patient(
        *_infusions("Enhertu", date(2025, 2, 3), date(2025, 6, 2)),
        _patient_list("pl-enhertu", "Enhertu", "2025-02", "2025-12", status="completed"),
    )
    line = engine.evaluate("p1", records, NOW).history.lines[0]
    assert line.end == date(2025, 12, 1)


def _metastatic_in_september_2025(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """conftest's untreated HER2-positive patient, her liver metastases found on 2025-09-25 instead."""
    records = untreated_her2_positive_patient(*extra)
    liver = next(record for record in records if record["id"] == "c2")
    liver["onsetDateTime"] = "2025-09-25"
    return records


@pytest.mark.parametrize("written", ["2025", "2025-09"])
def test_a_course_written_to_the_year_of_the_metastatic_diagnosis_is_its_first_line(engine: Engine, written: str) -> None:
    """Held-out w78: THP "since 2025" (or "2025-09") in a transfer letter, given until the next year, for
    metastases found on 25 September 2025: the course may have begun on or after the diagnosis, and did not end
    before it. It is the first line, not (neo)adjuvant therapy followed by an early relapse."""
    thp = [statement(f"s-{drug}", drug, written, "2026-02-02") for drug in ("Herceptin", "Perjeta")]
    evaluation = engine.evaluate("p1", _metastatic_in_september_2025(*thp), NOW)
    assert [sorted(line.agents) for line in evaluation.history.lines] == [["pertuzumab", "trastuzumab"]]
    assert not evaluation.history.early_relapse


def test_a_course_written_to_the_year_that_ended_before_the_metastatic_diagnosis_stays_adjuvant(engine: Engine) -> None:
    """Trastuzumab "2025" to 2025-08-01 (metastases found 2025-09-25): over before the diagnosis, it is
    adjuvant therapy whatever trastuzumab is given after, and the relapse within 12 months of it is early."""
    adjuvant = statement("s-adj", "Herceptin", "2025", "2025-08-01", status="completed")
    later = statement("s-met", "Herceptin", "2025-10-06", None, status="active")
    evaluation = engine.evaluate("p1", _metastatic_in_september_2025(adjuvant, later), NOW)
    assert [line.start for line in evaluation.history.lines] == [date(2025, 10, 6)]
    assert evaluation.history.early_relapse
