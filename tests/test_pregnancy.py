"""A current pregnancy and the HER2 antibodies and conjugates (mappings/safety.yaml ``pregnancy``).

Every HER2 antibody and conjugate label carries a boxed warning of embryo-fetal toxicity and says to verify
pregnancy status before starting. A pregnancy on the problem list was not read at all: a pregnant patient
was offered pertuzumab + trastuzumab + docetaxel, and an order of trastuzumab deruxtecan went unremarked. A
Condition naming a current pregnancy (terminology.yaml ``pregnancy``) is now named: a warning card while
such a drug is given or offered, a line under those options, and a warning on an order of one. It changes
no option and no alert (the contract's alert codes have none for it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.render import CardRenderer, RenderContext
from tests.cards import response_problems
from tests.conftest import condition, draft_order_cards, her2_positive_liver_patient, observation, patient

NOW = date(2026, 11, 20)
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
WARNING = "boxed warning of embryo-fetal toxicity"


def _text_condition(text: str, onset: str = "2026-08-01", **extra: Any) -> dict[str, Any]:
    record = {"resourceType": "Condition", "id": "preg", "subject": {"reference": "Patient/p1"}, "code": {"text": text}}
    return {**record, "onsetDateTime": onset, **extra}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


@pytest.mark.parametrize(
    "record",
    [
        condition("preg", "snomed", "77386006", "2026-08-01"),
        condition("preg", "icd10cm", "Z33.1", "2026-08-01"),
        condition("preg", "icd10cm", "Z34.02", "2026-08-01"),  # supervision of normal first pregnancy
        condition("preg", "icd10cm", "O09.512", "2026-08-01"),  # supervision of high-risk pregnancy
        condition("preg", "icd10cm", "Z331", "2026-08-01"),  # ICD-10-CM without its dot
        _text_condition("Pregnant, 14 weeks"),
        _text_condition("Intrauterine pregnancy"),
        _text_condition("Intrauterine pregnancy, not otherwise specified"),
        _text_condition("Schwangerschaft"),
        _text_condition("Embarazada"),
    ],
)
def test_a_current_pregnancy_is_read_by_code_or_words(engine, record):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    found = evaluation.safety.pregnancy
    assert found is not None and found.record_id == "preg" and found.on == date(2026, 8, 1)
    assert ("Condition/preg" in evaluation.record.read_from_text) is ("coding" not in record["code"])


@pytest.mark.parametrize(
    "record",
    [
        condition("preg", "snomed", "77386006", "2025-09-01"),  # dated more than 300 days ago: not current
        condition("preg", "snomed", "77386006", "2027-01-01"),  # dated after the evaluation date
        condition("preg", "icd10cm", "Z33.2", "2026-08-01"),  # an encounter for elective termination
        condition("preg", "snomed", "77386006", "2026-08-01", clinicalStatus=_status(CLINICAL, "resolved")),
        condition("preg", "snomed", "77386006", "2026-08-01", abatementDateTime="2026-10-01"),
        condition("preg", "snomed", "77386006", "2026-08-01", verificationStatus=_status(VERIFICATION, "refuted")),
        _text_condition("Not pregnant"),
        _text_condition("History of pregnancy loss"),
        _text_condition("Pregnancy test negative"),
        _text_condition("Planning pregnancy after treatment"),
        _text_condition("Post-pregnancy"),
    ],
)
def test_what_is_no_current_pregnancy_is_not_read_as_one(engine, record):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    assert evaluation.safety.pregnancy is None


def _cards(engine, knowledge, resources):
    evaluation = engine.evaluate("p1", resources, NOW)
    return evaluation, CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))


def test_a_pregnant_patient_offered_her2_antibodies_gets_a_warning_and_keeps_her_options(engine, knowledge):
    pregnancy = condition("preg", "snomed", "77386006", "2026-08-01")
    without, _ = _cards(engine, knowledge, her2_positive_liver_patient())
    evaluation, cards = _cards(engine, knowledge, [*her2_positive_liver_patient(), pregnancy])
    assert evaluation.assessment() == without.assessment()  # no option withheld, no alert: the choice is clinical
    warnings = [card for card in cards if WARNING in card["summary"]]
    assert len(warnings) == 1, [card["summary"] for card in cards]
    card = warnings[0]
    assert card["indicator"] == "warning" and card["summary"].startswith("Pregnancy on record (since 2026-08-01)")
    assert "trastuzumab deruxtecan" in card["detail"] and "- Pregnancy on record (since 2026-08-01)" in card["detail"]
    assert card["source"]["label"] == knowledge.sources["label-her2-embryo-fetal"]["label"]
    assert card["source"]["topic"]["code"] == "pregnancy-safety"
    assert response_problems({"cards": cards}, "patient-view") == []  # CDS Hooks card rules, the contract
    # Each option holding such a drug says so; the facts list the pregnancy.
    summary = cards[0]["detail"]
    assert "- Pregnancy on record (since 2026-08-01)" in summary
    assert summary.count("Pregnancy on record (since 2026-08-01): boxed warning") == len(evaluation.recommendation.options) - 1


def test_no_warning_without_a_pregnancy_or_without_breast_cancer(engine, knowledge):
    _, cards = _cards(engine, knowledge, her2_positive_liver_patient())
    assert not [card for card in cards if WARNING in card["summary"]]
    pregnancy = condition("preg", "snomed", "77386006", "2026-08-01")
    _, cards = _cards(engine, knowledge, [patient(), pregnancy])  # no breast cancer: the pathway is silent
    assert not [card for card in cards if WARNING in card["summary"]]


def _order_cards(engine, knowledge, resources, drug):
    return draft_order_cards(engine, knowledge, resources, drug, NOW)


@pytest.mark.parametrize(("drug", "warned"), [("Enhertu", True), ("Kadcyla", True), ("Phesgo", True), ("Xeloda", False)])
def test_an_order_of_a_her2_antibody_or_conjugate_in_pregnancy_is_warned_of(engine, knowledge, drug, warned):
    pregnancy = condition("preg", "icd10cm", "Z33.1", "2026-08-01")
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), pregnancy], drug)
    found = [card for card in cards if card["summary"].startswith("Pregnancy on record (since 2026-08-01)")]
    assert bool(found) is warned, [card["summary"] for card in cards]
    if warned:
        assert found[0]["indicator"] == "warning" and "can harm the fetus" in found[0]["summary"]
        assert len(found[0]["summary"]) < 140
        assert found[0]["source"]["label"] == knowledge.sources["label-her2-embryo-fetal"]["label"]


def test_a_two_drug_draft_gets_one_card_for_the_rule_both_drugs_share(engine, knowledge):
    """Phesgo is pertuzumab and trastuzumab: both carry the same boxed warning, which had come as two cards
    alike but for the drug's name. One card names both; a rule in other words stays a card of its own."""
    pregnancy = condition("preg", "icd10cm", "Z33.1", "2026-08-01")
    heart = condition("hf", "icd10cm", "I50.9", "2026-08-01")
    cards = _order_cards(engine, knowledge, [*her2_positive_liver_patient(), pregnancy, heart], "Phesgo")
    found = [card for card in cards if card["summary"].startswith("Pregnancy on record")]
    assert len(found) == 1, [card["summary"] for card in cards]
    assert "pertuzumab + trastuzumab can harm the fetus" in found[0]["summary"]
    assert found[0]["detail"].startswith("**pertuzumab + trastuzumab**: ")
    assert {link["label"] for link in found[0]["links"]} >= {"pertuzumab label", "trastuzumab label"}
    hearts = [card for card in cards if card["summary"].startswith("Heart failure")]  # each label's own rule
    assert sorted(card["detail"].split("**")[1] for card in hearts) == ["pertuzumab", "trastuzumab"]


