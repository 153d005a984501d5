"""Typed, frozen models of the knowledge files the recommend and safety stages read (built once at start-up)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Condition = tuple[tuple[str, float], ...]  # the predicates of one label condition: (name, threshold)


@dataclass(frozen=True)
class Regimen:
    """A regimen of mappings/regimens.yaml: what it orders and what removes it."""

    id: str
    title: str
    short: str
    agents: tuple[str, ...]
    key_agents: frozenset[str]
    continues: tuple[str, ...]
    partner_choices: tuple[str, ...]
    chemotherapy: bool
    evidence: str
    evidence_url: str | None
    label_status: str
    choice_note: str
    source: str


@dataclass(frozen=True)
class Eligibility:
    """The predicates of one option rule (mappings/options.yaml); None or empty means 'any'."""

    setting: str = "treatment"
    line_min: int | None = None
    line_max: int | None = None
    sites_any: frozenset[str] = frozenset()
    hormone_receptor: str | None = None
    never_received: frozenset[str] = frozenset()
    current_line_lacks: frozenset[str] = frozenset()
    min_prior_her2_metastatic_lines: int = 0
    min_prior_her2_regimens: int = 0


@dataclass(frozen=True)
class OptionRule:
    """Offer ``regimen`` (with this flag, category and source) when ``eligible`` holds."""

    regimen: str
    preferred: bool
    category: str
    source: str
    eligible: Eligibility


def regimen_model(regimen_id: str, entry: dict[str, Any]) -> Regimen:
    return Regimen(
        id=regimen_id,
        title=str(entry["title"]),
        short=str(entry["short"]),
        agents=tuple(entry["agents"]),
        key_agents=frozenset(entry.get("key_agents", [])),
        continues=tuple(entry.get("continues", [])),
        partner_choices=tuple(entry.get("partner_choices", [])),
        chemotherapy=bool(entry.get("chemotherapy", False)),
        evidence=str(entry.get("evidence", "")),
        evidence_url=entry.get("evidence_url"),
        label_status=str(entry.get("label_status", "")),
        choice_note=str(entry.get("choice_note", "")),
        source=str(entry["source"]),
    )


def rule_model(entry: dict[str, Any]) -> OptionRule:
    when = dict(entry.get("eligible", {}))
    eligibility = Eligibility(
        setting=str(when.get("setting", "treatment")),
        line_min=when.get("line_min"),
        line_max=when.get("line_max"),
        sites_any=frozenset(when.get("sites_any", [])),
        hormone_receptor=when.get("hormone_receptor"),
        never_received=frozenset(when.get("never_received", [])),
        current_line_lacks=frozenset(when.get("current_line_lacks", [])),
        min_prior_her2_metastatic_lines=int(when.get("min_prior_her2_metastatic_lines", 0)),
        min_prior_her2_regimens=int(when.get("min_prior_her2_regimens", 0)),
    )
    return OptionRule(str(entry["regimen"]), bool(entry["preferred"]), str(entry["category"]), str(entry["source"]), eligibility)


@dataclass(frozen=True)
class LiverRow:
    """One row of a drug label's liver table (mappings/safety.yaml), most severe rows first."""

    grade: str
    section: str
    conditions: tuple[Condition, ...]
    action: str
    effect: str
    changes_drug: bool
    withhold: bool
    setting: str  # any | starting | on-treatment
    check: bool
    keeps_preferred: bool = False  # a dose the label adjusts: the regimen keeps its preferred mark


@dataclass(frozen=True)
class LiverRule:
    """A drug label's liver table."""

    agent: str
    source: str
    rows: tuple[LiverRow, ...]


@dataclass(frozen=True)
class LvefRule:
    """A HER2 drug label's LVEF hold rule and its monitoring."""

    agent: str
    source: str
    conditions: tuple[Condition, ...]
    action: str
    monitoring: str
    section: str
    check: bool


@dataclass(frozen=True)
class VisceralCrisis:
    """The operational liver criterion of a visceral crisis."""

    site: str
    bilirubin_mg_dl_above: float
    transaminase_u_l_above: float
    source: str


