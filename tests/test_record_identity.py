"""Whose record is it: the patient named by identifier, a merged record's old id, a related primary's URL.

A held-out tester of references and identity (tests/heldout/l09-l18) sent records naming the patient by
medical record number alone, one naming another patient's number, and a chart merged from an older
record whose Conditions and orders still name the old Patient id. The service had read the other
patient's T-DXd as this patient's second line, and had dropped every record filed under the old id
(no breast cancer, no lines).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from service.engine import Engine
from tests.conftest import condition, observation, patient, statement

NOW = date(2026, 6, 1)
MRN = "urn:oid:1.2.840.114350.1.13.999.2.7.5.737384.14"


def _by_identifier(resource: dict[str, Any], value: str) -> dict[str, Any]:
    return {**resource, "subject": {"identifier": {"system": MRN, "value": value}, "display": "a patient"}}


def _chart(*extra: dict[str, Any], **patient_fields: Any) -> list[dict[str, Any]]:
    return [
        {**patient(), **patient_fields},
        condition("c1", "icd10cm", "C50.912", "2025-01-10"),
        condition("c2", "icd10cm", "C78.7", "2025-01-10"),
        observation("h1", "85319-2", "2025-01-15", valueString="3+"),
        statement("t1", "pertuzumab", "2025-02-01", status="active"),
        statement("t2", "trastuzumab", "2025-02-01", status="active"),
        *extra,
    ]


def _assessment(engine: Engine, resources: list[dict[str, Any]]) -> Any:
    return engine.evaluate("p1", resources, NOW)


def test_a_record_naming_another_medical_record_number_is_not_this_patients(engine: Engine):
    identified = {**patient(), "identifier": [{"system": MRN, "value": "E1001"}]}
    other = _by_identifier(statement("t3", "Enhertu", "2026-03-01", status="active"), "E2002")
    evaluation = _assessment(engine, [identified, *_chart(other)[1:]])
    assert evaluation.record.other_patients == ["MedicationStatement/t3"]
    assert [line["agents"] for line in evaluation.assessment()["lineOfTherapy"]["history"]] == [["pertuzumab", "trastuzumab"]]


def test_a_record_naming_this_patients_medical_record_number_is_read(engine: Engine):
    identified = {**patient(), "identifier": [{"system": MRN, "value": "E1001"}]}
    lvef = _by_identifier(observation("e1", "10230-1", "2026-05-01", valueQuantity={"value": 41, "unit": "%"}), "E1001")
    evaluation = _assessment(engine, [identified, *_chart(lvef)[1:]])
    assert evaluation.record.other_patients == []
    assert [lab.value for lab in evaluation.record.labs if lab.kind == "lvef"] == [41]


def test_an_identifier_of_a_system_the_patient_has_none_of_is_kept(engine: Engine):
    """Nothing tells whose it is: a prefetch holds the patient's records, so it is read (as before)."""
    lvef = _by_identifier(observation("e1", "10230-1", "2026-05-01", valueQuantity={"value": 41, "unit": "%"}), "E2002")
    evaluation = _assessment(engine, _chart(lvef))
    assert evaluation.record.other_patients == []


def test_a_merged_patients_old_records_are_this_patients(engine: Engine):
    """Patient.link "replaces" on this Patient, or "replaced-by" on the old one: both say the old id is hers."""
    old = [
        condition("c1", "icd10cm", "C50.912", "2025-01-10", patient="old-7"),
        condition("c2", "icd10cm", "C78.7", "2025-01-10", patient="old-7"),
    ]
    for chart in (
        [{**patient(), "link": [{"other": {"reference": "Patient/old-7"}, "type": "replaces"}]}, *old],
        [
            patient(),
            {**patient("old-7"), "active": False, "link": [{"other": {"reference": "Patient/p1"}, "type": "replaced-by"}]},
            *old,
        ],
    ):
        evaluation = _assessment(engine, chart)
        assert evaluation.record.other_patients == []
        assert evaluation.assessment()["metastaticSites"] == ["liver"]


def test_another_patients_old_id_stays_another_patients(engine: Engine):
    """A link between two other records, or one of another type ("seealso"), makes nobody this patient."""
    chart = [
        {**patient(), "link": [{"other": {"reference": "Patient/old-7"}, "type": "seealso"}]},
        {**patient("x9"), "link": [{"other": {"reference": "Patient/old-7"}, "type": "replaces"}]},
        condition("c1", "icd10cm", "C50.912", "2025-01-10", patient="old-7"),
    ]
    evaluation = _assessment(engine, chart)
    assert evaluation.record.other_patients == ["Condition/c1"]


def test_a_related_primary_named_by_an_absolute_or_versioned_url_is_matched(engine: Engine):
    """mCODE's related-primary extension naming the colon cancer by URL: its liver metastasis is the colon's."""
    extension = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-primary-cancer-condition"
    for reference in ("https://ehr.example.org/fhir/Condition/colon", "Condition/colon/_history/3"):
        liver = condition(
            "m1", "icd10cm", "C78.7", "2025-06-01", extension=[{"url": extension, "valueReference": {"reference": reference}}]
        )
        chart = [
            patient(),
            condition("b1", "icd10cm", "C50.912", "2015-01-10", clinicalStatus={"coding": [{"code": "resolved"}]}),
            condition("colon", "icd10cm", "C18.7", "2025-05-01"),
            liver,
        ]
        assert _assessment(engine, chart).assessment()["metastatic"] is False, reference


def test_a_patient_link_of_the_wrong_json_type_says_nothing(engine: Engine):
    """A Patient.link entry that is not an object, beside a record of another id, had raised AttributeError."""
    chart = [{**patient(), "link": ["Patient/old-7"]}, condition("c1", "icd10cm", "C50.912", "2025-01-10", patient="old-7")]
    assert _assessment(engine, chart).record.other_patients == ["Condition/c1"]
