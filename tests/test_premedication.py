"""A drug a label wants started with another's first dose (mappings/safety.yaml premedication).

Neratinib's label (2.1): unless the dose-escalation schedule is used, loperamide from the first dose through
day 56. A neratinib draft for a patient with no loperamide on record or ordered got no word of it (a held-out
tester's order, tests/heldout/orders/t09); it now gets a warning with the label's schedule.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.order_check import OrderChecker
from service.render import CardRenderer, RenderContext
from tests.conftest import draft_order_cards, her2_positive_liver_patient, statement

NOW = date(2026, 6, 1)
SUMMARY = "neratinib: start loperamide with the first dose"


def _draft(rid: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": text},
    }


def _premedication_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [card for card in cards if SUMMARY in card["summary"]]


def test_a_neratinib_draft_with_no_loperamide_gets_the_labels_schedule(engine, knowledge):
    cards = _premedication_cards(
        draft_order_cards(engine, knowledge, her2_positive_liver_patient(), "Nerlynx 40 mg tablets", NOW)
    )
    assert len(cards) == 1 and cards[0]["indicator"] == "warning"
    assert "through day 56" in cards[0]["detail"] and "dose-escalation" in cards[0]["detail"]
    assert "neratinib (Nerlynx)" in cards[0]["source"]["label"]


@pytest.mark.parametrize(
    "loperamide",
    [
        statement("lop", "Imodium 2 mg capsules", "2026-05-25", status="active"),  # a brand name, ongoing
        statement("lop", "loperamide HCl 2 mg", "2026-04-20", "2026-05-20"),  # ended within 56 days
        {
            **statement("lop", "x", "2026-05-28", status="active"),
            "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "A07DA03"}]},
        },
    ],
)
def test_loperamide_on_record_lately_needs_no_reminder(engine, knowledge, loperamide):
    resources = [*her2_positive_liver_patient(), loperamide]
    assert _premedication_cards(draft_order_cards(engine, knowledge, resources, "neratinib 240 mg", NOW)) == []
    evaluation = engine.evaluate("p1", resources, NOW)
    assert [p.name for p in evaluation.record.premedications] == ["loperamide"]
    assert evaluation.record.unidentified_anticancer == []  # a supportive drug, not a line's


def test_loperamide_of_years_ago_or_a_neratinib_given_now_decide_as_the_label_does(engine, knowledge):
    old = statement("lop", "loperamide 2 mg", "2023-01-01", "2023-03-01")
    assert (
        len(_premedication_cards(draft_order_cards(engine, knowledge, [*her2_positive_liver_patient(), old], "neratinib", NOW)))
        == 1
    )
    on_neratinib = [*her2_positive_liver_patient(), statement("ner", "neratinib 240 mg", "2026-03-01", status="active")]
    assert _premedication_cards(draft_order_cards(engine, knowledge, on_neratinib, "neratinib", NOW)) == []  # not a first dose


def test_loperamide_drafted_beside_neratinib_needs_no_reminder(engine, knowledge):
    evaluation = engine.evaluate("p1", her2_positive_liver_patient(), NOW)
    checker = OrderChecker(knowledge, engine.normaliser, CardRenderer(knowledge))
    drafts = [_draft("d1", "NERLYNX 40 MG TABLET"), _draft("d2", "Loperamide 2 mg capsule")]
    assert _premedication_cards(checker.cards(evaluation, drafts, RenderContext("h", "p1"))) == []
    alone = checker.cards(evaluation, drafts[:1], RenderContext("h", "p1"))
    assert len(_premedication_cards(alone)) == 1


def test_other_drafts_get_no_premedication_card(engine, knowledge):
    for drug in ("Kadcyla", "tucatinib 150 mg", "loperamide 2 mg"):
        assert _premedication_cards(draft_order_cards(engine, knowledge, her2_positive_liver_patient(), drug, NOW)) == []
