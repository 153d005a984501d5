"""The label tables of mappings/safety.yaml compiled into checks at start-up, and the hits they make.

``SafetyRules`` (service/infer/safety.py) calls these per request: a condition of the tables is a tuple
of predicates looked up once, a row's hit (its action, words and source) is made once, and the
weakest predicate of each kind tells whether any liver row needs checking at all (issue 16).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from service.knowledge.models import Condition, LiverRow, LiverRule, SafetyTables


@dataclass(frozen=True)
class RuleHit:
    """A label rule of mappings/safety.yaml that the patient's values meet, for one agent: the row, its words and source."""

    agent: str
    kind: str  # cardiac | hepatic
    action: str
    source: str
    changes_drug: bool = True
    effect: str = ""  # the label's action in a few words (card summaries)
    grade: str = ""  # the label row met (grade 2, Hy's-law pattern, ...)
    section: str = ""  # the label section the row comes from
    withhold: bool = False  # the label forbids the drug now
    setting: str = "any"  # any | starting | on-treatment
    keeps_preferred: bool = False  # a dose the label adjusts: the regimen keeps its preferred mark


# The LVEF predicates of mappings/safety.yaml: each reads the latest LVEF, the fall from baseline (None when
# unknown) and the lower limit, and compares with the condition's threshold.
LVEF_PREDICATES: dict[str, Callable[[float, float | None, float, float], bool]] = {
    "lvef_below": lambda latest, _fall, _lln, v: latest < v,
    "lvef_at_least": lambda latest, _fall, _lln, v: latest >= v,
    "lvef_at_most": lambda latest, _fall, _lln, v: latest <= v,
    "fall_at_least": lambda _latest, fall, _lln, v: fall is not None and fall >= v,
    "fall_above": lambda _latest, fall, _lln, v: fall is not None and fall > v,
    "fall_at_most": lambda _latest, fall, _lln, v: fall is not None and fall <= v,
    "below_lln": lambda latest, _fall, lln, v: (latest < lln) == bool(v),
}

# The liver predicates of mappings/safety.yaml: the measure of ``LiverValues.measures`` each reads and its comparison.
LIVER_PREDICATES: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "bilirubin_x_uln_above": ("bilirubin_x", operator.gt),
    "transaminase_x_uln_above": ("transaminase_x", operator.gt),
    "transaminase_x_uln_at_least": ("transaminase_x", operator.ge),
    "alp_x_uln_above": ("alp_x", operator.gt),
}

LvefPredicate = tuple[Callable[[float, float | None, float, float], bool], float]  # (check, threshold)
LiverPredicate = tuple[str, Callable[[float, float], bool], float]  # (measure, comparison, threshold)


def compile_lvef_condition(condition: Condition) -> tuple[LvefPredicate, ...]:
    """One LVEF condition of safety.yaml as checks to call (looked up once at start-up, not per request)."""
    return tuple((LVEF_PREDICATES[name], threshold) for name, threshold in condition)


def compile_liver_condition(condition: Condition) -> tuple[LiverPredicate, ...]:
    """One hepatic condition of safety.yaml as (measure, comparison, threshold) triples (built once at start-up)."""
    return tuple((*LIVER_PREDICATES[name], threshold) for name, threshold in condition)


def lvef_predicates_hold(predicates: tuple[LvefPredicate, ...], latest: float, fall: float | None, lower_limit: float) -> bool:
    """All predicates of one compiled LVEF condition hold (a fall predicate needs a known fall)."""
    return all(check(latest, fall, lower_limit, threshold) for check, threshold in predicates)


def liver_predicates_hold(predicates: tuple[LiverPredicate, ...], measures: dict[str, float | None]) -> bool:
    """All predicates of one compiled hepatic condition hold (a missing value never meets a predicate)."""
    for measure, compare, threshold in predicates:
        measured = measures[measure]
        if measured is None or not compare(measured, threshold):
            return False
    return True


