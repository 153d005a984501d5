"""Records as other EHRs, mCODE and CodeX write them (issue 12): the read layer and the contract fields.

The mCODE STU4 examples and the CodeX trial-matching patients are read where the project keeps public
data (``../shared/data/mcode-examples``), never copied here; each must get the conclusions its
SOURCES.md describes.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from service.engine import Engine
from service.knowledge.drugs import ndc_product
from service.render import CardRenderer, RenderContext
from tests.conftest import coding, condition, her2_positive_liver_patient, observation, patient, prefetch_for, statement

ROOT = Path(__file__).resolve().parent.parent
MCODE = ROOT.parent / "shared" / "data" / "mcode-examples"
NOW = date(2026, 6, 1)
SERVICE = "/cds-services/her2-mbc-guidance"


def evaluate(engine: Engine, resources: list[dict[str, Any]], incomplete: tuple[str, ...] = (), pid: str = "p1"):
    return engine.evaluate(pid, resources, NOW, incomplete)


def mcode_patient(name: str) -> tuple[str, list[dict[str, Any]]]:
    bundle = json.loads((MCODE / f"{name}.json").read_text(encoding="utf-8"))
    resources = [entry["resource"] for entry in bundle["entry"]]
    return next(r["id"] for r in resources if r["resourceType"] == "Patient"), resources


# -- the public examples: SOURCES.md's conclusions ---------------------------------------------------
MCODE_EXPECTED = {
    # Jenny M: 353431000119107, cM0, HER2 LA6577-6 negative, ER positive, PR negative; adjuvant. Not metastatic.
    "mcode-jenny-m": {"breastCancer": True, "metastatic": False, "her2": "negative", "hormoneReceptor": "positive"},
    "mcode-jenny-m-ig-bundle": {"breastCancer": True, "metastatic": False, "her2": "negative", "hormoneReceptor": "positive"},
    # Eve: 363346000 + bodySite left breast (mCODE's pattern); no receptor test, no metastasis.
    "mcode-eve-anyperson": {"breastCancer": True, "metastatic": False, "her2": "unknown", "hormoneReceptor": "unknown"},
    # John: NSCLC with a brain metastasis: not breast cancer.
    "mcode-john-anyperson": {"breastCancer": False},
    # TrialMatching 01: 408643008, stage IV, axillary nodes + liver + bone; ER/PR positive, HER2 IHC negative (undated).
    "ctm-trialmatching-patient01": {
        "breastCancer": True,
        "metastatic": True,
        "metastaticSites": ["bone", "liver", "lymph-node"],
        "her2": "negative",
        "hormoneReceptor": "positive",
    },
    # TrialMatching 02: stage IV, bone; ER/PR positive, HER2 IHC negative (undated); alpelisib active.
    "ctm-trialmatching-patient02": {
        "breastCancer": True,
        "metastatic": True,
        "metastaticSites": ["bone"],
        "her2": "negative",
        "hormoneReceptor": "positive",
    },
}


@pytest.mark.parametrize("name", sorted(MCODE_EXPECTED))
def test_public_example_patients_get_the_conclusions_their_sources_describe(engine, name):
    pid, resources = mcode_patient(name)
    assessment = evaluate(engine, resources, pid=pid).assessment()
    assert {key: assessment.get(key) for key in MCODE_EXPECTED[name]} == MCODE_EXPECTED[name]


def test_jennys_adjuvant_chemotherapy_is_not_a_metastatic_line(engine):
    pid, resources = mcode_patient("mcode-jenny-m")
    line_of_therapy = evaluate(engine, resources, pid=pid).assessment()["lineOfTherapy"]
    assert line_of_therapy == {"current": 0, "status": "naive"}


def test_alpelisib_and_the_other_agents_of_the_codex_history_take_part_in_lines(engine):
    pid, resources = mcode_patient("ctm-trialmatching-patient02")
    evaluation = evaluate(engine, resources, pid=pid)
    agents = {agent for line in evaluation.assessment()["lineOfTherapy"]["history"] for agent in line["agents"]}
    assert {"alpelisib", "capecitabine", "gemcitabine", "palbociclib", "fulvestrant"} <= agents
    assert "zoledronic-acid" not in agents  # a bone-modifying agent is supportive, not an agent of a line
    assert evaluation.record.undated  # the receptor results had no date: named for the data card


# -- deceased ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("death", [{"deceasedDateTime": "2026-03-02T10:00:00+01:00"}, {"deceasedBoolean": True}])
def test_a_deceased_patient_is_offered_no_treatment(engine, death):
    resources = [dict(patient(), **death), *her2_positive_liver_patient()[1:]]
    alive = evaluate(engine, her2_positive_liver_patient()).assessment()
    assert "recommendedRegimens" in alive and "deceased" not in alive
    assessment = evaluate(engine, resources).assessment()
    assert assessment["deceased"] is True
    assert "recommendedLine" not in assessment and "recommendedRegimens" not in assessment
    assert "alerts" not in assessment


def test_deceased_false_and_another_patients_death_change_nothing(engine):
    other = dict(patient("someone-else"), deceasedBoolean=True)
    resources = [dict(patient(), deceasedBoolean=False), other, *her2_positive_liver_patient()[1:]]
    assert "deceased" not in evaluate(engine, resources).assessment()


def test_the_summary_card_says_the_patient_died(client, app, knowledge):
    resources = [dict(patient(), deceasedDateTime="2026-03-02"), *her2_positive_liver_patient()[1:]]
    prefetch = prefetch_for(resources, app.extensions["her2cds"].templates, knowledge)
    body = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": {"patientId": "p1"}}
    cards = client.post(SERVICE, json=dict(body, prefetch=prefetch)).json["cards"]
    assert "died" in cards[0]["summary"] and "suggestions" not in cards[0]
    assert cards[0]["extension"]["her2-cds-assessment"]["deceased"] is True


# -- history-incomplete --------------------------------------------------------------------------------
def test_an_incomplete_medication_key_raises_history_incomplete_and_offers_nothing(engine):
    complete = evaluate(engine, her2_positive_liver_patient()).assessment()
    assert complete["recommendedLine"] == 2
    assessment = evaluate(engine, her2_positive_liver_patient(), ("medicationAdministrations",)).assessment()
    assert "history-incomplete" in assessment["alerts"]
    assert "recommendedLine" not in assessment and "recommendedRegimens" not in assessment
    # Another key's gap (a lab search) does not make the history untrusted.
    assert evaluate(engine, her2_positive_liver_patient(), ("liverLabs",)).assessment()["recommendedLine"] == 2


def test_an_untreated_patient_whose_history_could_not_be_read_never_gets_first_line_options(client, app, knowledge):
    resources = [r for r in her2_positive_liver_patient() if r["resourceType"] != "MedicationStatement"]
    prefetch = prefetch_for(resources, app.extensions["her2cds"].templates, knowledge)
    prefetch["medicationRequests"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly"}]}
    body = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": {"patientId": "p1"}}
    cards = client.post(SERVICE, json=dict(body, prefetch=prefetch)).json["cards"]
    assessment = cards[0]["extension"]["her2-cds-assessment"]
    assert "history-incomplete" in assessment["alerts"] and "recommendedRegimens" not in assessment
    assert "1st line" not in cards[0]["summary"] and "suggestions" not in cards[0]
    assert any("medicationRequests" in card.get("detail", "") for card in cards[1:])


def test_an_error_outcome_inside_a_prefetched_bundle_marks_the_key_incomplete(client, app, knowledge):
    prefetch = prefetch_for(her2_positive_liver_patient(), app.extensions["her2cds"].templates, knowledge)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "incomplete"}]}
    prefetch["medicationStatements"]["entry"].append({"resource": outcome, "search": {"mode": "outcome"}})
    body = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": {"patientId": "p1"}}
    assessment = client.post(SERVICE, json=dict(body, prefetch=prefetch)).json["cards"][0]["extension"]["her2-cds-assessment"]
    assert "history-incomplete" in assessment["alerts"] and "recommendedLine" not in assessment


# -- distant vs regional -------------------------------------------------------------------------------
def neoadjuvant_tchp_patient() -> list[dict[str, Any]]:
    """Early HER2+ disease: axillary nodes (C77.3), cM0, neoadjuvant TCHP."""
    m0 = observation("cm0", "21907-1", "2025-09-01", valueCodeableConcept={"coding": [coding("snomed", "1229901006")]})
    return [
        patient(),
        condition("bc", "icd10cm", "C50.412", "2025-09-01"),
        condition("ax", "icd10cm", "C77.3", "2025-09-01"),
        m0,
        observation("ihc", "85319-2", "2025-09-01", valueCodeableConcept={"text": "3+"}),
        statement("t", "Docetaxel", "2025-10-01", "2026-01-15"),
        statement("c", "Carboplatin", "2025-10-01", "2026-01-15"),
        statement("hp", "Phesgo", "2025-10-01", status="active"),
    ]


def test_axillary_nodes_with_cm0_are_regional_and_neoadjuvant_therapy_is_no_line(engine):
    assessment = evaluate(engine, neoadjuvant_tchp_patient()).assessment()
    assert assessment["metastatic"] is False
    assert assessment["lineOfTherapy"] == {"current": 0, "status": "naive"}


def test_a_distant_metastasis_after_the_cm0_makes_the_patient_metastatic(engine):
    """The nodes of the early-stage staging (2025-09-01, seven months before the liver) are not a site of
    the relapse, though their record was never closed (terminology.yaml regional_nodes staging_days)."""
    later = condition("liver", "snomed", "94381002", "2026-04-01")
    assessment = evaluate(engine, [*neoadjuvant_tchp_patient(), later]).assessment()
    assert assessment["metastatic"] is True
    assert assessment["metastaticSites"] == ["liver"]


# A regional node recorded more than AJCC's staging time frame (four months: 120 days) before the first
# distant record belongs to the earlier, early-stage cancer (excised, treated): an axillary node of pN1a
# disease left active on the problem list had been listed as a site of a relapse two years later. Nodes
# recorded with the distant disease, or whose record says they came back, still are. (An axillary node of a
# breast cancer of known side is never a site, however dated: the rule holds for nodes of no named station.)
@pytest.mark.parametrize(
    ("node_on", "status", "sites"),
    [
        ("2024-05-28", "active", ["bone"]),
        ("2025-12-05", "active", ["bone"]),  # 121 days before
        ("2025-12-06", "active", ["bone", "lymph-node"]),  # 120 days: the same staging
        ("2026-04-04", "active", ["bone", "lymph-node"]),  # found with the relapse
        ("2024-05-28", "recurrence", ["bone", "lymph-node"]),  # its record says the nodes came back
        ("2024-05-28", "relapse", ["bone", "lymph-node"]),
    ],
)
def test_regional_nodes_of_an_earlier_staging_are_not_a_site_of_the_relapse(engine, node_on, status, sites):
    clinical = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]}
    records = [
        patient(),
        condition("bc", "icd10cm", "C50.912", "2024-05-06"),
        condition("ax", "icd10cm", "C77.9", node_on, clinicalStatus=clinical),  # no station named: may be distant
        condition("bone", "icd10cm", "C79.51", "2026-04-05"),
    ]
    assert evaluate(engine, records).assessment()["metastaticSites"] == sites


@pytest.mark.parametrize(
    "text", ["Metastatic breast cancer", "Progression of metastatic breast cancer", "Breast cancer, metastatic", "MBC"]
)
def test_a_breast_cancer_said_to_be_metastatic_with_no_site_adds_no_site(engine, text):
    """A problem saying the breast cancer is metastatic, naming no site, is distant disease as stage IV is:
    it had added the site "other" (which names a site outside the list: skin, ovary), beside the sites the
    metastasis records name."""
    record = {"resourceType": "Condition", "id": "t", "subject": {"reference": "Patient/p1"}, "code": {"text": text}}
    lung = condition("lung", "icd10cm", "C78.01", "2025-03-20")
    extent = evaluate(engine, [patient(), condition("bc", "icd10cm", "C50.411", "2025-03-17"), lung, record]).extent
    assert extent.metastatic and extent.sites == ("lung",)
    alone = {
        "resourceType": "Condition",
        "id": "m",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "Metastatic disease"},
    }
    assert evaluate(engine, [patient(), condition("bc", "icd10cm", "C50.411", "2025-03-17"), alone]).extent.sites == ("other",)


@pytest.mark.parametrize(
    ("status", "on", "sites"),
    [
        # The nodes of the early-stage cancer, resolved after neoadjuvant therapy and surgery: not a site of
        # the relapse (as an ipsilateral axillary node it never made the patient metastatic).
        ("resolved", "2025-09-01", ["liver"]),
        ("remission", "2025-09-01", ["liver"]),
        ("inactive", "2025-09-01", ["liver"]),
        ("active", "2025-09-01", ["liver"]),  # never closed, but seven months before: the earlier staging's
        ("recurrence", "2025-09-01", ["liver", "lymph-node"]),  # the nodes came back
        # Nodes recorded with the distant disease, resolved since (a response): a site of the metastatic disease.
        ("resolved", "2026-04-01", ["liver", "lymph-node"]),
    ],
)
def test_regional_nodes_that_ended_before_the_distant_disease_are_not_a_site_of_it(engine, status, on, sites):
    clinical = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]}
    resources = [
        record if record.get("id") != "ax" else condition("ax", "icd10cm", "C77.9", on, clinicalStatus=clinical)
        for record in neoadjuvant_tchp_patient()
    ]
    later = condition("liver", "snomed", "94381002", "2026-04-01")
    assessment = evaluate(engine, [*resources, later]).assessment()
    assert assessment["metastatic"] is True
    assert assessment["metastaticSites"] == sites


def test_a_distant_record_dated_before_the_cm0_does_not_override_it(engine):
    earlier = condition("old-liver", "snomed", "94381002", "2025-08-01")
    assert evaluate(engine, [*neoadjuvant_tchp_patient(), earlier]).assessment()["metastatic"] is False


@pytest.mark.parametrize(
    "value",
    [
        {"valueCodeableConcept": {"coding": [coding("snomed", "1229903009", "AJCC cM1")]}},
        {"valueCodeableConcept": {"coding": [coding("snomed", "1229916009")]}},
        {"valueCodeableConcept": {"text": "pM1"}},
    ],
)
def test_m1_in_snomed_or_text_is_metastatic(engine, value):
    m1 = observation("m1", "21901-4", "2026-01-01", **value)
    assessment = evaluate(engine, [patient(), condition("bc", "snomed", "254837009", "2025-01-01"), m1]).assessment()
    assert assessment["metastatic"] is True


@pytest.mark.parametrize(
    ("text", "metastatic"),
    [
        ("pM1 (liver, bone)", True),
        ("M1 - biopsy-proven", True),
        # A restaging cM0 with its comment, after a chest-wall recurrence coded as a skin metastasis: it
        # stands (contract), so the recurrence is not distant disease. It had not been read at all.
        ("cM0 (restaging PET/CT after chest wall recurrence: no distant disease)", False),
        ("cM0: no distant disease", False),
        # A comment naming the other category decides nothing: the earlier skin code stands.
        ("cM0 (was M1 before)", True),
    ],
)
def test_an_m_category_in_words_may_carry_a_comment(engine, text, metastatic):
    skin = [condition("skin", "icd10cm", "C79.2", "2026-02-26")] if text.startswith("cM0") else []  # M1 alone decides
    restaging = observation("m", "21907-1", "2026-03-10", valueCodeableConcept={"text": text})
    records = [patient(), condition("bc", "snomed", "254837009", "2020-01-01"), *skin, restaging]
    assert evaluate(engine, records).assessment()["metastatic"] is metastatic


@pytest.mark.parametrize(
    ("loinc", "value", "metastatic"),
    [
        # SNOMED CT's AJCC stage IV, as mCODE STU3 and later code the stage group: had read as nothing.
        ("21908-9", coding("snomed", "1222837003", "American Joint Committee on Cancer stage IV (qualifier value)"), True),
        # A code the service does not know, whose display is SNOMED CT's AJCC stage IV or cM1: the words decide.
        ("21902-2", coding("snomed", "1222999999", "American Joint Committee on Cancer stage IV (qualifier value)"), True),
        ("21907-1", coding("snomed", "1229999999", "American Joint Committee on Cancer cM1 (qualifier value)"), True),
        ("21907-1", coding("snomed", "1229999998", "American Joint Committee on Cancer cM0 (qualifier value)"), False),
        ("21908-9", coding("snomed", "1222806003", "American Joint Committee on Cancer stage IIIC (qualifier value)"), False),
    ],
)
def test_snomed_ajcc_staging_values_are_read(engine, loinc, value, metastatic):
    staging = observation("sg", loinc, "2026-01-01", valueCodeableConcept={"coding": [value]})
    records = [patient(), condition("bc", "snomed", "254837009", "2025-01-01"), staging]
    assert evaluate(engine, records).assessment()["metastatic"] is metastatic


def test_snomed_coded_staging_observations_are_read(engine):
    group = observation("sg", "x", "2026-01-01", valueCodeableConcept={"text": "IV"})
    group["code"] = {"coding": [coding("snomed", "399537006", "Clinical TNM stage grouping")]}
    assessment = evaluate(engine, [patient(), condition("bc", "snomed", "408643008", "2025-01-01"), group]).assessment()
    assert assessment["metastatic"] is True


# -- code systems and shapes ------------------------------------------------------------------------------
def test_icdo3_topography_with_malignant_behaviour_is_a_breast_primary(engine):
    icdo3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
    record = {
        "resourceType": "Condition",
        "id": "bc",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": icdo3, "code": "8500/3"}]},
        "bodySite": [{"coding": [{"system": icdo3, "code": "C50.4"}]}],
    }
    benign = dict(record, id="benign", code={"coding": [{"system": icdo3, "code": "8500/2"}]})
    assert evaluate(engine, [patient(), record]).assessment()["breastCancer"] is True
    assert evaluate(engine, [patient(), benign]).assessment()["breastCancer"] is False


@pytest.mark.parametrize(
    ("text", "primary", "metastatic"),
    [
        ("Malignant neoplasm of breast", True, False),
        ("Carcinoma of left breast", True, False),
        ("History of breast cancer", False, False),
        ("Rule out breast carcinoma", False, False),
        ("No evidence of breast cancer", False, False),
        ("Family history of breast cancer", False, False),
        ("Secondary malignant neoplasm of liver", False, True),
        ("Metastatic breast cancer to bone", True, True),
        ("Metastasis to axillary lymph nodes", False, False),
        ("Malignant tumor of left breast", True, False),
        ("Intraductal carcinoma in situ of left breast", False, False),
        ("DCIS, right breast", False, False),
        ("Invasive ductal carcinoma with DCIS, left breast", True, False),
        # Clinicians' shorthand for the cancer; a family history, a risk or a susceptibility is not one.
        ("Breast ca, left, T2N1M0", True, False),
        ("Ca of the right breast", True, False),
        ("FHx breast ca (mother)", False, False),
        ("Mother with breast cancer", False, False),
        ("At risk for breast cancer", False, False),
        ("Breast cancer risk", False, False),
        ("Genetic predisposition to breast cancer", False, False),
        ("Breast cancer gene carrier", False, False),
        ("BRCA1-associated breast cancer", True, False),
        ("Breast calcifications", False, False),
        ("Breast CA 15-3 elevated", False, False),
        # A search for metastases is not one; an oligometastatic cancer has them.
        ("Metastatic workup negative", False, False),
        ("Metastatic survey pending", False, False),
        ("Oligometastatic breast cancer (bone)", True, True),
        # "MBC", clinicians' shorthand for metastatic breast cancer: the primary and its spread.
        ("MBC", True, True),
        ("HR+/HER2- mBC to liver and bone", True, True),
        ("No MBC", False, False),
        ("IMBC", False, False),
    ],
)
def test_conditions_with_text_only_are_read_as_a_clinician_would(engine, text, primary, metastatic):
    record = {"resourceType": "Condition", "id": "t", "subject": {"reference": "Patient/p1"}, "code": {"text": text}}
    others = [] if primary else [condition("bc", "snomed", "254837009", "2024-01-01")]
    evaluation = evaluate(engine, [patient(), record, *others])
    assert evaluation.extent.breast_cancer is (primary or bool(others))
    assert evaluation.extent.metastatic is metastatic
    read = primary or metastatic or "lymph" in text  # a regional node is read (a site once distant disease is known)
    read = read or text == "History of breast cancer"  # a history, read (tests/test_breast_history.py)
    assert ("Condition/t" in evaluation.record.read_from_text) is read


def test_mbc_names_its_sites_coded_or_in_words(engine):
    """ "MBC to liver and bone" as a coded primary's display or a problem's only words: both sites, as
    "Metastatic breast cancer to liver and bone" gives them; "MBC" alone is distant disease of no named site."""
    coded = condition("bc", "icd10cm", "C50.912", "2024-01-01")
    coded["code"]["coding"][0]["display"] = "MBC to liver and bone"
    text = {
        "resourceType": "Condition",
        "id": "t",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "MBC to liver and bone"},
    }
    for record in (coded, text):
        assert evaluate(engine, [patient(), record]).extent.sites == ("bone", "liver")
    alone = dict(text, code={"text": "MBC"})
    extent = evaluate(engine, [patient(), alone]).extent
    assert extent.metastatic and extent.sites == ()  # no site is named: not "other" (a site the list lacks)


def test_a_receptor_result_without_a_date_is_used_unless_a_dated_one_contradicts_it(engine):
    undated = observation("u", "85319-2", "x", valueCodeableConcept={"text": "3+"})
    del undated["effectiveDateTime"]
    evaluation = evaluate(engine, [patient(), condition("bc", "snomed", "254837009", "2024-01-01"), undated])
    assert evaluation.assessment()["her2"] == "positive"
    assert evaluation.record.undated == ["Observation/u"]
    dated = observation("d", "85319-2", "2025-01-01", valueCodeableConcept={"text": "1+"})
    assert evaluate(engine, [patient(), undated, dated]).assessment()["her2"] == "low"


def test_the_specimen_collection_then_issued_stand_in_for_a_missing_effective_date(engine):
    issued = observation("i", "85319-2", "x", valueCodeableConcept={"text": "3+"}, issued="2025-03-04T10:00:00Z")
    del issued["effectiveDateTime"]
    specimen = {"resourceType": "Specimen", "id": "s", "collection": {"collectedDateTime": "2025-02-01"}}
    # Issued later than the specimen was taken: the result holds for when the specimen was taken (FHIR effective).
    collected = observation(
        "c",
        "85319-2",
        "x",
        valueCodeableConcept={"text": "3+"},
        contained=[specimen],
        specimen={"reference": "#s"},
        issued="2025-03-10",
    )
    del collected["effectiveDateTime"]
    record = evaluate(engine, [patient(), issued, collected]).record
    assert sorted((r.record_id, r.on) for r in record.receptors) == [("c", date(2025, 2, 1)), ("i", date(2025, 3, 4))]
    assert record.undated == []


def archival_block_restained(specimen_reference: str) -> list[dict[str, Any]]:
    """A 2019 breast core collected before the 2026 liver metastasis, stained again in 2026: the results carry
    no effective date, only ``issued`` (2026) and the Specimen (2019), sent beside them (tester x24)."""
    block = {
        "resourceType": "Specimen",
        "id": "block-a2",
        "subject": {"reference": "Patient/p1"},
        "collection": {"collectedDateTime": "2019-05-14T08:55:00-04:00"},
    }
    restained = [
        observation(
            rid,
            loinc,
            "x",
            valueCodeableConcept={"text": text},
            issued="2026-04-20T10:14:00-04:00",
            specimen={"reference": specimen_reference},
        )
        for rid, loinc, text in (("her2", "85319-2", "3+"), ("er", "16112-5", "positive"), ("pr", "16113-3", "positive"))
    ]
    for result in restained:
        del result["effectiveDateTime"]
    breast = condition("bc", "snomed", "254837009", "2019-05-14")
    liver = condition("liver", "snomed", "94381002", "2026-04-08")
    return [patient(), breast, liver, block, *restained]


@pytest.mark.parametrize("reference", ["Specimen/block-a2", "https://ehr.example/fhir/Specimen/block-a2/_history/2"])
def test_a_result_is_dated_by_the_collection_of_a_specimen_sent_beside_it(engine, reference):
    evaluation = evaluate(engine, archival_block_restained(reference))
    assert {result.on for result in evaluation.record.receptors} == {date(2019, 5, 14)}
    assert "receptor-retest" in evaluation.assessment()["alerts"]  # taken before the metastasis: no retest yet


def test_a_specimen_of_another_patient_or_of_no_collection_date_dates_nothing(engine):
    resources = archival_block_restained("Specimen/block-a2")
    resources[3] = {**resources[3], "subject": {"reference": "Patient/other"}}
    assert {result.on for result in evaluate(engine, resources).record.receptors} == {date(2026, 4, 20)}
    resources[3] = {"resourceType": "Specimen", "id": "block-a2", "subject": {"reference": "Patient/p1"}}
    evaluation = evaluate(engine, resources)
    assert {result.on for result in evaluation.record.receptors} == {date(2026, 4, 20)}
    assert "receptor-retest" not in evaluation.assessment().get("alerts", [])


def test_her2_ultralow_text_reads_ihc_0(engine):
    ultralow = observation("u", "85319-2", "2025-01-01", valueString="0 (ultralow: faint staining in <10%)")
    assert evaluate(engine, [patient(), ultralow]).assessment()["her2"] == "zero"


def test_lvef_by_cardiac_mr_is_read(engine):
    mr = observation("mr", "8811-2", "2026-05-01", valueQuantity={"value": 61, "unit": "%"})
    assert [lab.kind for lab in evaluate(engine, [patient(), mr]).record.labs] == ["lvef"]


def _lvef_coded(coding: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "ef",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [coding]},
        "effectiveDateTime": "2026-05-01",
        "valueQuantity": {"value": 38, "unit": "%"},
    }


LOINC = "http://loinc.org"


@pytest.mark.parametrize(
    "coding",
    [
        {"system": LOINC, "code": "77889-4"},  # by M-mode echo, cube method
        {"system": LOINC, "code": "77891-0"},  # by 2D echo, Teichholz method
        {"system": "http://snomed.info/sct", "code": "250908004"},  # an echo report's structured measurement
        # A LOINC code not listed, read by its long common name.
        {
            "system": LOINC,
            "code": "99999-9",
            "display": "Left ventricular Ejection fraction by US.2D+Calculated by Simpson method",
        },
        {"system": "urn:oid:2.16.840.1.113883.6.1", "code": "99999-9", "display": "Left ventricular Ejection fraction by MR"},
    ],
)
def test_an_lvef_coded_by_its_method_is_read(engine, coding):
    """An echo system codes the LVEF by the method that measured it: an LVEF of 38 % was not read, and
    a patient on trastuzumab raised no LVEF warning."""
    labs = evaluate(engine, [patient(), _lvef_coded(coding)]).record.labs
    assert [(lab.kind, lab.value) for lab in labs] == [("lvef", 38.0)]


@pytest.mark.parametrize(
    "coding",
    [
        {"system": LOINC, "code": "99999-9", "display": "Left ventricular Ejection fraction - lower limit by US.2D+Estimated"},
        {"system": LOINC, "code": "99999-9", "display": "Right ventricular Ejection fraction by US"},
        {"system": LOINC, "code": "99999-9"},
    ],
)
def test_other_ejection_fractions_and_unnamed_codes_are_not_read_as_lvef(engine, coding):
    assert evaluate(engine, [patient(), _lvef_coded(coding)]).record.labs == []


def test_the_lvef_prefetch_asks_for_the_method_codes_and_the_snomed_observable(knowledge):
    from service.app import prefetch_templates

    templates = prefetch_templates(knowledge)
    assert all(code in templates["cardiac"] for code in ("77889-4", "77891-0", "104255-5"))
    assert "http://snomed.info/sct|250908004" in templates["stagingSnomed"]


def _oral_order(status: str, supply: dict[str, Any] | None, repeats: int | None) -> dict[str, Any]:
    dispense: dict[str, Any] = {}
    if supply is not None:
        dispense["expectedSupplyDuration"] = supply
    if repeats is not None:
        dispense["numberOfRepeatsAllowed"] = repeats
    return {
        "resourceType": "MedicationRequest",
        "id": "rx",
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Nerlynx 40 mg tablet"},
        "authoredOn": "2025-06-01",
        "dispenseRequest": dispense,
    }


DAYS_30 = {"value": 30, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}


@pytest.mark.parametrize(
    ("status", "supply", "repeats", "end"),
    [
        ("completed", DAYS_30, 5, date(2025, 11, 27)),  # six fills of 30 days
        ("completed", DAYS_30, None, date(2025, 6, 30)),
        ("completed", DAYS_30, 20, date(2026, 6, 1)),  # a year at most, and never after the evaluation date
        ("completed", {"value": 4, "unit": "wk", "code": "wk"}, 5, date(2025, 6, 1)),  # not in days: not read
        ("completed", None, 5, date(2025, 6, 1)),
        ("stopped", DAYS_30, 5, date(2025, 6, 1)),  # stopped early: when is not known
    ],
)
def test_a_completed_oral_order_ends_when_its_supply_ran_out(engine, status, supply, repeats, end):
    """An oral drug ordered with a 30-day supply and five refills had ended the day it was ordered."""
    exposure = evaluate(engine, [patient(), _oral_order(status, supply, repeats)]).record.exposures[0]
    assert (exposure.agent, exposure.start, exposure.last_day) == ("neratinib", date(2025, 6, 1), end)


@pytest.mark.parametrize("loinc", ["14631-6", "77137-8"])
def test_a_molar_total_bilirubin_is_read(engine, loinc):
    """77137-8, the molar total bilirubin of serum, plasma or blood, is how European laboratories code it."""
    bilirubin = observation("b", loinc, "2026-05-15", valueQuantity={"value": 60, "unit": "umol/L", "code": "umol/L"})
    labs = evaluate(engine, [patient(), bilirubin]).record.labs
    assert [(lab.kind, lab.value) for lab in labs] == [("bilirubin-total-molar", 60.0)]  # the safety rules convert it


@pytest.mark.parametrize("loinc", ["1975-2", "42719-5"])
def test_a_total_bilirubin_in_blood_is_read(engine, loinc):
    """42719-5, total bilirubin in blood (point-of-care analysers, and some systems' total bilirubin):
    3.1 mg/dL on T-DXd with liver metastases had raised no visceral crisis."""
    bilirubin = observation("b", loinc, "2026-05-15", valueQuantity={"value": 3.1, "unit": "mg/dL", "code": "mg/dL"})
    labs = evaluate(engine, [patient(), bilirubin]).record.labs
    assert [(lab.kind, lab.value) for lab in labs] == [("bilirubin-total", 3.1)]


def test_an_epic_order_keeps_its_course_dates_in_the_validity_period(engine):
    order = {
        "resourceType": "MedicationRequest",
        "id": "epic",
        "status": "completed",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Kanjinti 420 mg"},
        "authoredOn": "2024-01-05",
        "dispenseRequest": {"validityPeriod": {"start": "2024-01-10", "end": "2025-01-10"}},
    }
    exposure = evaluate(engine, [patient(), order]).record.exposures[0]
    assert (exposure.agent, exposure.start, exposure.end) == ("trastuzumab", date(2024, 1, 10), date(2025, 1, 10))


@pytest.mark.parametrize(("brand", "agents"), [("Poherdy", {"pertuzumab"}), ("PHESGO", {"pertuzumab", "trastuzumab"})])
def test_brands_and_biosimilars_name_their_molecules(engine, brand, agents):
    record = evaluate(engine, [patient(), statement("s", brand, "2026-01-01")]).record
    assert {e.agent for e in record.exposures} == agents


def test_therapy_marked_adjuvant_is_no_metastatic_line(engine):
    marked = statement("adj", "Herceptin", "2026-02-01", status="active", reasonCode=[{"text": "Adjuvant therapy"}])
    diagnoses = [condition("bc", "snomed", "254837009", "2025-01-01"), condition("m", "icd10cm", "C78.7", "2026-01-15")]
    resources = [patient(), *diagnoses, marked]
    assert evaluate(engine, resources).assessment()["lineOfTherapy"]["current"] == 0


# -- one malformed record (issue 13 item 7) --------------------------------------------------------------
@pytest.mark.parametrize("status", [{"coding": "final"}, ["final"], 7, True])
def test_a_record_whose_status_has_the_wrong_json_type_is_skipped_and_named(client, app, knowledge, status):
    resources = her2_positive_liver_patient()
    bad = observation("badlvef", "10230-1", "2026-05-01", valueQuantity={"value": 30, "unit": "%"}, status=status)
    prefetch = prefetch_for(resources, app.extensions["her2cds"].templates, knowledge)
    prefetch["cardiac"]["entry"].append({"resource": bad})
    body = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": {"patientId": "p1"}}
    response = client.post(SERVICE, json=dict(body, prefetch=prefetch))
    assert response.status_code == 200
    cards = response.json["cards"]
    assert "recommendedRegimens" in cards[0]["extension"]["her2-cds-assessment"]  # the rest of the record still counts
    assert any("Observation/badlvef" in card.get("detail", "") for card in cards)


def test_a_course_stopped_for_toxicity_ends_although_an_infusion_was_recent(engine):
    infusion = {
        "resourceType": "MedicationAdministration",
        "id": "adm",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Kadcyla"},
        "effectiveDateTime": "2026-05-10",
    }
    stopped = statement("st", "Kadcyla", "2026-02-01", "2026-05-20", status="stopped", statusReason=[{"text": "Toxicity"}])
    diagnoses = [condition("bc", "snomed", "254837009", "2024-01-01"), condition("m", "icd10cm", "C78.7", "2026-01-15")]
    running = evaluate(engine, [patient(), *diagnoses, infusion]).assessment()["lineOfTherapy"]
    assert running["status"] == "on-treatment"
    line = evaluate(engine, [patient(), *diagnoses, infusion, stopped]).assessment()["lineOfTherapy"]
    assert line["status"] == "off-treatment" and line["history"][-1]["endReason"] == "toxicity"


def test_mcode_not_detected_is_a_disease_status_and_not_progression(engine):
    answer = {"coding": [coding("snomed", "260415000", "Not detected")]}
    status = observation("ds", "97509-4", "2026-05-01", valueCodeableConcept=answer)
    assert [s.status for s in evaluate(engine, [patient(), status]).record.disease_statuses] == ["improved"]


# A response assessment named as oncology records name it, with a local code or text only.
@pytest.mark.parametrize(
    ("name", "answer", "status"),
    [
        ("Tumor response (RECIST 1.1)", "PD", "worsened"),
        ("Overall response", "Partial response", "improved"),
        ("Treatment response", "Stable disease", "stable"),
        ("Response assessment", "Progressive disease", "worsened"),
        ("RECIST", "SD", "stable"),
        ("Response to treatment", "Progression", "worsened"),
        ("Drug response", "Worse", None),  # not a cancer response assessment by name
    ],
)
def test_a_response_assessment_under_its_oncology_names_is_a_disease_status(engine, name, answer, status):
    record = _echo("ds", {"text": name}, valueCodeableConcept={"text": answer})
    found = [s.status for s in evaluate(engine, [patient(), record]).record.disease_statuses]
    assert found == ([status] if status else [])


# The breast primaries of mCODE 2.0.0's published PrimaryCancerDisorderVS expansion (mappings/terminology.yaml);
# skin of breast (a skin primary) and carcinoma in situ are not breast cancer here.
@pytest.mark.parametrize(
    ("code", "breast_cancer"),
    [("94117003", True), ("93681000", True), ("93776002", True), ("94012007", False), ("92593006", False)],
)
def test_the_published_expansion_s_breast_primaries_are_read(engine, code, breast_cancer):
    record = condition("bc", "snomed", code, "2025-01-01")
    record["code"]["coding"][0].pop("display", None)
    record["code"].pop("text", None)  # the code alone decides, not words a reader would find
    assert evaluate(engine, [patient(), record]).assessment()["breastCancer"] is breast_cancer


# Codes of the breast primary outside mCODE's expansion: ICHOM's profile fixes 372137005; 315004001 is
# metastatic breast cancer in one code (a breast primary and a metastasis of unnamed site).
@pytest.mark.parametrize(
    ("code", "metastatic", "sites"),
    [("372137005", False, None), ("315004001", True, ["other"])],
)
def test_the_ichom_primary_and_the_one_code_metastatic_breast_cancer_are_read_by_code(engine, code, metastatic, sites):
    record = condition("bc", "snomed", code, "2025-01-01")
    assessment = evaluate(engine, [patient(), record]).assessment()
    assert (assessment["breastCancer"], assessment["metastatic"], assessment.get("metastaticSites")) == (True, metastatic, sites)
    assert not evaluate(engine, [patient(), record]).record.read_from_text


def test_metastatic_breast_cancer_in_one_code_takes_its_site_from_body_site(engine):
    record = condition(
        "bc", "snomed", "315004001", "2025-01-01", bodySite=[{"coding": [coding("snomed", "10200004", "Liver structure")]}]
    )
    assert evaluate(engine, [patient(), record]).assessment()["metastaticSites"] == ["liver"]


# An mCODE Secondary Cancer Condition (128462008) whose bodySite is a SNOMED CT body structure with no display.
@pytest.mark.parametrize(
    ("body_site", "site"),
    [
        ("10200004", "liver"),
        ("12738006", "brain"),
        ("3341006", "lung"),  # right lung structure
        ("3120008", "pleura"),
        ("421060004", "bone"),  # vertebral column
        ("113197003", "bone"),  # rib
        ("59441001", "lymph-node"),
        ("39937001", "other"),  # skin: a site no rule names
    ],
)
def test_a_secondary_cancer_takes_its_site_from_a_body_structure_code(engine, body_site, site):
    primary = condition("bc", "snomed", "254837009", "2025-01-01")
    secondary = condition("m", "snomed", "128462008", "2025-02-01", bodySite=[{"coding": [coding("snomed", body_site)]}])
    assessment = evaluate(engine, [patient(), primary, secondary]).assessment()
    assert assessment["metastaticSites"] == [site]


@pytest.mark.parametrize(
    ("system", "code"),
    [("icd10cm", "C80.0"), ("icd10cm", "C79.9"), ("snomed", "128462008")],  # disseminated, unspecified, generic
)
def test_a_metastasis_of_no_site_takes_every_site_its_body_sites_name(engine, system, code):
    """Held-out b38: "C80.0 Disseminated malignant neoplasm" with bodySites pleura and lung had read pleura alone."""
    primary = condition("bc", "snomed", "254837009", "2025-01-01")
    sites = [{"coding": [coding("snomed", "3120008")]}, {"coding": [coding("snomed", "39607008")]}, {"text": "Pleura, left"}]
    secondary = condition("m", system, code, "2025-02-01", bodySite=sites)
    assert evaluate(engine, [patient(), primary, secondary]).assessment()["metastaticSites"] == ["lung", "pleura"]


def test_a_vertebral_metastasis_coded_alone_is_a_bone_metastasis(engine):
    """SNOMED CT 94602001 (secondary malignant neoplasm of vertebral column) with no words: not read at all before."""
    primary = condition("bc", "snomed", "254837009", "2025-01-01")
    spine = {"resourceType": "Condition", "id": "m", "subject": {"reference": "Patient/p1"}, "onsetDateTime": "2025-02-01"}
    spine["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "94602001"}]}
    assert evaluate(engine, [patient(), primary, spine]).assessment()["metastaticSites"] == ["bone"]


@pytest.mark.parametrize(
    ("breast", "metastasis", "site"),
    [
        (("icd10cm", "C50912"), ("icd10cm", "C787"), "liver"),  # ICD-10-CM without its dot (claims data)
        (("icd10cm", "c50.912"), ("icd10cm", "c79.31"), "brain"),  # lower case
        (("http://hl7.org/fhir/sid/icd-10", "C50.9"), ("http://hl7.org/fhir/sid/icd-10", "C79.3"), "brain"),  # WHO
        (("http://hl7.org/fhir/sid/icd-10", "C50.4"), ("http://hl7.org/fhir/sid/icd-10", "C79.5"), "bone"),
        (("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "C50.8"), ("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "C78.7"), "liver"),
        (("urn:oid:2.16.840.1.113883.6.90", "C50.911"), ("urn:oid:2.16.840.1.113883.6.90", "C78.01"), "lung"),
        (("http://hl7.org/fhir/sid/icd-10-ca", "C50.9"), ("http://hl7.org/fhir/sid/icd-10-ca", "C78.7"), "liver"),  # Canada
        (("urn:oid:2.16.840.1.113883.6.94", "C50.4"), ("urn:oid:2.16.840.1.113883.6.94", "C79.5"), "bone"),
        # SNOMED CT's HER2-positive carcinoma of breast (the ICHOM IG's), as the primary, without a display
        (("snomed", "427685000"), ("icd10cm", "C78.7"), "liver"),
    ],
)
def test_icd10_codes_without_dots_and_other_icd10_editions_are_read(engine, breast, metastasis, site):
    records = [condition("bc", breast[0], breast[1], "2024-01-01"), condition("m", metastasis[0], metastasis[1], "2025-01-01")]
    evaluation = evaluate(engine, [patient(), *records])
    assessment = evaluation.assessment()
    assert (assessment["breastCancer"], assessment["metastatic"], assessment["metastaticSites"]) == (True, True, [site])
    assert not evaluation.record.read_from_text  # by code, not by words


# National ICD-10 editions nobody registered a FHIR URI for, recognised by the system's name
# (codes.yaml system_aliases edition_pattern): a French, Spanish or Australian problem list had read as
# no breast cancer at all, and the patient got no options.
@pytest.mark.parametrize(
    "system",
    [
        "https://smt.esante.gouv.fr/terminologie-cim-10/",  # France, the national terminology server
        "https://www.atih.sante.fr/CIM-10-FR",
        "https://eciemaps.sanidad.gob.es/CIE10ES",  # Spain
        "http://hl7.org/fhir/sid/icd-10-am",  # Australia
        "urn:hospital:ICD10",
        "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-7",  # Korea (KR-Core names kcd-8 and kcd-9)
        "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8",
        "urn:local:МКБ-10",  # Russia, a local system named in Cyrillic
        "urn:oid:1.2.643.5.1.13.13.11.1005",  # Russia's MKB-10 in the Ministry of Health's registry
        "urn:oid:2.16.156.10011.2.3.3.11",  # China's diagnosis code table (ICD-10)
        "https://fhir.hospital-exemplo.com.br/r4/CodeSystem/cid-10",  # Brazil's CID-10, on a hospital's URI
        "urn:local:CID10",
        "https://fhir.hospital-exemplo.com.br/CodeSystem/cid_10",
        "http://www.saude.gov.br/fhir/r4/CodeSystem/BRCID10",  # Brazil's national CID-10 (RNDS)
        "https://mkn10.uzis.cz",  # Czechia's MKN-10
        "http://www.neak.gov.hu/BNO-10",  # Hungary's BNO-10
        "https://www.nczisk.sk/MKCH-10",  # Slovakia's MKCH-10
        "urn:oid:1.2.246.537.6.1.1999",  # Finland's ICD-10 (THL)
        "urn:oid:1.2.246.537.6.1",  # THL's ICD-10 without its version (held-out b81-b89)
        "urn:oid:2.16.578.1.12.4.1.1.7110",  # Norway's ICD-10 (Volven 7110)
        "https://fhir.ee/CodeSystem/rhk10",  # Estonia's RHK-10 (held-out w63)
        "urn:local:SSK-10",  # Latvia's SSK-10
        "urn:local:TLK-10-AM",  # Lithuania's TLK-10-AM
    ],
)
def test_an_icd10_edition_known_only_by_its_name_is_read_as_icd10(engine, system):
    records = [condition("bc", system, "C50.8", "2024-01-01"), condition("m", system, "C78.7", "2025-01-01")]
    evaluation = evaluate(engine, [patient(), *records])
    assessment = evaluation.assessment()
    assert (assessment["breastCancer"], assessment["metastatic"], assessment["metastaticSites"]) == (True, True, ["liver"])
    assert not evaluation.record.read_from_text


def test_a_brazilian_cid10_breast_cancer_with_a_brain_metastasis_is_read(engine):
    """CID-10 (the Portuguese ICD-10) on a hospital's local URI had read as no breast cancer."""
    system = "https://fhir.hospital-exemplo.com.br/r4/CodeSystem/cid-10"
    records = [condition("bc", system, "C50.9", "2024-01-01"), condition("m", system, "C79.3", "2025-01-01")]
    evaluation = evaluate(engine, [patient(), *records])
    assessment = evaluation.assessment()
    assert (assessment["breastCancer"], assessment["metastatic"], assessment["metastaticSites"]) == (True, True, ["brain"])
    assert not evaluation.record.read_from_text


@pytest.mark.parametrize(
    "system",
    [
        "http://www.cms.gov/Medicare/Coding/ICD10PCS",
        "http://hl7.org/fhir/sid/icd-10-pcs",
        "urn:local:ICD9",
        "urn:local:kcd-10-extension",
        "urn:local:cid-9",  # CID-9, the Portuguese ICD-9
        "urn:local:cid-o-3",  # CID-O, the Portuguese ICD-O
        "urn:local:acid10",  # "cid" inside a word
        "urn:local:cid-10-pcs",
    ],
)
def test_a_system_that_is_not_an_icd10_diagnosis_edition_is_not_read_as_one(engine, system):
    """ICD-10-PCS codes procedures (its codes can begin with C5); ICD-9 numbers its categories otherwise."""
    records = [condition("bc", system, "C50.8", "2024-01-01"), condition("m", "snomed", "94381002", "2025-01-01")]
    assert evaluate(engine, [patient(), *records]).assessment()["breastCancer"] is False


def test_a_who_lymph_node_code_is_regional_like_icd10cm(engine):
    who = "http://hl7.org/fhir/sid/icd-10"
    records = [condition("bc", who, "C50.9", "2024-01-01"), condition("n", who, "C77.3", "2025-01-01")]
    assert evaluate(engine, [patient(), *records]).assessment()["metastatic"] is False


def test_a_loinc_code_without_its_check_digit_is_read_as_that_code(engine):
    """A laboratory feed that dropped the check digit ("85319" for 85319-2): the item number names one
    code. The patient's HER2, ER and PR had read as unknown, and she got no options."""
    results = [
        observation("h", "85319", "2026-05-08", valueCodeableConcept={"text": "Positive (3+)"}),
        observation("e", "85337", "2026-05-08", valueCodeableConcept={"text": "Negative (<1%)"}),
        observation("p", "85339", "2026-05-08", valueCodeableConcept={"text": "Negative (0%)"}),
    ]
    assessment = evaluate(engine, [*her2_positive_liver_patient()[:3], *results]).assessment()
    assert (assessment["her2"], assessment["hormoneReceptor"], assessment["recommendedLine"]) == ("positive", "negative", 1)


# AST and ALT measured with pyridoxal phosphate have LOINC codes of their own (French hospital data).
@pytest.mark.parametrize("loinc", ["30239-8", "1743-4"])
def test_transaminases_measured_with_pyridoxal_phosphate_are_read(engine, loinc):
    ast = observation("lab", loinc, "2026-05-20", valueQuantity={"value": 250, "unit": "U/L"})
    assert "visceral-crisis" in evaluate(engine, [*her2_positive_liver_patient(), ast]).assessment()["alerts"]


def _on_tdxd_with_status(text: str) -> list[dict[str, Any]]:
    return [
        patient(),
        condition("c1", "snomed", "254837009", "2024-01-10"),
        condition("c2", "icd10cm", "C78.7", "2024-01-10"),
        observation("o1", "85319-2", "2024-01-15", valueCodeableConcept={"text": "3+"}),
        statement("m1", "trastuzumab deruxtecan", "2025-06-01", status="active"),
        observation("ds", "97509-4", "2026-05-01", valueCodeableConcept={"text": text}),
    ]


SNOMED_URI = "http://snomed.info/sct"
MII_COURSE = "https://www.medizininformatik-initiative.de/fhir/ext/modul-onko/CodeSystem/mii-cs-onko-verlauf-gesamtbeurteilung"


@pytest.mark.parametrize(
    ("code", "value", "status"),
    [
        # The German oncology module's course assessment (oBDS): "P" progression, "K" no change, "T" partial
        # remission (held-out j82, j90: the German progression had gone unread).
        ({"system": SNOMED_URI, "code": "396432002"}, {"system": MII_COURSE, "code": "P"}, "progressed"),
        ({"system": SNOMED_URI, "code": "396432002"}, {"system": MII_COURSE, "code": "K"}, "on-treatment"),
        ({"system": SNOMED_URI, "code": "396432002"}, {"system": MII_COURSE, "code": "T"}, "on-treatment"),
        # LOINC 21976-6 "Cancer outcome status", a RECIST response's code (held-out j84).
        ({"system": "http://loinc.org", "code": "21976-6"}, {"system": SNOMED_URI, "code": "271299001"}, "progressed"),
    ],
)
def test_a_disease_status_in_other_systems_is_read(engine, code, value, status):
    records = _on_tdxd_with_status("placeholder")
    records[-1] = {**records[-1], "code": {"coding": [code]}, "valueCodeableConcept": {"coding": [value]}}
    assert evaluate(engine, records).assessment()["lineOfTherapy"]["status"] == status


# A disease status written as words: a denied progression is not one (it had read as progression,
# and the card advised a change of line). RECIST abbreviations count as the whole answer only.
@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("No progression", "on-treatment"),
        ("No evidence of progression", "on-treatment"),
        ("Not progressing", "on-treatment"),
        ("Stable disease, no progression", "on-treatment"),
        ("Progression-free", "on-treatment"),
        ("Progression ruled out", "on-treatment"),
        ("Not worse", "on-treatment"),
        ("Pseudoprogression", "on-treatment"),
        ("SD", "on-treatment"),
        ("Disease progression", "progressed"),
        ("Progressive disease (new liver lesions)", "progressed"),
        ("No new lesions but progression in the liver", "progressed"),
        ("Progression noted, not responding", "progressed"),
        ("PD", "progressed"),
        ("Progresión de la enfermedad", "progressed"),
        ("Progressão", "progressed"),
        ("Sin progresión", "on-treatment"),
        ("Enfermedad estable", "on-treatment"),
        ("New liver lesions", "progressed"),  # RECIST 1.1: new lesions are progression
        ("New brain metastases", "progressed"),
        ("No new lesions", "on-treatment"),
        ("No new lesions, stable disease", "on-treatment"),
        ("PD per RECIST 1.1", "progressed"),  # "PD" with its criteria
        ("Non-CR/Non-PD", "on-treatment"),
        # Russian, Ukrainian and Kazakh charts' RECIST assessments (held-out c93, c95)
        ("Прогрессирование заболевания", "progressed"),
        ("Прогресування хвороби", "progressed"),
        ("Без признаков прогрессирования", "on-treatment"),
        ("Псевдопрогрессирование", "on-treatment"),
        ("Стабилизация", "on-treatment"),
        ("Частичный ответ", "on-treatment"),
        # Japanese, Chinese and Korean, full-width brackets as their systems write them (held-out u95, u96)
        ("PD（進行）", "progressed"),
        ("病勢増悪", "progressed"),
        ("疾病进展", "progressed"),
        ("PR（部分奏効）維持", "on-treatment"),
        ("SD（安定）", "on-treatment"),
        ("안정 병변", "on-treatment"),
    ],
)
def test_a_disease_status_in_words_is_read_with_its_negation(engine, text, status):
    assert evaluate(engine, _on_tdxd_with_status(text)).assessment()["lineOfTherapy"]["status"] == status


