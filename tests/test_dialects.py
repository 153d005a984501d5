"""The same patients in other EHRs' dialects get the same assessment (issue 12, "Done when").

Every scenario bundle of tests/scenarios.yaml is transformed as another system would send it, and
its assessment must equal the coded original's:

- half of the CodeableConcepts (diagnoses, test codes, answers, drugs, stop reasons) as text only;
- diagnoses re-coded across SNOMED CT and ICD-10-CM, qualitative answers across LOINC and SNOMED CT;
- the medication history sent as MedicationRequests (``boundsPeriod``) instead of MedicationStatements,
  and as those orders plus one MedicationAdministration per 3-weekly dose given under them, and those
  again naming each drug by a reference to a Medication resource, and that Medication naming it only as
  the active ingredient of an infusion admixture;
- every code system named by its OID (``urn:oid:...``), as records converted from C-CDA or HL7 v2 do,
  and ICD-10-CM codes written without their dot;
- every drug coded in ATC-DE with its German display and no other words, as German hospitals' records
  (the MII oncology module) name them, and by its WHO ATC code alone;
- the Conditions' clinical and verification statuses as bare codes and their recorded date as
  ``assertedDate``, as STU3 records have them (DSTU2's ``dateRecorded`` likewise);
- every search paged by 2 by a FHIR server on loopback, the service reading nothing from prefetch.

The maps below are test data written from the displays of the codes (tests/fixtures), not rules.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from service import create_app
from service.engine import Engine
from tests.paging_fhir import paging_fhir_server
from tests.scenario_table import load_scenarios

SCENARIOS = load_scenarios()
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
SNOMED_TO_ICD10 = {
    "254837009": "C50.919",
    "372064008": "C50.919",
    "94381002": "C78.7",
    "94222008": "C79.51",
    "94217008": "C79.52",
    "94225005": "C79.31",
    "94246001": "C79.32",
    "94391008": "C78.00",
    "94493005": "C78.2",
}
ICD10_TO_SNOMED = {"C78.7": "94381002", "C79.51": "94222008", "C79.52": "94217008", "C79.31": "94225005"}
ICD10_TO_SNOMED |= {"C79.32": "94246001", "C78.2": "94493005"}
ANSWERS = {(LOINC, "LA6576-8"): (SNOMED, "10828004"), (LOINC, "LA6577-6"): (SNOMED, "260385009")}
ANSWERS |= {value: key for key, value in ANSWERS.items()}
# The OIDs of the FHIR R4 terminology list (hl7.org/fhir/R4/namingsystem-terminologies.html).
OIDS = {
    LOINC: "urn:oid:2.16.840.1.113883.6.1",
    SNOMED: "urn:oid:2.16.840.1.113883.6.96",
    ICD10: "urn:oid:2.16.840.1.113883.6.90",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "urn:oid:2.16.840.1.113883.6.88",
}
STATEMENT_TO_REQUEST_STATUS = {"not-taken": "cancelled", "intended": "draft"}


def _concept_slots(resource: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(holder, key) of every CodeableConcept the read layer reads, in document order."""
    slots: list[tuple[Any, Any]] = []
    for key in ("code", "valueCodeableConcept", "medicationCodeableConcept"):
        if isinstance(resource.get(key), dict):
            slots.append((resource, key))
    for component in resource.get("component") or []:
        slots += [(component, key) for key in ("code", "valueCodeableConcept") if isinstance(component.get(key), dict)]
    reasons = resource.get("statusReason")
    if isinstance(reasons, dict):
        slots.append((resource, "statusReason"))
    elif isinstance(reasons, list):
        slots += [(reasons, index) for index in range(len(reasons))]
    for contained in resource.get("contained") or []:
        slots += _concept_slots(contained)
    return slots


