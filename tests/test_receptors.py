"""ASCO/CAP HER2 and ER/PR rules as a table."""

from __future__ import annotations

from datetime import date

import pytest

from service.domain import ReceptorResult
from service.infer.receptors import her2_status, ish_group, ish_positive, receptor_status

D = date(2025, 1, 10)


def ihc(score, on=D):
    return ReceptorResult("her2-ihc", on, ihc_score=score)


def ish(ratio, copies, on=D):
    return [ReceptorResult("her2-ratio", on, number=ratio), ReceptorResult("her2-copies", on, number=copies)]


@pytest.mark.parametrize(
    ("ratio", "copies", "group"),
    [
        (2.5, 5.0, 1),
        (2.0, 4.0, 1),
        (2.2, 3.5, 2),
        (1.5, 7.0, 3),
        (1.9, 6.0, 3),
        (1.5, 4.5, 4),
        (1.5, 4.0, 4),
        (1.2, 2.0, 5),
    ],
)
def test_ish_groups(ratio, copies, group):
    assert ish_group(ratio, copies) == group


@pytest.mark.parametrize(
    ("group", "ihc_score", "positive"),
    [
        (1, None, True),
        (1, 1, True),
        (2, 3, True),
        (2, 2, False),
        (3, 2, True),
        (3, 3, True),
        (3, 1, False),
        (4, 3, True),
        (4, 2, False),
        (5, 3, False),
        (5, None, False),
    ],
)
def test_ish_positive_needs_concurrent_ihc(group, ihc_score, positive):
    assert ish_positive(group, ihc_score) is positive


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([ihc(3)], "positive"),
        ([ihc(2)], "equivocal"),
        ([ihc(2)] + ish(2.4, 5.0), "positive"),
        ([ihc(2)] + ish(1.3, 2.5), "low"),
        ([ihc(1)], "low"),
        ([ihc(0)], "zero"),
        ([ihc(0)] + ish(1.2, 2.0), "zero"),
        (ish(1.2, 2.0), "negative"),
        (ish(2.3, 3.2), "negative"),  # group 2 without IHC 3+
        ([ihc(2)] + ish(1.5, 6.5), "positive"),  # group 3 with IHC 2+
        ([ReceptorResult("her2-interpretation", D, qualitative="positive")], "positive"),
        ([ReceptorResult("her2-ihc", D, qualitative="negative")], "negative"),
        ([], "unknown"),
        # the most recent tissue result wins, both ways
        ([ihc(3, date(2020, 1, 1)), ihc(1, date(2024, 1, 1))], "low"),
        ([ihc(1, date(2020, 1, 1)), ihc(3, date(2024, 1, 1))], "positive"),
        # reflex ISH two weeks after the IHC belongs to the same test
        ([ihc(2, date(2024, 1, 1))] + ish(2.6, 6.0, date(2024, 1, 15)), "positive"),
    ],
)
def test_her2_status(results, expected):
    assert her2_status(results)[0] == expected


@pytest.mark.parametrize(
    ("er", "pr", "expected"),
    [
        (0.5, 0.0, "negative"),
        (1.0, 0.0, "positive"),
        (0.0, 5.0, "positive"),
        (0.5, None, "unknown"),
        (None, None, "unknown"),
    ],
)
def test_hormone_receptor_by_percent(er, pr, expected):
    results = []
    if er is not None:
        results.append(ReceptorResult("er-percent", D, number=er))
    if pr is not None:
        results.append(ReceptorResult("pr-percent", D, number=pr))
    assert receptor_status(results).hormone_receptor == expected
