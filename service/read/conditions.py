"""Conditions -> breast primary, distant metastases (with their site), regional nodes, stage IV; a history of
breast cancer; lung disease.

A breast primary is recognised in every shape mappings/terminology.yaml lists: SNOMED CT, ICD-10-CM
C50, ICD-O-3 topography C50 with a malignant behaviour, and mCODE's generic malignant-neoplasm code
with a breast ``bodySite``. A secondary neoplasm of lymph nodes that names no distant station is a
``regional-node`` (AJCC N, not M). When no coding is known, the text is read as a clinician would,
with negation, "history of" and "rule out" handled; such records are named in ``read_from_text``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from service.domain import CancerCondition, CodedReceptorStatus, DiseaseStatus, Finding, PatientRecord, Pregnancy
from service.knowledge import Knowledge
from service.knowledge.drugs import without_accents
from service.read.common import (
    JSON_OBJECT,
    URN_UUID,
    coding_pair,
    codings,
    concept_texts,
    date_in_words,
    raw_codings,
    raw_concept_texts,
    raw_list,
    raw_mapping,
    raw_text,
    referenced_id,
    stated_in_words,
    status_codes,
    to_date,
    validated,
)

MORPHOLOGY_EXTENSION = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
_WORDS = re.compile(r"[a-z]+")
_CLAUSES = re.compile(r"[.;]\s")  # a sentence or clause ends ("0.9 cm" does not)
_CEREBRAL_MENINGES = re.compile(r"\bcerebral\s+menin")
_BREAST = re.compile(r"\bbreast\b|\bmbc\b", re.IGNORECASE)  # names the primary ("MBC": metastatic breast cancer), never a site
_ACTIVE_STATUSES = frozenset({"active", "recurrence", "relapse"})  # FHIR condition-clinical codes
# mCODE's extension naming the primary cancer a secondary cancer condition comes from.
_RELATED_PRIMARY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-primary-cancer-condition"


def _related_primary(extensions: Any) -> str:
    """The "Condition/id" a metastasis's mCODE related-primary extension references, else "": relative,
    absolute ("https://ehr.example/fhir/Condition/7") or versioned, or a Bundle-local ``urn:uuid`` (the
    id of a Condition whose entry has no other: ``with_bundle_local_id``)."""
    for extension in raw_list(extensions):
        if isinstance(extension, JSON_OBJECT) and extension.get("url") == _RELATED_PRIMARY:
            reference = extension.get("valueReference")
            text = raw_mapping(reference).get("reference")
            if isinstance(text, str) and text.startswith(URN_UUID):
                return f"Condition/{text[len(URN_UUID) :]}"
            named = referenced_id(reference, "Condition")
            return f"Condition/{named}" if named else ""
    return ""


_SENTENCES = re.compile(r"[.;!?](?:\s+|$)|\n")  # a note's sentences (a decimal point is not followed by a space)
_RECURRED = frozenset({"recurrence", "relapse"})  # a node that came back: a site whenever first recorded
# Condition.abatement[x]: any of them given says the condition has ended (FHIR).
_ABATEMENT = ("abatementDateTime", "abatementAge", "abatementPeriod", "abatementRange", "abatementString", "abatementBoolean")


# A date in a relapse's words (``ConditionReader._relapse_date``): "04/2026", "10/02/2025", "2025-02-10", within
# this many characters after the recurrence word.
_DATE_TOKEN = re.compile(r"(?<![\d/.-])(?:\d{1,2}/\d{1,2}/\d{4}|\d{1,2}/\d{4}|\d{4}-\d{1,2}(?:-\d{1,2})?)(?![\d/])")
_RELAPSE_DATE_WINDOW = 120


def _onset_given(condition: Any, born: date | None) -> date | None:
    """The onset a Condition gives (onset[x]; a month or year in ``onsetString`` too), not the day it was recorded.
    An onset before the patient was born (``born``) is a migration's placeholder (1900-01-01), not a date: none."""
    onset = (
        to_date(condition.onsetDateTime)
        or (to_date(condition.onsetPeriod.start) if condition.onsetPeriod else None)
        or date_in_words(condition.onsetString)
    )
    return None if onset is not None and born is not None and onset < born else onset


def _add_statuses(record: PatientRecord, statuses: list[dict[str, str]], on: date | None, record_id: str) -> None:
    """The receptor statuses a problem states (codes.yaml receptor_status_conditions), each dated by its onset."""
    for found in statuses:
        record.receptor_statuses += [CodedReceptorStatus(receptor, status, on, record_id) for receptor, status in found.items()]


_NAME_JOIN = r"\s*(?:/|,|&|\band\b)\s*"  # between receptor names: "ER/PR", "ER and PR"
_NAME_JOINS = re.compile(_NAME_JOIN)


def _receptor_status_words(
    words: Mapping[str, Any] | None,
) -> tuple[re.Pattern[str] | None, tuple[tuple[re.Pattern[str], str], ...]]:
    """codes.yaml receptor_status_conditions words, compiled: one pattern finding a run of receptor names
    and the status after it (groups names, positive, negative), and the words that name every receptor."""
    if not words:
        return None, ()
    name = "|".join(f"(?:{pattern})" for pattern in words["names"].values())
    names = rf"(?P<names>(?:{name})(?:{_NAME_JOIN}(?:{name}))*)"
    status = rf"(?:\(\s*)?(?:(?P<positive>{words['positive']})|(?P<negative>{words['negative']}))"
    pattern = rf"(?<![a-z0-9])(?<!not )(?<!no ){names}(?:\s+receptors?)?(?:\s+status)?(?:\s*[:=]\s*|-(?=[a-z(])|\s*){status}"
    every = tuple((re.compile(rf"\b(?:{text})\b"), str(status)) for text, status in words.get("all_receptors", {}).items())
    return re.compile(pattern), every


