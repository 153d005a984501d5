"""Pharmacy dispenses (MedicationDispense) in the medication history.

An oral drug a specialty pharmacy fills (tucatinib, capecitabine, neratinib, lapatinib) is often
recorded only as dispenses: no order in the oncology system, no administration. The service read
none of them, so a patient on tucatinib + trastuzumab + capecitabine whose tablets came from the
pharmacy was "on trastuzumab maintenance" and offered tucatinib. A dispense counts once the drug was
handed over (``whenHandedOver``, or the dispense completed) and covers its days' supply; it is a
record of a day, like an administration, so a line of dispenses runs while the last supply is recent
(mappings/lines.yaml ``gap_days``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from service.engine import Engine
from tests.conftest import her2_positive_liver_patient, observation

NOW = date(2026, 6, 1)
WORSENED = {"coding": [{"system": "http://snomed.info/sct", "code": "271299001"}]}


def dispense(rid: str, text: str, handed_over: str | None, status: str = "completed", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": rid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
        **extra,
    }
    if handed_over:
        record["whenHandedOver"] = handed_over
    return record


def administration(rid: str, text: str, day: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
        "effectiveDateTime": day,
    }


def _every_21_days(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        days.append(day)
        day += timedelta(days=21)
    return days


def after_tdxd() -> list[dict[str, Any]]:
    """THP (line 1) and T-DXd (line 2) both progressed; from 2025-10-01 trastuzumab infusions."""
    resources = her2_positive_liver_patient()
    for number, day in enumerate(_every_21_days(date(2025, 3, 15), date(2025, 8, 30))):
        resources.append(administration(f"tdxd-{number}", "Enhertu", day.isoformat()))
    resources.append(observation("o9", "97509-4", "2025-09-15", valueCodeableConcept=WORSENED))
    for number, day in enumerate(_every_21_days(date(2025, 10, 1), date(2026, 5, 20))):
        resources.append(administration(f"h-{number}", "Herceptin", day.isoformat()))
    return resources


def tucatinib_capecitabine_dispensed() -> list[dict[str, Any]]:
    supply = {"value": 21, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"}
    found = []
    for number, day in enumerate(_every_21_days(date(2025, 10, 1), date(2026, 5, 20))):
        found.append(dispense(f"tuc-{number}", "Tukysa 150 mg tablet", day.isoformat(), daysSupply=supply))
        found.append(dispense(f"cap-{number}", "capecitabine 500 mg oral tablet", day.isoformat(), daysSupply=supply))
    return found


def test_drugs_known_only_from_the_pharmacy_belong_to_the_line(engine: Engine):
    without = engine.evaluate("p1", after_tdxd(), NOW).assessment()
    assert without["lineOfTherapy"]["history"][-1]["agents"] == ["trastuzumab"]  # what the record shows without them
    assessment = engine.evaluate("p1", [*after_tdxd(), *tucatinib_capecitabine_dispensed()], NOW).assessment()
    line = assessment["lineOfTherapy"]
    assert line["current"] == 3 and line["status"] == "on-treatment"
    assert line["history"][-1] == {"line": 3, "agents": ["capecitabine", "trastuzumab", "tucatinib"], "start": "2025-10-01"}
    assert not any("tucatinib" in regimen["id"] for regimen in assessment.get("recommendedRegimens", []))


@pytest.mark.parametrize(
    ("status", "handed_over", "counted"),
    [
        ("completed", "2026-04-01", True),
        ("completed", None, True),  # dated by whenPrepared
        ("in-progress", "2026-04-01", True),
        ("on-hold", "2026-04-01", True),  # handed over, whatever came after
        ("preparation", None, False),  # never reached the patient
        ("on-hold", None, False),
        ("stopped", None, False),
        ("cancelled", "2026-04-01", False),
        ("declined", "2026-04-01", False),
        ("entered-in-error", "2026-04-01", False),
    ],
)
def test_a_dispense_counts_once_the_drug_was_handed_over(engine: Engine, status, handed_over, counted):
    record = dispense("d1", "Nerlynx 40 mg tablet", handed_over, status=status, whenPrepared="2026-03-31")
    assessment = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW).assessment()
    agents = [agent for line in assessment["lineOfTherapy"].get("history", []) for agent in line["agents"]]
    assert ("neratinib" in agents) is counted


@pytest.mark.parametrize(
    ("supply", "ongoing"),
    [
        (None, False),  # 200 days ago, beyond the 120-day gap
        ({"value": 90, "unit": "days"}, True),  # supply to 111 days ago: within it
        ({"value": 90, "system": "http://unitsofmeasure.org", "code": "d"}, True),
        ({"value": 90, "unit": "tablets"}, False),  # not days: the dispense covers its own day
        ({"value": 2000, "unit": "day"}, False),  # not believed
        ({"value": 90, "unit": "day", "comparator": ">"}, False),  # a bound, not the supply
    ],
)
def test_a_dispense_covers_its_days_supply(engine: Engine, supply, ongoing):
    day = (NOW - timedelta(days=200)).isoformat()
    extra = {"daysSupply": supply} if supply else {}
    records = [dispense("d1", "lapatinib", day, **extra), dispense("d2", "capecitabine", day, **extra)]
    assessment = engine.evaluate("p1", [*her2_positive_liver_patient(), *records], NOW).assessment()
    assert assessment["lineOfTherapy"]["history"][-1]["agents"] == ["capecitabine", "lapatinib"]
    assert (assessment["lineOfTherapy"]["status"] == "on-treatment") is ongoing


def test_progression_after_the_last_hand_over_ends_a_line_of_dispenses(engine: Engine):
    """The supply may run past the progression; nothing was handed over since, so the line is over."""
    supply = {"value": 90, "unit": "day"}
    records = [
        dispense("d1", "neratinib", "2026-03-01", daysSupply=supply),
        dispense("d2", "capecitabine", "2026-03-01", daysSupply=supply),
        observation("o9", "97509-4", "2026-04-15", valueCodeableConcept=WORSENED),
    ]
    assessment = engine.evaluate("p1", [*her2_positive_liver_patient(), *records], NOW).assessment()
    assert assessment["lineOfTherapy"]["status"] == "progressed"
    assert assessment["lineOfTherapy"]["history"][-1]["agents"] == ["capecitabine", "neratinib"]


def test_a_supply_that_runs_past_today_does_not_end_the_line_in_the_future(engine: Engine):
    """The last dispense's supply ends after the evaluation date, a progression recorded before today and no stop:
    the line progressed and is still taken (its supply reaches today: held-out ae6), so it has no end, and never
    one in the future. It had ended "today", the day its supply was cut at."""
    records = [*tucatinib_capecitabine_dispensed(), observation("o10", "97509-4", "2026-05-25", valueCodeableConcept=WORSENED)]
    line = engine.evaluate("p1", [*after_tdxd(), *records], NOW).assessment()["lineOfTherapy"]
    assert line["status"] == "progressed"
    assert "end" not in line["history"][-1] and "endReason" not in line["history"][-1]


def test_a_dispense_of_an_unknown_anticancer_drug_makes_the_history_incomplete(engine: Engine):
    record = dispense("d1", "sevabertinib 60 mg tablet", "2026-04-01")
    assessment = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW).assessment()
    assert "history-incomplete" in assessment["alerts"]


def test_an_unreadable_dispense_is_named(engine: Engine):
    record = dispense("d1", "tucatinib", "April 2026")
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    assert "MedicationDispense/d1" in evaluation.record.skipped


def test_a_drug_dispensed_through_today_beside_an_active_order_is_still_given(engine: Engine):
    """Capecitabine ordered with trastuzumab (line 3), tucatinib ordered 29 days later (line 4 by rule 7), the
    capecitabine then filled every six weeks through today: its order counted in line 3, line 4 had read as
    tucatinib alone still given, and a hormone-receptor-positive patient was offered endocrine therapy "added
    to maintenance" during capecitabine (held-out n86). A course recorded as ended before today is not given now."""
    resources = after_tdxd()
    order = {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": {"reference": "Patient/p1"}}
    resources += [
        {**order, "id": "cap", "medicationCodeableConcept": {"text": "capecitabine 500 mg tablet"}, "authoredOn": "2025-10-01"},
        {**order, "id": "tuc", "medicationCodeableConcept": {"text": "Tukysa 150 mg tablet"}, "authoredOn": "2025-10-30"},
    ]
    supply = {"value": 42, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"}
    for number, day in enumerate(["2025-10-01", "2025-11-12", "2025-12-24", "2026-02-04", "2026-03-18", "2026-04-29"]):
        resources.append(dispense(f"cap-{number}", "capecitabine 500 mg tablet", day, daysSupply=supply))
    history = engine.evaluate("p1", resources, NOW).history
    assert history.current is not None and "tucatinib" in history.current.agents
    assert history.ongoing_agents() == {"capecitabine", "trastuzumab", "tucatinib"}  # trastuzumab: infused every 21 days


def test_a_drug_whose_order_was_stopped_after_its_last_dose_is_not_still_given(engine: Engine):
    """Weekly paclitaxel beside an active trastuzumab order, last infused three weeks ago and its order stopped a
    week later for neuropathy: no longer given (held-out u76: the paclitaxel label's liver rule had been applied
    to a drug stopped for good). Infused three weeks ago with nothing stopping it, it is still given."""
    resources = after_tdxd()
    order = {"resourceType": "MedicationRequest", "intent": "order", "subject": {"reference": "Patient/p1"}}
    herceptin = {"id": "h", "status": "active", "medicationCodeableConcept": {"text": "Herceptin"}, "authoredOn": "2025-10-01"}
    resources.append({**order, **herceptin})
    for number, day in enumerate(["2026-04-27", "2026-05-04", "2026-05-11"]):
        resources.append(administration(f"pac-{number}", "paclitaxel 80 mg/m2", day))
    assert "paclitaxel" in engine.evaluate("p1", resources, NOW).history.ongoing_agents()
    stopped = {**order, "id": "p", "status": "stopped", "medicationCodeableConcept": {"text": "paclitaxel 80 mg/m2"}}
    stopped |= {"authoredOn": "2025-10-01", "dispenseRequest": {"validityPeriod": {"start": "2025-10-01", "end": "2026-05-18"}}}
    assert "paclitaxel" not in engine.evaluate("p1", [*resources, stopped], NOW).history.ongoing_agents()