@dataclass(frozen=True)
class FindingRule:
    """The agents whose label rule is about one finding (interstitial lung disease or pneumonitis; heart
    failure or cardiomyopathy; a pregnancy), its words and source."""

    agents: frozenset[str]
    action: str
    source: str
    # From this grade on, recorded after the agent was given, the label stops it for good (safety.yaml lung
    # stop_from_grade): the order check's card is then critical, in the words of ``stop_action``.
    stop_from_grade: int | None = None
    stop_action: str = ""


@dataclass(frozen=True)
class PremedicationRule:
    """A drug a label wants started with the first dose of ``agent`` (safety.yaml premedication), the
    words and ATC codes a record names it by, and the label's words."""

    agent: str
    drug: str  # the premedication, as records are matched to it ("loperamide")
    words: frozenset[str]
    atc: frozenset[str]
    action: str
    source: str


@dataclass(frozen=True)
class SafetyTables:
    """mappings/safety.yaml, typed."""

    lvef_rules: dict[str, LvefRule]
    lvef_lower_limit_default: float
    lvef_low_baseline_below: float  # the contract's lvef-low-baseline: LVEF below this, whatever the lab's range
    lvef_reported_range: str  # low | midpoint: how an LVEF reported as a range or a bound is read
    lvef_same_day: str  # lowest | last: which of the latest day's LVEFs that disagree is the latest
    monitoring_months: int
    lvef_normal_in_words: re.Pattern[str] | None  # an LVEF in words saying it is normal: the heart was assessed
    monitored_agents: frozenset[str]
    liver_rules: dict[str, LiverRule]
    uln_defaults: dict[str, float]
    bilirubin_umol_per_mg_dl: float
    bilirubin_mg_dl_per_unit: dict[str, float]  # unit_key ("mg/l", "umol/l") -> mg/dL per unit, molar units too
    enzyme_u_l_per_unit: dict[str, float]  # unit_key ("ukat/l") -> U/L per unit
    visceral_crisis: VisceralCrisis
    brain_sites: frozenset[str]
    lung: tuple[FindingRule, ...]  # safety.yaml lung rules: one a label
    heart: tuple[FindingRule, ...] = ()  # safety.yaml heart rules: one a label
    pregnancy: FindingRule | None = None  # safety.yaml pregnancy
    premedication: tuple[PremedicationRule, ...] = ()  # safety.yaml premedication
    premedication_days: int = 0  # a premedication given within this many days counts (safety.yaml recent_days)
    # (test kind, unit as written) -> liver_unit_factor's answer, filled as units are met.
    unit_factors: dict[tuple[str, str], float | None] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def agents_of(rules: tuple[FindingRule, ...]) -> frozenset[str]:
        """Every agent one of ``rules`` (safety.yaml lung, heart) is about."""
        return frozenset().union(*(rule.agents for rule in rules))

    @staticmethod
    def rule_of(rules: tuple[FindingRule, ...], agent: str) -> FindingRule | None:
        """The rule of ``rules`` (safety.yaml lung, heart) of ``agent``'s label, if it has one."""
        return next((rule for rule in rules if agent in rule.agents), None)

    def liver_unit_factor(self, kind: str, unit: str) -> float | None:
        """What one ``unit`` of liver test ``kind`` is in its thresholds' unit (bilirubin mg/dL, enzymes
        U/L; safety.yaml liver units); None for a unit the service does not read. No unit is the
        thresholds' unit (umol/L for a molar bilirubin code); a test other than the liver's keeps its value."""
        if (kind, unit) in self.unit_factors:
            return self.unit_factors[kind, unit]
        table = LIVER_UNIT_TABLES.get(kind)
        if table is None:
            factor: float | None = 1.0
        elif not unit.strip():
            factor = 1 / self.bilirubin_umol_per_mg_dl if kind == "bilirubin-total-molar" else 1.0
        else:
            factors = self.bilirubin_mg_dl_per_unit if table == "bilirubin" else self.enzyme_u_l_per_unit
            factor = factors.get(unit_key(unit))
        if len(self.unit_factors) < _FACTORS_KEPT:  # records hold few distinct units: the answers are kept
            self.unit_factors[kind, unit] = factor
        return factor


