"""service.ops.balance: which gevent worker may accept the next connection (issue 16)."""

from __future__ import annotations

import itertools

from service.ops.balance import ConnectionCounts


def test_a_worker_accepts_unless_another_live_worker_holds_fewer() -> None:
    counts = ConnectionCounts(slots=3)
    first, second = counts.claim(), counts.claim()
    assert (first, second) == (0, 1)
    assert counts.may_accept(first, 0)  # a tie accepts
    counts.write(second, 2)
    assert counts.may_accept(first, 2)
    assert not counts.may_accept(first, 3)
    counts.release(second)  # an exited worker no longer counts
    assert counts.may_accept(first, 3)


def test_of_any_counts_the_worker_holding_the_fewest_accepts() -> None:
    for held in itertools.product(range(4), repeat=3):
        counts = ConnectionCounts(slots=3)
        slots = [counts.claim() for _ in held]
        for slot, count in zip(slots, held, strict=True):
            counts.write(slot, count)
        accepting = [slot for slot, count in zip(slots, held, strict=True) if counts.may_accept(slot, count)]
        assert accepting == [slot for slot, count in zip(slots, held, strict=True) if count == min(held)]


def test_slots_run_out_and_come_back() -> None:
    counts = ConnectionCounts(slots=2)
    taken = [counts.claim(), counts.claim()]
    assert counts.claim() is None  # that worker accepts without balancing
    counts.release(taken[0])
    assert counts.claim() == taken[0]
