"""Label safety tables row by row (mappings/safety.yaml), and cards that never contradict them."""

from __future__ import annotations

import json
from datetime import date

import pytest

from service.engine import Engine, Evaluation
from service.render import CardRenderer, RenderContext
from tests.conftest import condition, observation, statement
from tests.patients import Line, Patient

NOW = date(2026, 11, 20)
THP = Line(["Perjeta", "Herceptin", "Taxotere"], "2020-02-01", "2021-06-30", progressed="2021-06-20")
TDXD = Line(["Enhertu"], "2021-07-15", "2023-01-31", progressed="2023-01-20")


def evaluate(engine: Engine, patient: Patient) -> Evaluation:
    return engine.evaluate(patient.pid, patient.resources(), NOW)


def cards(knowledge, evaluation: Evaluation) -> list[dict]:
    return CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))


def test_t_dm1_given_now_with_ast_three_times_uln_is_grade_2_same_dose(engine):
    """Kadcyla Table 2: AST/ALT > 2.5-5 x ULN is grade 2, treat at the same dose: no hepatic alert."""
    on_tdm1 = Line(["Kadcyla"], "2026-06-01")
    patient = Patient(lines=[THP, on_tdm1], labs=[("ast", "2026-11-10", 120, 40), ("alt", "2026-11-10", 30, 40)])
    evaluation = evaluate(engine, patient)
    assert evaluation.history.status == "on-treatment"
    assert "hepatic-impairment" not in evaluation.alerts
    assert evaluation.safety.hepatic_hit("trastuzumab-emtansine", True).grade == "grade 2 transaminases"


def test_t_dm1_not_yet_given_with_ast_three_times_uln_is_not_studied(engine):
    """The same AST before starting T-DM1: not studied at these levels (label 5.1): the option is demoted with the words."""
    tdm1_line2 = Line(["Kadcyla"], "2021-07-15", "2023-01-31", progressed="2023-01-20")
    patient = Patient(lines=[THP, tdm1_line2], labs=[("ast", "2026-11-10", 120, 40)])
    naive_of_tdm1 = evaluate(engine, Patient(lines=[THP], labs=[("ast", "2026-11-10", 120, 40)]))
    option = next(o for o in naive_of_tdm1.recommendation.options if o.regimen == "trastuzumab-emtansine")
    assert option.preferred is False and option.warnings[0].effect == "trastuzumab emtansine not studied at these levels"
    assert "hepatic-impairment" in naive_of_tdm1.alerts
    assert "trastuzumab-emtansine" not in {o.regimen for o in evaluate(engine, patient).recommendation.options}


def test_tucatinib_holds_for_grade_2_bilirubin_alone(engine, knowledge):
    """Tukysa 2.3: bilirubin > 1.5-3 x ULN holds tucatinib; the patient on it gets a critical liver card."""
    on_tucatinib = Line(["Tukysa", "Herceptin", "Xeloda"], "2026-03-01")
    patient = Patient(lines=[THP, TDXD, on_tucatinib], labs=[("bilirubin", "2026-11-10", 2.4, 1.2)])
    evaluation = evaluate(engine, patient)
    hit = evaluation.safety.hepatic_hit("tucatinib", True)
    assert hit is not None and hit.grade == "grade 2 bilirubin" and hit.effect == "hold tucatinib"
    liver = next(c for c in cards(knowledge, evaluation) if c["source"]["topic"]["code"] == "hepatic-safety")
    assert liver["indicator"] == "critical" and "hold tucatinib" in liver["summary"]
    assert "2.3" in liver["detail"], "the label section is named"


def test_tucatinib_grade_3_transaminases_hold_then_reduce(engine):
    on_tucatinib = Line(["Tukysa", "Herceptin", "Xeloda"], "2026-03-01")
    patient = Patient(lines=[THP, TDXD, on_tucatinib], labs=[("alt", "2026-11-10", 240, 40)])
    hit = evaluate(engine, patient).safety.hepatic_hit("tucatinib", True)
    assert hit is not None and hit.grade == "grade 3" and "next lower dose" in hit.action


