"""A metastasis whose record names another primary cancer as its own (mCODE's related-primary extension).

A held-out patient (j20) had an HER2-positive breast cancer treated in 2019-2020, then a sigmoid colon
cancer in 2025 whose liver metastasis named the colon Condition in mCODE's
mcode-related-primary-cancer-condition extension. It was read as the breast cancer's: metastatic, the
colon cancer's FOLFOX read as an unknown anticancer line (history-incomplete).
"""

from __future__ import annotations

from datetime import date

from service.engine import Engine
from tests.conftest import condition, patient

NOW = date(2026, 6, 1)
RELATED = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-primary-cancer-condition"


def _records(related: str | None) -> list[dict]:
    liver = condition("liver", "snomed", "94381002", "2025-12-02")
    if related:
        liver["extension"] = [{"url": RELATED, "valueReference": {"reference": related}}]
    return [
        patient(),
        condition("breast", "icd10cm", "C50.912", "2019-03-01"),
        condition("colon", "icd10cm", "C18.7", "2025-11-20"),
        liver,
    ]


def test_a_metastasis_of_another_primary_is_not_the_breast_cancers(engine: Engine):
    extent = engine.evaluate("p1", _records("Condition/colon"), NOW).extent
    assert extent.breast_cancer and not extent.metastatic and extent.sites == ()


def test_a_metastasis_naming_the_breast_primary_or_nothing_counts(engine: Engine):
    for related in ("Condition/breast", None):
        extent = engine.evaluate("p1", _records(related), NOW).extent
        assert extent.metastatic and extent.sites == ("liver",), related
