"""Compile the checked knowledge documents into the lookup tables and typed models the pipeline reads.

Built once at start-up, so the request path only does dictionary look-ups.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from service.knowledge.base import Knowledge, KnowledgeError, NamePattern
from service.knowledge.cards import CardWordingError, card_wording
from service.knowledge.drugs import ndc_product, normalise_name, script_compact
from service.knowledge.models import alert_rules, receptor_rules, regimen_model, rule_model, safety_tables


def _compile_her2_words(knowledge: Knowledge, codes: dict[str, Any]) -> None:
    """The HER2 results' words: an IHC score, a stated ISH group, an ISH result's ratio and copy number."""
    knowledge.ihc_score = re.compile(codes["ihc_score_pattern"], re.IGNORECASE)
    knowledge.ish_group = re.compile(codes["ish_group_pattern"], re.IGNORECASE)
    numbers = codes.get("ish_numbers")
    if numbers:
        knowledge.ish_ratio = re.compile(numbers["ratio"], re.IGNORECASE)
        knowledge.ish_copies = re.compile(numbers["copies"], re.IGNORECASE)
        knowledge.ish_not_her2 = re.compile(numbers["not_after"], re.IGNORECASE)


def _compile_icd9cm(knowledge: Knowledge, codes: dict[str, Any]) -> None:
    """ICD-9-CM, read as the ICD-10-CM its crosswalk gives (codes.yaml icd9cm_crosswalk): keyed without the dot."""
    crosswalk = codes.get("icd9cm_crosswalk", {})
    knowledge.icd9cm_systems = frozenset(crosswalk.get("systems", []))
    prefixes = crosswalk.get("prefixes", {})
    knowledge.icd9cm_to_icd10cm = {str(icd9).replace(".", ""): str(icd10) for icd9, icd10 in prefixes.items()}
    knowledge.icd9cm_prefix_lengths = tuple(sorted({len(prefix) for prefix in knowledge.icd9cm_to_icd10cm}, reverse=True))


def _compile_substitutions(knowledge: Knowledge, groups: list[dict[str, Any]]) -> None:
    """lines.yaml substitutions: each agent's group, and the groups that substitute only after a stop for a reason."""
    for index, group in enumerate(groups):
        for agent in group["agents"]:
            knowledge.substitution_group[agent] = index
        if group.get("after_stop_for"):
            knowledge.substitution_after[index] = str(group["after_stop_for"])


def compile_knowledge(knowledge: Knowledge) -> None:
    """Build the lookup tables once, so the request path only does dictionary look-ups."""
    codes = knowledge.raw["codes"]
    systems = codes["systems"]
    knowledge.systems = systems
    aliases = codes.get("system_aliases", {})
    knowledge.system_alias = {
        alias: systems[key]
        for group in ("oids", "editions", "v2_codes", "spellings")
        for key, names in aliases.get(group, {}).items()
        for alias in names
    }
    # Another ICD-10 edition named by no registered URI (codes.yaml system_aliases edition_pattern).
    edition = aliases.get("edition_pattern", {}).get("icd10cm")
    knowledge.icd10_edition = re.compile(edition, re.IGNORECASE) if edition else None
    _compile_icd9cm(knowledge, codes)
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
    scores = codes.get("ihc_score_answers", {}).get("loinc", {})
    knowledge.ihc_score_by_coding = {(loinc, str(code)): int(score) for code, score in scores.items()}
    knowledge.answer_text = [(re.compile(item["pattern"]), item["value"]) for item in codes["answer_text"]]
    _compile_her2_words(knowledge, codes)
    _compile_her2_category(knowledge, codes.get("her2_category_text", {}))
    names = codes.get("receptor_names", {})
    knowledge.receptor_names = {receptor: re.compile(names[receptor]) for receptor in ("er", "pr", "her2") if receptor in names}
    knowledge.receptor_name_hints = tuple(names.get("hints", []))
    knowledge.disease_status_by_code = {code: status for status, values in codes["disease_status"].items() for code in values}
    snomed_statuses = {(systems["snomed"], code): status for code, status in knowledge.disease_status_by_code.items()}
    knowledge.disease_status_by_coding = snomed_statuses | {
        (str(entry["system"]), str(code)): status
        for entry in codes.get("disease_status_other_systems", [])
        for status in ("improved", "stable", "worsened")
        for code in entry.get(status, [])
    }
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
    _compile_site_words(knowledge, codes)
    body_sites = codes.get("body_site_snomed", {}).get("sites", {})
    knowledge.body_site_codes = {(systems["snomed"], code): site for site, found in body_sites.items() for code in found}
    knowledge.stage_iv = re.compile(codes["stage_iv_pattern"], re.IGNORECASE)

    _compile_drugs(knowledge)
    _compile_models(knowledge)

    _compile_substitutions(knowledge, knowledge.lines["substitutions"])
    _compile_stop_codes(knowledge, knowledge.lines["stop_reasons"], systems)


