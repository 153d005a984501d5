"""The compiled knowledge every stage reads (``Knowledge``), and the error a bad knowledge file raises."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from service.knowledge.cards import CardWording
from service.knowledge.models import AlertRules, OptionRule, ReceptorRules, Regimen, SafetyTables


class KnowledgeError(Exception):
    """A knowledge file is missing, unreadable, or breaks its schema or a cross-reference."""


@dataclass(frozen=True)
class NamePattern:
    """A drug name as a word sequence and the agents it means."""

    words: tuple[str, ...]
    agents: tuple[str, ...]
    not_with: frozenset[str] = frozenset()  # words of a record that make the name mean something else


@dataclass
class Knowledge:
    """The compiled knowledge: raw documents plus the lookup tables the pipeline uses."""

    raw: dict[str, dict[str, Any]]
    systems: dict[str, str] = field(default_factory=dict)
    system_alias: dict[str, str] = field(default_factory=dict)  # another name of a system -> its URI in `systems`
    icd10_edition: re.Pattern[str] | None = None  # another ICD-10 edition's system, by its name (read as ICD-10-CM)
    # codes.yaml icd9cm_crosswalk: ICD-9-CM's systems, its prefixes without their dot -> the ICD-10-CM code
    # read in their place, and the prefixes' lengths, longest first.
    icd9cm_systems: frozenset[str] = frozenset()
    icd9cm_to_icd10cm: dict[str, str] = field(default_factory=dict)
    icd9cm_prefix_lengths: tuple[int, ...] = ()
    observation_kind: dict[tuple[str, str], str] = field(default_factory=dict)
    ignored_observation_codes: frozenset[tuple[str, str]] = frozenset()
    codes_by_kind: dict[str, list[str]] = field(default_factory=dict)
    answer_by_coding: dict[tuple[str, str], str] = field(default_factory=dict)
    ihc_score_by_coding: dict[tuple[str, str], int] = field(default_factory=dict)  # codes.yaml ihc_score_answers
    answer_text: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    ihc_score: re.Pattern[str] = re.compile("")
    ish_group: re.Pattern[str] = re.compile("(?!)")  # codes.yaml ish_group_pattern
    # codes.yaml ish_numbers: the ratio, the HER2 copies and the words before a copy number that is not HER2's
    ish_ratio: re.Pattern[str] = re.compile("(?!)")
    ish_copies: re.Pattern[str] = re.compile("(?!)")
    ish_not_her2: re.Pattern[str] = re.compile("(?!)")
    her2_category_text: list[tuple[re.Pattern[str], str]] = field(default_factory=list)  # HER2-low, -ultralow, 0
    her2_negative_by_ihc_score: dict[int, str] = field(default_factory=dict)
    her2_equivocal_ihc_score: int | None = None  # the IHC score an IHC result given only as equivocal has
    her2_weak_ihc: tuple[re.Pattern[str], int] | None = None  # "weakly positive" IHC in words, the score it is read as
    receptor_names: dict[str, re.Pattern[str]] = field(default_factory=dict)  # er, pr, her2 -> how a text names it
    receptor_name_hints: tuple[str, ...] = ()  # a piece of every receptor name (a cheap test first)
    disease_status_by_code: dict[str, str] = field(default_factory=dict)
    disease_status_by_coding: dict[tuple[str, str], str] = field(default_factory=dict)  # SNOMED CT's and other systems'
    stage_iv_values: frozenset[str] = frozenset()
    breast_cancer_codes: frozenset[tuple[str, str]] = frozenset()
    breast_cancer_prefixes: tuple[tuple[str, str], ...] = ()
    metastasis_codes: dict[tuple[str, str], str] = field(default_factory=dict)
    metastasis_prefixes: tuple[tuple[str, str, str], ...] = ()
    site_words: dict[str, str] = field(default_factory=dict)
    site_words_if_none: dict[str, str] = field(default_factory=dict)  # a brain region's words: when none of the above
    site_words_if_none_unless: frozenset[str] = frozenset()  # ...and none of these (the skin's, the scalp's)
    m1_sites: dict[str, str] = field(default_factory=dict)  # UICC's M1 notation, lower case ("oss": bone)
    script_site_words: tuple[tuple[str, str], ...] = ()  # (word, site) in Chinese, Japanese, Korean; longest first
    # (word, place) by which a HER2 result's specimen display names the breast or a distant site
    # (codes.yaml her2_test_episode specimen_words): distant words first.
    specimen_words: tuple[tuple[str, str], ...] = ()
    body_site_codes: dict[tuple[str, str], str] = field(default_factory=dict)  # (system, code) of a bodySite -> site
    stage_iv: re.Pattern[str] = re.compile("")
    agent_by_coding: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # (system, code): RxNorm, ATC
    agents_by_ndc: dict[str, tuple[str, ...]] = field(default_factory=dict)  # drugs.yaml ndc, by ``ndc_product``
    name_patterns: tuple[NamePattern, ...] = ()
    agents_by_name: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)  # name_patterns as a table
    patterns_by_first_word: dict[str, tuple[int, ...]] = field(default_factory=dict)  # word -> indices in name_patterns
    # One-word names by (first letter, length), of drugs.yaml misspelt_names' length or more: the names a word
    # misspelt by one letter may stand for, and that length.
    misspelt_candidates: dict[tuple[str, int], tuple[tuple[str, tuple[str, ...]], ...]] = field(default_factory=dict)
    misspelt_min_letters: int = 0
    conjugate_payloads: tuple[str, ...] = ()  # endings of an ADC's payload word (drugs.yaml unknown_anticancer)
    supportive_first_words: frozenset[str] = frozenset()  # a name beginning so names no anticancer drug (drugs.yaml)
    # drugs.yaml unavailable_words: words before or after a drug's name saying it was not to be had, and the words between
    unavailable_before: tuple[tuple[str, ...], ...] = ()
    unavailable_after: tuple[tuple[str, ...], ...] = ()
    unavailable_between: frozenset[str] = frozenset()
    # Names written in scripts with no spaces between words (Chinese, Japanese, Korean; drugs.yaml
    # script_names), compacted (drugs.script_compact) and longest first, with the agents they mean.
    script_names: tuple[tuple[str, tuple[str, ...]], ...] = ()
    script_antibodies: frozenset[str] = frozenset()  # the HER2 antibodies: a payload word after one names a conjugate
    script_payloads: tuple[str, ...] = ()  # drugs.yaml unknown_anticancer script_conjugate_payloads
    agent_class: dict[str, str] = field(default_factory=dict)
    refinements: dict[str, str] = field(default_factory=dict)
    substitution_group: dict[str, int] = field(default_factory=dict)
    substitution_after: dict[int, str] = field(default_factory=dict)  # a group that substitutes only after such a stop
    progression_stop_codes: frozenset[tuple[str, str]] = frozenset()
    toxicity_stop_codes: frozenset[tuple[str, str]] = frozenset()
    # A course coded as completed, or stopped for another cause its code names (pregnancy, surgery): its words are not read.
    unread_stop_codes: frozenset[tuple[str, str]] = frozenset()
    regimen_models: dict[str, Regimen] = field(default_factory=dict)
    option_rules: tuple[OptionRule, ...] = ()
    safety_tables: SafetyTables | None = None
    receptor_rules: ReceptorRules | None = None
    card_wording: CardWording | None = None
    alert_rule_model: AlertRules | None = None
    terminology: Any = None  # service.read.terminology.Terminology (mappings/terminology.yaml)

    @property
    def receptors(self) -> ReceptorRules:
        """The typed ASCO/CAP receptor rules (built at load time)."""
        assert self.receptor_rules is not None, "load_knowledge builds them"  # noqa: S101  (an invariant, not input checking)
        return self.receptor_rules

    @property
    def alert_rules(self) -> AlertRules:
        """Which facts raise which alert (alerts.yaml, built at load time)."""
        assert self.alert_rule_model is not None, "load_knowledge builds them"  # noqa: S101  (an invariant, not input checking)
        return self.alert_rule_model

    @property
    def wording(self) -> CardWording:
        """The typed card wording of cards.yaml (built at load time)."""
        assert self.card_wording is not None, "load_knowledge builds it"  # noqa: S101  (an invariant, not input checking)
        return self.card_wording

    @property
    def label_tables(self) -> SafetyTables:
        """The typed label safety tables (built at load time)."""
        assert self.safety_tables is not None, "load_knowledge builds them"  # noqa: S101  (an invariant, not input checking)
        return self.safety_tables

    # Short-hands for the raw documents the engine reads directly.
    @property
    def sources(self) -> dict[str, dict[str, Any]]:
        return self.raw["sources"]["sources"]

    @property
    def drugs(self) -> dict[str, Any]:
        return self.raw["drugs"]

    @property
    def regimens(self) -> dict[str, dict[str, Any]]:
        return self.raw["regimens"]["regimens"]

    @property
    def lines(self) -> dict[str, Any]:
        return self.raw["lines"]

    @property
    def options(self) -> dict[str, Any]:
        return self.raw["options"]

    @property
    def safety(self) -> dict[str, Any]:
        return self.raw["safety"]

    @property
    def services(self) -> dict[str, Any]:
        return self.raw["services"]

    @property
    def cards(self) -> dict[str, Any]:
        return self.raw["cards"]

    def source(self, source_id: str) -> dict[str, Any]:
        """The source entry ``source_id`` (ids are checked at load time)."""
        return self.sources[source_id]

    def agents_of_class(self, *classes: str) -> frozenset[str]:
        """Canonical agents whose class is one of ``classes``."""
        return frozenset(agent for agent, cls in self.agent_class.items() if cls in classes)
