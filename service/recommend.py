"""Recommendation stage: guideline options for the next line, from mappings/options.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.infer.disease import DiseaseExtent
from service.infer.lines import TherapyHistory
from service.infer.receptors import ReceptorStatus
from service.infer.safety import RuleHit, SafetyFacts
from service.knowledge import Knowledge


@dataclass
class RegimenOption:
    """One regimen the cards offer, why, and the label rules that demoted it."""

    regimen: str
    preferred: bool
    category: str
    source: str
    warnings: list[RuleHit] = field(default_factory=list)
    partner_warnings: list[RuleHit] = field(default_factory=list)


@dataclass
class Recommendation:
    """What the service advises: the line and its options, or why no pathway applies."""

    in_scope: bool
    scope_reason: str  # in-scope | no-breast-cancer | not-metastatic | her2-<status>
    line: int | None = None
    kind: str = "none"  # first-line | next-line | early-relapse | maintenance | none
    options: list[RegimenOption] = field(default_factory=list)

    def offered_agents(self, knowledge: Knowledge) -> set[str]:
        """Every agent of every offered regimen."""
        return {agent for option in self.options for agent in knowledge.regimens[option.regimen]["agents"]}


def scope_of(extent: DiseaseExtent, receptors: ReceptorStatus) -> str:
    """Why a patient is (not) in the HER2-positive metastatic pathway."""
    if not extent.breast_cancer:
        return "no-breast-cancer"
    if not extent.metastatic:
        return "not-metastatic"
    if receptors.her2 != "positive":
        return f"her2-{receptors.her2}"
    return "in-scope"


class Recommender:
    """Applies mappings/options.yaml to the inferred facts."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.options = knowledge.options
        self.her2_agents = knowledge.agents_of_class("her2-antibody", "her2-adc", "her2-tki")
        self.chemotherapy = knowledge.agents_of_class("chemotherapy")
        self.endocrine = knowledge.agents_of_class("endocrine", "cdk46")

    def recommend(
        self, extent: DiseaseExtent, receptors: ReceptorStatus, history: TherapyHistory, safety: SafetyFacts
    ) -> Recommendation:
        """The line to offer and its options, per docs/clinical-rules.md §6."""
        scope = scope_of(extent, receptors)
        if scope != "in-scope":
            return Recommendation(in_scope=False, scope_reason=scope)
        recommendation = Recommendation(in_scope=True, scope_reason=scope)
        if history.status == "on-treatment":
            self._maintenance(recommendation, receptors, history)
        elif history.status == "naive":
            recommendation.line = 1
            if history.early_relapse:
                recommendation.kind = "early-relapse"
                line_key = str(self.options["early_relapse_uses_line"])
            else:
                recommendation.kind = "first-line"
                line_key = "1"
            self._line_options(recommendation, line_key, extent, history, safety)
        else:
            recommendation.line = history.current_number + 1
            recommendation.kind = "next-line"
            line_key = str(recommendation.line) if str(recommendation.line) in self.options["lines"] else "4+"
            self._line_options(recommendation, line_key, extent, history, safety)
        self._apply_safety(recommendation, safety)
        return recommendation

    def _maintenance(self, recommendation: Recommendation, receptors: ReceptorStatus, history: TherapyHistory) -> None:
        rule = self.options["maintenance"]
        line = history.current
        if line is None or receptors.hormone_receptor != "positive":
            return
        agents = set(line.agents)
        in_maintenance = not (history.ongoing_agents() & self.chemotherapy)
        if agents & set(rule["when_line_has"]) and in_maintenance and not agents & self.endocrine:
            recommendation.line = history.current_number
            recommendation.kind = "maintenance"
            recommendation.options = [RegimenOption(rule["regimen"], bool(rule["preferred"]), rule["category"], rule["source"])]

    def _applies(self, option: dict[str, Any], extent: DiseaseExtent, history: TherapyHistory) -> bool:
        when = option.get("when", {})
        if "sites_any" in when and not set(when["sites_any"]) & set(extent.sites):
            return False
        if "min_prior_her2_lines" in when:
            prior = sum(1 for line in history.lines if set(line.agents) & self.her2_agents)
            if prior < when["min_prior_her2_lines"]:
                return False
        return True

    def _line_options(
        self,
        recommendation: Recommendation,
        line_key: str,
        extent: DiseaseExtent,
        history: TherapyHistory,
        safety: SafetyFacts,
    ) -> None:
        chosen = [option for option in self.options["lines"][line_key] if self._applies(option, extent, history)]
        naive_rule = self.options.get("pertuzumab_naive_later_lines")
        received = history.received_agents()
        if naive_rule and (recommendation.line or 0) >= naive_rule["from_line"] and "pertuzumab" not in received:
            chosen.extend(naive_rule["add"])
        stopped = history.agents_stopped_for("progression") | history.agents_stopped_for("toxicity")
        options: list[RegimenOption] = []
        for option in chosen:
            regimen = self.knowledge.regimens[option["regimen"]]
            if set(regimen.get("key_agents", [])) & stopped:
                continue
            if any(existing.regimen == option["regimen"] for existing in options):
                continue
            options.append(RegimenOption(option["regimen"], bool(option["preferred"]), option["category"], option["source"]))
        if safety.visceral_crisis:
            crisis = self.options["visceral_crisis"]
            for entry in options:
                if crisis["keep_preferred_only_if_chemotherapy"] and not self.knowledge.regimens[entry.regimen].get(
                    "chemotherapy"
                ):
                    entry.preferred = False
            extra = crisis.get("add_if_absent")
            if extra and not any(entry.regimen == extra["regimen"] for entry in options):
                options.append(RegimenOption(extra["regimen"], bool(extra["preferred"]), extra["category"], crisis["source"]))
        # clinical-trial always last
        options.sort(key=lambda entry: entry.regimen == "clinical-trial")
        recommendation.options = options

    def _apply_safety(self, recommendation: Recommendation, safety: SafetyFacts) -> None:
        """A regimen with a drug whose hepatic or cardiac rule is met is not preferred and carries the label's words."""
        for option in recommendation.options:
            regimen = self.knowledge.regimens[option.regimen]
            for agent in regimen["agents"]:
                for hits in (safety.cardiac_hits, safety.hepatic_hits):
                    hit = hits.get(agent)
                    if hit is not None and hit.changes_drug:
                        option.warnings.append(hit)
            if option.warnings:
                option.preferred = False
            # A partner of the clinician's choice whose label rule is met is named, so the choice avoids it.
            for agent in regimen.get("partner_choices", []):
                hit = safety.hepatic_hits.get(agent)
                if hit is not None and hit.changes_drug:
                    option.partner_warnings.append(hit)


