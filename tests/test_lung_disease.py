"""Interstitial lung disease and pneumonitis: trastuzumab deruxtecan's lung rule (clinical.md section 3).

The label interrupts T-DXd for grade 1 ILD/pneumonitis and stops it for good from grade 2. A Condition
naming ILD or pneumonitis (mappings/terminology.yaml lung_disease) is named on an order check of T-DXd
and beside the options holding it; it changes no option and no alert. When a record dated after T-DXd
was given grades it 2 or higher, the order check is critical.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.render import CardRenderer, RenderContext
from tests.conftest import coding, condition, draft_order_cards, her2_positive_liver_patient, option_notes, statement

NOW = date(2026, 11, 20)
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _text_condition(text: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "lung", "subject": {"reference": "Patient/p1"}, "code": {"text": text}, **extra}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


@pytest.mark.parametrize(
    ("record", "active"),
    [
        (condition("lung", "snomed", "233703007", "2025-05-01"), True),
        (condition("lung", "snomed", "205237003", "2025-05-01"), True),
        (condition("lung", "icd10cm", "J70.4", "2025-05-01", clinicalStatus=_status(CLINICAL, "resolved")), False),
        (condition("lung", "icd10cm", "J8410", "2025-05-01"), True),  # ICD-10-CM without its dot
        (condition("lung", "urn:oid:2.16.840.1.113883.6.90", "J84.9", "2025-05-01"), True),  # ICD-10-CM by its OID
        (condition("lung", "icd10cm", "J70.0", "2025-05-01", clinicalStatus=_status(CLINICAL, "recurrence")), True),
        (_text_condition("History of pneumonitis (grade 2) on T-DXd"), True),  # a past episode counts
        (_text_condition("Immune-related pneumonitis"), True),
        (_text_condition("Interstitial lung disease, not otherwise specified"), True),  # "NOS" spelt out
        (_text_condition("Interstitial lung disease", clinicalStatus=_status(CLINICAL, "inactive")), False),
    ],
)
def test_a_condition_naming_ild_or_pneumonitis_is_read_by_code_or_words(engine, record, active):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    found = evaluation.safety.lung_disease
    assert found is not None and found.record_id == "lung" and found.active is active
    assert ("Condition/lung" in evaluation.record.read_from_text) is ("coding" not in record["code"])
    assert "liver" in evaluation.extent.sites  # nothing else changes


@pytest.mark.parametrize(
    "record",
    [
        _text_condition("No interstitial lung disease"),
        _text_condition("Rule out pneumonitis"),
        _text_condition("Aspiration pneumonitis"),  # a chemical injury, not interstitial lung disease
        _text_condition("COVID-19 pneumonitis"),  # an infection
        _text_condition("Viral pneumonitis"),
        condition("lung", "snomed", "233604007", "2025-05-01"),  # pneumonia
        condition("lung", "icd10cm", "C78.01", "2025-05-01"),  # a lung metastasis is a site, not lung disease
        condition("lung", "snomed", "233703007", "2025-05-01", verificationStatus=_status(VERIFICATION, "refuted")),
        condition("lung", "snomed", "233703007", "2025-05-01", verificationStatus=_status(VERIFICATION, "entered-in-error")),
    ],
)
def test_what_is_not_ild_or_pneumonitis_is_not_read_as_such(engine, record):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    assert evaluation.safety.lung_disease is None


def test_the_active_record_is_named_before_a_later_resolved_one(engine):
    resolved = condition("late", "snomed", "205237003", "2026-02-01", clinicalStatus=_status(CLINICAL, "resolved"))
    active = condition("early", "snomed", "233703007", "2025-05-01")
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), resolved, active], NOW)
    assert evaluation.safety.lung_disease.record_id == "early"


def _order_cards(engine, knowledge, resources, drug):
    return draft_order_cards(engine, knowledge, resources, drug, NOW)


def test_a_t_dxd_order_with_ild_on_record_gets_the_labels_lung_rule(engine, knowledge):
    ild = condition("lung", "snomed", "233703007", "2025-05-01")
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), ild], "Enhertu")
    lung = [card for card in cards if "pneumonitis" in card["summary"]]
    assert len(lung) == 1, [card["summary"] for card in cards]
    card = lung[0]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("ILD or pneumonitis on record (since 2025-05-01, active)")
    assert "trastuzumab deruxtecan" in card["summary"] and len(card["summary"]) < 140
    assert "stops it for good from grade 2" in card["detail"]
    assert "- Interstitial lung disease or pneumonitis on record (since 2025-05-01, active)" in card["detail"]
    assert card["source"]["label"] == knowledge.sources["label-t-dxd-lung"]["label"]
    assert card["suggestions"][-1]["actions"][0]["type"] == "delete"


# A drug stopped for ILD or pneumonitis is the episode the labels ask about, with no Condition on record.
@pytest.mark.parametrize(
    ("reason", "named"),
    [
        ({"text": "Grade 2 pneumonitis"}, True),
        ({"text": "ILD (drug-related), grade 1"}, True),
        ({"coding": [coding("snomed", "205237003")]}, True),  # coded, no words: a toxicity too
        ({"coding": [coding("icd10cm", "J70.4")]}, True),
        ({"text": "No pneumonitis; patient preference"}, False),
        ({"text": "Grade 3 neutropenia"}, False),
        ({"text": "COVID-19 pneumonitis"}, False),  # an infection
    ],
)
def test_a_drug_stopped_for_ild_or_pneumonitis_names_it(engine, knowledge, reason, named):
    stopped = statement("m3", "Enhertu", "2025-03-15", "2025-09-01", status="stopped", statusReason=[reason])
    resources = [*her2_positive_liver_patient(), stopped]
    evaluation = engine.evaluate("p1", resources, NOW)
    found = evaluation.safety.lung_disease
    assert (found is not None) is named
    cards = _order_cards(engine, knowledge, resources, "Kadcyla")
    lung = [card["summary"] for card in cards if card["summary"].startswith("ILD or pneumonitis")]
    if named:
        assert found.stopped == ("trastuzumab-deruxtecan",) and found.on == date(2025, 9, 1) and not found.active
        assert evaluation.history.lines[-1].end_reason == "toxicity"
        assert len(lung) == 1
        assert lung[0].startswith("ILD or pneumonitis on record (trastuzumab deruxtecan (T-DXd) stopped for it 2025-09-01)")
    else:
        assert lung == []


@pytest.mark.parametrize(
    ("drug", "words", "source"),
    [
        ("Kadcyla", "stops trastuzumab emtansine for good", "label-t-dm1-lung"),
        ("Herceptin", "boxed warning (pulmonary toxicity) of trastuzumab", "label-trastuzumab-lung"),
        ("Ogivri", "boxed warning (pulmonary toxicity) of trastuzumab", "label-trastuzumab-lung"),  # a biosimilar
        ("Phesgo", "boxed warning (pulmonary toxicity) of trastuzumab", "label-trastuzumab-lung"),
    ],
)
def test_an_order_of_t_dm1_or_trastuzumab_with_ild_on_record_gets_its_own_labels_lung_rule(
    engine, knowledge, drug, words, source
):
    """Kadcyla's label stops it for good in a patient diagnosed with ILD or pneumonitis (5.4), and every
    trastuzumab label carries a boxed warning of pulmonary toxicity: only T-DXd's rule had been named."""
    ild = condition("lung", "snomed", "233703007", "2025-05-01")
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), ild], drug)
    lung = [card for card in cards if "pneumonitis" in card["summary"]]
    assert len(lung) == 1, [card["summary"] for card in cards]
    assert lung[0]["indicator"] == "warning" and words in lung[0]["detail"]
    assert lung[0]["source"]["label"] == knowledge.sources[source]["label"]
    assert "grade 2" not in lung[0]["detail"]  # T-DXd's rule is T-DXd's alone


