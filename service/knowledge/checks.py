"""Cross-file checks of the knowledge files, the references the per-file schemas cannot express.

Every source id is in sources.yaml; every agent, drug class and regimen that drugs, regimens, options
and safety name is defined in drugs.yaml or regimens.yaml; every observation kind a services.yaml
prefetch template names is in codes.yaml. A broken reference raises ``KnowledgeError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from service.knowledge.base import Knowledge, KnowledgeError


def source_ids_used(node: Any) -> list[str]:
    """Every value of a ``source`` key, or of a key ending in ``_source`` (``label_source``,
    ``snomed_source``...), anywhere in a document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if (key == "source" or str(key).endswith("_source")) and isinstance(value, str):
                found.append(value)
            else:
                found.extend(source_ids_used(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(source_ids_used(item))
    return found


def check_references(knowledge: Knowledge) -> None:
    """Cross-file checks the per-file schemas cannot express."""
    known_sources = set(knowledge.sources)
    cards = knowledge.cards
    card_sources = [*cards["summary_source"].values(), *cards["order_check_sources"].values()]
    for name, document in knowledge.raw.items():
        for source_id in source_ids_used(document) + (card_sources if name == "cards" else []):
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
    _check_best_effort_keys(knowledge.services)


def _check_best_effort_keys(services: dict[str, Any]) -> None:
    """A best-effort key is a prefetch key, and not a required one."""
    for key in services.get("best_effort_prefetch", []):
        if key not in services["prefetch"] or key in services["required_prefetch"]:
            raise KnowledgeError(f"mappings/services.yaml: best_effort_prefetch '{key}' is not an optional prefetch key")


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
    for where, agent in _safety_agents(knowledge.safety):
        known(agent, f"mappings/safety.yaml: {where}")
    _check_maintenance_classes(knowledge, known)
    for cls in knowledge.safety["lvef"].get("monitored_classes", []):
        if cls not in knowledge.drugs["classes"]:
            raise KnowledgeError(f"mappings/safety.yaml: lvef/monitored_classes: '{cls}' is not a drugs.yaml class")


def _safety_agents(safety: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, agent) for every agent safety.yaml names: label tables, lung and heart rules, the pregnancy rule."""
    found = [(f"{table}/rules", agent) for table in ("lvef", "liver") for agent in safety[table]["rules"]]
    found += [
        (f"{finding}/rules/{index}/agents", agent)
        for finding in ("lung", "heart")
        for index, rule in enumerate(safety[finding]["rules"])
        for agent in rule["agents"]
    ]
    found += [("pregnancy/agents", agent) for agent in safety.get("pregnancy", {}).get("agents", [])]
    return found


def _check_maintenance_classes(knowledge: Knowledge, known: Callable[[str, str], None]) -> None:
    """lines.yaml: every class a maintenance addition names is a drugs.yaml class, every agent a drugs.yaml agent."""
    classes = set(knowledge.drugs["classes"])
    for index, addition in enumerate(knowledge.lines["maintenance_additions"]):
        for cls in addition.get("classes", []):
            if cls not in classes:
                raise KnowledgeError(f"mappings/lines.yaml: maintenance_additions/{index}: '{cls}' is not a drugs.yaml class")
        for agent in [*addition.get("agents", []), *addition["when_line_has"]]:
            known(agent, f"mappings/lines.yaml: maintenance_additions/{index}")


def _check_option_agents(options: dict[str, Any], known: Callable[[str, str], None]) -> None:
    """options.yaml: the agents its rules, indications and label tables name are known."""
    for index, rule in enumerate(options["rules"]):
        for key in ("never_received", "current_line_lacks"):
            for agent in rule.get("eligible", {}).get(key, []):
                known(agent, f"mappings/options.yaml: rules/{index}/eligible/{key}")
    for index, entry in enumerate(options.get("her2_other_indications", [])):
        known(entry["agent"], f"mappings/options.yaml: her2_other_indications/{index}/agent")
    for key in ("read_after_agent_at_least", "label_prior_her2_therapy"):
        for agent in options.get(key, {}):
            known(agent, f"mappings/options.yaml: {key}")


def _check_option_references(knowledge: Knowledge, known: Callable[[str, str], None]) -> None:
    """options.yaml: known regimens, agents and drug classes."""
    options = knowledge.options
    regimens = [(f"rules/{index}/regimen", rule["regimen"]) for index, rule in enumerate(options["rules"])]
    extra = options["visceral_crisis"].get("add_if_absent")
    regimens += [("visceral_crisis/add_if_absent", extra["regimen"])] if extra else []
    for where, regimen_id in regimens:
        if regimen_id not in knowledge.regimens:
            raise KnowledgeError(f"mappings/options.yaml: {where}: unknown regimen {regimen_id}")
    _check_option_agents(options, known)
    classes = set(knowledge.drugs["classes"])
    for cls in options["her2_classes"]:
        if cls not in classes:
            raise KnowledgeError(f"mappings/options.yaml: her2_classes: '{cls}' is not a drugs.yaml class")
