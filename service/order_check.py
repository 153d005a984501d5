"""order-select / order-sign: check draft MedicationRequests against history and label safety."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from service.domain import Finding
from service.engine import Evaluation
from service.infer.lines import TherapyHistory, add_months
from service.knowledge import Knowledge
from service.knowledge.cards import ORDER_CHECK_TOPIC
from service.knowledge.models import FindingRule
from service.normalise import Normaliser
from service.read.medications import unresolved_reference
from service.recommend.options import her2_metastatic_lines, relapse_months
from service.render import INDICATOR_RANK, CardRenderer, RenderContext, clip, prune
from service.render.text import ordinal

# Requests that group an order session's drafts (an oncology treatment plan): the MedicationRequests they
# contain are drafts of the session too.
_PLANS = frozenset({"RequestGroup", "CarePlan"})


def _draft_resources(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    bundle = context.get("draftOrders")
    if not isinstance(bundle, Mapping):
        return []
    resources = [
        entry["resource"]
        for entry in bundle.get("entry") or []
        if isinstance(entry, Mapping) and isinstance(entry.get("resource"), dict)
    ]
    contained = [
        inner
        for resource in resources
        if resource.get("resourceType") in _PLANS and isinstance(resource.get("contained"), list)
        for inner in resource["contained"]
        if isinstance(inner, dict) and inner.get("resourceType") == "MedicationRequest"
    ]
    return resources + contained


def draft_medications(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Medication resources ``context.draftOrders`` carries beside its orders (drugs they reference)."""
    return [r for r in _draft_resources(context) if r.get("resourceType") == "Medication"]


def draft_medication_requests(context: Mapping[str, Any], hook: str) -> list[dict[str, Any]]:
    """The draft MedicationRequests of ``context.draftOrders`` (only the selected ones for order-select).

    A draft with ``doNotPerform`` true orders that the drug is not given: nothing to warn of.
    """
    orders = [
        r for r in _draft_resources(context) if r.get("resourceType") == "MedicationRequest" and r.get("doNotPerform") is not True
    ]
    selections = context.get("selections")
    if hook == "order-select" and isinstance(selections, list) and selections:
        chosen = {str(s) for s in selections}
        orders = [r for r in orders if f"MedicationRequest/{r.get('id')}" in chosen] or orders
    return orders


def _listed(link: dict[str, str] | None) -> list[dict[str, str]] | None:
    return [link] if link is not None else None


# Issues about the choice of drug (not about monitoring it): a draft with one gets no not-an-option card.
_CHOICE_ISSUES = frozenset({"progressed", "early-relapse", "toxicity", "her2-status", "hr-status"})


@dataclass(frozen=True)
class _Issue:
    """One fact that argues against a draft order: its card's kind, indicator, summary, why and source."""

    key: str
    indicator: str
    summary: str
    why: str
    source: str
    agents: tuple[str, ...]
    drug: str = ""  # the drug's name as the summary gives it (one agent's issues)

    def alike(self, other: _Issue) -> bool:
        """The same rule about another drug of the draft, in the same words but for the drug's name."""
        return (
            bool(self.drug and other.drug)
            and self.summary.count(self.drug) == 1  # the name in one place only: the drug's
            and (self.key, self.indicator, self.why, self.source) == (other.key, other.indicator, other.why, other.source)
            and self.summary.replace(self.drug, "{drug}") == other.summary.replace(other.drug, "{drug}")
        )


@dataclass(frozen=True)
class _Given:
    """What the history says about agents, read once per hook answer (not once per draft and agent)."""

    progressed: set[str]
    refractory: set[str]  # progressed on, or relapsed soon after their (neo)adjuvant use
    toxic: set[str]
    ongoing: set[str]

    @classmethod
    def of(cls, evaluation: Evaluation) -> _Given:
        history = evaluation.history
        return cls(
            history.agents_stopped_for("progression"),
            history.refractory_agents(),
            history.agents_stopped_for("toxicity"),
            history.ongoing_agents(),
        )