def test_docetaxel_is_never_suggested_beside_do_not_give_docetaxel(engine, knowledge):
    """Bilirubin above ULN: the docetaxel regimen is withheld (named in the detail), the paclitaxel one stays."""
    patient = Patient(metastatic_on="2026-10-01", sites=["liver"], labs=[("bilirubin", "2026-11-10", 1.4, 1.2)])
    evaluation = evaluate(engine, patient)
    regimens = {o.regimen for o in evaluation.recommendation.options}
    assert "pertuzumab-trastuzumab-docetaxel" not in regimens and "pertuzumab-trastuzumab-paclitaxel" in regimens
    response = cards(knowledge, evaluation)
    assert any("do not give docetaxel" in card["summary"] for card in response)
    ordered = {
        action["resource"]["medicationCodeableConcept"]["text"]
        for card in response
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
        if action["resource"]["resourceType"] == "MedicationRequest"
    }
    assert "docetaxel" not in ordered
    assert "Not offered now: **Pertuzumab + trastuzumab + docetaxel**" in response[0]["detail"]


def test_critical_cards_come_before_warnings(engine, knowledge):
    """Visceral crisis (critical) right after the summary card, the liver label warning after it."""
    patient = Patient(
        metastatic_on="2026-10-01",
        sites=["liver"],
        labs=[("bilirubin", "2026-11-10", 3.4, 1.2), ("ast", "2026-11-10", 310, 40)],
    )
    response = cards(knowledge, evaluate(engine, patient))
    indicators = [card["indicator"] for card in response[1:]]
    assert indicators[0] == "critical" and indicators == sorted(indicators, key=["critical", "warning", "info"].index)


def test_brain_metastasis_wording_fits_progression_on_tdxd(engine, knowledge):
    """After progression on T-DXd the card does not say T-DXd acts in the brain; it points to the tucatinib regimen."""
    after_tdxd = evaluate(engine, Patient(sites=["brain", "bone"], lines=[THP, TDXD]))
    brain = next(c for c in cards(knowledge, after_tdxd) if c["source"]["topic"]["code"] == "brain-metastases")
    assert "trastuzumab deruxtecan act" not in brain["summary"] and "tucatinib" in brain["summary"]
    assert "progressed on trastuzumab deruxtecan" in brain["detail"]
    before = evaluate(engine, Patient(sites=["brain", "bone"], lines=[THP]))
    brain = next(c for c in cards(knowledge, before) if c["source"]["topic"]["code"] == "brain-metastases")
    assert "trastuzumab deruxtecan act" in brain["summary"]


def test_lvef_fall_of_one_point_reads_one_point(engine, knowledge):
    on_hp = Line(["Herceptin", "Perjeta"], "2026-02-01")
    patient = Patient(lines=[on_hp], labs=[("lvef", "2026-01-20", 61, None), ("lvef", "2026-11-01", 60, None)])
    summary = cards(knowledge, evaluate(engine, patient))[0]
    assert "1 point below baseline" in summary["detail"] and "1 points" not in summary["detail"]


@pytest.mark.parametrize(
    ("labs", "summary"),
    [
        # One LVEF, taken on T-DXd: it is its own baseline, so nothing "fell" (the card had said "0 points").
        ([("lvef", "2026-11-01", 38, None)], "Ejection fraction (LVEF) is 38%: hold trastuzumab deruxtecan (T-DXd) per label"),
        # Below 40 % but higher than an earlier reading: the value holds it, not a fall of -4 points.
        (
            [("lvef", "2026-06-01", 34, None), ("lvef", "2026-11-01", 38, None)],
            "Ejection fraction (LVEF) is 38%: hold trastuzumab deruxtecan (T-DXd) per label",
        ),
        (
            [("lvef", "2026-06-01", 60, None), ("lvef", "2026-11-01", 38, None)],
            "Ejection fraction (LVEF) fell to 38% (22 points): hold trastuzumab deruxtecan (T-DXd) per label",
        ),
    ],
)
def test_an_lvef_hold_names_a_fall_only_when_there_was_one(engine, knowledge, labs, summary):
    patient = Patient(lines=[THP, Line(["Enhertu"], "2026-07-01")], labs=labs)
    evaluation = evaluate(engine, patient)
    assert "lvef-decline" in evaluation.alerts
    assert summary in [card["summary"] for card in cards(knowledge, evaluation)]


