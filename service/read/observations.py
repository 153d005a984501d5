"""Observations -> receptor results, labs (LVEF, liver), disease statuses and staging statements.

Observations are filtered by code on the raw JSON first; only those the rules need are validated. The
rules use only the latest of each liver test and of the disease statuses other than progression
(mappings/terminology.yaml, latest_only_groups), so older ones are never validated: the newest by raw
date is tried first, then the next while it yields nothing (issue 6).

Dates: ``effective[x]``, else the collection date of its Specimen (contained, or sent beside it), else
``issued``. A result with none is still read, dated ``UNDATED`` (1900-01-01) (so any dated result of its
kind is "later" and wins), and named in ``PatientRecord.undated`` for the data card.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import date
from typing import Any

from msgspec.structs import replace

from service.domain import UNDATED, CancerCondition, DiseaseStatus, Finding, PatientRecord, Pregnancy
from service.knowledge import Knowledge
from service.knowledge.drugs import without_accents
from service.read.common import (
    JSON_OBJECT,
    coding_pair,
    codings,
    concept_texts,
    raw_codings,
    raw_concept_texts,
    raw_list,
    raw_mapping,
    raw_text,
    reference_of,
    referenced_id,
    stated_in_words,
    to_date,
    validated,
)
from service.read.terminology import BARE_SUFFIX
from service.read.values import LAB_KINDS, RECEPTOR_KINDS, ValueReader


def _contained_members(panel: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The contained Observations a panel names as its members (``hasMember`` "#id"), each dated by the
    panel when it carries no date of its own. A laboratory sent HER2, ER and PR so, in a panel of no
    kind the rules read: none of them had been read."""
    contained = raw_list(panel.get("contained"))
    referenced = {
        member["reference"][1:]
        for member in raw_list(panel.get("hasMember"))
        if isinstance(member, JSON_OBJECT) and isinstance(member.get("reference"), str) and member["reference"].startswith("#")
    }
    dates = {key: panel[key] for key in _EFFECTIVE if key in panel}
    return [
        {**dates, **item} if not any(key in item for key in _EFFECTIVE) else item
        for item in contained
        if isinstance(item, JSON_OBJECT) and item.get("resourceType") == "Observation" and item.get("id") in referenced
    ]


def _specimen_of(raw: Mapping[str, Any], words: tuple[tuple[str, str], ...]) -> str:
    """The place a result's specimen display names, as ``ReceptorResult.specimen`` compares it: "at:breast"
    or "at:distant" (codes.yaml her2_test_episode specimen_words); "" when it names neither, or none."""
    specimen = raw.get("specimen")
    if not isinstance(specimen, JSON_OBJECT):
        return ""
    display = (raw_text(specimen.get("display")) or "").lower()
    return next((f"at:{place}" for word, place in words if word in display), "") if display else ""


def raw_observation_date(raw: Mapping[str, Any]) -> date | None:
    """effective[x], then the collection date of its Specimen (contained), then issued; None when none.

    FHIR: ``effective`` is the physiologically relevant time, "usually the time of the procedure or of
    specimen collection"; ``issued`` is when the result was made available. A block taken in 2019 and
    stained again in 2026 was taken in 2019, and is dated so when only its Specimen says when.
    """
    found = to_date(raw.get("effectiveDateTime")) or to_date(raw.get("effectiveInstant"))
    if found is not None:  # the usual case: the period is not looked at
        return found
    period = raw_mapping(raw.get("effectivePeriod"))
    found = to_date(period.get("start")) or to_date(period.get("end"))
    if found is None and "specimen" in raw:
        target = raw_text(raw_mapping(raw.get("specimen")).get("reference")) or ""
        found = next(
            (
                collection_date(contained)
                for contained in raw_list(raw.get("contained"))
                if isinstance(contained, JSON_OBJECT)
                and contained.get("resourceType") == "Specimen"
                and f"#{contained.get('id')}" == target
            ),
            None,
        )
    return found if found is not None else to_date(raw.get("issued"))


def collection_date(specimen: Mapping[str, Any]) -> date | None:
    """When a Specimen was collected (``collection.collected[x]``); None when it does not say."""
    collection = raw_mapping(specimen.get("collection"))
    return to_date(collection.get("collectedDateTime")) or to_date(raw_mapping(collection.get("collectedPeriod")).get("start"))