# The liver tests whose units safety.yaml lists (observation kinds of codes.yaml), and their table.
LIVER_UNIT_TABLES = {
    "bilirubin-total": "bilirubin",
    "bilirubin-total-molar": "bilirubin",
    "ast": "enzyme",
    "alt": "enzyme",
    "alp": "enzyme",
}
_FACTORS_KEPT = 4096
_UNIT_SPELLINGS = (("micro", "u"), ("mikro", "u"), ("\u00b5", "u"), ("\u03bc", "u"), ("[", ""), ("]", ""), (" ", ""))


def unit_key(unit: str) -> str:
    """A unit as safety.yaml's unit tables spell it: "µkat/L", "mikrokat/l" and "ukat/L" are "ukat/l",
    "[iU]/L" is "iu/l"."""
    key = unit.strip().lower()
    for spelling, written in _UNIT_SPELLINGS:
        key = key.replace(spelling, written)
    return key


def _conditions(entries: list[dict[str, Any]]) -> tuple[Condition, ...]:
    return tuple(tuple((str(name), float(value)) for name, value in entry.items()) for entry in entries)


def _liver_row(row: dict[str, Any]) -> LiverRow:
    return LiverRow(
        grade=str(row["grade"]),
        section=str(row["section"]),
        conditions=_conditions(row["conditions"]),
        action=str(row["action"]),
        effect=str(row["summary_effect"]),
        changes_drug=bool(row["changes_drug"]),
        withhold=bool(row.get("withhold", False)),
        setting=str(row.get("setting", "any")),
        check=bool(row.get("check", False)),
        keeps_preferred=bool(row.get("keeps_preferred", False)),
    )


def safety_tables(document: dict[str, Any]) -> SafetyTables:
    """Build the typed tables from the checked safety.yaml document."""
    lvef, liver, crisis = document["lvef"], document["liver"], document["visceral_crisis"]
    return SafetyTables(
        lvef_rules={
            agent: LvefRule(
                agent=agent,
                source=str(rule["source"]),
                conditions=_conditions(rule["conditions"]),
                action=str(rule["action"]),
                monitoring=str(rule.get("monitoring", "")),
                section=str(rule.get("section", "")),
                check=bool(rule.get("check", False)),
            )
            for agent, rule in lvef["rules"].items()
        },
        lvef_lower_limit_default=float(lvef["lower_limit_default"]),
        lvef_low_baseline_below=float(lvef.get("low_baseline_below", lvef["lower_limit_default"])),
        lvef_reported_range=str(lvef["reported_range"]),
        lvef_same_day=str(lvef.get("same_day", "last")),
        monitoring_months=int(lvef["monitoring_months"]),
        lvef_normal_in_words=re.compile(lvef["normal_in_words"], re.IGNORECASE) if "normal_in_words" in lvef else None,
        monitored_agents=frozenset(lvef["monitored_agents"]),
        liver_rules={
            agent: LiverRule(agent, str(rule["source"]), tuple(_liver_row(row) for row in rule["rows"]))
            for agent, rule in liver["rules"].items()
        },
        uln_defaults={kind: float(entry["value"]) for kind, entry in liver["uln_defaults"].items()},
        bilirubin_umol_per_mg_dl=float(liver["bilirubin_umol_per_mg_dl"]),
        bilirubin_mg_dl_per_unit={
            **{unit_key(unit): float(factor) for unit, factor in liver["bilirubin_mg_dl_per_unit"].items()},
            **{
                unit_key(unit): float(factor) / float(liver["bilirubin_umol_per_mg_dl"])
                for unit, factor in liver["bilirubin_umol_per_unit"].items()
            },
        },
        enzyme_u_l_per_unit={unit_key(unit): float(factor) for unit, factor in liver["enzyme_u_l_per_unit"].items()},
        visceral_crisis=VisceralCrisis(
            site=str(crisis["requires_site"]),
            bilirubin_mg_dl_above=float(crisis["bilirubin_mg_dl_above"]),
            transaminase_u_l_above=float(crisis["transaminase_u_l_above"]),
            source=str(crisis["source"]),
        ),
        brain_sites=frozenset(document["brain_metastases"]["sites"]),
        lung=_finding_rules(document["lung"]),
        heart=_finding_rules(document["heart"]),
        pregnancy=(
            FindingRule(frozenset(pregnancy["agents"]), str(pregnancy["action"]), str(pregnancy["source"]))
            if (pregnancy := document.get("pregnancy"))
            else None
        ),
        premedication=_premedication_rules(document.get("premedication", {})),
        premedication_days=int(document.get("premedication", {}).get("recent_days", 0)),
    )


