"""Medication records -> exposures: which agent, from when to when, still given, why stopped, in what context.

Agents come from RxNorm codes, brand and generic names (mappings/drugs.yaml), contained or referenced
Medications. A record whose drug is a reference to a Medication that is neither contained nor among
the gathered records, with no display to read instead, cannot be understood: it is named on the data
card and in ``PatientRecord.unresolved_medications``, and the engine then distrusts the whole history
(``history-incomplete``), as it does for a medication search that could not be read in full. (The
gather stage fetches such Medications from the FHIR server when it can.)

A course's dates come from every place EHRs put them: ``dosageInstruction.timing.repeat
.boundsPeriod``, ``dispenseRequest.validityPeriod`` (Epic), ``authoredOn``, ``effective[x]``. A course
stopped ends when it stopped (an order left ``active`` for years is bounded in infer/lines.py, where
its context is known). Therapy marked
adjuvant or neoadjuvant (mCODE treatment intent, or a ``reasonReference``/``reasonCode`` text saying so)
is never a metastatic line.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from datetime import date, timedelta
from typing import Any

from service.domain import EVENT_SOURCES, Exposure, Finding, PatientRecord, Premedication, UnidentifiedTherapy
from service.knowledge import Knowledge, agents_from_misspelt_name, agents_from_name, refine_agents
from service.knowledge.drugs import ndc_product, normalise_name, script_conjugate
from service.read.common import (
    JSON_OBJECT,
    PARTIAL_PRECISION,
    URN_UUID,
    coding_pair,
    codings,
    concept_texts,
    one_spaced,
    raw_codings,
    raw_concept_texts,
    raw_list,
    raw_mapping,
    raw_text,
    reference_of,
    referenced_id,
    to_date,
    validated,
)
from service.read.shapes import decode_concept
from service.read.terminology import FindingTerms

# Record statuses that take a medication record out of the history (docs/clinical-rules.md §0).
EXCLUDED_MEDICATION_STATUS = {
    "MedicationStatement": {"entered-in-error", "not-taken", "intended"},
    "MedicationRequest": {"entered-in-error", "cancelled", "draft"},
    "MedicationAdministration": {"entered-in-error", "not-done"},
    "MedicationDispense": {"entered-in-error", "cancelled", "declined"},
}
# Elements that say the drug was not given, by record type: R4's doNotPerform, and the older FHIR
# versions' negations (STU3 MedicationStatement.taken "n", MedicationAdministration.notGiven; DSTU2
# wasNotTaken, wasNotGiven), which EHRs still serving those versions send with a status of "completed".
NOT_GIVEN_ELEMENTS: dict[str, tuple[tuple[str, object], ...]] = {
    "MedicationStatement": (("taken", "n"), ("wasNotTaken", True)),
    "MedicationAdministration": (("notGiven", True), ("wasNotGiven", True)),
    "MedicationRequest": (("doNotPerform", True),),
    "MedicationDispense": (),
}
# A dispense with another status (preparation, on-hold, stopped...) counts once it was handed over.
DISPENSE_DONE = "completed"
DAYS_SUPPLY_UNITS = {"d", "day", "days"}
MAX_DAYS_SUPPLY = 366  # a longer supply is not believed: the dispense covers its own day
EXCLUDED_REQUEST_INTENTS = {"proposal", "plan", "option"}  # FHIR request-intent: not (yet) an order
ONGOING_STATUS = {"active", "on-hold", "in-progress"}
# Where a record says what it was given for, or which order it carries out (``MedicationReader._reasons``).
_REASON_KEYS = frozenset({"reasonReference", "reasonCode", "request", "authorizingPrescription", "basedOn"})
# The reason ``MedicationReader._reasons`` gives a record given for a disease other than a cancer.
OTHER_INDICATION = "indication:other"


def medication_key(reference: str) -> str:
    """``Medication/<id>`` of a literal reference: relative, absolute or versioned (``.../_history/2``).

    A Bundle-local ``urn:uuid:<uuid>`` (a Synthea or transaction Bundle, whose entries' ids are those
    uuids) reads as ``Medication/<uuid>``: a medicationReference can only point to a Medication.
    """
    if reference.startswith(URN_UUID):
        return "Medication/" + reference[len(URN_UUID) :]
    return "/".join(reference.split("/_history/")[0].rstrip("/").split("/")[-2:])


def unresolved_reference(raw: Mapping[str, Any], known: Container[str]) -> str | None:
    """The reference of a medication record's drug when nothing tells what it is, else None.

    That is a ``medicationReference`` with no ``display``, to a Medication neither contained in the
    record nor among ``known`` (``Medication/<id>`` of the Medications at hand). A record coded in
    place, a reference with a display (read as the drug's name), or one to a Medication at hand is
    understood, whatever it names. The gather stage fetches what this names; the reader names the
    records it still finds.
    """
    if isinstance(raw.get("medicationCodeableConcept"), JSON_OBJECT):
        return None
    reference = raw.get("medicationReference")
    if not isinstance(reference, JSON_OBJECT) or isinstance(reference.get("display"), str):
        return None
    target = raw_text(reference.get("reference"))
    if not target:
        return None  # no drug named at all: nothing the rules could have read
    if target.startswith("#"):
        return None if contained_resource(raw, target) is not None else target
    return None if medication_key(target) in known else target


def contained_resource(raw: Mapping[str, Any], target: str) -> Mapping[str, Any] | None:
    """The resource a local reference (``#id``) names among ``raw.contained`` (the last, should ids repeat)."""
    found = None
    for item in raw_list(raw.get("contained")):
        if isinstance(item, JSON_OBJECT) and item.get("id") == target[1:]:
            found = item
    return found


class MedicationReader:
    """Reads MedicationStatement, MedicationRequest, MedicationAdministration and MedicationDispense records."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self._aliases = knowledge.system_alias
        self._ndc = knowledge.systems.get("ndc")
        context = knowledge.lines.get("treatment_context", {})
        self._curative_codes = frozenset(context.get("curative_intent_codes", []))
        self._curative_words = tuple(context.get("curative_words", []))
        self._intent_extensions = frozenset(context.get("intent_extensions", []))
        stop_reasons = knowledge.lines["stop_reasons"]
        self._progression_words = re.compile(stop_reasons.get("progression_pattern", "(?!)"), re.IGNORECASE)
        self._no_response_words = re.compile(stop_reasons.get("no_response_pattern", "(?!)"), re.IGNORECASE)
        self._toxicity_words = tuple(stop_reasons.get("toxicity_words", []))
        self._denied_cause = re.compile(stop_reasons.get("denied_cause_pattern", "(?!)"))
        self._termination_extensions = frozenset(stop_reasons.get("termination_extensions", {}).get("urls", []))
        # lines.yaml modifier_extensions: url -> {(system, code): the record's status}
        self._understood_modifiers = {
            item["url"]: {(knowledge.systems[entry["system"]], str(entry["code"])): entry["status"] for entry in item["statuses"]}
            for item in knowledge.lines.get("modifier_extensions", [])
        }
        first_dose = knowledge.lines.get("order_first_dose", {})
        self._not_given_words = re.compile(first_dose.get("not_given_words", "(?!)"), re.IGNORECASE)
        interval = knowledge.lines.get("active_order_interval", {})
        self._interval_unit_days: dict[str, int] = dict(interval.get("unit_days", {}))
        self._max_interval_days = int(interval.get("max_days", 0))
        unknown = knowledge.drugs.get("unknown_anticancer", {})
        self._atc = knowledge.systems["atc"]
        self._icd10 = knowledge.systems["icd10cm"]
        self._anticancer_atc = tuple(unknown.get("atc_prefixes", []))
        self._anticancer_suffixes = tuple(unknown.get("name_suffixes", []))
        self._anticancer_exceptions = tuple(unknown.get("name_suffix_exceptions", []))
        self._regimen_words = frozenset(unknown.get("regimen_words", []))  # "thp": drugs not settled
        self._trial_words = re.compile(unknown.get("trial_words", "(?!)"), re.IGNORECASE)  # "study drug XYZ-123"
        csf = knowledge.drugs.get("csf_routes", {})  # given into the cerebrospinal fluid: no systemic line
        self._csf_route_codes = frozenset((str(system), str(code)) for system, code in csf.get("codes", []))
        self._csf_route_words = re.compile(csf.get("words", "(?!)"), re.IGNORECASE)
        self._csf_hints = tuple(str(hint) for hint in csf.get("hints", []))  # in every code and word above
        placeholder = knowledge.drugs.get("placeholder_medication", {})  # "NON-FORMULARY MEDICATION IV"
        self._placeholder = re.compile(placeholder.get("pattern", "(?!)"), re.IGNORECASE)
        # Drugs a label wants given with another's first dose (safety.yaml premedication: loperamide).
        premedication = knowledge.label_tables.premedication
        self._premedication_words = {word: rule.drug for rule in premedication for word in rule.words}
        self._premedication_atc = {code: rule.drug for rule in premedication for code in rule.atc}

    # -- agents ----------------------------------------------------------------------------------
    def medications_by_reference(self, raws: list[Mapping[str, Any]]) -> dict[str, set[str]]:
        """``Medication/id`` -> agents (none for a drug the rules do not name), for every gathered Medication.

        A Medication naming no agent is kept too: a record referencing it is understood (not an agent
        of a line), where a reference to a Medication nobody sent is not.
        """
        found: dict[str, set[str]] = {}
        for raw in raws:
            if isinstance(raw.get("id"), str):
                found[f"Medication/{raw['id']}"] = self._agents_of_medication_json(raw)
        return found

    def _agents_of_medication_json(self, medication: Mapping[str, Any]) -> set[str]:
        """Agents a Medication names: by its code, and by its active ingredients (an IV admixture often names
        its drug only there: ``itemCodeableConcept``, or an ``itemReference`` with a display)."""
        concepts: list[Mapping[str, Any]] = []
        texts: list[str] = []
        _medication_concepts(medication, concepts, texts)
        agents = {agent for concept in concepts for agent in self._agents_of_concept_json(concept)}
        for text in texts:
            agents |= agents_from_name(self.knowledge, text)
        return refine_agents(self.knowledge, agents or self._misspelt(texts))

    def _agents_of_concept_json(self, concept: Mapping[str, Any]) -> set[str]:
        """Agents named by an RxNorm or ATC code or by any text/display of a raw CodeableConcept."""
        agents: set[str] = set()
        by_coding = self.knowledge.agent_by_coding
        coded = other_class = False  # other_class: an ATC code of a drug outside the anticancer groups (a steroid)
        for coding in raw_list(concept.get("coding")):
            if not isinstance(coding, JSON_OBJECT):
                continue
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                system = self._aliases.get(system, system)
                found = by_coding.get((system, code.strip().upper()))
                if found is None and system == self._ndc:  # an NDC: by its labeler and product, any package
                    found = self.knowledge.agents_by_ndc.get(ndc_product(code) or "")
                if found is not None:
                    agents.update(found)
                    coded = True
                elif system == self._atc and code.strip():
                    other_class = other_class or not code.strip().upper().startswith(self._anticancer_atc)
            if isinstance(coding.get("display"), str):
                agents |= agents_from_name(self.knowledge, coding["display"])
        if isinstance(concept.get("text"), str):
            agents |= agents_from_name(self.knowledge, concept["text"])
        if other_class and not coded:
            # Its ATC class says what the drug is: an anticancer drug its words name is the occasion, as in
            # "Fortecortin 4 mg (Prämedikation Docetaxel)" coded H02AB02 dexamethasone (held-out j72).
            return set()
        return refine_agents(self.knowledge, agents or self._misspelt(raw_concept_texts(concept)))

    def agents_of_record(self, raw: Mapping[str, Any], medications: Mapping[str, set[str]]) -> set[str]:
        """The canonical agents a medication record (or a draft order) names; for a placeholder medication
        (drugs.yaml placeholder_medication: "NON-FORMULARY MEDICATION IV"), those its dosage texts name."""
        agents = self._agents_of_medication(raw, medications)
        if agents or not self._names_placeholder(raw):
            return agents
        found: set[str] = set()
        for text in _dosage_texts(raw):
            found |= agents_from_name(self.knowledge, text)
        return refine_agents(self.knowledge, found)

    def _misspelt(self, texts: list[str]) -> set[str]:
        """The agents names misspelt by one letter stand for (drugs.yaml misspelt_names): the last resort of a
        concept, a Medication or a reference whose names gave no agent ("Herceptn", "Perjetta840mg")."""
        found: set[str] = set()
        for text in texts:
            found |= agents_from_misspelt_name(self.knowledge, text)
        return found

    def _names_placeholder(self, raw: Mapping[str, Any]) -> bool:
        """Whether the record's medication is named as a placeholder for a drug outside the formulary."""
        concept = raw.get("medicationCodeableConcept")
        names = raw_concept_texts(concept) if isinstance(concept, JSON_OBJECT) else []
        reference = raw.get("medicationReference")
        if isinstance(reference, JSON_OBJECT) and isinstance(reference.get("display"), str):
            names.append(reference["display"])
        return any(self._placeholder.search(name) for name in names)

    def _agents_of_medication(self, raw: Mapping[str, Any], medications: Mapping[str, set[str]]) -> set[str]:
        """The canonical agents a record's medication (concept, reference, contained Medication) names."""
        concept = raw.get("medicationCodeableConcept")
        if isinstance(concept, JSON_OBJECT):
            return self._agents_of_concept_json(concept)
        reference = raw.get("medicationReference")
        if not isinstance(reference, JSON_OBJECT):
            return set()
        target = raw_text(reference.get("reference")) or ""
        agents: set[str] = set()
        if target.startswith("#"):
            contained = contained_resource(raw, target)
            if contained is not None:
                agents = self._agents_of_medication_json(contained)
        else:
            agents = set(medications.get(medication_key(target), set()))
        if isinstance(reference.get("display"), str):
            agents |= agents_from_name(self.knowledge, reference["display"])
            agents = agents or self._misspelt([reference["display"]])
        return refine_agents(self.knowledge, agents)

    # -- records ---------------------------------------------------------------------------------
    def read(
        self,
        raw: Mapping[str, Any],
        record: PatientRecord,
        medications: Mapping[str, set[str]],
        now: date,
        medication_resources: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Add one exposure per agent of a medication record the rules use.

        ``medication_resources``: the gathered Medications by ``Medication/<id>``, read for a drug the
        rules do not know when a record names it only by reference.
        """
        resource_type = str(raw.get("resourceType"))
        agents = self.agents_of_record(raw, medications)
        unresolved = None if agents else unresolved_reference(raw, medications)
        if not agents and unresolved is None:
            self._read_unidentified(raw, record, now, medication_resources or {})
            return
        status = raw.get("status")
        if not isinstance(status, str):  # a wrong JSON type: the record cannot be trusted, and is named
            record.skipped.append(reference_of(raw))
            return
        if self._left_out_noted(raw, resource_type, status, agents, record):
            return
        modified = unresolved is not None or "modifierExtension" in raw
        usable = self._usable_status(raw, status, unresolved, record) if modified else status
        if usable is None:
            return
        status = usable
        model = validated(raw, record)
        if model is None:
            return
        start, end = self._period_of(resource_type, model, now)
        if start is None:
            self._undated(raw, model, agents, record)
            return
        _note_partial_dates(raw, resource_type, model, (start, end), record)
        _note_assertion_date(resource_type, model, record)
        # An administration in progress over a period with no end yet (an infusion running, a curated course
        # given since its start: FHIR's "started but not yet completed") is given now, not on its first day.
        dose = resource_type in EVENT_SOURCES and not (status == "in-progress" and end is None and model.effectivePeriod)
        ongoing = status in ONGOING_STATUS and not dose and (end is None or end > now)
        end_recorded = end is not None or dose
        if not ongoing and end is None and status not in ONGOING_STATUS:
            end = start
        if dose:
            end = end or start
        stop_reason = self._read_stop(raw, model, record, agents, end or start)
        curative = self._curative(raw, model)
        facts = (ongoing, status, stop_reason, resource_type, model.id or "", curative, end_recorded, self._reasons(raw))
        for agent in sorted(agents):
            record.exposures.append(Exposure(agent, start, end, *facts))

    def _usable_status(self, raw: Mapping[str, Any], status: str, unresolved: str | None, record: PatientRecord) -> str | None:
        """The status to read a record with a modifier extension or an unresolved medication by: the status its
        modifiers state when the service understands every one of them (lines.yaml modifier_extensions), its own
        with none; None when the record cannot be used (``_unusable``: named on the data card)."""
        modifiers = raw_list(raw.get("modifierExtension"))
        if modifiers and unresolved is None:
            stated = [self._modifier_status(modifier) for modifier in modifiers]
            if all(stated):
                return stated[-1]
        return None if _unusable(raw, unresolved, record) else status

    def _modifier_status(self, modifier: Any) -> str | None:
        """The status one modifier extension states, if the service understands it."""
        statuses = self._understood_modifiers.get(modifier.get("url")) if isinstance(modifier, JSON_OBJECT) else None
        if not statuses:
            return None
        pairs = raw_codings(modifier.get("valueCodeableConcept"), self._aliases)
        return next((statuses[pair] for pair in pairs if pair in statuses), None)

    def _note_not_given(self, raw: Mapping[str, Any], model: Any, record: PatientRecord) -> None:
        """Name in ``record.orders_not_given`` an order on hold whose status reason or note says it was never given
        (lines.yaml order_first_dose not_given_words)."""
        if raw.get("resourceType") != "MedicationRequest":
            return
        notes = [note.get("text") for note in raw_list(raw.get("note")) if isinstance(note, JSON_OBJECT)]
        texts = raw_concept_texts(raw.get("statusReason")) + [one_spaced(text) for text in notes if isinstance(text, str)]
        if model.id and any(self._not_given_words.search(text) for text in texts):
            record.orders_not_given.add(model.id)

    def _undated(self, raw: Mapping[str, Any], model: Any, agents: set[str], record: PatientRecord) -> None:
        """A record no date dates: named on the data card; one taken now (an active or on-hold statement or
        order) is kept aside, read by the engine only when no dated record makes a metastatic line."""
        resource_type, status = str(raw.get("resourceType")), str(raw.get("status"))
        record.skipped.append(f"{resource_type}/{model.id or '?'} (no date)")
        if status in ONGOING_STATUS and resource_type not in EVENT_SOURCES:  # taken now, since when is not said
            facts = (True, status, None, resource_type, model.id or "", self._curative(raw, model), False, self._reasons(raw))
            record.undated_ongoing += [Exposure(agent, date.min, None, *facts) for agent in sorted(agents)]

    def _reasons(self, raw: Mapping[str, Any]) -> tuple[str, ...]:
        """What a record says it was given for, and the order it carries out (``Exposure.reasons``)."""
        if _REASON_KEYS.isdisjoint(raw):
            return ()  # most records: one look-up, no more
        references, concepts = raw.get("reasonReference"), raw.get("reasonCode")
        request, prescriptions = raw.get("request"), raw.get("authorizingPrescription")
        found = [f"Condition/{named}" for reference in raw_list(references) if (named := referenced_id(reference, "Condition"))]
        for concept in raw_list(concepts):
            found.extend(
                f"icd10:{code.strip().upper()}" for system, code in raw_codings(concept, self._aliases) if system == self._icd10
            )
        if concepts or references:
            found += self._other_indication(concepts, references)
        for reference in (request, *raw_list(prescriptions), *raw_list(raw.get("basedOn"))):  # the order it carries out
            named = referenced_id(reference, "MedicationRequest")
            if named:
                found.append(f"MedicationRequest/{named}")
        return tuple(found)

    def _other_indication(self, concepts: Any, references: Any) -> list[str]:
        """[OTHER_INDICATION] when a reason is a disease other than a cancer (terminology.yaml
        other_indications), by its ICD-10 code or by the words of a reason or of a Condition reference's
        display: "Lupus nephritis class IV", "Fertility preservation before chemotherapy"."""
        terminology = self.knowledge.terminology
        texts = [raw_text(raw_mapping(reference).get("display")) or "" for reference in raw_list(references)]
        for concept in raw_list(concepts):
            for system, code in raw_codings(concept, self._aliases):
                if system == self._icd10 and code.strip().upper().startswith(terminology.other_indication_icd10):
                    return [OTHER_INDICATION]
            texts += raw_concept_texts(concept)
        joined = " ; ".join(text for text in texts if text)
        return [OTHER_INDICATION] if joined and terminology.other_indication_words.search(joined) else []

    # -- an anticancer drug the rules do not know (drugs.yaml unknown_anticancer) ---------------
    def _into_csf(self, raw: Mapping[str, Any]) -> bool:
        """Whether a record's dosage route is into the cerebrospinal fluid (drugs.yaml csf_routes). Asked only of an
        unknown anticancer drug's records (issue 16: asking every record had cost ex3 a tenth of its time)."""
        dosages = raw.get("dosageInstruction", raw.get("dosage"))  # an administration's dosage is one object
        for dosage in [dosages] if isinstance(dosages, JSON_OBJECT) else raw_list(dosages):
            route = dosage.get("route") if isinstance(dosage, JSON_OBJECT) else None
            if route is None or not self._hints_csf(str(route).lower()):
                continue
            if any(pair in self._csf_route_codes for pair in raw_codings(route, self._aliases)):
                return True
            if any(self._csf_route_words.search(text) for text in raw_concept_texts(route)):
                return True
        return False

    def _hints_csf(self, lowered: str) -> bool:
        """Whether a route's text (its JSON, lower case) holds a code or word of the cerebrospinal fluid at all."""
        for hint in self._csf_hints:
            if hint in lowered:
                return True
        return False

    def _drug_words(
        self, raw: Mapping[str, Any], medication_resources: Mapping[str, Mapping[str, Any]]
    ) -> tuple[list[str], list[str]]:
        """(ATC codes, texts) of a record's drug: its ``medicationCodeableConcept``, the code and active
        ingredients of the Medication it references (contained or gathered) and a reference's display."""
        concepts, texts = _drug_concepts(raw, medication_resources)
        atc: list[str] = []
        for concept in concepts:
            for coding in raw_list(concept.get("coding")):
                if not isinstance(coding, JSON_OBJECT):
                    continue
                system, code = coding.get("system"), coding.get("code")
                if isinstance(system, str) and isinstance(code, str) and self._aliases.get(system, system) == self._atc:
                    atc.append(code.strip().upper())
                if isinstance(coding.get("display"), str):
                    texts.append(coding["display"])
            if isinstance(concept.get("text"), str):
                texts.append(concept["text"])
        return atc, texts

    def premedication_of(self, raw: Mapping[str, Any], medication_resources: Mapping[str, Mapping[str, Any]]) -> str | None:
        """The premedication (safety.yaml premedication: "loperamide") a record of no known agent names, if any."""
        return self._premedication_in(*self._drug_words(raw, medication_resources))

    def _names_unknown_anticancer(self, atc: list[str], texts: list[str]) -> str | None:
        """The ATC code or the word by which a record naming no known agent is an anticancer drug, if it is."""
        code = next((code for code in atc if code.startswith(self._anticancer_atc)), None)
        if code is not None:
            return code
        if any(atc):  # coded in another ATC group (a steroid, an antiemetic): its words name its occasion (held-out j72)
            return None
        conjugate = next((pair for text in texts if (pair := script_conjugate(self.knowledge, text))), None)
        if conjugate is not None:  # "трастузумаб рецетекан": a conjugate of an HER2 antibody, not the antibody
            return conjugate
        supportive = self.knowledge.supportive_first_words
        names = [name for name in map(normalise_name, texts) if not (name and name[0] in supportive)]
        words = (word for name in names for word in name)
        # A supportive drug's record naming the drug it goes with is not one (drugs.yaml supportive_first_words).
        # Such words, once each and at most three: "trastuzumab botidotin" (a conjugate) is named whole,
        # not as "trastuzumab".
        named = dict.fromkeys(
            w
            for w in words
            if (w.endswith(self._anticancer_suffixes) and not w.endswith(self._anticancer_exceptions)) or w in self._regimen_words
        )
        if named:
            return " ".join(list(named)[:3])
        trial = next((found for text in texts if (found := self._trial_words.search(text))), None)
        return trial.group(0).lower() if trial else None

    def _read_unidentified(
        self,
        raw: Mapping[str, Any],
        record: PatientRecord,
        now: date,
        medication_resources: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """A record naming no known agent: kept when it is an anticancer drug all the same, for the engine
        to judge whether the line can still be told, or a premedication a label asks for (loperamide)."""
        atc, texts = self._drug_words(raw, medication_resources)
        named = self._names_unknown_anticancer(atc, texts)
        resource_type = str(raw.get("resourceType"))
        premedication = None if named is not None or not self._premedication_words else self._premedication_in(atc, texts)
        if (named is None and premedication is None) or (named is not None and self._into_csf(raw)):
            return  # neither; or intrathecal methotrexate: CNS-directed regional therapy, no systemic line
        status = raw.get("status")
        if not isinstance(status, str) or self._left_out(raw, resource_type, status):
            return
        model = validated(raw, record)
        if model is None:
            return
        start, end = self._period_of(resource_type, model, now)
        ongoing = status in ONGOING_STATUS and resource_type not in EVENT_SOURCES and (end is None or end > now)
        if premedication is not None:
            if start is not None:
                record.premedications.append(Premedication(premedication, start, end or start, ongoing))
            return
        therapy = UnidentifiedTherapy(
            reference_of(raw), str(named), start, end, ongoing, self._curative(raw, model), self._reasons(raw)
        )
        record.unidentified_anticancer.append(therapy)

    def _premedication_in(self, atc: list[str], texts: list[str]) -> str | None:
        """The premedication (safety.yaml premedication) that ATC codes or words name, if any."""
        found = next((self._premedication_atc[code] for code in atc if code in self._premedication_atc), None)
        words = (word for text in texts for word in normalise_name(text))
        return found or next((self._premedication_words[w] for w in words if w in self._premedication_words), None)

    def _left_out_noted(
        self, raw: Mapping[str, Any], resource_type: str, status: str, agents: set[str], record: PatientRecord
    ) -> bool:
        """``_left_out``, noting the agents of a statement saying they were not taken (PatientRecord.not_taken)."""
        if not self._left_out(raw, resource_type, status):
            return False
        if status == "not-taken" and resource_type == "MedicationStatement":
            record.not_taken |= agents
        elif status == "cancelled" and resource_type == "MedicationRequest" and isinstance(raw.get("id"), str):
            record.orders_cancelled.add(f"MedicationRequest/{raw['id']}")
        elif status == "not-done" and resource_type == "MedicationAdministration":
            record.agents_not_done |= agents
            if "statusReason" in raw:
                self._note_dose_not_given(raw, agents, record)
        return True

    def _note_dose_not_given(self, raw: Mapping[str, Any], agents: set[str], record: PatientRecord) -> None:
        """Note in ``record.doses_not_given`` a dose not given for a progression or a toxicity its status reason
        names (lines.yaml stop_reasons), on its day."""
        reasons = [concept for concept in map(decode_concept, raw_list(raw["statusReason"])) if concept is not None]
        period = raw.get("effectivePeriod")
        day = to_date(raw.get("effectiveDateTime")) or (to_date(period.get("start")) if isinstance(period, JSON_OBJECT) else None)
        if not reasons or day is None:
            return
        why = self._with_findings(self._stop_reason(reasons), reasons, raw, agents, day, record)
        if why in ("progression", "toxicity"):
            record.doses_not_given += [(agent, day, why) for agent in sorted(agents)]

    @staticmethod
    def _left_out(raw: Mapping[str, Any], resource_type: str, status: str) -> bool:
        """True for a record the history leaves out by its status (entered in error, not taken...) or intent.

        A request with ``doNotPerform`` true forbids the drug, and a statement or administration may say
        it was not taken or given (``NOT_GIVEN_ELEMENTS``). A dispense counts once the drug was handed
        over (``whenHandedOver``, or the dispense completed).
        """
        if status in EXCLUDED_MEDICATION_STATUS[resource_type]:
            return True
        for element, value in NOT_GIVEN_ELEMENTS[resource_type]:
            if element in raw and raw[element] == value:
                return True
        if resource_type == "MedicationDispense":
            return status != DISPENSE_DONE and raw.get("whenHandedOver") is None
        if resource_type != "MedicationRequest" or raw_text(raw.get("intent")) not in EXCLUDED_REQUEST_INTENTS:
            return False
        # A "plan" reported by the patient or another provider is a medication taken, not one planned: Oracle
        # Health (Cerner) documents home and outside medications so (held-out j52: THP given at an outside centre).
        return not (raw.get("intent") == "plan" and (raw.get("reportedBoolean") is True or "reportedReference" in raw))

    def _period_of(self, resource_type: str, model: Any, now: date) -> tuple[date | None, date | None]:
        """(start, end) from every place EHRs keep a course's dates."""
        if resource_type == "MedicationRequest":
            start, end = _request_period(model, now)
            if end is not None and end <= now and model.status in ONGOING_STATUS and self._next_dose_after(model, end) > now:
                return start, None  # still in force, and its next dose is not due yet
            return start, end
        if resource_type == "MedicationDispense":
            return _dispense_period(model, now)
        period = model.effectivePeriod
        if period is not None:
            return to_date(period.start) or to_date(period.end), to_date(period.end)
        when = to_date(model.effectiveDateTime)
        if when is None and resource_type == "MedicationStatement":
            return self._statement_period(model)
        return when, (when if resource_type == "MedicationAdministration" else None)

    def _next_dose_after(self, order: Any, end: date) -> date:
        """The day an order's next dose is due after the last its bounds plan: ``end`` plus its dosing
        interval (lines.yaml active_order_interval); ``end`` when the order gives none."""
        days = 0.0
        for dosage in order.dosageInstruction or []:
            repeat = dosage.timing.repeat if dosage.timing else None
            if repeat is not None and repeat.period is not None and repeat.period > 0:
                days = max(days, repeat.period * self._interval_unit_days.get(repeat.periodUnit or "", 0))
        return end + timedelta(days=min(days, self._max_interval_days))

    @staticmethod
    def _statement_period(model: Any) -> tuple[date | None, date | None]:
        """A MedicationStatement without effective[x]: its dosage's bounds, else the day it was asserted
        (the drug was being taken, or had been, by then; ``dated_by_assertion`` names it)."""
        bounds = _dosage_bounds(model)
        if bounds is not None:
            return to_date(bounds.start) or to_date(bounds.end), to_date(bounds.end)
        return to_date(model.dateAsserted), None

    def _curative(self, raw: Mapping[str, Any], model: Any) -> bool:
        """Marked curative, adjuvant or neoadjuvant (mCODE treatment intent, reason text)."""
        for extension in raw_list(raw.get("extension")):
            if isinstance(extension, JSON_OBJECT) and extension.get("url") in self._intent_extensions:
                concept = raw_mapping(extension.get("valueCodeableConcept"))
                for coding in raw_list(concept.get("coding")):
                    if isinstance(coding, JSON_OBJECT) and raw_text(coding.get("code")) in self._curative_codes:
                        return True
                if self._says_curative([raw_text(concept.get("text")) or ""]):
                    return True
        if model.reasonCode is None and model.reasonReference is None:
            return False  # the usual case: no reason given
        texts = [text for concept in model.reasonCode or [] for text in concept_texts(concept)]
        texts += [ref.display for ref in model.reasonReference or [] if ref.display]
        return self._says_curative(texts)

    def _says_curative(self, texts: list[str]) -> bool:
        return any(word in text.lower() for text in texts for word in self._curative_words)

    def _read_stop(self, raw: Mapping[str, Any], model: Any, record: PatientRecord, agents: set[str], on: date) -> str | None:  # noqa: PLR0913
        """progression | toxicity | other from the status reasons (None without one). A drug stopped for
        ILD or pneumonitis, or for heart failure or cardiomyopathy, is a toxicity, coded with no words too,
        and an episode of that finding. An order on hold is also read for words saying it was never given."""
        if raw["status"] == "on-hold":  # rare: held, perhaps before it was ever given (read() checked the status)
            self._note_not_given(raw, model, record)
        reasons = getattr(model, "statusReason", None)  # a dispense's status reasons are why it was not made
        if reasons is None and "extension" in raw:  # mCODE STU2 (the usual case: no extension)
            reasons = self._termination_reasons(raw)
        if reasons is None:
            return None
        return self._with_findings(self._stop_reason(reasons), reasons, raw, agents, on, record)

    def _with_findings(  # noqa: PLR0913
        self, stop_reason: str, reasons: Any, raw: Mapping[str, Any], agents: set[str], on: date, record: PatientRecord
    ) -> str:
        """``stop_reason``, a toxicity when the reasons name ILD or pneumonitis, heart failure or cardiomyopathy,
        coded or in words, recording an episode of that finding on ``on``."""
        if stop_reason in ("toxicity", "other"):
            terminology = self.knowledge.terminology
            for terms, found in ((terminology.lung, record.lung_disease), (terminology.heart, record.heart_failure)):
                if self._stopped_for(reasons, terms):
                    stop_reason = "toxicity"
                    concepts = reasons if isinstance(reasons, list) else [reasons]
                    grade = terms.grade_of([text for concept in concepts for text in concept_texts(concept)])
                    found.append(Finding(on, False, reference_of(raw), tuple(sorted(agents)), grade))
        return stop_reason

    def _stop_reason(self, reasons: Any) -> str:
        """progression | toxicity by a concept's codes, else its words; "other" for none. The words of a concept
        coded as a completed course are not read: they say what was planned (lines.yaml stop_reasons completed);
        nor those of one coded as a stop for another cause (stop_reasons other: pregnancy's "embryo-fetal toxicity")."""
        concepts = reasons if isinstance(reasons, list) else [reasons]
        knowledge = self.knowledge
        for concept in concepts:
            unread = False
            for coding in codings(concept):
                pair = coding_pair(coding, self._aliases)
                if pair in knowledge.progression_stop_codes:
                    return "progression"
                if pair in knowledge.toxicity_stop_codes:
                    return "toxicity"
                unread = unread or pair in knowledge.unread_stop_codes
            if unread:
                continue
            for text in concept_texts(concept):
                said = self._stop_reason_in_words(text.lower())
                if said is not None:
                    return said
        return "other"

    def _termination_reasons(self, raw: Mapping[str, Any]) -> list[Any] | None:
        """Why a treatment ended, from mCODE STU2's terminationReason extension (lines.yaml stop_reasons
        termination_extensions), as statusReason concepts; None when there is none (or none readable)."""
        found = [
            extension.get("valueCodeableConcept")
            for extension in raw_list(raw.get("extension"))
            if isinstance(extension, JSON_OBJECT) and extension.get("url") in self._termination_extensions
        ]
        concepts = [concept for concept in map(decode_concept, found) if concept is not None]
        return concepts or None

    def _stopped_for(self, reasons: Any, terms: FindingTerms) -> bool:
        """Whether a stop reason names the finding of ``terms`` (terminology.yaml lung_disease, heart_failure):
        the labels' rules ask about such an episode whatever became of it."""
        snomed, icd10 = self.knowledge.systems["snomed"], self.knowledge.systems["icd10cm"]
        texts: list[str] = []
        for concept in reasons if isinstance(reasons, list) else [reasons]:
            for coding in codings(concept):
                system, code = coding_pair(coding, self._aliases)
                if (system == snomed and code in terms.snomed) or (system == icd10 and code.startswith(terms.icd10_prefixes)):
                    return True
            texts += concept_texts(concept)
        return self.knowledge.terminology.in_words(terms, texts) is True

    def _stop_reason_in_words(self, lowered: str) -> str | None:
        """progression | toxicity from a stop reason's words (lines.yaml stop_reasons): a progression, else
        a toxicity, else a response absent or lost; None when the words say none of them."""
        denied = self.knowledge.terminology.text_denied_progression.search(lowered)
        if not denied and self._progression_words.search(lowered):
            return "progression"
        undenied = self._denied_cause.sub(" ", lowered) if "not " in lowered else lowered
        if any(word in undenied for word in self._toxicity_words):
            return "toxicity"
        if not denied and self._no_response_words.search(lowered):
            return "progression"
        return None


def _drug_concepts(
    raw: Mapping[str, Any], medication_resources: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """A medication record's drug concepts (its own; the code and active ingredients of the Medication it
    references, contained or gathered) and the displays of a reference and of ingredient references."""
    concepts: list[Mapping[str, Any]] = []
    texts: list[str] = []
    concept = raw.get("medicationCodeableConcept")
    if isinstance(concept, JSON_OBJECT):
        concepts.append(concept)
    reference = raw.get("medicationReference")
    if not isinstance(reference, JSON_OBJECT):
        return concepts, texts
    if isinstance(reference.get("display"), str):
        texts.append(reference["display"])
    target = raw_text(reference.get("reference")) or ""
    if target.startswith("#"):
        medication = contained_resource(raw, target)
    else:
        medication = medication_resources.get(medication_key(target)) if target else None
    if medication is not None:
        _medication_concepts(medication, concepts, texts)
    return concepts, texts


def _medication_concepts(medication: Mapping[str, Any], concepts: list[Mapping[str, Any]], texts: list[str]) -> None:
    """Add a Medication's code and its active ingredients' concepts and reference displays."""
    if isinstance(medication.get("code"), JSON_OBJECT):
        concepts.append(medication["code"])
    for ingredient in raw_list(medication.get("ingredient")):
        if not isinstance(ingredient, JSON_OBJECT) or ingredient.get("isActive") is False:
            continue
        if isinstance(ingredient.get("itemCodeableConcept"), JSON_OBJECT):
            concepts.append(ingredient["itemCodeableConcept"])
        item_reference = ingredient.get("itemReference")
        if isinstance(item_reference, JSON_OBJECT) and isinstance(item_reference.get("display"), str):
            texts.append(item_reference["display"])


def _note_partial_dates(
    raw: Mapping[str, Any], resource_type: str, model: Any, period: tuple[date, date | None], record: PatientRecord
) -> None:
    """Name in ``record.partially_dated`` a record whose start or end was written to the month or year only (read
    as the period's first day: a record dated on no first day is not looked at)."""
    start, end = period
    if start.day != 1 and (end is None or end.day != 1):
        return
    precision = partial_precision(raw, start, end)
    if precision != ("", "") and model.id:
        record.partially_dated[f"{resource_type}/{model.id}"] = precision


def partial_precision(raw: Mapping[str, Any], start: date, end: date | None) -> tuple[str, str]:
    """("month" or "year", the same for ``end``) for a medication record's dates read from a date written to the
    month or year only ("2026-01", read as 1 January: a patient's own list, an import); "" for a date the record
    writes to the day. Every place a record keeps its dates is looked at: a date is partial when only a partial
    one gives it."""
    partial: dict[date, str] = {}
    exact: set[date] = set()
    for text in _date_texts(raw):
        day = to_date(text) if isinstance(text, str) else None
        if day is not None:
            precision = PARTIAL_PRECISION.get(len(text))
            if precision is None:
                exact.add(day)
            else:
                partial.setdefault(day, precision)
    return (
        "" if start in exact else partial.get(start, ""),
        "" if end is None or end in exact else partial.get(end, ""),
    )


def _date_texts(raw: Mapping[str, Any]) -> list[Any]:
    """The dates a medication record writes, as sent: effective[x], the order's, dispense's and statement's own
    dates, its dosage's bounds and dose days, an order's validity period."""
    period = raw_mapping(raw.get("effectivePeriod"))
    validity = raw_mapping(raw_mapping(raw.get("dispenseRequest")).get("validityPeriod"))
    texts = [raw.get(key) for key in ("effectiveDateTime", "authoredOn", "whenHandedOver", "whenPrepared", "dateAsserted")]
    texts += [period.get("start"), period.get("end"), validity.get("start"), validity.get("end")]
    for dosage in raw_list(raw.get("dosage")) + raw_list(raw.get("dosageInstruction")):
        timing = raw_mapping(raw_mapping(dosage).get("timing"))
        bounds = raw_mapping(raw_mapping(timing.get("repeat")).get("boundsPeriod"))
        texts += [bounds.get("start"), bounds.get("end"), *raw_list(timing.get("event"))]
    return texts


def _dosage_bounds(model: Any) -> Any:
    """The first ``dosage[].timing.repeat.boundsPeriod`` of a MedicationStatement that holds a date."""
    for dosage in model.dosage or []:
        bounds = dosage.timing.repeat.boundsPeriod if dosage.timing and dosage.timing.repeat else None
        if bounds is not None and (bounds.start is not None or bounds.end is not None):
            return bounds
    return None


def _unusable(raw: Mapping[str, Any], unresolved: str | None, record: PatientRecord) -> bool:
    """A record of the history that cannot be used, named on the data card and distrusting the history: one
    carrying a ``modifierExtension`` (FHIR: a reader that does not understand a modifier must not use the record:
    "not given", "planned"), or one whose drug nobody can tell (``unresolved``: its Medication was not read)."""
    if "modifierExtension" in raw and raw["modifierExtension"]:
        record.skipped.append(f"{reference_of(raw)} (a modifier extension this service does not understand)")
        record.unusable_medications.append(reference_of(raw))
        return True
    if unresolved is not None:
        record.skipped.append(f"{reference_of(raw)} (its medication {unresolved} could not be read)")
        record.unresolved_medications.append(reference_of(raw))
        return True
    return False


def _dosage_texts(raw: Mapping[str, Any]) -> list[str]:
    """The dose instructions' texts of an order or dispense (``dosageInstruction``), a statement (``dosage``,
    a list) or an administration (``dosage``, one)."""
    dosage = raw.get("dosage")
    dosages = [*raw_list(raw.get("dosageInstruction")), *(raw_list(dosage) or [dosage])]
    return [dosage["text"] for dosage in dosages if isinstance(dosage, JSON_OBJECT) and isinstance(dosage.get("text"), str)]


def _note_assertion_date(resource_type: str, model: Any, record: PatientRecord) -> None:
    """Name a MedicationStatement whose only date is ``dateAsserted`` (``_statement_period`` used it)."""
    if resource_type != "MedicationStatement" or model.effectiveDateTime is not None or model.effectivePeriod is not None:
        return
    if _dosage_bounds(model) is None:
        record.dated_by_assertion.append(f"MedicationStatement/{model.id or '?'}")


def _request_period(model: Any, now: date) -> tuple[date | None, date | None]:
    """An order's dosage bounds, else the days its doses are timed for (``timing.event``: a first cycle
    planned for next week, held-out d71), else its ``dispenseRequest.validityPeriod`` (Epic), else
    ``authoredOn``; a completed order so dated ends when its supply ran out (``_supply_end``)."""
    events: list[date] = []
    validity = model.dispenseRequest.validityPeriod if model.dispenseRequest else None
    for dosage in model.dosageInstruction or []:
        bounds = dosage.timing.repeat.boundsPeriod if dosage.timing and dosage.timing.repeat else None
        if bounds is not None and bounds.start is not None:
            # A start alone is ended by the validity period's end, when there is one and it is past: an Epic infusion
            # order's bounds give its first day, its validity the last (held-out bs1: a 16-month HP course had read as
            # one day). A validity running on past today is a plan, not an end (held-out ca1: a T-DXd order valid for a
            # year, given three months, had ended its line in the future).
            valid_to = to_date(validity.end) if validity is not None else None
            return to_date(bounds.start), to_date(bounds.end) or (valid_to if valid_to is not None and valid_to <= now else None)
        if dosage.timing and dosage.timing.event:
            events += [day for day in map(to_date, dosage.timing.event) if day is not None]
    if events:  # one day is a start, as a bounds start alone is; several end on the last
        return min(events), (max(events) if len(events) > 1 else None)
    if validity is not None and (validity.start is not None or validity.end is not None):
        start = to_date(validity.start) or to_date(model.authoredOn) or to_date(validity.end)
        # A validity shorter than the supply it gives is the time to fill it, not the course: a Japanese prescription
        # is valid four days for 56 days of anastrozole (held-out bu4: each had read as four days, the line as ended).
        supplied = _supply_end(model.dispenseRequest, start, now)
        end = to_date(validity.end)
        if supplied is None or (end is not None and supplied <= end) or model.status == "stopped":  # stopped: its end
            return start, end
        # An order still active whose supply reaches today runs on; otherwise it ends when its supply ran out.
        return start, None if model.status in ONGOING_STATUS and supplied >= now else supplied
    start = to_date(model.authoredOn)
    return start, (_supply_end(model.dispenseRequest, start, now) if model.status == "completed" else None)


def _supply_end(request: Any, start: date | None, now: date) -> date | None:
    """The last day a completed order's supply covers: its ``expectedSupplyDuration`` (in days) for the
    first fill and each of ``numberOfRepeatsAllowed`` (a completed order has had them all), a year at
    most, up to ``now``; None when the order gives no supply in days. An oral drug prescribed for six months with refills
    had ended the day it was ordered."""
    supply = request.expectedSupplyDuration if request is not None else None
    if start is None or supply is None or supply.value is None or supply.comparator is not None:
        return None
    per_fill = int(supply.value)
    if (supply.code or supply.unit or "d").strip().lower() not in DAYS_SUPPLY_UNITS or not 1 <= per_fill <= MAX_DAYS_SUPPLY:
        return None
    # A prescription's refills cover a year at most (US prescriptions lapse after a year: a convention).
    days = min(MAX_DAYS_SUPPLY, per_fill * (1 + max(0, request.numberOfRepeatsAllowed or 0)))
    return max(start, min(now, start + timedelta(days=days - 1)))


def _dispense_period(model: Any, now: date) -> tuple[date | None, date | None]:
    """(day handed over, last day of its supply): ``whenHandedOver`` (else ``whenPrepared``) and ``daysSupply``.

    The supply counts up to ``now`` at most: that the drug is still being taken is known no further,
    and a line must not end after the day of the evaluation.
    """
    start = to_date(model.whenHandedOver) or to_date(model.whenPrepared)
    supply = model.daysSupply
    if start is None or supply is None or supply.value is None or supply.comparator is not None:
        return start, start
    unit = (supply.code or supply.unit or "d").strip().lower()
    days = int(supply.value)
    if unit not in DAYS_SUPPLY_UNITS or not 1 <= days <= MAX_DAYS_SUPPLY:
        return start, start
    return start, max(start, min(now, start + timedelta(days=days - 1)))
