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
