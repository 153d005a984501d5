"""Small FHIR R4 patients for rule tests: lines of therapy by brand name, sites, receptors and labs.

The tests feed these through the whole engine (FHIR in, assessment and cards out), so they keep
working whatever the internal shapes of the read/infer stages become.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
SITES = {"liver": "94381002", "brain": "94225005", "bone": "94222008", "lung": "94391008"}
LABS = {"bilirubin": ("1975-2", "mg/dL"), "ast": ("1920-8", "U/L"), "alt": ("1742-6", "U/L"), "lvef": ("10230-1", "%")}


@dataclass
class Line:
    """One course: brand or generic names, dates, and the date progression was recorded (None: none)."""

    drugs: list[str]
    start: str
    end: str | None = None
    progressed: str | None = None


@dataclass
class Patient:
    """A HER2-positive metastatic breast cancer patient described by the facts a rule reads."""

    pid: str = "p1"
    metastatic_on: str = "2020-01-10"
    sites: list[str] = field(default_factory=lambda: ["bone"])
    er_percent: float = 0
    lines: list[Line] = field(default_factory=list)
    adjuvant: Line | None = None
    labs: list[tuple[str, str, float, float | None]] = field(default_factory=list)  # (kind, date, value, ULN)

    def resources(self) -> list[dict[str, Any]]:
        """The patient's FHIR resources."""
        subject = {"reference": f"Patient/{self.pid}"}
        resources: list[dict[str, Any]] = [
            {"resourceType": "Patient", "id": self.pid, "gender": "female", "birthDate": "1960-01-01"},
            self._condition("bc", "372064008", "2019-06-01"),
        ]
        resources += [self._condition(f"met-{site}", SITES[site], self.metastatic_on) for site in self.sites]
        resources.append(self._observation("her2", "85319-2", self.metastatic_on, {"valueCodeableConcept": {"text": "3+"}}))
        er = {"valueQuantity": {"value": self.er_percent, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}
        resources.append(self._observation("er", "85329-1", self.metastatic_on, er))
        courses = ([self.adjuvant] if self.adjuvant else []) + self.lines
        for index, course in enumerate(courses):
            period = {"start": course.start} | ({"end": course.end} if course.end else {})
            for number, drug in enumerate(course.drugs):
                resources.append(
                    {
                        "resourceType": "MedicationStatement",
                        "id": f"ms-{index}-{number}",
                        "status": "completed" if course.end else "active",
                        "medicationCodeableConcept": {"text": drug},
                        "subject": subject,
                        "effectivePeriod": period,
                    }
                )
            if course.progressed:
                status = {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "271299001"}]}}
                resources.append(self._observation(f"status-{index}", "97509-4", course.progressed, status))
        for number, (kind, on, value, uln) in enumerate(self.labs):
            code, unit = LABS[kind]
            lab: dict[str, Any] = {
                "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
            }
            if uln is not None:
                lab["referenceRange"] = [{"high": {"value": uln, "unit": unit}}]
            resources.append(self._observation(f"lab-{number}", code, on, lab))
        return resources

    def _condition(self, name: str, code: str, onset: str) -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "id": f"{self.pid}-{name}",
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "verificationStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]
            },
            "code": {"coding": [{"system": SNOMED, "code": code}]},
            "subject": {"reference": f"Patient/{self.pid}"},
            "onsetDateTime": onset,
        }

    def _observation(self, name: str, code: str, on: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": f"{self.pid}-{name}",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": f"Patient/{self.pid}"},
            "effectiveDateTime": on,
        } | value