def test_undated_lvef_and_liver_tests_read_date_unknown_not_a_sentinel_day(engine, knowledge):
    """A result with no date is read (dated 1900-01-01 inside, so that any dated one wins): no card shows that day."""
    records = _untreated_with_lvef(valueQuantity={"value": 38, "unit": "%"})
    records += [
        statement("m1", "Enhertu", "2026-10-05", status="active"),
        observation("o3", "1975-2", "x", valueQuantity={"value": 2.5, "unit": "mg/dL"}),
    ]
    for record in records[-3:]:
        if record["resourceType"] == "Observation":
            del record["effectiveDateTime"]
    evaluation = engine.evaluate("p1", records, date(2026, 11, 1))
    assert "lvef-monitoring-overdue" in evaluation.alerts
    text = json.dumps(cards(knowledge, evaluation))
    assert "1900" not in text
    assert "LVEF) date unknown" in text and "LVEF 38% on date unknown" in text and "Liver tests date unknown" in text


def test_an_alert_carries_its_values_rows_and_source(engine, knowledge):
    """The recommend stage decides: criteria met, rows met, whether a drug is given now; render only words them."""
    from service.recommend import describe_alert

    patient = Patient(
        metastatic_on="2026-10-01",
        sites=["liver"],
        labs=[("bilirubin", "2026-11-10", 3.4, 1.2), ("ast", "2026-11-10", 310, 40), ("alt", "2026-11-10", 90, 40)],
    )
    evaluation = evaluate(engine, patient)
    crisis = describe_alert(knowledge, "visceral-crisis", evaluation.history, evaluation.safety, evaluation.recommendation)
    assert [(m.name, m.value) for m in crisis.criteria] == [("bilirubin", 3.4), ("AST", 310)]
    liver = describe_alert(knowledge, "hepatic-impairment", evaluation.history, evaluation.safety, evaluation.recommendation)
    assert liver.critical is False, "no drug is given now"
    assert {hit.agent for hit in liver.hits} >= {"docetaxel", "paclitaxel"}
    assert liver.source == "label-docetaxel" and all(hit.section for hit in liver.hits)


def _untreated_with_lvef(**value) -> list[dict]:
    """HER2 3+ breast cancer with liver metastases, no HER2 therapy yet, and one LVEF result."""
    return [
        {"resourceType": "Patient", "id": "p1"},
        condition("c1", "snomed", "254837009", "2026-09-01"),
        condition("c2", "snomed", "94381002", "2026-09-01"),
        observation("o1", "85319-2", "2026-10-01", valueCodeableConcept={"text": "3+"}),
        observation("o2", "10230-1", "2026-10-01", **value),
    ]


def test_an_lvef_reported_as_a_range_is_read_at_its_lower_end(engine):
    """An echo's "48-54%" had read as 54 (the last number before %): now 48, below the 50% limit."""
    now = date(2026, 11, 1)
    ranged = {"valueRange": {"low": {"value": 48, "unit": "%"}, "high": {"value": 54, "unit": "%"}}}
    for value in ({"valueString": "48-54%"}, ranged):
        evaluation = engine.evaluate("p1", _untreated_with_lvef(**value), now)
        assert "lvef-low-baseline" in evaluation.alerts, value
    exact = engine.evaluate("p1", _untreated_with_lvef(valueQuantity={"value": 54, "unit": "%"}), now)
    assert "lvef-low-baseline" not in exact.alerts


def test_how_a_ranged_lvef_is_read_is_data(mappings_copy):
    import yaml

    from service.knowledge import load_knowledge

    path = mappings_copy / "safety.yaml"
    document = yaml.safe_load(path.read_text())
    document["lvef"]["reported_range"] = "midpoint"
    path.write_text(yaml.safe_dump(document))
    midpoint = Engine(load_knowledge(mappings_copy)).evaluate("p1", _untreated_with_lvef(valueString="48-54%"), date(2026, 11, 1))
    assert "lvef-low-baseline" not in midpoint.alerts  # 51


