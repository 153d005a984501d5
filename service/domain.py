"""Small typed domain objects the pipeline passes between its stages (no FHIR, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import msgspec

# The date given to a result whose record has none: older than any dated result, so a dated result
# of the same kind is always "later" and wins; far enough from date.min for date arithmetic.
UNDATED = date(1900, 1, 1)


class Value(msgspec.Struct, frozen=True):
    """Base of the values one record reads into: immutable, compared and hashed by their fields.

    A request builds a few dozen of them (one per result read), so they are msgspec Structs, built in
    C: a frozen dataclass sets each field through ``object.__setattr__``, about ten times slower
    (issue 16). Positional and keyword arguments, defaults, equality, hashing and ``repr`` are as a
    frozen dataclass's.
    """


class ReceptorResult(Value, frozen=True):
    """One tissue receptor result: HER2 IHC/ISH/interpretation or ER/PR, already decoded."""

    kind: str  # an observation kind of mappings/codes.yaml, e.g. "her2-ihc", "er-percent"
    on: date
    ihc_score: int | None = None  # 0..3
    qualitative: str | None = None  # positive | negative | equivocal
    number: float | None = None  # percent, ratio or copies per nucleus
    record_id: str = ""
    dated: bool = True  # False: the record gave no date; ``on`` is then UNDATED
    ish_group: int | None = None  # an ASCO/CAP ISH group the result's words state (her2-ish)
    specimen: str = ""  # the place its specimen's display names: "at:breast", "at:distant" or "" (observations._specimen_of)


class CodedReceptorStatus(Value, frozen=True):
    """A receptor's status as the problem list codes it (codes.yaml receptor_status_conditions: ICD-10-CM Z17)."""

    receptor: str  # her2 | er | pr | hormone (ER or PR)
    status: str  # positive | negative
    on: date | None
    record_id: str = ""


class LabResult(Value, frozen=True):
    """A numeric result (LVEF, liver labs) with the reference range the record gave."""

    kind: str
    on: date
    value: float
    unit: str = ""
    reference_low: float | None = None  # of the first range, or the patient's sex's range (by_sex)
    reference_high: float | None = None
    record_id: str = ""
    dated: bool = True  # as ReceptorResult.dated
    # (sex, low, high) of the range a male and a female patient are read against, kept only when the
    # record's ranges differ by sex (terminology.yaml reference_range_sex); the record's assembly sets
    # reference_low and reference_high by the patient's sex.
    by_sex: tuple[tuple[str, float | None, float | None], ...] = ()


class DiseaseStatus(Value, frozen=True):
    """mCODE cancer disease status on a date: improved | stable | worsened | undetermined."""

    on: date
    status: str
    record_id: str = ""


class CancerCondition(Value, frozen=True):
    """A breast primary or its history, a distant metastasis (with its site), a stage IV / M1 or an M0 statement."""

    role: str  # primary | history (of breast cancer) | metastasis | stage-iv | no-distant (a recorded cM0/pM0)
    on: date | None
    site: str | None = None
    record_id: str = ""
    recorded_only: bool = False  # ``on`` is the day the record was made (recordedDate): no onset given
    resource: str = "Condition"  # the resource type it was read from (a stage group is an Observation)
    ended: bool = False  # its clinical status says it has ended (inactive, resolved, remission)
    ended_on: date | None = None  # the day its record says it ended (abatement[x]), when given
    side: str | None = None  # left | right: the side a breast primary or a regional node is on, when named
    station: str = ""  # a regional node's named station: regional (any side) | axillary (regional on the cancer's side)
    recurred: bool = False  # a regional node or a stage IV primary says it came back (recurrence, relapse)
    related: str = ""  # "Condition/id": the primary cancer a metastasis names as its own (mCODE's extension)
    # the origin a metastasis's words give it: "other" (another cancer's: terminology.yaml text.other_origin),
    # "breast" (text.breast_origin) or "" (none)
    origin: str = ""


class Finding(Value, frozen=True):
    """A Condition naming a finding a label rule is about (any clinical status), or a drug stopped for it
    (its stop reason names it): interstitial lung disease or pneumonitis (safety.yaml lung), heart failure
    or cardiomyopathy (safety.yaml heart)."""

    on: date | None
    active: bool  # clinicalStatus active, recurrence or relapse, or none given; False for a stop reason
    record_id: str = ""
    stopped: tuple[str, ...] = ()  # the agents a medication record stopped for it, dated by the stop
    grade: int | None = None  # the CTCAE grade its record gives (terminology.yaml lung_disease grade), if any


