"""Render stage: an ``Evaluation`` -> CDS Hooks 2.0 cards (wording from mappings/cards.yaml)."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

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
    base_url: str | None = None


class CardRenderer:
    """Builds the cards of one response."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.wording = knowledge.cards

    # -- helpers ------------------------------------------------------------------------------
    def card_uuid(self, context: RenderContext, key: str) -> str:
        return str(uuid.uuid5(CARD_NAMESPACE, f"{context.hook_instance}|{context.patient_id}|{key}"))

    def source_of(self, source_id: str) -> dict[str, Any]:
        source = self.knowledge.source(source_id)
        return {"label": source["label"], "url": source.get("url"), "topic": None}

    def override_reasons(self) -> list[dict[str, str]]:
        system = self.wording["override_reason_system"]
        return [{"system": system, "code": r["code"], "display": r["display"]} for r in self.wording["override_reasons"]]

    def _agents_text(self, agents: list[str] | set[str]) -> str:
        return " + ".join(self.knowledge.drugs["agents"][agent]["display"] for agent in sorted(agents))

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
        summary = self._summary_text(evaluation)
        card: dict[str, Any] = {
            "uuid": self.card_uuid(context, "summary"),
            "summary": clip(summary),
            "indicator": "info",
            "detail": self._summary_detail(evaluation),
            "source": self.source_of("nccn-breast" if recommendation.in_scope else "asco-cap-her2")
            | {"topic": {"system": "urn:her2-cds:card-topic", "code": "her2-mbc-guidance", "display": "HER2+ MBC guidance"}},
            "extension": {ASSESSMENT_KEY: evaluation.assessment()},
        }
        suggestions = self._regimen_suggestions(evaluation, context)
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        links = [
            {
                "label": self.knowledge.source("nccn-breast")["label"][:60],
                "url": self.knowledge.source("nccn-breast")["url"],
                "type": "absolute",
            }
        ]
        if any(option.regimen == "clinical-trial" for option in recommendation.options):
            links.append(
                {
                    "label": "Search ClinicalTrials.gov (HER2+ MBC, recruiting)",
                    "url": self.knowledge.source("clinicaltrials-gov")["url"],
                    "type": "absolute",
                }
            )
        card["links"] = links
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
        relapse = self.knowledge.lines["early_relapse"]
        months = max(
            [relapse["months"]] + [m for a, m in relapse.get("months_if_agent", {}).items() if a in history.adjuvant_agents]
        )
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

    def _summary_detail(self, evaluation: Evaluation) -> str:
        parts = ["**Patient facts**", ""]
        receptors = evaluation.receptors
        her2_bits = [f"HER2 **{receptors.her2}**"]
        if receptors.her2_ihc is not None:
            her2_bits.append(f"IHC {receptors.her2_ihc}+" if receptors.her2_ihc else "IHC 0")
        if receptors.ish_group is not None:
            her2_bits.append(f"ISH group {receptors.ish_group}")
        if receptors.her2_date:
            her2_bits.append(f"({receptors.her2_date.isoformat()})")
        parts.append("- " + " ".join(her2_bits))
        er = f"ER {receptors.er or 'unknown'}" + (f" ({receptors.er_percent:g}%)" if receptors.er_percent is not None else "")
        pr = f"PR {receptors.pr or 'unknown'}" + (f" ({receptors.pr_percent:g}%)" if receptors.pr_percent is not None else "")
        parts.append(f"- Hormone receptor **{receptors.hormone_receptor}**: {er}, {pr}")
        extent = evaluation.extent
        if extent.metastatic:
            since = f" since {extent.metastatic_date.isoformat()}" if extent.metastatic_date else ""
            parts.append(f"- Metastatic{since}: {', '.join(extent.sites) or 'sites not coded'}")
        for line in evaluation.history.lines:
            end = f"to {line.end.isoformat()} ({line.end_reason})" if line.end else "ongoing"
            flag = ", progressed" if line.progressed and line.end is None else ""
            parts.append(f"- Line {line.number}: {self._agents_text(line.agents)}, from {line.start.isoformat()} {end}{flag}")
        if evaluation.history.adjuvant_agents:
            end = evaluation.history.adjuvant_end.isoformat() if evaluation.history.adjuvant_end else "?"
            parts.append(
                f"- (Neo)adjuvant HER2 therapy: {self._agents_text(set(evaluation.history.adjuvant_agents))}, last given {end}"
            )
        safety = evaluation.safety
        if safety.lvef_latest is not None:
            fall = f", {safety.lvef_fall:g} points below baseline" if safety.lvef_fall else ""
            parts.append(f"- LVEF {safety.lvef_latest.value:g}% on {safety.lvef_latest.on.isoformat()}{fall}")
        liver = safety.liver
        if liver.latest is not None:
            labs = []
            if liver.bilirubin is not None:
                labs.append(f"bilirubin {liver.bilirubin:.2g} mg/dL ({liver.bilirubin_x or 0:.2g} x ULN)")
            if liver.ast is not None:
                labs.append(f"AST {liver.ast:g} U/L")
            if liver.alt is not None:
                labs.append(f"ALT {liver.alt:g} U/L")
            parts.append(f"- Liver tests {liver.latest.isoformat()}: {', '.join(labs) or 'see chart'}")
        recommendation = evaluation.recommendation
        if not recommendation.in_scope:
            parts += ["", str(self.wording["scope_detail"][recommendation.scope_reason])]
        elif recommendation.options:
            parts += ["", f"**Options for line {recommendation.line}**", ""]
            for index, option in enumerate(recommendation.options, 1):
                regimen = self.knowledge.regimens[option.regimen]
                source = self.knowledge.source(option.source)
                mark = "preferred" if option.preferred else "option"
                evidence = regimen.get("evidence", "")
                parts.append(
                    f"{index}. **{regimen['title']}** ({mark}; {option.category}). {evidence}. "
                    f"Source: [{source['label']}]({source.get('url', '')})"
                )
                for warning in option.warnings:
                    parts.append(f"   - Label ({warning.agent}): {warning.action}")
                for warning in option.partner_warnings:
                    parts.append(f"   - Avoid {warning.agent} as the partner: {warning.action}")
        else:
            parts += ["", "No change of line is advised while the current line works; the cards below list safety checks."]
        parts += ["", f"Evaluated {evaluation.now.isoformat()}. Rules: docs/clinical-rules.md; every rule cites its source."]
        return "\n".join(parts)

    def _regimen_suggestions(self, evaluation: Evaluation, context: RenderContext) -> list[dict[str, Any]]:
        suggestions = []
        for option in evaluation.recommendation.options:
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
                    "label": f"Order {regimen['title']}"[:80],
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
        detail = values.pop("_detail", "")
        summary = clip(str(spec["summary"]).format(**values))
        card: dict[str, Any] = {
            "uuid": self.card_uuid(context, f"alert:{alert}"),
            "summary": summary,
            "indicator": indicator,
            "detail": detail,
            "source": self.source_of(source_id),
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
        source = self.knowledge.source(source_id)
        if source.get("url"):
            card["links"] = [{"label": source["label"][:80], "url": source["url"], "type": "absolute"}]
        return card

    def _alert_values(self, alert: str, evaluation: Evaluation) -> dict[str, Any]:
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
            )
            if alert == "lvef-decline" and hits:
                values["_source"] = hits[0].source
                values["_detail"] = "\n".join(f"- **{h.agent}**: {h.action}" for h in hits)
        elif alert == "hepatic-impairment":
            relevant = history.ongoing_agents() | evaluation.recommendation.offered_agents(self.knowledge)
            hits = [hit for agent, hit in sorted(safety.hepatic_hits.items()) if hit.changes_drug and agent in relevant]
            values["agents"] = self._agents_text([h.agent for h in hits])
            values["label_words"] = "see label instructions"
            values["_current"] = any(h.agent in history.ongoing_agents() for h in hits)
            values["_source"] = hits[0].source if hits else "label-docetaxel"
            values["_detail"] = "\n".join(f"- **{h.agent}**: {h.action}" for h in hits)
        elif alert == "visceral-crisis":
            liver = safety.liver
            criteria = []
            if (
                liver.bilirubin is not None
                and liver.bilirubin > self.knowledge.safety["visceral_crisis"]["bilirubin_mg_dl_above"]
            ):
                criteria.append(f"bilirubin {liver.bilirubin:.2g} mg/dL")
            for name, value in (("AST", liver.ast), ("ALT", liver.alt)):
                if value is not None and value > self.knowledge.safety["visceral_crisis"]["transaminase_u_l_above"]:
                    criteria.append(f"{name} {value:g} U/L")
            values["criterion"] = ", ".join(criteria)
        return values

    def data_card(self, problems: list[str], context: RenderContext) -> dict[str, Any]:
        detail = "\n".join(f"- {safe_text(problem)}" for problem in problems[:50])
        return {
            "uuid": self.card_uuid(context, "data-problems"),
            "summary": clip(str(self.wording["data_problems"]["summary"])),
            "indicator": "info",
            "detail": detail,
            "source": self.source_of("cds-hooks-2"),
        }
