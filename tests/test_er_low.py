"""ER staining in 1-10 % of cells: ASCO/CAP 2020's "ER Low Positive" (mappings/receptors.yaml hormone_receptor).

Still positive (1 % is the cut-off), so nothing the service offers changes; the facts say "low positive"
and, when PR is not positive, each option holding endocrine therapy carries the guideline's comment.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.render import CardRenderer, RenderContext
from tests.conftest import observation, statement, untreated_her2_positive_patient

NOW = date(2025, 9, 1)
NOTE = "   - ER low positive (1-10 %)"


def _on_hp_maintenance(er: float, pr: float) -> list[dict[str, Any]]:
    return untreated_her2_positive_patient(
        observation("er", "85329-1", "2025-01-15", valueQuantity={"value": er, "unit": "%"}),
        observation("pr", "85325-9", "2025-01-15", valueQuantity={"value": pr, "unit": "%"}),
        statement("m1", "Phesgo", "2025-01-20", status="active"),
        statement("m2", "Taxotere", "2025-01-20", "2025-05-20"),
        lvef_on="2025-08-20",
    )


def _summary(engine, knowledge, resources) -> tuple[Any, str]:
    evaluation = engine.evaluate("p1", resources, NOW)
    return evaluation, CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]


@pytest.mark.parametrize(
    ("er", "words"), [(1, "ER low positive (1%)"), (5, "ER low positive (5%)"), (10, "ER low positive (10%)")]
)
def test_er_in_1_to_10_percent_is_low_positive_and_the_endocrine_options_say_what_is_known(engine, knowledge, er, words):
    evaluation, detail = _summary(engine, knowledge, _on_hp_maintenance(er, 0))
    assert evaluation.receptors.hormone_receptor == "positive" and evaluation.recommendation.kind == "maintenance"
    assert f"- Hormone receptor **positive**: {words}, PR negative (0%)" in detail
    options = detail.split("**Options for line")[1].split("\n")
    regimens = [knowledge.regimen_models[option.regimen] for option in evaluation.recommendation.options]
    endocrine = knowledge.agents_of_class("endocrine")
    noted, position = [], -1
    for line in options:  # each option followed by its notes
        if line[:1].isdigit():
            position += 1
        elif line.startswith(NOTE):
            noted.append(position)
    assert noted == [i for i, regimen in enumerate(regimens) if endocrine & set(regimen.partner_choices)]
    assert noted  # endocrine therapy is offered on HER2 maintenance


def test_no_comment_when_pr_is_positive_and_plain_positive_above_10_percent(engine, knowledge):
    _, detail = _summary(engine, knowledge, _on_hp_maintenance(5, 40))
    assert "ER low positive (5%), PR positive (40%)" in detail and NOTE not in detail
    _, detail = _summary(engine, knowledge, _on_hp_maintenance(11, 0))
    assert "ER positive (11%), PR negative (0%)" in detail and NOTE not in detail
