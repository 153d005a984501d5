"""order-select / order-sign: check draft MedicationRequests against history and label safety."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.engine import Evaluation
from service.knowledge import Knowledge
from service.knowledge.cards import ORDER_CHECK_TOPIC
from service.normalise import Normaliser
from service.read.medications import unresolved_reference
from service.render import INDICATOR_RANK, CardRenderer, RenderContext, clip, prune


def _draft_resources(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    bundle = context.get("draftOrders")
    if not isinstance(bundle, Mapping):
        return []
    return [
        entry["resource"]
        for entry in bundle.get("entry") or []
        if isinstance(entry, Mapping) and isinstance(entry.get("resource"), dict)
    ]


def draft_medications(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Medication resources ``context.draftOrders`` carries beside its orders (drugs they reference)."""
    return [r for r in _draft_resources(context) if r.get("resourceType") == "Medication"]


def draft_medication_requests(context: Mapping[str, Any], hook: str) -> list[dict[str, Any]]:
    """The draft MedicationRequests of ``context.draftOrders`` (only the selected ones for order-select)."""
    orders = [r for r in _draft_resources(context) if r.get("resourceType") == "MedicationRequest"]
    selections = context.get("selections")
    if hook == "order-select" and isinstance(selections, list) and selections:
        chosen = {str(s) for s in selections}
        orders = [r for r in orders if f"MedicationRequest/{r.get('id')}" in chosen] or orders
    return orders


class OrderChecker:
    """Warning cards for each draft order of an HER2 agent or partner that the patient's facts argue against."""

    def __init__(self, knowledge: Knowledge, normaliser: Normaliser, renderer: CardRenderer) -> None:
        self.knowledge = knowledge
        self.normaliser = normaliser
        self.renderer = renderer
        self.key_agents = {a for regimen in knowledge.regimen_models.values() for a in regimen.key_agents}
        self.her2_agents = knowledge.agents_of_class(*knowledge.options["her2_classes"])
        self.sources = knowledge.wording.order_check_sources
        self.templates = knowledge.wording.order_check

    def unreadable(self, orders: list[dict[str, Any]], medications: Mapping[str, set[str]]) -> list[str]:
        """A problem line for each draft order whose drug is a reference nothing resolves: it cannot be checked."""
        problems = []
        for order in orders:
            target = unresolved_reference(order, medications)
            if target is not None:
                order_ref = f"MedicationRequest/{order.get('id') or '?'}"
                problems.append(f"draft order {order_ref} not checked: its medication {target} could not be read")
        return problems

    def cards(
        self,
        evaluation: Evaluation,
        orders: list[dict[str, Any]],
        context: RenderContext,
        medications: Mapping[str, set[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """``medications``: ``Medication/id`` -> agents, for drafts that reference their drug."""
        cards: list[dict[str, Any]] = []
        progressed = evaluation.history.agents_stopped_for("progression")
        toxic = evaluation.history.agents_stopped_for("toxicity")
        for order in orders:
            agents = sorted(self.normaliser.agents_of_record(order, medications or {}))
            order_ref = f"MedicationRequest/{order.get('id')}" if order.get("id") else None
            for agent in agents:
                display = self.knowledge.drugs["agents"][agent]["display"]
                templates = self.templates
                issues: list[tuple[str, str, str, str, str]] = []  # (key, indicator, summary, detail, source)
                if agent in self.key_agents and agent in progressed:
                    line = next((ln.number for ln in evaluation.history.lines if ln.progressed and agent in ln.agents), None)
                    summary = templates["progressed"].format(drug=display, line=line)
                    issues.append(("progressed", "warning", summary, summary, self.sources["progressed"]))
                if agent in toxic:
                    summary = templates["toxicity"].format(drug=display)
                    issues.append(("toxicity", "warning", summary, summary, self.sources["toxicity"]))
                hit = evaluation.safety.cardiac_hits.get(agent)
                if hit is not None:
                    issues.append(("cardiac", "critical", templates["cardiac"].format(drug=display), hit.action, hit.source))
                hit = evaluation.safety.hepatic_hit(agent, agent in evaluation.history.ongoing_agents())
                if hit is not None and hit.changes_drug:
                    summary = templates["hepatic"].format(drug=display, effect=hit.effect)
                    issues.append(("hepatic", "critical", summary, hit.action, hit.source))
                if agent in self.her2_agents and evaluation.receptors.her2 not in ("positive",):
                    summary = templates["her2-status"].format(drug=display, her2=evaluation.receptors.her2)
                    issues.append(("her2-status", "warning", summary, summary, self.sources["her2-status"]))
                for key, indicator, summary, why, source_id in issues:
                    facts = self.renderer.order_facts(evaluation, key)
                    card: dict[str, Any] = {
                        "uuid": self.renderer.card_uuid(context, f"order:{order.get('id')}:{agent}:{key}"),
                        "summary": clip(summary),
                        "indicator": indicator,
                        "detail": "\n".join([f"**{display}**: {why}", "", "**Patient facts**", "", *facts]),
                        "source": self.renderer.source_of(source_id, ORDER_CHECK_TOPIC, context),
                        "overrideReasons": self.renderer.override_reasons(),
                        "links": self.renderer.label_links([agent]) or None,
                    }
                    if order_ref:
                        card["suggestions"] = [
                            {
                                "label": f"Remove the draft order for {display}",
                                "uuid": self.renderer.card_uuid(context, f"order-remove:{order.get('id')}:{agent}:{key}"),
                                "actions": [
                                    {"type": "delete", "description": f"Remove draft {display}", "resourceId": order_ref}
                                ],
                            }
                        ]
                        card["selectionBehavior"] = "at-most-one"
                    cards.append(prune(card))
        # Critical first, then warnings (CDS Hooks leaves order to the service; EHRs show the first ones).
        return sorted(cards, key=lambda card: INDICATOR_RANK[card["indicator"]])
