"""Value sets of ``mappings/terminology.yaml`` (read and schema-checked by service/knowledge/load.py), compiled once.

The read layer asks these questions of a coding: is it a breast primary (SNOMED CT concept or listed
descendant, ICD-10-CM C50, ICD-O-3 topography C50 with a malignant behaviour, mCODE's generic code with
a breast bodySite)? Is a lymph-node secondary regional rather than distant? Does an M category or stage
value mean distant disease, or none? Which staging Observations are coded in SNOMED CT? Does a Condition
name a finding a label rule is about (interstitial lung disease or pneumonitis; heart failure or
cardiomyopathy)?
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from service.knowledge.drugs import without_accents
from service.read.common import stated_in_words

LVEF_PERCENT_UNITS = ("%", "percent", "fraction", "ratio")  # without terminology.yaml lvef_percent_units


class TerminologyError(Exception):
    """mappings/terminology.yaml is unreadable or breaks its schema or a cross-reference."""


@dataclass(frozen=True)
class FindingTerms:
    """How a record names one finding a label rule is about (terminology.yaml lung_disease, heart_failure):
    its SNOMED CT concepts, ICD-10-CM prefixes, and words with their negation."""

    snomed: frozenset[str]
    icd10_prefixes: tuple[str, ...]
    text: re.Pattern[str]
    negation: re.Pattern[str]
    hints: tuple[str, ...]  # one of them is in every text ``text`` matches
    # An Observation kind whose value, when it names a class (``observation_value``), records the finding
    # (heart_failure: an NYHA functional class); None when no Observation does.
    observation_kind: str | None = None
    observation_value: re.Pattern[str] | None = None
    # How a record grades the finding (lung_disease grade): "grade N" in words, and a severity's SNOMED CT
    # code or word (condition-severity) -> grade; no pattern when the finding is not graded.
    grade_pattern: re.Pattern[str] | None = None
    grade_by_code: dict[str, int] = field(default_factory=dict)
    grade_by_word: dict[str, int] = field(default_factory=dict)

    def grade_of(self, texts: list[str], severity: Any = None) -> int | None:
        """The highest grade ``texts`` ("grade 2") or a Condition's ``severity`` (its raw CodeableConcept:
        a code, or a display or text that is a grade's word or says "grade N") give; None when none does."""
        pattern = self.grade_pattern
        if pattern is None:
            return None
        severity_words: list[str] = []
        grades = [0]
        if isinstance(severity, dict):
            codings = severity.get("coding")
            for coding in codings if isinstance(codings, list) else ():
                if isinstance(coding, dict):
                    grades.append(self.grade_by_code.get(str(coding.get("code")), 0))
                    severity_words.append(str(coding.get("display") or ""))
            severity_words.append(str(severity.get("text") or ""))
        grades += [int(found) for text in [*texts, *severity_words] for found in pattern.findall(text)]
        grades += [self.grade_by_word.get(word.strip().lower(), 0) for word in severity_words]
        return max(grades) or None


def _finding_terms(section: dict[str, Any]) -> FindingTerms:
    observation = section.get("observation")
    grade = section.get("grade")
    return FindingTerms(
        snomed=_codes(section["snomed"]),
        icd10_prefixes=tuple(section["icd10cm_prefixes"]),
        text=re.compile(section["text"], re.IGNORECASE),
        negation=re.compile(section["negation"], re.IGNORECASE),
        hints=tuple(section.get("hints", [""])),
        observation_kind=observation["kind"] if observation else None,
        observation_value=re.compile(observation["value"], re.IGNORECASE) if observation else None,
        grade_pattern=re.compile(grade["pattern"], re.IGNORECASE) if grade else None,
        grade_by_code={str(code): int(n) for code, n in grade["severity_snomed"].items()} if grade else {},
        grade_by_word=dict(grade["severity_words"]) if grade else {},
    )


