"""Render stage: an ``Evaluation`` -> CDS Hooks 2.0 cards (wording from mappings/cards.yaml)."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from service.domain import UNDATED
from service.engine import Evaluation
from service.knowledge import Knowledge
from service.knowledge_cards import SUMMARY_TOPIC, AlertWording
from service.recommend import Alert, describe_alert

ASSESSMENT_KEY = "her2-cds-assessment"
CARD_NAMESPACE = uuid.UUID("6f1f3d1e-7f0a-4a55-9b0e-2f5c3c2b8a11")
SUMMARY_LIMIT = 139
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}
INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}
SUMMARY_BUILT_CLEAN = frozenset({"suggestions"})  # summary card keys whose values hold no empty value as built
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|>~-])")


def points(value: float) -> str:
    """'1 point', '12 points' (an LVEF fall)."""
    return f"{value:g} point" + ("" if value == 1 else "s")


def ordinal(number: int) -> str:
    return ORDINALS.get(number, f"{number}th")


def safe_text(text: str) -> str:
    """Patient-supplied text for markdown: HTML escaped and markdown punctuation neutralised."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def clip(summary: str) -> str:
    """CDS Hooks: summary under 140 characters."""
    return summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1].rstrip() + "…"


def prune(node: Any) -> Any:
    """Drop None, empty strings, empty lists and empty objects (CDS Hooks forbids them), at every depth.

    Every card of every request goes through here (issue 16), so the walk tests each value's exact
    type inline instead of calling a function per value: plain ``str``, ``dict`` and ``list`` are what
    cards are made of; any other value (a number, a subclass) goes through ``_pruned_other``.
    """
    if isinstance(node, dict):
        return _pruned_dict(node)
    if isinstance(node, list):
        return _pruned_list(node)
    return node


_DROP: Any = object()


def _pruned_dict(node: dict[Any, Any]) -> dict[Any, Any]:
    kept = {}
    for key, value in node.items():
        kind = type(value)
        if kind is str:
            if value:
                kept[key] = value
        elif kind is dict:
            value = _pruned_dict(value)
            if value:
                kept[key] = value
        elif kind is list:
            value = _pruned_list(value)
            if value:
                kept[key] = value
        elif value is not None:
            value = _pruned_other(value)
            if value is not _DROP:
                kept[key] = value
    return kept


def _pruned_list(node: list[Any]) -> list[Any]:
    kept = []
    for value in node:
        kind = type(value)
        if kind is str:
            if value:
                kept.append(value)
        elif kind is dict:
            value = _pruned_dict(value)
            if value:
                kept.append(value)
        elif kind is list:
            value = _pruned_list(value)
            if value:
                kept.append(value)
        elif value is not None:
            value = _pruned_other(value)
            if value is not _DROP:
                kept.append(value)
    return kept


def prune_except(card: dict[str, Any], built_clean: frozenset[str]) -> dict[str, Any]:
    """``prune(card)``, the values of the ``built_clean`` keys kept as they are: they were built with no empty value."""
    pruned = _pruned_dict({key: value for key, value in card.items() if key not in built_clean})
    kept = {}
    for key, value in card.items():  # the card's order
        if key in built_clean:
            kept[key] = value
        elif key in pruned:
            kept[key] = pruned[key]
    return kept


def _pruned_other(value: Any) -> Any:
    """A value other than None or a plain str, dict or list, pruned: ``_DROP`` when it is or ends up empty."""
    if isinstance(value, dict):
        return _pruned_dict(value) or _DROP
    if isinstance(value, list):
        return _pruned_list(value) or _DROP
    if isinstance(value, str) and not value:
        return _DROP
    return value


@dataclass
class RenderContext:
    """What the renderer needs beyond the evaluation."""

    hook_instance: str
    patient_id: str
    notes: list[str] = field(default_factory=list)  # data problems found while gathering
    base_url: str | None = None  # the service's public base URL: card icons are served from it
    issued_keys: dict[str, str] = field(default_factory=dict)  # every uuid made -> its key (issued-card records)