def test_a_drug_stopped_with_no_progression_did_not_stop_for_progression(engine):
    reason = {"statusReason": [{"text": "Completed planned cycles, no progression"}]}
    records = [
        *_on_tdxd_with_status("Stable")[:4],
        statement("m1", "trastuzumab deruxtecan", "2025-06-01", "2026-03-01", status="stopped", **reason),
    ]
    history = evaluate(engine, records).assessment()["lineOfTherapy"]["history"]
    assert history[-1]["endReason"] != "progression"


def _tdxd_stopped_for(reason: dict[str, Any]) -> list[dict[str, Any]]:
    """Trastuzumab, then T-DXd stopped for ``reason`` (a statusReason CodeableConcept)."""
    return [
        *_on_tdxd_with_status("Stable")[:4],
        statement("m1", "trastuzumab", "2024-02-01", "2025-05-01", status="completed"),
        statement("m2", "trastuzumab deruxtecan", "2025-06-01", "2026-03-01", status="stopped", statusReason=[reason]),
    ]


# A drug stopped for a reason in words: every way of writing that the disease progressed stops the line
# for progression, and the drug's regimens are not offered again; a progressive symptom and a
# pseudoprogression are not progressions ("Progressed", "PD" had read as a stop for an unknown reason:
# the line off treatment, not progressed).
@pytest.mark.parametrize(
    ("reason", "end_reason"),
    [
        ("Progressed", "progression"),
        ("Disease progressed on therapy", "progression"),
        ("Cancer progressing", "progression"),
        ("PD", "progression"),
        ("Refractory disease", "progression"),
        ("Disease worsened on scan", "progression"),
        ("Stopped: progressive disease", "progression"),
        ("Absent response to treatment", "progression"),
        ("Pseudoprogression", "unknown"),
        ("Pseudo-progression on immunotherapy", "unknown"),
        ("Progressive neuropathy", "toxicity"),
        ("Peripheral neuropathy grade 3", "toxicity"),
        ("Infusion reaction", "toxicity"),
        ("No progression, patient preference", "unknown"),
        ("Progresión", "progression"),  # Spanish, Portuguese, Italian
        ("Progressão da doença", "progression"),
        ("progressione di malattia", "progression"),
        ("Completado, sin progresión", "unknown"),
        ("keine Progression", "unknown"),
        ("Arrêt : la famille ne peut plus acheter le médicament (pas de progression)", "unknown"),  # held-out x96
        ("Aucune progression, choix de la patiente", "unknown"),
        ("Absence de progression", "unknown"),
        ("Ninguna progresión; decisión de la paciente", "unknown"),
        ("Nessuna progressione", "unknown"),
        ("Geen progressie, wens van patiënte", "unknown"),
        ("Brak progresji, decyzja pacjentki", "unknown"),
        ("Progression, pas de toxicité", "progression"),  # the denial is of something else
        ("Toxicidad", "toxicity"),
        ("Intolerancia", "toxicity"),
        ("Thrombocytopenia", "toxicity"),  # the labels' other adverse effects
        ("Grade 3 hand-foot syndrome", "toxicity"),
        ("LVEF drop to 42%", "toxicity"),
        ("Rash", "toxicity"),
        ("New liver lesions on CT", "progression"),
        ("No new lesions; patient preference", "unknown"),
        ("PD on CT", "progression"),  # RECIST's PD with its scan or criteria
        ("PD per RECIST 1.1", "progression"),
        ("Parkinson's disease (PD)", "unknown"),
        ("No longer responding", "progression"),  # a response lost or denied: clinical.md's "no response"
        ("Not responsive to treatment", "progression"),
        ("Lack of efficacy", "progression"),
        ("Loss of response", "progression"),
        ("Ineffective", "progression"),
        ("Grade 3 diarrhoea not responding to loperamide", "toxicity"),  # about a symptom: the toxicity wins
        ("No response to antiemetics, vomiting", "toxicity"),
        ("Nausea and fatigue", "toxicity"),  # T-DXd's commonest adverse reactions
        ("Grade 3 stomatitis", "toxicity"),
        ("Not tolerated", "toxicity"),
        ("Poorly tolerated", "toxicity"),
        ("Intolerable diarrhoea", "toxicity"),
        ("Lack of drug action", "progression"),
    ],
)
def test_a_stop_reason_in_words_says_progression_as_clinicians_write_it(engine, reason, end_reason):
    assessment = evaluate(engine, _tdxd_stopped_for({"text": reason})).assessment()
    assert assessment["lineOfTherapy"]["history"][-1]["endReason"] == end_reason
    assert (assessment["lineOfTherapy"]["status"] == "progressed") is (end_reason == "progression")