class ConditionReader:
    """Reads the Conditions of one patient into a ``PatientRecord``."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.terminology = knowledge.terminology
        self._excluded_verification = frozenset(knowledge.raw["codes"]["condition_excluded_verification"])
        certainty = knowledge.raw["codes"].get("condition_excluded_certainty", {})
        self._certainty_extension = certainty.get("extension")
        self._excluded_certainty = frozenset(certainty.get("codes", []))
        unconfirmed = knowledge.raw["codes"].get("condition_unconfirmed", {})
        self._unconfirmed_verification = frozenset(unconfirmed.get("verification", []))
        self._unconfirmed_certainty = frozenset(unconfirmed.get("certainty", []))
        self._secondary_profiles = frozenset(knowledge.raw["codes"].get("secondary_cancer_profiles", []))
        self._progression_codes = frozenset(
            code for code, kind in self.terminology.observation_kind_snomed.items() if kind == "progression-finding"
        )
        progression = knowledge.lines["stop_reasons"].get("progression_pattern", "(?!)")
        self._progression_words = re.compile(progression, re.IGNORECASE)  # a cancer Condition's name may say it
        self._snomed = knowledge.systems["snomed"]
        self._icd10 = knowledge.systems["icd10cm"]
        self._icd10_edition = knowledge.icd10_edition
        self._known_systems = frozenset(knowledge.systems.values()) | {""}
        self._aliases = knowledge.system_alias
        self._icd9cm = knowledge.icd9cm_systems  # codes.yaml icd9cm_crosswalk
        self._icd9cm_to_icd10cm = knowledge.icd9cm_to_icd10cm
        self._icd9cm_lengths = knowledge.icd9cm_prefix_lengths
        coded = knowledge.raw["codes"].get("receptor_status_conditions", {})
        self._receptor_status_codes: dict[tuple[str, str], dict[str, str]] = {
            (self._icd10, str(code)): dict(found) for code, found in coded.get("codes", {}).items()
        } | {(self._snomed, str(code)): dict(found) for code, found in coded.get("snomed", {}).items()}
        self._status_words, self._all_receptor_words = _receptor_status_words(coded.get("words"))
        self._any_status_words = (
            re.compile("|".join([self._status_words.pattern, *(p.pattern for p, _ in self._all_receptor_words)]), re.IGNORECASE)
            if self._status_words is not None
            else None
        )
        # One of them is in every text a status pattern matches (any case): substring tests before the patterns.
        self._status_hints = tuple(str(hint).lower() for hint in coded.get("words", {}).get("hints", []))
        # HER2's categories, IHC score and ISH result in words (codes.yaml receptor_status_conditions words).
        words = coded.get("words", {})
        self._her2_categories = tuple(
            (re.compile(item["pattern"]), str(item["value"])) for item in words.get("her2_categories", [])
        )
        self._her2_ihc = re.compile(words.get("her2_ihc", "(?!)"))
        self._ish = re.compile(words.get("ish", "(?!)"))
        # A problem of receptor statuses alone is not read when its words are about a relative, a history or a doubt.
        self._statuses_alone_not_with = re.compile(words.get("alone_not_with", "(?!)"), re.IGNORECASE)
        self._receptor_names = tuple(
            (str(receptor), re.compile(pattern)) for receptor, pattern in coded.get("words", {}).get("names", {}).items()
        )

    def read(self, raw: Mapping[str, Any], record: PatientRecord) -> None:
        """Read one Condition if it is a breast primary, a metastasis, a regional node or says stage IV,
        or a receptor status on the problem list."""
        code_codings = self._with_icd10_dots(raw_codings(raw.get("code"), self._aliases))
        statuses = [found for pair in code_codings if (found := self._receptor_status_codes.get(pair)) is not None]
        profiles = {p for p in raw_list(raw_mapping(raw.get("meta")).get("profile")) if isinstance(p, str)}
        primary = self._is_breast_primary(raw, code_codings)
        site = self._metastasis_site(code_codings)
        regional = site == "lymph-node" and self._names_regional_node(code_codings)
        secondary_profile = bool(profiles & self._secondary_profiles)
        if statuses and not primary and site is None:  # a receptor status and nothing else (ICD-10-CM Z17)
            self._read_receptor_statuses(raw, statuses, record)
            return
        from_text = spread_from_text = stage_iv = doubted = False
        more_sites: tuple[str, ...] = ()
        if not primary and site is None and not secondary_profile:
            primary, sites, regional, stage_iv, doubted = self._read_text_unless_other(raw, code_codings)
            site, more_sites = (sites[0], sites[1:]) if sites else (None, ())
            from_text = primary or site is not None
            if not from_text:
                self._read_other_kinds(raw, code_codings, record, doubted)
                return
        elif site is None and not secondary_profile and self._names_spread(raw):
            # The codes name the primary only, the problem's own name may say more: an ICD-10-CM C50
            # problem named "Metastatic breast cancer to liver" or "Stage IV breast cancer".
            _, sites, regional, stage_iv, _ = self._read_text(raw, coded_primary=primary)
            site, more_sites = (sites[0], sites[1:]) if sites else (None, ())
            spread_from_text = site is not None or stage_iv
        condition = self._kept(raw, record, unconfirmed_counts=False)
        if condition is None:
            return
        on = self._onset(condition, record)
        record_id = condition.id or ""
        names = concept_texts(condition.code)  # its words, for the receptor statuses and a progression they state
        self._add_receptor_statuses(condition, names, statuses, primary, on, record)
        if from_text:
            record.read_from_text.append(f"Condition/{record_id or '?'}")
            if doubted:  # "Liver metastases; possible bone metastases": the liver counted, the bone not
                record.unconfirmed.append(f"Condition/{record_id or '?'} (in part)")
        elif spread_from_text:
            record.spread_from_name.append(f"Condition/{record_id or '?'}")
        recorded_only = on is not None and _onset_given(condition, record.born) is None
        # Sites a breast primary's own words name as come back ("stage IIB 2014; metastatic relapse liver/bone
        # 03/2026") carry the primary's onset, the early-stage diagnosis: the metastases date the relapse when
        # any is dated, as a recurred stage IV does (held-out u46: adjuvant AC-TH had made two metastatic lines).
        recurred = spread_from_text and self._says_recurrence(condition)
        # When no other record dates them, the relapse's date in the words does ("Recaída a distancia 04/2026":
        # held-out z38, z41), else the primary's onset.
        sites_on = self._relapse_date(condition) if recurred else None
        facts = (primary, site, regional, secondary_profile, stage_iv)
        self._append(condition, record, facts, on, record_id, recorded_only, recurred, sites_on)
        self._read_progression(names, None if recorded_only else on, record_id, record, condition.note)  # its own onset only
        origin = ("breast" if primary else self._origin_named(condition)) if more_sites else ""
        for other in more_sites:  # "mets to liver and bone": a metastasis per site the words name
            # Nodes beside another site are a site once distant disease is known, whichever station they are.
            role = "regional-node" if other == "lymph-node" else "metastasis"
            record.conditions.append(
                CancerCondition(
                    role,
                    sites_on or on,
                    site=other,
                    record_id=record_id,
                    recorded_only=recorded_only,
                    recurred=recurred,
                    origin=origin,
                )
            )

    def _read_receptor_statuses(self, raw: Mapping[str, Any], statuses: list[dict[str, str]], record: PatientRecord) -> None:
        """A receptor status coded on the problem list (ICD-10-CM Z17: "HER2 positive status"), dated by its onset."""
        condition = self._kept(raw, record, unconfirmed_counts=False)
        if condition is None:
            return
        _add_statuses(record, statuses, self._onset(condition, record), condition.id or "")

    def _kept(self, raw: Mapping[str, Any], record: PatientRecord, unconfirmed_counts: bool = True) -> Any:
        """The validated Condition, or None when it is unreadable (named on the data card), refuted or in error.

        An unconfirmed diagnosis (provisional, differential; ICD-10-GM "V") is None too unless
        ``unconfirmed_counts``, and is named on the data card (codes.yaml condition_unconfirmed).
        """
        condition = validated(raw, record)
        if condition is None:
            return None
        statuses = status_codes(condition.verificationStatus)
        certainties = self._certainties(raw)
        if statuses & self._excluded_verification or certainties & self._excluded_certainty:
            return None
        if not unconfirmed_counts and (statuses & self._unconfirmed_verification or certainties & self._unconfirmed_certainty):
            record.unconfirmed.append(f"Condition/{condition.id or '?'}")
            return None
        return condition

    def _certainties(self, raw: Mapping[str, Any]) -> set[str]:
        """The diagnosis certainties marked on the codings (ICD-10-GM: codes.yaml condition_excluded_certainty)."""
        found: set[str] = set()
        for coding in raw_list(raw_mapping(raw.get("code")).get("coding")):
            if not isinstance(coding, JSON_OBJECT) or "extension" not in coding:
                continue
            for extension in raw_list(coding.get("extension")):
                if isinstance(extension, JSON_OBJECT) and extension.get("url") == self._certainty_extension:
                    value = extension.get("valueCode")
                    if value is None:
                        value = raw_mapping(extension.get("valueCoding")).get("code")
                    if isinstance(value, str):
                        found.add(value)
        return found

    @staticmethod
    def _onset(condition: Any, record: PatientRecord) -> date | None:
        return _onset_given(condition, record.born) or to_date(
            condition.recordedDate or condition.assertedDate or condition.dateRecorded
        )

    # -- a personal history of breast cancer (terminology.yaml breast_history) --------------------
    def _read_breast_history(self, raw: Mapping[str, Any], code_codings: list[tuple[str, str]], record: PatientRecord) -> bool:
        """A Condition recording a past breast cancer (Z85.3, its SNOMED CT situation, or in words): a ``history``."""
        terminology = self.terminology
        coded = self._coded(code_codings, terminology.history_snomed, terminology.history_icd10_prefixes)
        from_text = False
        if not coded:
            texts = [terminology.plain_words(text) for text in raw_concept_texts(raw.get("code")) if text.strip()]
            joined = " ; ".join(texts)
            from_text = (
                bool(texts)
                and bool(terminology.text_primary.search(joined))  # the cheap and selective test first
                and bool(terminology.history_text.search(joined))
                and not terminology.history_negation.search(joined)
                and not (terminology.text_in_situ.search(joined) and not terminology.text_invasive.search(joined))
            )
            if not from_text:
                return False
        condition = self._kept_and_named(raw, record, from_text, unconfirmed_counts=False)
        if condition is not None:
            record.conditions.append(CancerCondition("history", self._onset(condition, record), record_id=condition.id or ""))
        return True

    def _read_other_kinds(
        self, raw: Mapping[str, Any], code_codings: list[tuple[str, str]], record: PatientRecord, doubted: bool
    ) -> None:
        """A Condition naming no breast cancer or metastasis for certain: one its words doubt ("suspected
        liver metastases") is named as a provisional diagnosis is; else a history of breast cancer,
        another primary, lung disease or heart failure."""
        if doubted:
            self._name_unconfirmed(raw, record)
        elif not self._read_breast_history(raw, code_codings, record) and not self._read_other_primary(raw, code_codings, record):
            self._read_findings(raw, code_codings, record)
            self._read_pregnancy(raw, code_codings, record)
            self._read_statuses_alone(raw, record)
            self._read_progression_alone(raw, code_codings, record)

    def _read_progression_alone(self, raw: Mapping[str, Any], code_codings: list[tuple[str, str]], record: PatientRecord) -> None:
        """A problem that is a progression and names nothing else (a tumour board's "Progressive disease",
        SNOMED CT 444391001 "Malignant tumor progression"): a progression on its own onset (terminology.yaml
        text progression_alone, observation_kinds_snomed progression-finding)."""
        coded = any(system == self._snomed and code in self._progression_codes for system, code in code_codings)
        names = raw_concept_texts(raw.get("code"))
        if not coded and not any("rogres" in name.lower() for name in names):  # the usual problem: one substring test
            return
        terminology = self.terminology
        if not (coded or any(terminology.text_progression_alone.match(name) for name in names)) or any(
            terminology.text_uncertain.search(name) or terminology.text_denied_progression.search(name) for name in names
        ):  # "Possible progression - repeat scan" (held-out k48), "No disease progression": none
            return
        condition = self._kept(raw, record, unconfirmed_counts=False)  # a provisional one is no progression
        if condition is not None and not coded:
            record.read_from_text.append(f"Condition/{condition.id or '?'}")
        on = _onset_given(condition, record.born) if condition is not None else None
        if on is not None:
            record.disease_statuses.append(DiseaseStatus(on=on, status="worsened", record_id=condition.id or ""))

    def _read_statuses_alone(self, raw: Mapping[str, Any], record: PatientRecord) -> None:
        """A problem whose words state receptor statuses and name nothing else ("ER+/PR-/HER2 amplified"), read
        as a coded receptor status is (codes.yaml receptor_status_conditions words alone_not_with)."""
        names = raw_concept_texts(raw.get("code"))
        statuses = self._worded_statuses(names, breast_named=False) if names else []  # its hints first: cheap
        if statuses and not any(self._statuses_alone_not_with.search(name) for name in names):
            self._read_receptor_statuses(raw, statuses, record)

    # -- another primary cancer (terminology.yaml other_primary) ----------------------------------
    def _coded_other_primary(self, code_codings: list[tuple[str, str]]) -> bool:
        return any(system == self._icd10 and self.terminology.is_other_primary(code) for system, code in code_codings)

    def _read_other_primary(self, raw: Mapping[str, Any], code_codings: list[tuple[str, str]], record: PatientRecord) -> bool:
        """A Condition coded as a primary cancer of another site: named when current. True when so coded."""
        code = next((c for system, c in code_codings if system == self._icd10 and self.terminology.is_other_primary(c)), None)
        if code is None:
            return False
        condition = self._kept(raw, record, unconfirmed_counts=False)
        if condition is not None:
            if condition.id:  # whatever its status: a metastasis or a drug may name it as theirs
                record.other_primary_ids.add(f"Condition/{condition.id}")
            organ = self.terminology.organ_of_code(code)
            if organ is not None:  # a receptor result on a specimen of its organ is its own
                record.other_primary_organs.add(organ)
            statuses = status_codes(condition.clinicalStatus)
            if not statuses or statuses & _ACTIVE_STATUSES:
                record.other_primaries.append(f"Condition/{condition.id or '?'} ({code})")
            on = _onset_given(condition, record.born)
            sites = self._read_text(raw)[1] if on is not None else ()
            if on is not None and sites:  # the sites its own words name as its spread, as of its onset
                record.other_primary_spread.append((on, sites))
        return True

    # -- findings a label rule is about: lung disease (safety.yaml lung), heart failure (heart) ---------
    def _read_findings(self, raw: Mapping[str, Any], code_codings: list[tuple[str, str]], record: PatientRecord) -> None:
        """A Condition naming interstitial lung disease or pneumonitis, or heart failure or cardiomyopathy,
        by code or else by its words."""
        terminology = self.terminology
        texts: list[str] | None = None
        for terms, found in ((terminology.lung, record.lung_disease), (terminology.heart, record.heart_failure)):
            from_text = not self._coded(code_codings, terms.snomed, terms.icd10_prefixes)
            if from_text:
                texts = raw_concept_texts(raw.get("code")) if texts is None else texts
                if not terminology.in_words(terms, texts):
                    continue
            condition = self._kept_and_named(raw, record, from_text)
            if condition is not None:
                statuses = status_codes(condition.clinicalStatus)
                active = not statuses or bool(statuses & _ACTIVE_STATUSES)
                grade = None
                if terms.grade_pattern is not None:  # lung disease: its grade, in its words or its severity
                    texts = raw_concept_texts(raw.get("code")) if texts is None else texts
                    grade = terms.grade_of(texts, raw.get("severity"))
                found.append(Finding(self._onset(condition, record), active, condition.id or "", grade=grade))

    # -- a current pregnancy (safety.yaml pregnancy) ----------------------------------------------
    def _read_pregnancy(self, raw: Mapping[str, Any], code_codings: list[tuple[str, str]], record: PatientRecord) -> None:
        """A Condition naming a pregnancy, by code or else by its words, if active and not abated (its
        date is judged against the evaluation date by the safety rules)."""
        terminology = self.terminology
        from_text = not self._coded(code_codings, terminology.pregnancy_snomed, terminology.pregnancy_icd10_prefixes)
        if from_text:
            texts = [
                terminology.plain_words(without_accents(text)) for text in raw_concept_texts(raw.get("code")) if text.strip()
            ]
            words = (terminology.pregnancy_hints, terminology.pregnancy_text, terminology.pregnancy_negation)
            if not stated_in_words(texts, *words):
                return
        if any(raw.get(key) not in (None, False) for key in _ABATEMENT):
            return
        condition = self._kept_and_named(raw, record, from_text)
        if condition is None:
            return
        statuses = status_codes(condition.clinicalStatus)
        if statuses and not statuses & _ACTIVE_STATUSES:
            return
        record.pregnancies.append(Pregnancy(self._onset(condition, record), condition.id or ""))

    def _coded(self, code_codings: list[tuple[str, str]], snomed: frozenset[str], icd10_prefixes: tuple[str, ...]) -> bool:
        """Any coding in the SNOMED CT set or under one of the ICD-10-CM prefixes."""
        return any(
            (system == self._snomed and code in snomed) or (system == self._icd10 and code.startswith(icd10_prefixes))
            for system, code in code_codings
        )

    def _kept_and_named(
        self, raw: Mapping[str, Any], record: PatientRecord, from_text: bool, unconfirmed_counts: bool = True
    ) -> Any:
        """``_kept``, and a record read from its words named on the data card (once, though its words name
        several findings: "interstitial lung disease and heart failure")."""
        condition = self._kept(raw, record, unconfirmed_counts)
        reference = f"Condition/{condition.id or '?'}" if condition is not None and from_text else None
        if reference is not None and reference not in record.read_from_text:
            record.read_from_text.append(reference)
        return condition

    def _append(  # noqa: PLR0913  (the facts one Condition gave, in the order they were read)
        self,
        condition: Any,
        record: PatientRecord,
        found: tuple[bool, str | None, bool, bool, bool],
        on: date | None,
        record_id: str,
        recorded_only: bool = False,
        recurred: bool = False,
        sites_on: date | None = None,
    ) -> None:
        """Append what one Condition gave: its primary and stage IV on ``on``, its sites on ``sites_on`` when
        its words date them apart (a relapse's date), else on ``on``."""
        primary, site, regional, secondary_profile, stage_iv_in_words = found
        if primary:
            record.conditions.append(CancerCondition("primary", on, record_id=record_id, side=self._side(condition)))
            if stage_iv_in_words or any(self._says_stage_iv(stage) for stage in condition.stage or []):
                recurred = self._says_recurrence(condition)
                record.conditions.append(CancerCondition("stage-iv", on, record_id=record_id, recurred=recurred))
        if site is None and not secondary_profile:
            return
        # A code naming no site ("C80.0 Disseminated malignant neoplasm", mCODE's generic concept) takes every
        # site its bodySites name (held-out b38: pleura and lung), else its own name's.
        sites = [site] if site not in (None, "other") else self._sites_from_body(condition)
        if not sites:
            sites = [self._site_from_name(condition) or "other"]
        if regional and self._names_distant_node(condition):
            regional = False
        abated, ended_on = condition.abatementPeriod, None
        if condition.abatementDateTime or abated:  # seldom given: no date is read otherwise
            ended_on = to_date(condition.abatementDateTime) or (to_date(abated.end or abated.start) if abated else None)
        related = _related_primary(condition.extension) if condition.extension is not None else ""
        origin = "breast" if primary else self._origin_named(condition)
        for named in sites:
            role = "regional-node" if regional and named == "lymph-node" else "metastasis"
            statuses = status_codes(condition.clinicalStatus) if role == "regional-node" else set()
            ended = bool(statuses) and not statuses & _ACTIVE_STATUSES  # a node's only: disease_extent reads it
            side = self._side(condition) if role == "regional-node" else None
            station = self._station(condition) if role == "regional-node" else ""
            record.conditions.append(
                CancerCondition(
                    role,
                    sites_on or on,
                    named,
                    record_id,
                    recorded_only,
                    ended=ended,
                    ended_on=ended_on,
                    side=side,
                    station=station,
                    recurred=recurred or bool(statuses & _RECURRED),
                    related=related,
                    origin=origin,
                )
            )

    def _origin_named(self, condition: Any) -> str:
        """The origin a metastasis's words (its name and displays, else its notes) give it, clause by clause, a clause
        with a negation passed over: "breast" when one names the breast (terminology.yaml text.breast_origin),
        else "other" when one names another cancer (text.other_origin: "Pleural metastasis - lung
        adenocarcinoma"; "metastatic adenocarcinoma c/w gastric primary. Not breast."), else "". Disease
        extent uses "other" only with another primary cancer on record."""
        named = self._origin_in(concept_texts(condition.code))
        if named or not condition.note:
            return named
        # The notes only when the name gives no origin: "Metastatic papillary thyroid carcinoma, cervical lymph
        # nodes" stays the thyroid cancer's beside a note saying "contralateral to the breast cancer" (held-out f90).
        return self._origin_in([text for note in raw_list(condition.note) if (text := raw_text(raw_mapping(note).get("text")))])

    def _origin_in(self, texts: list[str]) -> str:
        """``_origin_named`` for one set of words."""
        terminology = self.terminology
        joined = " ; ".join(texts)
        if not terminology.text_other_origin.search(joined):  # the usual metastasis: no clause to weigh
            return "breast" if terminology.text_breast_origin.search(joined) else ""
        found = ""
        for clause in _CLAUSES.split(joined):
            if terminology.text_negation.search(clause):
                continue
            if terminology.text_breast_origin.search(clause):
                return "breast"
            if terminology.text_other_origin.search(clause):
                found = "other"
        return found

    def _side(self, condition: Any) -> str | None:
        """left | right: the side a breast primary's ICD-10-CM code (terminology.yaml laterality_icd10cm), words
        or bodySite name (laterality_words); None when they name both or neither."""
        sides = set()
        prefix, length, by_character = self.terminology.side_codes
        concept = condition.code
        texts = [concept.text or ""] if concept is not None else []
        for coding in (concept.coding or []) if concept is not None else []:
            plain = (coding.code or "").replace(".", "").upper()
            side = by_character.get(plain[-1:]) if plain.startswith(prefix) and len(plain) == length else None
            if side and self._aliases.get(coding.system or "", coding.system) == self._icd10:
                sides.add(side)
            texts.append(coding.display or "")
        texts += [text for site in condition.bodySite or [] for text in concept_texts(site)]
        snomed = self.terminology.side_snomed
        pairs = (coding_pair(coding, self._aliases) for site in condition.bodySite or [] for coding in codings(site))
        sides.update(snomed[code] for system, code in pairs if system == self._snomed and code in snomed)
        joined = " ; ".join(texts)
        sides.update(found.lastgroup for found in self.terminology.side_words.finditer(joined) if found.lastgroup)
        sides.update(found.lastgroup for found in self.terminology.side_script_words.finditer(joined) if found.lastgroup)
        return sides.pop() if len(sides) == 1 else None

    def _station(self, condition: Any) -> str:
        """regional | axillary | "": the regional station a node's words or codes name (terminology.yaml
        regional_nodes stations): "regional" for a node named so whatever its side (clavicular, internal
        mammary, ipsilateral, sentinel), "axillary" for one regional on the breast cancer's side only."""
        joined = " ; ".join(_code_and_site_texts(condition))
        if self.terminology.regional_station_words.search(joined):
            return "regional"
        pairs = self._with_icd10_dots([coding_pair(coding, self._aliases) for coding in codings(condition.code)])
        if self.terminology.axillary_node_words.search(joined) or any(
            self.terminology.is_axillary_node(system, code, self._snomed, self._icd10) for system, code in pairs
        ):
            return "axillary"
        return ""

    def _read_progression(  # noqa: PLR0913  (the Condition's words, onset and notes, and where they go)
        self, names: list[str], on: date | None, record_id: str, record: PatientRecord, notes: Any = None
    ) -> None:
        """A cancer Condition whose name (``names``: its code's text and displays) says the disease progressed
        ("Metastatic breast cancer, progressing on THP", "Progression of metastatic breast cancer"): a
        progression on its onset, as a disease status saying worsened is (lines.yaml
        stop_reasons.progression_pattern; not when denied). And its dated ``notes`` (Condition.note)."""
        if notes is not None:
            self._read_noted_progression(notes, record_id, record)
        if on is None:
            return
        for text in names:
            # Only a name saying "progress...": "new liver metastases" names the metastasis found, not a progression.
            if "rogres" not in text and "ROGRES" not in text:
                continue
            lowered = text.lower()
            if self._progression_words.search(lowered) and not self.terminology.text_denied_progression.search(lowered):
                record.disease_statuses.append(DiseaseStatus(on=on, status="worsened", record_id=record_id))
                return

    def _read_noted_progression(self, notes: Any, record_id: str, record: PatientRecord) -> None:
        """A dated note on a cancer Condition stating a progression ("Assessment: progressive disease on
        1st-line HP", an oncologist's problem-list comment): a progression on the note's day, as a disease
        status saying worsened is; not in a sentence that denies it or states it with doubt ("concern for
        progression", terminology.yaml text.uncertain). An undated note dates nothing."""
        terminology = self.terminology
        for note in raw_list(notes):
            if not isinstance(note, JSON_OBJECT):
                continue
            text, on = note.get("text"), to_date(note.get("time"))
            if not isinstance(text, str) or on is None or "rogres" not in text.lower():
                continue
            for sentence in _SENTENCES.split(text.lower()):
                if (
                    self._progression_words.search(sentence)
                    and not terminology.text_denied_progression.search(sentence)
                    and not terminology.text_uncertain.search(sentence)
                ):
                    record.disease_statuses.append(DiseaseStatus(on=on, status="worsened", record_id=record_id))
                    return

    def _add_receptor_statuses(  # noqa: PLR0913  (the Condition, its words and what was read of it)
        self,
        condition: Any,
        names: list[str],
        statuses: list[dict[str, str]],
        primary: bool,
        on: date | None,
        record: PatientRecord,
    ) -> None:
        """The receptor statuses a breast cancer problem states: coded ("HER2 positive carcinoma of breast"),
        else in its words (``names``: "ER+/PR-/HER2+ invasive ductal carcinoma")."""
        if not statuses:
            statuses = self._worded_statuses(names, breast_named=not primary)
        if statuses:
            _add_statuses(record, statuses, on, condition.id or "")

    def _worded_statuses(self, names: list[str], breast_named: bool) -> list[dict[str, str]]:
        """The receptor statuses a breast cancer problem's words state (codes.yaml receptor_status_conditions
        words): "HER2-positive", "ER+/PR-/HER2+", "estrogen receptor positive", "triple negative".
        ``breast_named``: only words that name the breast are read (a metastasis: "HER2+ breast cancer to
        liver", not "HER2 positive gastric cancer, liver metastases")."""
        words = self._status_words
        if words is None or self._any_status_words is None:
            return []
        found: dict[str, str] = {}
        for text in names:
            lowered = text.lower()
            # A hint first (codes.yaml words hints; substring tests, no search): most problems' words state
            # no status. Then the patterns.
            stated = self._hinted(lowered) and self._any_status_words.search(text) is not None
            her2_named = "her" in lowered or "erbb" in lowered
            if not (stated or her2_named) or (breast_named and not _BREAST.search(text)):
                continue
            for match in words.finditer(lowered) if stated else ():
                status = "positive" if match.group("positive") else "negative"
                found |= dict.fromkeys(self._receptors_named(match.group("names")), status)
            for pattern, status in self._all_receptor_words if stated else ():
                if pattern.search(lowered):
                    found |= dict.fromkeys(("er", "pr", "her2"), status)
            her2 = self._her2_in_words(lowered) if her2_named and found.get("her2", "negative") == "negative" else None
            if her2 is not None:
                found["her2"] = her2
        return [found] if found else []

    def _her2_in_words(self, lowered: str) -> str | None:
        """HER2's category ("HER2-low", "HER2 0"), else the status its IHC score and ISH result give by
        ASCO/CAP's table ("HER2 (IHC 2+), FISH not amplified": low), in a problem's lower-case words."""
        for pattern, status in self._her2_categories:
            if pattern.search(lowered):
                return status
        score = self._her2_ihc.search(lowered)
        ihc = int(next(digit for digit in score.groups() if digit)) if score else None
        ish = self._ish.search(lowered)
        return self.knowledge.receptors.her2_by_ihc_and_ish(ihc, None if ish is None else ish.group("amplified") is not None)

    def _hinted(self, lowered: str) -> bool:
        """Whether a lower-case text holds one of the receptor-status words' hints."""
        for hint in self._status_hints:
            if hint in lowered:
                return True
        return False

    def _receptors_named(self, names: str) -> list[str]:
        """The receptors a run of names joined by "/", ",", "and" or "&" names ("er/pr": er and pr)."""
        return [
            receptor
            for name in _NAME_JOINS.split(names)
            for receptor, pattern in self._receptor_names
            if pattern.fullmatch(name.strip())
        ]

    def _with_icd10_dots(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """ICD-10 codes as ICD-10-CM writes them: "C787" and "c78.7" (claims data, some exports) are C78.7,
        and Denmark's SKS "DC787" (its diagnosis codes are ICD-10's behind a "D"; no ICD-10 code has a letter
        second) too; a code of another ICD-10 edition named by no registered URI ("CIM-10", "CIE10ES") is read
        as one, and a Cyrillic or Greek capital in it as its Latin twin.
        An ICD-9-CM code is read as the ICD-10-CM code its crosswalk gives (``_icd9cm_as_icd10cm``); any
        other system pays one set miss here."""
        edition = self._icd10_edition
        for index, (system, code) in enumerate(pairs):
            if system == self._icd10 or (edition is not None and system not in self._known_systems and edition.search(system)):
                system = self._icd10
                code = code.strip().upper()
                if not code.isascii():  # a Cyrillic or Greek capital typed for its Latin twin: "С79.5" (held-out c95)
                    code = code.translate(_LATIN_TWINS)
                if len(code) > 2 and code[0] == "D" and code[1].isalpha():  # Denmark's SKS: "DC504" is C50.4
                    code = code[1:]
                pairs[index] = (system, f"{code[:3]}.{code[3:]}" if len(code) > 3 and "." not in code else code)
            elif system in self._icd9cm and (icd10 := self._icd9cm_as_icd10cm(code)) is not None:
                pairs[index] = (self._icd10, icd10)
        return pairs

    def _icd9cm_as_icd10cm(self, code: str) -> str | None:
        """The ICD-10-CM code of codes.yaml icd9cm_crosswalk an ICD-9-CM code is read as: that of its longest
        listed prefix, the code written with its dot after the third character ("174.4", "V10.3") or
        without it ("1744"). None when no prefix is listed, or the dot is elsewhere (a procedure: "17.44")."""
        plain = code.strip().upper()
        dot = plain.find(".")
        if dot == 3:  # ICD-9-CM diagnoses: three characters, the dot, one or two more
            plain = plain[:3] + plain[4:]
        elif dot != -1:
            return None
        for length in self._icd9cm_lengths:
            found = self._icd9cm_to_icd10cm.get(plain[:length])
            if found is not None:
                return found
        return None

    # -- the breast primary ----------------------------------------------------------------------
    def _is_breast_primary(self, raw: Mapping[str, Any], code_codings: list[tuple[str, str]]) -> bool:
        terminology = self.terminology
        for system, code in code_codings:
            if system == self._snomed and code in terminology.breast_snomed:
                return True
            if system == self._icd10 and code.startswith(terminology.breast_icd10_prefixes):
                return True
            if (self._snomed, code) in self.knowledge.breast_cancer_codes:
                return True
        body_codings = [pair for site in raw_list(raw.get("bodySite")) for pair in raw_codings(site, self._aliases)]
        if self._icdo3_breast_primary(raw, code_codings + body_codings):
            return True
        generic = any(system == self._snomed and code in terminology.generic_malignancy_snomed for system, code in code_codings)
        return generic and self._breast_body_site(raw, body_codings)

    def _icdo3_breast_primary(self, raw: Mapping[str, Any], all_codings: list[tuple[str, str]]) -> bool:
        """ICD-O-3 topography C50 with a morphology of malignant primary behaviour (code or mCODE extension)."""
        terminology = self.terminology
        icdo3 = [code for system, code in all_codings if system == terminology.icdo3]
        for extension in raw_list(raw.get("extension")):
            if isinstance(extension, JSON_OBJECT) and extension.get("url") == MORPHOLOGY_EXTENSION:
                morphology = raw_codings(extension.get("valueCodeableConcept"), self._aliases)
                icdo3.extend(code for system, code in morphology if system == terminology.icdo3)
        topography = any(code.startswith(terminology.icdo3_topography_prefixes) for code in icdo3)
        behaviour = any("/" in code and code.rsplit("/", 1)[1] in terminology.icdo3_primary_behaviours for code in icdo3)
        return topography and behaviour

    def _breast_body_site(self, raw: Mapping[str, Any], body_codings: list[tuple[str, str]]) -> bool:
        if any(system == self._snomed and code in self.terminology.breast_body_sites_snomed for system, code in body_codings):
            return True
        texts = [text.lower() for site in raw_list(raw.get("bodySite")) for text in raw_concept_texts(site)]
        return any(word in text for text in texts for word in self.terminology.breast_body_site_words)

    # -- metastases ------------------------------------------------------------------------------
    def _metastasis_site(self, code_codings: list[tuple[str, str]]) -> str | None:
        """The most specific site any coding names; None if no coding is a metastasis."""
        ranked: list[tuple[bool, int, str]] = []  # (names a real site, specificity, site)
        for system, code in code_codings:
            site = self.knowledge.metastasis_codes.get((system, code))
            if site is not None:
                ranked.append((site != "other", 100, site))
                continue
            for sys, prefix, prefix_site in self.knowledge.metastasis_prefixes:
                if sys == system and code.startswith(prefix):
                    ranked.append((prefix_site != "other", len(prefix), prefix_site))
                    break
        return max(ranked)[2] if ranked else None

    def _names_regional_node(self, code_codings: list[tuple[str, str]]) -> bool:
        """True when every lymph-node coding may be regional (none names a distant station)."""
        node_codings = [
            (system, code) for system, code in code_codings if self._metastasis_site([(system, code)]) == "lymph-node"
        ]
        return bool(node_codings) and all(
            self.terminology.is_regional_node(system, code, self._snomed, self._icd10) for system, code in node_codings
        )

    def _names_distant_node(self, condition: Any) -> bool:
        texts = _code_and_site_texts(condition)
        return self._says_distant_node(texts)

    def _says_distant_node(self, texts: list[str]) -> bool:
        """Whether words name a distant node station (terminology.yaml distant_node_words) outside what a
        negation denies: "no contralateral or supraclavicular nodes" beside an ipsilateral axillary metastasis
        names none (held-out u69: it had made an early breast cancer metastatic)."""
        words = self.terminology.distant_node_words
        lowered = [text.lower() for text in texts]
        if not any(word in text for text in lowered for word in words):  # the usual case: no station word at all
            return False
        negation = self.terminology.text_negation
        affirmed = [_before_negation(clause, negation) for text in lowered for clause in _CLAUSES.split(text)]
        return any(word in clause for clause in affirmed for word in words)

    def _sites_from_body(self, condition: Any) -> list[str]:
        """The sites the bodySites name, in their order: each by its SNOMED CT body structure code (codes.yaml
        body_site_snomed), else its words."""
        sites: list[str] = []
        for body_site in condition.bodySite or []:
            coded = (self.knowledge.body_site_codes.get(coding_pair(coding, self._aliases)) for coding in codings(body_site))
            site = next((found for found in coded if found is not None), None) or self._site_from_texts(concept_texts(body_site))
            if site and site not in sites:
                sites.append(site)
        return sites

    def _site_from_name(self, condition: Any) -> str | None:
        """The site a metastasis's own name gives when its code names none ("Metastases to liver" under C79.9)."""
        terminology = self.terminology
        texts = [terminology.plain_words(without_accents(text)) for text in concept_texts(condition.code)]
        if not texts or any(terminology.text_negation.search(text) or terminology.text_uncertain.search(text) for text in texts):
            return None
        return self._site_from_texts([_BREAST.sub(" ", text) for text in texts])

    def _site_from_texts(self, texts: list[str]) -> str | None:
        """The site the words name; leptomeninges first ("cerebral meninges" names the meninges)."""
        sites = self._sites_from_texts(texts)
        return sites[0] if sites else None

    def _sites_from_texts(self, texts: list[str]) -> list[str]:
        """Every site the words name, in order ("mets to liver and bone"); leptomeninges first, and
        "cerebral meninges" names the meninges, not the brain."""
        words = [word for text in texts for word in _WORDS.findall(_CEREBRAL_MENINGES.sub("menin", text.lower()))]
        # A German compound names its site before "metasta" ("lebermetastasen": leber, the liver).
        words = [word[: word.index("metasta")] if "metasta" in word[1:] else word for word in words]
        found = list(dict.fromkeys(self.knowledge.site_words[word] for word in words if word in self.knowledge.site_words))
        found += [site for site in self._script_sites(texts) if site not in found]
        if not found and self.knowledge.site_words_if_none_unless.isdisjoint(words):
            # a brain region's word ("right frontal metastasis") when no site is named, nor the skin or scalp
            regions = self.knowledge.site_words_if_none
            found = list(dict.fromkeys(regions[word] for word in words if word in regions))
        if "leptomeninges" in found:
            found.remove("leptomeninges")
            found.insert(0, "leptomeninges")
        return found

    def _script_sites(self, texts: list[str]) -> list[str]:
        """Sites named in Chinese, Japanese or Korean words (codes.yaml script_site_words), which are not
        spaced: found within the text, longest first, each taken out once read (脑膜, the meninges, is not
        also 脑, the brain)."""
        found: list[str] = []
        for text in texts:
            if text.isascii():
                continue
            for word, site in self.knowledge.script_site_words:
                if word in text:
                    text = text.replace(word, " ")
                    found.append(site)
        return list(dict.fromkeys(found))

    def _m1_sites(self, text: str) -> tuple[str, ...]:
        """The sites UICC's notation after an M1 names ("cM1 (OSS)", "pM1(HEP, PUL)": codes.yaml m1_site_notation)."""
        notation = self.knowledge.m1_sites
        found = [
            notation[code]
            for written in _M1_NOTATION.findall(text)
            for code in re.findall(r"[a-z]{3}", written.lower())
            if code in notation
        ]
        return tuple(dict.fromkeys(found))

    def _relapse_date(self, primary: Any) -> date | None:
        """The date a recurred primary's words give their relapse, in the words right after the recurrence word
        ("Recaída a distancia 04/2026", "relapse on 2025-02-10"; read as an onsetString is: a day-month order
        that could be either is not read)."""
        for text in concept_texts(primary.code):
            found = self.terminology.text_recurrence.search(text)
            after = text[found.end() : found.end() + _RELAPSE_DATE_WINDOW] if found else ""
            for token in _DATE_TOKEN.finditer(after):
                on = date_in_words(token.group())
                if on is not None:
                    return on
        return None

    def _says_recurrence(self, primary: Any) -> bool:
        """Whether a breast primary stating stage IV says the disease came back (terminology.yaml
        text.recurrence, or a clinical status of recurrence or relapse): the stage IV is then not its onset's."""
        if status_codes(primary.clinicalStatus) & _RECURRED:
            return True
        texts = concept_texts(primary.code) + [text for stage in primary.stage or [] for text in concept_texts(stage.summary)]
        return any(self.terminology.text_recurrence.search(text) for text in texts)

    def _says_stage_iv(self, stage: Any) -> bool:
        if any(coding.code in self.terminology.m1_snomed for coding in codings(stage.summary)):
            return True
        return any(self.knowledge.stage_iv.match(text) for text in concept_texts(stage.summary))

    # -- text, the last resort -------------------------------------------------------------------
    def _name_unconfirmed(self, raw: Mapping[str, Any], record: PatientRecord) -> None:
        """A diagnosis its words state only with uncertainty: named on the data card as a provisional one is."""
        if self._kept(raw, record) is not None:
            record.unconfirmed.append(f"Condition/{raw.get('id') or '?'}")

    def _statements(self, text: str) -> tuple[str, str] | None:
        """(what ``text`` states for certain, what it states with doubt), clause by clause; None when it
        negates the whole (terminology.yaml text.clause_separator).

        A clause that negates or doubts a finding of its own ("...; no brain metastases", ", possible
        bone metastases") is set apart from its first such cue on (``_scope``); one naming no finding
        ("not confirmed", "ruled out", "?") qualifies the whole text. A text with "history of" keeps
        its old reading, negated whole, for the breast-history reader, unless a metastasis follows it in
        its clause ("hx of brain mets": terminology.yaml breast_history of_spread).
        """
        terminology = self.terminology.for_text(text)
        negation, uncertain = terminology.text_negation, terminology.text_uncertain
        if not negation.search(text) and not uncertain.search(text):
            return text, ""  # the usual case
        if terminology.history_text.search(text):
            text = terminology.history_of_spread.sub(" ", text)  # "hx of brain mets": the metastases were there
            if terminology.history_text.search(text):
                return None
            if not negation.search(text) and not uncertain.search(text):
                return text, ""
        parts = terminology.text_clause_separator.split(text)
        certain: list[str] = []
        doubted: list[str] = []
        for index in range(0, len(parts), 2):
            clause, separator = parts[index], (parts[index + 1] if index + 1 < len(parts) else "")
            negated = bool(negation.search(clause))
            if not negated and not uncertain.search(clause):
                certain.append(clause + separator)
                continue
            if not self._names_finding(clause):
                return None if negated else ("", text)
            before, after, after_negated = self._scope(clause, negated)
            certain.append(before + separator)
            if not after_negated:
                doubted.append(after + separator)
        return "".join(certain), "".join(doubted)

    def _scope(self, clause: str, negated: bool) -> tuple[str, str, bool]:
        """(the words before a clause's first negation or doubt, the words that cue qualifies, whether
        it negates): a cue reaches forward, so "Metastatic breast cancer without brain involvement" states
        the cancer. Split only when both sides name a finding, the cue is not two-sided ("X vs Y",
        terminology.yaml text.two_sided) and does not negate the primary itself; else ("", the whole
        clause, whether any of it negates), as the whole clause was read before."""
        terminology = self.terminology.for_text(clause)
        cues = [match for match in (terminology.text_negation.search(clause), terminology.text_uncertain.search(clause)) if match]
        first = min(cues, key=lambda match: match.start())
        negates = first.re is terminology.text_negation
        before, after = clause[: first.start()], clause[first.end() :]
        if (
            not before.strip()
            or terminology.text_two_sided.search(first.group())
            or (negates and terminology.text_primary.search(after))
            or not self._names_finding(before)
            or not self._names_finding(after)
        ):
            return "", clause, negated
        return before, clause[first.start() :], negates

    def _names_finding(self, clause: str) -> bool:
        """Whether a clause names a finding of its own: a cancer, a metastasis, a stage, a site."""
        terminology = self.terminology.for_text(clause)
        if terminology.text_finding.search(clause) or terminology.text_secondary.search(clause):
            return True
        return bool(terminology.text_stage_iv.search(clause)) or bool(self._sites_from_texts([clause]))

    def _names_spread(self, raw: Mapping[str, Any]) -> bool:
        """Whether a Condition's words hold a word every metastasis or stage IV in words holds (a cheap test)."""
        lowered = [without_accents(text.lower()) for text in raw_concept_texts(raw.get("code"))]
        hints = self.terminology.for_text(" ".join(lowered)).text_spread_hints
        return any(hint in text for text in lowered for hint in hints)

    def _read_text_unless_other(
        self, raw: Mapping[str, Any], code_codings: list[tuple[str, str]]
    ) -> tuple[bool, tuple[str, ...], bool, bool, bool]:
        """``_read_text``, but nothing for a Condition coded as another primary cancer, whose words are about
        that cancer ("Adenocarcinoma of gastric antrum, with liver metastases" names no metastasis of the
        breast's). The codes are looked at only when the words found something (the usual case: they do not)."""
        found = self._read_text(raw)
        if (found[0] or found[1] or found[3]) and self._coded_other_primary(code_codings):
            return False, (), False, False, found[4]
        return found

    def _read_text(self, raw: Mapping[str, Any], coded_primary: bool = False) -> tuple[bool, tuple[str, ...], bool, bool, bool]:
        """(breast primary, metastasis sites, the first a regional node, stage IV, a cancer or metastasis
        stated only with doubt set apart) read from code.text and displays, clause by clause.
        ``coded_primary``: the codes name a breast primary, whatever language its words are in ("Carcinome du
        sein, récidive métastatique" names no site: stage IV, not a metastasis of no site)."""
        terminology = self.terminology
        statements = [
            self._statements(terminology.plain_words(without_accents(text)))
            for text in raw_concept_texts(raw.get("code"))
            if text.strip()
        ]
        pairs = [pair for pair in statements if pair is not None]
        if not pairs or len(pairs) < len(statements):  # no words, or words that negate the whole
            return False, (), False, False, False
        texts = [certain for certain, _ in pairs if certain.strip()]
        doubted_text = " ; ".join(doubt for _, doubt in pairs if doubt.strip())
        terminology = terminology.for_text(" ; ".join([*texts, doubted_text]))
        doubted = bool(doubted_text) and bool(
            terminology.text_secondary.search(doubted_text) or terminology.text_primary.search(doubted_text)
        )
        if not texts:
            return False, (), False, False, doubted
        joined = " ; ".join(texts)
        secondary = bool(terminology.text_secondary.search(joined))
        primary = coded_primary or bool(terminology.text_primary.search(joined))
        if primary and terminology.text_in_situ.search(joined) and not terminology.text_invasive.search(joined):
            primary = False  # carcinoma in situ is not an invasive breast cancer
        stage_iv = primary and bool(terminology.text_stage_iv.search(joined))
        if not secondary:
            return primary, self._m1_sites(joined) if stage_iv else (), False, stage_iv, doubted
        body_texts = [text for site in raw_list(raw.get("bodySite")) for text in raw_concept_texts(site)]
        # "Metastatic breast cancer" names the primary; the site words come after "to"/"of" or in bodySite.
        site_text = _BREAST.sub(" ", joined)
        sites = self._sites_from_texts([site_text, *body_texts])
        if not sites and primary:  # "Metastatic breast cancer": distant disease, its sites named elsewhere if at all
            return primary, (), False, True, doubted
        sites = sites or ["other"]  # a metastasis alone, its site not named
        regional = sites[0] == "lymph-node" and not self._says_distant_node([joined])
        return primary, tuple(sites), regional, stage_iv, doubted


# Cyrillic and Greek capitals that look like Latin ones, as a Russian or Greek keyboard types them into an ICD-10
# code: a Samara chart's bone metastasis "С79.5" (Cyrillic Es) had named no site.
_LATIN_TWINS = str.maketrans("АВСЕНІКМОРТХΑΒΕΗΙΚΜΝΟΡΤΥΧ", "ABCEHIKMOPTXABEHIKMNOPTYX")
_M1_NOTATION = re.compile(r"\b(?:[cpyr]{1,2})?m1[a-d]?\s*\(\s*([a-z]{3}(?:\s*[,;/+ ]\s*[a-z]{3})*)\s*\)", re.IGNORECASE)


def _before_negation(clause: str, negation: re.Pattern[str]) -> str:
    """A clause up to its first negation word: what follows it is denied."""
    found = negation.search(clause)
    return clause[: found.start()] if found else clause


def _code_and_site_texts(condition: Any) -> list[str]:
    """The words of a Condition's code (text and displays) and of its bodySites: where a node's station is named."""
    return concept_texts(condition.code) + [text for site in condition.bodySite or [] for text in concept_texts(site)]
