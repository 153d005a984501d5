"""A cancer diagnosis not yet made (mappings/codes.yaml condition_unconfirmed).

FHIR's verificationStatus unconfirmed, provisional and differential, and ICD-10-GM's certainty V
(Verdacht), mark a diagnosis under consideration. Such a breast primary, metastasis or history is not
counted, as "suspected" in words is not, and the data card names it. Interstitial lung disease counts
however verified: the T-DXd label asks for a suspected ILD to be investigated.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.engine import Engine
from service.knowledge import Knowledge
from service.render import CardRenderer, RenderContext
from tests.conftest import condition, her2_positive_liver_patient

NOW = date(2026, 6, 1)
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CERTAINTY = "http://fhir.de/StructureDefinition/icd-10-gm-diagnosesicherheit"
ICD10_GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"


def _verified(code: str) -> dict[str, Any]:
    return {"verificationStatus": {"coding": [{"system": VERIFICATION, "code": code}]}}


def _suspected_gm(rid: str, code: str) -> dict[str, Any]:
    coding = {"system": ICD10_GM, "code": code, "extension": [{"url": CERTAINTY, "valueCoding": {"code": "V"}}]}
    return {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/p1"}, "code": {"coding": [coding]}}


@pytest.mark.parametrize(
    "brain",
    [
        condition("mb", "icd10cm", "C79.31", "2026-04-01", **_verified("provisional")),
        condition("mb", "icd10cm", "C79.31", "2026-04-01", **_verified("differential")),
        condition("mb", "snomed", "94225005", "2026-04-01", **_verified("unconfirmed")),
        _suspected_gm("mb", "C79.3"),
    ],
)
def test_an_unconfirmed_metastasis_is_not_a_site_and_the_data_card_names_it(engine: Engine, knowledge: Knowledge, brain):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), brain], NOW)
    assessment = evaluation.assessment()
    assert assessment["metastaticSites"] == ["liver"]
    assert "brain-metastases" not in assessment.get("alerts", [])
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    assert "Not counted until confirmed" in cards[-1]["detail"] and "Condition/mb" in cards[-1]["detail"]


def test_a_confirmed_or_unverified_metastasis_counts(engine: Engine):
    for extra in ({}, _verified("confirmed")):
        brain = condition("mb", "icd10cm", "C79.31", "2026-04-01", **extra)
        assert "brain" in engine.evaluate("p1", [*her2_positive_liver_patient(), brain], NOW).assessment()["metastaticSites"]


def test_an_unconfirmed_only_metastasis_leaves_the_patient_not_metastatic(engine: Engine):
    records = [r for r in her2_positive_liver_patient() if r["id"] != "c2"]
    records.append(condition("c2", "icd10cm", "C78.7", "2024-01-10", **_verified("provisional")))
    assessment = engine.evaluate("p1", records, NOW).assessment()
    assert assessment["metastatic"] is False and "recommendedLine" not in assessment


def test_a_provisional_breast_primary_is_not_breast_cancer(engine: Engine):
    records = [r for r in her2_positive_liver_patient() if r["id"] != "c1"]
    records.append(condition("c1", "snomed", "254837009", "2022-01-10", **_verified("provisional")))
    assert engine.evaluate("p1", records, NOW).assessment()["breastCancer"] is False


def test_a_provisional_interstitial_lung_disease_still_counts(engine: Engine):
    lung = condition("lung", "snomed", "233703007", "2026-04-01", **_verified("provisional"))
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), lung], NOW)
    assert evaluation.safety.lung_disease is not None and evaluation.record.unconfirmed == []


def _named(rid: str, text: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/p1"}, "code": {"text": text}}


@pytest.mark.parametrize(
    "words",
    [
        "Liver lesions concerning for metastatic disease",
        "Lesion suspicious for brain metastasis",
        "Likely bone metastases",
        "Brain lesion, likely metastatic",
        "Questionable liver mets",
        "Liver mass: metastasis vs hemangioma",
        "Pulmonary nodules, possibly metastatic",
        "Findings consistent with bone metastases",
        "Evaluate for brain metastasis",
        "? brain mets",
        "Sospecha de metástasis cerebrales",
        "Suspeita de metástases ósseas",
        "Brain metastases pending biopsy",
        "Bone metastases, unconfirmed",
        "Brain metastasis to be confirmed",
    ],
)
def test_a_metastasis_stated_with_uncertainty_in_words_is_not_counted_and_is_named(engine: Engine, knowledge: Knowledge, words):
    """ICD-10-CM's uncertain diagnoses (probable, suspected, likely, questionable, possible, rule out,
    consistent with...) and a radiologist's hedges had read as an established metastasis: "Lesion
    suspicious for brain metastasis" raised the brain warning."""
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), _named("mx", words)], NOW)
    assessment = evaluation.assessment()
    assert assessment["metastaticSites"] == ["liver"]
    assert evaluation.record.unconfirmed == ["Condition/mx"]
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    assert "Condition/mx" in cards[-1]["detail"]


