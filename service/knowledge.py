"""Load the knowledge files of ``mappings/``, check each against its schema, compile lookup tables.

Everything clinical the service knows is here, read once at start-up. A file that does not match its
schema stops the service with a message naming the file and the field (``KnowledgeError``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from service.knowledge_cards import CardWording, CardWordingError, card_wording
from service.knowledge_models import (
    AlertRules,
    Eligibility,
    OptionRule,
    ReceptorRules,
    Regimen,
    SafetyTables,
    alert_rules,
    receptor_rules,
    regimen_model,
    rule_model,
    safety_tables,
)

# The typed models, re-exported.
__all__ = ["AlertRules", "CardWording", "Eligibility", "OptionRule", "ReceptorRules", "Regimen", "SafetyTables"]

KNOWLEDGE_FILES = (
    "sources",
    "codes",
    "receptors",
    "drugs",
    "regimens",
    "lines",
    "options",
    "safety",
    "alerts",
    "services",
    "cards",
)

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


class KnowledgeError(Exception):
    """A knowledge file is missing, unreadable, or breaks its schema or a cross-reference."""


def default_mappings_dir() -> Path:
    """The knowledge shipped with the package: ``service.mappings`` through importlib.resources.

    The wheel carries the repository's ``mappings/`` as the package data ``service.mappings``
    (pyproject.toml maps it). A checkout (an editable install included, whose finder does not map the
    folder) reads ``mappings/`` beside the ``service`` package: the source of truth itself.
    """
    try:
        # A folder without __init__.py is a namespace package: files() may give a MultiplexedPath, whose
        # files are real paths; the folder is the parent of one of them.
        marker = resources.files("service.mappings").joinpath("sources.yaml")
    except ModuleNotFoundError:
        marker = None
    if isinstance(marker, Path) and marker.is_file():
        return marker.parent
    return Path(__file__).resolve().parent.parent / "mappings"


def normalise_name(text: str) -> tuple[str, ...]:
    """Lower-case words of a drug name: ``"Trastuzumab-dkst (Ogivri)"`` -> ``("trastuzumab", "dkst", "ogivri")``."""
    return tuple([word for word in _WORD_SPLIT.split(text.lower()) if word])


@dataclass(frozen=True)
class NamePattern:
    """A drug name as a word sequence and the agents it means."""

    words: tuple[str, ...]
    agents: tuple[str, ...]


@dataclass
class Knowledge:
    """The compiled knowledge: raw documents plus the lookup tables the pipeline uses."""

    raw: dict[str, dict[str, Any]]
    systems: dict[str, str] = field(default_factory=dict)
    observation_kind: dict[tuple[str, str], str] = field(default_factory=dict)
    ignored_observation_codes: frozenset[tuple[str, str]] = frozenset()
    codes_by_kind: dict[str, list[str]] = field(default_factory=dict)
    answer_by_coding: dict[tuple[str, str], str] = field(default_factory=dict)
    answer_text: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    ihc_score: re.Pattern[str] = re.compile("")
    disease_status_by_code: dict[str, str] = field(default_factory=dict)
    stage_iv_values: frozenset[str] = frozenset()
    breast_cancer_codes: frozenset[tuple[str, str]] = frozenset()
    breast_cancer_prefixes: tuple[tuple[str, str], ...] = ()
    metastasis_codes: dict[tuple[str, str], str] = field(default_factory=dict)
    metastasis_prefixes: tuple[tuple[str, str, str], ...] = ()
    site_words: dict[str, str] = field(default_factory=dict)
    stage_iv: re.Pattern[str] = re.compile("")
    agent_by_rxnorm: dict[str, tuple[str, ...]] = field(default_factory=dict)
    name_patterns: tuple[NamePattern, ...] = ()
    agents_by_name: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)  # name_patterns as a table
    patterns_by_first_word: dict[str, tuple[int, ...]] = field(default_factory=dict)  # word -> indices in name_patterns
    agent_class: dict[str, str] = field(default_factory=dict)
    refinements: dict[str, str] = field(default_factory=dict)
    substitution_group: dict[str, int] = field(default_factory=dict)
    progression_stop_codes: frozenset[tuple[str, str]] = frozenset()
    toxicity_stop_codes: frozenset[tuple[str, str]] = frozenset()
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


def load_knowledge(mappings_dir: Path | str | None = None) -> Knowledge:
    """Read, validate and compile every knowledge file; raise ``KnowledgeError`` naming the problem."""
    folder = Path(mappings_dir) if mappings_dir else default_mappings_dir()
    raw: dict[str, dict[str, Any]] = {}
    for name in KNOWLEDGE_FILES:
        raw[name] = _load_checked(folder, name)
    knowledge = Knowledge(raw=raw)
    _check_references(knowledge)
    _compile(knowledge)
    knowledge.terminology = _load_terminology(folder, knowledge)
    return knowledge


def _load_terminology(folder: Path, knowledge: Knowledge) -> Any:
    """The read layer's value sets: terminology.yaml checked here like every file, compiled by service/read/terminology.py."""
    from service.read.terminology import TerminologyError, compile_terminology  # the read layer imports this module

    document = _load_checked(folder, "terminology")
    known_sources = set(knowledge.sources)
    for source_id in _source_ids_used(document):
        if source_id not in known_sources:
            raise KnowledgeError(f"{folder / 'terminology.yaml'}: source '{source_id}' is not in sources.yaml")
    try:
        return compile_terminology(document, set(knowledge.raw["codes"]["observations"]))
    except TerminologyError as exc:
        raise KnowledgeError(f"{folder / 'terminology.yaml'}: {exc}") from exc