@dataclass(frozen=True)
class CardiacCheck:
    """An LVEF rule compiled at start-up: its conditions as checks and the hit it makes when one holds."""

    conditions: tuple[tuple[LvefPredicate, ...], ...]
    hit: RuleHit

    def met(self, latest: float, fall: float | None, lower_limit: float) -> bool:
        """Any condition of the rule holds (safety.yaml: conditions are alternatives)."""
        return any(lvef_predicates_hold(c, latest, fall, lower_limit) for c in self.conditions)


@dataclass(frozen=True)
class LiverRowCheck:
    """A label liver row's conditions compiled at start-up (a row may apply to both settings: it is checked once)."""

    conditions: tuple[tuple[LiverPredicate, ...], ...]

    def met(self, measures: dict[str, float | None]) -> bool:
        """Any condition of the row holds (safety.yaml: conditions are alternatives)."""
        return any(liver_predicates_hold(c, measures) for c in self.conditions)


# The two liver tables kept per patient (``SafetyFacts.hepatic_hits`` and ``hepatic_start_hits``).
LIVER_SETTINGS = ("on-treatment", "starting")


def cardiac_checks(tables: SafetyTables) -> tuple[tuple[str, CardiacCheck], ...]:
    """Each agent's LVEF rule with its conditions compiled and its hit made (the hit depends on the rule only)."""
    return tuple(
        (
            agent,
            CardiacCheck(
                tuple(compile_lvef_condition(c) for c in rule.conditions),
                RuleHit(agent, "cardiac", rule.action, rule.source, effect="hold per label", section=rule.section),
            ),
        )
        for agent, rule in tables.lvef_rules.items()
    )


LiverTable = tuple[tuple[str, tuple[tuple[int, RuleHit], ...]], ...]  # agent -> its rows' (check index, hit), in order


def _liver_hit(agent: str, rule: LiverRule, row: LiverRow, setting: str) -> RuleHit:
    """The hit a liver row makes for ``agent`` in ``setting``: it depends on the row only, so it is made at start-up."""
    return RuleHit(
        agent,
        "hepatic",
        row.action,
        rule.source,
        changes_drug=row.changes_drug,
        effect=row.effect,
        grade=row.grade,
        section=row.section,
        withhold=row.withhold,
        setting=setting,
        keeps_preferred=row.keeps_preferred,
    )


def liver_checks(tables: SafetyTables) -> tuple[tuple[LiverRowCheck, ...], dict[str, LiverTable]]:
    """Every liver row compiled once, and per setting each agent's rows that apply, most severe first, with their hits."""
    checks: list[LiverRowCheck] = []
    indices: dict[tuple[str, int], int] = {}
    for agent, rule in tables.liver_rules.items():
        for position, row in enumerate(rule.rows):
            indices[agent, position] = len(checks)
            checks.append(LiverRowCheck(tuple(compile_liver_condition(c) for c in row.conditions)))
    by_setting = {
        setting: tuple(
            (
                agent,
                tuple(
                    (indices[agent, position], _liver_hit(agent, rule, row, setting))
                    for position, row in enumerate(rule.rows)
                    if row.setting in ("any", setting)
                ),
            )
            for agent, rule in tables.liver_rules.items()
        )
        for setting in LIVER_SETTINGS
    }
    return tuple(checks), by_setting


def weakest_predicates(checks: tuple[LiverRowCheck, ...]) -> tuple[LiverPredicate, ...] | None:
    """Per measure and comparison, the predicate of the tables with the lowest threshold.

    Every liver predicate is 'above' (> or >=): when the weakest of a kind fails, every other of that
    kind fails too, so these few checks tell whether any row needs checking. None (check every row)
    if a predicate of another kind is ever added to ``LIVER_PREDICATES``.
    """
    lowest: dict[tuple[str, Callable[[float, float], bool]], float] = {}
    for check in checks:
        for condition in check.conditions:
            for measure, compare, threshold in condition:
                if compare not in (operator.gt, operator.ge):
                    return None
                key = (measure, compare)
                lowest[key] = min(threshold, lowest.get(key, threshold))
    return tuple((measure, compare, threshold) for (measure, compare), threshold in lowest.items())
