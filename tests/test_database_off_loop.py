"""Issue 16: a hook answer never waits for the database, under the Dockerfile's gevent worker.

Issued cards are written in batches by a timer. Under gevent that timer is a greenlet, and a database
call blocks in C: the worker's event loop stopped for the whole write. A checkpoint of the SQLite
file took 20-30 ms, so every request in flight on that worker waited as long (it showed in p99), and a
database held by another writer (``busy_timeout`` 5 s) stopped the worker's hook answers for seconds.

Here one gevent worker, as the Dockerfile runs it, answers a hook call; then the test holds the
database's write lock (as a long transaction of another process would) until after the batch's
write has begun and is waiting for it. Meanwhile hook calls must be answered within a second. After
the lock is released, feedback on the first answer's cards is accepted: its batch was written, not lost.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import requests

from tests.processes import served
from tests.test_slow_clients import hook_body

SERVICE = "/cds-services/her2-mbc-guidance"
ANSWER_WITHIN_SECONDS = 1.0
BATCH_SECONDS = 0.2


def hook_call(base_url: str, body: dict[str, Any], instance: str) -> tuple[float, list[dict[str, Any]]]:
    started = time.monotonic()
    response = requests.post(base_url + SERVICE, json=body | {"hookInstance": instance}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return time.monotonic() - started, list(response.json()["cards"])


def test_hook_answers_do_not_wait_for_a_locked_database(tmp_path: Path) -> None:
    settings = {"HER2CDS_ISSUED_CARD_BATCH_SECONDS": str(BATCH_SECONDS)}
    body = hook_body()
    with served(tmp_path, settings, gunicorn_args=("--workers", "1")) as service:
        _seconds, first_cards = hook_call(service.base_url, body, "locked-0")  # starts a batch
        blocker = sqlite3.connect(tmp_path / "her2cds-feedback.sqlite3", timeout=10, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # the write lock; readers (WAL) go on
            time.sleep(BATCH_SECONDS + 0.3)  # the batch's write has begun and waits for the lock
            durations = [hook_call(service.base_url, body, f"locked-{number}")[0] for number in range(1, 6)]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert max(durations) < ANSWER_WITHIN_SECONDS, durations
        feedback = {
            "feedback": [
                {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-06-01T10:00:00Z"} for card in first_cards
            ]
        }
        answer = requests.post(service.base_url + SERVICE + "/feedback", json=feedback, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