MEDREQUEST_STATUS_REASON = "http://terminology.hl7.org/CodeSystem/medicationrequest-status-reason"


# HL7's MedicationRequest status reasons: "sintol" and "salg" are adverse effects; "preg" and "surg" are
# other causes whose words are not read for one: T-DXd stopped for pregnancy, "contraindicated (embryo-fetal
# toxicity)", had ended its line for toxicity (held-out z90).
@pytest.mark.parametrize(
    ("code", "text", "end_reason"),
    [
        ("sintol", None, "toxicity"),
        ("salg", None, "toxicity"),
        ("preg", "Pregnancy: HER2-directed therapy contraindicated (embryo-fetal toxicity)", "unknown"),
        ("surg", "Hold for surgery; no adverse effects", "unknown"),
        ("preg", None, "unknown"),
    ],
)
def test_a_stop_coded_by_hl7s_medication_request_status_reasons(engine, code, text, end_reason):
    reason: dict[str, Any] = {"coding": [{"system": MEDREQUEST_STATUS_REASON, "code": code}]}
    if text:
        reason["text"] = text
    assessment = evaluate(engine, _tdxd_stopped_for(reason)).assessment()
    assert assessment["lineOfTherapy"]["history"][-1]["endReason"] == end_reason


# A cancer Condition whose name says the disease progressed is a progression on its onset (a problem list
# updated to "Metastatic breast cancer, progressing on THP"), as a disease status saying worsened is.
@pytest.mark.parametrize(
    ("name", "progressed"),
    [
        ("Metastatic breast cancer, progressing on THP", True),
        ("Progression of metastatic breast cancer", True),
        ("PROGRESSION OF METASTATIC BREAST CANCER", True),  # as some problem lists write their names
        ("Breast cancer metastatic to liver, progressive disease", True),
        ("Metastatic breast cancer, no progression", False),
        ("Breast cancer with pseudoprogression", False),
        ("New liver metastases", False),  # names the metastasis found, not a progression
        ("Progressive multiple sclerosis", False),  # not a cancer Condition
    ],
)
def test_a_cancer_condition_named_as_progressing_marks_the_line_progressed(engine, name, progressed):
    named = {"resourceType": "Condition", "id": "pd", "subject": {"reference": "Patient/p1"}, "onsetDateTime": "2025-12-01"}
    named["code"] = {"text": name}
    records = [*_on_tdxd_with_status("Stable")[:4], statement("m1", "trastuzumab", "2025-06-01", status="active"), named]
    assessment = evaluate(engine, records).assessment()
    assert (assessment["lineOfTherapy"]["status"] == "progressed") is progressed


