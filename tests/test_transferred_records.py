"""Records of care moved between hospitals, pharmacies and practices: an imported list beside the chart's own.

Found by held-out testers 173, 175 and 188 (2026-12-07): an outside list imported unreconciled ("Enhertu: active")
kept T-DXd running after the chart's own order was stopped for pneumonitis (m57); an imported "Herceptin, Perjeta:
active since 2021" bridged a planned fifteen-month break and made one line of two (r67); a GP's summary carrying
forward "Herceptin" and "Letrozole" years after both courses were completed began a line of them (r72); a completed
prescription whose supply reaches today ended its line today (p75, p79).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from service.engine import Engine
from service.render import CardRenderer, RenderContext
from tests.conftest import observation, statement, untreated_her2_positive_patient
from tests.test_partial_dates import _infusions

NOW = date(2026, 6, 1)


def _stopped_order(rid: str, text: str, written: str, reason: str) -> dict[str, Any]:
    """An order of the chart stopped for ``reason`` (statusReason's words), with no end date."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "stopped",
        "statusReason": {"text": reason},
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
        "authoredOn": written,
    }


def test_an_imported_active_list_entry_ends_when_the_charts_later_order_was_stopped(engine: Engine) -> None:
    """Held-out m57 (care transferred): the old hospital's list, imported unreconciled, still says "Enhertu:
    active since 2025-05-27"; the new hospital's order of 2025-10-20 was stopped for grade 2 pneumonitis after the
    infusion of 2026-02-23. T-DXd ended then, for toxicity, and the next line is offered."""
    imported = statement("imp-enhertu", "Enhertu", "2025-05-27", status="active", dateAsserted="2025-10-01")
    records = untreated_her2_positive_patient(
        imported,
        _stopped_order("o-enhertu", "Enhertu", "2025-10-20", "Adverse reaction to drug: grade 2 pneumonitis"),
        *_infusions("Enhertu", date(2025, 10, 20), date(2026, 2, 23)),
    )
    evaluation = engine.evaluate("p1", records, NOW)
    line = evaluation.history.lines[-1]
    assert (line.start, line.end, line.end_reason) == (date(2025, 5, 27), date(2026, 2, 23), "toxicity")
    assert evaluation.history.status == "off-treatment"
    assert evaluation.assessment()["recommendedLine"] == 2


def test_a_drug_begun_again_after_its_stop_runs_on(engine: Engine) -> None:
    """Trastuzumab stopped for progression in 2025, ordered again with tucatinib after it: the later order runs."""
    again = statement("tras-2", "Herceptin", "2025-09-01", status="active")
    records = untreated_her2_positive_patient(
        _stopped_order("o-tras", "Herceptin", "2025-02-03", "Progressive disease"),
        *_infusions("Herceptin", date(2025, 2, 3), date(2025, 7, 28)),
        again,
        statement("tuc", "Tukysa", "2025-09-01", status="active"),
    )
    history = engine.evaluate("p1", records, NOW).history
    assert history.status == "on-treatment"
    assert history.lines[-1].end is None


def _order(rid: str, text: str, start: str, end: str, status: str, reason: str) -> dict[str, Any]:
    """An order of the chart with its course's dates (dosage bounds) and a stop reason in words."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "statusReason": {"text": reason},
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": text},
        "authoredOn": start,
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": start, "end": end}}}}],
    }


def test_an_imported_active_list_does_not_bridge_a_planned_break_into_one_line(engine: Engine) -> None:
    """Held-out r67: the chart's HP orders of 2025-02-03 were stopped on 2025-08-04 for a planned break (a complete
    response; docetaxel had ended in May); the antibodies were ordered again on 2026-02-02 with paclitaxel, after a
    recurrence on 2026-01-12 (a taxane swap alone makes no new line: the break does). The PCP's list, imported, still says
    "Herceptin, Perjeta: active since 2025-02-03". Two lines, the second on treatment."""
    imported = [
        statement(f"imp-{drug}", drug, "2025-02-03", status="active", dateAsserted="2026-04-02")
        for drug in ("Herceptin", "Perjeta")
    ]
    chart = [
        _order(f"o1-{drug}", drug, "2025-02-03", "2025-08-04", "stopped", "Planned treatment break")
        for drug in ("Herceptin", "Perjeta")
    ] + [_order("o1-docetaxel", "Docetaxel", "2025-02-03", "2025-05-19", "completed", "Six cycles given")]
    again = [
        {**statement(f"o2-{drug}", drug, "2026-02-02", status="active"), "resourceType": "MedicationRequest", "intent": "order"}
        for drug in ("Herceptin", "Perjeta", "Paclitaxel")
    ]
    for order in again:
        order["authoredOn"] = order.pop("effectivePeriod")["start"]
    given = [
        *_infusions("Herceptin", date(2026, 2, 2), date(2026, 5, 18)),
        *_infusions("Perjeta", date(2026, 2, 2), date(2026, 5, 18)),
    ]
    recurrence = observation(
        "ds",
        "97509-4",
        "2026-01-12",
        valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "271299001"}]},
    )
    records = untreated_her2_positive_patient(*imported, *chart, recurrence, *again, *given)
    history = engine.evaluate("p1", records, NOW).history
    assert [(line.start, line.end) for line in history.lines] == [
        (date(2025, 2, 3), date(2025, 8, 4)),
        (date(2026, 2, 2), None),
    ]
    assert (history.current_number, history.status) == (2, "on-treatment")


def _summary_entry(rid: str, text: str, asserted: str) -> dict[str, Any]:
    """An entry of a GP's shared health summary: active, dated only by the day the summary was made."""
    entry = statement(rid, text, "2000-01-01", status="active", dateAsserted=asserted)
    del entry["effectivePeriod"]
    return entry


