"""FHIR R4 resources -> domain objects.

Resources are filtered by code first (cheap dictionary look-ups on the raw JSON) and only those the
rules need are validated with the ``fhir.resources.R4B`` models. The rules use only the latest of each
liver test and of the disease statuses other than progression, so older ones are never validated: the
newest by raw date is tried first, then the next while it yields nothing, and a patient with years of
monthly labs costs a handful of validations, not thousands (issue 6). A resource that fails validation is
repaired once by dropping the elements the model does not know; if it still fails it is skipped and
named in ``PatientRecord.skipped`` (the cards say so), never raised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from service.domain import CancerCondition, DiseaseStatus, Exposure, LabResult, PatientRecord, ReceptorResult
from service.infer.safety import LIVER_TESTS
from service.knowledge import Knowledge, agents_from_name, refine_agents

log = logging.getLogger(__name__)

RECEPTOR_KINDS = frozenset(
    {"her2-ihc", "her2-interpretation", "her2-ish", "her2-ratio", "her2-copies", "er", "er-percent", "pr", "pr-percent"}
)
LAB_KINDS = frozenset({"lvef", "bilirubin-total", "bilirubin-total-molar", "ast", "alt", "alp", "albumin"})
# Observation kinds of which only the latest reading of a group is read (group names the kinds that
# compete for "latest"). Albumin is read by no rule: its latest is kept for completeness of the record.
# Disease statuses are here too, except "worsened" ones: every progression date counts (infer/lines.py),
# while of the others only the latest matters (infer/safety.py, liver local therapy review).
LATEST_ONLY: dict[str, str] = {kind: group[0] for group in LIVER_TESTS for kind in group} | {
    "albumin": "albumin",
    "disease-status": "disease-status",
}
MODELS: dict[str, Any] = {
    "Observation": Observation,
    "Condition": Condition,
    "MedicationStatement": MedicationStatement,
    "MedicationRequest": MedicationRequest,
    "MedicationAdministration": MedicationAdministration,
    "Medication": Medication,
}
# Record statuses that take a medication record out of the history (docs/clinical-rules.md §0).
EXCLUDED_MEDICATION_STATUS = {
    "MedicationStatement": {"entered-in-error", "not-taken", "intended"},
    "MedicationRequest": {"entered-in-error", "cancelled", "draft"},
    "MedicationAdministration": {"entered-in-error", "not-done"},
}
EXCLUDED_REQUEST_INTENTS = {"proposal", "plan"}
ONGOING_STATUS = {"active", "on-hold", "in-progress"}
NOT_VALIDATED: Any = object()  # "validate it now", as opposed to None: "validated, and invalid"
# Linear time on long inputs: a number starts only where no digit or dot precedes it, and the spaces
# around an optional comparator are one run (``\s*[<>]?\s*`` backtracks quadratically over spaces).
_PERCENT = re.compile(r"(?<![\d.])(-?\d+(?:\.\d+)?)\s*%")
_NUMBER = re.compile(r"^\s*(?:[<>]\s*)?(-?\d+(?:\.\d+)?)\s*$")


def to_date(value: Any) -> date | None:
    """A FHIR date/dateTime (model value or string) as a calendar date; None when absent or unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        if len(text) == 4:
            return date(int(text), 1, 1)
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1)
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _raw_observation_date(raw: Mapping[str, Any]) -> date | None:
    """The date ``_read_observation`` reads from the model, read from the raw JSON instead."""
    period = raw.get("effectivePeriod")
    return (
        to_date(raw.get("effectiveDateTime"))
        or (to_date(period.get("start")) if isinstance(period, Mapping) else None)
        or to_date(raw.get("issued"))
    )


def validate_resource(resource: Mapping[str, Any]) -> Any | None:
    """Validate with the R4B model; drop unknown elements once and retry; None when still invalid."""
    model = MODELS.get(str(resource.get("resourceType")))
    if model is None:
        return None
    try:
        return model.model_validate(resource)
    except ValidationError as exc:
        repaired = _drop_unknown_elements(resource, exc)
        if repaired is None:
            return None
        try:
            return model.model_validate(repaired)
        except ValidationError:
            return None