def test_enzymes_in_si_units_are_read_as_u_per_l(engine):
    """AST 4 ukat/L is 240 U/L (1 ukat = 60 U): a visceral crisis with liver metastases, as 240 U/L is;
    it had read as 4 U/L. The record's reference range is converted with it."""
    now = date(2026, 11, 10)
    lvef = {"valueQuantity": {"value": 60, "unit": "%"}}

    def with_ast(unit: str, value: float, high: float | None = None) -> Evaluation:
        ast = observation("o3", "1920-8", "2026-11-01", valueQuantity={"value": value, "unit": unit})
        if high is not None:
            ast["referenceRange"] = [{"high": {"value": high, "unit": unit}}]
        return engine.evaluate("p1", [*_untreated_with_lvef(**lvef), ast], now)

    for unit in ("ukat/L", "µkat/L", "μkat/L", "UKAT/L"):  # noqa: RUF001 - the micro sign and the Greek mu both occur
        evaluation = with_ast(unit, 4.0)
        assert "visceral-crisis" in evaluation.alerts, unit
        assert evaluation.safety.liver.ast == 240
    assert "visceral-crisis" not in with_ast("U/L", 4.0).alerts
    assert with_ast("ukat/L", 1.2, high=0.6).safety.liver.ast_x == 2.0


def _with_lab(engine: Engine, loinc: str, quantity: dict) -> Evaluation:
    lvef = {"valueQuantity": {"value": 60, "unit": "%"}}
    lab = observation("o3", loinc, "2026-11-01", valueQuantity=quantity)
    return engine.evaluate("p1", [*_untreated_with_lvef(**lvef), lab], date(2026, 11, 10))


@pytest.mark.parametrize(
    ("loinc", "unit", "code", "value", "read_as"),
    [
        # Bilirubin in mg/L (French and Belgian laboratories): 40 mg/L is 4 mg/dL; it had read as 40 mg/dL.
        ("1975-2", "mg/L", None, 40, ("bilirubin", 4.0)),
        ("1975-2", "mg/l", "mg/L", 20, ("bilirubin", 2.0)),
        ("1975-2", "mg/100 mL", None, 2.5, ("bilirubin", 2.5)),
        ("1975-2", "mmol/L", None, 0.0513, ("bilirubin", 3.0)),
        ("1975-2", "micromol/L", None, 51.3, ("bilirubin", 3.0)),
        # A molar code with a mass unit: the unit the result is written in decides.
        ("14631-6", "mg/dL", "mg/dL", 3, ("bilirubin", 3.0)),
        ("14631-6", "", None, 51.3, ("bilirubin", 3.0)),
        # Enzymes in SI units as Swedish and German laboratories spell them: 4 ukat/L is 240 U/L.
        ("1742-6", "mikrokat/l", None, 4, ("alt", 240.0)),
        ("1742-6", "microkat/L", None, 4, ("alt", 240.0)),
        ("1920-8", "[IU]/L", "[IU]/L", 240, ("ast", 240.0)),
        ("1920-8", "mU/mL", None, 240, ("ast", 240.0)),
        # A unit written in words beside its UCUM code: the code is read.
        ("1920-8", "units per liter", "U/L", 240, ("ast", 240.0)),
    ],
)
def test_liver_tests_are_read_in_the_units_laboratories_write(engine, loinc, unit, code, value, read_as):
    quantity = {"value": value, "unit": unit} | ({"system": "http://unitsofmeasure.org", "code": code} if code else {})
    evaluation = _with_lab(engine, loinc, quantity)
    name, expected = read_as
    assert getattr(evaluation.safety.liver, name) == pytest.approx(expected, rel=1e-3)
    assert "visceral-crisis" in evaluation.alerts  # bilirubin > 1.5 mg/dL or AST/ALT > 200 U/L with liver metastases


@pytest.mark.parametrize(
    ("loinc", "unit", "value"),
    [("1975-2", "mg/mL", 0.04), ("1975-2", "g/L", 0.04), ("1920-8", "U/mL", 0.3), ("1742-6", "furlongs", 30)],
)
def test_a_liver_test_in_a_unit_the_service_does_not_read_is_named_not_guessed(engine, knowledge, loinc, unit, value):
    """A unit safety.yaml does not list had been read as the thresholds' unit (mg/dL, U/L): bilirubin
    0.04 mg/mL (4 mg/dL) as 0.04 mg/dL, AST 0.3 U/mL (300 U/L) as 0.3 U/L. Now the record is left out and
    named on the data card."""
    evaluation = _with_lab(engine, loinc, {"value": value, "unit": unit})
    liver = evaluation.safety.liver
    assert (liver.bilirubin, liver.ast, liver.alt) == (None, None, None)
    data_card = [card for card in cards(knowledge, evaluation) if "could not be read" in card["summary"]]
    assert len(data_card) == 1 and "Observation/o3 \\(its unit is not one the service reads\\)" in data_card[0]["detail"]


