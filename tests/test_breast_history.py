"""A personal history of breast cancer (mappings/terminology.yaml breast_history).

ICD-10-CM codes a metastasis of a breast cancer whose primary was excised as the secondary neoplasm with
Z85.3 (Official Guidelines I.C.2.d), so claims-derived problem lists hold "Z85.3 + C78.7" and no C50.
With a distant metastasis recorded, the history is the breast cancer that spread; alone it is no current
breast cancer, and the summary says a history is recorded.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.engine import Engine
from service.knowledge import Knowledge
from service.render import CardRenderer, RenderContext
from tests.conftest import condition, observation, patient, statement

NOW = date(2026, 6, 1)
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ICD10_OID = "urn:oid:2.16.840.1.113883.6.90"


def _text(text: str, rid: str = "h") -> dict[str, Any]:
    return {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/p1"}, "code": {"text": text}}


def _verification(code: str) -> dict[str, Any]:
    return {"coding": [{"system": VERIFICATION, "code": code}]}


def _treated_patient(history: dict[str, Any]) -> list[dict[str, Any]]:
    """HER2 3+, liver metastases in 2024, THP until progression: the history record stands for the primary."""
    return [
        patient(),
        history,
        condition("c2", "icd10cm", "C78.7", "2024-01-10"),
        observation("o1", "85319-2", "2024-01-15", valueCodeableConcept={"text": "3+"}),
        statement("m1", "Phesgo", "2024-02-01", "2025-03-01", statusReason=[{"text": "progressive disease"}]),
        statement("m2", "Taxotere", "2024-02-01", "2024-07-01"),
    ]


HISTORIES = [
    condition("h", "icd10cm", "Z85.3", "2019-05-01"),
    condition("h", "icd10cm", "Z853", "2019-05-01"),  # claims data write ICD-10-CM without its dot
    condition("h", ICD10_OID, "Z85.3", "2019-05-01"),  # ICD-10-CM by its OID
    condition("h", "snomed", "429087003", "2019-05-01"),  # History of malignant neoplasm of breast (situation)
    _text("History of breast cancer"),
    _text("H/o left breast carcinoma, s/p mastectomy 2019"),
    _text("Personal history of malignant neoplasm of breast"),
    _text("Hx of breast cancer"),
    _text("Personal history of malignant neoplasm of breast, not otherwise specified"),
]


@pytest.mark.parametrize("history", HISTORIES)
def test_a_history_of_breast_cancer_with_a_distant_metastasis_is_the_breast_cancer(engine: Engine, history):
    evaluation = engine.evaluate("p1", _treated_patient(history), NOW)
    assessment = evaluation.assessment()
    assert assessment["breastCancer"] is True
    assert assessment["metastatic"] is True and assessment["metastaticSites"] == ["liver"]
    assert assessment["lineOfTherapy"]["history"][0]["agents"] == ["docetaxel", "pertuzumab", "trastuzumab"]
    assert assessment["recommendedLine"] == 2
    assert ("Condition/h" in evaluation.record.read_from_text) is ("coding" not in history["code"])


@pytest.mark.parametrize(
    "record",
    [
        _text("Family history of breast cancer"),
        _text("No history of breast cancer"),
        _text("History of ductal carcinoma in situ of left breast"),  # carcinoma in situ is not invasive
        condition("h", "icd10cm", "Z86.000", "2019-05-01"),  # personal history of in-situ neoplasm of breast
        condition("h", "icd10cm", "Z80.3", "2019-05-01"),  # family history of malignant neoplasm of breast
        condition("h", "icd10cm", "Z85.3", "2019-05-01", verificationStatus=_verification("refuted")),
        condition("h", "icd10cm", "Z85.3", "2019-05-01", verificationStatus=_verification("entered-in-error")),
    ],
)
def test_what_is_not_a_history_of_breast_cancer_leaves_the_metastasis_without_one(engine: Engine, record):
    assessment = engine.evaluate("p1", _treated_patient(record), NOW).assessment()
    assert assessment["breastCancer"] is False
    assert assessment["metastatic"] is True
    assert "recommendedLine" not in assessment


@pytest.mark.parametrize("history", [HISTORIES[0], HISTORIES[4]])
def test_a_history_alone_is_no_current_breast_cancer_and_the_summary_says_so(engine: Engine, knowledge: Knowledge, history):
    records = [patient(), history, observation("o1", "85319-2", "2019-04-15", valueCodeableConcept={"text": "3+"})]
    evaluation = engine.evaluate("p1", records, NOW)
    assert evaluation.assessment()["breastCancer"] is False
    assert evaluation.assessment()["metastatic"] is False
    summary = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]
    assert summary["summary"].startswith("History of breast cancer, no distant metastasis recorded")
    assert "Z85.3" in summary["detail"]


def test_a_history_of_breast_cancer_is_not_read_as_a_current_primary(engine: Engine):
    """Without metastases the history does not make breastCancer true; a current primary still does."""
    history = condition("h", "icd10cm", "Z85.3", "2019-05-01")
    primary = condition("c1", "icd10cm", "C50.912", "2025-01-01")
    assert engine.evaluate("p1", [patient(), history], NOW).extent.breast_cancer is False
    assert engine.evaluate("p1", [patient(), history, primary], NOW).extent.breast_cancer is True
    assert engine.evaluate("p1", [patient(), history], NOW).extent.breast_cancer_history is True


# -- another primary cancer beside the breast cancer -----------------------------------------------------
@pytest.mark.parametrize(
    ("other", "named"),
    [
        (condition("lung", "icd10cm", "C34.90", "2023-11-01"), True),  # lung cancer
        (condition("lung", "http://hl7.org/fhir/sid/icd-10", "C18.7", "2023-11-01"), True),  # colon, WHO ICD-10
        (condition("lung", "icd10cm", "C83.30", "2023-11-01"), True),  # a lymphoma (C81-C96)
        (condition("lung", "icd10cm", "C50.912", "2023-11-01"), False),  # the breast itself
        (condition("lung", "icd10cm", "C79.51", "2023-11-01"), False),  # a secondary, not a primary
        (condition("lung", "icd10cm", "D05.11", "2023-11-01"), False),  # in situ, not malignant invasive
        (
            condition(
                "lung",
                "icd10cm",
                "C34.90",
                "2020-01-01",
                clinicalStatus={
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]
                },
            ),
            False,
        ),
    ],
)
def test_another_current_primary_cancer_is_named_on_the_data_card(engine, knowledge, other, named):
    """Z85.3 with liver metastases and a current lung cancer: the metastases are read as the breast
    cancer's (the service knows no other disease), and the data card now says another primary exists."""
    records = [
        patient(),
        condition("hx", "icd10cm", "Z85.3", "2018-02-01"),
        condition("liver", "icd10cm", "C78.7", "2024-01-10"),
        other,
    ]
    evaluation = engine.evaluate("p1", records, NOW)
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    assert ("Another primary cancer is recorded" in cards[-1].get("detail", "")) is named