def _drop_unknown_elements(resource: Mapping[str, Any], exc: ValidationError) -> dict[str, Any] | None:
    """A copy without the elements the model reported as not permitted; None if other errors remain."""
    paths = []
    for error in exc.errors():
        if error.get("type") != "extra_forbidden":
            return None
        paths.append(error["loc"])
    copy: Any = _deep_copy(resource)
    for path in paths:
        node = copy
        for step in path[:-1]:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return dict(copy)


def _deep_copy(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {key: _deep_copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_deep_copy(item) for item in node]
    return node


def _raw_list(value: Any) -> list[Any]:
    """A raw JSON array as it is, anything else (absent, null, a number, an object) as no items."""
    return value if isinstance(value, list) else []


def _raw_text(value: Any) -> str | None:
    """A raw JSON string as it is, anything else as None (so it can be looked up in a set)."""
    return value if isinstance(value, str) else None


def _raw_codings(node: Any) -> Iterable[tuple[str, str]]:
    """(system, code) pairs of a raw CodeableConcept."""
    if isinstance(node, Mapping):
        for coding in _raw_list(node.get("coding")):
            if isinstance(coding, Mapping):
                yield str(coding.get("system") or ""), str(coding.get("code") or "")


def _codings(concept: Any) -> list[Any]:
    return list(getattr(concept, "coding", None) or []) if concept is not None else []


def _concept_texts(concept: Any) -> list[str]:
    """The text and every coding display of a CodeableConcept model."""
    if concept is None:
        return []
    texts = [concept.text] if getattr(concept, "text", None) else []
    texts.extend(coding.display for coding in _codings(concept) if coding.display)
    return texts


class Normaliser:
    """Turns the gathered FHIR resources of one patient into a ``PatientRecord``."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self._observation_statuses = frozenset(knowledge.raw["codes"]["observation_statuses"])
        self._excluded_verification = frozenset(knowledge.raw["codes"]["condition_excluded_verification"])
        self._secondary_profiles = frozenset(knowledge.raw["codes"].get("secondary_cancer_profiles", []))
        self._snomed = knowledge.systems["snomed"]
        self._rxnorm = knowledge.systems["rxnorm"]

    # -- entry point -------------------------------------------------------------------------
    def patient_record(self, patient_id: str, resources: Iterable[Mapping[str, Any]], now: date) -> PatientRecord:
        """Read every resource the rules need; skip the rest."""
        record = PatientRecord(patient_id=patient_id)
        by_type: dict[str, list[Mapping[str, Any]]] = {}
        for resource in resources:
            if isinstance(resource, Mapping):
                by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
        medications = self._medications_by_reference(by_type.get("Medication", []))
        self._read_observations(by_type.get("Observation", []), record)
        for raw in by_type.get("Condition", []):
            self._read_condition(raw, record)
        for resource_type in ("MedicationStatement", "MedicationRequest", "MedicationAdministration"):
            for raw in by_type.get(resource_type, []):
                self._read_medication_record(raw, record, medications, now)
        return record

    def _validated(self, raw: Mapping[str, Any], record: PatientRecord, model: Any = NOT_VALIDATED) -> Any | None:
        """``model`` when the caller validated ``raw`` already (None: invalid), else validate now; None (named) if invalid."""
        if model is NOT_VALIDATED:
            model = validate_resource(raw)
        if model is None:
            record.skipped.append(f"{raw.get('resourceType')}/{raw.get('id', '?')}")
        return model

    # -- observations ------------------------------------------------------------------------
    def _read_observations(self, raws: list[Mapping[str, Any]], record: PatientRecord) -> None:
        """Read every Observation the rules need, in their original order (ties of "latest" keep that order).

        The candidates of a LATEST_ONLY group are tried newest first (by raw date, then original order)
        until one yields a reading; only the tried ones are validated and read, so the chosen one is the
        one the rules would have picked from all of them, and a newer unreadable one is still named.
        """
        chosen: list[int] = []
        groups: dict[str, list[tuple[date, int]]] = {}
        for index, raw in enumerate(raws):
            latest_only = self._latest_only(raw)
            if latest_only is None:
                chosen.append(index)
            else:
                groups.setdefault(latest_only[0], []).append((latest_only[1], -index))
        models: dict[int, Any] = {}
        for candidates in groups.values():
            for _on, negative_index in sorted(candidates, reverse=True):
                index = -negative_index
                chosen.append(index)
                models[index] = validate_resource(raws[index])
                trial = PatientRecord(patient_id=record.patient_id)
                self._read_observation(raws[index], trial, models[index])
                if trial.labs or trial.disease_statuses:
                    break
        for index in sorted(chosen):
            self._read_observation(raws[index], record, models.get(index, NOT_VALIDATED))

    def _latest_only(self, raw: Mapping[str, Any]) -> tuple[str, date] | None:
        """(group, raw date) when only the latest reading of ``raw``'s kind matters; None to read it in any case."""
        group = LATEST_ONLY.get(self._kind_of(raw.get("code")) or "")
        if group is None or raw.get("component") or raw.get("status") not in self._observation_statuses:
            return None
        if group == "disease-status" and self._raw_disease_status(raw) == "worsened":
            return None
        on = _raw_observation_date(raw)
        return None if on is None else (group, on)

    def _raw_disease_status(self, raw: Mapping[str, Any]) -> str | None:
        """``_disease_status`` on the raw JSON (system and code are kept as they are by validation)."""
        for system, code in _raw_codings(raw.get("valueCodeableConcept")):
            if system == self._snomed and code in self.knowledge.disease_status_by_code:
                return self.knowledge.disease_status_by_code[code]
        return None

    def _kind_of(self, concept: Any) -> str | None:
        for system, code in _raw_codings(concept):
            kind = self.knowledge.observation_kind.get((system, code))
            if kind:
                return kind
        return None

    def _read_observation(self, raw: Mapping[str, Any], record: PatientRecord, model: Any = NOT_VALIDATED) -> None:
        kind = self._kind_of(raw.get("code"))
        component_kinds = [self._kind_of(c.get("code")) for c in _raw_list(raw.get("component")) if isinstance(c, Mapping)]
        if kind is None and not any(component_kinds):
            return
        if _raw_text(raw.get("status")) not in self._observation_statuses:
            return
        observation = self._validated(raw, record, model)
        if observation is None:
            return
        on = (
            to_date(observation.effectiveDateTime)
            or (to_date(observation.effectivePeriod.start) if observation.effectivePeriod else None)
            or to_date(observation.issued)
        )
        if on is None:
            record.skipped.append(f"Observation/{observation.id or '?'} (no date)")
            return
        record_id = observation.id or ""
        if kind:
            self._read_value(kind, observation, on, record_id, record)
        for component in observation.component or []:
            component_kind = self._kind_of(component.code.model_dump() if component.code else None)
            if component_kind:
                self._read_value(component_kind, component, on, record_id, record)

    def _read_value(self, kind: str, holder: Any, on: date, record_id: str, record: PatientRecord) -> None:
        """Decode the value[x] of an Observation or component for one kind."""
        if kind in RECEPTOR_KINDS:
            result = self._receptor_result(kind, holder, on, record_id)
            if result is not None:
                record.receptors.append(result)
        elif kind in LAB_KINDS:
            lab = self._lab_result(kind, holder, on, record_id)
            if lab is not None:
                record.labs.append(lab)
        elif kind in ("stage-group", "m-category"):
            if any(
                c.code in self.knowledge.stage_iv_values for c in _codings(getattr(holder, "valueCodeableConcept", None))
            ) or any(self.knowledge.stage_iv.match(text) for text in self._value_texts(holder)):
                record.conditions.append(CancerCondition("stage-iv", on, record_id=record_id))
        elif kind == "disease-status":
            status = self._disease_status(holder)
            if status:
                record.disease_statuses.append(DiseaseStatus(on=on, status=status, record_id=record_id))

    def _value_texts(self, holder: Any) -> list[str]:
        texts = _concept_texts(getattr(holder, "valueCodeableConcept", None))
        if getattr(holder, "valueString", None):
            texts.append(holder.valueString)
        return texts

    def _qualitative(self, holder: Any) -> str | None:
        for coding in _codings(getattr(holder, "valueCodeableConcept", None)):
            value = self.knowledge.answer_by_coding.get((coding.system or "", coding.code or ""))
            if value:
                return value
        for text in self._value_texts(holder):
            for pattern, value in self.knowledge.answer_text:
                if pattern.search(text.lower()):
                    return value
        if getattr(holder, "valueBoolean", None) is not None:
            return "positive" if holder.valueBoolean else "negative"
        return None

    def _number(self, holder: Any) -> float | None:
        quantity = getattr(holder, "valueQuantity", None)
        if quantity is not None and quantity.value is not None:
            return float(quantity.value)
        ratio = getattr(holder, "valueRatio", None)
        if ratio is not None and ratio.numerator and ratio.numerator.value is not None:
            denominator = ratio.denominator.value if ratio.denominator and ratio.denominator.value else 1
            return float(ratio.numerator.value) / float(denominator)
        if getattr(holder, "valueInteger", None) is not None:
            return float(holder.valueInteger)
        for text in self._value_texts(holder):
            match = _PERCENT.search(text) or _NUMBER.match(text)
            if match:
                return float(match.group(1))
        return None

    def _ihc_score(self, holder: Any) -> int | None:
        for text in self._value_texts(holder):
            match = self.knowledge.ihc_score.search(text.strip())
            if match:
                return int(next(group for group in match.groups() if group is not None))
        number = self._number(holder)
        if number is not None and number in (0, 1, 2, 3):
            return int(number)
        return None

    def _receptor_result(self, kind: str, holder: Any, on: date, record_id: str) -> ReceptorResult | None:
        if kind == "her2-ihc":
            score = self._ihc_score(holder)
            qualitative = None if score is not None else self._qualitative(holder)
            if score is None and qualitative is None:
                return None
            return ReceptorResult(kind, on, ihc_score=score, qualitative=qualitative, record_id=record_id)
        if kind in ("her2-ratio", "her2-copies", "er-percent", "pr-percent"):
            number = self._number(holder)
            return None if number is None else ReceptorResult(kind, on, number=number, record_id=record_id)
        if kind in ("er", "pr"):
            quantity = getattr(holder, "valueQuantity", None)
            if quantity is not None and quantity.value is not None:
                return ReceptorResult(f"{kind}-percent", on, number=float(quantity.value), record_id=record_id)
        qualitative = self._qualitative(holder)
        return None if qualitative is None else ReceptorResult(kind, on, qualitative=qualitative, record_id=record_id)

    def _lab_result(self, kind: str, holder: Any, on: date, record_id: str) -> LabResult | None:
        value = self._number(holder)
        if value is None:
            return None
        quantity = getattr(holder, "valueQuantity", None)
        unit = (quantity.unit or quantity.code or "") if quantity is not None else ""
        low = high = None
        for reference in getattr(holder, "referenceRange", None) or []:
            if reference.low is not None and reference.low.value is not None:
                low = float(reference.low.value)
            if reference.high is not None and reference.high.value is not None:
                high = float(reference.high.value)
            break
        if kind == "lvef" and 0 < value <= 1.0:  # recorded as a fraction
            value = round(value * 100, 1)
            low, high = (round(v * 100, 1) if v is not None and v <= 1.0 else v for v in (low, high))
        return LabResult(kind, on, value, unit, low, high, record_id)

    def _disease_status(self, holder: Any) -> str | None:
        for coding in _codings(getattr(holder, "valueCodeableConcept", None)):
            if coding.system == self._snomed and coding.code in self.knowledge.disease_status_by_code:
                return self.knowledge.disease_status_by_code[coding.code]
        return None

    # -- conditions --------------------------------------------------------------------------
    def _read_condition(self, raw: Mapping[str, Any], record: PatientRecord) -> None:
        codings = list(_raw_codings(raw.get("code")))
        meta = raw.get("meta")
        profiles = {p for p in _raw_list(meta.get("profile")) if isinstance(p, str)} if isinstance(meta, Mapping) else set()
        primary = any(self._is_breast_cancer(system, code) for system, code in codings)
        site = self._metastasis_site(codings)
        secondary_profile = bool(profiles & self._secondary_profiles)
        if not primary and site is None and not secondary_profile:
            return
        condition = self._validated(raw, record)
        if condition is None:
            return
        for coding in _codings(condition.verificationStatus):
            if coding.code in self._excluded_verification:
                return
        on = (
            to_date(condition.onsetDateTime)
            or (to_date(condition.onsetPeriod.start) if condition.onsetPeriod else None)
            or to_date(condition.recordedDate)
        )
        record_id = condition.id or ""
        if primary:
            record.conditions.append(CancerCondition("primary", on, record_id=record_id))
            if any(self._says_stage_iv(stage) for stage in condition.stage or []):
                record.conditions.append(CancerCondition("stage-iv", on, record_id=record_id))
        if site is not None or secondary_profile:
            if site in (None, "other"):
                site = self._site_from_body(condition) or "other"
            record.conditions.append(CancerCondition("metastasis", on, site=site, record_id=record_id))

    def _is_breast_cancer(self, system: str, code: str) -> bool:
        if (system, code) in self.knowledge.breast_cancer_codes:
            return True
        return any(system == s and code.startswith(prefix) for s, prefix in self.knowledge.breast_cancer_prefixes)

    def _metastasis_site(self, codings: list[tuple[str, str]]) -> str | None:
        """The most specific site any coding names; None if no coding is a metastasis."""
        ranked: list[tuple[bool, int, str]] = []  # (names a real site, specificity, site)
        for system, code in codings:
            site = self.knowledge.metastasis_codes.get((system, code))
            if site is not None:
                ranked.append((site != "other", 100, site))
                continue
            for sys, prefix, prefix_site in self.knowledge.metastasis_prefixes:
                if sys == system and code.startswith(prefix):
                    ranked.append((prefix_site != "other", len(prefix), prefix_site))
                    break
        return max(ranked)[2] if ranked else None

    def _site_from_body(self, condition: Any) -> str | None:
        for body_site in condition.bodySite or []:
            for text in _concept_texts(body_site):
                for word in re.findall(r"[a-z]+", text.lower()):
                    if word in self.knowledge.site_words:
                        return self.knowledge.site_words[word]
        return None

    def _says_stage_iv(self, stage: Any) -> bool:
        return any(self.knowledge.stage_iv.match(text) for text in _concept_texts(stage.summary))

    # -- medications -------------------------------------------------------------------------
    def _medications_by_reference(self, raws: list[Mapping[str, Any]]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for raw in raws:
            agents = self._agents_of_medication_json(raw)
            if agents and raw.get("id"):
                found[f"Medication/{raw['id']}"] = agents
        return found

    def _agents_of_medication_json(self, medication: Mapping[str, Any]) -> set[str]:
        concept = medication.get("code")
        return self._agents_of_concept_json(concept) if isinstance(concept, Mapping) else set()

    def _agents_of_concept_json(self, concept: Mapping[str, Any]) -> set[str]:
        """Agents named by an RxNorm code or by any text/display of a raw CodeableConcept."""
        agents: set[str] = set()
        for coding in _raw_list(concept.get("coding")):
            if not isinstance(coding, Mapping):
                continue
            if coding.get("system") == self._rxnorm and _raw_text(coding.get("code")) in self.knowledge.agent_by_rxnorm:
                agents.update(self.knowledge.agent_by_rxnorm[str(coding["code"])])
            if isinstance(coding.get("display"), str):
                agents |= agents_from_name(self.knowledge, coding["display"])
        if isinstance(concept.get("text"), str):
            agents |= agents_from_name(self.knowledge, concept["text"])
        return refine_agents(self.knowledge, agents)

    def agents_of_record(self, raw: Mapping[str, Any], medications: dict[str, set[str]]) -> set[str]:
        concept = raw.get("medicationCodeableConcept")
        if isinstance(concept, Mapping):
            return self._agents_of_concept_json(concept)
        reference = raw.get("medicationReference")
        if not isinstance(reference, Mapping):
            return set()
        target = str(reference.get("reference") or "")
        agents: set[str] = set()
        if target.startswith("#"):
            for contained in _raw_list(raw.get("contained")):
                if isinstance(contained, Mapping) and contained.get("id") == target[1:]:
                    agents = self._agents_of_medication_json(contained)
        else:
            key = "/".join(target.rstrip("/").split("/")[-2:])
            agents = set(medications.get(key, set()))
        if isinstance(reference.get("display"), str):
            agents |= agents_from_name(self.knowledge, reference["display"])
        return refine_agents(self.knowledge, agents)

    def _read_medication_record(
        self, raw: Mapping[str, Any], record: PatientRecord, medications: dict[str, set[str]], now: date
    ) -> None:
        resource_type = str(raw.get("resourceType"))
        agents = self.agents_of_record(raw, medications)
        if not agents:
            return
        if _raw_text(raw.get("status")) in EXCLUDED_MEDICATION_STATUS[resource_type]:
            return
        if resource_type == "MedicationRequest" and _raw_text(raw.get("intent")) in EXCLUDED_REQUEST_INTENTS:
            return
        model = self._validated(raw, record)
        if model is None:
            return
        start, end = self._period_of(resource_type, model)
        if start is None:
            record.skipped.append(f"{resource_type}/{model.id or '?'} (no date)")
            return
        status = str(model.status or "")
        ongoing = status in ONGOING_STATUS and resource_type != "MedicationAdministration" and (end is None or end > now)
        if not ongoing and end is None and status not in ONGOING_STATUS:
            end = start
        if resource_type == "MedicationAdministration":
            end = end or start
        stop_reason = self._stop_reason(model)
        for agent in sorted(agents):
            record.exposures.append(Exposure(agent, start, end, ongoing, status, stop_reason, resource_type, model.id or ""))

    def _period_of(self, resource_type: str, model: Any) -> tuple[date | None, date | None]:
        if resource_type == "MedicationRequest":
            for dosage in model.dosageInstruction or []:
                bounds = dosage.timing.repeat.boundsPeriod if dosage.timing and dosage.timing.repeat else None
                if bounds is not None and bounds.start is not None:
                    return to_date(bounds.start), to_date(bounds.end)
            return to_date(model.authoredOn), None
        period = model.effectivePeriod
        if period is not None:
            return to_date(period.start) or to_date(period.end), to_date(period.end)
        when = to_date(model.effectiveDateTime)
        return when, (when if resource_type == "MedicationAdministration" else None)

    def _stop_reason(self, model: Any) -> str | None:
        reasons = model.statusReason
        if reasons is None:
            return None
        concepts = reasons if isinstance(reasons, list) else [reasons]
        lines = self.knowledge.lines["stop_reasons"]
        for concept in concepts:
            for coding in _codings(concept):
                pair = (coding.system or "", coding.code or "")
                if pair in self.knowledge.progression_stop_codes:
                    return "progression"
                if pair in self.knowledge.toxicity_stop_codes:
                    return "toxicity"
            for text in _concept_texts(concept):
                lowered = text.lower()
                if any(word in lowered for word in lines.get("progression_words", [])):
                    return "progression"
                if any(word in lowered for word in lines.get("toxicity_words", [])):
                    return "toxicity"
        return "other"