def _built_clean(node: Any) -> bool:
    """``node`` holds no value ``prune`` would drop (and is not empty itself)."""
    return bool(node) and prune(node) == node


class CardRenderer:
    """Builds the cards of one response."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.wording = knowledge.wording
        # Agents whose drugs.yaml entry would leave an empty value in a draft order (an empty display, say):
        # only their drafts are pruned where made; every other value of a draft is a non-empty string.
        self.drafts_to_prune = frozenset(
            agent for agent in knowledge.drugs["agents"] if not _built_clean(self._medication_concept(agent))
        )
        # Looked up by every card of every request, and knowledge only: made once (issue 16).
        self.displays = {agent: str(entry["display"]) for agent, entry in knowledge.drugs["agents"].items()}
        self.links = {source_id: self._link_to(source_id) for source_id in knowledge.sources}

    # -- helpers ------------------------------------------------------------------------------
    def card_uuid(self, context: RenderContext, key: str) -> str:
        made = str(uuid.uuid5(CARD_NAMESPACE, f"{context.hook_instance}|{context.patient_id}|{key}"))
        context.issued_keys[made] = key  # the route records each card's kind and rule from it, outside the JSON
        return made

    def icon_url(self, context: RenderContext | None) -> str | None:
        """The absolute URL of the card icon, when the service knows its public base URL."""
        if context is None or not context.base_url:
            return None
        return context.base_url.rstrip("/") + self.wording.icon_path

    def source_of(self, source_id: str, topic: str, context: RenderContext | None = None) -> dict[str, Any]:
        """``card.source``: the guideline or label the card rests on, the service icon and the card's topic."""
        source = self.knowledge.source(source_id)
        coded = self.wording.topics[topic]
        return {
            "label": source["label"],
            "url": source.get("url"),
            "icon": self.icon_url(context),
            "topic": {"system": self.wording.topic_system, "code": coded.code, "display": coded.display},
        }

    def source_link(self, source_id: str) -> dict[str, str] | None:
        """A card link to a source (guideline, label), labelled by its short name (a copy of the one made at start-up)."""
        link = self.links[source_id]
        return dict(link) if link is not None else None

    def _link_to(self, source_id: str) -> dict[str, str] | None:
        source = self.knowledge.source(source_id)
        if not source.get("url"):
            return None
        label = source.get("short") or source["label"]
        return {"label": str(label)[:80], "url": source["url"], "type": "absolute"}

    def label_links(self, agents: Iterable[str]) -> list[dict[str, str]]:
        """Links to the US prescribing information of each agent that has one in drugs.yaml."""
        links = []
        for agent in sorted(agents):
            source_id = self.knowledge.drugs["agents"][agent].get("label_source")
            link = self.source_link(source_id) if source_id else None
            if link:
                links.append(link)
        return links

    def trial_search_link(self, evaluation: Evaluation) -> dict[str, str]:
        """ClinicalTrials.gov prefilled for HER2-positive MBC, recruiting, narrowed by sites that change eligibility."""
        search = self.wording.trial_search
        url = str(self.knowledge.source(search.source)["url"])
        terms = [term for site, term in search.terms_by_site if site in evaluation.extent.sites]
        if terms:
            url += "&term=" + quote(" OR ".join(terms))
        return {"label": search.label, "url": url, "type": "absolute"}

    def override_reasons(self) -> list[dict[str, str]]:
        system = self.wording.override_reason_system
        return [{"system": system, "code": r.code, "display": r.display} for r in self.wording.override_reasons]

    def _agents_text(self, agents: Iterable[str]) -> str:
        return " + ".join(self.displays[agent] for agent in sorted(agents))

    @staticmethod
    def _unique_links(links: list[dict[str, str] | None]) -> list[dict[str, str]]:
        seen: set[str] = set()
        kept = []
        for link in links:
            if link and link["url"] not in seen:
                seen.add(link["url"])
                kept.append(link)
        return kept

    # -- public -------------------------------------------------------------------------------
    def cards(self, evaluation: Evaluation, context: RenderContext) -> list[dict[str, Any]]:
        """Summary card first (it carries the assessment: contract), then alerts critical, warning, info; then data problems."""
        cards = [self.summary_card(evaluation, context)]
        alerts = [self.alert_card(alert, evaluation, context) for alert in self._separate_alerts(evaluation)]
        cards += sorted(alerts, key=lambda card: INDICATOR_RANK[card["indicator"]])
        record = evaluation.record
        problems = list(context.notes) + [f"Skipped unreadable record {ref}" for ref in record.skipped]
        problems += [f"Read from its text only (no code this service knows): {ref}" for ref in record.read_from_text]
        problems += [f"Result with no date, used while no dated result contradicts it: {ref}" for ref in record.undated]
        if problems:
            cards.append(self.data_card(problems, context))
        # The summary card's regimen suggestions are built with no empty value (``_regimen_suggestions``):
        # most of the card's objects are in their draft orders, so the walk skips them (issue 16).
        return [prune_except(cards[0], SUMMARY_BUILT_CLEAN), *(prune(card) for card in cards[1:])]

    def _separate_alerts(self, evaluation: Evaluation) -> list[str]:
        """Alerts that get a card of their own (the others' advice is on the summary card already)."""
        kind = evaluation.recommendation.kind
        return [a for a in evaluation.alerts if kind not in self.wording.alerts[a].on_summary_when]

    def _alerts_on_summary(self, evaluation: Evaluation) -> list[str]:
        """The detail of each alert folded into the summary card."""
        shown = set(self._separate_alerts(evaluation))
        texts = []
        for alert in evaluation.alerts:
            spec = self.wording.alerts[alert]
            if alert not in shown and spec.detail:
                texts.append(spec.detail.format(**self._alert_values(self._alert(alert, evaluation))))
        return texts

    def summary_card(self, evaluation: Evaluation, context: RenderContext) -> dict[str, Any]:
        recommendation = evaluation.recommendation
        guideline = self.wording.summary_source(recommendation.in_scope)
        card: dict[str, Any] = {
            "uuid": self.card_uuid(context, "summary"),
            "summary": clip(self._summary_text(evaluation)),
            "indicator": "info",
            "detail": self._summary_detail(evaluation),
            "source": self.source_of(guideline, SUMMARY_TOPIC, context),
            "extension": {ASSESSMENT_KEY: evaluation.assessment()},
        }
        suggestions = self._regimen_suggestions(evaluation, context)
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        preferred = next((o for o in recommendation.options if o.preferred), None)
        links = [self.source_link(guideline)]
        if preferred is not None:
            links += self.label_links(self.knowledge.regimen_models[preferred.regimen].agents)
        for option in recommendation.options:
            regimen = self.knowledge.regimen_models[option.regimen]
            links.append(self.source_link(option.source))
            if regimen.evidence_url:
                links.append({"label": regimen.evidence.split(":")[0][:80], "url": regimen.evidence_url, "type": "absolute"})
        if any(option.regimen == "clinical-trial" for option in recommendation.options):
            links.append(self.trial_search_link(evaluation))
        card["links"] = self._unique_links(links)
        return card

    def _summary_text(self, evaluation: Evaluation) -> str:
        templates = self.wording.summary
        recommendation = evaluation.recommendation
        history = evaluation.history
        if not recommendation.in_scope:
            return templates[recommendation.scope_reason]
        preferred = next((o for o in recommendation.options if o.preferred), None)
        preferred_title = self.knowledge.regimen_models[preferred.regimen].short if preferred else ""
        current = history.current
        regimen_now = self._agents_text(current.agents) if current else ""
        alternative = next((o for o in recommendation.options if not o.preferred and o.regimen != "clinical-trial"), None)
        if recommendation.kind == "first-line":
            key = "first-line" if preferred else "next-line-no-preferred"
            if preferred and alternative and self.knowledge.regimen_models[alternative.regimen].choice_note:
                key = "first-line-choice"
        elif recommendation.kind == "early-relapse":
            key = "early-relapse"
        elif recommendation.kind == "maintenance":
            key = "maintenance" if preferred else "maintenance-evidence"
            regimen_now = self._agents_text(recommendation.maintained_agents)
        elif recommendation.kind == "next-line":
            if not preferred:
                key = "next-line-no-preferred"
            else:
                key = "next-line-progressed" if history.status == "progressed" else "next-line-stopped"
        else:
            key = "on-treatment"
        months = recommendation.relapse_months or 0
        lead = f"Progressed on line {history.current_number}" if history.status == "progressed" else "No preferred option"
        return templates[key].format(
            alternative=self.knowledge.regimen_models[alternative.regimen].short if alternative else "",
            preferred=preferred_title or "see options",
            regimen=regimen_now,
            ordinal=ordinal(recommendation.line or max(history.current_number, 1)),
            current=history.current_number,
            reason=(current.end_reason if current and current.end_reason else "unknown reason"),
            months=months,
            lead=lead,
        )

    def _facts(self, evaluation: Evaluation, names: Iterable[str]) -> list[str]:
        """Markdown bullets of the patient facts named (receptors, sites, lines, lvef, liver), dated."""
        bullets: list[str] = []
        for name in names:
            bullets += getattr(self, f"_facts_{name}")(evaluation)
        return bullets

    def _facts_receptors(self, evaluation: Evaluation) -> list[str]:
        receptors = evaluation.receptors
        her2_bits = [f"HER2 **{receptors.her2}**"]
        if receptors.her2_ihc is not None:
            her2_bits.append(f"IHC {receptors.her2_ihc}+" if receptors.her2_ihc else "IHC 0")
        if receptors.ish_group is not None:
            her2_bits.append(f"ISH group {receptors.ish_group}")
        if receptors.her2_date:
            her2_bits.append("(date unknown)" if receptors.her2_date == UNDATED else f"({receptors.her2_date.isoformat()})")
        er = f"ER {receptors.er or 'unknown'}" + (f" ({receptors.er_percent:g}%)" if receptors.er_percent is not None else "")
        pr = f"PR {receptors.pr or 'unknown'}" + (f" ({receptors.pr_percent:g}%)" if receptors.pr_percent is not None else "")
        return ["- " + " ".join(her2_bits), f"- Hormone receptor **{receptors.hormone_receptor}**: {er}, {pr}"]

    def _facts_sites(self, evaluation: Evaluation) -> list[str]:
        extent = evaluation.extent
        if not extent.metastatic:
            return ["- No distant metastasis recorded"]
        since = f" since {extent.metastatic_date.isoformat()}" if extent.metastatic_date else ""
        return [f"- Metastatic{since}: {', '.join(extent.sites) or 'sites not coded'}"]

    def _facts_lines(self, evaluation: Evaluation) -> list[str]:
        history = evaluation.history
        bullets = []
        for line in history.lines:
            end = f"to {line.end.isoformat()} ({line.end_reason})" if line.end else "ongoing"
            flag = ", progressed" if line.progressed and line.end is None else ""
            bullets.append(f"- Line {line.number}: {self._agents_text(line.agents)}, from {line.start.isoformat()} {end}{flag}")
        if history.adjuvant_agents:
            end = history.adjuvant_end.isoformat() if history.adjuvant_end else "?"
            bullets.append(f"- (Neo)adjuvant HER2 therapy: {self._agents_text(set(history.adjuvant_agents))}, last given {end}")
        if not bullets:
            bullets.append("- No metastatic line of therapy recorded")
        return bullets

    def _facts_lvef(self, evaluation: Evaluation) -> list[str]:
        safety = evaluation.safety
        latest = safety.lvef_latest
        if latest is None:
            return ["- No ejection fraction (LVEF) recorded"]
        fall = f", {points(safety.lvef_fall)} below baseline" if safety.lvef_fall else ""
        readings = (lab for lab in evaluation.record.labs if lab.kind == "lvef" and lab.on < latest.on)
        earlier = sorted(readings, key=lambda lab: lab.on)
        trend = ", ".join(f"{lab.value:g}% {lab.on.isoformat()}" for lab in earlier[-3:])
        return [
            f"- LVEF {latest.value:g}% on {latest.on.isoformat()}{fall} (lower limit {safety.lvef_lower_limit:g}%)"
            + (f"; earlier {trend}" if trend else "")
        ]

    def _facts_liver(self, evaluation: Evaluation) -> list[str]:
        liver = evaluation.safety.liver
        if liver.latest is None:
            return ["- No liver tests recorded"]
        labs = []
        if liver.bilirubin is not None:
            labs.append(f"bilirubin {liver.bilirubin:.2g} mg/dL ({liver.bilirubin_x or 0:.2g} x ULN)")
        for name, value, times in (("AST", liver.ast, liver.ast_x), ("ALT", liver.alt, liver.alt_x)):
            if value is not None:
                labs.append(f"{name} {value:g} U/L" + (f" ({times:.2g} x ULN)" if times is not None else ""))
        return [f"- Liver tests {liver.latest.isoformat()}: {', '.join(labs) or 'see chart'}"]

    ORDER_FACTS = {
        "progressed": ["lines"],
        "toxicity": ["lines"],
        "cardiac": ["lvef", "lines"],
        "hepatic": ["liver", "sites"],
        "her2-status": ["receptors"],
    }

    def order_facts(self, evaluation: Evaluation, issue: str) -> list[str]:
        """The patient facts an order-check card of kind ``issue`` rests on."""
        return self._facts(evaluation, self.ORDER_FACTS[issue])

    def _hit_words(self, hit: Any) -> str:
        """A label rule met, in a few words (the alert card below gives the label's full text)."""
        if hit.kind == "hepatic":
            return f"liver tests ({hit.grade}), {hit.effect} (label {hit.section})"
        display = self.displays[hit.agent]
        return f"ejection fraction meets the {display} hold rule (label)"

    def _ranked_options(self, evaluation: Evaluation) -> list[Any]:
        """Preferred options first, then the others in guideline order (clinical trial last, as listed)."""
        return sorted(evaluation.recommendation.options, key=lambda option: not option.preferred)

    def _summary_detail(self, evaluation: Evaluation) -> str:
        parts = ["**Patient facts**", "", *self._facts(evaluation, self.wording.facts)]
        recommendation = evaluation.recommendation
        if not recommendation.in_scope:
            parts += ["", self.wording.scope_detail[recommendation.scope_reason]]
        elif recommendation.options:
            parts += [text for folded in self._alerts_on_summary(evaluation) for text in ("", folded)]
            parts += ["", f"**Options for line {recommendation.line}**, preferred first", ""]
            for index, option in enumerate(self._ranked_options(evaluation), 1):
                parts += self._option_lines(index, option)
        else:
            parts += ["", "No change of line is advised while the current line works; the cards below list safety checks."]
        for withheld in recommendation.withheld:
            regimen = self.knowledge.regimen_models[withheld.regimen]
            reasons = "; ".join(self._hit_words(hit) for hit in withheld.hits)
            parts.append(f"- Not offered now: **{regimen.title}**: {reasons}.")
        parts += ["", f"Evaluated {evaluation.now.isoformat()}. Every rule cites its source (links below)."]
        return "\n".join(parts)

    def _option_lines(self, index: int, option: Any) -> list[str]:
        """One numbered option: title, guideline category, status, evidence and source (names only; links are in ``links``)."""
        regimen = self.knowledge.regimen_models[option.regimen]
        source = self.knowledge.source(option.source)
        mark = " (preferred)" if option.preferred else ""
        status = f" Status: {regimen.label_status}." if regimen.label_status else ""
        evidence = f" Evidence: {regimen.evidence}." if regimen.evidence else ""
        lines = [
            f"{index}. **{regimen.title}**{mark}. Guideline: {option.category}.{status}{evidence}"
            + f" Source: {source.get('short') or source['label']}."
        ]
        if regimen.choice_note:
            lines.append(f"   - Choosing: {regimen.choice_note}")
        if regimen.partner_choices:
            partners = ", ".join(self._display(agent) for agent in regimen.partner_choices)
            lines.append(f"   - Partner drug: clinician's choice of {partners}")
        lines += [f"   - Not preferred: {self._hit_words(warning)}" for warning in option.warnings]
        lines += [f"   - Partner choice: {self._hit_words(warning)}" for warning in option.partner_warnings]
        return lines

    def _display(self, agent: str) -> str:
        return self.displays[agent]

    def _regimen_suggestions(self, evaluation: Evaluation, context: RenderContext) -> list[dict[str, Any]]:
        """One suggestion per orderable regimen: every fixed drug is created; a partner of choice is named, not guessed.

        The card is ``at-most-one``, so only the first preferred regimen is ``isRecommended`` (CDS Hooks 2.0).
        No value here is empty (labels and descriptions are worded around the names, a regimen with no
        agent gets no suggestion, drafts are pruned where needed): ``cards`` does not prune them again.
        """
        suggestions = []
        recommended_given = False
        for option in self._ranked_options(evaluation):
            regimen = self.knowledge.regimen_models[option.regimen]
            if not regimen.agents:
                continue
            group = self.card_uuid(context, f"regimen:{option.regimen}")
            actions = [
                {
                    "type": "create",
                    "description": f"Draft order: {self._display(agent)}",
                    "resource": self.draft_medication_request(agent, option.regimen, group, context.patient_id),
                }
                for agent in regimen.agents
            ]
            label = f"Order {regimen.short}"
            if regimen.partner_choices:
                fixed = " + ".join(self._display(agent) for agent in regimen.agents)
                label = f"Order {fixed}; partner drug: clinician's choice (not ordered here)"
            recommended = option.preferred and not recommended_given
            recommended_given = recommended_given or recommended
            suggestions.append(
                {
                    "label": label,
                    "uuid": self.card_uuid(context, f"suggestion:{option.regimen}"),
                    "isRecommended": recommended,
                    "actions": actions,
                }
            )
        return suggestions

    def draft_medication_request(self, agent: str, regimen_id: str, group: str, patient_id: str) -> dict[str, Any]:
        """A draft MedicationRequest (intent proposal) for one agent of a regimen, RxNorm-coded where known.

        Built with no empty value: the summary card does not prune its suggestions again (``cards``).
        """
        draft = {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": self._medication_concept(agent),
            "groupIdentifier": {"system": "urn:her2-cds:regimen", "value": f"{regimen_id}:{group}"},
            "note": [{"text": f"Part of regimen: {self.knowledge.regimen_models[regimen_id].title}"}],
        }
        return prune(draft) if agent in self.drafts_to_prune else draft

    def _medication_concept(self, agent: str) -> dict[str, Any]:
        """The agent's first RxNorm code and its display (drugs.yaml)."""
        entry = self.knowledge.drugs["agents"][agent]
        codings = [
            {"system": self.knowledge.systems["rxnorm"], "code": code, "display": entry["display"]}
            for code in entry.get("rxnorm", [])[:1]
        ]
        return {"coding": codings, "text": entry["display"]} if codings else {"text": entry["display"]}

    def service_request(self, action: str, patient_id: str, reason: str) -> dict[str, Any]:
        """A draft ServiceRequest (echo, reflex ISH, biopsy, referral) coded per mappings/cards.yaml."""
        coded = self.wording.service_requests[action]
        return {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {
                "coding": [{"system": self.knowledge.systems[coded.system], "code": coded.code, "display": coded.display}],
                "text": coded.display,
            },
            "reasonCode": [{"text": reason}],
        }

    @staticmethod
    def _variant(spec: AlertWording, evaluation: Evaluation) -> AlertWording:
        """The wording that fits the patient's history: the first variant whose drugs all progressed (cards.yaml)."""
        return spec.for_history(evaluation.history.agents_stopped_for("progression"))

    def _alert(self, code: str, evaluation: Evaluation) -> Alert:
        return describe_alert(self.knowledge, code, evaluation.history, evaluation.safety, evaluation.recommendation)

    def alert_card(self, alert: str, evaluation: Evaluation, context: RenderContext) -> dict[str, Any]:
        spec = self._variant(self.wording.alerts[alert], evaluation)
        described = self._alert(alert, evaluation)
        values = self._alert_values(described)
        indicator = "critical" if spec.critical_when_current and described.critical else spec.indicator
        source_id = described.source or spec.source
        summary = clip(spec.summary.format(**values))
        detail = ["**Patient facts**", "", *self._facts(evaluation, spec.facts)]
        if described.hits:
            detail += ["", "**What the label says**", "", self._label_rows(described)]
        if spec.detail:
            detail += ["", spec.detail.format(**values)]
        card: dict[str, Any] = {
            "uuid": self.card_uuid(context, f"alert:{alert}"),
            "summary": summary,
            "indicator": indicator,
            "detail": "\n".join(detail),
            "source": self.source_of(source_id, spec.topic, context),
        }
        if indicator in ("warning", "critical"):
            card["overrideReasons"] = self.override_reasons()
        if spec.action is not None:
            resource = self.service_request(spec.action, context.patient_id, summary)
            card["suggestions"] = [
                {
                    "label": f"Order: {resource['code']['text']}",
                    "uuid": self.card_uuid(context, f"alert-suggestion:{alert}"),
                    "isRecommended": True,
                    "actions": [{"type": "create", "description": summary, "resource": resource}],
                }
            ]
            card["selectionBehavior"] = "at-most-one"
        links = [self.source_link(source_id), *self.label_links(described.agents)]
        if alert in self.wording.trial_search_on_alerts:
            links.append(self.trial_search_link(evaluation))
        card["links"] = self._unique_links(links)
        return card

    def _alert_values(self, alert: Alert) -> dict[str, Any]:
        """The placeholders of an alert's wording, formatted from the alert's values."""
        values: dict[str, Any] = {}
        if alert.code.startswith("lvef"):
            rules = self.knowledge.label_tables.lvef_rules
            values.update(
                lvef=f"{alert.lvef:g}" if alert.lvef is not None else "?",
                fall=points(alert.lvef_fall) if alert.lvef_fall is not None else "fall unknown",
                lln=f"{alert.lvef_lower_limit:g}" if alert.lvef_lower_limit is not None else "?",
                agents=self._agents_text(alert.agents) or "HER2 therapy",
                last=alert.lvef_last.isoformat() if alert.lvef_last else "none recorded",
                months=alert.monitoring_months,
                monitoring="\n".join(
                    f"- **{self._display(a)}**: {rules[a].monitoring}" for a in alert.agents if a in rules and rules[a].monitoring
                ),
            )
        elif alert.code == "hepatic-impairment":
            values["effects"] = "; ".join(hit.effect for hit in alert.hits) or "see the drug labels"
        elif alert.code == "visceral-crisis":
            values.update(
                criterion=", ".join(
                    f"{m.name} {m.value:.2g} {m.unit}" if m.unit == "mg/dL" else f"{m.name} {m.value:g} {m.unit}"
                    for m in alert.criteria
                ),
                bilirubin=f"{alert.thresholds['bilirubin']:g}",
                transaminase=f"{alert.thresholds['transaminase']:g}",
            )
        elif alert.code == "early-relapse":
            values["months"] = alert.months
        return values

    def _label_rows(self, alert: Alert) -> str:
        """The label rows met, one bullet per drug, with the row and section when known."""
        rows = []
        for hit in alert.hits:
            where = f" ({hit.grade}, label {hit.section})" if hit.grade else ""
            rows.append(f"- **{self._display(hit.agent)}**{where}: {hit.action}")
        return "\n".join(rows)

    def data_card(self, problems: list[str], context: RenderContext) -> dict[str, Any]:
        detail = "\n".join(f"- {safe_text(problem)}" for problem in problems[:50])
        if len(problems) > 50:
            detail += f"\n- … and {len(problems) - 50} more"
        return {
            "uuid": self.card_uuid(context, "data-problems"),
            "summary": clip(self.wording.data_problems_summary),
            "indicator": "info",
            "detail": detail,
            "source": self.source_of(self.wording.source, self.wording.data_problems_topic, context),
        }