def test_a_low_baseline_card_names_the_baseline_not_a_later_recovered_lvef(engine, knowledge):
    """LVEF 45 % before T-DXd, 60 % on it: the low-baseline card had said "LVEF 60% is below 50%"."""
    on_tdxd = Line(["Enhertu"], "2026-07-01")
    patient = Patient(lines=[THP, on_tdxd], labs=[("lvef", "2026-06-20", 45, None), ("lvef", "2026-11-01", 60, None)])
    evaluation = evaluate(engine, patient)
    assert "lvef-low-baseline" in evaluation.alerts
    summaries = [card["summary"] for card in cards(knowledge, evaluation)]
    assert "Ejection fraction (LVEF) 45% is below 50%: cardiology review before HER2 therapy" in summaries
    assert not any("60% is below" in summary for summary in summaries)


def test_a_result_exactly_at_a_limit_is_not_above_it_in_si_units(engine):
    """ALT 1.74 ukat/L against an upper limit of 0.58 ukat/L is exactly 3 x ULN; in binary fractions the
    quotient came out 3.0000000000000004, above Tukysa's "AST/ALT > 3 x ULN with bilirubin > 2 x ULN", so
    the patient was told to stop tucatinib for good where the label holds it for the bilirubin alone."""
    on_tucatinib = Line(["Tukysa", "Herceptin", "Xeloda"], "2026-03-01")
    patient = Patient(lines=[THP, TDXD, on_tucatinib], labs=[("bilirubin", "2026-11-10", 3.0, 1.2)])
    alt = observation("alt-si", "1742-6", "2026-11-10", valueQuantity={"value": 1.74, "unit": "ukat/L"})
    alt["referenceRange"] = [{"high": {"value": 0.58, "unit": "ukat/L"}}]
    evaluation = engine.evaluate(patient.pid, [*patient.resources(), alt], NOW)
    assert evaluation.safety.liver.alt_x == 3.0
    hit = evaluation.safety.hepatic_hit("tucatinib", True)
    assert hit is not None and hit.grade == "grade 2 bilirubin", hit


def test_an_lvef_fall_of_exactly_ten_points_in_tenths_is_ten(engine):
    """32.2 - 22.2 is 10.000000000000004 in binary fractions: the fall is read as the 10 points it is."""
    readings = [("lvef", "2026-01-05", 32.2, None), ("lvef", "2026-10-05", 22.2, None)]
    on_hp = Line(["Perjeta", "Herceptin"], "2026-02-01")
    evaluation = evaluate(engine, Patient(lines=[on_hp], labs=readings))
    assert evaluation.safety.lvef_fall == 10


def test_a_dose_the_label_sets_keeps_the_regimen_preferred(engine, knowledge):
    """Bilirubin 2.4 mg/dL (2 x ULN) with liver metastases, untreated: docetaxel is withheld (boxed warning) and
    paclitaxel's label reduces the dose (135 mg/m2); pertuzumab + trastuzumab + paclitaxel stays preferred and
    its option names the dose. It had lost the mark, so a visceral crisis had no taxane regimen preferred."""
    patient = Patient(sites=["liver"], labs=[("bilirubin", "2026-11-10", 2.4, 1.2), ("lvef", "2026-11-01", 60, None)])
    evaluation = evaluate(engine, patient)
    options = {option.regimen: option.preferred for option in evaluation.recommendation.options}
    assert options["pertuzumab-trastuzumab-paclitaxel"] is True
    assert "pertuzumab-trastuzumab-docetaxel" in {w.regimen for w in evaluation.recommendation.withheld}
    detail = cards(knowledge, evaluation)[0]["detail"]
    assert "Label dose: liver tests (bilirubin 1.26-5.0 x ULN), reduce the paclitaxel dose" in detail


@pytest.mark.parametrize(("value", "low"), [(53, False), (48, True)])
def test_the_low_baseline_alert_is_the_contracts_50_percent_whatever_the_labs_range(engine, knowledge, value, low):
    """Held-out v26: a cardiac MRI's LVEF of 53 % flagged low against its own range (57-77 %) had raised
    lvef-low-baseline, which the contract defines as LVEF < 50 %; the lab's limit moves the label hold rules only."""
    mri = {
        "valueQuantity": {"value": value, "unit": "%"},
        "referenceRange": [{"low": {"value": 57, "unit": "%"}, "high": {"value": 77, "unit": "%"}}],
    }
    evaluation = engine.evaluate("p1", _untreated_with_lvef(**mri), date(2026, 11, 1))
    assert ("lvef-low-baseline" in evaluation.alerts) is low
    if low:
        summaries = [card["summary"] for card in cards(knowledge, evaluation)]
        assert "Ejection fraction (LVEF) 48% is below 50%: cardiology review before HER2 therapy" in summaries