@dataclass(frozen=True)
class Terminology:
    """The compiled value sets (systems are FHIR URIs)."""

    version: str
    icdo3: str
    breast_snomed: frozenset[str]
    breast_icd10_prefixes: tuple[str, ...]
    icdo3_topography_prefixes: tuple[str, ...]
    icdo3_primary_behaviours: frozenset[str]
    generic_malignancy_snomed: frozenset[str]
    breast_body_sites_snomed: frozenset[str]
    breast_body_site_words: tuple[str, ...]
    regional_node_snomed: frozenset[str]
    regional_node_icd10_prefixes: tuple[str, ...]
    regional_node_staging_days: int | None  # a node recorded longer before the first distant record is earlier staging's
    # Regional stations a node's record names (regional_nodes stations): an axillary node (by code or words),
    # regional on the breast cancer's side; a node named regional whatever the side (clavicular, internal mammary).
    axillary_node_snomed: frozenset[str]
    axillary_node_icd10_prefixes: tuple[str, ...]
    axillary_node_words: re.Pattern[str]
    regional_station_words: re.Pattern[str]
    m0_snomed: frozenset[str]
    m1_snomed: frozenset[str]
    m0_text: re.Pattern[str]
    m1_text: re.Pattern[str]
    observation_kind_snomed: dict[str, str]
    latest_only_group: dict[str, str]  # observation kind -> its group's first kind
    text_negation: re.Pattern[str]
    text_uncertain: re.Pattern[str]  # a diagnosis stated with uncertainty ("suspected", "concerning for")
    text_clause_separator: re.Pattern[str]  # where a clause of a problem's words ends
    text_finding: re.Pattern[str]  # words by which a clause states a finding of its own
    text_two_sided: re.Pattern[str]  # a doubt of both sides of it ("metastasis vs abscess")
    text_pseudo_negation: re.Pattern[str]  # a negation word that negates no finding ("not otherwise specified")
    pseudo_negation_hints: tuple[str, ...]  # words one of which every match of text_pseudo_negation holds
    text_primary: re.Pattern[str]
    text_secondary: re.Pattern[str]
    text_stage_iv: re.Pattern[str]
    text_spread_hints: tuple[str, ...]  # one of them is in every text a secondary or stage IV pattern matches
    text_in_situ: re.Pattern[str]
    text_recurrence: re.Pattern[str]
    text_invasive: re.Pattern[str]
    text_denied_progression: re.Pattern[str]
    text_progression_alone: re.Pattern[str]
    regional_node_words: tuple[str, ...]
    distant_node_words: tuple[str, ...]
    # The sides a breast primary's or a node's words name (text laterality_words): one named group a side
    side_words: re.Pattern[str]
    side_script_words: re.Pattern[str]  # the same in Chinese, Japanese, Korean (laterality_script_words), within words
    # (prefix, length, last character -> side): the side a full ICD-10-CM breast code names (text laterality_icd10cm)
    side_codes: tuple[str, int, dict[str, str]]
    side_snomed: dict[str, str]  # SNOMED CT code of a bodySite -> the side it names (text laterality_snomed)
    observation_text_kinds: tuple[tuple[re.Pattern[str], str], ...]
    # names that are a bare abbreviation ("ER"), tried when no text of the code names a kind otherwise
    observation_bare_kinds: tuple[tuple[re.Pattern[str], str], ...]
    bare_value: re.Pattern[str]  # the value a receptor named by its bare abbreviation may have: only a percent
    bare_answer: re.Pattern[str]  # ...or, for a `bare: answer` name, an answer alone, one word
    loinc_name_kinds: tuple[tuple[re.Pattern[str], str], ...]  # a kind by the LOINC long common name of an unlisted code
    disease_status_text: tuple[tuple[re.Pattern[str], str], ...]
    lung: FindingTerms  # interstitial lung disease or pneumonitis (safety.yaml lung)
    heart: FindingTerms  # heart failure or cardiomyopathy (safety.yaml heart)
    pregnancy_snomed: frozenset[str]  # a current pregnancy (safety.yaml pregnancy)
    pregnancy_icd10_prefixes: tuple[str, ...]
    pregnancy_text: re.Pattern[str]
    pregnancy_negation: re.Pattern[str]
    pregnancy_hints: tuple[str, ...]  # one of them is in every text pregnancy_text matches
    pregnancy_current_days: int  # a pregnancy record dated longer ago is no current pregnancy
    pregnancy_status_answers: tuple[tuple[str, str, bool], ...]  # (system name, code, pregnant) of a pregnancy status
    history_snomed: frozenset[str]  # a personal history of breast cancer (terminology.yaml breast_history)
    history_icd10_prefixes: tuple[str, ...]
    history_text: re.Pattern[str]
    history_negation: re.Pattern[str]
    history_of_spread: re.Pattern[str]  # "hx of" before a metastasis: read past (terminology.yaml breast_history)
    other_primary_categories: tuple[tuple[str, str], ...]  # ICD-10 category ranges of other primary cancers
    other_primary_except: tuple[str, ...]
    # (organ, ICD-10 prefixes, specimen words) of another primary cancer's organ (terminology.yaml other_primary organs)
    other_primary_organs: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = ()
    # a metastasis's words naming another cancer as its origin, and the breast as it (terminology.yaml text)
    text_other_origin: re.Pattern[str] = re.compile("(?!)")
    text_breast_origin: re.Pattern[str] = re.compile("(?!)")
    # a medication's reason that is a disease other than a cancer (terminology.yaml other_indications)
    other_indication_icd10: tuple[str, ...] = ()
    other_indication_words: re.Pattern[str] = re.compile("(?!)")
    # The sex a lab's reference range is for (terminology.yaml reference_range_sex): a SNOMED CT code ->
    # sex; AdministrativeGender's system, and its code -> sex (Patient.gender's too); its words (one
    # named group a sex). Empty when the section is absent: no range is told apart by sex.
    range_sex_snomed: dict[str, str] = field(default_factory=dict)
    gender_system: str = ""
    sex_by_gender: dict[str, str] = field(default_factory=dict)
    range_sex_words: re.Pattern[str] | None = None
    # Words of a unit an ejection fraction is read in (terminology.yaml lvef_percent_units): "%", "procent".
    lvef_percent_units: tuple[str, ...] = LVEF_PERCENT_UNITS
    # The same value sets with the text patterns that also read Chinese, Japanese and Korean words
    # (terminology.yaml text.cjk), for a text in those scripts (``for_text``); None when there are none.
    cjk: Terminology | None = None

    def for_text(self, text: str) -> Terminology:
        """The value sets to read ``text`` with: those that also read Chinese, Japanese and Korean words
        for a text in those scripts, else these (the patterns every other text is read with stay as cheap)."""
        if self.cjk is None or text.isascii() or not _CJK.search(text):
            return self
        return self.cjk

    def is_other_primary(self, code: str) -> bool:
        """An ICD-10 code of a primary cancer other than the breast's (terminology.yaml other_primary)."""
        category = code[:3].upper()
        return not code.upper().startswith(self.other_primary_except) and any(
            low <= category <= high for low, high in self.other_primary_categories
        )

    def organ_of_code(self, code: str) -> str | None:
        """The organ an ICD-10 code of another primary cancer names (terminology.yaml other_primary organs)."""
        upper = code.upper()
        return next((organ for organ, prefixes, _words in self.other_primary_organs if upper.startswith(prefixes)), None)

    def organ_in_words(self, texts: list[str]) -> str | None:
        """The organ of another primary a specimen's words name, none of them naming the breast."""
        if not self.other_primary_organs or any(self.text_breast_origin.search(text) for text in texts):
            return None
        return next((organ for organ, _codes, words in self.other_primary_organs if any(map(words.search, texts))), None)

    def plain_words(self, text: str) -> str:
        """``text`` without the phrases that hold a negation word but negate no finding (text.pseudo_negation:
        "not otherwise specified", "not biopsied"), so that the readers' negations do not see them."""
        lowered = text.lower()
        hinted = any(hint in lowered for hint in self.pseudo_negation_hints)
        return self.text_pseudo_negation.sub(" ", text) if hinted else text

    def in_words(self, terms: FindingTerms, texts: list[str]) -> bool | None:
        """Whether words state a finding (``stated_in_words``: None when none names it, False when negated):
        a Condition's name, or a medication's stop reason."""
        plain = [self.plain_words(text) for text in texts if text.strip()]
        return stated_in_words(plain, terms.hints, terms.text, terms.negation)

    def observation_kind_from_text(self, texts: list[str]) -> str | None:
        """The observation kind a code's text names ("ignore" for one deliberately not read); None if none."""
        for text in texts:
            for pattern, kind in self.observation_text_kinds:
                if pattern.search(text):
                    return kind
        for text in texts:  # "ER" alone, when no text says more ("ER (IHC)" is read above, whichever comes first)
            for pattern, kind in self.observation_bare_kinds:
                if pattern.search(text):
                    return kind
        return None

    def is_axillary_node(self, system: str, code: str, snomed: str, icd10cm: str) -> bool:
        """True when a secondary-neoplasm coding names the axillary nodes (regional_nodes stations axillary)."""
        if system == snomed:
            return code in self.axillary_node_snomed
        return system == icd10cm and code.startswith(self.axillary_node_icd10_prefixes)

    def is_regional_node(self, system: str, code: str, snomed: str, icd10cm: str) -> bool:
        """True when a secondary-neoplasm coding names lymph nodes that may be regional (not distant)."""
        if system == snomed:
            return code in self.regional_node_snomed
        return system == icd10cm and code.startswith(self.regional_node_icd10_prefixes)


