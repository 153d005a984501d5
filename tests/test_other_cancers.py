"""Another primary cancer in the same chart: its therapy and its words are not the breast cancer's.

A medication record whose ``reasonReference`` or ``reasonCode`` names another primary cancer is that
cancer's therapy (service/infer/reasons.py), and so is an administration of an order that names one;
a Condition coded as another primary cancer says nothing of the breast cancer in its words or its stage.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from service.render import CardRenderer, RenderContext
from tests.conftest import coding, condition, draft_order, observation, patient, statement

NOW = date(2026, 6, 1)


def _breast_cancer_on_thp() -> list[dict[str, Any]]:
    """HER2 3+, ER 90 %, lung metastases since 2025-10-01, THP from 2025-10-20 (docetaxel done), given for the breast cancer."""
    for_breast = {"reasonReference": [{"reference": "Condition/bc"}]}
    return [
        patient(),
        condition("bc", "icd10cm", "C50.911", "2025-09-22"),
        condition("lung", "icd10cm", "C78.01", "2025-10-01"),
        observation("her2", "85319-2", "2025-10-05", valueCodeableConcept={"text": "3+"}),
        observation("er", "85337-4", "2025-10-05", valueQuantity={"value": 90, "unit": "%"}),
        observation("lvef", "10230-1", "2026-04-20", valueQuantity={"value": 60, "unit": "%"}),
        statement("tras", "trastuzumab", "2025-10-20", status="active", **for_breast),
        statement("pert", "pertuzumab", "2025-10-20", status="active", **for_breast),
        statement("doce", "docetaxel", "2025-10-20", "2026-02-02", **for_breast),
    ]


def _leuprolide(rid: str, on: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "leuprolide acetate (ELIGARD) 22.5 mg"},
        "effectiveDateTime": on,
        **extra,
    }


def _order(rid: str, drug: str, authored: str, **reason: Any) -> dict[str, Any]:
    """A completed MedicationRequest of ``drug`` for p1 with the reason given."""
    return {
        **draft_order(rid, "p1", medicationCodeableConcept={"text": drug}),
        "status": "completed",
        "authoredOn": authored,
        **reason,
    }


def _lines(engine, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = engine.evaluate("p1", resources, NOW).assessment()["lineOfTherapy"].get("history", [])
    return history


def test_a_drug_given_for_another_cancer_starts_no_line(engine):
    """A man's prostate cancer on leuprolide before his breast cancer's metastases: the leuprolide
    (its order names the prostate cancer, its doses carry out that order) is not a first line of its own."""
    prostate = condition("pca", "icd10cm", "C61", "2024-02-12")
    order = _order(
        "leup-order", "leuprolide acetate (ELIGARD) 22.5 mg", "2024-03-04", reasonReference=[{"reference": "Condition/pca"}]
    )
    doses = [
        _leuprolide(f"leup-{n}", on, request={"reference": "MedicationRequest/leup-order"})
        for n, on in enumerate(["2025-06-02", "2025-09-01", "2025-12-01", "2026-03-02"])
    ]
    resources = [*_breast_cancer_on_thp(), prostate, order, *doses]
    assert [line["agents"] for line in _lines(engine, resources)] == [["docetaxel", "pertuzumab", "trastuzumab"]]

    unlinked = [{k: v for k, v in dose.items() if k != "request"} for dose in doses]  # doses that name no order
    assert [line["agents"] for line in _lines(engine, [*_breast_cancer_on_thp(), prostate, order, *unlinked])] == [
        ["docetaxel", "leuprolide", "pertuzumab", "trastuzumab"]
    ]


def test_a_reason_coded_as_another_cancer_is_read_and_the_breast_cancer_wins(engine):
    """Carboplatin and paclitaxel for an ovarian cancer (reasonCode ICD-10-CM C56.9) while HP goes on:
    still the first line. A record that names both cancers is the breast cancer's."""
    ovary = {"reasonCode": [{"coding": [coding("icd10cm", "C56.9")]}]}
    chemo = [
        statement("carbo", "carboplatin", "2026-01-05", "2026-05-18", **ovary),
        statement("pacl", "paclitaxel", "2026-01-05", "2026-05-18", **ovary),
    ]
    resources = [*_breast_cancer_on_thp(), *chemo]
    assert [(line["line"], line["agents"]) for line in _lines(engine, resources)] == [
        (1, ["docetaxel", "pertuzumab", "trastuzumab"])
    ]
    both = {"reasonCode": [{"coding": [coding("icd10cm", "C56.9")]}, {"coding": [coding("icd10cm", "C50.911")]}]}
    counted = [*_breast_cancer_on_thp(), statement("carbo", "carboplatin", "2026-01-05", "2026-05-18", **both)]
    assert [line["line"] for line in _lines(engine, counted)] == [1, 2]