# mCODE's TreatmentTerminationReasonVS codes, with no words: STU4's "treatment not tolerated" is a
# toxicity, STU1's "lack of drug action" its "no response"; completion and refusal say neither.
@pytest.mark.parametrize(
    ("code", "end_reason"),
    [
        ("266721009", "progression"),
        ("58848006", "progression"),
        ("407563006", "toxicity"),
        ("281647001", "toxicity"),
        ("182992009", "unknown"),
        ("105480006", "unknown"),
    ],
)
def test_mcode_treatment_termination_reasons_are_read(engine, code, end_reason):
    assessment = evaluate(engine, _tdxd_stopped_for({"coding": [coding("snomed", code)]})).assessment()
    assert assessment["lineOfTherapy"]["history"][-1]["endReason"] == end_reason


def test_a_course_coded_as_completed_is_not_progressed_by_the_plan_its_words_give(engine):
    """A planned break coded "Treatment completed" whose words give the plan, "resume HER2 therapy at
    progression", had ended the line for progression (held-out i74); a progression code beside it still wins."""
    plan = "Planned treatment break: sustained complete response, patient preference; resume HER2 therapy at progression"
    completed = {"coding": [coding("snomed", "182992009")], "text": plan}
    line = evaluate(engine, _tdxd_stopped_for(completed)).assessment()["lineOfTherapy"]
    assert line["status"] != "progressed"
    assert line["history"][-1]["endReason"] != "progression"
    no_response = {"coding": [coding("snomed", "182992009"), coding("snomed", "266721009")], "text": plan}
    assert evaluate(engine, _tdxd_stopped_for(no_response)).assessment()["lineOfTherapy"]["status"] == "progressed"


HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def _administered(rid: str, system: str, code: str, when: str) -> dict[str, Any]:
    """A MedicationAdministration coded by ``code`` alone, no display (an oncology system's export)."""
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code}]},
    }


NDC = "http://hl7.org/fhir/sid/ndc"