def alerts_of(
    knowledge: Knowledge,
    receptors: ReceptorStatus,
    extent: DiseaseExtent,
    history: TherapyHistory,
    safety: SafetyFacts,
    recommendation: Recommendation,
) -> list[str]:
    """The alert codes of the assessment (contract list), sorted."""
    if not extent.breast_cancer:
        return []
    alerts: set[str] = set()
    ongoing = history.ongoing_agents()
    if any(agent in safety.cardiac_hits for agent in history.active_agents()):
        alerts.add("lvef-decline")
    her2_context = receptors.her2 == "positive" or bool(history.active_agents())
    if safety.low_baseline and her2_context:
        alerts.add("lvef-low-baseline")
    if safety.monitoring_overdue:
        alerts.add("lvef-monitoring-overdue")
    relevant = ongoing | recommendation.offered_agents(knowledge)
    if any(hit.changes_drug and agent in relevant for agent, hit in safety.hepatic_hits.items()):
        alerts.add("hepatic-impairment")
    flags = {
        "visceral-crisis": safety.visceral_crisis,
        "brain-metastases": safety.brain_metastases,
        "her2-equivocal": receptors.her2 == "equivocal",
        "receptor-retest": safety.receptor_retest,
        "liver-local-therapy-review": safety.liver_local_therapy_review,
        "early-relapse": bool(history.early_relapse),
    }
    alerts.update(code for code, raised in flags.items() if raised)
    return sorted(alerts)
