"""An HER2-directed drug ordered outside the options of the line the patient is due for (cards.yaml
order_check not-an-option): T-DM1 drafted for an untreated patient, neratinib for a second line.

An information card, when the drug is not given now and neither the history nor HER2 status argues
against the draft already; its detail lists the line's options, preferred first. A warning instead when
the record shows less prior HER2 therapy than the drug's label asks for (cards.yaml off-label, options.yaml
label_prior_her2_therapy).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.conftest import (
    coding,
    condition,
    draft_order_cards,
    her2_positive_liver_patient,
    observation,
    statement,
    untreated_her2_positive_patient,
)

NOW = date(2025, 4, 15)


def _untreated() -> list[dict[str, Any]]:
    return untreated_her2_positive_patient()


def _on_hp_maintenance() -> list[dict[str, Any]]:
    return untreated_her2_positive_patient(
        statement("m1", "Phesgo", "2025-01-20", status="active"), statement("m2", "Taxotere", "2025-01-20", "2025-03-20")
    )


def _letrozole_then_thp() -> list[dict[str, Any]]:
    """A first metastatic line of letrozole alone, then THP, progressed: the second HER2-directed line is due."""
    resources = her2_positive_liver_patient()
    resources[2] = condition("c2", "icd10cm", "C78.7", "2023-01-10")
    return [*resources, statement("m0", "Letrozole", "2023-01-20", "2024-01-20")]


def _after_first_line_tdxd() -> list[dict[str, Any]]:
    progression = observation("o3", "97509-4", "2025-03-10", valueCodeableConcept={"coding": [coding("snomed", "271299001")]})
    return untreated_her2_positive_patient(
        statement("m1", "Enhertu", "2025-01-20", "2025-03-20"),
        statement("m2", "Perjeta", "2025-01-20", "2025-03-20"),
        progression,
    )


def _option_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [card for card in cards if "not among the guideline options" in card["summary"]]


def _adjuvant_hp_then_thp() -> list[dict[str, Any]]:
    """Adjuvant trastuzumab ended in 2022 (no early relapse), then THP for metastatic disease, progressed: two
    anti-HER2 regimens, one for metastatic disease, as margetuximab's label asks; its place is the fourth line."""
    return [*her2_positive_liver_patient(), statement("a1", "Herceptin", "2021-03-01", "2022-03-01")]


@pytest.mark.parametrize(
    ("resources", "drug", "line"),
    [
        (_on_hp_maintenance, "Enhertu", "maintenance of the 1st line"),  # a change of line with no progression
        (
            _letrozole_then_thp,
            "Tukysa",
            "2nd HER2-directed line",
        ),  # the 3rd line, but the tucatinib regimen's place is after T-DXd; its label's one prior regimen is there
        (_adjuvant_hp_then_thp, "Margenza", "2nd line"),  # the adjuvant regimen counts for its label
    ],
)
def test_an_her2_drug_outside_the_lines_options_gets_an_information_card(engine, knowledge, resources, drug, line):
    evaluation = engine.evaluate("p1", resources(), NOW)
    cards = draft_order_cards(engine, knowledge, resources(), drug, NOW)
    assert len(_option_cards(cards)) == 1 and not _other_cards(cards), [card["summary"] for card in cards]
    card = _option_cards(cards)[0]
    assert card["indicator"] == "info" and card["summary"].endswith(f"for the {line}")
    titles = [knowledge.regimen_models[option.regimen].title for option in evaluation.recommendation.options]
    if evaluation.recommendation.options:
        assert f"The options for the {line}, preferred first: {'; '.join(titles)}." in card["detail"]
    else:  # stable on maintenance, its additions with trial evidence only named: no change advised
        assert f"No progression is recorded on the {line}: no change of line is advised" in card["detail"]
    assert card["source"]["label"] == knowledge.sources["nccn-breast"]["label"]


def _other_cards(cards: list[dict[str, Any]]) -> list[str]:
    """The summaries of cards other than the options' (a neratinib draft also gets its label's loperamide
    reminder: test_premedication)."""
    return [card["summary"] for card in cards if card not in _option_cards(cards) and "start loperamide" not in card["summary"]]


def _label_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [card for card in cards if "is labelled only" in card["summary"]]