def half_as_text(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every second coded concept keeps only its text (its display when it had no text)."""
    changed = copy.deepcopy(resources)
    count = 0
    for resource in changed:
        for holder, key in _concept_slots(resource):
            concept = holder[key]
            codings = concept.get("coding") or []
            text = concept.get("text") or next((c["display"] for c in codings if c.get("display")), None)
            if codings and text:
                if count % 2 == 0:
                    holder[key] = {"text": text}
                count += 1
    return changed


def recoded(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Diagnoses in the other code system (SNOMED CT <-> ICD-10-CM), answers in the other answer list."""
    changed = copy.deepcopy(resources)
    for resource in changed:
        if resource["resourceType"] == "Condition":
            for coding in resource["code"].get("coding", []):
                system, code = coding.get("system"), coding.get("code", "")
                if system == SNOMED and code in SNOMED_TO_ICD10:
                    coding.update(system=ICD10, code=SNOMED_TO_ICD10[code])
                elif system == ICD10 and code.startswith("C50"):
                    coding.update(system=SNOMED, code="254837009")
                elif system == ICD10 and (code in ICD10_TO_SNOMED or code.startswith("C78.0")):
                    coding.update(system=SNOMED, code=ICD10_TO_SNOMED.get(code, "94391008"))
        for holder, key in _concept_slots(resource):
            for coding in holder[key].get("coding", []):
                pair = ANSWERS.get((coding.get("system"), coding.get("code")))
                if pair:
                    coding.update(system=pair[0], code=pair[1])
    return changed


def as_requests(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """MedicationStatements sent as MedicationRequests, as EHRs that keep only orders do."""
    changed = []
    for resource in copy.deepcopy(resources):
        if resource["resourceType"] != "MedicationStatement":
            changed.append(resource)
            continue
        period = resource.get("effectivePeriod") or {"start": resource.get("effectiveDateTime")}
        request = {
            "resourceType": "MedicationRequest",
            "id": resource["id"],
            "status": STATEMENT_TO_REQUEST_STATUS.get(resource["status"], resource["status"]),
            "intent": "order",
            "subject": resource["subject"],
            "authoredOn": period.get("start"),
            "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": period}}}],
        }
        for key in ("medicationCodeableConcept", "medicationReference", "contained"):
            if key in resource:
                request[key] = resource[key]
        reasons = resource.get("statusReason")
        if reasons:
            request["statusReason"] = reasons[0] if isinstance(reasons, list) else reasons
        changed.append(request)
    return changed


def _infusion_days(period: dict[str, Any], now: date) -> list[str]:
    """Every 21st day of a course, from its start to its end (to now while open)."""
    start = date.fromisoformat(str(period["start"])[:10])
    end = date.fromisoformat(str(period["end"])[:10]) if period.get("end") else now
    days, day = [], start
    while day <= min(end, now):
        days.append(day.isoformat())
        day += timedelta(days=21)
    return days or [start.isoformat()]


def with_infusions(resources: list[dict[str, Any]], now: date) -> list[dict[str, Any]]:
    """Orders instead of statements, and one MedicationAdministration per 3-weekly dose of each closed course."""
    changed = as_requests(resources)
    statements = {r["id"] for r in resources if r["resourceType"] == "MedicationStatement"}
    for order in [r for r in changed if r["resourceType"] == "MedicationRequest" and r["id"] in statements]:
        period = order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]
        # Doses are recorded for closed courses only: inventing doses after an open (e.g. adjuvant) order's
        # last evidence would be new data, not the same history in another shape.
        if not period.get("start") or not period.get("end") or order["status"] in ("cancelled", "draft", "entered-in-error"):
            continue
        for number, day in enumerate(_infusion_days(period, now)):
            administration = {
                "resourceType": "MedicationAdministration",
                "id": f"{order['id']}-dose-{number}",
                "status": "completed",
                "subject": order["subject"],
                "effectiveDateTime": f"{day}T10:00:00+01:00",
            }
            for key in ("medicationCodeableConcept", "medicationReference", "contained"):
                if key in order:
                    administration[key] = order[key]
            changed.append(administration)
    return changed


MEDICATION_RECORDS = ("MedicationStatement", "MedicationRequest", "MedicationAdministration")


