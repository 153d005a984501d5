"""An anticancer drug the service does not know (mappings/drugs.yaml ``unknown_anticancer``).

A medication record that names no agent of drugs.yaml was read as no treatment at all: a patient on
sevabertinib (a HER2 kinase inhibitor the service does not list) or on a trial antibody was "untreated" and
offered first-line regimens. A record whose ATC code is under L01/L02, or whose name carries a WHO INN
stem only antineoplastics carry, is an anticancer drug; given since the metastatic diagnosis, the line
of therapy cannot be told, so the history is incomplete (contract: ``history-incomplete``, no line,
no regimen) and the data card names the record.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.engine import Engine
from service.knowledge import Knowledge
from service.render import CardRenderer, RenderContext
from tests.conftest import (
    condition,
    her2_positive_liver_patient,
    observation,
    patient,
    statement,
    untreated_her2_positive_patient,
)

NOW = date(2026, 6, 1)
ATC = "http://www.whocc.no/atc"


def _untreated() -> list[dict[str, Any]]:
    """HER2 3+ with liver metastases since 2024-01-10, no medication the service knows."""
    return [
        patient(),
        condition("c1", "snomed", "254837009", "2022-01-10"),
        condition("c2", "icd10cm", "C78.7", "2024-01-10"),
        observation("o1", "85319-2", "2024-01-15", valueString="3+"),
    ]


def _coded(rid: str, system: str, code: str, start: str, status: str = "active") -> dict[str, Any]:
    record = statement(rid, "x", start, status=status)
    record["medicationCodeableConcept"] = {"coding": [{"system": system, "code": code}]}
    return record


@pytest.mark.parametrize(
    "record",
    [
        statement("mx", "sevabertinib 120 mg tablet", "2025-01-01", status="active"),
        statement("mx", "Anbenitamab", "2025-01-01", "2025-09-01"),  # an anti-HER2 bispecific antibody (tumour infix -ta-)
        statement("mx", "patritumab deruxtecan", "2025-01-01", status="active"),  # -tecan
        statement("mx", "ABC-123 (investigational ravtansine conjugate)", "2025-01-01", status="active"),
        _coded("mx", ATC, "L01XX99", "2025-01-01"),  # an ATC antineoplastic code drugs.yaml does not list
        _coded("mx", "urn:oid:2.16.840.1.113883.6.73", "L01EH99", "2025-01-01"),  # ATC by its OID
        statement("mx", "trastuzumab botidotin", "2025-01-01", status="active"),  # a conjugate, not trastuzumab
        statement("mx", "Trastuzumab pamirtecan 4.8 mg/kg IV", "2025-01-01", "2025-09-01"),
        statement("mx", "THP", "2025-01-01", status="active"),  # a regimen acronym that names no taxane
        statement("mx", "Breast AC-THP q21d", "2025-01-01", status="active"),
        statement("mx", "giredestrant 30 mg", "2025-01-01", status="active"),  # an estrogen receptor antagonist (-estrant)
        # A trial's drug named as one, not by an INN (drugs.yaml unknown_anticancer trial_words).
        statement("mx", "Study drug XYZ-123 (protocol BRC-2207)", "2025-01-01", status="active"),
        statement("mx", "Investigational product ABX-77 or placebo", "2025-01-01", status="active"),
        statement("mx", "IMP (blinded)", "2025-01-01", status="active"),
        # The same in Chinese: "study drug" (held-out k67: a year of BL-M07D1 known only so had read as no therapy).
        statement("mx", "注射用BL-M07D1 100mg 研究药物", "2025-01-01", "2025-09-01"),
        statement("mx", "临床试验用药 SHR-XXXX", "2025-01-01", status="active"),
    ],
)
def test_an_unknown_anticancer_drug_since_the_metastatic_diagnosis_makes_the_history_incomplete(
    engine: Engine, knowledge: Knowledge, record
):
    evaluation = engine.evaluate("p1", [*_untreated(), record], NOW)
    assessment = evaluation.assessment()
    assert "history-incomplete" in assessment["alerts"]
    assert "recommendedRegimens" not in assessment and "recommendedLine" not in assessment
    cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
    assert "drug this service does not know" in cards[-1]["detail"] and "MedicationStatement/mx" in cards[-1]["detail"]


@pytest.mark.parametrize(
    "record",
    [
        statement("mx", "tofacitinib 5 mg", "2025-01-01", status="active"),  # a JAK inhibitor (-citinib)
        statement("mx", "ondansetron 8 mg", "2025-01-01", status="active"),
        statement("mx", "denosumab (XGEVA)", "2025-01-01", status="active"),  # bone, not a line
        statement("mx", "sevabertinib", "2023-01-01", "2023-06-01"),  # ended before the metastatic diagnosis
        statement("mx", "sevabertinib", "2025-01-01", status="entered-in-error"),
        _coded("mx", ATC, "A04AA01", "2025-01-01"),  # ondansetron's ATC code
        statement("mx", "Impavido", "2025-01-01", status="active"),  # "imp" only as a whole word
    ],
)
def test_other_drugs_and_earlier_or_voided_records_change_nothing(engine: Engine, record):
    assessment = engine.evaluate("p1", [*_untreated(), record], NOW).assessment()
    assert "history-incomplete" not in assessment.get("alerts", [])
    assert assessment["recommendedLine"] == 1


def test_a_known_history_with_an_unknown_anticancer_drug_after_it_is_not_trusted(engine: Engine):
    """THP then progression (line 1) and then an unknown drug: the next line is not offered as a guess."""
    records = [*her2_positive_liver_patient(), statement("mx", "sevabertinib", "2025-04-01", status="active")]
    assessment = engine.evaluate("p1", records, NOW).assessment()
    assert "history-incomplete" in assessment["alerts"] and "recommendedRegimens" not in assessment
    assert "history-incomplete" not in engine.evaluate("p1", her2_positive_liver_patient(), NOW).assessment().get("alerts", [])


def test_no_breast_cancer_no_note(engine: Engine, knowledge: Knowledge):
    """A lung cancer patient on gefitinib (the public mCODE example John Anyperson): nothing to say."""
    records = [
        patient(),
        condition("c1", "snomed", "254637007", "2022-01-10"),
        statement("mx", "gefitinib", "2023-01-01", status="active"),
    ]
    evaluation = engine.evaluate("p1", records, NOW)
    assert evaluation.unidentified_anticancer == ()


def _by_reference(rid: str, target: str) -> dict[str, Any]:
    record = statement(rid, "x", "2025-01-01", status="active")
    del record["medicationCodeableConcept"]
    record["medicationReference"] = {"reference": target}
    return record


def test_an_unknown_drug_named_only_in_a_referenced_medication_is_found(engine: Engine):
    """Synthea and many EHRs name the drug only in a Medication the record references: its code, or an
    IV admixture's active ingredient, says what was given (the known drugs were read there already)."""
    formulary = {
        "resourceType": "Medication",
        "id": "med-z",
        "code": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "0",
                    "display": "sevabertinib 60 MG Oral Tablet",
                }
            ]
        },
    }
    admixture = _by_reference("my", "#adm")
    admixture["contained"] = [
        {
            "resourceType": "Medication",
            "id": "adm",
            "code": {"text": "Infusion admixture"},
            "ingredient": [
                {"itemCodeableConcept": {"text": "sodium chloride 0.9 %"}},
                {"itemCodeableConcept": {"text": "trastuzumab botidotin"}, "isActive": True},
            ],
        }
    ]
    for records in ([_by_reference("mx", "Medication/med-z"), formulary], [admixture]):
        evaluation = engine.evaluate("p1", [*_untreated(), *records], NOW)
        assert "history-incomplete" in evaluation.assessment()["alerts"], records
        assert evaluation.record.unidentified_anticancer[0].named in ("sevabertinib", "trastuzumab botidotin")