# US oncology systems and claims code an infused drug by its HCPCS J- or Q-code, often with no display:
# an administration of trastuzumab coded J9355 alone had read as no drug, and the line lost it. A pharmacy
# system may name a drug by its NDC alone (drugs.yaml ndc): read by labeler and product in each of the
# forms records write it; a Kadcyla order coded so had named no drug.
@pytest.mark.parametrize(
    ("system", "code", "agents"),
    [
        (HCPCS, "J9355", ["trastuzumab"]),
        (HCPCS, "Q5117", ["trastuzumab"]),  # Kanjinti, a biosimilar
        (HCPCS, "J9358", ["trastuzumab-deruxtecan"]),
        (HCPCS, "J9354", ["trastuzumab-emtansine"]),
        (HCPCS, "J9316", ["pertuzumab", "trastuzumab"]),  # Phesgo
        ("urn:oid:2.16.840.1.113883.6.285", "J9358", ["trastuzumab-deruxtecan"]),  # by its OID
        (NDC, "50242-088-01", ["trastuzumab-emtansine"]),  # 5-3-2, as the label prints it
        (NDC, "50242-0088-01", ["trastuzumab-emtansine"]),  # the 11-digit billing form
        (NDC, "50242008801", ["trastuzumab-emtansine"]),  # the same with no hyphens
        (NDC, "0069-0308-01", ["trastuzumab"]),  # 4-4-2 (Trazimera)
        (NDC, "65597-406-01", ["trastuzumab-deruxtecan"]),
        (NDC, "50242-260-86", ["pertuzumab", "trastuzumab"]),  # Phesgo, another package of the product
        ("urn:oid:2.16.840.1.113883.6.69", "65597-0406-01", ["trastuzumab-deruxtecan"]),  # NDC by its OID
    ],
)
def test_an_administration_coded_by_hcpcs_or_ndc_alone_names_its_drug(engine, system, code, agents):
    records = [
        *_on_tdxd_with_status("Stable")[:4],
        _administered("a1", system, code, "2026-05-01"),
        _administered("a2", system, code, "2026-05-22"),
    ]
    history = evaluate(engine, records).assessment()["lineOfTherapy"]["history"]
    assert history[-1]["agents"] == agents


@pytest.mark.parametrize(
    ("code", "product"),
    [
        ("50242-088-01", "502420088"),
        ("0069-0308-01", "000690308"),
        ("12345-6789-1", "123456789"),  # 5-4-1
        ("50242008801", "502420088"),
        ("5024208801", None),  # ten digits with no hyphens: no telling where the segments end
        ("50242-088", "502420088"),
        ("J9354", None),
        ("", None),
    ],
)
def test_ndc_forms_are_reduced_to_labeler_and_product(code, product):
    assert ndc_product(code) == product


# A record whose subject names another Patient is not this patient's (a bundle or export that mixes
# patients): another patient's LVEF of 33 % had raised an LVEF alert, another's HER2 0 had made a
# HER2-positive patient HER2 "zero". It is not used, and the data card names it. A reference that names
# no Patient id (a bundle-local urn:uuid, a display) keeps the record.
@pytest.mark.parametrize(
    ("reference", "used"),
    [
        ("Patient/p2", False),
        ("https://ehr.example.org/fhir/Patient/p2/_history/3", False),
        ("https://ehr.example.org/fhir/Patient/p1", True),
        ("Patient/p1/_history/2", True),
        ("urn:uuid:7d7a4c1e-1a7b-4f57-9d31-0f4c3f1d2a11", True),
        (None, True),
    ],
)
def test_a_record_of_another_patient_is_not_used(engine, knowledge, reference, used):
    her2_zero = observation("o-other", "85319-2", "2026-05-20", valueCodeableConcept={"text": "0"})
    her2_zero["subject"] = {"reference": reference} if reference else {"display": "Jane Doe"}
    records = [*_on_tdxd_with_status("Stable")[:4], her2_zero]
    evaluation = evaluate(engine, records)
    assert (evaluation.assessment()["her2"] == "zero") is used
    assert (evaluation.record.other_patients == ["Observation/o-other"]) is not used
    if not used:
        cards = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))
        assert "another patient" in cards[-1]["detail"] and "o\\-other" in cards[-1]["detail"]


def _plan_order(rid: str, drug: str, start: str, end: str, status: str, **repeat: Any) -> dict[str, Any]:
    """A MedicationRequest whose dosage plans doses from ``start`` to ``end`` (an Epic therapy plan)."""
    timing = {"repeat": {"boundsPeriod": {"start": start, "end": end}, **repeat}}
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": start,
        "medicationCodeableConcept": {"text": drug},
        "dosageInstruction": [{"text": "every 21 days", "timing": timing}],
    }


# A therapy plan written a few doses at a time: the active order's last planned dose (2026-05-25) was
# a week before today, the next one is due three weeks after it. It had read as ended, the patient
# stable on trastuzumab as off treatment and offered the next line (lines.yaml active_order_interval).
@pytest.mark.parametrize(
    ("status", "repeat", "line_status"),
    [
        ("active", {"period": 21, "periodUnit": "d"}, "on-treatment"),
        ("active", {"period": 3, "periodUnit": "wk"}, "on-treatment"),
        ("on-hold", {"period": 21, "periodUnit": "d"}, "on-treatment"),
        ("active", {"period": 5, "periodUnit": "d"}, "off-treatment"),  # its next dose was due 2026-05-30
        ("active", {}, "off-treatment"),  # no interval given: the bounds say when it ended
        ("completed", {"period": 21, "periodUnit": "d"}, "off-treatment"),  # the order itself says it is done
        ("active", {"period": 1, "periodUnit": "a"}, "on-treatment"),  # a year is not believed: 92 days at most
    ],
)
def test_an_active_order_is_ongoing_until_its_next_dose_is_due(engine, status, repeat, line_status):
    records = [
        *_on_tdxd_with_status("Stable")[:4],
        _plan_order("r1", "trastuzumab", "2025-12-29", "2026-03-02", "completed", period=21, periodUnit="d"),
        _plan_order("r2", "trastuzumab", "2026-03-23", "2026-05-25", status, **repeat),
    ]
    assert evaluate(engine, records).assessment()["lineOfTherapy"]["status"] == line_status


def test_an_active_order_a_year_past_its_bounds_is_not_ongoing(engine):
    records = [
        *_on_tdxd_with_status("Stable")[:4],
        _plan_order("r2", "trastuzumab", "2024-03-23", "2025-05-25", "active", period=1, periodUnit="a"),
    ]
    assert evaluate(engine, records).assessment()["lineOfTherapy"]["status"] == "off-treatment"


TERMINATION_REASON = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-treatment-termination-reason"


# mCODE STU2 put why a treatment ended in an extension (terminationReason), not statusReason: an order
# stopped "no response to treatment" that way had read as ended for no reason (the line off treatment,
# not progressed). Read when there is no statusReason; statusReason wins when both are there.
@pytest.mark.parametrize(
    ("reason", "status_reason", "end_reason"),
    [
        ({"coding": [coding("snomed", "266721009")]}, None, "progression"),
        ({"text": "Disease progression"}, None, "progression"),
        ({"coding": [coding("snomed", "407563006")]}, None, "toxicity"),
        ({"coding": [coding("snomed", "182992009")]}, None, "unknown"),
        ("not a concept", None, "unknown"),
        ({"coding": [coding("snomed", "266721009")]}, {"text": "Toxicity"}, "toxicity"),
    ],
)
def test_mcode_stu2_termination_reason_extension_is_read(engine, reason, status_reason, end_reason):
    records = _tdxd_stopped_for({"text": "placeholder"})
    stopped = records[-1]
    del stopped["statusReason"]
    if status_reason is not None:
        stopped["statusReason"] = [status_reason]
    stopped["extension"] = [{"url": TERMINATION_REASON, "valueCodeableConcept": reason}]
    assessment = evaluate(engine, records).assessment()
    assert assessment["lineOfTherapy"]["history"][-1]["endReason"] == end_reason
    assert (assessment["lineOfTherapy"]["status"] == "progressed") is (end_reason == "progression")


def test_mcode_stu1_named_the_termination_reason_extension_otherwise(engine):
    """mCODE STU1's TerminationReason is mcode-termination-reason: a T-DXd order stopped "Treatment not
    tolerated" under it had ended its line for no known reason (held-out q81)."""
    records = _tdxd_stopped_for({"text": "placeholder"})
    stopped = records[-1]
    del stopped["statusReason"]
    stopped["extension"] = [
        {
            "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-termination-reason",
            "valueCodeableConcept": {"coding": [coding("snomed", "407563006")]},
        }
    ]
    assert evaluate(engine, records).assessment()["lineOfTherapy"]["history"][-1]["endReason"] == "toxicity"


def test_a_termination_reason_extension_naming_ild_is_an_episode_of_it(engine):
    records = _tdxd_stopped_for({"text": "placeholder"})
    del records[-1]["statusReason"]
    records[-1]["extension"] = [{"url": TERMINATION_REASON, "valueCodeableConcept": {"text": "Grade 2 pneumonitis"}}]
    assert evaluate(engine, records).record.lung_disease


@pytest.mark.parametrize(("text", "read"), [("35-40", 35.0), ("35 - 40", 35.0), ("60 to 65", 60.0), ("2026-05-01", None)])
def test_an_ejection_fraction_range_without_its_unit_is_read(engine, text, read):
    """An echo report's "35-40" (no %) was not a number, so the LVEF was named unreadable and monitoring
    said none was recorded; a date where the value belongs stays unread."""
    records = [
        patient(),
        condition("bc", "snomed", "254837009", "2024-01-01"),
        observation("ef", "10230-1", "2026-05-01", valueString=text),
    ]
    latest = evaluate(engine, records).safety.lvef_latest
    assert (latest.value if latest else None) == read


# An ejection fraction no heart can have (a typo, a volume coded as LVEF) is named and not used: the
# LVEF before it stays the latest, so monitoring is due, instead of "600 %" passing every rule.
@pytest.mark.parametrize(
    ("value", "unit", "read"),
    [(600, "%", None), (-5, "%", None), (55, "mL", None), (0.35, "1", 35.0), (35, "% (calc)", 35.0), (35, None, 35.0)],
)
def test_an_impossible_ejection_fraction_is_named_and_not_used(engine, value, unit, read):
    quantity = {"value": value, **({"unit": unit} if unit else {})}
    records = [
        patient(),
        condition("bc", "snomed", "254837009", "2024-01-01"),
        observation("ef", "10230-1", "2026-05-01", valueQuantity=quantity),
    ]
    evaluation = evaluate(engine, records)
    latest = evaluation.safety.lvef_latest
    assert (latest.value if latest else None) == read
    assert ("Observation/ef" in evaluation.record.skipped) is (read is None)


@pytest.mark.parametrize(
    ("concept", "agents"),
    [
        ({"coding": [{"system": "http://www.whocc.no/atc", "code": "L01FD03"}]}, {"trastuzumab-emtansine"}),
        ({"coding": [{"system": "urn:oid:2.16.840.1.113883.6.73", "code": "l01fd04"}]}, {"trastuzumab-deruxtecan"}),
        ({"coding": [{"system": "http://fhir.de/CodeSystem/bfarm/atc", "code": "L01FY01"}]}, {"pertuzumab", "trastuzumab"}),
        ({"coding": [{"system": "http://www.whocc.no/atc", "code": "L01CD01", "display": "Abraxane"}]}, {"nab-paclitaxel"}),
        ({"coding": [{"system": "http://www.whocc.no/atc", "code": "M05BX04"}]}, set()),  # denosumab: not an agent
        ({"text": "Trastuzumab emtansin 160 mg"}, {"trastuzumab-emtansine"}),  # the German INN, once read as trastuzumab
        ({"text": "Capecitabin 500 mg Filmtabletten"}, {"capecitabine"}),
    ],
)
def test_drugs_coded_in_atc_or_named_in_german_are_read(engine, concept, agents):
    record = statement("m9", "x", "2025-04-01", "2025-09-01")
    record["medicationCodeableConcept"] = concept
    assert engine.normaliser.agents_of_record(record, {}) == agents


GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
CERTAINTY = "http://fhir.de/StructureDefinition/icd-10-gm-diagnosesicherheit"
KBV = "https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_ICD_DIAGNOSESICHERHEIT"


def _gm(rid: str, code: str, certainty: Any, when: str = "2024-03-01") -> dict[str, Any]:
    """A Condition as German records send it: ICD-10-GM with its diagnosis certainty on the coding."""
    coding = {"system": GM, "code": code, "extension": [{"url": CERTAINTY, **certainty}]}
    condition = {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/p1"}, "onsetDateTime": when}
    return condition | {"code": {"coding": [coding]}}


@pytest.mark.parametrize(
    ("certainty", "metastatic"),
    [
        ({"valueCoding": {"system": KBV, "code": "A", "display": "ausgeschlossen"}}, False),  # excluded
        ({"valueCode": "A"}, False),
        ({"valueCoding": {"system": KBV, "code": "G"}}, True),  # confirmed
        ({"valueCoding": {"system": KBV, "code": "V"}}, False),  # suspected: as a provisional diagnosis, not counted
        ({"valueCode": ["A"]}, True),  # a value of the wrong JSON type says nothing
    ],
)
def test_an_icd10gm_diagnosis_marked_excluded_is_not_read(engine, certainty, metastatic):
    resources = [patient(), _gm("bc", "C50.9", {"valueCode": "G"}), _gm("liver", "C78.7", certainty)]
    evaluation = evaluate(engine, resources)
    assert evaluation.extent.breast_cancer
    assert evaluation.extent.metastatic is metastatic
    excluded_primary = [patient(), _gm("bc", "C50.9", {"valueCode": "A"}), _gm("liver", "C78.7", {"valueCode": "G"})]
    assert not evaluate(engine, excluded_primary).extent.breast_cancer


def _echo(rid: str, code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": code,
        "effectiveDateTime": "2026-04-01",
        **value,
    }


@pytest.mark.parametrize("words", ["Right ventricular ejection fraction", "RVEF (3D echo)", "Gallbladder ejection fraction"])
def test_another_chambers_or_organs_ejection_fraction_is_not_the_lvef(engine, words):
    record = _echo("ef", {"text": words}, valueQuantity={"value": 30, "unit": "%"})
    evaluation = evaluate(engine, [*her2_positive_liver_patient(), record])
    assert evaluation.safety.lvef_latest.value == 58  # the patient's LVEF, not this 30 %
    assert "lvef-decline" not in evaluation.alerts


# Local codes, as EHR laboratory and echo systems name their tests: the kind is read from the name
# ("HER-2/neu", "ERBB2", "ER by IHC", "PGR", "LV EF", "Bilirubin, total"); what only looks alike is not.
LOCAL = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.61"


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("HER-2/NEU BY IHC", {"valueString": "3+"}, ("her2-ihc", 3)),
        ("ERBB2 IHC", {"valueString": "1+"}, ("her2-ihc", 1)),
        ("HER2", {"valueString": "3+"}, ("her2-ihc", 3)),  # a score exists only in immunohistochemistry
        ("HER2/NEU", {"valueString": "Positive"}, ("her2-interpretation", "positive")),
        ("ER BY IHC", {"valueString": "Positive"}, ("er", "positive")),
        ("PR STATUS", {"valueString": "Negative"}, ("pr", "negative")),
        ("PGR", {"valueString": "Positive"}, ("pr", "positive")),
        ("ER/PR BY IHC", {"valueString": "Positive"}, ("hormone", "positive")),  # both in one test
        ("Estrogen+Progesterone receptor Ag", {"valueString": "Negative"}, ("hormone", "negative")),
        # Named by the antibody clone (CAP survey): "ER (SP1)", "PR (1E2)".
        ("ER (SP1)", {"valueString": "Positive, 90%, strong"}, ("er", "positive")),
        ("ER 6F11", {"valueString": "Negative"}, ("er", "negative")),
        ("PR (1E2)", {"valueString": "Positive"}, ("pr", "positive")),
        ("PR PGR-636", {"valueString": "Negative"}, ("pr", "negative")),
        ("HercepTest", {"valueString": "3+"}, ("her2-ihc", 3)),  # Dako's HER2 IHC kit
        ("HER2 (4B5)", {"valueString": "2+"}, ("her2-ihc", 2)),
        # Immunohistochemistry in Spanish, Portuguese, Italian and German words (held-out o64: "HER2/neu (IHQ)").
        ("HER2/neu (IHQ)", {"valueString": "2+ (EQUÍVOCO) - se envía a FISH"}, ("her2-ihc", 2)),
        ("HER2 inmunohistoquímica", {"valueString": "1+"}, ("her2-ihc", 1)),
        ("HER2 imuno-histoquímica", {"valueString": "2+"}, ("her2-ihc", 2)),
        ("HER2 immunoistochimica", {"valueString": "1+"}, ("her2-ihc", 1)),
        ("LV EF", {"valueQuantity": {"value": 40, "unit": "%"}}, ("lvef", 40.0)),
        ("EF BIPLANE (SIMPSON)", {"valueQuantity": {"value": 40, "unit": "%"}}, ("lvef", 40.0)),
        ("BILIRUBIN, TOTAL", {"valueQuantity": {"value": 2.1, "unit": "mg/dL"}}, ("bilirubin-total", 2.1)),
        ("T. BILI", {"valueQuantity": {"value": 2.1, "unit": "mg/dL"}}, ("bilirubin-total", 2.1)),
        ("ALK PHOS", {"valueQuantity": {"value": 300, "unit": "U/L"}}, ("alp", 300.0)),
        ("ERBB2 MUTATION", {"valueString": "Positive"}, None),  # a mutation is not HER2 status
        ("HER2 NGS", {"valueString": "Amplified"}, None),
        ("PR INTERVAL", {"valueQuantity": {"value": 160, "unit": "ms"}}, None),  # an ECG measure
        ("ESR1 MUTATION", {"valueString": "Detected"}, None),
        ("BILIRUBIN, URINE", {"valueString": "Negative"}, None),
        ("GB EF", {"valueQuantity": {"value": 30, "unit": "%"}}, None),
    ],
)
def test_a_locally_coded_result_is_read_by_its_name(engine, name, value, read):
    code = {"coding": [{"system": LOCAL, "code": "12345", "display": name}], "text": name}
    evaluation = evaluate(engine, [patient(), _echo("x", code, **value)])
    found = [(r.kind, r.ihc_score if r.ihc_score is not None else r.qualitative) for r in evaluation.record.receptors]
    found += [(lab.kind, lab.value) for lab in evaluation.record.labs]
    assert found == ([read] if read else [])


