"""Pathology checklists, units in other languages, and the day an order's drug was first given.

Held-out testers of CAP synoptic reports (tests/heldout/d11-d20), of Latin American and Indian records
(x11-x20) and of FHIR version drift (a11-a20) found: a checklist's "HER2 COMMENT" quoting the guideline's
"3+ positive", and an ISH group's definition ("<6.0 signals/cell") read as 6 copies per cell, made an ISH
group 4 tumour HER2-positive; an LVEF in "procent" coded "%", and liver enzymes in "UI/l", were skipped as
unreadable; orders written two days before the first infusion started the line on the day they were written.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.engine import Engine
from tests.conftest import condition, observation, patient
from tests.test_dispenses import administration

NOW = date(2026, 6, 1)
CHECKLIST = "http://lakeshore-med.example/powerpath/synoptic-item"


def _item(rid: str, code: str, name: str, value: str, when: str = "2026-01-28") -> dict[str, Any]:
    """A checklist question and its answer, coded only in the laboratory system's own codes."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": CHECKLIST, "code": code, "display": name}], "text": name},
        "effectiveDateTime": when,
        "valueString": value,
    }


def _metastatic() -> list[dict[str, Any]]:
    return [patient(), condition("c1", "icd10cm", "C50.912", "2026-01-20"), condition("c2", "icd10cm", "C79.51", "2026-01-20")]


GROUP_4 = [
    _item("o1", "HER2-IHC", "HER2 IHC SCORE", "Equivocal (Score 2+)"),
    _item(
        "o2",
        "HER2-ISH-GRP",
        "HER2 DUAL PROBE ISH GROUP",
        "Group 4 (HER2/CEP17 ratio <2.0 and average HER2 copy number >=4.0 and <6.0 signals/cell)",
    ),
    _item("o3", "HER2-ISH-RES", "HER2 ISH RESULT", "Negative (not amplified)"),
    _item("o5", "RATIO", "HER2/CEP17 RATIO", "1.59"),
]


def test_an_ish_group_4_report_is_not_her2_positive(engine: Engine):
    assessment = engine.evaluate("p1", [*_metastatic(), *GROUP_4], NOW).assessment()
    assert assessment["her2"] == "low"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HER2 COMMENT", "Per ASCO/CAP, IHC 3+ is positive; when IHC results are not 3+ positive, ISH is recommended."),
        ("HER2 CONTROLS", "Positive and negative controls appropriate"),
        ("ER ANTIBODY CLONE", "SP1"),
        ("PR METHOD", "Immunohistochemistry, positive control reviewed"),
        ("Kommentar HER2", "Score 3+ wäre positiv"),
    ],
)
def test_a_checklist_item_that_is_not_a_result_is_not_read(engine: Engine, name, value):
    record = engine.evaluate("p1", [*_metastatic(), *GROUP_4, _item("x", "ITEM", name, value)], NOW).record
    assert "x" not in {result.record_id for result in record.receptors}


def test_a_number_after_a_comparator_is_a_bound_not_a_copy_number(engine: Engine):
    record = engine.evaluate("p1", [*_metastatic(), *GROUP_4], NOW).record
    assert [result.number for result in record.receptors if result.kind == "her2-copies"] == []
    stated = _item("o4", "HER2-ISH-RES", "HER2 ISH RESULT", "Amplified: average HER2 copy number 6.5 signals/cell, ratio 2.4")
    record = engine.evaluate("p1", [*_metastatic(), stated], NOW).record
    assert [result.number for result in record.receptors if result.kind == "her2-copies"] == [6.5]


def _lvef(value: float, unit: str | None, code: str | None) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if unit:
        quantity["unit"] = unit
    if code:
        quantity |= {"system": "http://unitsofmeasure.org", "code": code}
    return observation("e1", "10230-1", "2026-05-01", valueQuantity=quantity)


@pytest.mark.parametrize(
    ("unit", "code"), [("procent", "%"), ("procent", None), ("Prozent", None), ("pourcent", None), (None, "%"), ("ml", "%")]
)
def test_an_ejection_fraction_in_a_percent_of_any_language_is_read(engine: Engine, unit, code):
    """The UCUM code wins over the unit's name; a name alone is read when it names a percent."""
    record = engine.evaluate("p1", [*_metastatic(), _lvef(58, unit, code)], NOW).record
    assert [lab.value for lab in record.labs if lab.kind == "lvef"] == [58]


def test_an_ejection_fraction_in_a_volume_is_still_not_read(engine: Engine):
    record = engine.evaluate("p1", [*_metastatic(), _lvef(58, "ml", None)], NOW).record
    assert [lab.value for lab in record.labs if lab.kind == "lvef"] == []


@pytest.mark.parametrize("unit", ["UI/l", "UI/L", "IE/l", "Ед/л", "МЕ/л", "Од/л"])  # Russian, Ukrainian (held-out g71)
def test_an_enzyme_in_international_units_of_any_language_is_read(engine: Engine, unit):
    ast = observation("a1", "1920-8", "2026-05-01", valueQuantity={"value": 151, "unit": unit})
    record = engine.evaluate("p1", [*_metastatic(), ast], NOW).record
    assert [(lab.kind, lab.value) for lab in record.labs] == [("ast", 151)]


