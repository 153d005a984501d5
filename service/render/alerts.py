"""Alert cards (one per alert that is not folded into the summary card) and the data-problems card."""

from __future__ import annotations

from typing import Any

from service.engine import Evaluation
from service.knowledge.cards import AlertWording
from service.recommend import Alert, describe_alert
from service.render.base import RenderContext
from service.render.facts import PatientFacts
from service.render.suggestions import RegimenSuggestions
from service.render.text import clip, day, points, safe_text


class AlertCards(PatientFacts, RegimenSuggestions):
    """Alert cards worded from cards.yaml and each alert's values (they ask for a ServiceRequest), and the data card."""

    def _separate_alerts(self, evaluation: Evaluation) -> list[str]:
        """Alerts that get a card of their own (the others' advice is on the summary card already)."""
        kind = evaluation.recommendation.kind
        return [a for a in evaluation.alerts if kind not in self.wording.alerts[a].on_summary_when]

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
        template = spec.summary
        if spec.summary_without_fall is not None and (described.lvef_fall is None or described.lvef_fall <= 0):
            template = spec.summary_without_fall
        summary = clip(template.format(**values))
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
                agents=self.agents_text(alert.agents) or "HER2 therapy",
                last=day(alert.lvef_last) if alert.lvef_last else "none recorded",
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

    def finding_card(self, evaluation: Evaluation, context: RenderContext, kind: str) -> dict[str, Any] | None:
        """A warning while a drug of safety.yaml ``kind`` (lung, heart) is given and the finding its label
        rules are about (ILD or pneumonitis; heart failure or cardiomyopathy) is on record and active."""
        found, given_now = evaluation.safety.finding(kind)
        if not given_now or found is None or evaluation.deceased:
            return None
        if not evaluation.extent.breast_cancer:  # as the alerts: only for a patient with breast cancer
            return None
        wording = self.findings[kind]
        drugs = self.agents_text(given_now)
        summary = wording.names.summary.format(drug=drugs, when=self.finding_when(found))
        facts = self._facts(evaluation, self.ORDER_FACTS[kind])
        given = frozenset(given_now)
        rules = [rule for rule in wording.rules if not rule.agents.isdisjoint(given)]
        labels = [f"**{self.agents_text(rule.agents & given)}**: {rule.action}" for rule in rules]
        detail = [*labels, "", "**Patient facts**", "", *facts]
        return {
            "uuid": self.card_uuid(context, f"safety:{kind}"),
            "summary": clip(summary),
            "indicator": "warning",
            "detail": "\n".join(detail),
            "source": self.source_of(rules[0].source, wording.names.topic, context),
            "overrideReasons": self.override_reasons(),
            "links": self.label_links(list(given_now)) or None,
        }

    def pregnancy_card(self, evaluation: Evaluation, context: RenderContext) -> dict[str, Any] | None:
        """A warning while a current pregnancy is on record and a drug of safety.yaml pregnancy is given or offered."""
        found, rule = evaluation.safety.pregnancy, self.pregnancy_rule
        if found is None or rule is None or evaluation.deceased or not evaluation.extent.breast_cancer:
            return None
        given_or_offered = evaluation.history.ongoing_agents() | evaluation.recommendation.offered_agents(self.knowledge)
        agents = tuple(sorted(rule.agents & given_or_offered))
        if not agents:
            return None
        drugs = self.agents_text(agents)
        summary = self.wording.pregnancy_summary.format(drug=drugs, when=self.pregnancy_when(found))
        detail = [f"**{drugs}**: {rule.action}", "", "**Patient facts**", "", *self._facts(evaluation, ["pregnancy", "lines"])]
        return {
            "uuid": self.card_uuid(context, "safety:pregnancy"),
            "summary": clip(summary),
            "indicator": "warning",
            "detail": "\n".join(detail),
            "source": self.source_of(rule.source, self.wording.pregnancy_topic, context),
            "overrideReasons": self.override_reasons(),
            "links": self.label_links(list(agents)) or None,
        }

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
