"""Pruning: CDS Hooks forbids null and empty values, so every card drops them before it leaves (issue 16)."""

from __future__ import annotations

from typing import Any


def prune(node: Any) -> Any:
    """Drop None, empty strings, empty lists and empty objects (CDS Hooks forbids them), at every depth.

    Every card of every request goes through here (issue 16), so the walk tests each value's exact
    type inline instead of calling a function per value: plain ``str``, ``dict`` and ``list`` are what
    cards are made of; any other value (a number, a subclass) goes through ``_pruned_other``.
    """
    if isinstance(node, dict):
        return _pruned_dict(node)
    if isinstance(node, list):
        return _pruned_list(node)
    return node


_DROP: Any = object()


def _pruned_dict(node: dict[Any, Any]) -> dict[Any, Any]:
    kept = {}
    for key, value in node.items():
        kind = type(value)
        if kind is str:
            if value:
                kept[key] = value
        elif kind is dict:
            value = _pruned_dict(value)
            if value:
                kept[key] = value
        elif kind is list:
            value = _pruned_list(value)
            if value:
                kept[key] = value
        elif value is not None:
            value = _pruned_other(value)
            if value is not _DROP:
                kept[key] = value
    return kept


def _pruned_list(node: list[Any]) -> list[Any]:
    kept = []
    for value in node:
        kind = type(value)
        if kind is str:
            if value:
                kept.append(value)
        elif kind is dict:
            value = _pruned_dict(value)
            if value:
                kept.append(value)
        elif kind is list:
            value = _pruned_list(value)
            if value:
                kept.append(value)
        elif value is not None:
            value = _pruned_other(value)
            if value is not _DROP:
                kept.append(value)
    return kept


def prune_except(card: dict[str, Any], built_clean: frozenset[str]) -> dict[str, Any]:
    """``prune(card)``, the values of the ``built_clean`` keys kept as they are: they were built with no empty value."""
    pruned = _pruned_dict({key: value for key, value in card.items() if key not in built_clean})
    kept = {}
    for key, value in card.items():  # the card's order
        if key in built_clean:
            kept[key] = value
        elif key in pruned:
            kept[key] = pruned[key]
    return kept


def _pruned_other(value: Any) -> Any:
    """A value other than None or a plain str, dict or list, pruned: ``_DROP`` when it is or ends up empty."""
    if isinstance(value, dict):
        return _pruned_dict(value) or _DROP
    if isinstance(value, list):
        return _pruned_list(value) or _DROP
    if isinstance(value, str) and not value:
        return _DROP
    return value


def _built_clean(node: Any) -> bool:
    """``node`` holds no value ``prune`` would drop (and is not empty itself)."""
    return bool(node) and prune(node) == node
