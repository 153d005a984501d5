"""Heart failure and cardiomyopathy: what each HER2 label says of it (mappings/safety.yaml heart).

The LVEF rules judge numbers. The T-DXd label stops the drug for good in symptomatic congestive heart
failure and the T-DM1 label (Table 4) stops it too; trastuzumab's boxed warning stops it for
cardiomyopathy; pertuzumab's and margetuximab's warn of clinical heart failure. A Condition naming heart
failure or cardiomyopathy (mappings/terminology.yaml heart_failure), or a drug stopped for it, had raised
nothing while the LVEF was preserved or unrecorded. It is named now, as lung disease is: on an order
check, beside the options, and on a warning card while a drug is given; it changes no option and no alert.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.render import CardRenderer, RenderContext
from tests.conftest import coding, condition, draft_order_cards, her2_positive_liver_patient, observation, option_notes, statement
from tests.golden_cases import _mcode_bundles, bundle_resources

NOW = date(2026, 11, 20)
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
TOPIC = "heart-failure-safety"


def _text_condition(text: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "hf", "subject": {"reference": "Patient/p1"}, "code": {"text": text}, **extra}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _coded_with_words(system: str, code: str, display: str) -> dict[str, Any]:
    return {**condition("hf", system, code, "2025-05-01"), "code": {"coding": [coding(system, code, display)]}}


@pytest.mark.parametrize(
    ("record", "active"),
    [
        (condition("hf", "snomed", "84114007", "2025-05-01"), True),
        (condition("hf", "snomed", "703272007", "2025-05-01"), True),  # HFrEF
        (condition("hf", "snomed", "85898001", "2025-05-01"), True),  # cardiomyopathy
        (condition("hf", "snomed", "88805009", "2025-05-01", clinicalStatus=_status(CLINICAL, "resolved")), False),
        (condition("hf", "icd10cm", "I50.32", "2025-05-01"), True),  # the public mCODE example's code
        (condition("hf", "icd10cm", "I5022", "2025-05-01"), True),  # without its dot
        (condition("hf", "icd10cm", "I42.0", "2025-05-01"), True),  # dilated cardiomyopathy
        (condition("hf", "icd10cm", "I11.0", "2025-05-01"), True),  # hypertensive heart disease with heart failure
        (_text_condition("Congestive cardiac failure, NYHA class II"), True),
        (_text_condition("HFrEF (EF 35%)"), True),
        (_text_condition("Trastuzumab-induced cardiomyopathy", clinicalStatus=_status(CLINICAL, "remission")), False),
        (_text_condition("LV systolic dysfunction"), True),
        (_text_condition("Left ventricular dysfunction"), True),  # the pertuzumab and margetuximab warnings' term
        (_text_condition("Reduced ejection fraction"), True),
        (_text_condition("NYHA class III"), True),  # a heart failure's class
        (condition("hf", "snomed", "421704003", "2025-05-01"), True),  # NYHA class II as the problem
        # A SNOMED CT descendant the file does not list is read from its words.
        (_coded_with_words("snomed", "153931000119109", "Acute combined systolic and diastolic heart failure"), True),
    ],
)
def test_a_condition_naming_heart_failure_or_cardiomyopathy_is_read_by_code_or_words(engine, record, active):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    found = evaluation.safety.heart_failure
    assert found is not None and found.record_id == "hf" and found.active is active
    coded = any(c["code"] != "153931000119109" for c in record["code"].get("coding", []))
    assert ("Condition/hf" in evaluation.record.read_from_text) is not coded
    assert evaluation.safety.lung_disease is None and "liver" in evaluation.extent.sites  # nothing else changes


@pytest.mark.parametrize(
    "record",
    [
        # The public mCODE example Jenny M's problem (SNOMED CT 77970009): "without".
        _coded_with_words("snomed", "77970009", "Benign hypertensive heart disease without congestive heart failure (disorder)"),
        _text_condition("Family history of heart failure"),
        _text_condition("At risk for heart failure (anthracycline exposure)"),
        _text_condition("Rule out CHF"),
        _text_condition("Acute kidney failure"),
        _text_condition("Respiratory failure"),
        _text_condition("Failure to thrive"),
        _text_condition("Grade 1 left ventricular diastolic dysfunction"),  # an echo finding, not heart failure
        _text_condition("Right ventricular dysfunction"),
        _text_condition("Erectile dysfunction"),
        condition("hf", "icd10cm", "I10", "2025-05-01"),  # hypertension
        condition("hf", "snomed", "84114007", "2025-05-01", verificationStatus=_status(VERIFICATION, "refuted")),
        condition("hf", "snomed", "84114007", "2025-05-01", verificationStatus=_status(VERIFICATION, "entered-in-error")),
    ],
)
def test_what_is_not_heart_failure_is_not_read_as_such(engine, record):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    assert evaluation.safety.heart_failure is None


def test_words_naming_lung_disease_and_heart_failure_give_both_and_one_data_card_line(engine, knowledge):
    both = _text_condition("Interstitial lung disease and congestive heart failure")
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), both], NOW)
    assert evaluation.safety.lung_disease is not None and evaluation.safety.heart_failure is not None
    assert evaluation.record.read_from_text == ["Condition/hf"]


def test_the_public_mcode_examples_read_as_their_problem_lists_say(engine):
    """John Anyperson's I50.32 chronic diastolic heart failure is read; Jenny M's "hypertensive heart disease
    without congestive heart failure" is not (../shared/data/mcode-examples)."""
    bundles = dict(_mcode_bundles())
    assert {"mcode-john-anyperson", "mcode-jenny-m"} <= set(bundles), "../shared/data/mcode-examples is missing"
    john = engine.evaluate("cancer-patient-john-anyperson", bundle_resources(bundles["mcode-john-anyperson"]), NOW)
    assert john.safety.heart_failure is not None and john.safety.heart_failure.active
    jenny = engine.evaluate("cancer-patient-jenny-m", bundle_resources(bundles["mcode-jenny-m"]), NOW)
    assert jenny.safety.heart_failure is None


