"""Helpers made cheaper for issue 16 give what the plain versions gave: ``prune`` (service/render/prune.py)
and the card uuids (service/render/base.py)."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.knowledge import Knowledge, load_knowledge
from service.render import CARD_NAMESPACE, CardRenderer, RenderContext, prune, prune_except


class Text(str):
    """A str subclass: pruned like a str."""


def reference_prune(node: Any) -> Any:
    """The walk before issue 16: drop None, "" and containers left empty, at every depth."""
    if isinstance(node, dict):
        kept = {key: reference_prune(value) for key, value in node.items()}
        return {key: value for key, value in kept.items() if not _empty(value)}
    if isinstance(node, list):
        return [value for value in map(reference_prune, node) if not _empty(value)]
    return node


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, dict, list)) and not value)


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(allow_nan=False, min_value=-1, max_value=1),
    st.sampled_from(["", "a", Text(""), Text("b")]),
    st.just(()),
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists, dicts and a dict subclass of ``children``."""
    keys = st.sampled_from(["a", "b", "c", "d"])
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
        st.builds(OrderedDict, st.dictionaries(keys, children, max_size=2)),
    )


trees = st.recursive(leaves, containers, max_leaves=25)


@given(trees)
def test_prune_matches_the_reference_walk(tree: Any) -> None:
    pruned = prune(tree)
    expected = reference_prune(tree)
    assert pruned == expected
    assert repr(pruned) == repr(expected)  # same order, same types of leaves


def test_prune_keeps_false_and_zero_and_drops_empties_at_every_depth() -> None:
    card = {"a": False, "b": 0, "c": "", "d": None, "e": [None, "", {}, [[]], {"f": ""}], "g": {"h": {"i": None}}, "j": 0.0}
    assert prune(card) == {"a": False, "b": 0, "j": 0.0}


def test_every_draft_order_is_built_with_no_empty_value(knowledge: Knowledge) -> None:
    renderer = CardRenderer(knowledge)
    for regimen_id, regimen in knowledge.regimen_models.items():
        for agent in regimen.agents:
            draft = renderer.draft_medication_request(agent, regimen_id, "group-uuid", "")
            assert prune(draft) == draft, (regimen_id, agent)


def test_an_agent_whose_entry_leaves_an_empty_value_gets_its_draft_pruned() -> None:
    knowledge = load_knowledge()
    regimen_id, regimen = next((rid, r) for rid, r in knowledge.regimen_models.items() if r.agents)
    agent = regimen.agents[0]
    knowledge.drugs["agents"][agent]["display"] = ""
    knowledge.drugs["agents"][agent]["rxnorm"] = []
    renderer = CardRenderer(knowledge)
    assert renderer.drafts_to_prune == {agent}
    draft = renderer.draft_medication_request(agent, regimen_id, "group-uuid", "p")
    assert "medicationCodeableConcept" not in draft
    assert prune(draft) == draft


def test_prune_except_keeps_the_order_and_the_clean_values_as_they_are() -> None:
    clean = [{"label": "x", "actions": [{"type": "create"}]}]
    card = {"uuid": "u", "empty": "", "suggestions": clean, "links": [], "detail": "d"}
    pruned = prune_except(card, frozenset({"suggestions"}))
    assert list(pruned) == ["uuid", "suggestions", "detail"]
    assert pruned["suggestions"] is clean
    assert pruned == prune(card)


any_text = st.text(st.characters(blacklist_categories=()))  # lone surrogates too: JSON "\\ud800" parses to one


@given(any_text, any_text, st.lists(any_text, min_size=1, max_size=4))
def test_card_uuids_are_the_uuid5_of_hook_instance_patient_and_key(hook_instance: str, patient_id: str, keys: list[str]) -> None:
    """Any text (non-ASCII, "|", empty) gives uuid5's own text, however many uuids one response makes;
    a name uuid5 cannot encode (a lone surrogate) is refused as uuid5 refuses it."""
    context = RenderContext(hook_instance, patient_id)
    for key in keys:
        try:
            expected = str(uuid.uuid5(CARD_NAMESPACE, f"{hook_instance}|{patient_id}|{key}"))
        except UnicodeEncodeError:
            with pytest.raises(UnicodeEncodeError):
                context.card_uuid(key)
            continue
        assert context.card_uuid(key) == expected
