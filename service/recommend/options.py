"""Options: guideline regimens as eligibility rules (mappings/options.yaml) applied to the inferred facts."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.infer.disease import DiseaseExtent
from service.infer.label_checks import RuleHit
from service.infer.lines import TherapyHistory
from service.infer.receptors import ReceptorStatus
from service.infer.safety import SafetyFacts
from service.knowledge import Eligibility, Knowledge, OptionRule


@dataclass
class RegimenOption:
    """One regimen the cards offer, why (category, source), and the label rules that demoted it."""

    regimen: str
    preferred: bool
    category: str
    source: str
    warnings: list[RuleHit] = field(default_factory=list)
    partner_warnings: list[RuleHit] = field(default_factory=list)


@dataclass(frozen=True)
class WithheldRegimen:
    """A regimen the rules made eligible but a label rule forbids now (never suggested; named in the detail)."""

    regimen: str
    hits: tuple[RuleHit, ...]


@dataclass
class Recommendation:
    """What the service advises: the line and its options, or why no pathway applies."""

    in_scope: bool
    scope_reason: str  # in-scope | no-breast-cancer | breast-cancer-history | not-metastatic | her2-<status>
    line: int | None = None
    kind: str = "none"  # first-line | next-line | early-relapse | maintenance | none
    options: list[RegimenOption] = field(default_factory=list)
    withheld: list[WithheldRegimen] = field(default_factory=list)
    relapse_months: int | None = None  # the early-relapse window that applied (early relapse only)
    maintained_agents: tuple[str, ...] = ()  # the HER2 antibodies continued (maintenance only), sorted
    read_as_line: int | None = None  # a next line whose rules were read as another line (options.yaml next_line_*)
    read_after: tuple[str, ...] = ()  # the agents that moved read_as_line on (options.yaml read_after_agent_at_least)
    # Maintenance additions with trial evidence only, named on the card and not offered (options.yaml
    # maintenance_offered_only_with_preferred)
    trial_additions: tuple[RegimenOption, ...] = ()

    def offered_agents(self, knowledge: Knowledge) -> set[str]:
        """Every agent of every offered regimen."""
        return {agent for option in self.options for agent in knowledge.regimen_models[option.regimen].agents}


def scope_of(extent: DiseaseExtent, receptors: ReceptorStatus) -> str:
    """Why a patient is (not) in the HER2-positive metastatic pathway."""
    if not extent.breast_cancer:
        return "breast-cancer-history" if extent.breast_cancer_history else "no-breast-cancer"
    if not extent.metastatic:
        return "not-metastatic"
    if receptors.her2 == "unknown" and receptors.ish_group is not None:
        return "her2-ish-without-ihc"  # ISH numbers an IHC score must decide (group 3), and none recorded
    if receptors.her2 != "positive":
        return f"her2-{receptors.her2}"
    return "in-scope"


@dataclass(frozen=True)
class Situation:
    """The facts the eligibility predicates read, worked out once per request."""

    setting: str  # treatment | maintenance
    line: int  # the line the predicates compare (early relapse counts as a later line)
    sites: frozenset[str]
    hormone_receptor: str
    received: frozenset[str]
    current_line: frozenset[str]
    her2_metastatic_lines: int
    her2_regimens: int
    stopped: frozenset[str]  # progression or toxicity: regimens with such a key agent are out


def eligible(rule: Eligibility, situation: Situation) -> bool:
    """Every predicate of the rule holds for the situation (docs/clinical-rules.md §6).

    Checked in order and stopped at the first that fails (every request tries each rule of
    options.yaml: most fail on the setting or the line).
    """
    return (
        rule.setting == situation.setting
        and (rule.line_min is None or situation.line >= rule.line_min)
        and (rule.line_max is None or situation.line <= rule.line_max)
        and (not rule.sites_any or not rule.sites_any.isdisjoint(situation.sites))
        and (rule.hormone_receptor is None or rule.hormone_receptor == situation.hormone_receptor)
        and rule.never_received.isdisjoint(situation.received)
        and rule.current_line_lacks.isdisjoint(situation.current_line)
        and situation.her2_metastatic_lines >= rule.min_prior_her2_metastatic_lines
        and situation.her2_regimens >= rule.min_prior_her2_regimens
    )


def her2_metastatic_lines(history: TherapyHistory, her2_agents: frozenset[str] | set[str]) -> int:
    """The metastatic lines holding an HER2 agent: the anti-HER2 regimens for metastatic disease the
    options' predicates and the labels' prior-therapy requirements count."""
    return sum(1 for line in history.lines if not her2_agents.isdisjoint(line.agents))


def relapse_months(knowledge: Knowledge, history: TherapyHistory) -> int:
    """The early-relapse window that applied (longer after some adjuvant agents, mappings/lines.yaml)."""
    relapse = knowledge.lines["early_relapse"]
    longer = [months for agent, months in relapse.get("months_if_agent", {}).items() if agent in history.adjuvant_agents]
    return int(max([relapse["months"], *longer]))


class Recommender:
    """Applies mappings/options.yaml to the inferred facts."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.options = knowledge.options
        self.regimens = knowledge.regimen_models
        self.rules: tuple[OptionRule, ...] = knowledge.option_rules
        # The rules of each setting (treatment, maintenance), in the file's order: a request tries only its own.
        self.rules_by_setting: dict[str, tuple[OptionRule, ...]] = {}
        for rule in self.rules:
            setting = rule.eligible.setting
            self.rules_by_setting[setting] = (*self.rules_by_setting.get(setting, ()), rule)
        self.her2_agents = knowledge.agents_of_class(*self.options["her2_classes"])
        self.maintenance_agents = frozenset(self.options["maintenance_when_line_has"])
        # Agents whose being given means the chemotherapy phase is not over (options.yaml maintenance_not_while).
        self.not_maintenance = knowledge.agents_of_class(*self.options["maintenance_not_while"])
        self.offered_only_with_preferred = bool(self.options.get("maintenance_offered_only_with_preferred"))
        # Agents after which a next line reads at least a later line (options.yaml read_after_agent_at_least).
        self.read_after_agent = {agent: int(line) for agent, line in self.options.get("read_after_agent_at_least", {}).items()}

    def recommend(
        self, extent: DiseaseExtent, receptors: ReceptorStatus, history: TherapyHistory, safety: SafetyFacts
    ) -> Recommendation:
        """The line to offer and its options, per docs/clinical-rules.md §6."""
        scope = scope_of(extent, receptors)
        if scope != "in-scope":
            return Recommendation(in_scope=False, scope_reason=scope)
        recommendation = Recommendation(in_scope=True, scope_reason=scope)
        if history.status == "on-treatment":
            if not self._in_maintenance(history):
                return recommendation
            recommendation.line, recommendation.kind = history.current_number, "maintenance"
            current = set(history.current.agents) if history.current else set()
            recommendation.maintained_agents = tuple(sorted(current & self.maintenance_agents))
            situation = self._situation("maintenance", history.current_number, extent, receptors, history)
        elif history.status == "naive":
            recommendation.line = 1
            recommendation.kind = "early-relapse" if history.early_relapse else "first-line"
            if history.early_relapse:
                recommendation.relapse_months = relapse_months(self.knowledge, history)
            line = int(self.options["early_relapse_counts_as_line"]) if history.early_relapse else 1
            situation = self._situation("treatment", line, extent, receptors, history)
        else:
            recommendation.line, recommendation.kind = history.current_number + 1, "next-line"
            line = self._read_next_line_as(recommendation, history)
            situation = self._situation("treatment", line, extent, receptors, history)
        recommendation.options = self._eligible_options(situation)
        if recommendation.kind != "maintenance" and safety.visceral_crisis:
            self._visceral_crisis(recommendation)
        self._apply_safety(recommendation, safety, history)
        if recommendation.kind == "maintenance" and self.offered_only_with_preferred:
            if not any(option.preferred for option in recommendation.options):  # evidence only: no change suggested
                recommendation.trial_additions, recommendation.options = tuple(recommendation.options), []
        if recommendation.kind == "maintenance" and not recommendation.options:
            recommendation.line, recommendation.kind = None, "none"
        return recommendation

    def _read_next_line_as(self, recommendation: Recommendation, history: TherapyHistory) -> int:
        """The line whose rules a next line reads (options.yaml next_line_counts_her2_lines and
        read_after_agent_at_least): the HER2-directed line it starts, at least the line after an agent
        the sequence places later; noted on the recommendation when it is not the line reached."""
        line = int(recommendation.line or 1)
        if self.options.get("next_line_counts_her2_lines"):
            relapse = int(self.options["early_relapse_counts_as_line"]) - 1 if history.early_relapse else 0
            line = self._her2_metastatic_lines(history) + relapse + 1
        given = {agent for given_line in history.lines for agent in given_line.agents}
        if history.early_relapse:
            given |= set(history.adjuvant_agents)
        later = self.read_after_agent
        floor = max((at_least for agent, at_least in later.items() if agent in given), default=0)
        after: tuple[str, ...] = ()
        if floor > line:
            line = floor
            after = tuple(sorted(agent for agent in later if agent in given and later[agent] == floor))
        if line != recommendation.line:
            recommendation.read_as_line, recommendation.read_after = line, after
        return line

    def _her2_metastatic_lines(self, history: TherapyHistory) -> int:
        return her2_metastatic_lines(history, self.her2_agents)

    def _in_maintenance(self, history: TherapyHistory) -> bool:
        """On HER2 antibodies with no chemotherapy or antibody-drug conjugate ongoing (the chemotherapy
        phase is over; options.yaml maintenance_not_while)."""
        line = history.current
        if line is None:
            return False
        return bool(set(line.agents) & self.maintenance_agents) and not history.ongoing_agents() & self.not_maintenance

    def _situation(
        self, setting: str, line: int, extent: DiseaseExtent, receptors: ReceptorStatus, history: TherapyHistory
    ) -> Situation:
        her2_lines = self._her2_metastatic_lines(history)
        adjuvant = 1 if set(history.adjuvant_agents) & self.her2_agents else 0
        current = history.current
        return Situation(
            setting=setting,
            line=line,
            sites=frozenset(extent.sites),
            hormone_receptor=receptors.hormone_receptor,
            received=frozenset(history.received_agents() | set(history.adjuvant_agents)),
            current_line=frozenset(current.agents if current else ()),
            her2_metastatic_lines=her2_lines,
            her2_regimens=her2_lines + adjuvant,
            stopped=frozenset(history.refractory_agents() | history.agents_stopped_for("toxicity")),
        )

    def _eligible_options(self, situation: Situation) -> list[RegimenOption]:
        """The first eligible rule of each regimen, in rule order, clinical trial last."""
        chosen: dict[str, RegimenOption] = {}
        for rule in self.rules_by_setting.get(situation.setting, ()):
            if rule.regimen in chosen or not eligible(rule.eligible, situation):
                continue
            if self.regimens[rule.regimen].key_agents & situation.stopped:
                continue
            chosen[rule.regimen] = RegimenOption(rule.regimen, rule.preferred, rule.category, rule.source)
        options = list(chosen.values())
        options.sort(key=lambda option: option.regimen == "clinical-trial")
        return options

    def _visceral_crisis(self, recommendation: Recommendation) -> None:
        """Visceral crisis: only chemotherapy-containing regimens stay preferred; one is added if none is offered."""
        crisis = self.options["visceral_crisis"]
        if crisis["keep_preferred_only_if_chemotherapy"]:
            for option in recommendation.options:
                if not self.regimens[option.regimen].chemotherapy:
                    option.preferred = False
        extra = crisis.get("add_if_absent")
        if extra and not any(option.regimen == extra["regimen"] for option in recommendation.options):
            added = RegimenOption(extra["regimen"], bool(extra["preferred"]), extra["category"], crisis["source"])
            recommendation.options.insert(len([o for o in recommendation.options if o.regimen != "clinical-trial"]), added)

    def _apply_safety(self, recommendation: Recommendation, safety: SafetyFacts, history: TherapyHistory) -> None:
        """Label rules met for a drug of a regimen: withhold it (label forbids) or demote it with the label's words."""
        ongoing = history.ongoing_agents()
        kept: list[RegimenOption] = []
        for option in recommendation.options:
            regimen = self.regimens[option.regimen]
            for agent in regimen.agents:
                for hit in (safety.cardiac_hits.get(agent), safety.hepatic_hit(agent, agent in ongoing)):
                    if hit is not None and hit.changes_drug:
                        option.warnings.append(hit)
            # Adding to a drug the label says to hold now would contradict the hold: withhold the addition.
            held = [
                safety.cardiac_hits.get(agent) or safety.hepatic_hit(agent, True)
                for agent in regimen.continues
                if agent in ongoing
            ]
            withholding = tuple(hit for hit in option.warnings if hit.withhold)
            withholding += tuple(hit for hit in held if hit is not None and hit.changes_drug)
            if withholding:
                recommendation.withheld.append(WithheldRegimen(option.regimen, withholding))
                continue
            if option.warnings and not all(hit.keeps_preferred for hit in option.warnings):  # a dose set keeps the mark
                option.preferred = False
            # A partner of the clinician's choice whose label rule is met is named, so the choice avoids it.
            for agent in regimen.partner_choices:
                hit = safety.hepatic_hit(agent, agent in ongoing)
                if hit is not None and hit.changes_drug:
                    option.partner_warnings.append(hit)
            kept.append(option)
        recommendation.options = kept
