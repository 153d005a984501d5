"""Safety facts: LVEF against each agent's label rule, liver function, visceral crisis, data gaps.

The label tables are compiled into checks once, at start-up: service/infer/label_checks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from service.domain import Finding, LabResult, PatientRecord, Pregnancy
from service.infer.disease import DiseaseExtent
from service.infer.label_checks import (
    LIVER_SETTINGS,
    LiverTable,
    RuleHit,
    cardiac_checks,
    liver_checks,
    liver_predicates_hold,
    weakest_predicates,
)
from service.infer.lines import TherapyHistory, add_months
from service.knowledge import Knowledge


@dataclass
class LiverValues:
    """Latest liver labs as value and multiple of ULN (bilirubin in mg/dL)."""

    bilirubin: float | None = None
    bilirubin_x: float | None = None
    ast: float | None = None
    ast_x: float | None = None
    alt: float | None = None
    alt_x: float | None = None
    alp_x: float | None = None
    latest: date | None = None

    @property
    def transaminase_x(self) -> float | None:
        values = [value for value in (self.ast_x, self.alt_x) if value is not None]
        return max(values) if values else None

    def measures(self) -> dict[str, float | None]:
        """The multiples of ULN the label liver rows compare (``LIVER_PREDICATES``), worked out once per patient."""
        return {"bilirubin_x": self.bilirubin_x, "transaminase_x": self.transaminase_x, "alp_x": self.alp_x}


@dataclass
class SafetyFacts:
    """Everything the cards need to warn about, computed once per request."""

    lvef_latest: LabResult | None = None
    lvef_baseline: LabResult | None = None
    lvef_fall: float | None = None
    lvef_lower_limit: float = 50.0
    liver: LiverValues = field(default_factory=LiverValues)
    cardiac_hits: dict[str, RuleHit] = field(default_factory=dict)
    hepatic_hits: dict[str, RuleHit] = field(default_factory=dict)  # rows for a drug the patient receives
    hepatic_start_hits: dict[str, RuleHit] = field(default_factory=dict)  # rows for a drug not yet given
    visceral_crisis: bool = False
    monitoring_overdue: bool = False
    low_baseline: bool = False
    brain_metastases: bool = False
    receptor_retest: bool = False
    liver_local_therapy_review: bool = False
    lung_disease: Finding | None = None  # the record of ILD/pneumonitis to name: active first, then the latest
    lung_agents_given: tuple[str, ...] = ()  # drugs of safety.yaml lung given now while that record is active
    lung_graded: tuple[Finding, ...] = ()  # the records of lung disease that give it a grade
    heart_failure: Finding | None = None  # the record of heart failure or cardiomyopathy to name, as lung_disease
    heart_agents_given: tuple[str, ...] = ()  # drugs of safety.yaml heart given now while that record is active
    pregnancy: Pregnancy | None = None  # a current pregnancy on record (the latest), safety.yaml pregnancy

    def finding(self, kind: str) -> tuple[Finding | None, tuple[str, ...]]:
        """The record of finding ``kind`` to name ("lung": ILD or pneumonitis; "heart": heart failure or
        cardiomyopathy) and the drugs of its label rules given now while it is active."""
        if kind == "lung":
            return self.lung_disease, self.lung_agents_given
        return self.heart_failure, self.heart_agents_given

    def hepatic_hit(self, agent: str, ongoing: bool) -> RuleHit | None:
        """The label liver row that applies to ``agent``: the on-treatment table if it is given now, else the starting one."""
        return self.hepatic_hits.get(agent) if ongoing else self.hepatic_start_hits.get(agent)


# The liver tests the rules read. Only the latest result of each group counts (``SafetyRules._liver``),
# so the normaliser validates no older one (service/normalise.py, LATEST_ONLY).
LIVER_TESTS: tuple[tuple[str, ...], ...] = (("bilirubin-total", "bilirubin-total-molar"), ("ast",), ("alt",), ("alp",))


LIVER_GROUP = {kind: index for index, group in enumerate(LIVER_TESTS) for kind in group}  # test kind -> its group


def _latest_liver_labs(labs: list[LabResult]) -> list[LabResult | None]:
    """The latest result of each group of ``LIVER_TESTS`` (the first listed of its day), in one pass over the labs."""
    latest: list[LabResult | None] = [None] * len(LIVER_TESTS)
    for lab in labs:
        group = LIVER_GROUP.get(lab.kind)
        if group is not None:
            current = latest[group]
            if current is None or lab.on > current.on:
                latest[group] = lab
    return latest


def _recovered(found: list[Finding], facts: SafetyFacts) -> bool:
    """Heart failure or cardiomyopathy no record says is current (none active, no drug stopped for it), the
    latest LVEF measured after every record of it and at or above the normal limit (safety.yaml heart recovered)."""
    latest = facts.lvef_latest
    if latest is None or latest.value < facts.lvef_lower_limit:
        return False
    return all(not one.active and not one.stopped and one.on is not None and one.on < latest.on for one in found)


class SafetyRules:
    """The label thresholds of mappings/safety.yaml applied to one patient."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.tables = knowledge.label_tables
        self.pregnancy_days = knowledge.terminology.pregnancy_current_days
        self.lung_agents = self.tables.agents_of(self.tables.lung)
        self.heart_agents = self.tables.agents_of(self.tables.heart)
        # safety.yaml heart recovered: a past heart failure with a normal LVEF since is not named.
        self.heart_recovered_unnamed = bool(knowledge.safety["heart"].get("recovered", {}).get("not_named"))
        self.monitored = self.tables.monitored_agents
        self.brain_sites = self.tables.brain_sites
        # The label tables compiled once: a request only calls the checks (issue 16).
        self.cardiac_checks = cardiac_checks(self.tables)
        self.liver_checks, self.liver_tables = liver_checks(self.tables)
        # When no predicate of the tables holds (no liver value known, or values under every threshold, the
        # usual case) the rows met do not depend on the patient: they are found once here.
        self.hits_without_liver = self._hepatic_hits(LiverValues().measures())
        self.weakest_predicates = weakest_predicates(self.liver_checks)

    def facts(self, record: PatientRecord, extent: DiseaseExtent, history: TherapyHistory, now: date) -> SafetyFacts:
        """Compute every safety fact; which become alerts is decided with the recommendation."""
        facts = SafetyFacts()
        labs, receptors, statuses = record.labs, record.receptors, record.disease_statuses
        self._lvef(facts, labs, history, now, record.lvef_normal_in_words)
        self._liver(facts, labs)
        crisis = self.tables.visceral_crisis
        liver = facts.liver
        facts.visceral_crisis = crisis.site in extent.sites and (
            (liver.bilirubin is not None and liver.bilirubin > crisis.bilirubin_mg_dl_above)
            or any(v is not None and v > crisis.transaminase_u_l_above for v in (liver.ast, liver.alt))
        )
        facts.brain_metastases = not self.brain_sites.isdisjoint(extent.sites)
        facts.receptor_retest = bool(
            extent.metastatic
            and extent.metastatic_date is not None
            and not any(result.on >= extent.metastatic_date for result in receptors)
        )
        line = history.current
        if extent.sites == ("liver",) and history.status == "on-treatment" and line is not None and not facts.visceral_crisis:
            after_start = [status for status in statuses if status.on > line.start]
            latest = max(after_start, key=lambda status: status.on) if after_start else None
            facts.liver_local_therapy_review = latest is not None and latest.status in ("improved", "stable")
        facts.lung_disease, facts.lung_agents_given = self._finding(record.lung_disease, self.lung_agents, history)
        facts.lung_graded = (
            tuple(found for found in record.lung_disease if found.grade is not None) if record.lung_disease else ()
        )
        heart = record.heart_failure
        if heart and self.heart_recovered_unnamed and _recovered(heart, facts):
            heart = []
        facts.heart_failure, facts.heart_agents_given = self._finding(heart, self.heart_agents, history)
        facts.pregnancy = self._pregnancy(record, now)
        return facts

    @staticmethod
    def _finding(found: list[Finding], agents: frozenset[str], history: TherapyHistory) -> tuple[Finding | None, tuple[str, ...]]:
        """The record of a finding to name (active first, then the latest) and the drugs of its label rules
        (``agents``) given now while that record is active."""
        if not found:
            return None, ()
        named = max(found, key=lambda one: (one.active, one.on or date.min))
        return named, tuple(sorted(agents & history.ongoing_agents())) if named.active else ()

    def _pregnancy(self, record: PatientRecord, now: date) -> Pregnancy | None:
        """The latest pregnancy record dated within ``current_days`` of ``now`` (an undated Condition counts),
        unless a later pregnancy status says not pregnant."""
        days = self.pregnancy_days
        current = [p for p in record.pregnancies if p.on is None or 0 <= (now - p.on).days <= days]
        latest = max(current, key=lambda found: found.on or date.min) if current else None
        return latest if latest is not None and latest.pregnant else None

    def _lvef(  # noqa: PLR0913
        self, facts: SafetyFacts, labs: list[LabResult], history: TherapyHistory, now: date, normal_in_words: list[date]
    ) -> None:
        """The LVEF facts; ``normal_in_words``: the days an LVEF was reported only as normal, an assessment with no value."""
        tables = self.tables
        readings = sorted((lab for lab in labs if lab.kind == "lvef"), key=lambda lab: lab.on)
        latest = readings[-1] if readings else None
        if latest is not None and tables.lvef_same_day == "lowest":  # safety.yaml lvef same_day
            latest = min((lab for lab in readings if lab.on == latest.on), key=lambda lab: lab.value)
        facts.lvef_latest = latest
        facts.lvef_lower_limit = (
            latest.reference_low if latest and latest.reference_low is not None else tables.lvef_lower_limit_default
        )
        line = history.current
        her2_start = (
            min((e.start for e in line.exposures if e.agent in self.monitored), default=None) if line is not None else None
        )
        if her2_start is not None and readings:
            before = [lab for lab in readings if lab.on <= her2_start]
            facts.lvef_baseline = before[-1] if before else readings[0]
            if latest is not None:
                facts.lvef_fall = round(facts.lvef_baseline.value - latest.value, 9)  # 32.2 - 22.2 is 10, not 10.000000000000004
        active = history.active_agents()
        if latest is not None:
            for agent, check in self.cardiac_checks:
                if check.met(latest.value, facts.lvef_fall, facts.lvef_lower_limit):
                    facts.cardiac_hits[agent] = check.hit
        on_her2 = bool(active & self.monitored)
        if on_her2 and facts.lvef_baseline is not None:
            facts.low_baseline = facts.lvef_baseline.value < tables.lvef_low_baseline_below
        elif not on_her2 and latest is not None:
            facts.low_baseline = latest.value < tables.lvef_low_baseline_below
        cutoff = add_months(now, -tables.monitoring_months)
        # Monitored while an HER2 antibody or conjugate is given: one of its records still running or given within the
        # monitoring interval, not one stopped long before within a line that goes on with its endocrine therapy
        # alone (held-out bn5: HP stopped two years before, anastrozole continuing).
        given = on_her2 and (
            not history.ongoing_agents().isdisjoint(self.monitored)
            or any(e.agent in self.monitored and (e.ongoing or e.last_day >= cutoff) for e in line.exposures)  # type: ignore[union-attr]
        )
        assessed = ([latest.on] if latest is not None else []) + normal_in_words  # an echo reported "Normal" counts
        facts.monitoring_overdue = given and (not assessed or max(assessed) < cutoff)

    def _liver(self, facts: SafetyFacts, labs: list[LabResult]) -> None:
        tables = self.tables
        defaults = tables.uln_defaults
        values = facts.liver
        latest = _latest_liver_labs(labs)
        for (kind, *_), lab in zip(LIVER_TESTS, latest, strict=True):
            # In the unit of the label and crisis thresholds (mg/dL, U/L); the read layer left out any
            # result in a unit safety.yaml does not list.
            per_unit = tables.liver_unit_factor(lab.kind, lab.unit) if lab is not None else None
            if lab is None or per_unit is None:
                continue
            # Rounded to 9 places: binary fractions must not put a result exactly at a limit above it
            # (ALT 0.33 ukat/L with ULN 0.11 is 3.0000000000000004 x ULN unrounded, a Hy's-law pattern).
            value = round(lab.value * per_unit, 9)
            uln = lab.reference_high * per_unit if lab.reference_high else defaults[kind]
            name = "bilirubin" if kind == "bilirubin-total" else kind
            if kind != "alp":
                setattr(values, name, value)
            setattr(values, f"{name}_x", round(value / uln, 9))
        values.latest = max((lab.on for lab in latest if lab is not None), default=None)
        measures = values.measures()
        if self._some_predicate_may_hold(measures):
            on_treatment, starting = self._hepatic_hits(measures)
        else:
            on_treatment, starting = self.hits_without_liver
        facts.hepatic_hits, facts.hepatic_start_hits = dict(on_treatment), dict(starting)

    def _some_predicate_may_hold(self, measures: dict[str, float | None]) -> bool:
        """False when no predicate of the liver tables can hold for these values (then no row reads them)."""
        if self.weakest_predicates is None:
            return True
        return any(liver_predicates_hold((predicate,), measures) for predicate in self.weakest_predicates)

    def _hepatic_hits(self, measures: dict[str, float | None]) -> tuple[dict[str, RuleHit], dict[str, RuleHit]]:
        """The first row met of each agent's liver table: for a drug given now, and for one not yet given."""
        met = [check.met(measures) for check in self.liver_checks]
        on_treatment, starting = (self._first_rows_met(self.liver_tables[setting], met) for setting in LIVER_SETTINGS)
        return on_treatment, starting

    @staticmethod
    def _first_rows_met(table: LiverTable, met: list[bool]) -> dict[str, RuleHit]:
        """Each agent's first row met (rows are most severe first), as its hit."""
        hits = {}
        for agent, rows in table:
            hit = next((hit for index, hit in rows if met[index]), None)
            if hit is not None:
                hits[agent] = hit
        return hits
