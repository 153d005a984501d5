"""A reusable CDS Hooks 2.0 card checker: ``card_problems`` and ``response_problems`` list rule violations.

An empty list means the card (response) keeps the rules; every problem names the JSON path it is about,
so a failing assertion says what is wrong. Usage::

    from tests.cards import response_problems
    assert response_problems(response.json, "patient-view") == []

Rules (https://cds-hooks.hl7.org/2.0/#cds-service-response):

- card: ``uuid`` (needed for feedback), ``summary`` non-empty and under 140 characters, ``indicator``
  info|warning|critical, ``source.label``; only the fields CDS Hooks defines;
- ``selectionBehavior`` (at-most-one|any) whenever there are suggestions; each suggestion has ``label``
  and ``uuid``; each action has ``type`` create|update|delete and a ``description``, create and update
  carry a FHIR ``resource``, delete a ``resourceId`` (a relative reference string);
- ``overrideReasons`` are Codings with ``code``, ``system`` and ``display``;
- ``links`` have ``label``, an absolute http(s) ``url`` and ``type`` absolute|smart (``appContext``
  only on smart links); ``source.url`` and ``source.icon`` are absolute http(s) URLs;
- nowhere in a card a ``null``, an empty string, an empty list or an empty object;
- patient-view: the first card carries ``extension["her2-cds-assessment"]``, valid against the
  assessment contract (``service/contract/assessment.schema.json``), and no other card does.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
ASSESSMENT_SCHEMA = ROOT / "service" / "contract" / "assessment.schema.json"
ASSESSMENT_KEY = "her2-cds-assessment"

HOOKS = {"patient-view", "order-select", "order-sign"}
SUMMARY_LIMIT = 140  # "less than 140 characters"
CARD_FIELDS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
    "extension",
}
SOURCE_FIELDS = {"label", "url", "icon", "topic"}
SUGGESTION_FIELDS = {"label", "uuid", "isRecommended", "actions"}
ACTION_FIELDS = {"type", "description", "resource", "resourceId"}
LINK_FIELDS = {"label", "url", "type", "appContext"}
CODING_FIELDS = {"system", "code", "display"}
INDICATORS = {"info", "warning", "critical"}
SELECTION_BEHAVIORS = {"at-most-one", "any"}
ACTION_TYPES = {"create", "update", "delete"}
LINK_TYPES = {"absolute", "smart"}
ABSOLUTE_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
RELATIVE_REFERENCE = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


@lru_cache(maxsize=1)
def assessment_validator() -> Draft202012Validator:
    """The validator of the assessment contract (the project's copy of the shared schema)."""
    schema = json.loads(ASSESSMENT_SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assessment_problems(assessment: Any, where: str = ASSESSMENT_KEY) -> list[str]:
    """The contract violations of one assessment, one line each."""
    errors = sorted(assessment_validator().iter_errors(assessment), key=lambda e: list(e.absolute_path))
    return [f"{where}/{'/'.join(str(p) for p in error.absolute_path)}: {error.message}" for error in errors]


def _empty_values(node: Any, path: str) -> list[str]:
    """Paths holding null, "", [] or {} (CDS Hooks: leave the field out instead)."""
    problems: list[str] = []
    if node is None:
        return [f"{path}: null (leave the field out)"]
    if isinstance(node, str) and not node.strip():
        return [f"{path}: empty string"]
    if isinstance(node, list):
        if not node:
            return [f"{path}: empty list"]
        for index, item in enumerate(node):
            problems += _empty_values(item, f"{path}[{index}]")
    elif isinstance(node, dict):
        if not node:
            return [f"{path}: empty object"]
        for key, value in node.items():
            problems += _empty_values(value, f"{path}.{key}")
    return problems


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _unknown_fields(node: dict[str, Any], allowed: set[str], path: str) -> list[str]:
    return [f"{path}.{key}: not a CDS Hooks 2.0 field" for key in sorted(set(node) - allowed)]


def _absolute_url(value: Any) -> bool:
    return isinstance(value, str) and bool(ABSOLUTE_URL.match(value))


def _coding_problems(coding: Any, path: str, display_required: bool) -> list[str]:
    if not isinstance(coding, dict):
        return [f"{path}: must be a Coding object"]
    problems = _unknown_fields(coding, CODING_FIELDS, path)
    for key in ("system", "code") + (("display",) if display_required else ()):
        if not _non_empty_string(coding.get(key)):
            problems.append(f"{path}.{key}: required (a non-empty string)")
    return problems


def _action_problems(action: Any, path: str) -> list[str]:
    if not isinstance(action, dict):
        return [f"{path}: must be an object"]
    problems = _unknown_fields(action, ACTION_FIELDS, path)
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        problems.append(f"{path}.type: {kind!r} is not one of create|update|delete")
    if not _non_empty_string(action.get("description")):
        problems.append(f"{path}.description: required (a non-empty string)")
    resource = action.get("resource")
    if kind in ("create", "update"):
        if not isinstance(resource, dict) or not _non_empty_string(resource.get("resourceType")):
            problems.append(f"{path}.resource: a {kind} action needs a FHIR resource with a resourceType")
    elif resource is not None and not isinstance(resource, dict):
        problems.append(f"{path}.resource: must be a FHIR resource object")
    if "resourceId" in action or kind == "delete":
        resource_id = action.get("resourceId")
        if not isinstance(resource_id, str) or not RELATIVE_REFERENCE.match(resource_id):
            problems.append(
                f"{path}.resourceId: {resource_id!r} is not a relative reference string such as "
                "'MedicationRequest/123' (CDS Hooks 2.0: a string; a delete action needs one)"
            )
    return problems


def _suggestion_problems(suggestion: Any, path: str) -> list[str]:
    if not isinstance(suggestion, dict):
        return [f"{path}: must be an object"]
    problems = _unknown_fields(suggestion, SUGGESTION_FIELDS, path)
    for key in ("label", "uuid"):
        if not _non_empty_string(suggestion.get(key)):
            problems.append(f"{path}.{key}: required (a non-empty string)")
    if "isRecommended" in suggestion and not isinstance(suggestion["isRecommended"], bool):
        problems.append(f"{path}.isRecommended: must be a boolean")
    actions = suggestion.get("actions")
    if actions is not None:
        if not isinstance(actions, list):
            problems.append(f"{path}.actions: must be a list")
        else:
            for index, action in enumerate(actions):
                problems += _action_problems(action, f"{path}.actions[{index}]")
    return problems


def _link_problems(link: Any, path: str) -> list[str]:
    if not isinstance(link, dict):
        return [f"{path}: must be an object"]
    problems = _unknown_fields(link, LINK_FIELDS, path)
    if not _non_empty_string(link.get("label")):
        problems.append(f"{path}.label: required (a non-empty string)")
    if not _absolute_url(link.get("url")):
        problems.append(f"{path}.url: {link.get('url')!r} is not an absolute http(s) URL")
    if link.get("type") not in LINK_TYPES:
        problems.append(f"{path}.type: {link.get('type')!r} is not one of absolute|smart")
    if "appContext" in link and link.get("type") != "smart":
        problems.append(f"{path}.appContext: only valid on smart links")
    return problems


def _source_problems(source: Any, path: str) -> list[str]:
    if not isinstance(source, dict):
        return [f"{path}: required (an object with a label)"]
    problems = _unknown_fields(source, SOURCE_FIELDS, path)
    if not _non_empty_string(source.get("label")):
        problems.append(f"{path}.label: required (a non-empty string)")
    for key in ("url", "icon"):
        if key in source and not _absolute_url(source[key]):
            problems.append(f"{path}.{key}: {source[key]!r} is not an absolute http(s) URL")
    if source.get("topic") is not None:  # a null topic is already reported as a null
        problems += _coding_problems(source["topic"], f"{path}.topic", display_required=False)
    return problems


def card_problems(card: dict[str, Any], hook: str) -> list[str]:
    """The CDS Hooks 2.0 violations of one card returned for ``hook`` (empty when it keeps the rules)."""
    if not isinstance(card, dict):
        return ["card: must be a JSON object"]
    problems: list[str] = []
    if hook not in HOOKS:
        problems.append(f"hook {hook!r}: not a hook this service answers ({', '.join(sorted(HOOKS))})")
    problems += _empty_values(card, "card")
    problems += _unknown_fields(card, CARD_FIELDS, "card")

    if not _non_empty_string(card.get("uuid")):
        problems.append("card.uuid: required (a non-empty string; feedback refers to it)")
    summary = card.get("summary")
    if not _non_empty_string(summary):
        problems.append("card.summary: required (a non-empty string)")
    elif len(summary) >= SUMMARY_LIMIT:
        problems.append(f"card.summary: {len(summary)} characters (must be under {SUMMARY_LIMIT})")
    if "detail" in card and not isinstance(card["detail"], str):
        problems.append("card.detail: must be a (markdown) string")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"card.indicator: {card.get('indicator')!r} is not one of info|warning|critical")
    problems += _source_problems(card.get("source"), "card.source")

    suggestions = card.get("suggestions")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            problems.append("card.suggestions: must be a list")
        else:
            for index, suggestion in enumerate(suggestions):
                problems += _suggestion_problems(suggestion, f"card.suggestions[{index}]")
            if "selectionBehavior" not in card:
                problems.append("card.selectionBehavior: required when the card has suggestions")
            recommended = [s for s in suggestions if isinstance(s, dict) and s.get("isRecommended") is True]
            if card.get("selectionBehavior") == "at-most-one" and len(recommended) > 1:
                problems.append("card.suggestions: several isRecommended on an at-most-one card (only 'any' allows that)")
    if "selectionBehavior" in card and card["selectionBehavior"] not in SELECTION_BEHAVIORS:
        problems.append(f"card.selectionBehavior: {card['selectionBehavior']!r} is not one of at-most-one|any")

    reasons = card.get("overrideReasons")
    if reasons is not None:
        if not isinstance(reasons, list):
            problems.append("card.overrideReasons: must be a list of Codings")
        else:
            for index, reason in enumerate(reasons):
                problems += _coding_problems(reason, f"card.overrideReasons[{index}]", display_required=True)

    links = card.get("links")
    if links is not None:
        if not isinstance(links, list):
            problems.append("card.links: must be a list")
        else:
            for index, link in enumerate(links):
                problems += _link_problems(link, f"card.links[{index}]")

    extension = card.get("extension")
    if extension is not None:
        if not isinstance(extension, dict):
            problems.append("card.extension: must be an object")
        elif ASSESSMENT_KEY in extension:
            problems += assessment_problems(extension[ASSESSMENT_KEY], f"card.extension.{ASSESSMENT_KEY}")
    return problems


def _uuids(card: dict[str, Any]) -> list[str]:
    found = [card.get("uuid")]
    for suggestion in card.get("suggestions") or []:
        if isinstance(suggestion, dict):
            found.append(suggestion.get("uuid"))
    return [value for value in found if isinstance(value, str)]


def response_problems(body: dict[str, Any], hook: str) -> list[str]:
    """The violations of a whole ``{"cards": [...]}`` response to ``hook``, each prefixed with its card."""
    if not isinstance(body, dict):
        return ["response: must be a JSON object"]
    problems = [f"response.{key}: not a CDS Hooks 2.0 response field" for key in sorted(set(body) - {"cards", "systemActions"})]
    cards = body.get("cards")
    if not isinstance(cards, list):
        return [*problems, "response.cards: required (a list, empty when there is no advice)"]
    if "systemActions" in body:
        actions = body["systemActions"]
        if not isinstance(actions, list) or not actions:
            problems.append("response.systemActions: must be a non-empty list when present")
        else:
            for index, action in enumerate(actions):
                problems += _action_problems(action, f"response.systemActions[{index}]")
    seen: set[str] = set()
    for index, card in enumerate(cards):
        problems += [f"cards[{index}]: {problem}" for problem in card_problems(card, hook)]
        if not isinstance(card, dict):
            continue
        for value in _uuids(card):
            if value in seen:
                problems.append(f"cards[{index}]: uuid {value!r} is used twice in the response")
            seen.add(value)
        if index > 0 and isinstance(card.get("extension"), dict) and ASSESSMENT_KEY in card["extension"]:
            problems.append(f"cards[{index}]: only the first (summary) card carries extension.{ASSESSMENT_KEY}")
    if hook == "patient-view":
        if not cards:
            problems.append("cards: a patient-view response always has the summary card (with the assessment)")
        elif isinstance(cards[0], dict):
            extension = cards[0].get("extension")
            if not isinstance(extension, dict) or ASSESSMENT_KEY not in extension:
                problems.append(f"cards[0]: extension.{ASSESSMENT_KEY} is missing (required on the first patient-view card)")
    return problems