def _order_cards(engine, knowledge, resources, drug):
    return draft_order_cards(engine, knowledge, resources, drug, NOW)


def _normal_lvef() -> dict[str, Any]:
    return observation("lv", "10230-1", "2026-10-01", valueQuantity={"value": 62, "unit": "%"})


@pytest.mark.parametrize(
    ("drug", "words", "source"),
    [
        ("Enhertu", "stops trastuzumab deruxtecan for good in symptomatic congestive heart failure", "label-t-dxd"),
        ("Kadcyla", "(Table 4) stops trastuzumab emtansine in symptomatic congestive heart failure", "label-t-dm1-tables"),
        ("Herceptin", "boxed warning (cardiomyopathy) of trastuzumab", "label-trastuzumab"),
        ("Phesgo", "boxed warning (cardiomyopathy) of trastuzumab", "label-trastuzumab"),
        ("Perjeta", "boxed warning (left ventricular dysfunction) of pertuzumab", "label-pertuzumab"),
        ("Margenza", "boxed warning (left ventricular dysfunction) of margetuximab", "label-margetuximab"),
    ],
)
def test_an_order_with_heart_failure_on_record_gets_its_labels_rule_whatever_the_lvef(engine, knowledge, drug, words, source):
    hf = condition("hf", "icd10cm", "I50.22", "2025-05-01")
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), _normal_lvef(), hf], drug)
    heart = [card for card in cards if card["summary"].startswith("Heart failure or cardiomyopathy on record")]
    assert len(heart) == 1 if drug != "Phesgo" else len(heart) >= 1, [card["summary"] for card in cards]
    card = next(card for card in heart if words in card["detail"])
    assert card["indicator"] == "warning" and len(card["summary"]) < 140
    assert card["summary"].startswith("Heart failure or cardiomyopathy on record (since 2025-05-01, active)")
    assert card["source"]["label"] == knowledge.sources[source]["label"]
    assert "- Heart failure or cardiomyopathy on record (since 2025-05-01, active)" in card["detail"]
    assert "LVEF" in card["detail"]  # the LVEF on record is beside it: 62%


def test_other_drugs_and_patients_without_heart_failure_get_no_heart_card(engine, knowledge):
    hf = condition("hf", "snomed", "84114007", "2025-05-01")
    with_hf = [*her2_positive_liver_patient(), hf]
    for resources, drug in ((with_hf, "Tukysa"), (with_hf, "Xeloda"), (her2_positive_liver_patient(), "Enhertu")):
        cards = _order_cards(engine, knowledge, resources, drug)
        assert not [card for card in cards if card["summary"].startswith("Heart failure")], drug