@pytest.mark.parametrize(
    ("text", "agents"),
    [
        ("trastuzumab botidotin", set()),  # a conjugate nobody listed: not trastuzumab
        ("trastuzumab vedotin 1.2 mg/kg", set()),
        ("trastuzumab rezetecan", {"trastuzumab-rezetecan"}),  # conjugates drugs.yaml lists keep their names
        ("Enhertu (fam-trastuzumab deruxtecan-nxki)", {"trastuzumab-deruxtecan"}),
        ("trastuzumab 440 mg", {"trastuzumab"}),
        ("trastuzumab and topotecan", {"trastuzumab"}),  # another drug, not the antibody's payload
        ("pertuzumab/trastuzumab/hyaluronidase", {"pertuzumab", "trastuzumab"}),
        # Regimen acronyms that settle their drugs (NCCN's names); THP does not (the taxane is unnamed).
        ("TCHP", {"docetaxel", "carboplatin", "trastuzumab", "pertuzumab"}),
        ("Breast TCH q21d x 6", {"docetaxel", "carboplatin", "trastuzumab"}),
        ("THP", set()),
    ],
)
def test_an_antibody_followed_by_a_payload_word_is_a_conjugate(knowledge: Knowledge, text, agents):
    from service.knowledge import agents_from_name

    assert agents_from_name(knowledge, text) == agents