def _compile_her2_category(knowledge: Knowledge, category: dict[str, Any]) -> None:
    """codes.yaml her2_category_text: HER2-low or 0 in words, a negative's category by its IHC score, and the IHC
    score of a result given only as equivocal or as weakly positive."""
    knowledge.her2_category_text = [(re.compile(item["pattern"]), item["value"]) for item in category.get("patterns", [])]
    by_score = category.get("negative_by_ihc_score", {})
    knowledge.her2_negative_by_ihc_score = {int(score): value for score, value in by_score.items()}
    equivocal = category.get("equivocal_ihc_score")
    knowledge.her2_equivocal_ihc_score = int(equivocal) if equivocal is not None else None
    weak = category.get("weak_ihc_words")
    knowledge.her2_weak_ihc = (re.compile(weak, re.IGNORECASE), int(category["weak_ihc_score"])) if weak else None


def _compile_stop_codes(knowledge: Knowledge, stops: dict[str, Any], systems: dict[str, str]) -> None:
    """The coded stop reasons of lines.yaml stop_reasons: (system, code) pairs of each kind."""
    def pairs(kind: str) -> frozenset[tuple[str, str]]:
        return frozenset((systems[c["system"]], c["code"]) for c in stops.get(kind, ()))

    knowledge.progression_stop_codes = pairs("progression")
    knowledge.toxicity_stop_codes = pairs("toxicity")
    knowledge.unread_stop_codes = pairs("completed") | pairs("other")


def _compile_models(knowledge: Knowledge) -> None:
    """The typed, frozen models the stages read (regimens, options, label tables, receptor rules, card wording)."""
    knowledge.regimen_models = {rid: regimen_model(rid, entry) for rid, entry in knowledge.regimens.items()}
    knowledge.option_rules = tuple(rule_model(entry) for entry in knowledge.options["rules"])
    tables = safety_tables(knowledge.safety)
    # Agents of the classes safety.yaml lvef monitored_classes name (HER2 antibodies and conjugates without a
    # US label of their own) are monitored as the listed ones are.
    monitored_classes = knowledge.safety["lvef"].get("monitored_classes", [])
    if monitored_classes:
        tables = dataclasses.replace(
            tables, monitored_agents=tables.monitored_agents | knowledge.agents_of_class(*monitored_classes)
        )
    knowledge.safety_tables = tables
    episode = knowledge.raw["codes"]["her2_test_episode"]
    episode_days = int(episode["days"])
    places = episode.get("specimen_words", {})
    knowledge.specimen_words = tuple((word, place) for place in ("distant", "breast") for word in places.get(place, []))
    knowledge.receptor_rules = receptor_rules(knowledge.raw["receptors"], episode_days, knowledge.her2_negative_by_ihc_score)
    try:
        knowledge.card_wording = card_wording(knowledge.cards)
    except CardWordingError as exc:
        raise KnowledgeError(f"mappings/cards.yaml: {exc}") from exc
    knowledge.alert_rule_model = alert_rules(knowledge.raw["alerts"])
    for code in knowledge.alert_rules.when:
        if code not in knowledge.wording.alerts:
            raise KnowledgeError(f"mappings/alerts.yaml: field alerts/{code}: no wording for it in cards.yaml alerts")


def _compile_hcpcs(knowledge: Knowledge) -> None:
    """The HCPCS Level II codes of drugs.yaml hcpcs, looked up like RxNorm and ATC codes."""
    hcpcs = knowledge.systems.get("hcpcs")
    if hcpcs is None:
        return
    for code, agents in knowledge.drugs.get("hcpcs", {}).get("codes", {}).items():
        knowledge.agent_by_coding[(hcpcs, code)] = tuple(agents)


def _compile_ndc(knowledge: Knowledge) -> None:
    """The NDC products of drugs.yaml ndc, by labeler and product (``ndc_product``): any package of one."""
    for code, agents in knowledge.drugs.get("ndc", {}).get("products", {}).items():
        product = ndc_product(code)
        if product is None:
            raise KnowledgeError(f"mappings/drugs.yaml: ndc/products: '{code}' is not an NDC labeler-product code")
        knowledge.agents_by_ndc[product] = tuple(agents)


def _compile_site_words(knowledge: Knowledge, codes: dict[str, Any]) -> None:
    """Site words (codes.yaml site_words), and script_site_words as (word, site) longest first: 脑膜 (the
    meninges) before 脑 (the brain)."""
    knowledge.site_words = {word: site for site, words in codes["site_words"].items() for word in words}
    knowledge.site_words_if_none = {word: site for site, words in codes.get("site_words_if_none", {}).items() for word in words}
    knowledge.site_words_if_none_unless = frozenset(codes.get("site_words_if_none_unless", []))
    knowledge.m1_sites = {code.lower(): site for code, site in codes.get("m1_site_notation", {}).get("sites", {}).items()}
    pairs = [(word, site) for site, words in codes.get("script_site_words", {}).items() for word in words]
    knowledge.script_site_words = tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