@pytest.mark.parametrize(
    ("reason", "named"),
    [
        ({"text": "Symptomatic heart failure (NYHA III)"}, True),
        ({"text": "Cardiomyopathy"}, True),
        ({"coding": [coding("snomed", "42343007")]}, True),  # coded, no words: a toxicity too
        ({"coding": [coding("icd10cm", "I50.9")]}, True),
        ({"text": "No heart failure; patient preference"}, False),
        ({"text": "Grade 3 neutropenia"}, False),
    ],
)
def test_a_drug_stopped_for_heart_failure_names_it(engine, knowledge, reason, named):
    stopped = statement("m3", "Enhertu", "2025-03-15", "2025-09-01", status="stopped", statusReason=[reason])
    resources = [*her2_positive_liver_patient(), stopped]
    evaluation = engine.evaluate("p1", resources, NOW)
    found = evaluation.safety.heart_failure
    assert (found is not None) is named
    cards = _order_cards(engine, knowledge, resources, "Kadcyla")
    heart = [card["summary"] for card in cards if card["summary"].startswith("Heart failure or cardiomyopathy")]
    if named:
        assert found.stopped == ("trastuzumab-deruxtecan",) and found.on == date(2025, 9, 1) and not found.active
        assert evaluation.history.lines[-1].end_reason == "toxicity"
        assert len(heart) == 1 and len(heart[0]) <= 140
        assert heart[0].startswith(
            "Heart failure or cardiomyopathy on record (trastuzumab deruxtecan (T-DXd) stopped for it 2025-09-01)"
        )
    else:
        assert heart == []


@pytest.mark.parametrize(
    ("status", "lvef_on", "lvef", "named"),
    [
        ("resolved", "2026-10-01", 57, False),  # recovered, checked since and normal (held-out y05)
        ("inactive", "2026-10-01", 57, False),
        ("active", "2026-10-01", 57, True),  # current
        ("resolved", "2026-10-01", 45, True),  # the LVEF since is low
        ("resolved", "2025-04-01", 57, True),  # no LVEF after it
    ],
)
def test_a_recovered_heart_failure_is_not_named_on_an_order(engine, knowledge, status, lvef_on, lvef, named):
    """A past cardiomyopathy whose LVEF went back to normal, measured after it (safety.yaml heart recovered):
    heart function was assessed since, as each label asks. It had warned on a T-DXd order."""
    clinical = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]}
    cardiomyopathy = condition("cm", "icd10cm", "I42.0", "2025-09-12", clinicalStatus=clinical)
    lv = observation("lv", "10230-1", lvef_on, valueQuantity={"value": lvef, "unit": "%"})
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), cardiomyopathy, lv], "Enhertu")
    heart = [card["summary"] for card in cards if card["summary"].startswith("Heart failure or cardiomyopathy")]
    assert bool(heart) is named, heart


def _summary_detail(engine, knowledge, resources):
    evaluation = engine.evaluate("p1", resources, NOW)
    return CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]


def test_each_option_holding_a_drug_with_a_heart_rule_names_it_and_keeps_its_rank(engine, knowledge):
    hf = condition("hf", "icd10cm", "I42.0", "2025-05-01")
    without = engine.evaluate("p1", her2_positive_liver_patient(), NOW)
    with_hf = engine.evaluate("p1", [*her2_positive_liver_patient(), hf], NOW)
    assert with_hf.assessment() == without.assessment()  # no option demoted, no alert
    detail = _summary_detail(engine, knowledge, [*her2_positive_liver_patient(), hf])
    assert "- Heart failure or cardiomyopathy on record (since 2025-05-01, active)" in detail
    regimens = [option.regimen for option in with_hf.recommendation.options]
    rules = knowledge.label_tables.heart
    expected = [
        [rule.action for rule in rules if not rule.agents.isdisjoint(knowledge.regimen_models[regimen].agents)]
        for regimen in regimens
    ]
    assert sum(map(len, expected)) > 1
    assert option_notes(detail, "Heart:") == expected, detail
    assert "Heart:" not in _summary_detail(engine, knowledge, her2_positive_liver_patient())