@pytest.mark.parametrize(("unit", "value", "mg_dl"), [("мкмоль/л", 39.0, 39.0 / 17.1), ("мг/дл", 2.3, 2.3), ("мг/л", 23, 2.3)])
def test_a_bilirubin_in_cyrillic_units_is_read(engine: Engine, unit, value, mg_dl):
    """Held-out g71: a Russian laboratory's "мкмоль/л" with no UCUM code had been skipped as an unknown unit."""
    bilirubin = observation("b1", "1975-2", "2026-05-01", valueQuantity={"value": value, "unit": unit})
    record = engine.evaluate("p1", [*_metastatic(), bilirubin], NOW).record
    assert [lab.kind for lab in record.labs] == ["bilirubin-total"]
    assert record.labs[0].value * engine.knowledge.label_tables.liver_unit_factor("bilirubin-total", unit) == pytest.approx(mg_dl)


def _order(rid: str, drug: str, written: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": drug},
        "authoredOn": written,
    }


def _given(rid: str, drug: str, on: str) -> dict[str, Any]:
    return administration(rid, drug, f"{on}T10:30:00-05:00")


def _first_line_start(engine: Engine, records: list[dict[str, Any]]) -> str:
    history = engine.evaluate("p1", [*_metastatic(), *records], NOW).assessment()["lineOfTherapy"]["history"]
    return str(history[0]["start"])


def test_an_order_starts_when_its_drug_was_first_given(engine: Engine):
    records = [_order("r1", "trastuzumab", "2026-03-18"), _order("r2", "pertuzumab", "2026-03-18")]
    records += [_given("g1", "trastuzumab", "2026-03-20"), _given("g2", "pertuzumab", "2026-03-20")]
    assert _first_line_start(engine, records) == "2026-03-20"


def test_an_order_with_no_dose_soon_after_keeps_its_own_date(engine: Engine):
    """lines.yaml order_first_dose: a dose more than 14 days later is not this order's first; an order
    nobody gave yet begins the line on its own date (an active signed order)."""
    assert (
        _first_line_start(engine, [_order("r1", "trastuzumab", "2026-03-01"), _given("g1", "trastuzumab", "2026-03-20")])
        == "2026-03-01"
    )
    assert _first_line_start(engine, [_order("r1", "trastuzumab", "2026-03-18")]) == "2026-03-18"


def _local(rid: str, name: str, **value: Any) -> dict[str, Any]:
    """A result coded only in a Japanese hospital's own codes, named in Japanese beside a Latin abbreviation."""
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {
            "coding": [{"system": "https://fhir.hospital.example.jp/CodeSystem/lab-local", "code": rid, "display": name}],
            "text": name,
        },
        "effectiveDateTime": "2026-01-28",
        **value,
    }


def test_receptor_and_lvef_results_named_in_japanese_or_chinese_are_read(engine: Engine):
    """Held-out c21-c30: "HER2検査 (免疫組織化学)", "ER (エストロゲン受容体)", "FISH: 増幅あり" and "心エコー
    左室駆出率(EF)" had read as nothing (HER2 and HR unknown, LVEF monitoring overdue)."""
    records = [
        _local("h1", "HER2検査 (免疫組織化学)", valueString="2+"),
        _local("h2", "HER2 FISH法", valueString="FISH: 増幅あり"),
        _local("e1", "ER (エストロゲン受容体)", valueQuantity={"value": 0, "unit": "%"}),
        _local("p1", "孕激素受体", valueString="阴性"),
        _local("v1", "心エコー 左室駆出率(EF)", valueString="EF 63%"),
    ]
    evaluation = engine.evaluate("p1", [*_metastatic(), *records], NOW)
    assessment = evaluation.assessment()
    assert (assessment["her2"], assessment["hormoneReceptor"]) == ("positive", "negative")
    assert [lab.value for lab in evaluation.record.labs if lab.kind == "lvef"] == [63]


@pytest.mark.parametrize(
    ("value", "hormone_receptor"),
    [("(-)", "negative"), ("（－）", "negative"), ("( − )", "negative"), ("(+)", "unknown"), ("-", "unknown")],
)
def test_a_minus_sign_in_brackets_is_a_negative_receptor(engine: Engine, value: str, hormone_receptor: str):
    """Held-out b13: a Chinese pathology report's "ER (雌激素受体)" and "PR (孕激素受体)" answered "(-)" had read as
    no result (hormone receptor unknown). A plus sign alone is not read ("HER-2 (+)" there is IHC 1+), nor a
    bare dash."""
    records = [_local("e1", "ER (雌激素受体)", valueString=value), _local("p1", "PR (孕激素受体)", valueString=value)]
    assert engine.evaluate("p1", [*_metastatic(), *records], NOW).assessment()["hormoneReceptor"] == hormone_receptor


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("ФВ ЛЖ (Симпсон), ЭхоКГ", True),
        ("Фракция выброса левого желудочка", True),
        ("Фракція викиду ЛШ", True),
        ("Κλάσμα εξώθησης αριστερής κοιλίας", True),
        ("Фракция выброса правого желудочка", False),
        ("ФВ ПЖ", False),
    ],
)
def test_an_ejection_fraction_named_in_cyrillic_or_greek_is_read(engine: Engine, name: str, read: bool):
    """Held-out j21: a Russian echo's "ФВ ЛЖ" had read as no LVEF (monitoring overdue on trastuzumab); a right
    ventricle's is not the LVEF the labels monitor."""
    evaluation = engine.evaluate("p1", [*_metastatic(), _local("v1", name, valueQuantity={"value": 61, "unit": "%"})], NOW)
    assert [lab.value for lab in evaluation.record.labs if lab.kind == "lvef"] == ([61] if read else [])
