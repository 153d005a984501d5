"""Typed, frozen models of mappings/cards.yaml: card wording, topics, sources and actions (built once at start-up).

The render and order-check stages read these models, never the YAML document by string keys. The
builder checks what the schema cannot: every alert's topic and action, the data card's topic and the
topics of the summary and order-check cards exist (``CardWordingError`` names the field).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

SUMMARY_TOPIC = "guidance"
ORDER_CHECK_TOPIC = "order-check"


class CardWordingError(ValueError):
    """cards.yaml refers to a topic or an action it does not define."""


@dataclass(frozen=True)
class Topic:
    """``card.source.topic``: one Coding per kind of advice."""

    code: str
    display: str


@dataclass(frozen=True)
class OverrideReason:
    """A reason a clinician may give for not following a warning or critical card."""

    code: str
    display: str


@dataclass(frozen=True)
class WordingVariant:
    """Wording that replaces an alert's summary (and detail, when given) once every drug listed has progressed."""

    progressed_on_all: frozenset[str]
    summary: str
    detail: str | None


@dataclass(frozen=True)
class AlertWording:
    """How one alert code is shown: indicator, templates, source, topic, facts, action and variants."""

    code: str
    indicator: str
    summary: str
    source: str
    topic: str
    facts: tuple[str, ...]
    detail: str | None = None
    action: str | None = None  # a service_requests key: the card suggests that draft ServiceRequest
    critical_when_current: bool = False
    variants: tuple[WordingVariant, ...] = ()
    on_summary_when: frozenset[str] = frozenset()  # recommendation kinds whose summary card carries this advice
    summary_without_fall: str | None = None  # an LVEF alert with no fall from an earlier reading to name

    def for_history(self, progressed: set[str]) -> AlertWording:
        """The wording that fits the history: the first variant whose drugs all progressed, else this one."""
        for variant in self.variants:
            if variant.progressed_on_all <= progressed:
                detail = variant.detail if variant.detail is not None else self.detail
                return replace(self, summary=variant.summary, detail=detail)
        return self


@dataclass(frozen=True)
class ServiceRequestCode:
    """The code of a draft ServiceRequest a card suggests (echo, reflex ISH, biopsy, referral)."""

    system: str  # a codes.yaml system key (snomed, loinc)
    code: str
    display: str
    check: bool


@dataclass(frozen=True)
class TrialSearch:
    """The prefilled ClinicalTrials.gov search: its source, label and the terms added per metastatic site."""

    source: str
    label: str
    terms_by_site: tuple[tuple[str, str], ...]  # in the file's order


@dataclass(frozen=True)
class FindingNames:
    """cards.yaml lung_on_treatment, heart_on_treatment: the warning card while a drug is given, and how
    the facts and option notes name the finding."""

    summary: str  # {drug}, {when}
    topic: str
    name: str  # "Interstitial lung disease or pneumonitis"
    note: str  # "Lung": an option note's first word


def _finding_names(entry: dict[str, Any]) -> FindingNames:
    return FindingNames(str(entry["summary"]), str(entry["topic"]), str(entry["name"]), str(entry["note"]))


@dataclass(frozen=True)
class CardWording:
    """mappings/cards.yaml, typed."""

    source: str
    override_reason_system: str
    override_reasons: tuple[OverrideReason, ...]
    topic_system: str
    topics: dict[str, Topic]
    icon_path: str
    icon_file: str
    glossary: dict[str, str]
    summary_source_in_scope: str
    summary_source_out_of_scope: str
    order_check_sources: dict[str, str]  # issue kind -> sources.yaml id
    trial_search_on_alerts: frozenset[str]
    facts: tuple[str, ...]  # the facts the summary card lists
    trial_search: TrialSearch
    order_check: dict[str, str]  # issue kind -> summary template
    summary: dict[str, str]  # summary kind -> template
    scope_detail: dict[str, str]  # scope reason -> detail
    alerts: dict[str, AlertWording]
    service_requests: dict[str, ServiceRequestCode]
    data_problems_summary: str
    data_problems_topic: str
    findings: dict[str, FindingNames]  # "lung", "heart": cards.yaml lung_on_treatment, heart_on_treatment
    pregnancy_summary: str = ""  # {drug}, {when}
    new_site_note: str = ""  # {days}, {sites}: metastases first recorded during a line, read as its progression
    trial_additions_note: str = ""  # {regimens}: maintenance additions with trial evidence only, not offered
    pregnancy_topic: str = "data-quality"

    def summary_source(self, in_scope: bool) -> str:
        """The source the summary card cites, in or out of the HER2-positive pathway."""
        return self.summary_source_in_scope if in_scope else self.summary_source_out_of_scope


