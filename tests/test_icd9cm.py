"""ICD-9-CM problem lists (mappings/codes.yaml icd9cm_crosswalk): legacy US records, C-CDA conversions,
Italian and Israeli hospitals. Each ICD-9-CM code is read as the ICD-10-CM code its crosswalk gives, then
by the ICD-10-CM rules; a patient so coded had read as no breast cancer.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.engine import Engine
from service.read.conditions import ConditionReader
from tests.conftest import condition, her2_positive_liver_patient, patient

NOW = date(2026, 6, 1)
ICD9 = "http://hl7.org/fhir/sid/icd-9-cm"
ICD9_DIAGNOSES_OID = "urn:oid:2.16.840.1.113883.6.103"
ICD9_OID = "urn:oid:2.16.840.1.113883.6.2"


def _assessment(engine: Engine, records: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    evaluation = engine.evaluate("p1", [patient(), *records], NOW)
    return evaluation.assessment(), evaluation.record.read_from_text


@pytest.mark.parametrize("system", [ICD9, ICD9_DIAGNOSES_OID, ICD9_OID])
@pytest.mark.parametrize(
    "codes",
    [
        ("174.4", "197.7", "198.5"),  # female breast, upper-outer quadrant; liver; bone
        ("1744", "1977", "1985"),  # without their dots (claims data)
        ("175.9", "197.7", "198.5"),  # male breast
    ],
)
def test_an_icd9cm_breast_cancer_with_liver_and_bone_metastases_is_read(engine, system, codes):
    breast, liver, bone = codes
    records = [
        condition("bc", system, breast, "2024-01-01"),
        condition("m1", system, liver, "2025-01-01"),
        condition("m2", system, bone, "2025-02-01"),
    ]
    assessment, from_text = _assessment(engine, records)
    assert (assessment["breastCancer"], assessment["metastatic"]) == (True, True)
    assert assessment["metastaticSites"] == ["bone", "liver"]
    assert from_text == []  # by code, not by words


@pytest.mark.parametrize(
    ("code", "site"),
    [
        ("198.3", "brain"),  # brain and spinal cord: read as the brain, as C79.3 is
        ("1983", "brain"),
        ("197.0", "lung"),
        ("197.2", "pleura"),
        ("196.5", "lymph-node"),  # inguinal nodes: distant
        ("198.81", "other"),  # the other breast
        ("199.0", "other"),  # disseminated
    ],
)
def test_each_icd9cm_metastasis_is_read_at_its_site(engine, code, site):
    records = [condition("bc", ICD9, "174.9", "2024-01-01"), condition("m", ICD9, code, "2025-01-01")]
    assessment, _ = _assessment(engine, records)
    assert (assessment["breastCancer"], assessment["metastatic"], assessment["metastaticSites"]) == (True, True, [site])


@pytest.mark.parametrize("code", ["196.3", "1963"])
def test_an_icd9cm_axillary_node_is_regional_not_metastatic(engine, code):
    records = [condition("bc", ICD9, "174.9", "2024-01-01"), condition("n", ICD9, code, "2024-01-01")]
    assessment, _ = _assessment(engine, records)
    assert (assessment["breastCancer"], assessment["metastatic"]) == (True, False)


@pytest.mark.parametrize("history", ["V10.3", "V103", "v10.3"])
def test_an_icd9cm_history_of_breast_cancer_with_a_bone_metastasis_is_the_breast_cancer(engine, history):
    records = [condition("h", ICD9_DIAGNOSES_OID, history, "2019-05-01"), condition("m", ICD9, "198.5", "2025-01-01")]
    evaluation = engine.evaluate("p1", [patient(), *records], NOW)
    assessment = evaluation.assessment()
    assert (assessment["breastCancer"], assessment["metastatic"], assessment["metastaticSites"]) == (True, True, ["bone"])
    assert evaluation.extent.breast_cancer_history is True


def test_an_icd9cm_history_alone_is_no_current_breast_cancer(engine):
    extent = engine.evaluate("p1", [patient(), condition("h", ICD9, "V10.3", "2019-05-01")], NOW).extent
    assert (extent.breast_cancer, extent.breast_cancer_history) == (False, True)


@pytest.mark.parametrize("code", ["428.0", "4280", "428.22", "425.4"])
def test_icd9cm_heart_failure_and_cardiomyopathy_are_read(engine, code):
    record = condition("hf", ICD9, code, "2025-05-01")
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    found = evaluation.safety.heart_failure
    assert found is not None and found.record_id == "hf" and found.active
    assert "Condition/hf" not in evaluation.record.read_from_text


@pytest.mark.parametrize("code", ["515", "516.3", "516.31", "51631"])
def test_icd9cm_interstitial_lung_disease_is_read(engine, code):
    record = condition("ild", ICD9, code, "2025-05-01")
    evaluation = engine.evaluate("p1", [*her2_positive_liver_patient(), record], NOW)
    found = evaluation.safety.lung_disease
    assert found is not None and found.record_id == "ild"
    assert evaluation.safety.heart_failure is None


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (ICD9, "233.0"),  # carcinoma in situ of breast: not an invasive breast cancer
        (ICD9, "17"),  # no category
        (ICD9, "17.44"),  # a procedure's dot, not a diagnosis's
        (ICD9, "C50.9"),  # an ICD-10 code under ICD-9-CM's system is not read as ICD-10
        (ICD9, "162.9"),  # lung cancer: not in the crosswalk, ignored as before
        ("urn:oid:2.16.840.1.113883.6.104", "174.9"),  # ICD-9-CM procedures' OID
        ("urn:local:ICD9", "174.9"),  # a local system: not known as ICD-9-CM
    ],
)
def test_what_the_crosswalk_does_not_list_is_not_read(engine, system, code):
    assessment, _ = _assessment(engine, [condition("bc", system, code, "2024-01-01")])
    assert assessment["breastCancer"] is False


def test_an_icd9cm_code_outside_the_crosswalk_leaves_the_rest_of_the_record_as_it_was(engine):
    records = [condition("bc", ICD9, "174.9", "2024-01-01"), condition("x", ICD9, "162.9", "2025-01-01")]
    assessment, _ = _assessment(engine, records)
    assert (assessment["breastCancer"], assessment["metastatic"]) == (True, False)


def test_the_crosswalk_reads_each_icd9cm_prefix_as_its_icd10cm_code(knowledge):
    """The longest listed prefix wins, with or without the dot; the reader's view of codes.yaml."""
    reader = ConditionReader(knowledge)
    expected = {
        "174.4": "C50",
        "1759": "C50",
        "196.0": "C77.0",
        "196.5": "C77.4",
        "196.6": "C77.5",
        "197.8": "C78.8",
        "198.3": "C79.3",
        "198.81": "C79.81",
        "19889": "C79.89",
        "199.0": "C80.0",
        "V10.3": "Z85.3",
        "233.0": "D05",
        "428.9": "I50",
        "425.5": "I42",
        "515": "J84",
        "516.35": "J84",
        "198.8": None,  # no fifth digit: 198.8 alone is listed under no prefix
        "196": None,
        "V10.4": None,
        "": None,
    }
    assert {code: reader._icd9cm_as_icd10cm(code) for code in expected} == expected