@pytest.mark.parametrize(
    ("words", "site"),
    [
        ("Brain metastases, treated with SRS", "brain"),
        ("Metastatic breast cancer to bone", "bone"),
        ("Bone metastases (biopsy proven)", "bone"),
        ("Poorly differentiated carcinoma of breast metastatic to bone", "bone"),
    ],
)
def test_a_metastasis_stated_without_uncertainty_in_words_counts(engine: Engine, words, site):
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), _named("mx", words)], NOW)
    assert site in evaluation.assessment()["metastaticSites"]
    assert evaluation.record.unconfirmed == []


def test_a_coded_primary_named_with_a_suspected_spread_counts_without_the_spread(engine: Engine):
    """An ICD-10-CM C50 problem named "Breast cancer, suspected liver metastases": the primary is coded and
    counts; the spread its name hedges is not read."""
    primary = condition("bc", "icd10cm", "C50.911", "2025-01-01")
    primary["code"]["text"] = "Breast cancer, suspected liver metastases"
    evaluation = engine.evaluate("p1", [primary], NOW)
    assessment = evaluation.assessment()
    assert assessment["breastCancer"] is True and assessment["metastatic"] is False


def _problem(text: str, onset: str = "2026-01-01", rid: str = "tx") -> dict[str, Any]:
    """A problem-list entry known only by its words (no coding)."""
    return {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"text": text},
        "onsetDateTime": onset,
    }


def _her2_positive_only() -> list[dict[str, Any]]:
    """HER2 3+ and nothing else: the conditions come from the problem's words alone."""
    return [p for p in her2_positive_liver_patient() if p["resourceType"] in ("Patient", "Observation")]