def _status(rid: str, on: str, answer: dict[str, Any]) -> dict[str, Any]:
    """A US Core pregnancy status Observation (LOINC 82810-3)."""
    return observation(rid, "82810-3", on, valueCodeableConcept=answer)


PREGNANT = {"coding": [{"system": "http://snomed.info/sct", "code": "77386006"}]}
NOT_PREGNANT = {"coding": [{"system": "http://loinc.org", "code": "LA26683-5"}]}


@pytest.mark.parametrize(
    ("records", "pregnant_on"),
    [
        ([_status("s1", "2026-09-01", PREGNANT)], date(2026, 9, 1)),
        ([_status("s1", "2026-09-01", {"coding": [{"system": "http://loinc.org", "code": "LA15173-0"}]})], date(2026, 9, 1)),
        ([_status("s1", "2026-09-01", {"text": "Pregnant"})], date(2026, 9, 1)),
        ([_status("s1", "2026-09-01", NOT_PREGNANT)], None),
        ([_status("s1", "2026-09-01", {"text": "Not pregnant"})], None),
        ([_status("s1", "2025-06-01", PREGNANT)], None),  # more than 300 days ago
        # The latest record decides: a later "not pregnant" ends a pregnancy on the problem list, and a
        # pregnancy recorded after a "not pregnant" status stands.
        ([condition("preg", "snomed", "77386006", "2026-04-01"), _status("s1", "2026-10-01", NOT_PREGNANT)], None),
        ([condition("preg", "snomed", "77386006", "2026-10-01"), _status("s1", "2026-04-01", NOT_PREGNANT)], date(2026, 10, 1)),
    ],
)
def test_a_pregnancy_status_observation_is_read_and_the_latest_record_decides(engine, records, pregnant_on):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), *records], NOW)
    found = evaluation.safety.pregnancy
    assert (found.on if found else None) == pregnant_on


def test_the_pregnancy_status_is_asked_for_and_read_when_it_can_be(knowledge):
    """A best-effort prefetch key: an EHR holding no pregnancy status, or offering no such search, loses nothing."""
    from service.app import prefetch_templates

    template = prefetch_templates(knowledge)["pregnancyStatus"]
    assert template.startswith("Observation?patient={{context.patientId}}&code=") and "82810-3" in template
    assert "pregnancyStatus" in knowledge.services["best_effort_prefetch"]
