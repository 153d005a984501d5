"""One patient's gathered FHIR resources -> a ``PatientRecord`` (the read stage of the pipeline).

Each resource type has its reader module (patient, conditions, observations, medications); this one
sorts the resources by type and hands them over. Nothing here imports from a later stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import msgspec

from service.domain import PatientRecord
from service.knowledge import Knowledge
from service.read.common import JSON_OBJECT, reference_of, referenced_id
from service.read.conditions import ConditionReader
from service.read.medications import MedicationReader
from service.read.observations import ObservationReader
from service.read.patient import read_patient

MEDICATION_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense")
READ_TYPES = ("Patient", "Medication", "Observation", "Condition", *MEDICATION_TYPES)


class Normaliser:
    """Turns the gathered FHIR resources of one patient into a ``PatientRecord``."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.conditions = ConditionReader(knowledge)
        self.observations = ObservationReader(knowledge)
        self.medications = MedicationReader(knowledge)

    def patient_record(self, patient_id: str, resources: Iterable[Mapping[str, Any]], now: date) -> PatientRecord:
        """Read every resource the rules need; skip the rest; name the unreadable ones."""
        record = PatientRecord(patient_id=patient_id)
        by_type: dict[str, list[Mapping[str, Any]]] = {resource_type: [] for resource_type in READ_TYPES}
        own = f"Patient/{patient_id}"
        for resource in resources:  # a type no reader reads (Encounter, Procedure...) is dropped here
            resource_type = resource.get("resourceType") if isinstance(resource, JSON_OBJECT) else None
            if isinstance(resource_type, str) and resource_type in by_type:
                if "subject" in resource:  # the usual case, "Patient/<id>" of this patient, costs no call (issue 16)
                    subject = resource["subject"]
                    try:
                        reference = subject["reference"]
                    except (TypeError, KeyError, IndexError):  # not a JSON object, or no reference
                        reference = None
                    if reference != own and another_patient(subject, patient_id):
                        record.other_patients.append(reference_of(resource))
                        continue
                by_type[resource_type].append(resource)
        for raw in by_type["Patient"]:
            read_patient(raw, patient_id, record)
        medications = self.medications.medications_by_reference(by_type["Medication"])
        medication_resources = {f"Medication/{raw['id']}": raw for raw in by_type["Medication"] if isinstance(raw.get("id"), str)}
        self.observations.read_all(by_type["Observation"], record)
        for raw in by_type["Condition"]:
            self.conditions.read(raw, record)
        for resource_type in MEDICATION_TYPES:
            for raw in by_type[resource_type]:
                self.medications.read(raw, record, medications, now, medication_resources)
        self._ranges_of_sex(record)
        return record

    def _ranges_of_sex(self, record: PatientRecord) -> None:
        """Give each lab whose reference ranges differ by sex the range of the patient's sex (terminology.yaml
        reference_range_sex), chosen once the whole record is read: a bundle may hold the Patient last.
        A patient whose sex is not known keeps the first range. Most records have no such lab: one test."""
        if not record.sex_specific_labs or record.gender is None:
            return
        sex = self.knowledge.terminology.sex_by_gender.get(record.gender)
        if sex is None:
            return
        chosen = {
            id(lab): msgspec.structs.replace(lab, reference_low=low, reference_high=high)
            for lab in record.sex_specific_labs
            for named, low, high in lab.by_sex
            if named == sex
        }
        record.labs = [chosen.get(id(lab), lab) for lab in record.labs]

    def medications_by_reference(self, resources: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
        """``Medication/id`` -> agents for the Medication resources among ``resources``."""
        return self.medications.medications_by_reference(
            [r for r in resources if isinstance(r, JSON_OBJECT) and r.get("resourceType") == "Medication"]
        )

    def agents_of_record(self, raw: Mapping[str, Any], medications: Mapping[str, set[str]]) -> set[str]:
        """The canonical agents a medication record or a draft order names."""
        return self.medications.agents_of_record(raw, medications)

    def premedication_of(self, raw: Mapping[str, Any]) -> str | None:
        """The premedication (safety.yaml premedication: "loperamide") a draft order names, if any."""
        return self.medications.premedication_of(raw, {})


def another_patient(subject: Any, patient_id: str) -> bool:
    """Whether a record's ``subject`` names a Patient other than ``patient_id``. A reference that names no
    Patient id (a bundle-local urn:uuid, an identifier, a display) cannot say, and keeps the record: a
    prefetch or a patient's export holds that patient's records."""
    named = referenced_id(subject, "Patient")
    return named is not None and named != patient_id