def as_medication_resources(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each drug a Medication resource of its own, which the records reference with no display (Synthea,
    many EHRs): one Medication per distinct drug, as a formulary has, the records pointing at it."""
    changed, medications = [], {}
    for resource in copy.deepcopy(resources):
        concept = resource.get("medicationCodeableConcept") if resource["resourceType"] in MEDICATION_RECORDS else None
        if concept is not None:
            key = json.dumps(concept, sort_keys=True)
            medication_id = medications.setdefault(key, f"formulary-{len(medications) + 1}")
            del resource["medicationCodeableConcept"]
            resource["medicationReference"] = {"reference": f"Medication/{medication_id}"}
        changed.append(resource)
    changed += [{"resourceType": "Medication", "id": mid, "code": json.loads(key)} for key, mid in medications.items()]
    return changed


def as_admixtures(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those Medications as IV admixtures name them: the drug only as an active ingredient, beside the diluent."""
    changed = as_medication_resources(resources)
    for resource in changed:
        if resource["resourceType"] == "Medication":
            drug = resource.pop("code")
            resource["code"] = {"text": "Infusion admixture"}
            resource["ingredient"] = [
                {"itemCodeableConcept": drug, "isActive": True},
                {"itemCodeableConcept": {"text": "sodium chloride 0.9% 250 mL"}, "isActive": False},
            ]
    return changed


def _systems_renamed(node: Any, rename: Callable[[str, str], tuple[str, str]]) -> Any:
    """A copy of FHIR JSON with every coding's (system, code) passed through ``rename``."""
    if isinstance(node, list):
        return [_systems_renamed(item, rename) for item in node]
    if not isinstance(node, dict):
        return node
    copy_ = {key: _systems_renamed(value, rename) for key, value in node.items()}
    if isinstance(copy_.get("system"), str) and isinstance(copy_.get("code"), str):
        copy_["system"], copy_["code"] = rename(copy_["system"], copy_["code"])
    return copy_


def as_oids(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every code system by its OID, and ICD-10-CM codes without their dot (C-CDA and claims-derived records).

    Observations and medication records so coded lose their texts and displays, so that the codes alone
    must carry the meaning (the words would otherwise be read as the last resort). A Condition keeps its
    text: "mediastinal" there says what C77.1 (intrathoracic nodes) alone does not.
    """
    changed = _systems_renamed(
        recoded(resources), lambda system, code: (OIDS.get(system, system), code.replace(".", "") if system == ICD10 else code)
    )
    return _codes_alone(changed, set(OIDS.values()))


def _codes_alone(resources: list[dict[str, Any]], systems: set[str]) -> list[dict[str, Any]]:
    """Observations and medication records coded in ``systems`` without their texts and displays (in place)."""
    for resource in (r for r in resources if r["resourceType"] != "Condition"):
        for holder, key in _concept_slots(resource):
            concept = holder[key]
            if any(c.get("system") in systems for c in concept.get("coding") or []):
                concept.pop("text", None)
                for c in concept["coding"]:
                    c.pop("display", None)
    return resources


# HL7 v2 table 0396's names of the systems (records converted from HL7 v2), and the URIs misspelt.
V2_SYSTEMS = {LOINC: "LN", SNOMED: "SCT", ICD10: "I10C", "http://www.nlm.nih.gov/research/umls/rxnorm": "RXNORM"}
MISSPELT = {
    LOINC: "http://loinc.org/",
    SNOMED: "http://snomed.info/sct/731000124108",
    ICD10: "http://hl7.org/fhir/sid/icd-10-cm/",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "https://www.nlm.nih.gov/research/umls/rxnorm",
}


def with_systems(resources: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """Every code system by another of its names; Observations and medication records lose their texts and
    displays, so that the codes alone must carry the meaning (as in ``as_oids``)."""
    return _codes_alone(_systems_renamed(resources, lambda system, code: (names.get(system, system), code)), set(names.values()))


# The drugs of the scenarios in ATC-DE, with the German displays of the MII oncology module's ATC value set
# (a product keeps its brand as display when the substance code alone would not say it: Abraxane).
ATC_DE = "http://fhir.de/CodeSystem/bfarm/atc"
GERMAN_DRUGS = {
    "phesgo": ("L01FY01", "Pertuzumab und Trastuzumab"),
    "enhertu": ("L01FD04", "Trastuzumab deruxtecan"),
    "taxotere": ("L01CD02", "Docetaxel"),
    "docetaxel": ("L01CD02", "Docetaxel"),
    "perjeta": ("L01FD02", "Pertuzumab"),
    "pertuzumab": ("L01FD02", "Pertuzumab"),
    "herceptin": ("L01FD01", "Trastuzumab"),
    "herceptin hylecta": ("L01FD01", "Trastuzumab"),
    "trastuzumab": ("L01FD01", "Trastuzumab"),
    "trastuzumab-dkst": ("L01FD01", "Trastuzumab"),
    "ogivri": ("L01FD01", "Trastuzumab"),
    "kanjinti": ("L01FD01", "Trastuzumab"),
    "paclitaxel": ("L01CD01", "Paclitaxel"),
    "abraxane": ("L01CD01", "Abraxane"),
    "xgeva (denosumab)": ("M05BX04", "Denosumab"),
    "carboplatin": ("L01XA02", "Carboplatin"),
    "letrozole": ("L02BG04", "Letrozol"),
    "anastrozole": ("L02BG03", "Anastrozol"),
    "tamoxifen": ("L02BA01", "Tamoxifen"),
    "kadcyla": ("L01FD03", "Trastuzumab emtansin"),
    "xeloda": ("L01BC06", "Capecitabin"),
    "capecitabine": ("L01BC06", "Capecitabin"),
    "ibrance": ("L01EF01", "Palbociclib"),
    "ribociclib": ("L01EF02", "Ribociclib"),
    "tukysa": ("L01EH03", "Tucatinib"),
    "tucatinib": ("L01EH03", "Tucatinib"),
    "tykerb": ("L01EH01", "Lapatinib"),
    "nerlynx": ("L01EH02", "Neratinib"),
    "ondansetron": ("A04AA01", "Ondansetron"),
    "lisinopril 10 mg oral tablet": ("C09AA03", "Lisinopril"),
    "amlodipine 5 mg oral tablet": ("C08CA01", "Amlodipin"),
}


def in_atc(resources: list[dict[str, Any]], system: str = ATC_DE, displays: bool = True) -> list[dict[str, Any]]:
    """Every drug as an ATC code with its German display (no RxNorm, no English words); or, with
    ``displays`` False, as the WHO ATC code alone, as records coded by a formulary send it (a product
    whose substance code would not say it keeps its brand: Abraxane)."""
    changed = copy.deepcopy(resources)
    for resource in changed:
        concept = resource.get("medicationCodeableConcept") if resource["resourceType"] in MEDICATION_RECORDS else None
        if concept is not None:
            code, display = GERMAN_DRUGS[concept["text"].lower()]
            coding = {"system": system, "code": code}
            if displays or display == "Abraxane":
                coding["display"] = display
            resource["medicationCodeableConcept"] = {"coding": [coding]}
    return changed


def as_stu3_conditions(resources: list[dict[str, Any]], recorded: str = "assertedDate") -> list[dict[str, Any]]:
    """Condition statuses as STU3 and DSTU2 send them, a bare code, and ``recordedDate`` under its older name."""
    changed = copy.deepcopy(resources)
    for resource in (r for r in changed if r["resourceType"] == "Condition"):
        for key in ("clinicalStatus", "verificationStatus"):
            if isinstance(resource.get(key), dict):
                resource[key] = resource[key]["coding"][0]["code"]
        if "recordedDate" in resource:
            resource[recorded] = resource.pop("recordedDate")
    return changed


TRANSFORMS: dict[str, Callable[[list[dict[str, Any]], date], list[dict[str, Any]]]] = {
    "half-text": lambda resources, _now: half_as_text(resources),
    "recoded": lambda resources, _now: recoded(resources),
    "as-requests": lambda resources, _now: as_requests(resources),
    "orders-and-infusions": with_infusions,
    "referenced-medications": lambda resources, now: as_medication_resources(with_infusions(resources, now)),
    "admixtures": lambda resources, now: as_admixtures(as_requests(resources)),
    "oids": lambda resources, _now: as_oids(resources),
    "v2-systems": lambda resources, _now: with_systems(recoded(resources), V2_SYSTEMS),
    "misspelt-systems": lambda resources, _now: with_systems(resources, MISSPELT),
    "german": lambda resources, _now: in_atc(resources),
    "atc-codes-only": lambda resources, _now: in_atc(resources, "http://www.whocc.no/atc", displays=False),
    "stu3-conditions": lambda resources, _now: as_stu3_conditions(resources),
    "dstu2-conditions": lambda resources, _now: as_stu3_conditions(resources, "dateRecorded"),
}


@pytest.mark.parametrize("dialect", sorted(TRANSFORMS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_the_same_patient_in_another_dialect_gets_the_same_assessment(engine: Engine, scenario, dialect):
    now = date.fromisoformat(scenario.now)
    resources = scenario.resources()
    original = engine.evaluate(scenario.patient_id(), resources, now).assessment()
    assert original == scenario.expected
    transformed = TRANSFORMS[dialect](resources, now)
    assert engine.evaluate(scenario.patient_id(), transformed, now).assessment() == original


def test_the_transforms_change_what_they_claim(engine: Engine):
    """Guard against a vacuous comparison: the text transform removes codings, the others change codes and types."""
    resources = [r for s in SCENARIOS for r in s.resources()]
    coded = sum(bool(holder[key].get("coding")) for r in resources for holder, key in _concept_slots(r))
    text_only = sum(bool(holder[key].get("coding")) for r in half_as_text(resources) for holder, key in _concept_slots(r))
    assert text_only <= coded * 0.55
    assert sum(r["resourceType"] == "MedicationStatement" for r in as_requests(resources)) == 0
    referenced = as_medication_resources(resources)
    assert not any("medicationCodeableConcept" in r for r in referenced)
    assert sum(r["resourceType"] == "Medication" for r in referenced) >= 10
    admixtures = [r for r in as_admixtures(resources) if r["resourceType"] == "Medication"]
    assert admixtures and all(r["code"] == {"text": "Infusion admixture"} for r in admixtures)
    before = {c.get("code") for r in resources if r["resourceType"] == "Condition" for c in r["code"].get("coding", [])}
    after = {c.get("code") for r in recoded(resources) if r["resourceType"] == "Condition" for c in r["code"].get("coding", [])}
    assert before != after
    systems = json.dumps(as_oids(resources))
    assert not any(f'"system": "{system}"' in systems for system in OIDS) and "urn:oid:2.16.840.1.113883.6.90" in systems
    for names in (V2_SYSTEMS, MISSPELT):
        renamed = json.dumps(with_systems(resources, names))
        assert not any(f'"system": "{system}"' in renamed for system in names) and f'"system": "{names[LOINC]}"' in renamed
    german = json.dumps(in_atc(resources))
    assert "rxnorm" not in german and "Phesgo" not in german and german.count(ATC_DE) >= 500
    codes_only = [r["medicationCodeableConcept"] for r in in_atc(resources, displays=False) if "medicationCodeableConcept" in r]
    assert codes_only and all(set(c) == {"coding"} for c in codes_only)
    assert {c["coding"][0].get("display") for c in codes_only} == {None, "Abraxane"}
    for recorded in ("assertedDate", "dateRecorded"):
        stu3 = [r for r in as_stu3_conditions(resources, recorded) if r["resourceType"] == "Condition"]
        assert sum(isinstance(r.get("clinicalStatus"), str) for r in stu3) >= 50
        assert sum(isinstance(r.get("verificationStatus"), str) for r in stu3) >= 10
        assert sum(recorded in r for r in stu3) >= 1 and not any("recordedDate" in r for r in stu3)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_every_search_paged_by_two_gives_the_prefetch_assessment(tmp_path, scenario):
    """No prefetch: the service searches a loopback FHIR server that pages by 2 and must read every page."""
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/feedback.sqlite3",
            "evaluation_date": scenario.now,
            "max_fhir_pages": 500,
            # Paging by 2 costs many round trips; on a busy machine the default budget would (rightly)
            # mark keys incomplete. The budget is not what this test is about.
            "time_budget_seconds": 30,
        }
    )
    with paging_fhir_server(scenario.resources(), 2) as fhir_server:
        body = {
            "hook": "patient-view",
            "hookInstance": "0b9c8f9e-5d0a-4a39-9f7e-6a1d1c2b3e4f",
            "fhirServer": fhir_server,
            "context": {"patientId": scenario.patient_id()},
        }
        response = app.test_client().post("/cds-services/her2-mbc-guidance", json=body)
    assert response.status_code == 200
    assert response.json["cards"][0]["extension"]["her2-cds-assessment"] == scenario.expected


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_records_coded_by_oid_are_found_by_the_prefetch_templates(tmp_path, scenario):
    """An EHR runs the discovery templates over records stored with OIDs: each code token is asked under
    the system's OID too, so the receptors, LVEF and labs are prefetched (a URI token alone matches none)."""
    from tests.fhir_search import run_over_bundle

    app = create_app({"database_url": f"sqlite:///{tmp_path}/feedback.sqlite3", "evaluation_date": scenario.now})
    templates = app.extensions["her2cds"].templates

    def prefetched(resources: list[dict[str, Any]]) -> dict[str, Any]:
        return {key: run_over_bundle(template, scenario.patient_id(), resources) for key, template in templates.items()}

    def found(prefetch: dict[str, Any]) -> list[str]:
        return sorted(e["resource"]["id"] for key, bundle in prefetch.items() if key != "patient" for e in bundle["entry"])

    prefetch = prefetched(as_oids(scenario.resources()))
    assert found(prefetch) == found(prefetched(scenario.resources()))
    body = {"hook": "patient-view", "hookInstance": "5e0c2a8e-1d52-4a7e-b7a4-1f3c2f0b9d11"}
    body["context"] = {"patientId": scenario.patient_id()}
    response = app.test_client().post("/cds-services/her2-mbc-guidance", json=dict(body, prefetch=prefetch))
    assert response.status_code == 200
    assert response.json["cards"][0]["extension"]["her2-cds-assessment"] == scenario.expected