def test_an_lvef_given_in_words_is_named_on_the_data_card_and_one_without_a_value_is_not(engine):
    lvef = {"coding": [coding("loinc", "10230-1")]}
    words = _echo("words", lvef, valueCodeableConcept={"text": "severely reduced"})
    absent = _echo("absent", lvef, dataAbsentReason={"text": "not performed"})
    evaluation = evaluate(engine, [*her2_positive_liver_patient(), words, absent])
    assert "Observation/words (its value is not a number)" in evaluation.record.skipped
    assert not any("absent" in ref for ref in evaluation.record.skipped)
    assert evaluation.safety.lvef_latest.value == 58


# An echo report's value with the LVEF's name before a number and no unit: the kind gives the unit.
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("EF 35", 35),
        ("LVEF: 55-60", 55),  # a range at its lower end (safety.yaml lvef.reported_range)
        ("Estimated EF is 40", 40),
        ("Ejection fraction of 45", 45),
        ("LV EF = 0.38", 38),
        ("LVEF: <20", 20),
        ("EF 35 mL", None),  # a volume, not a percent
        ("Efficacy 35", None),
        ("EF 2025-01-06", None),
        # "percent" in words (held-out p49: an echo report's sentence, unread, had raised lvef-monitoring-overdue)
        ("Low normal LV systolic function. EF estimated at 50 to 55 percent.", 50),
        ("LVEF 45 per cent", 45),
        ("EF 50 percentile", None),
    ],
)
def test_an_lvef_named_before_a_number_without_a_unit_is_read(engine, text, value):
    echo = _echo("words", {"coding": [coding("loinc", "10230-1")]}, valueString=text)
    labs = evaluate(engine, [patient(), echo]).record.labs
    assert [lab.value for lab in labs if lab.kind == "lvef"] == ([value] if value is not None else [])


# A liver test written as text with its unit, or after the test's name: the unit is kept, so that a
# molar bilirubin is converted and an enzyme in U/L compared with its limit.
@pytest.mark.parametrize(
    ("loinc", "text", "read"),
    [
        ("1975-2", "3.5 mg/dL", ("bilirubin-total", 3.5, "mg/dL")),
        ("1975-2", "Total bilirubin: 3.5 mg/dl", ("bilirubin-total", 3.5, "mg/dl")),
        ("14631-6", "60 umol/L", ("bilirubin-total-molar", 60, "umol/L")),
        ("1920-8", "AST 250 U/L", ("ast", 250, "U/L")),
        ("1742-6", "ALT 250", ("alt", 250, "")),
        ("1742-6", "250 IU/L", ("alt", 250, "IU/L")),
        ("1975-2", "3.5 mg", None),  # not a concentration
        ("1920-8", "See report", None),
        ("1920-8", "AST 2025-01-06", None),
    ],
)
def test_a_liver_test_written_as_text_with_its_unit_is_read(engine, loinc, text, read):
    lab = _echo("lab", {"coding": [coding("loinc", loinc)]}, valueString=text)
    labs = evaluate(engine, [patient(), lab]).record.labs
    assert [(found.kind, found.value, found.unit) for found in labs] == ([read] if read else [])