@pytest.mark.parametrize(
    ("resources", "drug", "line", "source"),
    [
        (_untreated, "Kadcyla", "1st line", "label-t-dm1"),  # held-out z13, a09: after prior therapy only
        (her2_positive_liver_patient, "Nerlynx", "2nd line", "label-neratinib"),  # after two anti-HER2 regimens
        (her2_positive_liver_patient, "Margenza", "2nd line", "label-margetuximab"),
        (_after_first_line_tdxd, "Margenza", "line after trastuzumab deruxtecan (T-DXd)", "label-margetuximab"),
    ],
)
def test_an_her2_drug_ordered_before_its_label_allows_gets_a_warning(engine, knowledge, resources, drug, line, source):
    """Outside the line's options and with less prior HER2 therapy than its label asks for (options.yaml
    label_prior_her2_therapy): a warning naming the label, not the information card."""
    cards = draft_order_cards(engine, knowledge, resources(), drug, NOW)
    others = [summary for summary in _other_cards(cards) if summary not in [c["summary"] for c in _label_cards(cards)]]
    assert len(_label_cards(cards)) == 1 and not _option_cards(cards) and not others, [card["summary"] for card in cards]
    card = _label_cards(cards)[0]
    assert card["indicator"] == "warning" and card["summary"].endswith(f"not an option for the {line}")
    assert card["source"]["label"] == knowledge.sources[source]["label"]
    assert card["detail"].split("**: ", 1)[1].startswith(knowledge.options["label_prior_her2_therapy"][_agent(source)]["label"])


def _agent(source: str) -> str:
    return {"label-t-dm1": "trastuzumab-emtansine", "label-neratinib": "neratinib", "label-margetuximab": "margetuximab"}[source]


def test_t_dm1_after_an_early_relapse_is_within_its_label(engine, knowledge):
    """Kadcyla's label covers a relapse within six months of adjuvant therapy: an early relapse after adjuvant
    HP stands for the prior metastatic therapy; T-DM1 is then a second-line option, and no card is raised."""
    resources = untreated_her2_positive_patient(statement("a1", "Herceptin", "2024-01-01", "2024-12-01"))
    cards = draft_order_cards(engine, knowledge, resources, "Kadcyla", NOW)
    assert not _label_cards(cards), [card["summary"] for card in cards]


@pytest.mark.parametrize(
    ("resources", "drug"),
    [
        (_untreated, "Herceptin"),  # in pertuzumab + trastuzumab + a taxane
        (_untreated, "Enhertu"),  # with pertuzumab, first line
        (her2_positive_liver_patient, "Enhertu"),
        (her2_positive_liver_patient, "Kadcyla"),
        (her2_positive_liver_patient, "Xeloda"),  # a partner drug: not an HER2-directed one
        (_on_hp_maintenance, "Herceptin"),  # the maintenance itself
        (_on_hp_maintenance, "Tukysa"),  # an addition with trial evidence
    ],
)
def test_a_drug_of_the_lines_options_or_a_partner_gets_no_such_card(engine, knowledge, resources, drug):
    assert not _option_cards(draft_order_cards(engine, knowledge, resources(), drug, NOW))


def test_a_draft_the_history_argues_against_gets_only_that_card(engine, knowledge):
    """Phesgo after progression on pertuzumab + trastuzumab: the progression warning says it all."""
    cards = draft_order_cards(engine, knowledge, her2_positive_liver_patient(), "Phesgo", NOW)
    assert [card["summary"][:35] for card in cards] == ["Disease already progressed on pertu"]


def test_a_monitoring_warning_does_not_hide_it(engine, knowledge):
    """No recent LVEF is about how to start a drug, not which: both cards."""
    cards = draft_order_cards(engine, knowledge, _adjuvant_hp_then_thp(), "Margenza", date(2025, 6, 15))
    assert sorted(card["indicator"] for card in cards) == ["info", "warning"] and len(_option_cards(cards)) == 1
    cards = draft_order_cards(engine, knowledge, her2_positive_liver_patient(), "Margenza", date(2025, 6, 15))
    assert [card["indicator"] for card in cards] == ["warning", "warning"] and len(_label_cards(cards)) == 1


def test_no_such_card_while_a_line_goes_on_without_a_recommendation(engine, knowledge):
    on_t_dxd = [*_untreated(), statement("m1", "Enhertu", "2025-02-01", status="active")]
    assert engine.evaluate("p1", on_t_dxd, NOW).recommendation.options == []
    assert not _option_cards(draft_order_cards(engine, knowledge, on_t_dxd, "Kadcyla", NOW))