def dated_by_specimen(raws: list[Mapping[str, Any]], collected: Mapping[str, date]) -> list[Mapping[str, Any]]:
    """The Observations with those of no effective[x] whose ``specimen`` names one of the request's Specimen
    resources (``collected``: id -> collection date) dated by its collection, as a contained one dates
    its result (``raw_observation_date``): HER2 stained again in 2026 on a block collected in 2019, its
    Specimen sent beside it, was taken in 2019, before the metastasis, and is no retest."""
    return [
        {**raw, "effectiveDateTime": collected[specimen_id].isoformat()}
        if not any(key in raw for key in _EFFECTIVE_OWN)
        and (specimen_id := referenced_id(raw.get("specimen"), "Specimen")) is not None
        and specimen_id in collected
        else raw
        for raw in raws
    ]


# The lists of a PatientRecord: what reading a record appends to (its other fields are the Patient's).
_READ_LISTS = frozenset(field.name for field in fields(PatientRecord) if field.default_factory is list)


_EFFECTIVE = ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")
_EFFECTIVE_OWN = _EFFECTIVE[:3]  # effective[x]: when the result holds, which ``issued`` is not
_UNREAD: Any = object()  # a record's date not read yet (None is a date read and absent)
# Statuses of a result issued again after its final report (FHIR observation-status): it replaces it.
_REISSUED = frozenset({"amended", "corrected"})
_STATUS_KINDS = frozenset({"disease-status", "progression-finding"})
# A receptor named by its abbreviation alone ("ER", "PgR", "RE": terminology.yaml observation_text), and the kind it
# is read as when its value answers a receptor test.
_BARE_RECEPTOR_NAMES = {f"{kind}{BARE_SUFFIX}{value}": (kind, value) for kind in ("er", "pr") for value in ("answer", "percent")}


def _add_read(record: PatientRecord, part: PatientRecord) -> None:
    """Append to ``record`` what one record's reading into ``part`` found, as reading it again would.
    Only the lists the reading filled are visited (most stay empty; a look-up each cost ex1 about 100
    calls a request: issue 16)."""
    lists = vars(record)
    for name, found in vars(part).items():
        if found and name in _READ_LISTS:
            lists[name].extend(found)