@pytest.mark.parametrize(
    ("text", "breast_cancer", "sites", "in_part"),
    [
        # A clause that negates or doubts a finding of its own is set apart; the rest is read.
        ("Metastatic breast cancer to liver; no brain metastases", True, ["liver"], False),
        ("Metastatic breast cancer to bone, no visceral disease", True, ["bone"], False),
        ("Breast cancer, no distant metastases", True, None, False),
        ("Invasive ductal carcinoma of left breast. No evidence of metastatic disease", True, None, False),
        ("Breast cancer, no evidence of recurrence", True, None, False),
        ("Metastatic breast cancer to bone - no evidence of progression", True, ["bone"], False),
        ("Metastatic breast cancer to liver. Rule out brain metastases", True, ["liver"], True),
        ("Metastatic breast cancer to liver, biopsy proven; possible bone metastases", True, ["liver"], True),
        ("Metastatic breast cancer to liver - no evidence of brain metastases", True, ["liver"], False),
        # A clause naming no finding qualifies the whole: nothing is read, as before.
        ("Metastatic breast cancer to liver, not confirmed", False, None, False),
        ("Metastatic breast cancer to liver, ruled out", False, None, False),
        ("Metastatic breast cancer to liver?", False, None, False),
        ("Possible metastatic breast cancer to liver", False, None, False),
        # Within a clause a negation or doubt reaches forward: the words before it still state a finding.
        ("Metastatic breast cancer without brain involvement", True, None, False),  # distant disease, no site named
        ("Breast carcinoma metastatic to liver with no evidence of brain metastasis", True, ["liver"], False),
        ("Carcinoma of breast, metastatic to liver and bone without visceral crisis", True, ["bone", "liver"], False),
        ("Breast cancer without metastases", True, None, False),
        ("Breast cancer at high risk of recurrence", True, None, False),
        ("Breast cancer with possible liver metastases", True, None, True),
        ("Metastatic breast cancer to bone, liver metastases unconfirmed", True, ["bone"], True),
        # "But" ends a clause, and with it a negation's reach.
        ("Breast cancer metastatic to bone but not liver", True, ["bone"], False),
        ("Breast cancer, no liver metastases but bone metastases", True, ["bone"], False),
        # A cue followed by no finding of its own, a two-sided doubt, a negated primary: the whole clause.
        ("Metastatic breast cancer to liver not confirmed", False, None, False),
        ("Metastasis vs abscess of liver", False, None, False),
        ("Metastasis to liver not from breast cancer", False, None, False),
        # Commas inside one statement keep it whole.
        ("Secondary malignant neoplasm of bone, liver and lung", False, ["bone", "liver", "lung"], False),
    ],
)
def test_a_problems_words_are_read_clause_by_clause(engine: Engine, text, breast_cancer, sites, in_part):
    """Text-only problems negating or doubting one finding lost every other: "Metastatic breast cancer
    to liver; no brain metastases" read as no cancer at all (terminology.yaml text.clause_separator)."""
    evaluation = engine.evaluate("p1", [*_her2_positive_only(), _problem(text)], NOW)
    assessment = evaluation.assessment()
    assert assessment["breastCancer"] is breast_cancer
    assert assessment.get("metastaticSites") == sites
    assert ("Condition/tx (in part)" in evaluation.record.unconfirmed) is in_part


@pytest.mark.parametrize(
    ("text", "breast_cancer", "sites"),
    [
        # ICD-O's "NOS" and ICD's "NEC" spelt out negate nothing.
        ("Infiltrating duct carcinoma of breast, not otherwise specified", True, None),
        ("Malignant neoplasm of breast, not elsewhere classified", True, None),
        # A procedure not (yet) done on a finding says the finding is there.
        ("Metastatic breast cancer to liver, not biopsied", True, ["liver"]),
        ("Metastatic breast cancer to liver, not yet biopsied", True, ["liver"]),
        ("Metastatic breast cancer to brain, not treated", True, ["brain"]),
        ("Metastatic breast cancer to brain - not irradiated", True, ["brain"]),
        ("Metastatic breast cancer to liver, not resectable", True, ["liver"]),
        ("Metastatic breast cancer to liver not amenable to surgery", True, ["liver"]),
        # NegEx's own pseudo-negations.
        ("Metastatic breast cancer to liver, no change", True, ["liver"]),
        ("Metastatic breast cancer, no interval change in liver metastases", True, ["liver"]),
        # Real negations and doubts beside them still count.
        ("Metastatic breast cancer to liver, not biopsied; no brain metastases", True, ["liver"]),
        ("Metastatic breast cancer to liver, not confirmed", False, None),
        ("Breast cancer, not otherwise specified, without metastases", True, None),
    ],
)
def test_a_negation_word_that_negates_no_finding_is_not_read_as_a_negation(engine: Engine, text, breast_cancer, sites):
    """ "Infiltrating duct carcinoma of breast, not otherwise specified" read as no breast cancer, and
    "Brain metastases, not treated" as no brain metastases (terminology.yaml text.pseudo_negation)."""
    assessment = engine.evaluate("p1", [*_her2_positive_only(), _problem(text)], NOW).assessment()
    assert assessment["breastCancer"] is breast_cancer
    assert assessment.get("metastaticSites") == sites


def test_untreated_brain_metastases_in_words_raise_the_brain_warning(engine: Engine):
    resources = [*her2_positive_liver_patient(), _problem("Brain metastases, not treated", rid="mb")]
    assessment = engine.evaluate("p1", resources, NOW).assessment()
    assert "brain" in assessment["metastaticSites"] and "brain-metastases" in assessment["alerts"]
