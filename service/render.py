"""Render stage: an ``Evaluation`` -> CDS Hooks 2.0 cards (wording from mappings/cards.yaml)."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from service.engine import Evaluation
from service.knowledge import Knowledge

ASSESSMENT_KEY = "her2-cds-assessment"
CARD_NAMESPACE = uuid.UUID("6f1f3d1e-7f0a-4a55-9b0e-2f5c3c2b8a11")
SUMMARY_LIMIT = 139
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|>~-])")


def ordinal(number: int) -> str:
    return ORDINALS.get(number, f"{number}th")


def safe_text(text: str) -> str:
    """Patient-supplied text for markdown: HTML escaped and markdown punctuation neutralised."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def clip(summary: str) -> str:
    """CDS Hooks: summary under 140 characters."""
    return summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1].rstrip() + "…"


def prune(node: Any) -> Any:
    """Drop None, empty strings, empty lists and empty objects (CDS Hooks forbids them)."""
    if isinstance(node, dict):
        cleaned = {key: prune(value) for key, value in node.items()}
        return {key: value for key, value in cleaned.items() if value not in (None, "", [], {})}
    if isinstance(node, list):
        return [item for item in (prune(value) for value in node) if item not in (None, "", [], {})]
    return node


@dataclass
class RenderContext:
    """What the renderer needs beyond the evaluation."""

    hook_instance: str
    patient_id: str
    notes: list[str] = field(default_factory=list)  # data problems found while gathering
    base_url: str | None = None  # the service's public base URL: card icons are served from it
    issued_keys: dict[str, str] = field(default_factory=dict)  # every uuid made -> its key (issued-card records)


