"""A generated heavy patient: years of HER2-positive metastatic breast cancer care as one FHIR Bundle.

Deterministic (seeded) and clinically coherent, so the engine does its real work on it: a breast
primary with adjuvant THP, liver then bone metastases, three metastatic lines (THP until progression,
T-DXd until progression, tucatinib + capecitabine + trastuzumab ongoing), disease-status assessments
that worsen at each progression, receptor results, LVEF echocardiograms and liver panels at every
visit, plus supportive medications and comorbidities the rules must read past.

``heavy_patient(total)`` spreads about ``total`` resources over the same history: about 13 % are
medication records (an infusion or refill cadence that tightens as ``total`` grows, never sparser
than every 60 days so the lines stay intact), the rest mostly laboratory Observations.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

PATIENT_ID = "bench-heavy"
NOW = date(2026, 6, 1)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}
MEDICATION_SHARE = 0.13
LAB_PANEL = (  # kind, LOINC, display, unit, normal low, normal high, typical value
    ("bilirubin", "1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", 0.3, 1.2, 0.6),
    ("ast", "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 10, 40, 26),
    ("alt", "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 7, 56, 24),
    ("alp", "6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 44, 147, 90),
    ("albumin", "1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/dL", 3.5, 5.0, 4.1),
)
IMPROVED, STABLE, WORSENED = (
    ("268910001", "Patient's condition improved"),
    ("359746009", "Patient's condition stable"),
    (
        "271299001",
        "Patient's condition worse",
    ),
)
# The metastatic history: (first day, last day, infused agents, oral agents by MedicationRequest)
ADJUVANT = (date(2016, 4, 4), date(2017, 3, 20))
METASTATIC = date(2019, 6, 3)
LINES = (
    (date(2019, 6, 17), date(2021, 2, 22), ("Herceptin", "Perjeta", "Taxotere"), ()),
    (date(2021, 3, 22), date(2023, 5, 8), ("Enhertu",), ()),
    (date(2023, 6, 5), NOW - timedelta(days=10), ("Herceptin",), ("Tukysa", "Xeloda")),
)
PROGRESSIONS = (date(2021, 3, 1), date(2023, 5, 15))
TAXANE_CYCLES = 6


class _Builder:
    """Collects resources with stable ids."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)  # noqa: S311 - benchmark data, not security
        self.resources: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}

    def add(self, resource_type: str, prefix: str, body: dict[str, Any]) -> None:
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        self.resources.append({"resourceType": resource_type, "id": f"{PATIENT_ID}-{prefix}-{self.counts[prefix]:05d}", **body})

    def observation(self, prefix: str, code: str, display: str, on: date, **value: Any) -> None:
        self.add(
            "Observation",
            prefix,
            {
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "subject": SUBJECT,
                "effectiveDateTime": on.isoformat(),
                "issued": f"{on.isoformat()}T17:00:00Z",
                **value,
            },
        )


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _days(start: date, end: date, step: float) -> list[date]:
    """Days from ``start`` to ``end`` every ``step`` days (at least one day apart)."""
    step = max(1.0, step)
    found: list[date] = []
    offset = 0.0
    while start + timedelta(days=int(offset)) <= end:
        day = start + timedelta(days=int(offset))
        if not found or found[-1] != day:
            found.append(day)
        offset += step
    return found


def _conditions(builder: _Builder) -> None:
    def condition(prefix: str, system: str, code: str, display: str, onset: date) -> None:
        builder.add(
            "Condition",
            prefix,
            {
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "verificationStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
                },
                "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
                "subject": SUBJECT,
                "onsetDateTime": onset.isoformat(),
            },
        )

    condition("bc", ICD10, "C50.411", "Malignant neoplasm of upper-outer quadrant of right female breast", date(2016, 2, 22))
    condition("met", ICD10, "C78.7", "Secondary malignant neoplasm of liver and intrahepatic bile duct", METASTATIC)
    condition("met", ICD10, "C79.51", "Secondary malignant neoplasm of bone", PROGRESSIONS[1])
    condition("other", ICD10, "I10", "Essential (primary) hypertension", date(2012, 5, 2))
    condition("other", ICD10, "E78.5", "Hyperlipidemia, unspecified", date(2014, 9, 15))
    condition("other", SNOMED, "35489007", "Depressive disorder", date(2020, 1, 13))


def _receptors(builder: _Builder) -> None:
    for on in (date(2016, 2, 25), METASTATIC + timedelta(days=4)):
        builder.observation(
            "her2",
            "85319-2",
            "HER2 [Presence] in Breast cancer specimen by Immune stain",
            on,
            valueCodeableConcept={"text": "3+"},
        )
        builder.observation(
            "er", "85329-1", "Estrogen receptor cells/100 cells in Breast cancer specimen by Immune stain", on,
            valueQuantity=_quantity(builder.random.choice((70, 80, 90)), "%"),
        )  # fmt: skip
        builder.observation(
            "pr", "85325-9", "Progesterone receptor cells/100 cells in Breast cancer specimen by Immune stain", on,
            valueQuantity=_quantity(builder.random.choice((5, 10, 20)), "%"),
        )  # fmt: skip


def _status_on(day: date) -> tuple[str, str]:
    """Disease status as the oncologist would record it: worse at each progression, else improved or stable."""
    if any(abs((day - progression).days) <= 14 for progression in PROGRESSIONS):
        return WORSENED
    started = max((line[0] for line in LINES if line[0] <= day), default=METASTATIC)
    return IMPROVED if (day - started).days < 120 else STABLE