def test_a_medication_naming_its_drug_only_as_an_ingredient_is_read(engine):
    def medication(mid: str, *ingredients: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Medication", "id": mid, "code": {"text": "IV admixture"}, "ingredient": list(ingredients)}

    coded = {"itemCodeableConcept": {"coding": [coding("rxnorm", "2267582")]}}
    by_display = {"itemReference": {"reference": "Medication/x", "display": "ado-trastuzumab emtansine"}}
    inactive = {"itemCodeableConcept": {"text": "trastuzumab"}, "isActive": False}  # not an active ingredient
    found = engine.normaliser.medications_by_reference(
        [medication("a", coded), medication("b", by_display), medication("c", inactive), medication("d", {"item": 3})]
    )
    assert found == {
        "Medication/a": {"trastuzumab-deruxtecan"},
        "Medication/b": {"trastuzumab-emtansine"},
        "Medication/c": set(),
        "Medication/d": set(),
    }


# A metastasis with no onset is dated by the day it was recorded (problem lists often hold only that):
# therapy before that day reads as (neo)adjuvant, which the record cannot confirm. The data card says so.
def _recorded_liver(recorded: str, onset: str | None = None) -> dict[str, Any]:
    liver = condition("c2", "icd10cm", "C78.7", onset or "x", recordedDate=recorded)
    if onset is None:
        del liver["onsetDateTime"]
    return liver


@pytest.mark.parametrize(
    ("liver", "therapy_start", "named"),
    [
        (_recorded_liver("2024-06-01"), "2023-02-01", True),
        (_recorded_liver("2024-06-01", onset="2024-05-20"), "2023-02-01", False),  # an onset is a date of its own
        (_recorded_liver("2024-06-01"), "2024-07-01", False),  # nothing began before it
    ],
)
def test_a_metastasis_dated_only_by_its_recording_is_named_when_therapy_began_before_it(
    engine, knowledge, liver, therapy_start, named
):
    from service.render import CardRenderer, RenderContext

    records = [
        patient(),
        condition("c1", "snomed", "254837009", "2022-01-10"),
        liver,
        observation("o1", "85319-2", "2022-01-15", valueCodeableConcept={"text": "3+"}),
        statement("m1", "Phesgo", therapy_start, "2024-12-01"),
    ]
    evaluation = evaluate(engine, records)
    details = " ".join(card.get("detail", "") for card in CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1")))
    assert ("dated only by the day it was recorded" in details and "Condition/c2" in details) is named


@pytest.mark.parametrize(("dated", "therapy", "named"), [(False, True, True), (True, True, False), (False, False, False)])
def test_metastatic_disease_no_record_dates_is_named_when_therapy_is_read_as_metastatic(engine, knowledge, dated, therapy, named):
    """A liver metastasis with no onset and no recorded date: every therapy on record, the adjuvant
    paclitaxel + trastuzumab of 2019 too, was read as a metastatic line with nothing to say why (the
    history reads "Line 1: paclitaxel + trastuzumab, completed"). The data card now says so and names the
    record whose date is missing."""
    from service.render import CardRenderer, RenderContext

    liver = condition("c2", "snomed", "94381002", "2024-02-01")
    if not dated:
        del liver["onsetDateTime"]
    records = [patient(), condition("c1", "snomed", "254837009", "2019-01-10"), liver]
    records.append(observation("o1", "85319-2", "2019-01-15", valueCodeableConcept={"text": "3+"}))
    if therapy:
        records += [
            statement("m1", "Herceptin", "2019-02-01", "2020-02-01"),
            statement("m2", "Taxol", "2019-02-01", "2019-05-01"),
        ]
    evaluation = evaluate(engine, records)
    assert evaluation.extent.undated_by == (() if dated else ("Condition/c2",))
    details = " ".join(card.get("detail", "") for card in CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1")))
    assert ("Metastatic disease that no record dates \\(Condition/c2\\)" in details) is named
    if therapy:  # what the note explains: without a date, the 2019 course is a metastatic line
        assert (evaluation.history.current_number == 1) is not dated


# STU3 calls recordedDate assertedDate, DSTU2 dateRecorded; either dates a metastasis with no onset.
@pytest.mark.parametrize("element", ["recordedDate", "assertedDate", "dateRecorded"])
def test_a_metastasis_dated_by_an_older_name_of_its_recording(engine, element):
    liver = condition("c2", "icd10cm", "C78.7", "x", clinicalStatus="active", verificationStatus="confirmed")
    del liver["onsetDateTime"]
    liver[element] = "2024-06-01"
    evaluation = evaluate(engine, [patient(), condition("c1", "snomed", "254837009", "2022-01-10"), liver])
    found = [c for c in evaluation.record.conditions if c.role == "metastasis"]
    assert [(c.site, c.on, c.recorded_only) for c in found] == [("liver", date(2024, 6, 1), True)]


# A metastasis in the words clinicians use on problem lists: "mets", carcinomatosis, a malignant
# effusion, Spanish, and every site a name lists. "Liver mets" was not read at all.
@pytest.mark.parametrize(
    ("text", "sites"),
    [
        ("Liver mets", ["liver"]),
        ("Brain mets", ["brain"]),
        ("Mets to liver and bone", ["bone", "liver"]),
        ("Osseous metastases", ["bone"]),
        ("Bony metastatic disease", ["bone"]),
        ("CNS metastases", ["brain"]),
        ("Leptomeningeal carcinomatosis", ["leptomeninges"]),
        ("Leptomeningeal disease", ["leptomeninges"]),
        ("Carcinomatous meningitis", ["leptomeninges"]),
        ("Secondary malignant neoplasm of cerebral meninges", ["leptomeninges"]),
        ("Lymphangitic carcinomatosis", ["lung"]),
        ("Pleural effusion, malignant", ["pleura"]),
        ("Peritoneal carcinomatosis", ["other"]),
        ("Metástasis hepáticas y óseas", ["bone", "liver"]),
        ("Liver and axillary nodal mets", ["liver", "lymph-node"]),
        ("No mets", None),
        ("Pleural effusion", None),
        ("Rule out brain mets", None),
    ],
)
def test_a_metastasis_in_clinicians_words_is_read_with_every_site(engine, text, sites):
    record = {"resourceType": "Condition", "id": "t", "subject": {"reference": "Patient/p1"}, "code": {"text": text}}
    extent = evaluate(engine, [patient(), condition("bc", "snomed", "254837009", "2024-01-01"), record]).extent
    assert extent.metastatic is (sites is not None)
    assert list(extent.sites) == (sites or [])


# An ICD-10-CM C50 problem whose name says more than its code (Epic's problem names): the name's
# metastasis or stage IV is read, and the data card says so; a name denying it is not.
@pytest.mark.parametrize(
    ("text", "metastatic", "sites"),
    [
        ("Metastatic breast cancer to liver", True, ["liver"]),
        ("Breast cancer, right, with bone mets", True, ["bone"]),
        ("Stage IV breast cancer", True, []),
        ("Breast cancer cT2N1M1", True, []),
        ("Breast cancer, right, no evidence of metastasis", False, []),
        ("Right breast cancer (HCC)", False, []),  # HCC: Epic's risk-category tag, not a liver cancer
        ("Breast cancer with axillary lymph node metastasis", False, []),  # regional, not distant
    ],
)
def test_a_coded_primary_whose_name_states_its_spread_is_read_by_the_name(engine, text, metastatic, sites):
    primary = condition("bc", "icd10cm", "C50.911", "2024-01-01")
    primary["code"]["text"] = text
    evaluation = evaluate(engine, [patient(), primary])
    assert evaluation.extent.breast_cancer is True
    assert evaluation.extent.metastatic is metastatic and list(evaluation.extent.sites) == sites
    assert (evaluation.record.spread_from_name == ["Condition/bc"]) is (metastatic or "axillary" in text)
    assert evaluation.record.read_from_text == []


@pytest.mark.parametrize(
    ("code", "text", "sites"),
    [
        (coding("snomed", "128462008"), "Liver metastasis", ["liver"]),  # the code names no site, the name does
        (coding("icd10cm", "C79.9"), "Metastases to liver", ["liver"]),
        (coding("icd10cm", "C79.9"), None, ["other"]),
        (coding("icd10cm", "C80.0"), None, ["other"]),  # disseminated malignant neoplasm
        (coding("icd10cm", "C79.81"), "Secondary malignant neoplasm of breast", ["other"]),  # the breast is not a site word here
    ],
)
def test_a_metastasis_coded_without_a_site_takes_it_from_its_name(engine, code, text, sites):
    record = {"resourceType": "Condition", "id": "m", "subject": {"reference": "Patient/p1"}, "code": {"coding": [code]}}
    if text:
        record["code"]["text"] = text
    extent = evaluate(engine, [patient(), condition("bc", "snomed", "254837009", "2024-01-01"), record]).extent
    assert extent.metastatic is True and list(extent.sites) == sites


def test_the_data_card_says_a_metastasis_was_read_from_the_diagnosis_name(engine, knowledge):
    from service.render import CardRenderer, RenderContext

    primary = condition("bc", "icd10cm", "C50.911", "2024-01-01")
    primary["code"]["text"] = "Metastatic breast cancer to liver"
    cards = CardRenderer(knowledge).cards(evaluate(engine, [patient(), primary]), RenderContext("h", "p1"))
    assert "read from the name of the diagnosis" in cards[-1]["detail"] and "Condition/bc" in cards[-1]["detail"]


# A MedicationStatement with no effective[x]: its dosage's bounds, else the day it was asserted.
def _undated_statement(**extra: Any) -> dict[str, Any]:
    record = statement("ms", "Enhertu", "2025-02-01", status="active", **extra)
    del record["effectivePeriod"]
    return record


@pytest.mark.parametrize(
    ("extra", "start", "named"),
    [
        ({"dosage": [{"timing": {"repeat": {"boundsPeriod": {"start": "2025-02-01"}}}}]}, "2025-02-01", False),
        ({"dateAsserted": "2025-03-10"}, "2025-03-10", True),  # taken by then: dated so, and named
        ({}, None, False),  # no date at all: skipped and named, as before
    ],
)
def test_a_statement_without_effective_is_dated_by_its_dosage_or_its_assertion(engine, knowledge, extra, start, named):
    """A T-DXd statement dated only in dosage.timing or by dateAsserted was skipped (no date): the patient
    read as untreated and was offered first-line therapy."""
    records = [*_on_tdxd_with_status("Stable")[:4], _undated_statement(**extra)]
    evaluation = evaluate(engine, records)
    history = evaluation.assessment()["lineOfTherapy"].get("history", [])
    assert (history[0]["start"] if history else None) == start
    assert ("MedicationStatement/ms" in evaluation.record.dated_by_assertion) is named


@pytest.mark.parametrize(
    ("words", "sites"),
    [
        ("Lebermetastasen", ["liver"]),  # German compounds: the site is the part before "metasta"
        ("Knochenmetastasen", ["bone"]),
        ("Hirnmetastasen", ["brain"]),
        ("Symptomatische fokale Epilepsie bei zerebraler Metastasierung", ["brain"]),  # held-out c77 ("other" before)
        ("Lungenmetastasen und Lebermetastasen", ["liver", "lung"]),
        ("Ossäre Metastasen", ["bone"]),
        ("Hepatische Metastasen", ["liver"]),
        ("Keine Lebermetastasen", None),  # a German negation
        ("Sin metástasis hepáticas", None),
        ("Nonmetastatic breast cancer", None),
        # The words for "none" in other languages: "Nessuna metastasi cerebrale" had read as a metastasis.
        ("Nessuna metastasi cerebrale", None),
        ("Nessun segno di metastasi", None),
        ("Nenhuma metástase hepática", None),
        ("Ninguna metástasis ósea", None),
        ("Aucune métastase hépatique", None),
        ("Pas de métastase", None),
        ("Geen metastasen", None),
        ("Inga metastaser", None),
        ("Ingen levermetastas", None),
        ("Brak przerzutów, bez metastaz", None),
        ("Metastasi cerebrali", ["brain"]),  # Italian, Portuguese, French, Polish, Swedish, Dutch site words
        ("Metastasi epatiche e ossee", ["bone", "liver"]),
        ("Metástases ósseas e pulmonares", ["bone", "lung"]),
        ("Métastases hépatiques", ["liver"]),
        ("Przerzuty do mózgu", ["brain"]),
        ("Hjärnmetastaser", ["brain"]),
        ("Levermetastasen", ["liver"]),
        ("Metastasi epatiche e linfonodali", ["liver", "lymph-node"]),  # nodes beside a distant site
    ],
)
def test_german_metastasis_words_are_read(engine, words, sites):
    named = condition("m", "snomed", "x", "2025-01-01")
    named["code"] = {"text": words}
    assessment = evaluate(engine, [patient(), condition("bc", "snomed", "254837009", "2024-01-01"), named]).assessment()
    assert assessment.get("metastaticSites") == sites


@pytest.mark.parametrize(
    ("words", "sites", "metastatic"),
    [
        ("双肺多发转移瘤", ["lung"], True),  # held-out c10: Chinese words only, read as no site
        ("多发骨转移", ["bone"], True),
        ("肝转移，未见脑转移", ["liver"], True),  # a negation before its finding, in its own clause
        ("脳転移なし、肝転移", ["liver"], True),  # Japanese: the negation after it
        ("뇌 전이 없음, 간 전이", ["liver"], True),  # Korean
        ("脑膜转移", ["leptomeninges"], True),  # the meninges, not also the brain
        ("纵隔淋巴结转移", ["lymph-node"], True),  # mediastinal: a distant station
        ("腋窝淋巴结转移", None, False),  # axillary: regional
        ("疑似脑转移", None, False),  # suspected
        ("뇌 전이 의심", None, False),
        ("肝功能异常", None, False),  # abnormal liver function: no metastasis
    ],
)
def test_metastasis_words_in_chinese_japanese_and_korean_are_read(engine, words, sites, metastatic):
    named = condition("m", "snomed", "x", "2025-01-01")
    named["code"] = {"text": words}
    assessment = evaluate(engine, [patient(), condition("bc", "icd10cm", "C50.9", "2024-01-01"), named]).assessment()
    assert (assessment.get("metastaticSites"), assessment["metastatic"]) == (sites, metastatic)


@pytest.mark.parametrize(
    ("words", "breast_cancer"),
    [("左乳浸润性导管癌", True), ("右乳癌", True), ("乳がん", True), ("유방암", True), ("甲状腺乳头状癌", False)],
)
def test_a_breast_cancer_named_in_chinese_japanese_or_korean_is_read(engine, words, breast_cancer):
    named = condition("bc", "snomed", "x", "2024-01-01")
    named["code"] = {"text": words}
    assert evaluate(engine, [patient(), named]).assessment()["breastCancer"] is breast_cancer


@pytest.mark.parametrize(
    ("code", "words", "sites"),
    [
        (None, "Rib metastasis", ["bone"]),  # a bone by its name: read as an unnamed site ("other") before
        (None, "Skull metastases", ["bone"]),
        (None, "Metastasis to left femur", ["bone"]),
        (None, "Sternal and sacral metastases", ["bone"]),
        (None, "Malignant ascites", ["other"]),  # peritoneal spread: read as no metastasis before
        (None, "Malignant pericardial effusion", ["other"]),
        (None, "Ascites", None),  # not malignant: no spread
        (None, "Pleural effusion", None),
        ("J91.0", None, ["pleura"]),  # ICD-10-CM malignant pleural effusion, with no words beside it
        ("R18.0", None, ["other"]),  # malignant ascites
        ("I31.31", None, ["other"]),  # malignant pericardial effusion in diseases classified elsewhere
        ("R18.8", None, None),  # other ascites
    ],
)
def test_spread_named_by_a_bone_or_a_malignant_effusion_is_read(engine, code, words, sites):
    named = condition("m", "icd10cm", code or "x", "2025-01-01")
    if words:
        named["code"] = {"text": words}
    assessment = evaluate(engine, [patient(), condition("bc", "snomed", "254837009", "2024-01-01"), named]).assessment()
    assert assessment.get("metastaticSites") == sites


@pytest.mark.parametrize(
    ("text", "sites"),
    [
        ("Mediastinal lymphadenopathy, metastatic", ("lymph-node",)),
        ("Retroperitoneal adenopathy, metastatic breast cancer", ("lymph-node",)),
        ("Axillary lymphadenopathy, metastatic", ()),  # regional nodes: not distant disease
        ("Mediastinal lymphadenopathy", ()),  # enlarged nodes, no metastasis stated
    ],
)
def test_lymphadenopathy_names_the_nodes(engine, text, sites):
    """ "Mediastinal lymphadenopathy, metastatic" was a metastasis of no known site ("other")."""
    record = {"resourceType": "Condition", "id": "t", "subject": {"reference": "Patient/p1"}, "code": {"text": text}}
    evaluation = evaluate(engine, [patient(), condition("bc", "snomed", "254837009", "2024-01-01"), record])
    assert evaluation.extent.sites == sites and evaluation.extent.metastatic is bool(sites)


def test_an_order_per_cycle_completed_on_its_day_keeps_the_line_running(engine):
    """Epic's treatment plans write one MedicationRequest per cycle, completed, valid for the day of the
    infusion: a patient three weeks after cycle 6 of THP is on treatment (and her last LVEF, five months old,
    is overdue), not off treatment since the last infusion."""
    base = [r for r in her2_positive_liver_patient() if r["resourceType"] not in ("MedicationStatement",)]
    base = [r for r in base if r.get("id") != "o3"]  # no progression

    def order(rid: str, text: str, day: str) -> dict[str, Any]:
        return {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": "completed",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"text": text},
            "authoredOn": day,
            "dispenseRequest": {"validityPeriod": {"start": day, "end": day}},
        }

    days = [date.fromordinal(date(2026, 4, 28).toordinal() - 21 * i).isoformat() for i in range(6)]
    drugs = ("Perjeta 420 mg", "Herceptin 150 mg", "DOCEtaxel 20 mg/mL")
    orders = [order(f"c{i}-{j}", drug, day) for i, day in enumerate(days) for j, drug in enumerate(drugs)]
    assessment = engine.evaluate("p1", [*base, *orders], date(2026, 5, 19)).assessment()
    assert assessment["lineOfTherapy"]["status"] == "on-treatment"
    assert "end" not in assessment["lineOfTherapy"]["history"][0]
    assert "lvef-monitoring-overdue" in assessment["alerts"]


def test_synthea_s_stopped_order_and_administration_per_cycle_keep_the_line_running(engine):
    """Synthea writes each chemotherapy cycle as a MedicationRequest "stopped" on its day (no reason) and a
    MedicationAdministration (tests/synthea/CODES.md): the stopped order had ended the line on the day of
    its last infusion, so a patient between cycles read as off treatment."""
    base = [r for r in her2_positive_liver_patient() if r["resourceType"] != "MedicationStatement" and r.get("id") != "o3"]
    records: list[dict[str, Any]] = []
    for i in range(4):
        day = date.fromordinal(date(2026, 5, 10).toordinal() - 21 * i).isoformat()
        kadcyla = {"coding": [coding("rxnorm", "1658356", "ado-trastuzumab emtansine 100 MG Injection [Kadcyla]")]}
        records += [
            {"resourceType": "Medication", "id": f"med{i}", "code": kadcyla},
            {
                "resourceType": "MedicationRequest",
                "id": f"req{i}",
                "status": "stopped",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "medicationReference": {"reference": f"Medication/med{i}"},
                "authoredOn": day,
            },
            {
                "resourceType": "MedicationAdministration",
                "id": f"adm{i}",
                "status": "completed",
                "subject": {"reference": "Patient/p1"},
                "medicationCodeableConcept": kadcyla,
                "effectiveDateTime": day,
            },
        ]
    assessment = engine.evaluate("p1", [*base, *records], date(2026, 6, 1)).assessment()
    assert assessment["lineOfTherapy"]["status"] == "on-treatment"
    assert assessment["lineOfTherapy"]["history"] == [{"line": 1, "agents": ["trastuzumab-emtansine"], "start": "2026-03-08"}]


@pytest.mark.parametrize(
    ("words", "metastatic"),
    [
        # An ipsilateral axillary metastasis whose words deny the distant stations (held-out u69): regional.
        ("Adenopatia axilar derecha homolateral metastasica; sin adenopatias contralaterales ni supraclaviculares", False),
        ("Right axillary nodal metastasis, no contralateral or cervical adenopathy", False),
        # ...and one they name: distant.
        ("Contralateral axillary nodal metastasis, no other sites", True),
    ],
)
def test_a_distant_station_a_nodes_words_deny_is_not_named(engine, words, metastatic):
    breast = condition("bc", "icd10cm", "C50.411", "2026-01-10")
    lymph = {**condition("ln", "icd10cm", "C77.3", "2026-01-20"), "code": {"coding": [coding("icd10cm", "C77.3")], "text": words}}
    assert evaluate(engine, [patient(), breast, lymph]).extent.metastatic is metastatic


@pytest.mark.parametrize(
    ("name", "note"),
    [
        # The metastasis's own name gives the other cancer; its note's mention of the breast does not outweigh it.
        ("Metastatic papillary thyroid carcinoma, left lateral cervical lymph nodes", "Contralateral to the breast cancer."),
        ("Lymphknotenmetastase Leiste rechts (Sentinel) – Melanom", None),  # German "Melanom" (held-out f85)
    ],
)
def test_a_metastasis_named_for_another_cancer_is_that_cancers(engine, name, note):
    """Held-out f90 and f85: a thyroid cancer's and a melanoma's node metastases had been sites of the breast cancer."""
    node = {**condition("ln", "icd10cm", "C77.0", "2024-11-19"), "code": {"coding": [coding("icd10cm", "C77.0")], "text": name}}
    if note:
        node["note"] = [{"text": note}]
    records = [
        patient(),
        condition("bc", "icd10cm", "C50.911", "2020-08-11"),
        condition("liver", "icd10cm", "C78.7", "2022-09-14"),
        condition("other", "icd10cm", "C43.7" if "Melanom" in name else "C73", "2016-04-07"),
        node,
    ]
    assert evaluate(engine, records).extent.sites == ("liver",)


CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"


@pytest.mark.parametrize(("resected", "brain"), [("2026-04-08", True), ("2025-11-20", False)])
def test_a_metastasis_resected_while_its_breast_primary_was_found_is_the_breast_cancers(engine, resected, brain):
    """A de novo stage IV presenting with a seizure: the brain metastasis resected and marked resolved on
    8 April, the breast primary found on 20 April. Its abatement before the primary had made it another
    cancer's, and the brain warning was lost (held-out g85); one that ended longer than the staging time
    frame (terminology.yaml regional_nodes staging_days) before the primary still is another cancer's."""
    metastasis = {
        **condition("brain", "icd10cm", "C79.31", "2026-03-30", abatementDateTime=resected),
        "clinicalStatus": {"coding": [{"system": CLINICAL_STATUS, "code": "resolved"}]},
    }
    records = [
        patient(),
        metastasis,
        condition("bone", "icd10cm", "C79.51", "2026-04-22"),
        condition("bc", "icd10cm", "C50.912", "2026-04-20"),
        observation("ihc", "85319-2", "2026-04-24", valueCodeableConcept={"text": "3+"}),
    ]
    if not brain:
        metastasis["onsetDateTime"] = "2025-10-30"
    assessment = evaluate(engine, records).assessment()
    assert ("brain" in assessment["metastaticSites"]) is brain
    assert ("brain-metastases" in assessment.get("alerts", [])) is brain


@pytest.mark.parametrize(
    ("abatement", "metastatic_since"),
    [
        ({"abatementDateTime": "2015-06-23"}, "2026-05-08"),  # resected in 2015: another cancer's
        ({"abatementPeriod": {"start": "2015-06-01", "end": "2015-06-23"}}, "2026-05-08"),
        # No abatement, or one after the breast cancer was recorded: found eleven years before the breast cancer,
        # beside a colon cancer, it is that cancer's all the same (held-out r46, 2026-12-07; it had counted).
        ({}, "2026-05-08"),
        ({"abatementDateTime": "2026-05-20"}, "2026-05-08"),
    ],
)
def test_a_metastasis_that_ended_before_the_breast_cancer_was_recorded_is_another_cancers(engine, abatement, metastatic_since):
    """A colorectal liver metastasis resected in 2015, eleven years before a HER2+ breast cancer with liver
    metastases: it had dated the metastatic breast cancer from 2015, so FOLFOX (oxaliplatin, 2015) was
    "an anticancer drug given since the metastatic diagnosis" and no first line was offered."""
    records = [
        patient(),
        condition("colon", "icd10cm", "C18.7", "2015-03-10", abatementDateTime="2016-01-26"),
        {**condition("old-liver", "icd10cm", "C78.7", "2015-03-18"), **abatement},
        statement("folfox", "oxaliplatin 85 mg/m2 (FOLFOX)", "2015-07-21", "2015-12-22"),
        condition("bc", "icd10cm", "C50.412", "2026-05-04"),
        condition("liver", "icd10cm", "C78.7", "2026-05-08"),
        observation("ihc", "85319-2", "2026-05-12", valueCodeableConcept={"text": "3+"}),
    ]
    evaluation = evaluate(engine, records)
    assert evaluation.extent.metastatic and evaluation.extent.sites == ("liver",)
    assert evaluation.extent.metastatic_date == date.fromisoformat(metastatic_since)
    if metastatic_since == "2026-05-08":
        assessment = evaluation.assessment()
        assert assessment["recommendedLine"] == 1 and "history-incomplete" not in assessment.get("alerts", [])


@pytest.mark.parametrize(
    ("primary", "node", "metastatic"),
    [
        # The contract's distant station: an axillary node on the other side (AJCC M1).
        (("C50.412", "Breast cancer, left"), ("right axillary lymph node metastasis", None), True),
        (("C50.412", "Breast cancer"), ("Axillary lymph node metastasis", "Right axilla"), True),  # the side in bodySite
        (("C50.911", "Breast cancer"), ("Left supraclavicular lymph node metastasis", None), True),  # right breast (code)
        # The same side, no side named, or a cancer of both breasts: regional.
        (("C50.412", "Breast cancer, left"), ("Left axillary lymph node metastasis", None), False),
        (("C50.412", "Breast cancer, left"), ("Axillary lymph node metastasis", None), False),
        (("C50.919", "Breast cancer, bilateral"), ("Right axillary lymph node metastasis", None), False),
        # The sides in other languages' words (terminology.yaml laterality_words, laterality_script_words).
        (("C50.9", "Carcinoma de mama izquierda"), ("Metástasis ganglionar axilar derecha", None), True),
        (("C50.9", "Carcinoma de mama izquierda"), ("Metástasis ganglionar axilar izquierda", None), False),
        (("C50.9", "右乳腺癌"), ("左腋窝淋巴结转移", None), True),
        (("C50.9", "Cancer du sein droit"), ("Adénopathie axillaire gauche métastatique", None), True),
        (("C50.9", "Sol meme CA"), ("Sağ aksiller LAP (metastatik)", None), True),  # Turkish (held-out y52)
        (("C50.9", "Sağ meme CA"), ("Sağ aksiller LAP (metastatik)", None), False),
        (("C50.9", "Cancer mamar stâng"), ("Adenopatie axilară dreapta", None), True),  # Romanian
        # Radiology's "SOL" (a space-occupying lesion) is no Turkish "sol" (left): the right breast's left axilla is distant.
        (("C50.9", "Right breast SOL, biopsy: IDC"), ("Left axillary lymph node metastasis", None), True),
    ],
)
def test_a_regional_node_on_the_other_side_than_the_breast_cancer_is_distant(engine, primary, node, metastatic):
    """An axillary (or clavicular, internal mammary) node opposite the only breast with cancer is contralateral:
    distant disease. It had been regional unless its words said "contralateral": a right axillary
    metastasis of a left breast cancer read as not metastatic."""
    code, text = primary
    breast = {**condition("bc", "icd10cm", code, "2023-03-14"), "code": {"coding": [coding("icd10cm", code)], "text": text}}
    words, body = node
    lymph = {**condition("ln", "icd10cm", "C77.3", "2026-04-20"), "code": {"coding": [coding("icd10cm", "C77.3")], "text": words}}
    if body:
        lymph["bodySite"] = [{"text": body}]
    extent = evaluate(engine, [patient(), breast, lymph]).extent
    assert extent.metastatic is metastatic
    assert extent.sites == (("lymph-node",) if metastatic else ())


@pytest.mark.parametrize(
    ("primary", "node", "sites"),
    [
        # A node its record names at a regional station is regional disease (AJCC N): no site of the
        # metastatic disease, though distant disease is recorded. It had been listed (seven testers).
        (("C50.412", "Breast cancer, left"), ("C77.3", "Left axillary lymph node metastasis", None), ["liver"]),
        (("C50.412", "Breast cancer"), ("C77.3", "Axillary lymph node metastasis", "Left axilla"), ["liver"]),
        (("C50.911", "Breast cancer"), ("C77.0", "Right supraclavicular lymph node metastasis", None), ["liver"]),
        (("C50.911", "Breast cancer"), ("C77.0", "Supraclavicular lymph node metastasis", None), ["liver"]),
        (("C50.911", "Breast cancer"), ("C77.1", "Internal mammary lymph node metastasis", None), ["liver"]),
        (("C50.911", "Breast cancer"), ("C77.3", "Sentinel lymph node metastasis", None), ["liver"]),
        (("C50.9", "左乳浸润性导管癌"), ("C77.3", "左腋窝淋巴结转移", None), ["liver"]),
        (("C50.9", "Carcinoma de mama izquierda"), ("C77.3", "Metástasis ganglionar axilar izquierda", None), ["liver"]),
        # An axillary node of no side, the breast cancer's side known: its own axilla (held-out e47).
        (("C50.412", "Breast cancer, left"), ("C77.3", "Axillary lymph node metastasis", None), ["liver"]),
        # No station named, or an axillary node of a breast cancer whose side is not known: it may be
        # distant, a site once distant disease is recorded (contract: with stage IV / M1).
        (("C50.919", "Breast cancer"), ("C77.3", "Axillary lymph node metastasis", None), ["liver", "lymph-node"]),
        (("C50.919", "Breast cancer"), ("C77.3", "Left axillary lymph node metastasis", None), ["liver", "lymph-node"]),
        (("C50.412", "Breast cancer, left"), ("C77.9", "Lymph node metastases", None), ["liver", "lymph-node"]),
        # The station on the other side: contralateral, distant (in Spanish and Finnish words too).
        (
            ("C50.9", "Carcinoma de mama izquierda"),
            ("C77.3", "Metástasis ganglionar axilar derecha", None),
            ["liver", "lymph-node"],
        ),
        (("C50.9", "Vasemman rinnan syöpä"), ("C77.3", "Oikean kainalon imusolmukemetastaasi", None), ["liver", "lymph-node"]),
        # Greek as its systems write it, with its accents or without them (capitals carry none; held-out a90).
        (("C50.9", "Καρκίνος αριστερού μαστού"), ("C77.3", "Μεταστάσεις δεξιάς μασχάλης", None), ["liver", "lymph-node"]),
        (("C50.9", "Ca μαστου αριστερα"), ("C77.3", "Ετεροπλευροι μασχαλιαιοι λεμφαδενες", None), ["liver", "lymph-node"]),
        (("C50.9", "ΚΑΡΚΙΝΟΣ ΑΡΙΣΤΕΡΟΥ ΜΑΣΤΟΥ"), ("C77.3", "ΜΕΤΑΣΤΑΣΕΙΣ ΔΕΞΙΑΣ ΜΑΣΧΑΛΗΣ", None), ["liver", "lymph-node"]),
        (("C50.9", "ΚΑΡΚΙΝΟΣ ΑΡΙΣΤΕΡΟΥ ΜΑΣΤΟΥ"), ("C77.3", "ΜΕΤΑΣΤΑΣΕΙΣ ΑΡΙΣΤΕΡΗΣ ΜΑΣΧΑΛΗΣ", None), ["liver"]),
    ],
)
def test_a_node_named_at_a_regional_station_is_no_site_of_the_metastatic_disease(engine, primary, node, sites):
    code, text = primary
    breast = {**condition("bc", "icd10cm", code, "2026-01-10"), "code": {"coding": [coding("icd10cm", code)], "text": text}}
    node_code, words, body = node
    lymph = {
        **condition("ln", "icd10cm", node_code, "2026-04-20"),
        "code": {"coding": [coding("icd10cm", node_code)], "text": words},
    }
    if body:
        lymph["bodySite"] = [{"text": body}]
    liver = condition("liver", "icd10cm", "C78.7", "2026-04-20")
    extent = evaluate(engine, [patient(), breast, lymph, liver]).extent
    assert extent.metastatic and list(extent.sites) == sites


def test_secondary_to_gives_a_cause_not_a_metastasis(engine):
    """ICD-10-CM D70.1's name, "Agranulocytosis secondary to cancer chemotherapy", had read as a
    metastasis of an unnamed site ("other")."""
    neutropenia = condition("fn", "icd10cm", "D70.1", "2024-10-13")
    neutropenia["code"]["coding"][0]["display"] = "Agranulocytosis secondary to cancer chemotherapy"
    records = [*her2_positive_liver_patient()[:3], neutropenia]
    assert evaluate(engine, records).assessment()["metastaticSites"] == ["liver"]


def test_receptor_results_contained_in_a_panel_are_read(engine):
    """A laboratory's panel (a code of no kind the rules read) holding HER2, ER and PR as contained
    Observations named by hasMember "#id"; the one with no date of its own takes the panel's. None of
    them had been read: HER2 unknown, no options."""
    her2 = observation("her2", "85319-2", "2026-05-08", valueCodeableConcept={"text": "3+"})
    er = observation("er", "85337-4", "2026-05-08", valueCodeableConcept={"text": "Positive, 40%"})
    del er["effectiveDateTime"]
    not_a_member = observation("pr", "85339-0", "2026-05-08", valueCodeableConcept={"text": "Positive, 30%"})
    panel = {
        "resourceType": "Observation",
        "id": "panel",
        "status": "final",
        "code": {"text": "Breast biomarker panel"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-05-08",
        "contained": [her2, er, not_a_member],
        "hasMember": [{"reference": "#her2"}, {"reference": "#er"}],
    }
    evaluation = evaluate(engine, [*her2_positive_liver_patient()[:3], panel])
    assessment = evaluation.assessment()
    assert (assessment["her2"], assessment["hormoneReceptor"]) == ("positive", "positive")
    assert {r.record_id for r in evaluation.record.receptors} == {"her2", "er"}  # PR is no member: not read
    assert "receptor-retest" not in assessment.get("alerts", [])  # the undated member took the panel's date


def test_danish_sks_diagnosis_codes_are_read_as_icd10(engine):
    """Denmark's SKS writes ICD-10 behind a "D" (DC504, DC787); no ICD-10 code has a letter second."""
    sks = "urn:oid:1.2.208.176.2.4"
    records = [condition("bc", sks, "DC504", "2024-01-01"), condition("m", sks, "DC787", "2025-01-01")]
    assessment = evaluate(engine, [patient(), *records]).assessment()
    assert (assessment["breastCancer"], assessment["metastaticSites"]) == (True, ["liver"])


@pytest.mark.parametrize(("onset", "metastatic_since"), [("1900-01-01", "2025-06-12"), ("2025-06-10", "2025-06-10")])
def test_an_onset_before_the_patient_was_born_is_a_placeholder_not_a_date(engine, onset, metastatic_since):
    """Held-out l36: a legacy migration's liver metastasis with onset 1900-01-01 (the patient born 1966) had
    dated the metastatic disease 1900 and made the 2022 adjuvant course a first line. Such an onset is no
    date: the record's own ``recordedDate`` dates it, as for a record with no onset."""
    liver = condition("liver", "snomed", "94381002", onset, recordedDate="2025-06-12")
    resources = [patient(), condition("bc", "snomed", "254837009", "2022-03-15"), liver]
    evaluation = evaluate(engine, resources)
    assert evaluation.extent.metastatic_date == date.fromisoformat(metastatic_since)
    # No birth date to compare with (none sent, or not a date): the onset is read as written.
    for unknown in ({"birthDate": "not a date"}, {"birthDate": None}):
        born_unknown = {key: value for key, value in {**patient(), **unknown}.items() if value is not None}
        assert evaluate(engine, [born_unknown, *resources[1:]]).extent.metastatic_date == date.fromisoformat(onset)


@pytest.mark.parametrize(
    ("code", "metastatic"), [("80248007", True), ("7771000", True), ("73056007", False), ("24028007", False)]
)
def test_the_side_a_breast_cancers_body_site_code_names_is_read_without_its_display(engine, code, metastatic):
    """Held-out y52: the primary's side was read from its bodySite's display ("Right breast structure") only, so
    with codes sent without displays a right axillary node of a right breast cancer had no side to compare with.
    The SNOMED CT breast structures and laterality qualifiers name it (terminology.yaml laterality_snomed)."""
    breast = {**condition("bc", "icd10cm", "C50.9", "2023-03-14"), "bodySite": [{"coding": [coding("snomed", code)]}]}
    lymph = {
        **condition("ln", "icd10cm", "C77.3", "2026-04-20"),
        "code": {"coding": [coding("icd10cm", "C77.3")], "text": "Right axillary node"},
    }
    extent = evaluate(engine, [patient(), breast, lymph]).extent
    assert extent.metastatic is metastatic


@pytest.mark.parametrize("code", ["С78.7", "C78.7", "С787"])  # the first and last with a Cyrillic Es
def test_a_cyrillic_capital_typed_for_its_latin_twin_in_an_icd10_code(engine, code):
    """Held-out c95: a Samara chart's bone metastasis keyed "С79.5" with a Cyrillic Es, as a Russian keyboard types
    it, had named no site. An ICD-10 code's Cyrillic and Greek capitals are read as their Latin twins."""
    records = [condition("bc", "icd10cm", "C50.8", "2024-01-01"), condition("m", "icd10cm", code, "2025-01-01")]
    assessment = evaluate(engine, [patient(), *records]).assessment()
    assert (assessment["metastatic"], assessment["metastaticSites"]) == (True, ["liver"])


@pytest.mark.parametrize(
    "display",
    [
        "Tumeur maligne du sein gauche, sans précision, chez la femme",  # French ICD-10 (held-out ad3)
        "Bösartige Neubildung: Brustdrüse, nicht näher bezeichnet",
        "Tumor maligno de la mama, parte no especificada",
        None,
    ],
)
def test_an_icd_10_title_saying_unspecified_in_its_language_denies_nothing(engine, display):
    """A French ICD-10 display "Tumeur maligne du sein gauche, sans précision" beside the problem's own words,
    "métastatique d'emblée": the primary's stage IV is read as when no display is sent ("sans précision" is
    ICD-10's "unspecified", as "not otherwise specified" is, not a negation of the whole problem)."""
    primary = condition("bc", "icd10cm", "C50.912", "2024-01-01")
    primary["code"]["text"] = "Carcinome mammaire gauche HER2+ RH+ métastatique d'emblée"
    if display:
        primary["code"]["coding"][0]["display"] = display
    evaluation = evaluate(engine, [patient(), primary])
    assert evaluation.extent.metastatic is True
    assert evaluation.record.spread_from_name == ["Condition/bc"]


def test_hx_alone_is_a_history_of_breast_cancer(engine):
    """Held-out ap8: a survivorship claim's Z85.3, "Hx breast cancer", sent without its display: a history of breast
    cancer, as "history of" and "hx of" are, not a breast primary read from its words."""
    history = condition("h", "icd10cm", "Z85.3", "2026-01-10")
    history["code"]["text"] = "Hx breast cancer (survivorship visit claim)"
    evaluation = evaluate(engine, [patient(), history])
    assert [c.role for c in evaluation.record.conditions] == ["history"]
    assert evaluation.record.read_from_text == []
