"""Alerts: which safety and data alerts are raised, each with its values, label rows met and source.

The render stage only words and formats an ``Alert``; it does not decide again which rows were met,
whether a drug is given now, or which criteria of a visceral crisis hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from service.infer.disease import DiseaseExtent
from service.infer.label_checks import RuleHit
from service.infer.lines import TherapyHistory
from service.infer.receptors import ReceptorStatus
from service.infer.safety import SafetyFacts
from service.knowledge import Knowledge
from service.recommend.options import Recommendation, relapse_months


@dataclass(frozen=True)
class Measure:
    """One measured value an alert rests on (a visceral-crisis criterion met, for example)."""

    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class Alert:
    """One raised alert: its code, how urgent, the source it rests on, the label rows met and the values to show."""

    code: str
    source: str | None = None  # a label that replaces the card's default source (cards.yaml)
    critical: bool = False  # a label row met for a drug given now
    hits: tuple[RuleHit, ...] = ()
    agents: tuple[str, ...] = ()  # the drugs the alert is about (their labels are linked)
    lvef: float | None = None
    lvef_fall: float | None = None
    lvef_lower_limit: float | None = None
    lvef_last: date | None = None
    monitoring_months: int | None = None
    criteria: tuple[Measure, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict)
    months: int | None = None


ALERT_FACTS = (
    "breast-cancer",
    "lvef-hold-rule-met-on-current-drug",
    "lvef-below-lower-limit",
    "her2-therapy-given-or-possible",
    "lvef-monitoring-overdue",
    "liver-label-row-changes-a-drug",
    "visceral-crisis-liver-criterion",
    "brain-metastases",
    "her2-equivocal",
    "no-receptor-result-since-metastasis",
    "liver-only-disease-controlled",
    "early-relapse",
)  # the facts mappings/alerts.yaml may name (its schema lists the same words)


def alert_facts(  # noqa: PLR0913  (the six stage outputs the facts are read from)
    knowledge: Knowledge,
    receptors: ReceptorStatus,
    extent: DiseaseExtent,
    history: TherapyHistory,
    safety: SafetyFacts,
    recommendation: Recommendation,
) -> frozenset[str]:
    """The named facts (``ALERT_FACTS``) that hold for this patient; alerts.yaml says which alert each raises."""
    active = history.active_agents()
    holds = {
        "breast-cancer": extent.breast_cancer,
        "lvef-hold-rule-met-on-current-drug": any(agent in safety.cardiac_hits for agent in active),
        "lvef-below-lower-limit": safety.low_baseline,
        # HER2 2+ awaiting ISH may be HER2-positive within days: its LVEF before HER2 therapy matters (held-out c61).
        "her2-therapy-given-or-possible": receptors.her2 in ("positive", "equivocal") or bool(active),
        "lvef-monitoring-overdue": safety.monitoring_overdue,
        "liver-label-row-changes-a-drug": bool(hepatic_alert_hits(knowledge, history, safety, recommendation)),
        "visceral-crisis-liver-criterion": safety.visceral_crisis,
        "brain-metastases": safety.brain_metastases,
        "her2-equivocal": receptors.her2 == "equivocal",
        "no-receptor-result-since-metastasis": safety.receptor_retest,
        "liver-only-disease-controlled": safety.liver_local_therapy_review,
        "early-relapse": bool(history.early_relapse),
    }
    return frozenset(fact for fact, held in holds.items() if held)


def alerts_of(  # noqa: PLR0913  (engine.py, owned by the read/infer rewrite, calls it with these six stage outputs)
    knowledge: Knowledge,
    receptors: ReceptorStatus,
    extent: DiseaseExtent,
    history: TherapyHistory,
    safety: SafetyFacts,
    recommendation: Recommendation,
) -> list[str]:
    """The alert codes of the assessment (contract list), sorted: the rules of alerts.yaml applied to the facts."""
    return knowledge.alert_rules.raised(alert_facts(knowledge, receptors, extent, history, safety, recommendation))


def hepatic_alert_hits(
    knowledge: Knowledge, history: TherapyHistory, safety: SafetyFacts, recommendation: Recommendation
) -> list[RuleHit]:
    """Label liver rows that change a current drug or a drug the cards offer or withhold, one per agent: a partner of
    the clinician's choice too ("do not give docetaxel" under trastuzumab + chemotherapy: held-out u91, a bilirubin
    of 1.4 x ULN had raised no hepatic-impairment alert although the card changed the suggested partner)."""
    ongoing = history.ongoing_agents()
    relevant = ongoing | recommendation.offered_agents(knowledge)
    relevant |= {agent for withheld in recommendation.withheld for agent in knowledge.regimen_models[withheld.regimen].agents}
    relevant |= {hit.agent for option in recommendation.options for hit in option.partner_warnings}
    hits = [safety.hepatic_hit(agent, agent in ongoing) for agent in sorted(relevant)]
    return [hit for hit in hits if hit is not None and hit.changes_drug]


def describe_alert(
    knowledge: Knowledge, code: str, history: TherapyHistory, safety: SafetyFacts, recommendation: Recommendation
) -> Alert:
    """The complete alert ``code``: values, rows met, source; what a card needs, decided here once."""
    if code.startswith("lvef"):
        return _lvef_alert(knowledge, code, history, safety)
    if code == "hepatic-impairment":
        hits = tuple(hepatic_alert_hits(knowledge, history, safety, recommendation))
        return Alert(
            code,
            source=hits[0].source if hits else None,
            critical=any(hit.setting == "on-treatment" for hit in hits),
            hits=hits,
            agents=tuple(hit.agent for hit in hits),
        )
    if code == "visceral-crisis":
        return _visceral_crisis_alert(knowledge, code, safety)
    if code == "early-relapse":
        return Alert(code, months=recommendation.relapse_months or relapse_months(knowledge, history))
    return Alert(code)


def _lvef_alert(knowledge: Knowledge, code: str, history: TherapyHistory, safety: SafetyFacts) -> Alert:
    tables = knowledge.label_tables
    active = history.active_agents()
    hits = tuple(safety.cardiac_hits[agent] for agent in sorted(active) if agent in safety.cardiac_hits)
    monitored = tuple(sorted(active & tables.monitored_agents))
    latest = safety.lvef_latest
    # The low-baseline alert is about the line's baseline while an HER2 drug is given (safety facts): that
    # value is the one to name, not a later one that may have recovered.
    shown = safety.lvef_baseline if code == "lvef-low-baseline" and monitored and safety.lvef_baseline else latest
    return Alert(
        code,
        source=hits[0].source if code == "lvef-decline" and hits else None,
        hits=hits if code == "lvef-decline" else (),
        agents=tuple(hit.agent for hit in hits) or monitored,
        lvef=shown.value if shown else None,
        lvef_fall=safety.lvef_fall,
        # The contract's low-baseline threshold (50 %) is the limit that alert names; the others the lab's.
        lvef_lower_limit=tables.lvef_low_baseline_below if code == "lvef-low-baseline" else safety.lvef_lower_limit,
        lvef_last=latest.on if latest else None,
        monitoring_months=tables.monitoring_months,
    )


def _visceral_crisis_alert(knowledge: Knowledge, code: str, safety: SafetyFacts) -> Alert:
    crisis = knowledge.label_tables.visceral_crisis
    bilirubin_limit, transaminase_limit = crisis.bilirubin_mg_dl_above, crisis.transaminase_u_l_above
    liver = safety.liver
    criteria = []
    if liver.bilirubin is not None and liver.bilirubin > bilirubin_limit:
        criteria.append(Measure("bilirubin", liver.bilirubin, "mg/dL"))
    for name, value in (("AST", liver.ast), ("ALT", liver.alt)):
        if value is not None and value > transaminase_limit:
            criteria.append(Measure(name, value, "U/L"))
    return Alert(code, criteria=tuple(criteria), thresholds={"bilirubin": bilirubin_limit, "transaminase": transaminase_limit})
