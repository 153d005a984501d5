"""Small typed domain objects the pipeline passes between its stages (no FHIR, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class ReceptorResult:
    """One tissue receptor result: HER2 IHC/ISH/interpretation or ER/PR, already decoded."""

    kind: str  # an observation kind of mappings/codes.yaml, e.g. "her2-ihc", "er-percent"
    on: date
    ihc_score: int | None = None  # 0..3
    qualitative: str | None = None  # positive | negative | equivocal
    number: float | None = None  # percent, ratio or copies per nucleus
    record_id: str = ""


@dataclass(frozen=True)
class LabResult:
    """A numeric result (LVEF, liver labs) with the reference range the record gave."""

    kind: str
    on: date
    value: float
    unit: str = ""
    reference_low: float | None = None
    reference_high: float | None = None
    record_id: str = ""


@dataclass(frozen=True)
class DiseaseStatus:
    """mCODE cancer disease status on a date: improved | stable | worsened | undetermined."""

    on: date
    status: str
    record_id: str = ""


@dataclass(frozen=True)
class CancerCondition:
    """A breast primary, a distant metastasis (with its site), or a stage IV statement."""

    role: str  # primary | metastasis | stage-iv
    on: date | None
    site: str | None = None
    record_id: str = ""


@dataclass(frozen=True)
class Exposure:
    """A period during which one canonical agent was given, from one medication record."""

    agent: str
    start: date
    end: date | None  # None: no end known
    ongoing: bool
    status: str  # the record's status
    stop_reason: str | None = None  # progression | toxicity | other
    source_type: str = ""  # MedicationStatement | MedicationRequest | MedicationAdministration
    record_id: str = ""

    @property
    def last_day(self) -> date:
        """The last day the agent is known to have been given."""
        return self.end or self.start


@dataclass
class PatientRecord:
    """What the normaliser made of one patient's FHIR data."""

    patient_id: str
    conditions: list[CancerCondition] = field(default_factory=list)
    receptors: list[ReceptorResult] = field(default_factory=list)
    labs: list[LabResult] = field(default_factory=list)
    disease_statuses: list[DiseaseStatus] = field(default_factory=list)
    exposures: list[Exposure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # records that could not be read, by reference