def _compile_script_names(knowledge: Knowledge, drugs: dict[str, Any]) -> None:
    """Names in scripts other than Latin (drugs.yaml script_names), compacted, longest first: 恩美曲妥珠单抗
    (T-DM1) is read before the 曲妥珠单抗 (trastuzumab) inside it."""
    scripts: dict[str, tuple[str, ...]] = {}
    for agent, entry in drugs["agents"].items():
        for name in entry.get("script_names", []):
            scripts[script_compact(name)] = (agent,)
    for combination in drugs.get("combinations", []):
        for name in combination.get("script_names", []):
            scripts[script_compact(name)] = tuple(combination["agents"])
    knowledge.script_names = tuple(sorted(scripts.items(), key=lambda item: -len(item[0])))
    knowledge.script_antibodies = frozenset(
        agent for agent, entry in drugs["agents"].items() if entry["class"] == "her2-antibody"
    )
    payloads = drugs.get("unknown_anticancer", {}).get("script_conjugate_payloads", [])
    knowledge.script_payloads = tuple(script_compact(stem) for stem in payloads)


def _compile_misspelt(knowledge: Knowledge, patterns: dict[tuple[str, ...], tuple[str, ...]]) -> None:
    """The one-word names a misspelt word may stand for (drugs.yaml misspelt_names), by first letter and length."""
    table = knowledge.drugs.get("misspelt_names")
    if not table:
        return
    least = int(table["min_letters"])
    candidates: dict[tuple[str, int], list[tuple[str, tuple[str, ...]]]] = {}
    for words, agents in patterns.items():
        if len(words) == 1 and len(words[0]) >= least and words[0].isalpha():
            candidates.setdefault((words[0][0], len(words[0])), []).append((words[0], agents))
    knowledge.misspelt_candidates = {key: tuple(found) for key, found in candidates.items()}
    knowledge.misspelt_min_letters = least


def _compile_combinations(
    knowledge: Knowledge, patterns: dict[tuple[str, ...], tuple[str, ...]]
) -> dict[tuple[str, ...], frozenset[str]]:
    """drugs.yaml combinations: their names into ``patterns``, their ATC codes; the words that make a name
    mean something else (``not_with``), by name."""
    atc = knowledge.systems["atc"]
    not_with: dict[tuple[str, ...], frozenset[str]] = {}
    for combination in knowledge.drugs.get("combinations", []):
        for name in combination["names"]:
            patterns[normalise_name(name)] = tuple(combination["agents"])
            if combination.get("not_with"):
                not_with[normalise_name(name)] = frozenset(combination["not_with"])
        for code in combination.get("atc", []):
            knowledge.agent_by_coding[(atc, code)] = tuple(combination["agents"])
    return not_with


def _compile_drugs(knowledge: Knowledge) -> None:
    drugs = knowledge.drugs
    rxnorm, atc = knowledge.systems["rxnorm"], knowledge.systems["atc"]
    patterns: dict[tuple[str, ...], tuple[str, ...]] = {}
    for agent, entry in drugs["agents"].items():
        knowledge.agent_class[agent] = entry["class"]
        for code in entry.get("rxnorm", []) + entry.get("rxnorm_products", []):
            knowledge.agent_by_coding[(rxnorm, code)] = (agent,)
        for code in entry.get("atc", []):
            knowledge.agent_by_coding[(atc, code)] = (agent,)
        for name in entry["names"]:
            patterns[normalise_name(name)] = (agent,)
        if "refines" in entry:
            knowledge.refinements[agent] = entry["refines"]
    _compile_hcpcs(knowledge)
    _compile_ndc(knowledge)
    not_with = _compile_combinations(knowledge, patterns)
    # Longest names first, so "ado trastuzumab emtansine" is read before "trastuzumab".
    knowledge.name_patterns = tuple(
        NamePattern(words, agents, not_with.get(words, frozenset()))
        for words, agents in sorted(patterns.items(), key=lambda item: -len(item[0]))
    )
    _compile_misspelt(knowledge, patterns)
    knowledge.agents_by_name = {pattern.words: pattern.agents for pattern in knowledge.name_patterns}
    _compile_script_names(knowledge, drugs)
    by_word: dict[str, list[int]] = {}
    for index, pattern in enumerate(knowledge.name_patterns):
        by_word.setdefault(pattern.words[0], []).append(index)
    knowledge.patterns_by_first_word = {word: tuple(indices) for word, indices in by_word.items()}
    knowledge.conjugate_payloads = tuple(drugs.get("unknown_anticancer", {}).get("conjugate_payload_suffixes", []))
    knowledge.supportive_first_words = frozenset(drugs.get("unknown_anticancer", {}).get("supportive_first_words", []))
    unavailable = drugs.get("unknown_anticancer", {}).get("unavailable_words", {})
    knowledge.unavailable_before = tuple(tuple(words.split()) for words in unavailable.get("before", []))
    knowledge.unavailable_after = tuple(tuple(words.split()) for words in unavailable.get("after", []))
    knowledge.unavailable_between = frozenset(unavailable.get("between", []))