def _load_checked(folder: Path, name: str) -> dict[str, Any]:
    path = folder / f"{name}.yaml"
    schema_path = folder / "schemas" / f"{name}.schema.json"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise KnowledgeError(f"{path}: cannot be read: {exc}") from exc
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(top level)"
        raise KnowledgeError(f"{path}: field {where}: {first.message}")
    return document


def _source_ids_used(node: Any) -> list[str]:
    """Every value of a ``source`` key anywhere in a document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in (
                "source",
                "monitoring_source",
                "early_relapse_source",
                "label_source",
                "maintenance_source",
            ) and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_source_ids_used(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_source_ids_used(item))
    return found


def _check_references(knowledge: Knowledge) -> None:
    """Cross-file checks the per-file schemas cannot express."""
    known_sources = set(knowledge.sources)
    cards = knowledge.cards
    card_sources = [*cards["summary_source"].values(), *cards["order_check_sources"].values()]
    for name, document in knowledge.raw.items():
        for source_id in _source_ids_used(document) + (card_sources if name == "cards" else []):
            if source_id not in known_sources:
                raise KnowledgeError(f"mappings/{name}.yaml: source '{source_id}' is not in sources.yaml")
    classes = set(knowledge.drugs["classes"])
    for agent, entry in knowledge.drugs["agents"].items():
        if entry["class"] not in classes:
            raise KnowledgeError(f"mappings/drugs.yaml: agents/{agent}/class '{entry['class']}' is not a class")
    _check_regimen_references(knowledge)
    observation_kinds = set(knowledge.raw["codes"]["observations"])
    for key, template in knowledge.services["prefetch"].items():
        for group in re.findall(r"\{\{codes:([^}]*)\}\}", template):
            for kind in group.split(","):
                if kind not in observation_kinds:
                    raise KnowledgeError(f"mappings/services.yaml: prefetch/{key}: unknown observation kind '{kind}'")


def _check_regimen_references(knowledge: Knowledge) -> None:
    """Every agent of a regimen, option rule and safety table is a drugs.yaml agent; every option names a regimen."""
    agents = set(knowledge.drugs["agents"])

    def known(agent: str, where: str) -> None:
        if agent not in agents:
            raise KnowledgeError(f"{where}: '{agent}' is not an agent of drugs.yaml")

    for regimen_id, entry in knowledge.regimens.items():
        for key in ("agents", "key_agents", "continues", "partner_choices"):
            for agent in entry.get(key, []):
                known(agent, f"mappings/regimens.yaml: regimens/{regimen_id}/{key}")
    _check_option_references(knowledge, known)
    for table in ("lvef", "liver"):
        for agent in knowledge.safety[table]["rules"]:
            known(agent, f"mappings/safety.yaml: {table}/rules")


def _check_option_references(knowledge: Knowledge, known: Callable[[str, str], None]) -> None:
    """options.yaml: known regimens, agents and drug classes."""
    options = knowledge.options
    regimens = [(f"rules/{index}/regimen", rule["regimen"]) for index, rule in enumerate(options["rules"])]
    extra = options["visceral_crisis"].get("add_if_absent")
    regimens += [("visceral_crisis/add_if_absent", extra["regimen"])] if extra else []
    for where, regimen_id in regimens:
        if regimen_id not in knowledge.regimens:
            raise KnowledgeError(f"mappings/options.yaml: {where}: unknown regimen {regimen_id}")
    for index, rule in enumerate(options["rules"]):
        for key in ("never_received", "current_line_lacks"):
            for agent in rule.get("eligible", {}).get(key, []):
                known(agent, f"mappings/options.yaml: rules/{index}/eligible/{key}")
    classes = set(knowledge.drugs["classes"])
    for cls in options["her2_classes"]:
        if cls not in classes:
            raise KnowledgeError(f"mappings/options.yaml: her2_classes: '{cls}' is not a drugs.yaml class")


def _compile(knowledge: Knowledge) -> None:
    """Build the lookup tables once, so the request path only does dictionary look-ups."""
    codes = knowledge.raw["codes"]
    systems = codes["systems"]
    knowledge.systems = systems
    loinc = systems["loinc"]
    for kind, entry in codes["observations"].items():
        knowledge.codes_by_kind[kind] = list(entry["codes"])
        for code in entry["codes"]:
            knowledge.observation_kind[(loinc, code)] = kind
    knowledge.ignored_observation_codes = frozenset(
        (loinc, code) for entry in codes.get("ignored_observations", {}).values() for code in entry["codes"]
    )
    for value, codings in codes["answers"].items():
        for coding in codings:
            knowledge.answer_by_coding[(systems[coding["system"]], coding["code"])] = value
    knowledge.answer_text = [(re.compile(item["pattern"]), item["value"]) for item in codes["answer_text"]]
    knowledge.ihc_score = re.compile(codes["ihc_score_pattern"], re.IGNORECASE)
    knowledge.disease_status_by_code = {code: status for status, values in codes["disease_status"].items() for code in values}
    knowledge.stage_iv_values = frozenset(codes.get("stage_iv_values", []))

    bc_codes: set[tuple[str, str]] = set()
    bc_prefixes: list[tuple[str, str]] = []
    for matcher in codes["breast_cancer"]:
        system = systems[matcher["system"]]
        bc_codes.update((system, code) for code in matcher.get("codes", []))
        bc_prefixes.extend((system, prefix) for prefix in matcher.get("prefixes", []))
    knowledge.breast_cancer_codes = frozenset(bc_codes)
    knowledge.breast_cancer_prefixes = tuple(bc_prefixes)

    prefixes: list[tuple[str, str, str]] = []
    for matcher in codes["metastasis"]:
        system = systems[matcher["system"]]
        for code in matcher.get("codes", []):
            knowledge.metastasis_codes[(system, code)] = matcher["site"]
        prefixes.extend((system, prefix, matcher["site"]) for prefix in matcher.get("prefixes", []))
    # Most specific first: the longest prefix that matches wins.
    knowledge.metastasis_prefixes = tuple(sorted(prefixes, key=lambda item: -len(item[1])))
    knowledge.site_words = {word: site for site, words in codes["site_words"].items() for word in words}
    knowledge.stage_iv = re.compile(codes["stage_iv_pattern"], re.IGNORECASE)

    _compile_drugs(knowledge)
    _compile_models(knowledge)

    lines = knowledge.lines
    for index, group in enumerate(lines["substitutions"]):
        for agent in group["agents"]:
            knowledge.substitution_group[agent] = index
    stops = lines["stop_reasons"]
    knowledge.progression_stop_codes = frozenset((systems[c["system"]], c["code"]) for c in stops["progression"])
    knowledge.toxicity_stop_codes = frozenset((systems[c["system"]], c["code"]) for c in stops["toxicity"])


def _compile_models(knowledge: Knowledge) -> None:
    """The typed, frozen models the stages read (regimens, options, label tables, receptor rules, card wording)."""
    knowledge.regimen_models = {rid: regimen_model(rid, entry) for rid, entry in knowledge.regimens.items()}
    knowledge.option_rules = tuple(rule_model(entry) for entry in knowledge.options["rules"])
    knowledge.safety_tables = safety_tables(knowledge.safety)
    episode_days = int(knowledge.raw["codes"]["her2_test_episode"]["days"])
    knowledge.receptor_rules = receptor_rules(knowledge.raw["receptors"], episode_days)
    try:
        knowledge.card_wording = card_wording(knowledge.cards)
    except CardWordingError as exc:
        raise KnowledgeError(f"mappings/cards.yaml: {exc}") from exc
    knowledge.alert_rule_model = alert_rules(knowledge.raw["alerts"])
    for code in knowledge.alert_rules.when:
        if code not in knowledge.wording.alerts:
            raise KnowledgeError(f"mappings/alerts.yaml: field alerts/{code}: no wording for it in cards.yaml alerts")


def _compile_drugs(knowledge: Knowledge) -> None:
    drugs = knowledge.drugs
    patterns: dict[tuple[str, ...], tuple[str, ...]] = {}
    for agent, entry in drugs["agents"].items():
        knowledge.agent_class[agent] = entry["class"]
        for code in entry.get("rxnorm", []) + entry.get("rxnorm_products", []):
            knowledge.agent_by_rxnorm[code] = (agent,)
        for name in entry["names"]:
            patterns[normalise_name(name)] = (agent,)
        if "refines" in entry:
            knowledge.refinements[agent] = entry["refines"]
    for combination in drugs.get("combinations", []):
        for name in combination["names"]:
            patterns[normalise_name(name)] = tuple(combination["agents"])
    # Longest names first, so "ado trastuzumab emtansine" is read before "trastuzumab".
    knowledge.name_patterns = tuple(
        NamePattern(words, agents) for words, agents in sorted(patterns.items(), key=lambda item: -len(item[0]))
    )
    knowledge.agents_by_name = {pattern.words: pattern.agents for pattern in knowledge.name_patterns}
    by_word: dict[str, list[int]] = {}
    for index, pattern in enumerate(knowledge.name_patterns):
        by_word.setdefault(pattern.words[0], []).append(index)
    knowledge.patterns_by_first_word = {word: tuple(indices) for word, indices in by_word.items()}


def agents_from_name(knowledge: Knowledge, text: str) -> set[str]:
    """Agents named in free text; each word is used by one name at most (longest name first).

    Only the names whose first word is in the text can match: they are tried, in the global order.
    A text naming no drug costs one split and a look-up a word. A text that is one name and nothing
    else ("Herceptin", the usual case) is one look-up: no other name fits in it once that one is read.
    """
    name = normalise_name(text)
    exact = knowledge.agents_by_name.get(name)
    if exact is not None:
        return set(exact)
    return scan_agents(knowledge, name)


def scan_agents(knowledge: Knowledge, name: tuple[str, ...]) -> set[str]:
    """The word scan of ``agents_from_name``: each candidate name over the words, in the global order."""
    words = list(name)
    by_first_word = knowledge.patterns_by_first_word
    candidates = {index for word in words if word in by_first_word for index in by_first_word[word]}
    found: set[str] = set()
    for pattern in (knowledge.name_patterns[index] for index in sorted(candidates)):
        size = len(pattern.words)
        index = 0
        while index + size <= len(words):
            if tuple(words[index : index + size]) == pattern.words:
                found.update(pattern.agents)
                words[index : index + size] = ["\0"] * size
                index += size
            else:
                index += 1
    return found


def refine_agents(knowledge: Knowledge, agents: set[str]) -> set[str]:
    """Drop an agent that a more specific one in the same record refines (nab-paclitaxel over paclitaxel)."""
    refined = {knowledge.refinements[agent] for agent in agents if agent in knowledge.refinements}
    return agents - refined