def test_a_conjugate_of_an_her2_antibody_in_another_script_is_an_unknown_drug_not_the_antibody(engine):
    """An antibody's name in Cyrillic or katakana followed by a payload word the list does not name
    (drugs.yaml script_conjugate_payloads) is a conjugate the service does not know: the history is
    incomplete, as "trastuzumab botidotin" makes it, where it had read as trastuzumab."""
    for text in ("трастузумаб рецетекан 100 мг", "トラスツズマブ レザテカン点滴静注用"):
        evaluation = engine.evaluate(
            "p1", untreated_her2_positive_patient(statement("x", text, "2025-02-01", status="active")), NOW
        )
        assert "history-incomplete" in evaluation.alerts, text
        assert [therapy.record for therapy in evaluation.unidentified_anticancer] == ["MedicationStatement/x"]


def _into_csf(record: dict[str, Any], route: dict[str, Any]) -> dict[str, Any]:
    return {**record, "dosage": [{"text": "12 mg via Ommaya reservoir twice weekly", "route": route}]}


INTRATHECAL = [
    {"coding": [{"system": "http://snomed.info/sct", "code": "72607000"}]},
    {"coding": [{"system": "http://standardterms.edqm.eu", "code": "20042000"}]},
    {"text": "intrathekal"},
    {"text": "Intraventricular (Ommaya)"},
]


@pytest.mark.parametrize("route", INTRATHECAL)
def test_a_drug_given_into_the_cerebrospinal_fluid_is_no_systemic_line(engine: Engine, route):
    """Held-out c77: intrathecal methotrexate for leptomeningeal disease beside neratinib + capecitabine had made the
    history incomplete (an anticancer drug the service does not know), so no next line was offered. A drug given
    into the cerebrospinal fluid is CNS-directed regional therapy, as local therapy is (clinical.md §7 rule 9)."""
    methotrexate = _into_csf(_coded("mtx", ATC, "L01BA01", "2025-03-01"), route)
    evaluation = engine.evaluate("p1", [*_untreated(), methotrexate], NOW)
    assert evaluation.history.lines == []
    assert "history-incomplete" not in evaluation.assessment().get("alerts", [])


def test_the_same_drugs_given_intravenously_still_count(engine: Engine):
    """The route decides: methotrexate by vein is an anticancer drug the service does not know (the history is
    incomplete), trastuzumab by vein a line."""
    methotrexate = _into_csf(
        _coded("mtx", ATC, "L01BA01", "2025-03-01"), {"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]}
    )
    trastuzumab = _into_csf(statement("iv-h", "Herceptin", "2025-03-01", status="active"), {"text": "intravenous"})
    evaluation = engine.evaluate("p1", [*_untreated(), methotrexate, trastuzumab], NOW)
    assert [line.agents for line in evaluation.history.lines] == [["trastuzumab"]]
    assert "history-incomplete" in evaluation.assessment()["alerts"]