def _assessments(builder: _Builder, step: float) -> None:
    """Disease status every ``step`` days from metastatic diagnosis, and on each progression day."""
    days = sorted(set(_days(METASTATIC + timedelta(days=84), NOW - timedelta(days=7), step)) | set(PROGRESSIONS))
    for day in days:
        code, display = _status_on(day)
        builder.observation(
            "status",
            "97509-4",
            "Cancer disease status",
            day,
            valueCodeableConcept={"coding": [{"system": SNOMED, "code": code, "display": display}]},
        )


def _labs(builder: _Builder, visits: list[date], echo_every: int) -> None:
    """A liver panel at every visit, an echocardiogram (LVEF) every ``echo_every`` visits; all within range at the end."""
    lvef = 62.0
    for index, day in enumerate(visits):
        for kind, code, display, unit, low, high, typical in LAB_PANEL:
            jitter = builder.random.uniform(-0.15, 0.15) * typical
            value = round(typical + jitter, 1 if typical < 10 else 0)
            if kind in ("ast", "alt") and builder.random.random() < 0.04 and day < NOW - timedelta(days=60):
                value = round(high * builder.random.uniform(1.2, 2.0))  # a transient rise on T-DXd or capecitabine
            builder.observation(
                kind, code, display, day, valueQuantity=_quantity(value, unit),
                referenceRange=[{"low": _quantity(low, unit), "high": _quantity(high, unit)}],
            )  # fmt: skip
        if index % echo_every == 0:
            lvef = min(66.0, max(53.0, lvef + builder.random.uniform(-2.5, 2.5)))
            builder.observation(
                "lvef", "10230-1", "Left ventricular Ejection fraction", day, valueQuantity=_quantity(round(lvef), "%")
            )


def _adjuvant(builder: _Builder) -> None:
    for name, end in (("Herceptin", ADJUVANT[1]), ("Perjeta", ADJUVANT[1]), ("Taxotere", ADJUVANT[0] + timedelta(days=105))):
        builder.add(
            "MedicationStatement",
            "adj",
            {
                "status": "completed",
                "medicationCodeableConcept": {"text": name},
                "subject": SUBJECT,
                "effectivePeriod": {"start": ADJUVANT[0].isoformat(), "end": end.isoformat()},
            },
        )


def _metastatic_lines(builder: _Builder, step: float) -> None:
    """Infusions (MedicationAdministration) every ``step`` days and oral refills (MedicationRequest) per line."""
    for start, end, infused, oral in LINES:
        for cycle, day in enumerate(_days(start, end, step)):
            for name in infused:
                if name == "Taxotere" and (day - start).days >= TAXANE_CYCLES * 21:
                    continue
                builder.add(
                    "MedicationAdministration",
                    "ma",
                    {
                        "status": "completed",
                        "medicationCodeableConcept": {"text": name},
                        "subject": SUBJECT,
                        "effectiveDateTime": day.isoformat(),
                    },
                )
            for name in oral:
                last = day + timedelta(days=step) > end
                bounds_end = (
                    max(day + timedelta(days=int(step)), NOW + timedelta(days=14))
                    if last
                    else day + timedelta(days=int(step) - 1)
                )
                builder.add(
                    "MedicationRequest",
                    "mr",
                    {
                        "status": "active" if last else "completed",
                        "intent": "order",
                        "medicationCodeableConcept": {"text": name},
                        "subject": SUBJECT,
                        "authoredOn": day.isoformat(),
                        "dosageInstruction": [
                            {"timing": {"repeat": {"boundsPeriod": {"start": day.isoformat(), "end": bounds_end.isoformat()}}}}
                        ],
                    },
                )
            if cycle % 4 == 0:  # supportive care the rules must read past
                builder.add(
                    "MedicationStatement",
                    "support",
                    {
                        "status": "completed",
                        "medicationCodeableConcept": {
                            "text": builder.random.choice(("Ondansetron 8 mg", "Dexamethasone 4 mg", "Loperamide"))
                        },
                        "subject": SUBJECT,
                        "effectivePeriod": {"start": day.isoformat(), "end": (day + timedelta(days=3)).isoformat()},
                    },
                )


def heavy_patient(total: int = 2600, seed: int = 20261123) -> dict[str, Any]:
    """A FHIR collection Bundle of about ``total`` resources for one patient (evaluate on ``NOW``)."""
    builder = _Builder(seed)
    builder.add(
        "Patient", "patient", {"gender": "female", "birthDate": "1961-08-14", "name": [{"family": "Bench", "given": ["Heavy"]}]}
    )
    builder.resources[0]["id"] = PATIENT_ID
    _conditions(builder)
    _receptors(builder)
    _adjuvant(builder)
    line_days = sum((end - start).days for start, end, _infused, _oral in LINES)
    medications = max(30, int(total * MEDICATION_SHARE))
    # About 1.6 records per cycle across the lines (three agents, then one, then three, plus supportive care).
    _metastatic_lines(builder, min(60.0, line_days * 1.6 / medications))
    remaining = max(10, total - len(builder.resources))
    history_days = (NOW - date(2016, 2, 29)).days
    assessments = max(4, remaining // 12)
    _assessments(builder, (NOW - METASTATIC).days / assessments)
    per_visit = len(LAB_PANEL) + 0.25  # an echo every fourth visit
    visits = max(2, int((total - len(builder.resources)) / per_visit))
    _labs(builder, _days(date(2016, 2, 29), NOW - timedelta(days=7), history_days / visits), echo_every=4)
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in builder.resources]}