# A kind named by a bare abbreviation (terminology.yaml observation_text kinds ``bare``: "ER" alone), read only when its
# value answers that test (service/read/observations.py): the kind's name with this suffix and the ``bare`` value.
BARE_SUFFIX = "-bare-"  # then what its value may be: "answer" or "percent"

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")  # kana, ideographs, Hangul


def _with_cjk(terminology: Terminology, cjk: dict[str, Any]) -> Terminology:
    """``terminology`` whose text patterns also match the Chinese, Japanese and Korean ones (text.cjk)."""

    def both(pattern: re.Pattern[str], key: str) -> re.Pattern[str]:
        return re.compile(f"{pattern.pattern}|{cjk[key]}", pattern.flags) if key in cjk else pattern

    separator = terminology.text_clause_separator
    return replace(
        terminology,
        text_negation=both(terminology.text_negation, "negation"),
        text_uncertain=both(terminology.text_uncertain, "uncertain"),
        text_clause_separator=re.compile(f"({separator.pattern[1:-1]}|{cjk['clause_separator']})")
        if "clause_separator" in cjk
        else separator,
        text_finding=both(terminology.text_finding, "finding"),
        text_primary=both(terminology.text_primary, "primary"),
        text_secondary=both(terminology.text_secondary, "secondary"),
        text_stage_iv=both(terminology.text_stage_iv, "stage_iv"),
        text_spread_hints=terminology.text_spread_hints + tuple(cjk.get("spread_hints", ())),
    )