def _alert(code: str, entry: dict[str, Any]) -> AlertWording:
    variants = tuple(
        WordingVariant(frozenset(item["progressed_on_all"]), str(item["summary"]), item.get("detail"))
        for item in entry.get("variants", [])
    )
    return AlertWording(
        code=code,
        indicator=str(entry["indicator"]),
        summary=str(entry["summary"]),
        source=str(entry["source"]),
        topic=str(entry["topic"]),
        facts=tuple(entry["facts"]),
        detail=entry.get("detail"),
        action=entry.get("action"),
        critical_when_current=bool(entry.get("critical_when_current", False)),
        variants=variants,
        on_summary_when=frozenset(entry.get("on_summary_when", [])),
        summary_without_fall=entry.get("summary_without_fall"),
    )


def card_wording(document: dict[str, Any]) -> CardWording:
    """Build the typed wording from the schema-checked cards.yaml document; check its inner references."""
    search = document["trial_search"]
    terms = tuple((str(site), str(term)) for site, term in search.get("terms_by_site", {}).items())
    wording = CardWording(
        source=str(document["source"]),
        override_reason_system=str(document["override_reason_system"]),
        override_reasons=tuple(OverrideReason(str(r["code"]), str(r["display"])) for r in document["override_reasons"]),
        topic_system=str(document["topic_system"]),
        topics={key: Topic(str(t["code"]), str(t["display"])) for key, t in document["topics"].items()},
        icon_path=str(document["icon"]["path"]),
        icon_file=str(document["icon"]["file"]),
        glossary={str(key): str(value) for key, value in document["glossary"].items()},
        summary_source_in_scope=str(document["summary_source"]["in-scope"]),
        summary_source_out_of_scope=str(document["summary_source"]["out-of-scope"]),
        order_check_sources={key: str(value) for key, value in document["order_check_sources"].items()},
        trial_search_on_alerts=frozenset(document.get("trial_search_on_alerts", [])),
        facts=tuple(document["facts"]),
        trial_search=TrialSearch(str(search["source"]), str(search["label"]), terms),
        order_check={key: str(value) for key, value in document["order_check"].items()},
        summary={key: str(value) for key, value in document["summary"].items()},
        scope_detail={key: str(value) for key, value in document["scope_detail"].items()},
        alerts={code: _alert(code, entry) for code, entry in document["alerts"].items()},
        service_requests={
            key: ServiceRequestCode(str(s["system"]), str(s["code"]), str(s["display"]), bool(s.get("check", False)))
            for key, s in document["service_requests"].items()
        },
        data_problems_summary=str(document["data_problems"]["summary"]),
        data_problems_topic=str(document["data_problems"].get("topic", "data-quality")),
        findings={kind: _finding_names(document[f"{kind}_on_treatment"]) for kind in ("lung", "heart")},
        pregnancy_summary=str(document.get("pregnancy", {}).get("summary", "")),
        new_site_note=str(document.get("new_site_note", "")),
        trial_additions_note=str(document.get("trial_additions_note", "")),
        pregnancy_topic=str(document.get("pregnancy", {}).get("topic", "data-quality")),
    )
    _check(wording)
    return wording


def _check(wording: CardWording) -> None:
    """Topics and actions named anywhere in cards.yaml are defined there."""
    topics = [("data_problems/topic", wording.data_problems_topic), ("(summary card)", SUMMARY_TOPIC)]
    topics += [("(order-check cards)", ORDER_CHECK_TOPIC)]
    topics += [(f"{kind}_on_treatment/topic", names.topic) for kind, names in wording.findings.items()]
    topics += [("pregnancy/topic", wording.pregnancy_topic)]
    topics += [(f"alerts/{code}/topic", alert.topic) for code, alert in wording.alerts.items()]
    for where, topic in topics:
        if topic not in wording.topics:
            raise CardWordingError(f"field {where}: topic '{topic}' is not in topics")
    for code, alert in wording.alerts.items():
        if alert.action is not None and alert.action not in wording.service_requests:
            raise CardWordingError(f"field alerts/{code}/action: '{alert.action}' is not in service_requests")