class CardRenderer:
    """Builds the cards of one response."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.wording = knowledge.cards

    # -- helpers ------------------------------------------------------------------------------
    def card_uuid(self, context: RenderContext, key: str) -> str:
        made = str(uuid.uuid5(CARD_NAMESPACE, f"{context.hook_instance}|{context.patient_id}|{key}"))
        context.issued_keys[made] = key  # the route records each card's kind and rule from it, outside the JSON
        return made

    def icon_url(self, context: RenderContext | None) -> str | None:
        """The absolute URL of the card icon, when the service knows its public base URL."""
        if context is None or not context.base_url:
            return None
        return context.base_url.rstrip("/") + str(self.wording["icon"]["path"])

    def source_of(self, source_id: str, topic: str, context: RenderContext | None = None) -> dict[str, Any]:
        """``card.source``: the guideline or label the card rests on, the service icon and the card's topic."""
        source = self.knowledge.source(source_id)
        coded = self.wording["topics"][topic]
        return {
            "label": source["label"],
            "url": source.get("url"),
            "icon": self.icon_url(context),
            "topic": {"system": self.wording["topic_system"], "code": coded["code"], "display": coded["display"]},
        }

    def source_link(self, source_id: str) -> dict[str, str] | None:
        """A card link to a source (guideline, label), labelled by its short name."""
        source = self.knowledge.source(source_id)
        if not source.get("url"):
            return None
        label = source.get("short") or source["label"]
        return {"label": str(label)[:80], "url": source["url"], "type": "absolute"}

    def label_links(self, agents: list[str] | set[str]) -> list[dict[str, str]]:
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
        search = self.wording["trial_search"]
        url = str(self.knowledge.source(search["source"])["url"])
        terms = [term for site, term in search.get("terms_by_site", {}).items() if site in evaluation.extent.sites]
        if terms:
            url += "&term=" + quote(" OR ".join(terms))
        return {"label": str(search["label"]), "url": url, "type": "absolute"}

    def override_reasons(self) -> list[dict[str, str]]:
        system = self.wording["override_reason_system"]
        return [{"system": system, "code": r["code"], "display": r["display"]} for r in self.wording["override_reasons"]]

    def _agents_text(self, agents: list[str] | set[str]) -> str:
        return " + ".join(self.knowledge.drugs["agents"][agent]["display"] for agent in sorted(agents))

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
        """Summary card first (with the assessment), then one card per alert, then data problems."""
        cards = [self.summary_card(evaluation, context)]
        for alert in evaluation.alerts:
            cards.append(self.alert_card(alert, evaluation, context))
        problems = list(context.notes) + [f"Skipped unreadable record {ref}" for ref in evaluation.record.skipped]
        if problems:
            cards.append(self.data_card(problems, context))
        return [prune(card) for card in cards]

    def summary_card(self, evaluation: Evaluation, context: RenderContext) -> dict[str, Any]:
        recommendation = evaluation.recommendation
        guideline = "nccn-breast" if recommendation.in_scope else "asco-cap-her2"
        card: dict[str, Any] = {
            "uuid": self.card_uuid(context, "summary"),
            "summary": clip(self._summary_text(evaluation)),
            "indicator": "info",
            "detail": self._summary_detail(evaluation),
            "source": self.source_of(guideline, "guidance", context),
            "extension": {ASSESSMENT_KEY: evaluation.assessment()},
        }
        suggestions = self._regimen_suggestions(evaluation, context)
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        preferred = next((o for o in recommendation.options if o.preferred), None)
        links = [self.source_link(guideline)]
        if preferred is not None:
            links += self.label_links(self.knowledge.regimens[preferred.regimen]["agents"])
        if any(option.regimen == "clinical-trial" for option in recommendation.options):
            links.append(self.trial_search_link(evaluation))
        card["links"] = self._unique_links(links)
        return card

    def _summary_text(self, evaluation: Evaluation) -> str:
        templates = self.wording["summary"]
        recommendation = evaluation.recommendation
        history = evaluation.history
        if not recommendation.in_scope:
            return str(templates[recommendation.scope_reason])
        preferred = next((o for o in recommendation.options if o.preferred), None)
        preferred_title = str(self.knowledge.regimens[preferred.regimen]["short"]) if preferred else ""
        current = history.current
        regimen_now = self._agents_text(current.agents) if current else ""
        if recommendation.kind == "first-line":
            key = "first-line" if preferred else "next-line-no-preferred"
        elif recommendation.kind == "early-relapse":
            key = "early-relapse"
        elif recommendation.kind == "maintenance":
            key = "maintenance"
            regimen_now = self._agents_text(set(current.agents) & {"trastuzumab", "pertuzumab"}) if current else ""
        elif recommendation.kind == "next-line":
            if not preferred:
                key = "next-line-no-preferred"
            else:
                key = "next-line-progressed" if history.status == "progressed" else "next-line-stopped"
        else:
            key = "on-treatment"
        months = self._relapse_months(evaluation)
        lead = f"Progressed on line {history.current_number}" if history.status == "progressed" else "No preferred option"
        return str(templates[key]).format(
            preferred=preferred_title or "see options",
            regimen=regimen_now,
            ordinal=ordinal(recommendation.line or max(history.current_number, 1)),
            current=history.current_number,
            reason=(current.end_reason if current and current.end_reason else "unknown reason"),
            months=months,
            lead=lead,
        )

    def _facts(self, evaluation: Evaluation, names: list[str]) -> list[str]:
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
            her2_bits.append(f"({receptors.her2_date.isoformat()})")
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
        fall = f", {safety.lvef_fall:g} points below baseline" if safety.lvef_fall else ""
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
            return f"liver tests, {self.knowledge.safety['liver']['rules'][hit.agent]['summary_effect']} (label)"
        display = self.knowledge.drugs["agents"][hit.agent]["display"]
        return f"ejection fraction meets the {display} hold rule (label)"

    def _ranked_options(self, evaluation: Evaluation) -> list[Any]:
        """Preferred options first, then the others in guideline order (clinical trial last, as listed)."""
        return sorted(evaluation.recommendation.options, key=lambda option: not option.preferred)

    def _summary_detail(self, evaluation: Evaluation) -> str:
        parts = ["**Patient facts**", "", *self._facts(evaluation, self.wording["facts"])]
        recommendation = evaluation.recommendation
        if not recommendation.in_scope:
            parts += ["", str(self.wording["scope_detail"][recommendation.scope_reason])]
        elif recommendation.options:
            parts += ["", f"**Options for line {recommendation.line}**, preferred first", ""]
            for index, option in enumerate(self._ranked_options(evaluation), 1):
                regimen = self.knowledge.regimens[option.regimen]
                source = self.knowledge.source(option.source)
                mark = " (preferred)" if option.preferred else ""
                evidence = str(regimen.get("evidence", ""))
                if evidence and regimen.get("evidence_url"):
                    evidence = f"[{evidence}]({regimen['evidence_url']})"
                cite = f"[{source.get('short') or source['label']}]({source['url']})" if source.get("url") else source["label"]
                parts.append(
                    f"{index}. **{regimen['title']}**{mark}. Guideline: {option.category}."
                    + (f" Evidence: {evidence}." if evidence else "")
                    + f" Source: {cite}."
                )
                for warning in option.warnings:
                    parts.append(f"   - Not preferred: {self._hit_words(warning)}")
                for warning in option.partner_warnings:
                    parts.append(f"   - Partner choice: {self._hit_words(warning)}")
        else:
            parts += ["", "No change of line is advised while the current line works; the cards below list safety checks."]
        parts += ["", f"Evaluated {evaluation.now.isoformat()}. Rules: docs/clinical-rules.md; every rule cites its source."]
        return "\n".join(parts)

    def _regimen_suggestions(self, evaluation: Evaluation, context: RenderContext) -> list[dict[str, Any]]:
        suggestions = []
        for option in self._ranked_options(evaluation):
            regimen = self.knowledge.regimens[option.regimen]
            if not regimen["agents"]:
                continue
            group = self.card_uuid(context, f"regimen:{option.regimen}")
            actions = [
                {
                    "type": "create",
                    "description": f"Draft order: {self.knowledge.drugs['agents'][agent]['display']}",
                    "resource": self.draft_medication_request(agent, option.regimen, group, context.patient_id),
                }
                for agent in regimen["agents"]
            ]
            suggestions.append(
                {
                    "label": f"Order {regimen['short']}",
                    "uuid": self.card_uuid(context, f"suggestion:{option.regimen}"),
                    "isRecommended": option.preferred,
                    "actions": actions,
                }
            )
        return suggestions

    def draft_medication_request(self, agent: str, regimen_id: str, group: str, patient_id: str) -> dict[str, Any]:
        """A draft MedicationRequest (intent proposal) for one agent of a regimen, RxNorm-coded where known."""
        entry = self.knowledge.drugs["agents"][agent]
        codings = [
            {"system": self.knowledge.systems["rxnorm"], "code": code, "display": entry["display"]}
            for code in entry.get("rxnorm", [])[:1]
        ]
        return {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": {"coding": codings, "text": entry["display"]} if codings else {"text": entry["display"]},
            "groupIdentifier": {"system": "urn:her2-cds:regimen", "value": f"{regimen_id}:{group}"},
            "note": [{"text": f"Part of regimen: {self.knowledge.regimens[regimen_id]['title']}"}],
        }

    def service_request(self, action: str, patient_id: str, reason: str) -> dict[str, Any]:
        """A draft ServiceRequest (echo, reflex ISH, biopsy, referral) coded per mappings/cards.yaml."""
        coded = self.wording["service_requests"][action]
        return {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {
                "coding": [
                    {"system": self.knowledge.systems[coded["system"]], "code": coded["code"], "display": coded["display"]}
                ],
                "text": coded["display"],
            },
            "reasonCode": [{"text": reason}],
        }

    def alert_card(self, alert: str, evaluation: Evaluation, context: RenderContext) -> dict[str, Any]:
        spec = self.wording["alerts"][alert]
        values = self._alert_values(alert, evaluation)
        indicator = spec["indicator"]
        if spec.get("critical_when_current") and values.pop("_current", False):
            indicator = "critical"
        values.pop("_current", None)
        source_id = values.pop("_source", spec["source"])
        label_agents: list[str] = values.pop("_label_agents", [])
        rules = values.pop("_rules", "")
        summary = clip(str(spec["summary"]).format(**values))
        detail = ["**Patient facts**", "", *self._facts(evaluation, spec["facts"])]
        if rules:
            detail += ["", "**What the label says**", "", rules]
        if spec.get("detail"):
            detail += ["", str(spec["detail"]).format(**values)]
        card: dict[str, Any] = {
            "uuid": self.card_uuid(context, f"alert:{alert}"),
            "summary": summary,
            "indicator": indicator,
            "detail": "\n".join(detail),
            "source": self.source_of(source_id, spec["topic"], context),
        }
        if indicator in ("warning", "critical"):
            card["overrideReasons"] = self.override_reasons()
        if "action" in spec:
            resource = self.service_request(spec["action"], context.patient_id, summary)
            card["suggestions"] = [
                {
                    "label": f"Order: {resource['code']['text']}",
                    "uuid": self.card_uuid(context, f"alert-suggestion:{alert}"),
                    "isRecommended": True,
                    "actions": [{"type": "create", "description": summary, "resource": resource}],
                }
            ]
            card["selectionBehavior"] = "at-most-one"
        links = [self.source_link(source_id), *self.label_links(label_agents)]
        if alert == "brain-metastases":
            links.append(self.trial_search_link(evaluation))
        card["links"] = self._unique_links(links)
        return card

    def _alert_values(self, alert: str, evaluation: Evaluation) -> dict[str, Any]:
        """The placeholders of an alert's summary and detail, plus ``_``-keys steering the card."""
        safety = evaluation.safety
        history = evaluation.history
        latest = safety.lvef_latest
        values: dict[str, Any] = {}
        if alert.startswith("lvef"):
            hits = [safety.cardiac_hits[a] for a in sorted(history.active_agents()) if a in safety.cardiac_hits]
            monitored = sorted(history.active_agents() & set(self.knowledge.safety["lvef"]["monitored_agents"]))
            values.update(
                lvef=f"{latest.value:g}" if latest else "?",
                fall=f"{safety.lvef_fall:g}" if safety.lvef_fall is not None else "?",
                lln=f"{safety.lvef_lower_limit:g}",
                agents=self._agents_text([h.agent for h in hits] or monitored) or "HER2 therapy",
                last=latest.on.isoformat() if latest else "none recorded",
                months=self.knowledge.safety["lvef"]["monitoring_months"],
                _label_agents=[h.agent for h in hits] or monitored,
            )
            if alert == "lvef-decline" and hits:
                values["_source"] = hits[0].source
                values["_rules"] = "\n".join(f"- **{h.agent}**: {h.action}" for h in hits)
        elif alert == "hepatic-impairment":
            relevant = history.ongoing_agents() | evaluation.recommendation.offered_agents(self.knowledge)
            hits = [hit for agent, hit in sorted(safety.hepatic_hits.items()) if hit.changes_drug and agent in relevant]
            rules = self.knowledge.safety["liver"]["rules"]
            values["effects"] = "; ".join(str(rules[h.agent]["summary_effect"]) for h in hits) or "see the drug labels"
            values["_current"] = any(h.agent in history.ongoing_agents() for h in hits)
            values["_source"] = hits[0].source if hits else "label-docetaxel"
            values["_rules"] = "\n".join(f"- **{h.agent}**: {h.action}" for h in hits)
            values["_label_agents"] = [h.agent for h in hits]
        elif alert == "visceral-crisis":
            liver = safety.liver
            crisis = self.knowledge.safety["visceral_crisis"]
            criteria = []
            if liver.bilirubin is not None and liver.bilirubin > crisis["bilirubin_mg_dl_above"]:
                criteria.append(f"bilirubin {liver.bilirubin:.2g} mg/dL")
            for name, value in (("AST", liver.ast), ("ALT", liver.alt)):
                if value is not None and value > crisis["transaminase_u_l_above"]:
                    criteria.append(f"{name} {value:g} U/L")
            values.update(
                criterion=", ".join(criteria),
                bilirubin=f"{crisis['bilirubin_mg_dl_above']:g}",
                transaminase=f"{crisis['transaminase_u_l_above']:g}",
            )
        elif alert == "early-relapse":
            values["months"] = self._relapse_months(evaluation)
        return values

    def _relapse_months(self, evaluation: Evaluation) -> int:
        """The early-relapse window that applied (longer after some adjuvant agents, mappings/lines.yaml)."""
        relapse = self.knowledge.lines["early_relapse"]
        adjuvant = evaluation.history.adjuvant_agents
        return int(max([relapse["months"]] + [m for a, m in relapse.get("months_if_agent", {}).items() if a in adjuvant]))

    def data_card(self, problems: list[str], context: RenderContext) -> dict[str, Any]:
        wording = self.wording["data_problems"]
        detail = "\n".join(f"- {safe_text(problem)}" for problem in problems[:50])
        if len(problems) > 50:
            detail += f"\n- … and {len(problems) - 50} more"
        return {
            "uuid": self.card_uuid(context, "data-problems"),
            "summary": clip(str(wording["summary"])),
            "indicator": "info",
            "detail": detail,
            "source": self.source_of("cds-hooks-2", wording.get("topic", "data-quality"), context),
        }