def _premedication_rules(section: dict[str, Any]) -> tuple[PremedicationRule, ...]:
    return tuple(
        PremedicationRule(
            str(rule["agent"]),
            str(rule["with"]),
            frozenset(rule["words"]),
            frozenset(rule.get("atc", [])),
            str(rule["action"]),
            str(rule["source"]),
        )
        for rule in section.get("rules", [])
    )


def _finding_rules(section: dict[str, Any]) -> tuple[FindingRule, ...]:
    """safety.yaml lung or heart: one rule a label."""
    return tuple(
        FindingRule(
            frozenset(rule["agents"]),
            str(rule["action"]),
            str(rule["source"]),
            int(rule["stop_from_grade"]) if "stop_from_grade" in rule else None,
            str(rule.get("stop_action", "")),
        )
        for rule in section["rules"]
    )


@dataclass(frozen=True)
class IshGroup:
    """One row of the ASCO/CAP dual-probe ISH table (mappings/receptors.yaml): bounds and when it is positive."""

    group: int
    ratio_at_least: float | None
    ratio_below: float | None
    copies_at_least: float | None
    copies_below: float | None
    positive: str  # always | never | with-ihc
    ihc_scores: frozenset[int]

    def holds(self, ratio: float, copies: float) -> bool:
        """Do the ratio and the copy number fall inside this row's bounds (at_least: >=, below: <)?"""
        bounds = (
            (self.ratio_at_least, ratio, True),
            (self.ratio_below, ratio, False),
            (self.copies_at_least, copies, True),
            (self.copies_below, copies, False),
        )
        return all(limit is None or (value >= limit if at_least else value < limit) for limit, value, at_least in bounds)

    def is_positive(self, ihc: int | None) -> bool:
        """ISH positive for this group, given the concurrent IHC score (None when there is none)."""
        return self.positive == "always" or (self.positive == "with-ihc" and ihc in self.ihc_scores)


@dataclass(frozen=True)
class HormoneScale:
    """A score an ER or PR result may be reported as instead of a percent (receptors.yaml hormone_scores)."""

    name: str
    named: re.Pattern[str]  # a text saying the result is on this scale
    value: re.Pattern[str]  # the score in words; its number in the group "score"
    maximum: int
    negative_at_most: int
    positive_at_least: int

    def status(self, score: int) -> str | None:
        """positive | negative against the 1 % cut-off, or None when the score spans it (or is off the scale)."""
        if score > self.maximum:
            return None
        if score <= self.negative_at_most:
            return "negative"
        return "positive" if score >= self.positive_at_least else None