def test_other_drugs_and_patients_without_ild_get_no_lung_card(engine, knowledge):
    ild = condition("lung", "snomed", "233703007", "2025-05-01")
    with_ild = [*her2_positive_liver_patient(), ild]
    for resources, drug in (
        (with_ild, "Tukysa"),
        (with_ild, "Perjeta"),
        (with_ild, "Xeloda"),
        (her2_positive_liver_patient(), "Enhertu"),
    ):
        cards = _order_cards(engine, knowledge, resources, drug)
        assert not [card for card in cards if "pneumonitis" in card["summary"]], drug


def _summary_detail(engine, knowledge, resources):
    evaluation = engine.evaluate("p1", resources, NOW)
    return CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]


def test_each_option_holding_a_drug_with_a_lung_rule_names_the_ild_and_keeps_its_rank(engine, knowledge):
    ild = condition("lung", "icd10cm", "J84.9", "2025-05-01")
    without = engine.evaluate("p1", her2_positive_liver_patient(), NOW)
    with_ild = engine.evaluate("p1", [*her2_positive_liver_patient(), ild], NOW)
    assert with_ild.assessment() == without.assessment()  # no option demoted, no alert: the grade is unknown
    detail = _summary_detail(engine, knowledge, [*her2_positive_liver_patient(), ild])
    assert "- Interstitial lung disease or pneumonitis on record (since 2025-05-01, active)" in detail
    regimens = [option.regimen for option in with_ild.recommendation.options]
    assert len(option_notes(detail, "Lung:")) == len(regimens)
    rules = knowledge.label_tables.lung
    expected = [
        [rule.action for rule in rules if not rule.agents.isdisjoint(knowledge.regimen_models[regimen].agents)]
        for regimen in regimens
    ]
    assert any("trastuzumab-deruxtecan" in knowledge.regimen_models[regimen].agents for regimen in regimens)  # offered after THP
    assert sum(map(len, expected)) > 1  # T-DXd and at least one trastuzumab regimen
    assert option_notes(detail, "Lung:") == expected, detail
    assert "Lung:" not in _summary_detail(engine, knowledge, her2_positive_liver_patient())