def compile_terminology(document: dict[str, Any], observation_kinds: set[str]) -> Terminology:
    """The value sets of a schema-checked ``terminology.yaml`` (service/knowledge/load.py reads and checks it)."""
    kinds = [kind for group in document["latest_only_groups"] for kind in group] + list(document["observation_kinds_snomed"])
    kinds += [item["kind"] for item in document["observation_text"]["kinds"] if item["kind"] != "ignore"]
    kinds += [item["kind"] for item in document["observation_text"].get("loinc_names", [])]
    for kind in kinds:
        if kind not in observation_kinds:
            raise TerminologyError(f"'{kind}' is not an observation kind of codes.yaml")
    compiled = _compile(document)
    cjk = document["text"].get("cjk")
    return replace(compiled, cjk=_with_cjk(compiled, cjk)) if cjk else compiled


def _codes(concepts: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(concept["code"] for concept in concepts)


def word_trie(words: Iterable[str]) -> str:
    """A pattern matching any of ``words`` (case-blind: compile it with re.IGNORECASE), their common
    beginnings written once ("lewa|lewy|lewej" as "lew(?:a|ej|y)"). The same words as a plain alternation;
    Python's regular expressions try each alternative at each place in a text, and the side words'
    hundred-odd alternatives cost a breast primary's name about 100 us to search, a fifth of that as a trie."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for character in word.lower():
            node = node.setdefault(character, {})
        node[""] = {}  # a word ends here
    return _trie_pattern(trie)


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [re.escape(character) + _trie_pattern(child) for character, child in sorted(node.items()) if character]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def _bare_too(words: list[str]) -> tuple[str, ...]:
    """The words, and each written without its accents after it: Greek capitals carry none, and many
    systems drop them ("ετερόπλευροι" arrives as "ΕΤΕΡΟΠΛΕΥΡΟΙ" or "ετεροπλευροι"; held-out a90)."""
    return tuple(dict.fromkeys(form for word in words for form in (word, without_accents(word))))


def _compile(document: dict[str, Any]) -> Terminology:
    primary = document["breast_primary"]
    nodes = document["regional_nodes"]
    m_category = document["m_category"]
    text = document["text"]
    pregnancy = document.get("pregnancy", {})
    history = document["breast_history"]
    other = document.get("other_primary", {})
    indications = document.get("other_indications", {})
    return Terminology(
        version=document["version"],
        icdo3=document["systems"]["icdo3"],
        breast_snomed=_codes(primary["snomed"]),
        breast_icd10_prefixes=tuple(primary["icd10cm_prefixes"]),
        icdo3_topography_prefixes=tuple(primary["icdo3_topography_prefixes"]),
        icdo3_primary_behaviours=frozenset(primary["icdo3_primary_behaviours"]),
        generic_malignancy_snomed=frozenset(primary["generic_malignancy_snomed"]),
        breast_body_sites_snomed=_codes(primary["breast_body_sites_snomed"]),
        breast_body_site_words=tuple(primary["breast_body_site_words"]),
        regional_node_snomed=frozenset(nodes["snomed"]),
        regional_node_staging_days=nodes.get("staging_days"),
        regional_node_icd10_prefixes=tuple(nodes["icd10cm_prefixes"]),
        axillary_node_snomed=frozenset(nodes["stations"]["axillary"]["snomed"]),
        axillary_node_icd10_prefixes=tuple(nodes["stations"]["axillary"]["icd10cm_prefixes"]),
        axillary_node_words=re.compile(nodes["stations"]["axillary"]["pattern"], re.IGNORECASE),
        regional_station_words=re.compile(nodes["stations"]["regional"]["pattern"], re.IGNORECASE),
        m0_snomed=_codes(m_category["no_distant"]),
        m1_snomed=_codes(m_category["distant"]),
        m0_text=re.compile(m_category["no_distant_pattern"], re.IGNORECASE),
        m1_text=re.compile(m_category["distant_pattern"], re.IGNORECASE),
        observation_kind_snomed={
            code: kind for kind, entry in document["observation_kinds_snomed"].items() for code in entry["codes"]
        },
        latest_only_group={kind: group[0] for group in document["latest_only_groups"] for kind in group},
        text_negation=re.compile(text["negation"], re.IGNORECASE),
        text_uncertain=re.compile(text["uncertain"], re.IGNORECASE),
        text_clause_separator=re.compile("(" + text.get("clause_separator", "(?!)") + ")"),  # kept by re.split
        text_finding=re.compile(text.get("finding", "(?!)"), re.IGNORECASE),
        text_two_sided=re.compile(text.get("two_sided", ""), re.IGNORECASE),
        text_pseudo_negation=re.compile(text.get("pseudo_negation", "(?!)"), re.IGNORECASE),
        pseudo_negation_hints=tuple(text.get("pseudo_negation_hints", ["no", "without"])),
        text_primary=re.compile(text["primary"], re.IGNORECASE),
        text_secondary=re.compile(text["secondary"], re.IGNORECASE),
        text_stage_iv=re.compile(text["stage_iv"], re.IGNORECASE),
        text_spread_hints=tuple(text.get("spread_hints", [""])),
        text_in_situ=re.compile(text["in_situ"], re.IGNORECASE),
        text_recurrence=re.compile(text["recurrence"], re.IGNORECASE),
        text_invasive=re.compile(text["invasive"], re.IGNORECASE),
        text_denied_progression=re.compile(text["denied_progression"], re.IGNORECASE),
        text_progression_alone=re.compile(text.get("progression_alone", "(?!)"), re.IGNORECASE),
        regional_node_words=tuple(text["regional_node_words"]),
        distant_node_words=_bare_too(text["distant_node_words"]),
        side_words=re.compile(
            r"\b(?:"
            + "|".join(
                f"(?P<{side}>{word_trie(_bare_too(words))})" for side, words in text["laterality_words"].items()
            )
            + r")\b",
            re.IGNORECASE,
        ),
        side_script_words=re.compile(
            "|".join(
                f"(?P<{side}>" + "|".join(map(re.escape, words)) + ")"
                for side, words in text.get("laterality_script_words", {}).items()
            )
            or "(?!)"
        ),
        side_snomed={str(code): side for side, codes in text.get("laterality_snomed", {}).items() for code in codes},
        side_codes=(
            str(text["laterality_icd10cm"]["prefix"]).upper(),
            int(text["laterality_icd10cm"]["length"]),
            {str(key): str(side) for key, side in text["laterality_icd10cm"]["sides"].items()},
        ),
        loinc_name_kinds=tuple(
            (re.compile(item["pattern"], re.IGNORECASE), item["kind"])
            for item in document["observation_text"].get("loinc_names", [])
        ),
        bare_value=re.compile(document["observation_text"].get("bare_value", "(?!)"), re.IGNORECASE),
        bare_answer=re.compile(document["observation_text"].get("bare_answer", "(?!)"), re.IGNORECASE),
        observation_text_kinds=tuple(
            (re.compile(item["pattern"], re.IGNORECASE), item["kind"])
            for item in document["observation_text"]["kinds"]
            if "bare" not in item
        ),
        observation_bare_kinds=tuple(
            (re.compile(item["pattern"], re.IGNORECASE), f"{item['kind']}{BARE_SUFFIX}{item['bare']}")
            for item in document["observation_text"]["kinds"]
            if "bare" in item
        ),
        disease_status_text=tuple(
            (re.compile(item["pattern"], re.IGNORECASE), item["status"])
            for item in document["observation_text"]["disease_status"]
        ),
        lung=_finding_terms(document["lung_disease"]),
        heart=_finding_terms(document["heart_failure"]),
        pregnancy_snomed=_codes(pregnancy.get("snomed", [])),
        pregnancy_icd10_prefixes=tuple(pregnancy.get("icd10cm_prefixes", [])),
        pregnancy_text=re.compile(pregnancy.get("text", "(?!)"), re.IGNORECASE),
        pregnancy_negation=re.compile(pregnancy.get("negation", "(?!)"), re.IGNORECASE),
        pregnancy_hints=tuple(pregnancy.get("hints", [])),
        pregnancy_current_days=int(pregnancy.get("current_days", 300)),
        pregnancy_status_answers=tuple(
            (str(entry["system"]), str(entry["code"]), state == "pregnant")
            for state, entries in pregnancy.get("status_answers", {}).items()
            for entry in entries
        ),
        history_snomed=_codes(history["snomed"]),
        history_icd10_prefixes=tuple(history["icd10cm_prefixes"]),
        history_text=re.compile(history["text"], re.IGNORECASE),
        history_negation=re.compile(history["negation"], re.IGNORECASE),
        history_of_spread=re.compile(history.get("of_spread", "(?!)"), re.IGNORECASE),
        other_primary_categories=tuple((low, high) for low, high in other.get("icd10_categories", [])),
        other_primary_except=tuple(other.get("except_prefixes", [])),
        other_primary_organs=tuple(
            (item["organ"], tuple(item["icd10_prefixes"]), re.compile(item["words"], re.IGNORECASE))
            for item in other.get("organs", [])
        ),
        other_indication_icd10=tuple(indications.get("icd10_prefixes", [])),
        text_other_origin=re.compile(text.get("other_origin", "(?!)"), re.IGNORECASE),
        text_breast_origin=re.compile(text.get("breast_origin", "(?!)"), re.IGNORECASE),
        other_indication_words=re.compile(indications.get("words", "(?!)"), re.IGNORECASE),
        **_range_sex(document.get("reference_range_sex")),
        lvef_percent_units=tuple(document.get("lvef_percent_units", {}).get("words", LVEF_PERCENT_UNITS)),
    )


def _range_sex(section: dict[str, Any] | None) -> dict[str, Any]:
    """The Terminology fields of terminology.yaml reference_range_sex (none when it is absent)."""
    if not section:
        return {}
    sexes = section["sexes"]
    words = "|".join(f"(?P<{sex}>" + "|".join(map(re.escape, entry["words"])) + ")" for sex, entry in sexes.items())
    return {
        "range_sex_snomed": {concept["code"]: sex for sex, entry in sexes.items() for concept in entry["snomed"]},
        "gender_system": section["administrative_gender_system"],
        "sex_by_gender": {code: sex for sex, entry in sexes.items() for code in entry["administrative_gender"]},
        "range_sex_words": re.compile(rf"\b(?:{words})\b", re.IGNORECASE) if words else None,
    }