def test_another_cancers_therapy_is_named_on_the_data_card(engine, knowledge):
    resources = [
        *_breast_cancer_on_thp(),
        condition("ov", "icd10cm", "C56.9", "2025-12-15"),
        statement("carbo", "carboplatin", "2026-01-05", "2026-05-18", reasonReference=[{"reference": "Condition/ov"}]),
    ]
    cards = CardRenderer(knowledge).cards(engine.evaluate("p1", resources, NOW), RenderContext("h", "p1"))
    detail = cards[-1]["detail"]
    assert "given for another primary cancer" in detail and "MedicationStatement/carbo" in detail


def test_an_unknown_anticancer_drug_for_another_cancer_leaves_the_history_whole(engine):
    """Oxaliplatin (a drug the rules do not know) given for a gastric cancer does not make the breast
    cancer's line untrustworthy."""
    gastric = condition("gc", "icd10cm", "C16.3", "2026-01-10")
    oxaliplatin = statement("oxali", "oxaliplatin", "2026-02-01", "2026-04-01", reasonReference=[{"reference": "Condition/gc"}])
    assert "history-incomplete" not in engine.evaluate("p1", [*_breast_cancer_on_thp(), gastric, oxaliplatin], NOW).alerts
    unlinked = {k: v for k, v in oxaliplatin.items() if k != "reasonReference"}
    assert "history-incomplete" in engine.evaluate("p1", [*_breast_cancer_on_thp(), gastric, unlinked], NOW).alerts


def test_another_primarys_words_and_stage_say_nothing_of_the_breast_cancer(engine):
    """A gastric cancer in remission, coded C16.3, named "... with liver metastases" and staged IV in 2018:
    the breast cancer's metastatic disease begins in 2025, and its only site is the lung."""
    gastric = condition(
        "gc",
        "icd10cm",
        "C16.3",
        "2018-04-03",
        clinicalStatus={"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "remission")]},
    )
    gastric["code"]["text"] = "Adenocarcinoma of gastric antrum, HER2 IHC 3+, with liver metastases"
    gastric["stage"] = [{"summary": {"text": "IV"}}]
    liver = condition("gc-liver", "icd10cm", "C78.7", "2018-04-10", abatementDateTime="2019-03-15")
    liver["extension"] = [
        {
            "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-primary-cancer-condition",
            "valueReference": {"reference": "Condition/gc"},
        }
    ]
    gastric_therapy = statement(
        "tras-2018", "trastuzumab", "2018-05-07", "2020-06-15", reasonReference=[{"reference": "Condition/gc"}]
    )
    evaluation = engine.evaluate("p1", [*_breast_cancer_on_thp(), gastric, liver, gastric_therapy], NOW)
    assert evaluation.extent.metastatic_date == date(2025, 10, 1)
    assert evaluation.extent.sites == ("lung",)
    assert [line["start"] for line in evaluation.assessment()["lineOfTherapy"]["history"]] == ["2025-10-20"]


def test_a_statement_based_on_an_order_for_another_cancer_is_that_cancers(engine):
    """A MedicationStatement's basedOn names the order it reports: given for what the order names."""
    order = _order("carbo-order", "carboplatin", "2026-01-05", reasonCode=[{"coding": [coding("icd10cm", "C56.9")]}])
    taken = statement(
        "carbo", "carboplatin", "2026-01-05", "2026-05-18", basedOn=[{"reference": "MedicationRequest/carbo-order"}]
    )
    assert [line["line"] for line in _lines(engine, [*_breast_cancer_on_thp(), order, taken])] == [1]
    assert [
        line["line"]
        for line in _lines(
            engine, [*_breast_cancer_on_thp(), order, statement("carbo", "carboplatin", "2026-01-05", "2026-05-18")]
        )
    ] == [1, 2]