@dataclass(frozen=True)
class ReceptorRules:
    """mappings/receptors.yaml (and the HER2 test episode of codes.yaml), typed."""

    ish_groups: tuple[IshGroup, ...]
    ish_source: str
    hormone_positive_percent: float
    hormone_source: str
    episode_days: int
    hormone_scales: tuple[HormoneScale, ...] = ()
    er_low_positive_at_most: float | None = None  # ASCO/CAP 2020 "ER Low Positive": 1 % up to this
    er_low_positive_note: str = ""
    ihc_status: dict[int, str] = field(default_factory=dict)  # receptors.yaml her2_ihc by_score
    ish_negative_by_score: dict[int, str] = field(default_factory=dict)  # codes.yaml negative_by_ihc_score
    ihc_positive: int = 3  # the lowest IHC score HER2-positive on its own (her2_ihc by_score)

    def her2_by_ihc_and_ish(self, ihc: int | None, ish: bool | None) -> str | None:
        """HER2 status from an IHC score (0-3) and an ISH result (amplified or not), by receptors.yaml
        her2_ihc: an IHC score positive alone or ISH amplified is positive; ISH not amplified is low or zero
        by the score (negative without one); else the score's own status. None when neither is known."""
        if ish is True or (ihc is not None and self.ihc_status.get(ihc) == "positive"):
            return "positive"
        if ish is False:
            return "negative" if ihc is None else self.ish_negative_by_score.get(ihc, "negative")
        return None if ihc is None else self.ihc_status.get(ihc)

    def er_low_positive(self, er: str | None, percent: float | None) -> bool:
        """ER positive by a percent no higher than the "ER Low Positive" bound."""
        bound = self.er_low_positive_at_most
        return er == "positive" and percent is not None and bound is not None and percent <= bound


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def receptor_rules(document: dict[str, Any], episode_days: int, ish_negative_by_score: dict[int, str]) -> ReceptorRules:
    """Build the typed receptor rules from the checked receptors.yaml document (and codes.yaml's statuses
    of an IHC score with ISH not amplified)."""
    ish, hormone = document["her2_ish"], document["hormone_receptor"]
    ihc_status = {int(score): str(status) for score, status in document["her2_ihc"]["by_score"].items()}
    groups = tuple(
        IshGroup(
            group=int(row["group"]),
            ratio_at_least=_optional_float(row.get("ratio_at_least")),
            ratio_below=_optional_float(row.get("ratio_below")),
            copies_at_least=_optional_float(row.get("copies_at_least")),
            copies_below=_optional_float(row.get("copies_below")),
            positive=str(row["positive"]),
            ihc_scores=frozenset(int(score) for score in row.get("ihc_scores", [])),
        )
        for row in ish["groups"]
    )
    return ReceptorRules(
        ish_groups=groups,
        ish_source=str(ish["source"]),
        hormone_positive_percent=float(hormone["positive_percent_at_least"]),
        hormone_source=str(hormone["source"]),
        episode_days=episode_days,
        er_low_positive_at_most=_optional_float(hormone.get("er_low_positive_at_most")),
        er_low_positive_note=str(hormone.get("er_low_positive_note", "")),
        ihc_status=ihc_status,
        ish_negative_by_score=dict(ish_negative_by_score),
        ihc_positive=min(score for score, status in ihc_status.items() if status == "positive"),
        hormone_scales=tuple(
            HormoneScale(
                name=str(scale["name"]),
                named=re.compile(scale["named"], re.IGNORECASE),
                value=re.compile(scale["value"], re.IGNORECASE),
                maximum=int(scale["maximum"]),
                negative_at_most=int(scale["negative_at_most"]),
                positive_at_least=int(scale["positive_at_least"]),
            )
            for scale in document.get("hormone_scores", {}).get("scales", [])
        ),
    )


@dataclass(frozen=True)
class AlertRules:
    """mappings/alerts.yaml, typed: the facts every alert needs, and each alert's own facts and source."""

    every_alert_when: frozenset[str]
    when: dict[str, frozenset[str]]  # alert code -> facts that must all hold
    sources: dict[str, str]  # alert code -> sources.yaml id

    def raised(self, facts: frozenset[str]) -> list[str]:
        """The alert codes these facts raise, sorted."""
        if not self.every_alert_when <= facts:
            return []
        return sorted(code for code, needed in self.when.items() if needed <= facts)


def alert_rules(document: dict[str, Any]) -> AlertRules:
    """Build the typed alert rules from the checked alerts.yaml document."""
    alerts = document["alerts"]
    return AlertRules(
        every_alert_when=frozenset(document["every_alert_when"]),
        when={code: frozenset(entry["when"]) for code, entry in alerts.items()},
        sources={code: str(entry["source"]) for code, entry in alerts.items()},
    )