INACTIVE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "inactive"}]}


@pytest.mark.parametrize(
    ("words", "sites"),
    [
        # Held-out o32: metastatic disease does not go away; treated brain metastases still count.
        ("hx of brain mets, treated - s/p SRS x3 10/2023, no active CNS dz on MRI 4/2026", ["bone", "brain"]),
        ("History of liver metastases, resected 2024", ["bone", "liver"]),
        ("H/o brain metastasis", ["bone", "brain"]),
        ("Family history of brain metastases", ["bone"]),  # a relative's
        ("No history of brain metastases", ["bone"]),
        ("History of breast cancer, brain mets ruled out", ["bone"]),  # the history is the primary's; the mets negated
    ],
)
def test_a_history_of_metastases_in_words_is_a_site(engine: Engine, words, sites):
    resources = [
        patient(),
        condition("bc", "snomed", "254837009", "2023-01-01"),
        condition("bone", "snomed", "94222008", "2023-09-01"),
        {**_text(words, "m"), "clinicalStatus": INACTIVE, "onsetDateTime": "2023-09-14"},
    ]
    assessment = engine.evaluate("p1", resources, NOW).assessment()
    assert assessment["metastaticSites"] == sites
    assert ("brain-metastases" in assessment.get("alerts", [])) is ("brain" in sites)