class Pregnancy(Value, frozen=True):
    """A Condition naming a pregnancy, current by its status, or a pregnancy status (terminology.yaml
    pregnancy): ``pregnant`` False for a status saying not pregnant. Its date is judged by the safety rules."""

    on: date | None  # a Condition's onset, else its recorded date; an Observation's date
    record_id: str = ""
    pregnant: bool = True


# Medication records of a drug given, or handed over, on one day rather than of a course: an
# administration, a pharmacy dispense (which covers its days' supply). Their status never makes them
# ongoing; a line of them runs while the last is recent (infer/lines.py).
EVENT_SOURCES = frozenset({"MedicationAdministration", "MedicationDispense"})


class Exposure(Value, frozen=True):
    """A period during which one canonical agent was given, from one medication record."""

    agent: str
    start: date
    end: date | None  # None: no end known
    ongoing: bool
    status: str  # the record's status
    stop_reason: str | None = None  # progression | toxicity | other
    source_type: str = ""  # MedicationStatement | MedicationRequest | MedicationAdministration | MedicationDispense
    record_id: str = ""
    curative: bool = False  # marked curative, adjuvant or neoadjuvant: never a metastatic line
    end_recorded: bool = True  # False: stopped or completed with no end date, ended on its first day by the reader
    # What the record says it was given for (reasonReference, reasonCode) and the order it carries out
    # (an administration's ``request``, a dispense's ``authorizingPrescription``, a statement's ``basedOn``): "Condition/<id>",
    # "icd10:<code>", "MedicationRequest/<id>". The engine leaves out another cancer's therapy.
    reasons: tuple[str, ...] = ()
    # A start written to the month or year only and dated by no other record of its drug: the last day of that
    # month or year, the latest the course can have begun (``start`` is its first day). None when written to the day.
    start_latest: date | None = None

    @property
    def last_day(self) -> date:
        """The last day the agent is known to have been given."""
        return self.end or self.start


class Premedication(Value, frozen=True):
    """A medication record of a drug a label wants given with another's first dose (safety.yaml premedication:
    loperamide with neratinib), named by the rule's ``with``."""

    name: str
    start: date
    last_day: date
    ongoing: bool


class UnidentifiedTherapy(Value, frozen=True):
    """A medication record of an anticancer drug the service does not know (drugs.yaml unknown_anticancer)."""

    record: str  # its reference, ResourceType/id
    named: str  # the ATC code or the word that says it is an anticancer drug
    start: date | None
    end: date | None
    ongoing: bool
    curative: bool = False  # marked curative, adjuvant or neoadjuvant: never a metastatic line
    reasons: tuple[str, ...] = ()  # as Exposure.reasons

    def given_since(self, day: date) -> bool:
        """Given on or after ``day`` (the metastatic diagnosis), or when that cannot be told."""
        if self.curative:
            return False
        if self.ongoing or self.start is None:
            return True
        return (self.end or self.start) >= day