def test_a_label_row_that_changes_a_partner_the_cards_suggest_raises_the_hepatic_alert(engine):
    """Held-out u91: bilirubin 1.3 x ULN changes no drug of the fourth line's regimens but the partner the cards
    suggest beside trastuzumab ("do not give docetaxel", docetaxel's boxed warning; a paclitaxel dose to reduce).
    The contract's hepatic-impairment alert is for a threshold that changes a suggested drug: it is raised."""
    ttc = Line(["Tukysa", "Herceptin", "Xeloda"], "2023-03-01", "2024-06-01", progressed="2024-05-20")
    evaluation = evaluate(engine, Patient(lines=[THP, TDXD, ttc], labs=[("bilirubin", "2026-11-10", 1.6, 1.2)]))
    chemotherapy = next(o for o in evaluation.recommendation.options if o.regimen == "trastuzumab-chemotherapy")
    assert [hit.agent for hit in chemotherapy.partner_warnings] == ["docetaxel", "paclitaxel"]
    assert "hepatic-impairment" in evaluation.alerts


@pytest.mark.parametrize(
    ("words", "on", "overdue"),
    [
        ("Normal", "2027-02-01", False),
        ("Preserved.", "2027-02-01", False),
        ("Mildly reduced", "2027-02-01", True),
        ("Normal", "2026-10-20", True),
    ],  # "Normal" over four months before: the monitoring is overdue as before
)
def test_an_lvef_reported_only_as_normal_is_monitoring_done(engine, words: str, on: str, overdue: bool):
    """Held-out bk8: an Epic echo's LVEF coded "Normal" (no number) four weeks before, on trastuzumab and vinorelbine:
    the heart was assessed, so lvef-monitoring-overdue is not raised for want of a number. It gives no value, and
    words saying anything else count for nothing (named on the data card)."""
    records = _untreated_with_lvef(valueQuantity={"value": 60, "unit": "%"})
    records += [
        observation("o4", "10230-1", on, valueCodeableConcept={"text": words}),
        statement("m1", "Herceptin", "2026-10-05", status="active"),
    ]
    evaluation = engine.evaluate("p1", records, date(2027, 3, 1))
    assert ("lvef-monitoring-overdue" in evaluation.alerts) is overdue
    assert [lab.value for lab in evaluation.record.labs if lab.kind == "lvef"] == [60]


@pytest.mark.parametrize(("antibodies_end", "overdue"), [("2024-06-17", False), (None, True)])
def test_lvef_monitoring_follows_an_her2_antibody_still_given(engine, antibodies_end: str | None, overdue: bool):
    """Held-out bn5: pertuzumab and trastuzumab stopped at the patient's wish after a durable response, two years
    before, the line going on with anastrozole alone: no HER2 antibody is given, so no LVEF is due; the line's
    agents still name the antibodies. With them still given, the LVEF two years old is overdue."""
    records = _untreated_with_lvef(valueQuantity={"value": 61, "unit": "%"})
    records[1]["onsetDateTime"] = records[2]["onsetDateTime"] = "2020-09-08"
    records[3]["effectiveDateTime"] = "2020-09-21"
    records[4]["effectiveDateTime"] = "2024-05-20"
    status = "stopped" if antibodies_end else "active"
    records += [
        statement("d", "docetaxel", "2020-10-05", "2021-01-18"),
        statement("p", "pertuzumab", "2020-10-05", antibodies_end, status=status),
        statement("t", "trastuzumab", "2020-10-05", antibodies_end, status=status),
        statement("a", "anastrozole", "2021-02-08", status="active"),
    ]
    evaluation = engine.evaluate("p1", records, date(2026, 6, 1))
    assert evaluation.history.current is not None and evaluation.history.current.ongoing
    assert "trastuzumab" in evaluation.history.current.agents
    assert ("lvef-monitoring-overdue" in evaluation.alerts) is overdue