class ObservationReader:
    """Reads the Observations of one patient into a ``PatientRecord``."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.terminology = knowledge.terminology
        self.values = ValueReader(knowledge)
        self.label_tables = knowledge.label_tables
        self._statuses = frozenset(knowledge.raw["codes"]["observation_statuses"])
        self._snomed = knowledge.systems["snomed"]
        self._loinc = knowledge.systems["loinc"]
        self._aliases = knowledge.system_alias
        # LOINC codes an Observation's test: one the rules do not list is read by its long name, never by its
        # words. A SNOMED CT coding the rules do not list leaves the words to be read (a UK laboratory's
        # "Serum total bilirubin level" in SNOMED CT's UK edition beside a local code: held-out ab8).
        standard = {knowledge.systems["loinc"]}
        self._standard = frozenset(standard | {alias for alias, system in self._aliases.items() if system in standard})
        # One look-up a coding: the LOINC kinds of codes.yaml and the SNOMED CT staging kinds of
        # terminology.yaml in one table (LOINC's win a clash, as they were asked first).
        snomed_kinds = {(self._snomed, code): str(kind) for code, kind in self.terminology.observation_kind_snomed.items()}
        kinds = snomed_kinds | knowledge.observation_kind
        # Codings under another name of their system (an OID) are found in the same one look-up.
        by_alias = {(alias, code): kind for (system, code), kind in kinds.items() for alias in self._aliases_of(system)}
        # A LOINC code written without its check digit ("85319" for 85319-2): the item number alone names
        # one code (the digit after the hyphen is computed from it), so it is read as that code. Found in
        # a laboratory feed that dropped the digit, whose HER2, ER and PR results had read as none.
        unchecked = {
            (system, code.partition("-")[0]): kind
            for (system, code), kind in (by_alias | kinds).items()
            if (system == self._loinc or self._aliases.get(system) == self._loinc) and "-" in code
        }
        self._kind_by_coding: dict[tuple[str, str], str] = unchecked | by_alias | kinds
        # The answers of a pregnancy status (terminology.yaml pregnancy status_answers): (system, code) -> pregnant.
        self._pregnancy_answers = {
            (knowledge.systems[system], code): pregnant for system, code, pregnant in self.terminology.pregnancy_status_answers
        }
        # The Observation kinds that record a finding (terminology.yaml heart_failure observation: an NYHA
        # class): kind -> (its terms, the PatientRecord list of the finding).
        findings = ((self.terminology.heart, "heart_failure"), (self.terminology.lung, "lung_disease"))
        self._finding_kinds = {terms.observation_kind: (terms, name) for terms, name in findings if terms.observation_kind}
        # "Yes" to a finding asked about (codes.yaml finding_present_answers): a progression-finding's value.
        self._yes = frozenset(
            (knowledge.systems[str(item["system"])], str(item["code"]))
            for item in knowledge.raw["codes"].get("finding_present_answers", [])
        )
        self._yes_words = re.compile(knowledge.raw["codes"].get("finding_present_words", "(?!)"), re.IGNORECASE)

    def _aliases_of(self, system: str) -> list[str]:
        return [alias for alias, target in self._aliases.items() if target == system]

    def kind_of(self, concept: Any) -> str | None:
        """The observation kind a raw CodeableConcept names (LOINC, SNOMED CT for staging, else its text)."""
        return self._kind_and_source(concept)[0]

    def _kind_and_source(self, concept: Any) -> tuple[str | None, bool]:
        """(kind, read from text): codings first; text only when no LOINC coding is there (nor a SNOMED CT one listed).

        The codings are walked here rather than listed by ``raw_codings`` (same reading: a coding or
        a system/code of the wrong JSON type counts as absent): this runs for every Observation.
        """
        standard = False
        found = concept.get("coding") if isinstance(concept, JSON_OBJECT) else None
        for coding in found if isinstance(found, list) else ():
            if isinstance(coding, JSON_OBJECT):
                system, code = coding.get("system"), coding.get("code")
                system = system if isinstance(system, str) else ""
                kind = self._kind_by_coding.get((system, code if isinstance(code, str) else ""))
                if kind:
                    return kind, False
                standard = standard or system in self._standard
        if standard:
            return self._kind_by_loinc_name(found if isinstance(found, list) else []), False
        kind = self.terminology.observation_kind_from_text(raw_concept_texts(concept))
        return (None, False) if kind in (None, "ignore") else (kind, True)

    def _kind_by_loinc_name(self, found: list[Any]) -> str | None:
        """The kind a LOINC coding codes.yaml does not list names by its long common name
        (terminology.yaml observation_text.loinc_names: "Left ventricular Ejection fraction by <method>")."""
        for coding in found:
            display = coding.get("display") if isinstance(coding, JSON_OBJECT) else None
            system = coding.get("system") if isinstance(display, str) else None
            if isinstance(system, str) and self._aliases.get(system, system) == self._loinc:
                kind = next(
                    (kind for pattern, kind in self.terminology.loinc_name_kinds if pattern.search(str(display).strip())), None
                )
                if kind:
                    return kind
        return None

    def read_all(self, raws: list[Mapping[str, Any]], record: PatientRecord) -> None:
        """Read every Observation the rules need, in their original order (ties of "latest" keep that order).

        Each code is looked up and each date read once; an Observation of no kind the rules read (most
        of a long history can be) costs that look-up and nothing more.
        """
        chosen: list[int] = []
        found: dict[int, tuple[str | None, bool, date | None | object]] = {}  # kind, from text, date (or _UNREAD)
        groups: dict[str, list[tuple[date, int]]] = {}
        members: list[Mapping[str, Any]] = []
        for index, raw in enumerate(raws):
            kind, from_text = self._kind_and_source(raw.get("code"))
            if kind is None and not raw.get("component"):
                if "contained" in raw:  # a panel whose results are contained Observations (hasMember "#id")
                    members += _contained_members(raw)
                continue  # read() would pass it over: neither it nor a component names a kind
            latest_only = self._latest_only(raw, kind)
            if latest_only is None:
                chosen.append(index)
                found[index] = (kind, from_text, _UNREAD)
            else:
                found[index] = (kind, from_text, latest_only[1])
                groups.setdefault(latest_only[0], []).append((latest_only[1], -index))
        tried = self._latest_read(groups, raws, found, chosen, record.patient_id)
        for index in sorted(chosen):
            if index in tried:
                _add_read(record, tried[index])
            else:
                self._read(raws[index], record, found[index])
        if members:
            self.read_all(members, record)

    def _latest_read(
        self,
        groups: dict[str, list[tuple[date, int]]],
        raws: list[Mapping[str, Any]],
        found: dict[int, tuple[str | None, bool, Any]],
        chosen: list[int],
        patient_id: str,
    ) -> dict[int, PatientRecord]:
        """Of each latest-only group, the latest candidates read until one gives a reading: what each gave,
        by index (added to ``chosen``), kept for its turn in the original order."""
        tried: dict[int, PatientRecord] = {}
        for candidates in groups.values():
            for _on, negative_index in sorted(candidates, reverse=True):
                index = -negative_index
                chosen.append(index)
                trial = tried[index] = PatientRecord(patient_id=patient_id)
                self._read(raws[index], trial, found[index])
                if trial.labs or trial.disease_statuses:
                    break
        return tried

    def _latest_only(self, raw: Mapping[str, Any], kind: str | None) -> tuple[str, date] | None:
        """(group, raw date) when only the latest reading of ``kind`` matters; None to read ``raw`` in any case."""
        group = self.terminology.latest_only_group.get(kind) if kind else None
        if group is None or raw.get("component"):
            return None
        status = raw.get("status")
        if not isinstance(status, str) or status not in self._statuses:
            return None
        if group == "disease-status" and self._raw_disease_status(raw) == "worsened":
            return None
        on = raw_observation_date(raw)
        return None if on is None else (group, on)

    def _raw_disease_status(self, raw: Mapping[str, Any]) -> str | None:
        by_coding = self.knowledge.disease_status_by_coding
        for pair in raw_codings(raw.get("valueCodeableConcept"), self._aliases):
            if pair in by_coding:
                return by_coding[pair]
        return self.values.disease_status_from_text(raw_concept_texts(raw.get("valueCodeableConcept")))

    def read(self, raw: Mapping[str, Any], record: PatientRecord) -> None:
        """Read one Observation (and its components) if its code is one the rules use."""
        self._read(raw, record, (*self._kind_and_source(raw.get("code")), _UNREAD))

    def _component_kinds(self, raw: Mapping[str, Any]) -> list[str | None]:
        """The kind each component's code names (most Observations have none: no list is built for them)."""
        components = raw.get("component")
        if not components:
            return []
        return [self.kind_of(c.get("code")) for c in raw_list(components) if isinstance(c, JSON_OBJECT)]

    def _read(self, raw: Mapping[str, Any], record: PatientRecord, found: tuple[str | None, bool, Any]) -> None:
        """``read`` with ``found`` looked up already: the code's kind, whether it was read from text, and
        the record's date (``_UNREAD`` when it was not read yet)."""
        kind, from_text, on = found
        component_kinds = self._component_kinds(raw)
        if kind is None and not any(component_kinds):
            return
        observation = self._validated(raw, record)
        # "ER" alone names the estrogen receptor only when its value answers a receptor test.
        if observation is None or (kind in _BARE_RECEPTOR_NAMES and not (kind := self._answered_kind(kind, observation))):
            return
        if on is _UNREAD:
            on = raw_observation_date(raw)
        record_id = observation.id or ""
        if from_text:
            record.read_from_text.append(f"Observation/{record_id or '?'}")
        if on is None:
            record.undated.append(f"Observation/{record_id or '?'}")
        specimen = self._linked(raw, record_id, record) if "specimen" in raw or "focus" in raw else ""
        if kind:
            self._read_value(kind, observation, on, record_id, record, specimen)
        for component_kind, component in zip(component_kinds, observation.component or [], strict=False):
            if component_kind:
                self._read_value(component_kind, component, on, record_id, record, specimen)
        if kind in RECEPTOR_KINDS or component_kinds:  # when it was reported, should a re-issue of it be sent too
            issued = raw["issued"] if "issued" in raw else None
            record.receptor_reports[record_id] = (issued, observation.status in _REISSUED)

    def _answered_kind(self, bare: str, observation: Any) -> str:
        """The receptor a bare abbreviation ("ER") names when the value is a receptor's percent, or an answer alone where
        the name allows it ("ER", not the French "RP" of a chest X-ray), else ""."""
        kind, value = _BARE_RECEPTOR_NAMES[bare]
        answered = self.values.is_receptor_percent(observation) or (value == "answer" and self.values.is_bare_answer(observation))
        return kind if answered else ""

    def _linked(self, raw: Mapping[str, Any], record_id: str, record: PatientRecord) -> str:
        """The place its specimen names (``_specimen_of``); the Condition its ``focus`` names is kept in
        ``record.observation_focus``: another primary cancer's results are left out once all is read."""
        focus = next(
            (f"Condition/{named}" for item in raw_list(raw.get("focus")) if (named := referenced_id(item, "Condition"))), ""
        )
        if focus and record_id:
            record.observation_focus[record_id] = focus
        if "specimen" not in raw:
            return ""
        named = referenced_id(raw["specimen"], "Specimen")  # relative, absolute or versioned
        if named and record_id:
            record.observation_specimens[record_id] = f"Specimen/{named}"
        return _specimen_of(raw, self.knowledge.specimen_words)

    def _validated(self, raw: Mapping[str, Any], record: PatientRecord) -> Any | None:
        """The shape of an Observation whose status the rules read; None (named when unreadable) if not."""
        status = raw.get("status")
        if not isinstance(status, str):  # a wrong JSON type: the record cannot be trusted, and is named
            record.skipped.append(reference_of(raw))
            return None
        if status not in self._statuses:
            return None
        return validated(raw, record)

    def _read_value(  # noqa: PLR0913
        self, kind: str, holder: Any, on: date | None, record_id: str, record: PatientRecord, specimen: str = ""
    ) -> None:
        """Decode the value[x] of an Observation or component for one kind; ``specimen``: the one it names."""
        dated = on is not None
        when = on or UNDATED
        if kind in RECEPTOR_KINDS:
            results = self.values.receptor_results(kind, holder, when, record_id, dated)
            record.receptors += [replace(result, specimen=specimen) for result in results] if specimen else results
        elif kind in LAB_KINDS:
            self._read_lab(kind, holder, when, record_id, record, dated)
        elif kind in ("stage-group", "m-category"):
            role = self._staging_role(holder)
            if role is not None:
                origin = self._staging_origin(holder)
                record.conditions.append(CancerCondition(role, on, record_id=record_id, resource="Observation", origin=origin))
        elif kind in _STATUS_KINDS:
            self._read_status(kind, holder, when, record_id, record)
        elif kind == "pregnancy-status" and on is not None:  # undated: no telling whether it is current
            pregnant = self._pregnancy_status(holder)
            if pregnant is not None:
                record.pregnancies.append(Pregnancy(on, record_id, pregnant))
        elif kind in self._finding_kinds:
            self._read_finding(kind, holder, on, record_id, record)

    def _read_status(self, kind: str, holder: Any, when: date, record_id: str, record: PatientRecord) -> None:
        """A disease status, or a progression recorded as a finding, on ``when``."""
        status = self.values.disease_status(holder) if kind == "disease-status" else self._progression_found(holder)
        if status:
            record.disease_statuses.append(DiseaseStatus(on=when, status=status, record_id=record_id))

    def _progression_found(self, holder: Any) -> str | None:
        """The status "worsened" for a progression recorded as a finding ("Malignant tumor progression",
        "Progression event") whose value is a worsened status or progression's words, or "Yes" (codes.yaml
        finding_present_answers, a valueBoolean true, the word); None for "No" and a value saying stable or improved."""
        if self.values.disease_status(holder) == "worsened" or getattr(holder, "valueBoolean", None) is True:
            return "worsened"
        pairs = (coding_pair(coding, self._aliases) for coding in codings(getattr(holder, "valueCodeableConcept", None)))
        yes = any(pair in self._yes for pair in pairs) or any(
            self._yes_words.match(text) for text in self.values.value_texts(holder)
        )
        return "worsened" if yes else None

    def _read_finding(self, kind: str, holder: Any, on: date | None, record_id: str, record: PatientRecord) -> None:
        """An Observation whose value names a class of a finding (an NYHA class: heart failure) records it,
        current as of the Observation's date: a class concept of the finding's SNOMED CT codes, or words or
        an integer naming a class (terminology.yaml heart_failure observation)."""
        terms, name = self._finding_kinds[kind]
        concept = getattr(holder, "valueCodeableConcept", None)
        texts = self.values.value_texts(holder)
        if getattr(holder, "valueInteger", None) is not None:
            texts.append(str(holder.valueInteger))
        pattern = terms.observation_value
        pairs = (coding_pair(coding, self._aliases) for coding in codings(concept))
        coded = any(system == self._snomed and code in terms.snomed for system, code in pairs)
        if coded or (pattern is not None and any(pattern.search(text) for text in texts)):
            getattr(record, name).append(Finding(on, True, record_id))

    def _pregnancy_status(self, holder: Any) -> bool | None:
        """True (pregnant), False (not pregnant) or None from a pregnancy status's coded answer, else its words."""
        for coding in codings(getattr(holder, "valueCodeableConcept", None)):
            found = self._pregnancy_answers.get(coding_pair(coding, self._aliases))
            if found is not None:
                return found
        terminology = self.terminology
        texts = [terminology.plain_words(without_accents(text)) for text in self.values.value_texts(holder)]
        return stated_in_words(texts, terminology.pregnancy_hints, terminology.pregnancy_text, terminology.pregnancy_negation)

    def _read_lab(self, kind: str, holder: Any, when: date, record_id: str, record: PatientRecord, dated: bool) -> None:  # noqa: PLR0913
        lab = self.values.lab_result(kind, holder, when, record_id, dated)
        if lab is not None and self.values.plausible(lab):
            if self.label_tables.liver_unit_factor(kind, lab.unit) is not None:
                record.labs.append(lab)
                if lab.by_sex:  # ranges by sex: the patient's is chosen once the whole record is read (record.py)
                    record.sex_specific_labs.append(lab)
            else:  # a unit safety.yaml does not list: a guess would be a tenfold error
                record.skipped.append(f"Observation/{record_id or '?'} (its unit is not one the service reads)")
        elif lab is not None:  # a value no measurement can have: named on the data card, not used
            record.skipped.append(f"Observation/{record_id or '?'}")
        elif kind == "lvef" and dated and self._says_normal(holder):  # "Normal": the heart assessed, no value
            record.lvef_normal_in_words.append(when)
        elif _has_value(holder):  # words ("severely reduced") where a number belongs: named, not guessed
            record.skipped.append(f"Observation/{record_id or '?'} (its value is not a number)")

    def _says_normal(self, holder: Any) -> bool:
        """Whether an LVEF's value is words saying it is normal (safety.yaml lvef normal_in_words)."""
        pattern = self.label_tables.lvef_normal_in_words
        return pattern is not None and any(pattern.match(text) for text in self.values.value_texts(holder))

    def _staging_origin(self, holder: Any) -> str:
        """ "other" when a staging's own words name another cancer and not the breast ("Prostate cancer - distant
        metastasis (M) category, PSMA PET restaging"; terminology.yaml text.other_origin), else ""."""
        terminology = self.terminology
        texts = concept_texts(getattr(holder, "code", None))
        joined = " ; ".join(texts)
        if joined and terminology.text_other_origin.search(joined) and not terminology.text_breast_origin.search(joined):
            return "other"
        return ""

    def _staging_role(self, holder: Any) -> str | None:
        """stage-iv for stage IV / M1, no-distant for M0, None for anything else."""
        terminology = self.terminology
        codes = {coding.code for coding in codings(getattr(holder, "valueCodeableConcept", None))}
        texts = self.values.value_texts(holder)
        if codes & (self.knowledge.stage_iv_values | terminology.m1_snomed) or any(
            self.knowledge.stage_iv.match(text) or terminology.m1_text.match(text) for text in texts
        ):
            return "stage-iv"
        if codes & terminology.m0_snomed or any(terminology.m0_text.match(text) for text in texts):
            return "no-distant"
        return None


def _has_value(holder: Any) -> bool:
    """The Observation or component carries some value[x] (a Quantity only with its number)."""
    quantity = holder.valueQuantity
    if quantity is not None and quantity.value is not None:
        return True
    return any(
        value is not None
        for value in (
            holder.valueCodeableConcept,
            holder.valueString,
            holder.valueBoolean,
            holder.valueInteger,
            holder.valueRatio,
            holder.valueRange,
        )
    )