def _on_t_dxd(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [*her2_positive_liver_patient(), statement("m3", "Enhertu", "2025-03-20", status="active"), *extra]


def test_a_patient_on_t_dxd_with_active_heart_failure_gets_a_warning_card_and_the_same_assessment(engine, knowledge):
    hf = condition("hf", "snomed", "42343007", "2026-10-15")
    evaluation = engine.evaluate("p1", _on_t_dxd(_normal_lvef(), hf), NOW)
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    heart = [card for card in cards if card["source"]["topic"]["code"] == TOPIC]
    assert len(heart) == 1 and heart[0]["indicator"] == "warning"
    assert heart[0]["summary"].startswith(
        "Heart failure or cardiomyopathy on record (since 2026-10-15, active) on trastuzumab deruxtecan"
    )
    assert len(heart[0]["summary"]) < 140 and "symptomatic congestive heart failure" in heart[0]["detail"]
    assert heart[0]["source"]["label"] == knowledge.sources["label-t-dxd"]["label"]
    assert cards[0]["extension"]["her2-cds-assessment"] == engine.evaluate("p1", _on_t_dxd(_normal_lvef()), NOW).assessment()


@pytest.mark.parametrize(
    "resources",
    [
        _on_t_dxd(condition("hf", "snomed", "84114007", "2025-10-15", clinicalStatus=_status(CLINICAL, "resolved"))),
        [*her2_positive_liver_patient(), condition("hf", "snomed", "84114007", "2026-10-15")],  # no HER2 drug given now
        _on_t_dxd(),
    ],
)
def test_no_heart_card_without_an_active_record_while_a_drug_is_given(engine, knowledge, resources):
    evaluation = engine.evaluate("p1", resources, NOW)
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    assert not [card for card in cards if card["source"]["topic"]["code"] == TOPIC]


def _nyha(value: dict[str, Any], code: dict[str, Any] | None = None, status: str = "final") -> dict[str, Any]:
    found = observation("nyha", "88020-3", "2026-03-02", status=status, **value)
    return found if code is None else {**found, "code": code}


@pytest.mark.parametrize(
    "record",
    [
        _nyha({"valueCodeableConcept": {"coding": [coding("snomed", "420913000")]}}),  # the class III finding
        _nyha({"valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA-x", "display": "Class II"}]}}),
        _nyha({"valueCodeableConcept": {"text": "NYHA II - slight limitation of physical activity"}}),
        _nyha({"valueString": "IV"}),
        _nyha({"valueInteger": 2}),
        # The SNOMED CT assessment scale as the code, and an Observation named only in words.
        _nyha({"valueString": "Class I"}, code={"coding": [coding("snomed", "420816009")]}),
        _nyha({"valueString": "class 3"}, code={"text": "NYHA functional class"}),
    ],
)
def test_an_observation_of_an_nyha_class_is_a_record_of_heart_failure(engine, record):
    """An NYHA class classes a heart failure (terminology.yaml heart_failure observation): the Observation
    of one is read as a heart failure on record at its date, whatever the LVEF."""
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), _normal_lvef(), record], NOW)
    found = evaluation.safety.heart_failure
    assert found is not None and found.record_id == "nyha" and found.active and found.on == date(2026, 3, 2)


@pytest.mark.parametrize(
    "record",
    [
        _nyha({"valueString": "Not assessed"}),
        _nyha({"valueCodeableConcept": {"text": "Unknown"}}),
        _nyha({}),  # no value
        _nyha({"valueString": "Class II"}, status="entered-in-error"),
        _nyha({"valueInteger": 0}),
        # Another Observation whose answer says "class II" is not an NYHA class (an ASA class).
        observation("asa", "99999-9", "2026-03-02", valueString="ASA class II"),
    ],
)
def test_an_observation_naming_no_nyha_class_is_not_heart_failure(engine, record):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), _normal_lvef(), record], NOW)
    assert evaluation.safety.heart_failure is None


def test_a_t_dxd_order_with_an_nyha_class_on_record_gets_its_labels_rule(engine, knowledge):
    nyha = _nyha({"valueString": "Class III"})
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), _normal_lvef(), nyha], "Enhertu")
    heart = [card for card in cards if "Heart failure or cardiomyopathy on record" in card["summary"]]
    assert len(heart) == 1 and "2026-03-02" in heart[0]["summary"]


def test_the_cardiac_prefetch_asks_for_the_nyha_class(knowledge):
    from service.app import prefetch_templates

    templates = prefetch_templates(knowledge)
    assert "http://loinc.org|88020-3" in templates["cardiac"]
    assert "http://snomed.info/sct|420816009" in templates["stagingSnomed"]
