"""Line-of-therapy rules (clinical.md §7) on exposures built by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from service.domain import DiseaseStatus, Exposure
from service.infer.lines import LineOfTherapyRules, add_months

M = date(2024, 1, 10)
NOW = date(2026, 6, 1)


def given(agent, start, end=None, ongoing=False, status="completed", stop=None, source="MedicationStatement"):
    return Exposure(agent, date.fromisoformat(start), date.fromisoformat(end) if end else None, ongoing, status, stop, source)


def infusions(agent, first, count, every=21):
    start = date.fromisoformat(first)
    return [
        Exposure(
            agent,
            start + timedelta(days=every * i),
            start + timedelta(days=every * i),
            False,
            "completed",
            None,
            "MedicationAdministration",
        )
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def rules(knowledge):
    return LineOfTherapyRules(knowledge)


def lines_of(rules, exposures, statuses=(), metastatic=M, now=NOW):
    history = rules.history(list(exposures), list(statuses), metastatic, now)
    return history, [(line.number, line.agents) for line in history.lines]


def test_thp_then_maintenance_is_one_line(rules):
    history, lines = lines_of(
        rules,
        [
            given("pertuzumab", "2024-02-01", ongoing=True, status="active"),
            given("trastuzumab", "2024-02-01", ongoing=True, status="active"),
            given("docetaxel", "2024-02-01", "2024-07-01"),
            given("letrozole", "2024-08-01", ongoing=True, status="active"),
        ],
    )
    assert lines == [(1, ["docetaxel", "letrozole", "pertuzumab", "trastuzumab"])]
    assert history.status == "on-treatment"
    assert history.ongoing_agents() == {"pertuzumab", "trastuzumab", "letrozole"}


def test_tucatinib_added_to_hp_maintenance_is_the_same_line(rules):
    """HER2CLIMB-05: tucatinib added to maintenance trastuzumab + pertuzumab is first-line maintenance, the
    regimen the options offer (tucatinib-with-her2-maintenance); it was a line 2 of tucatinib alone."""
    hp = [
        given("pertuzumab", "2024-02-01", ongoing=True, status="active"),
        given("trastuzumab", "2024-02-01", ongoing=True, status="active"),
        given("docetaxel", "2024-02-01", "2024-07-01"),
    ]
    history, lines = lines_of(rules, [*hp, given("tucatinib", "2024-08-01", ongoing=True, status="active")])
    assert lines == [(1, ["docetaxel", "pertuzumab", "trastuzumab", "tucatinib"])]
    assert history.status == "on-treatment"
    # With capecitabine on the same day it is HER2CLIMB's regimen: a new line.
    _, lines = lines_of(
        rules,
        [
            *hp,
            given("tucatinib", "2024-08-01", ongoing=True, status="active"),
            given("capecitabine", "2024-08-01", ongoing=True, status="active"),
        ],
    )
    assert [number for number, _ in lines] == [1, 2]
    # Added to trastuzumab alone (no pertuzumab), as no trial did: a new line, as before.
    _, lines = lines_of(rules, [hp[1], hp[2], given("tucatinib", "2024-08-01", ongoing=True, status="active")])
    assert [number for number, _ in lines] == [1, 2]


def test_taxane_swap_is_the_same_line(rules):
    _, lines = lines_of(
        rules,
        [
            given("trastuzumab", "2024-02-01", ongoing=True, status="active"),
            given("docetaxel", "2024-02-01", "2024-03-15"),
            given("paclitaxel", "2024-04-01", "2024-07-01"),
        ],
    )
    assert lines == [(1, ["docetaxel", "paclitaxel", "trastuzumab"])]


def test_tdm1_after_trastuzumab_is_a_new_line_and_progression_marks_the_first(rules):
    history, lines = lines_of(
        rules,
        [
            given("trastuzumab", "2024-02-01", "2024-12-01"),
            given("docetaxel", "2024-02-01", "2024-06-01"),
            given("trastuzumab-emtansine", "2024-12-20", ongoing=True, status="active"),
        ],
        [DiseaseStatus(date(2024, 12, 5), "worsened")],
    )
    assert lines == [(1, ["docetaxel", "trastuzumab"]), (2, ["trastuzumab-emtansine"])]
    assert history.lines[0].end_reason == "progression" and history.lines[0].end == date(2024, 12, 1)
    assert history.status == "on-treatment"


def test_a_progression_during_a_long_break_after_a_line_is_the_lines(rules):
    """clinical.md rule 8: a progression after a line's start (and before the next line's) marks that line, also
    one found years after a planned stop in complete response (held-out y45, y47; u39 is adjudicated so)."""
    stopped = given("trastuzumab-emtansine", "2024-02-01", "2024-06-10")
    history, _ = lines_of(rules, [stopped], [DiseaseStatus(date(2025, 10, 1), "worsened")])
    assert (history.lines[0].end_reason, history.status) == ("progression", "progressed")


def test_gap_over_120_days_ends_a_line_even_for_the_same_drug(rules):
    exposures = infusions("trastuzumab", "2024-02-01", 6) + infusions("trastuzumab", "2025-01-15", 4)
    history, lines = lines_of(rules, exposures)
    assert lines == [(1, ["trastuzumab"]), (2, ["trastuzumab"])]
    assert history.lines[0].end_reason == "unknown"


def test_infusions_within_the_gap_keep_the_line_ongoing(rules):
    history, _ = lines_of(rules, infusions("trastuzumab-deruxtecan", "2026-01-05", 6))
    assert history.status == "on-treatment"
    late, _ = lines_of(rules, infusions("trastuzumab-deruxtecan", "2025-01-05", 6))
    assert late.status == "off-treatment"


def test_stop_for_no_response_is_progression(rules):
    history, _ = lines_of(rules, [given("trastuzumab-deruxtecan", "2024-02-01", "2025-01-01", stop="progression")])
    assert history.status == "progressed"
    assert history.lines[0].end_reason == "progression"


def test_a_stop_for_progression_with_no_end_date_still_marks_its_line_progressed(rules):
    # An order "stopped" for progressive disease with no end: the record ends, as far as it shows, where it began.
    stopped = given("pertuzumab", "2024-02-01", "2024-02-01", status="stopped", stop="progression")
    history, _ = lines_of(rules, [stopped, given("trastuzumab-deruxtecan", "2025-03-01", ongoing=True, status="active")])
    assert history.lines[0].progressed and history.lines[0].end_reason == "progression"
    assert history.status == "on-treatment"  # the current line, T-DXd, has no progression of its own
    # A record of line 1 stopped for progression after line 2 began is line 1's progression too.
    late = given("trastuzumab", "2024-02-01", "2025-04-01", status="stopped", stop="progression")
    history, _ = lines_of(rules, [late, given("tucatinib", "2025-03-01", ongoing=True, status="active")])
    assert history.lines[0].end_reason == "progression"


def test_toxicity_stop(rules):
    history, _ = lines_of(rules, [given("trastuzumab-deruxtecan", "2024-02-01", "2024-09-01", status="stopped", stop="toxicity")])
    assert history.status == "off-treatment"
    assert history.lines[0].end_reason == "toxicity"
    assert "trastuzumab-deruxtecan" in history.agents_stopped_for("toxicity")


def test_adjuvant_therapy_is_not_a_line_but_sets_early_relapse(rules):
    adjuvant = [given("trastuzumab", "2022-09-01", "2023-09-01"), given("pertuzumab", "2022-09-01", "2023-09-01")]
    history, lines = lines_of(rules, adjuvant, metastatic=date(2024, 6, 1))
    assert lines == [] and history.status == "naive"
    assert history.early_relapse is True  # within 12 months because pertuzumab
    history, _ = lines_of(rules, adjuvant[:1], metastatic=date(2024, 6, 1))
    assert history.early_relapse is False  # trastuzumab alone: 6 months
    history, _ = lines_of(rules, adjuvant, metastatic=date(2024, 11, 1))
    assert history.early_relapse is False  # 14 months


def test_add_months_clamps():
    assert add_months(date(2024, 8, 31), 6) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 1), -3) == date(2023, 12, 1)


def test_the_still_given_window_is_read_from_the_data(tmp_path):
    """Docetaxel last infused 42 days before the latest trastuzumab: dropped at 28 days (lines.yaml), given at 60."""
    import shutil

    import yaml

    from service.knowledge import load_knowledge
    from tests.conftest import ROOT

    exposures = infusions("trastuzumab", "2026-02-01", 6) + infusions("docetaxel", "2026-02-01", 4)
    folder = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", folder)
    history, _ = lines_of(LineOfTherapyRules(load_knowledge(folder)), exposures)
    assert history.ongoing_agents() == {"trastuzumab"}
    path = folder / "lines.yaml"
    document = yaml.safe_load(path.read_text())
    document["still_given_window"]["days"] = 60
    path.write_text(yaml.safe_dump(document))
    history, _ = lines_of(LineOfTherapyRules(load_knowledge(folder)), exposures)
    assert history.ongoing_agents() == {"docetaxel", "trastuzumab"}


def _cycle_orders(
    agents: list[str], first: str, count: int, source: str = "MedicationRequest", every: int = 21
) -> list[Exposure]:
    """A course recorded dose by dose as orders or statements of one day, each completed (an order per cycle)."""
    start = date.fromisoformat(first)
    return [
        Exposure(agent, start + timedelta(days=every * i), start + timedelta(days=every * i), False, "completed", None, source)
        for i in range(count)
        for agent in agents
    ]


@pytest.mark.parametrize("source", ["MedicationRequest", "MedicationStatement"])
def test_orders_or_statements_of_one_dose_each_run_like_infusions(rules, source):
    """An order per cycle (Epic's treatment plans) or a statement per infusion, each completed on its day: the
    line runs while the last dose is recent, as a line of administrations does; it had ended, "completed",
    on the day of the last dose, so a patient 20 days after cycle 6 of THP read as off treatment."""
    thp = ["docetaxel", "pertuzumab", "trastuzumab"]
    history, lines = lines_of(rules, _cycle_orders(thp, "2026-01-27", 6, source))  # the last 2026-05-12
    assert lines == [(1, thp)] and history.status == "on-treatment" and history.lines[0].end is None
    assert history.ongoing_agents() == set(thp)
    late, _ = lines_of(rules, _cycle_orders(thp, "2025-01-27", 6, source))  # the last 2025-05-12: beyond the gap
    assert late.status == "off-treatment" and late.lines[0].end == date(2025, 5, 12)
    assert late.lines[0].end_reason == "unknown"  # each dose completed says nothing of the course's end
    worse = DiseaseStatus(on=date(2026, 5, 20), status="worsened")
    progressed, _ = lines_of(rules, _cycle_orders(thp, "2026-01-27", 6, source), [worse])
    assert progressed.status == "progressed"


def test_a_lone_statement_of_one_day_is_a_course_dated_once_not_a_dose(rules):
    """One completed statement with one date ("took letrozole", dated when stated) is not read as a dose of a
    series: the line ends on that day, as before."""
    history, _ = lines_of(rules, [given("trastuzumab-emtansine", "2026-05-01", "2026-05-01")])
    assert history.status == "off-treatment" and history.lines[0].end_reason == "completed"


def test_one_day_orders_stopped_for_no_stated_reason_are_doses_and_a_stop_for_a_reason_ends_the_line(rules):
    """Synthea ends every per-cycle order ("stopped", no reason) right after writing it; FHIR's "stopped"
    says some of it was given. A series of them runs like infusions. A stop for a reason is a course's stop."""
    doses = _cycle_orders(["trastuzumab-emtansine"], "2026-03-01", 4)  # the last 2026-04-13
    stopped = [Exposure(e.agent, e.start, e.end, False, "stopped", None, e.source_type) for e in doses]
    history, _ = lines_of(rules, stopped)
    assert history.status == "on-treatment"
    last = stopped[-1]
    for_toxicity = [*stopped[:-1], Exposure(last.agent, last.start, last.end, False, "stopped", "toxicity", last.source_type)]
    ended, _ = lines_of(rules, for_toxicity)
    assert ended.status == "off-treatment" and ended.lines[0].end_reason == "toxicity"


def test_after_a_progression_an_endocrine_order_left_active_does_not_keep_the_line_running(rules):
    """HP + letrozole maintenance; pertuzumab and trastuzumab stopped for progression, the letrozole order
    (years old) and a pertuzumab order put on hold in 2025 never closed: the line ended at the stop."""
    records = [
        *_cycle_orders(["pertuzumab", "trastuzumab"], "2025-10-01", 8),  # the last 2026-04-08
        given("docetaxel", "2025-10-01", "2026-01-20"),
        given("letrozole", "2025-12-01", ongoing=True, status="active"),
        given("pertuzumab", "2025-12-15", ongoing=True, status="on-hold"),
        given("pertuzumab", "2026-04-24", "2026-04-24", status="stopped", stop="progression"),
        given("trastuzumab", "2026-04-24", "2026-04-24", status="stopped", stop="progression"),
    ]
    history, _ = lines_of(rules, records, metastatic=date(2025, 9, 1))
    line = history.lines[0]
    assert history.status == "progressed" and line.end == date(2026, 4, 24) and line.end_reason == "progression"
    assert history.ongoing_agents() == set()
    # Without the progression the letrozole order is maintenance and the line goes on.
    going, _ = lines_of(rules, [r for r in records if r.stop_reason is None], metastatic=date(2025, 9, 1))
    assert going.status == "on-treatment" and going.lines[0].end is None


@pytest.mark.parametrize(("start", "first_line"), [("2025-03-01", True), ("2025-02-10", False)])
def test_therapy_begun_within_the_window_before_the_metastasis_was_recorded_is_the_first_line(rules, start, first_line):
    """THP begun on clinically obvious de novo disease, the liver metastasis recorded 19 days later: the
    first metastatic line from its first dose, not (neo)adjuvant therapy with an "early relapse" after it.
    Begun 38 days before (more than regimen_window_days), it is what it was: therapy before the diagnosis."""
    first = _cycle_orders(["docetaxel", "pertuzumab", "trastuzumab"], start, 1)
    later = _cycle_orders(["docetaxel", "pertuzumab", "trastuzumab"], "2025-03-24", 4)
    history, lines = lines_of(rules, [*first, *later], metastatic=date(2025, 3, 20))
    assert lines == [(1, ["docetaxel", "pertuzumab", "trastuzumab"])]
    assert (history.lines[0].start == date.fromisoformat(start)) is first_line
    assert history.early_relapse is not first_line


def test_endocrine_therapy_begun_after_the_line_progressed_is_a_new_line_not_maintenance(rules):
    """Rule 4 adds endocrine therapy at maintenance, while the HER2 therapy goes on. Fulvestrant begun five
    weeks after THP was stopped for progression is a regimen of its own (clinical.md §7: a new drug outside
    the regimen after the window); it had joined line 1, which then seemed to run until fulvestrant stopped."""
    thp = [
        given("pertuzumab", "2023-02-07", "2024-10-29", status="stopped", stop="progression"),
        given("trastuzumab", "2023-02-07", "2024-10-29", status="stopped", stop="progression"),
        given("docetaxel", "2023-02-07", "2023-06-01"),
    ]
    fulvestrant = given("fulvestrant", "2024-12-03", "2025-07-15", status="stopped", stop="progression")
    history, lines = lines_of(
        rules,
        [*thp, fulvestrant, given("trastuzumab-deruxtecan", "2025-08-26", ongoing=True, status="active")],
        metastatic=date(2023, 1, 20),
    )
    assert lines == [(1, ["docetaxel", "pertuzumab", "trastuzumab"]), (2, ["fulvestrant"]), (3, ["trastuzumab-deruxtecan"])]
    assert history.lines[0].end == date(2024, 10, 29) and history.status == "on-treatment"
    # Added while HP goes on, before any progression: maintenance, the same line.
    maintenance = [
        *thp[2:],
        given("pertuzumab", "2023-02-07", ongoing=True, status="active"),
        given("fulvestrant", "2023-08-01", ongoing=True, status="active"),
    ]
    _, same = lines_of(rules, maintenance, metastatic=date(2023, 1, 20))
    assert same == [(1, ["docetaxel", "fulvestrant", "pertuzumab"])]


def test_an_order_stopped_for_no_response_with_no_end_is_dated_by_its_last_dose(rules):
    """Trastuzumab re-ordered with eribulin (a new line after vinorelbine stopped for toxicity), given for
    eighteen months and stopped for no response, the order carrying no end date. Dated by its first day,
    the stop had marked the vinorelbine line progressed and left the eribulin line running."""
    vinorelbine_line = [
        given("trastuzumab", "2024-07-08", "2024-07-08", source="MedicationRequest"),
        *infusions("trastuzumab", "2024-07-08", 5),
        given("vinorelbine", "2024-07-08", "2024-10-07", status="stopped", stop="toxicity", source="MedicationRequest"),
    ]
    eribulin_line = [
        given("trastuzumab", "2024-10-28", "2024-10-28", status="stopped", stop="progression", source="MedicationRequest"),
        given("eribulin", "2024-10-28", "2025-03-31"),
        *infusions("trastuzumab", "2024-10-28", 27),
    ]
    history, lines = lines_of(rules, [*vinorelbine_line, *eribulin_line])
    assert lines == [(1, ["trastuzumab", "vinorelbine"]), (2, ["eribulin", "trastuzumab"])]
    first, second = history.lines
    assert (first.end_reason, second.end_reason) == ("toxicity", "progression")
    assert second.end == date(2024, 10, 28) + timedelta(days=21 * 26) and history.status == "progressed"


def test_a_stop_with_no_end_and_no_dose_after_it_keeps_its_first_day(rules):
    """A later order of the drug bounds the doses the stop can be dated by: those after it are its own."""
    exposures = [
        given("trastuzumab", "2025-01-06", "2025-01-06", status="stopped", stop="progression", source="MedicationRequest"),
        given("trastuzumab-deruxtecan", "2025-03-03", ongoing=True, status="active", source="MedicationRequest"),
        given("trastuzumab", "2025-06-02", ongoing=True, status="active", source="MedicationRequest"),
        *infusions("trastuzumab", "2025-06-02", 3),
    ]
    history, _ = lines_of(rules, exposures)
    assert history.lines[0].end_reason == "progression" and history.lines[0].end == date(2025, 1, 6)


def test_an_aromatase_inhibitor_switched_for_another_stays_in_the_line(engine):
    """Letrozole switched to exemestane at HP maintenance (lines.yaml substitutions, a convention): one line,
    as a taxane swap is. Held-out g20, whose switch for arthralgia had started a line of exemestane alone,
    is the record that told the rule apart; this is the plain case, kept so."""
    from tests.conftest import condition, observation, statement

    records = [
        condition("bc", "snomed", "254837009", "2024-08-01"),
        condition("bone", "snomed", "94222008", "2024-08-10"),
        observation("her2", "85319-2", "2024-08-12", valueCodeableConcept={"text": "3+"}),
        statement("hp", "Phesgo", "2024-08-26", status="active"),
        statement("doc", "docetaxel", "2024-08-26", "2024-12-20"),
        statement("let", "letrozole", "2025-01-10", "2025-06-20"),
        statement("exe", "exemestane", "2025-06-23", status="active"),
    ]
    history = engine.evaluate("p1", records, date(2026, 6, 1)).history
    assert [sorted(line.agents) for line in history.lines] == [
        ["docetaxel", "exemestane", "letrozole", "pertuzumab", "trastuzumab"]
    ]


def test_an_order_stopped_for_progression_with_no_date_does_not_date_the_progression(rules):
    """Held-out v30: letrozole "stopped: progressive disease", no end date, written the day HP maintenance
    began: the stop is undated (no dose of its own dates it), so the progression is the disease status's,
    ten months later, and the letrozole stays in the first line."""
    letrozole = Exposure(
        "letrozole", date(2025, 8, 5), date(2025, 8, 5), False, "stopped", "progression", "MedicationRequest", end_recorded=False
    )
    exposures = [
        *infusions("docetaxel", "2025-04-01", 6),
        *infusions("pertuzumab", "2025-04-01", 19),
        *infusions("trastuzumab", "2025-04-01", 19),
        letrozole,
    ]
    history, lines = lines_of(rules, exposures, [DiseaseStatus(date(2026, 5, 19), "worsened")], metastatic=date(2025, 3, 11))
    assert lines == [(1, ["docetaxel", "letrozole", "pertuzumab", "trastuzumab"])]
    assert history.status == "progressed" and history.progression_dates == (date(2026, 5, 19),)
    # The same stop with an end date recorded dates the progression, as before.
    dated = Exposure("letrozole", date(2025, 8, 5), date(2025, 8, 5), False, "stopped", "progression", "MedicationRequest")
    history, _ = lines_of(rules, [*exposures[:-1], dated], metastatic=date(2025, 3, 11))
    assert date(2025, 8, 5) in history.progression_dates


def test_a_drugs_last_word_stopped_supersedes_its_record_left_on_hold(rules):
    """Held-out k30: capecitabine "on hold" (a hand-foot syndrome), restarted, then "stopped: treatment
    break" with an end date and nothing since: the on-hold statement does not keep the line on treatment."""
    exposures = [
        *infusions("trastuzumab", "2025-04-03", 11),  # the last 2025-10-30
        given("capecitabine", "2025-04-03", ongoing=True, status="on-hold"),
        given("capecitabine", "2025-04-03", "2025-10-23", status="stopped", stop="other"),
    ]
    history, _ = lines_of(rules, exposures, metastatic=date(2025, 3, 1))
    assert history.status == "off-treatment" and history.lines[0].end == date(2025, 10, 30)
    # A stop followed by more of the drug (a held cycle, then the next) supersedes nothing.
    later = given("capecitabine", "2025-11-01", "2025-11-14", source="MedicationDispense")
    history, _ = lines_of(rules, [*exposures, later], metastatic=date(2025, 3, 1))
    assert history.status == "on-treatment"


def test_after_a_progression_a_record_left_open_does_not_carry_the_line_to_the_next(rules):
    """Held-out k26: tamoxifen recorded "active" by a statement after its last fill; HP given to its last
    dose, progression 2026-05-08, T-DXd from 2026-05-21: line 1 ended on its last dose, not the day T-DXd
    began. A drug stopped with a date (m04: letrozole stopped for progression) still counts."""
    exposures = [
        *infusions("pertuzumab", "2025-04-01", 18),  # the last 2026-03-24
        *infusions("trastuzumab", "2025-04-01", 18),
        given("tamoxifen", "2025-11-03", ongoing=True, status="active"),
        *infusions("trastuzumab-deruxtecan", "2026-05-21", 1),
    ]
    worse = [DiseaseStatus(date(2026, 5, 8), "worsened")]
    history, _ = lines_of(rules, exposures, worse, metastatic=date(2025, 3, 1))
    assert history.lines[0].end == date(2026, 3, 24) and history.lines[0].end_reason == "progression"
    stopped = given("letrozole", "2025-11-03", "2026-05-01", status="stopped", stop="progression")
    history, _ = lines_of(rules, [*exposures[:-2], stopped, exposures[-1]], worse, metastatic=date(2025, 3, 1))
    assert history.lines[0].end == date(2026, 5, 1)


def test_a_line_ends_completed_when_the_courses_last_given_were_completed(rules):
    """Held-out bb1: IV pertuzumab and trastuzumab orders stopped at the switch to Phesgo, then the Phesgo course
    completed two years later ("Treatment completed", a planned break): the line ended completed, not for an unknown
    reason; how the courses stopped months before the line's end says nothing of how it ended."""
    iv = [given(agent, "2023-10-23", "2024-02-05", status="stopped", stop="other") for agent in ("pertuzumab", "trastuzumab")]
    taxane = given("docetaxel", "2023-10-23", "2024-02-05")
    phesgo = [given(agent, "2024-02-26", "2026-03-02") for agent in ("pertuzumab", "trastuzumab")]
    history, lines = lines_of(rules, [*iv, taxane, *phesgo], metastatic=date(2023, 8, 28))
    assert lines == [(1, ["docetaxel", "pertuzumab", "trastuzumab"])] and history.status == "off-treatment"
    assert history.lines[0].end == date(2026, 3, 2) and history.lines[0].end_reason == "completed"
    stopped_last = [*iv, taxane, phesgo[0], given("trastuzumab", "2024-02-26", "2026-03-02", status="stopped")]
    # A course last given stopped: the reason is unknown.
    assert lines_of(rules, stopped_last, metastatic=date(2023, 8, 28))[0].lines[0].end_reason == "unknown"
