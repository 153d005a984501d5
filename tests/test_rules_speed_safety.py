"""The liver and LVEF tables compiled at start-up (issue 16) meet the rows the plain reading of safety.yaml meets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.infer.label_checks import RuleHit
from service.infer.safety import LiverValues, SafetyRules
from service.knowledge import Knowledge, load_knowledge
from service.knowledge.models import Condition

KNOWLEDGE = load_knowledge()  # hypothesis tests cannot take the session fixture


def reference_liver_condition_met(condition: Condition, liver: LiverValues) -> bool:
    """The per-call reading of a hepatic condition before issue 16."""
    values = {
        "bilirubin_x_uln_above": (liver.bilirubin_x, lambda x, v: x > v),
        "transaminase_x_uln_above": (liver.transaminase_x, lambda x, v: x > v),
        "transaminase_x_uln_at_least": (liver.transaminase_x, lambda x, v: x >= v),
        "alp_x_uln_above": (liver.alp_x, lambda x, v: x > v),
    }
    for name, threshold in condition:
        measured, compare = values[name]
        if measured is None or not compare(measured, threshold):
            return False
    return True


def reference_hits(knowledge: Knowledge, liver: LiverValues) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """Per setting, each agent's first row met, as (grade, setting), read straight from the tables."""
    found: tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]] = ({}, {})
    for agent, rule in knowledge.label_tables.liver_rules.items():
        for setting, hits in zip(("on-treatment", "starting"), found, strict=True):
            row = next(
                (
                    row
                    for row in rule.rows
                    if row.setting in ("any", setting) and any(reference_liver_condition_met(c, liver) for c in row.conditions)
                ),
                None,
            )
            if row is not None:
                hits[agent] = (row.grade, setting)
    return found


def summary(hits: dict[str, RuleHit]) -> dict[str, tuple[str, str]]:
    return {agent: (hit.grade, hit.setting) for agent, hit in hits.items()}


multiples = st.one_of(
    st.none(), st.floats(min_value=0, max_value=30, allow_nan=False), st.sampled_from([1.0, 1.5, 2.0, 3.0, 5.0, 10.0])
)


@settings(max_examples=400)
@given(bilirubin_x=multiples, ast_x=multiples, alt_x=multiples, alp_x=multiples)
def test_compiled_liver_rows_meet_what_the_tables_say(
    bilirubin_x: float | None, ast_x: float | None, alt_x: float | None, alp_x: float | None
) -> None:
    rules = SafetyRules(KNOWLEDGE)
    liver = LiverValues(bilirubin_x=bilirubin_x, ast_x=ast_x, alt_x=alt_x, alp_x=alp_x)
    measures = liver.measures()
    expected = reference_hits(KNOWLEDGE, liver)
    full = rules._hepatic_hits(measures)
    assert (summary(full[0]), summary(full[1])) == expected
    if not rules._some_predicate_may_hold(measures):  # the shortcut gives the same rows
        assert rules.hits_without_liver == full


def test_weakest_predicates_cover_every_measure_the_tables_read() -> None:
    rules = SafetyRules(KNOWLEDGE)
    assert rules.weakest_predicates is not None
    read = {measure for check in rules.liver_checks for condition in check.conditions for measure, _, _ in condition}
    assert {measure for measure, _, _ in rules.weakest_predicates} == read