@dataclass
class PatientRecord:
    """What the normaliser made of one patient's FHIR data."""

    patient_id: str
    conditions: list[CancerCondition] = field(default_factory=list)
    lung_disease: list[Finding] = field(default_factory=list)  # interstitial lung disease or pneumonitis
    heart_failure: list[Finding] = field(default_factory=list)  # heart failure or cardiomyopathy
    pregnancies: list[Pregnancy] = field(default_factory=list)  # current pregnancies (safety.yaml pregnancy)
    receptors: list[ReceptorResult] = field(default_factory=list)
    receptor_statuses: list[CodedReceptorStatus] = field(default_factory=list)  # coded on the problem list
    labs: list[LabResult] = field(default_factory=list)
    lvef_normal_in_words: list[date] = field(default_factory=list)  # days an LVEF was reported only as normal, in words
    disease_statuses: list[DiseaseStatus] = field(default_factory=list)
    exposures: list[Exposure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # records that could not be read, by reference
    other_patients: list[str] = field(default_factory=list)  # records whose subject is another patient: not used
    deceased: bool = False  # the Patient records a death (deceasedBoolean true or deceasedDateTime)
    deceased_on: date | None = None
    born: date | None = None  # Patient.birthDate: an onset before it is a placeholder, not a date
    gender: str | None = None  # Patient.gender as sent (an AdministrativeGender code), when it is a string
    # labs whose reference ranges differ by sex (LabResult.by_sex), as read (also in ``labs``): the
    # record's assembly gives each in ``labs`` the range of the patient's sex, once every record is read
    sex_specific_labs: list[LabResult] = field(default_factory=list)
    read_from_text: list[str] = field(default_factory=list)  # records understood from their text only
    undated: list[str] = field(default_factory=list)  # results used although their date is unknown
    unconfirmed: list[str] = field(default_factory=list)  # cancer diagnoses not counted: provisional, differential
    spread_from_name: list[str] = field(default_factory=list)  # a coded primary whose name gave a metastasis or stage IV
    # medication records whose drug is a reference to a Medication nobody sent (the history is incomplete)
    unresolved_medications: list[str] = field(default_factory=list)
    # records of the history with a modifier extension (FHIR: a reader that does not understand it must not use them)
    unusable_medications: list[str] = field(default_factory=list)
    # current primary cancers of another site (ICD-10 C00-C75, C81-C96 but C50): "Condition/id (code)"
    other_primaries: list[str] = field(default_factory=list)
    other_primary_ids: set[str] = field(default_factory=set)  # their "Condition/id" (a metastasis may name one)
    # Observation id -> the "Condition/id" its ``focus`` names (few records name one): a staging, disease status
    # or receptor result focused on another primary cancer is that cancer's (``PatientRecordReader``)
    observation_focus: dict[str, str] = field(default_factory=dict)
    # Observation id -> its ``specimen`` reference (a result naming one); the organs of other primary cancers on
    # record (terminology.yaml other_primary organs): a receptor result on such an organ's specimen is its cancer's
    observation_specimens: dict[str, str] = field(default_factory=dict)
    other_primary_organs: set[str] = field(default_factory=set)
    # (onset, sites) another primary cancer's own words name as its spread ("stage IVA (M1a: malignant pleural
    # effusion)"): a metastasis of such a site found near that onset is that cancer's (infer/disease.py)
    other_primary_spread: list[tuple[date, tuple[str, ...]]] = field(default_factory=list)
    # MedicationStatements dated only by dateAsserted (when the statement was made, not when the drug was taken)
    dated_by_assertion: list[str] = field(default_factory=list)
    # those of them that ended, re-entering a drug dated records gave earlier (a reconciliation): no line
    re_entered: list[str] = field(default_factory=list)
    # those of them still listed as active whose drug's dated records had all ended before (a list carried forward)
    carried_forward: list[str] = field(default_factory=list)
    # "ResourceType/id" -> (start, end) precision of a medication record dated to the month or year only ("2026-01":
    # a patient's own list, an import), "month" or "year" for each date so written, "" for one written to the day
    partially_dated: dict[str, tuple[str, str]] = field(default_factory=dict)
    # medication records taken now (active, on hold) that no date dates: read only when no dated record makes a line
    undated_ongoing: list[Exposure] = field(default_factory=list)
    # Agents a MedicationStatement says were not taken ("not-taken"): an order of one stopped with no dose of it on
    # record was never begun (held-out v38: palbociclib denied by the payer, "Patient never started").
    not_taken: set[str] = field(default_factory=set)
    # ids of the orders on hold whose status reason or note says they were never given ("No administrado. Pendiente
    # de orden judicial", held-out m86): courses waiting to begin (lines.yaml order_first_dose not_given_words)
    orders_not_given: set[str] = field(default_factory=set)
    # "MedicationRequest/<id>" of the cancelled orders (FHIR: withdrawn before any administration occurred): a
    # supply handed over under one, its order's only one, was not given (held-out aa4: Phesgo sent to the day
    # unit the day before a cycle postponed for COVID-19 had made an untreated patient's first line)
    orders_cancelled: set[str] = field(default_factory=set)
    # (agent, day, progression | toxicity) of each dose not given whose status reason says why: the drug's last dose
    # before it, none since, ended for that reason (held-out ae6: T-DXd's next dose not given, "adverse reaction to
    # drug: interstitial pneumonitis grade 2", had ended its line for no known reason)
    doses_not_given: list[tuple[str, date, str]] = field(default_factory=list)
    # Agents of which a dose was recorded as not done (MedicationAdministration "not-done", whatever its reason): an
    # order on hold of one, no dose of it given, is a course waiting to begin (held-out aj2: cycle 1 of THP not given,
    # the patient admitted, its orders on hold for three weeks, had made an untreated patient's first line)
    agents_not_done: set[str] = field(default_factory=set)
    # medication records of an anticancer drug not in drugs.yaml (the line cannot be told from them)
    unidentified_anticancer: list[UnidentifiedTherapy] = field(default_factory=list)
    premedications: list[Premedication] = field(default_factory=list)  # safety.yaml premedication
    # Observation id -> (its ``issued`` instant as sent, its status says amended or corrected), for each
    # one that gave a receptor result: which of two same-day results of one test is the later report.
    receptor_reports: dict[str, tuple[object, bool]] = field(default_factory=dict)