def test_a_summary_carrying_forward_completed_courses_begins_no_line(engine: Engine, knowledge: Any) -> None:
    """Held-out r72: trastuzumab completed in 2025-03, the GP's summary of 2026-03-05 still lists "Herceptin" as
    active: no line begins on the day of the summary, and the data card says why the entry was not counted."""
    records = untreated_her2_positive_patient(
        statement("done", "Herceptin", "2025-02-03", "2025-03-17", status="completed"),
        _summary_entry("gp-h", "Herceptin", "2026-03-05"),
    )
    evaluation = engine.evaluate("p1", records, NOW)
    assert [(line.start, line.end) for line in evaluation.history.lines] == [(date(2025, 2, 3), date(2025, 3, 17))]
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    detail = cards[-1]["detail"].replace("\\", "")  # the card's Markdown escapes
    assert "carried forward): MedicationStatement/gp-h" in detail


def test_a_summary_entry_of_a_drug_still_running_or_never_dated_is_kept(engine: Engine) -> None:
    """The summary's "active" is the only trace of a drug no dated record gives, and says nothing new of one still
    running: neither is left out."""
    alone = engine.evaluate("p1", untreated_her2_positive_patient(_summary_entry("gp-h", "Herceptin", "2026-03-05")), NOW)
    assert [line.start for line in alone.history.lines] == [date(2026, 3, 5)]
    running = untreated_her2_positive_patient(
        statement("on", "Herceptin", "2025-02-03", status="active"), _summary_entry("gp-h", "Herceptin", "2026-03-05")
    )
    history = engine.evaluate("p1", running, NOW).history
    assert (history.lines[0].start, history.lines[0].end) == (date(2025, 2, 3), None)


def _prescription(rid: str, text: str, written: str, days: int) -> dict[str, Any]:
    """An oral drug's order, completed once sent to the pharmacy, for ``days`` days' supply."""
    order = {key: value for key, value in _stopped_order(rid, text, written, "").items() if key != "statusReason"}
    supply = {"value": days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}
    return {**order, "status": "completed", "dispenseRequest": {"expectedSupplyDuration": supply}}


def test_a_completed_prescription_whose_supply_reaches_today_keeps_the_line_going(engine: Engine) -> None:
    """Held-out p79 and p75 (Korean general hospitals): HP given every three weeks, the last on 2026-05-13, and an
    anastrozole prescription of that day for 63 days, "completed" once issued. Its supply runs past today: the line
    is on treatment, not ended today as "completed"."""
    given = [
        *_infusions("Herceptin", date(2026, 1, 7), date(2026, 5, 13)),
        *_infusions("Perjeta", date(2026, 1, 7), date(2026, 5, 13)),
    ]
    records = untreated_her2_positive_patient(*given, _prescription("ai", "Arimidex 1 mg", "2026-05-13", 63))
    history = engine.evaluate("p1", records, NOW).history
    assert (history.current_number, history.status, history.lines[0].end) == (1, "on-treatment", None)


def test_a_completed_prescription_alone_whose_supply_reaches_today_is_taken_now(engine: Engine) -> None:
    """Tucatinib and capecitabine prescribed on 2026-05-20 for 28 days, both "completed": taken now."""
    records = untreated_her2_positive_patient(
        _prescription("tuc", "Tukysa 150 mg", "2026-05-20", 28), _prescription("cap", "Xeloda 500 mg", "2026-05-20", 28)
    )
    history = engine.evaluate("p1", records, NOW).history
    assert (history.status, history.lines[0].end) == ("on-treatment", None)