class OrderChecker:
    """Warning cards for each draft order of an HER2 agent or partner that the patient's facts argue against."""

    def __init__(self, knowledge: Knowledge, normaliser: Normaliser, renderer: CardRenderer) -> None:
        self.knowledge = knowledge
        self.normaliser = normaliser
        self.renderer = renderer
        self.key_agents = {a for regimen in knowledge.regimen_models.values() for a in regimen.key_agents}
        # Agents the options offer again only if never received (options.yaml never_received: pertuzumab,
        # ASCO 2022 rec 3.1.9): a draft of one the disease progressed on is warned of as a key agent is,
        # citing that rule's source.
        self.never_again: dict[str, str] = {}
        for rule in knowledge.option_rules:
            for agent in rule.eligible.never_received:
                self.never_again.setdefault(agent, rule.source)
        self.her2_agents = knowledge.agents_of_class(*knowledge.options["her2_classes"])
        # Endocrine agents and CDK4/6 inhibitors, warned of with ER and PR negative (options.yaml hormone_receptor_classes).
        hormone = knowledge.options.get("hormone_receptor_classes", [])
        exempt = set(knowledge.options.get("hormone_receptor_exempt", []))
        self.hormone_agents = frozenset(knowledge.agents_of_class(*hormone)) - exempt if hormone else frozenset()
        # HER2 agents whose label covers a status other than positive (options.yaml her2_other_indications).
        self.other_indications = {entry["agent"]: entry for entry in knowledge.options.get("her2_other_indications", [])}
        # The prior HER2 therapy each label asks for (options.yaml label_prior_her2_therapy).
        self.label_prior: dict[str, dict[str, Any]] = dict(knowledge.options.get("label_prior_her2_therapy", {}))
        tables = knowledge.label_tables
        self.lvef_monitored = tables.monitored_agents
        # LVEF "before start" counts as recent within one monitoring interval (cards.yaml no-recent-lvef).
        self.lvef_recent_months = tables.monitoring_months
        self.tables = tables
        self.pregnancy = tables.pregnancy
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

    def _issues(self, evaluation: Evaluation, given: _Given, agent: str) -> list[_Issue]:
        """Each fact that argues against ordering ``agent``."""
        templates = self.templates
        history = evaluation.history
        display = self.renderer.displays[agent]
        issues: list[_Issue] = []

        def add(key: str, indicator: str, summary: str, why: str | None = None, source: str | None = None) -> None:
            issues.append(_Issue(key, indicator, summary, why or summary, source or self.sources[key], (agent,), display))

        if agent in given.progressed and (agent in self.key_agents or agent in self.never_again):
            line = next((ln.number for ln in history.lines if ln.progressed and agent in ln.agents), None)
            source = None if agent in self.key_agents else self.never_again[agent]
            add("progressed", "warning", templates["progressed"].format(drug=display, line=line), source=source)
        elif (agent in self.key_agents or agent in self.never_again) and agent in given.refractory:
            # Relapsed soon after its (neo)adjuvant use: that course counts as a line progressed on, so
            # pertuzumab (offered only if never received) is warned of as a key agent is. Trastuzumab, the
            # partner of later lines, is not.
            months = relapse_months(self.knowledge, history)
            add("early-relapse", "warning", templates["early-relapse"].format(drug=display, months=months))
        if agent in given.toxic:
            add("toxicity", "warning", templates["toxicity"].format(drug=display))
        hit = evaluation.safety.cardiac_hits.get(agent)
        if hit is not None:
            add("cardiac", "critical", templates["cardiac"].format(drug=display), hit.action, hit.source)
        hit = evaluation.safety.hepatic_hit(agent, agent in given.ongoing)
        if hit is not None and hit.changes_drug:
            add("hepatic", "critical", templates["hepatic"].format(drug=display, effect=hit.effect), hit.action, hit.source)
        for kind, indicator, summary, why, source in self._finding_issues(evaluation, agent, display):
            add(kind, indicator, summary, why, source)
        her2 = self._her2_issue(evaluation.receptors.her2, agent, display)
        if her2 is not None:
            add("her2-status", "warning", *her2)
        if agent in self.hormone_agents and evaluation.receptors.hormone_receptor == "negative":
            add("hr-status", "warning", templates["hr-status"].format(drug=display))
        return issues

    def _finding_issues(self, evaluation: Evaluation, agent: str, display: str) -> list[tuple[str, str, str, str, str]]:
        """(kind, indicator, summary, why, source) for each finding on record that a rule of ``agent``'s
        label is about: a current pregnancy (safety.yaml pregnancy), ILD or pneumonitis (lung), heart
        failure or cardiomyopathy (heart). A warning, but critical when the record grades the lung disease
        at or above the grade from which the label stops the drug for good, after the drug was given."""
        templates, found_issues = self.templates, []
        pregnancy, rule = evaluation.safety.pregnancy, self.pregnancy
        if pregnancy is not None and rule is not None and agent in rule.agents:
            when = self.renderer.pregnancy_when(pregnancy)
            found_issues.append(
                ("pregnancy", "warning", templates["pregnancy"].format(drug=display, when=when), rule.action, rule.source)
            )
        for kind, rules in (("lung", self.tables.lung), ("heart", self.tables.heart)):
            found, _ = evaluation.safety.finding(kind)
            finding_rule = self.tables.rule_of(rules, agent)
            if found is None or finding_rule is None:
                continue
            graded = self._graded_after(evaluation, finding_rule, agent) if kind == "lung" else None
            if graded is not None:
                on = graded.on.isoformat() if graded.on else "date unknown"
                summary = templates["lung-stop"].format(drug=display, grade=graded.grade, on=on)
                found_issues.append((kind, "critical", summary, finding_rule.stop_action, finding_rule.source))
                continue
            summary = templates[kind].format(drug=display, when=self.renderer.finding_when(found))
            found_issues.append((kind, "warning", summary, finding_rule.action, finding_rule.source))
        return found_issues

    @staticmethod
    def _graded_after(evaluation: Evaluation, rule: FindingRule, agent: str) -> Finding | None:
        """The record of the highest grade, at or above ``rule.stop_from_grade``, of lung disease recorded
        after ``agent`` was first given (a metastatic line's start on or before its date) or on ``agent``'s
        own stop reason; None when there is none (an earlier radiation pneumonitis is not the drug's)."""
        if rule.stop_from_grade is None:
            return None
        starts = [e.start for line in evaluation.history.lines for e in line.exposures if e.agent == agent]
        graded = [
            found
            for found in evaluation.safety.lung_graded
            if (found.grade or 0) >= rule.stop_from_grade
            and (agent in found.stopped or (found.on is not None and any(start <= found.on for start in starts)))
        ]
        return max(graded, key=lambda found: (found.grade or 0, found.on or date.min)) if graded else None

    def _her2_issue(self, her2: str, agent: str, display: str) -> tuple[str, str | None, str | None] | None:
        """(summary, why, source) when an HER2 agent is ordered and HER2 is not positive, unless the
        status is on the agent's label (options.yaml her2_other_indications)."""
        if agent not in self.her2_agents or her2 == "positive":
            return None
        other = self.other_indications.get(agent, {})
        if her2 in other.get("confirm", {}):  # the label covers some results of this status only
            return self.templates["her2-status-confirm"].format(drug=display, her2=her2), other["confirm"][her2], other["source"]
        if her2 in other.get("on_label", []):  # the label's own indication, outside the HER2-positive options
            return None
        return self.templates["her2-status"].format(drug=display, her2=her2), None, None

    def _lvef_overdue(self, evaluation: Evaluation, given: _Given, agents: list[str]) -> list[_Issue]:
        """One issue for the drugs of LVEF monitoring an order continues (given now, no hold rule met) when
        no LVEF is as recent as the labels' monitoring interval (the chart's lvef-monitoring-overdue)."""
        hits = evaluation.safety.cardiac_hits
        going = tuple(a for a in agents if a in self.lvef_monitored and a in given.ongoing and a not in hits)
        latest = evaluation.safety.lvef_latest
        if not going or (latest is not None and latest.on >= add_months(evaluation.now, -self.lvef_recent_months)):
            return []
        last = "none recorded" if latest is None else latest.on.isoformat()
        drugs = self.renderer.agents_text(going)
        summary = self.templates["overdue-lvef"].format(drug=drugs, months=self.lvef_recent_months, last=last)
        why = self.templates["overdue-lvef-why"]
        return [_Issue("overdue-lvef", "warning", summary, why, self.sources["overdue-lvef"], going)]

    def _lvef_before_start(self, evaluation: Evaluation, given: _Given, agents: list[str]) -> list[_Issue]:
        """One issue for the drugs of LVEF monitoring an order starts (not given now, no hold rule met):
        the latest LVEF is below the lower limit, or none is recent."""
        hits = evaluation.safety.cardiac_hits
        starting = tuple(a for a in agents if a in self.lvef_monitored and a not in given.ongoing and a not in hits)
        if not starting:
            return []
        drugs = self.renderer.agents_text(starting)
        safety = evaluation.safety
        latest = safety.lvef_latest
        if latest is None or latest.on < add_months(evaluation.now, -self.lvef_recent_months):
            last = "none recorded" if latest is None else latest.on.isoformat()
            summary = self.templates["no-recent-lvef"].format(drug=drugs, months=self.lvef_recent_months, last=last)
            why = self.templates["no-recent-lvef-why"]
            return [_Issue("no-recent-lvef", "warning", summary, why, self.sources["no-recent-lvef"], starting)]
        if latest.value < safety.lvef_lower_limit:
            lvef, lln = f"{latest.value:g}", f"{safety.lvef_lower_limit:g}"
            summary = self.templates["low-lvef"].format(drug=drugs, lvef=lvef, lln=lln)
            return [_Issue("low-lvef", "warning", summary, self.templates["low-lvef-why"], self.sources["low-lvef"], starting)]
        return []

    def _not_an_option(self, evaluation: Evaluation, given: _Given, agents: list[str], issues: list[_Issue]) -> list[_Issue]:
        """An information issue for the HER2 agents of an order that no option of the line the patient is due
        for holds and that are not given now, unless the history or HER2 status already argues against the
        order: T-DM1 drafted for an untreated patient."""
        recommendation = evaluation.recommendation
        if any(issue.key in _CHOICE_ISSUES for issue in issues):
            return []  # a draft the history or HER2 status argues against is already on a card
        if recommendation.trial_additions:  # stable on maintenance: no change suggested, the additions named
            return self._no_change(evaluation, given, agents)
        if not recommendation.options or recommendation.line is None:
            return []
        offered = recommendation.offered_agents(self.knowledge) | set(recommendation.maintained_agents)
        outside = tuple(a for a in agents if a in self.her2_agents and a not in offered | given.ongoing)
        if not outside:
            return []
        regimens = self.knowledge.regimen_models
        titles = [regimens[option.regimen].title for option in recommendation.options]
        line = self.renderer.line_words(recommendation)
        line = f"maintenance of the {line}" if recommendation.kind == "maintenance" else line
        why = self.templates["not-an-option-why"].format(line=line, options="; ".join(titles))
        off_label = [agent for agent in outside if self._before_its_label(agent, evaluation.history)]
        issues = [
            _Issue(
                "off-label",
                "warning",
                self.templates["off-label"].format(
                    drug=self.renderer.displays[agent], line=line, label=self.label_prior[agent]["words"]
                ),
                f"{self.label_prior[agent]['label']} {why}",
                self.label_prior[agent]["source"],
                (agent,),
            )
            for agent in off_label
        ]
        rest = tuple(agent for agent in outside if agent not in off_label)
        if rest:
            summary = self.templates["not-an-option"].format(drug=self.renderer.agents_text(rest), line=line)
            issues.append(_Issue("not-an-option", "info", summary, why, self.sources["not-an-option"], rest))
        return issues

    def _before_its_label(self, agent: str, history: TherapyHistory) -> bool:
        """Whether the record shows less prior HER2 therapy than ``agent``'s label asks for (options.yaml
        label_prior_her2_therapy), counted as the options' predicates count it."""
        asks = self.label_prior.get(agent)
        if asks is None:
            return False
        metastatic = her2_metastatic_lines(history, self.her2_agents)
        adjuvant = 1 if self.her2_agents & set(history.adjuvant_agents) else 0
        if asks.get("or_early_relapse") and history.early_relapse:
            metastatic += 1
        return metastatic < asks["metastatic_at_least"] or metastatic + adjuvant < asks.get("overall_at_least", 0)

    def _no_change(self, evaluation: Evaluation, given: _Given, agents: list[str]) -> list[_Issue]:
        """An information issue for the HER2 agents of an order for a patient stable on maintenance with no
        change of therapy suggested, other than the maintenance and its additions with trial evidence."""
        named = {
            a
            for option in evaluation.recommendation.trial_additions
            for a in self.knowledge.regimen_models[option.regimen].agents
        }
        named |= set(evaluation.recommendation.maintained_agents)
        outside = tuple(a for a in agents if a in self.her2_agents and a not in named | given.ongoing)
        if not outside:
            return []
        line = f"maintenance of the {ordinal(evaluation.history.current_number)} line"
        summary = self.templates["not-an-option"].format(drug=self.renderer.agents_text(outside), line=line)
        why = self.templates["no-change-why"].format(line=line)
        return [_Issue("not-an-option", "info", summary, why, self.sources["not-an-option"], outside)]

    def _premedication(self, evaluation: Evaluation, given: _Given, agents: list[str], drafted: set[str | None]) -> list[_Issue]:
        """A warning for a drug whose label wants another started with its first dose (safety.yaml premedication:
        loperamide with neratinib), ordered for a patient not given it now, with that drug neither on record
        within ``recent_days`` (ongoing, or its last day that recent) nor among the drafts of the order set."""
        issues = []
        recent = evaluation.now - timedelta(days=self.tables.premedication_days)
        for rule in self.tables.premedication:
            if rule.agent not in agents or rule.agent in given.ongoing or rule.drug in drafted:
                continue
            on_record = [
                p for p in evaluation.record.premedications if p.name == rule.drug and (p.ongoing or p.last_day >= recent)
            ]
            if not on_record:
                display = self.renderer.displays[rule.agent]
                summary = self.templates["premedication"].format(drug=display, premedication=rule.drug)
                issues.append(_Issue("premedication", "warning", summary, rule.action, rule.source, (rule.agent,), display))
        return issues

    def _joined(self, issues: list[_Issue]) -> list[_Issue]:
        """One issue for the drugs of one draft that a rule is about in the same words (Phesgo's pertuzumab
        and trastuzumab with a pregnancy on record: one card, not two alike but for the drug's name)."""
        groups: list[list[_Issue]] = []
        for issue in issues:
            group = next((group for group in groups if group[0].alike(issue)), None)
            if group is None:
                groups.append([issue])
            else:
                group.append(issue)
        joined = []
        for first, *others in groups:
            if others:
                agents = tuple(agent for issue in (first, *others) for agent in issue.agents)
                summary = first.summary.replace(first.drug, self.renderer.agents_text(agents))
                first = _Issue(first.key, first.indicator, summary, first.why, first.source, agents)
            joined.append(first)
        return joined

    def _card(
        self, evaluation: Evaluation, context: RenderContext, orders: list[dict[str, Any]], issue: _Issue
    ) -> dict[str, Any]:
        """The card of one issue about ``orders``: the draft, or the drafts of one drug the issue is about in
        the same words (a loading and a maintenance dose: one card, one suggestion removing both)."""
        agents = "+".join(issue.agents)
        drugs = self.renderer.agents_text(issue.agents)
        order_id = ",".join(str(order.get("id")) for order in orders)
        order_refs = [f"MedicationRequest/{order['id']}" for order in orders if order.get("id")]
        card: dict[str, Any] = {
            "uuid": self.renderer.card_uuid(context, f"order:{order_id}:{agents}:{issue.key}"),
            "summary": clip(issue.summary),
            "indicator": issue.indicator,
            "detail": "\n".join(
                [f"**{drugs}**: {issue.why}", "", "**Patient facts**", "", *self.renderer.order_facts(evaluation, issue.key)]
            ),
            "source": self.renderer.source_of(issue.source, ORDER_CHECK_TOPIC, context),
            "overrideReasons": self.renderer.override_reasons(),
            # The drugs' labels; a drug with none (an endocrine drug, a partner) links the rule's source.
            "links": self.renderer.label_links(list(issue.agents)) or _listed(self.renderer.source_link(issue.source)),
        }
        suggestions = []
        if issue.key in ("no-recent-lvef", "overdue-lvef"):  # the assessment the label asks for, as a draft order
            echo = self.renderer.service_request("echo", context.patient_id, issue.summary)
            suggestions.append(
                {
                    "label": f"Order: {echo['code']['text']}",
                    "uuid": self.renderer.card_uuid(context, f"order-echo:{order_id}:{agents}"),
                    "isRecommended": True,
                    "actions": [{"type": "create", "description": issue.summary, "resource": echo}],
                }
            )
        if order_refs:
            several = f"the {len(order_refs)} draft orders" if len(order_refs) > 1 else "the draft order"
            suggestions.append(
                {
                    "label": f"Remove {several} for {drugs}",
                    "uuid": self.renderer.card_uuid(context, f"order-remove:{order_id}:{agents}:{issue.key}"),
                    "actions": [
                        {"type": "delete", "description": f"Remove draft {drugs}", "resourceId": ref} for ref in order_refs
                    ],
                }
            )
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        return prune(card)

    def _deceased(
        self, evaluation: Evaluation, context: RenderContext, checked: list[tuple[dict[str, Any], list[str]]]
    ) -> list[dict[str, Any]]:
        """One card for the drafts of drugs the service checks (``checked``: each with its agents) when the
        Patient record states a death."""
        if not checked:
            return []
        agents = tuple(sorted({agent for _, found in checked for agent in found}))
        on = evaluation.record.deceased_on
        summary = self.templates["deceased"].format(
            when=f" on {on.isoformat()}" if on else "", drug=self.renderer.agents_text(agents)
        )
        why = self.knowledge.wording.scope_detail["deceased"]
        issue = _Issue("deceased", "warning", summary, why, self.sources["deceased"], agents)
        return [self._card(evaluation, context, [order for order, _ in checked], issue)]

    def cards(  # noqa: PLR0913
        self,
        evaluation: Evaluation,
        orders: list[dict[str, Any]],
        context: RenderContext,
        medications: Mapping[str, set[str]] | None = None,
        session: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """``medications``: ``Medication/id`` -> agents, for drafts that reference their drug. ``session``: every
        draft of the order session (order-select checks the selected ones, ``orders``; a premedication drafted
        beside them, selected or not, is drafted all the same)."""
        given = _Given.of(evaluation)
        drafts = session if session is not None else orders
        drafted = {self.normaliser.premedication_of(order) for order in drafts} if self.tables.premedication else set()
        # An issue raised in the same words about several drafts (a loading and a maintenance dose of one
        # drug): one card naming them all, in the place of the first.
        about: dict[_Issue, list[dict[str, Any]]] = {}
        checked: list[tuple[dict[str, Any], list[str]]] = []  # the drafts naming a drug the service checks
        for order in orders:
            agents = sorted(self.normaliser.agents_of_record(order, medications or {}))
            if agents:
                checked.append((order, agents))
            issues = [issue for agent in agents for issue in self._issues(evaluation, given, agent)]
            issues += self._lvef_before_start(evaluation, given, agents) or self._lvef_overdue(evaluation, given, agents)
            issues += self._not_an_option(evaluation, given, agents, issues)
            issues += self._premedication(evaluation, given, agents, drafted)
            for issue in self._joined(issues):
                drafts_of = about.setdefault(issue, [])
                if not any(draft is order for draft in drafts_of):  # an issue twice of one draft: one card
                    drafts_of.append(order)
        cards = [self._card(evaluation, context, drafts_of, issue) for issue, drafts_of in about.items()]
        if evaluation.deceased:
            cards += self._deceased(evaluation, context, checked)
        # Critical first, then warnings (CDS Hooks leaves order to the service; EHRs show the first ones).
        return sorted(cards, key=lambda card: INDICATOR_RANK[card["indicator"]])