def _on_t_dxd(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    from tests.conftest import statement

    return [*her2_positive_liver_patient(), statement("m3", "Enhertu", "2025-03-20", status="active"), *extra]


def test_a_patient_on_t_dxd_with_active_ild_gets_a_warning_card_and_the_same_assessment(engine, knowledge):
    pneumonitis = condition("lung", "snomed", "205237003", "2026-10-15")
    evaluation = engine.evaluate("p1", _on_t_dxd(pneumonitis), NOW)
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    lung = [card for card in cards if card["source"]["topic"]["code"] == "lung-safety"]
    assert len(lung) == 1 and lung[0]["indicator"] == "warning"
    assert lung[0]["summary"].startswith("ILD or pneumonitis on record (since 2026-10-15, active) on trastuzumab deruxtecan")
    assert len(lung[0]["summary"]) < 140 and "stops it for good from grade 2" in lung[0]["detail"]
    assert cards[0]["extension"]["her2-cds-assessment"] == engine.evaluate("p1", _on_t_dxd(), NOW).assessment()


def test_a_patient_on_trastuzumab_with_active_pneumonitis_gets_the_boxed_warning(engine, knowledge):
    from tests.conftest import statement

    on_trastuzumab = [*her2_positive_liver_patient(), statement("m3", "Herceptin", "2025-03-20", status="active")]
    pneumonitis = condition("lung", "snomed", "205237003", "2026-10-15")
    evaluation = engine.evaluate("p1", [*on_trastuzumab, pneumonitis], NOW)
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    lung = [card for card in cards if card["source"]["topic"]["code"] == "lung-safety"]
    assert len(lung) == 1 and lung[0]["summary"].startswith(
        "ILD or pneumonitis on record (since 2026-10-15, active) on trastuzumab"
    )
    assert "boxed warning (pulmonary toxicity)" in lung[0]["detail"] and "grade 2" not in lung[0]["detail"]
    assert lung[0]["source"]["label"] == knowledge.sources["label-trastuzumab-lung"]["label"]


@pytest.mark.parametrize(
    "resources",
    [
        _on_t_dxd(condition("lung", "snomed", "205237003", "2025-10-15", clinicalStatus=_status(CLINICAL, "resolved"))),
        [*her2_positive_liver_patient(), condition("lung", "snomed", "205237003", "2026-10-15")],  # not on T-DXd
        _on_t_dxd(),
    ],
)
def test_no_lung_card_without_an_active_record_while_on_t_dxd(engine, knowledge, resources):
    evaluation = engine.evaluate("p1", resources, NOW)
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    assert not [card for card in cards if card["source"]["topic"]["code"] == "lung-safety"]


MODERATE = {"coding": [coding("snomed", "6736007", "Moderate")]}


@pytest.mark.parametrize(
    ("records", "indicator"),
    [
        # Graded by its severity (CTCAE v5: grade 2 is moderate), dated after T-DXd was given: stop for good.
        ([condition("lung", "snomed", "205237003", "2025-06-10", severity=MODERATE)], "critical"),
        ([_text_condition("Drug-induced pneumonitis, CTCAE grade 2, on T-DXd", onsetDateTime="2025-06-10")], "critical"),
        ([condition("lung", "snomed", "233703007", "2025-06-10", severity={"text": "Severe"})], "critical"),
        # T-DXd's own stop reason gives the grade, with no Condition.
        ([], "critical"),
        # Grade 1: the label interrupts until it resolves; named only.
        ([_text_condition("Pneumonitis grade 1", onsetDateTime="2025-06-10")], "warning"),
        # A grade 3 radiation pneumonitis before T-DXd was ever given is not the drug's: named only.
        ([condition("lung", "snomed", "205237003", "2023-03-01", severity={"text": "Grade 3"})], "warning"),
    ],
)
def test_a_graded_lung_disease_after_t_dxd_makes_its_reorder_critical(engine, knowledge, records, indicator):
    """clinical.md §3: T-DXd is stopped for good from grade 2 ILD or pneumonitis. Four testers' re-orders
    of T-DXd after a recorded grade 2 pneumonitis had been named as lung disease only (a warning)."""
    stop = {"text": "Pneumonitis CTCAE grade 2: permanently discontinued"} if not records else {"text": "Held"}
    tdxd = statement("tdxd", "Enhertu", "2025-03-01", "2025-06-01", status="stopped", statusReason=[stop])
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), tdxd, *records], "Enhertu")
    lung = [card for card in cards if "pneumonitis" in card["summary"]]
    assert [card["indicator"] for card in lung] == [indicator], [card["summary"] for card in cards]
    if indicator == "critical":
        assert "of grade" in lung[0]["summary"] and lung[0]["summary"].endswith("label stops it for good")
        assert len(lung[0]["summary"]) < 140 and "grade 2 or higher: it is not to be given again" in lung[0]["detail"]


def test_a_graded_lung_disease_changes_no_other_labels_card(engine, knowledge):
    """Kadcyla's label stops it for any ILD diagnosed (no grade in its rule): its card stays a warning."""
    graded = condition("lung", "snomed", "205237003", "2025-06-10", severity=MODERATE)
    tdm1 = statement("tdm1", "Kadcyla", "2025-03-01", "2025-06-01")
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), tdm1, graded], "Kadcyla")
    assert [card["indicator"] for card in cards if "pneumonitis" in card["summary"]] == ["warning"]
