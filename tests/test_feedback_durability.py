"""Feedback durability: acknowledged feedback survives a gunicorn worker killed with SIGKILL mid-stream.

gunicorn runs the app as the Dockerfile does (the start script's single ``create_app()`` first, then 2
gthread workers with 4 threads, the same timeouts, ``--worker-tmp-dir /dev/shm``) on the default
database, the SQLite file ``var/her2cds-feedback.sqlite3`` under the working directory, and again on a
throwaway PostgreSQL cluster. Eight client threads send feedback, each item with its own card id;
after a third of the stream one worker is killed with SIGKILL (pid from the master's children), after
two thirds the other one, and the stream goes on while the master starts new workers. Then gunicorn is
stopped and the database read directly: every card answered with 200 must be there. Requests cut off
by the kill (connection reset) are not acknowledged and may or may not be stored; a 5xx never happens.

The same stream against ``tests/durability_apps.py:write_behind_app`` (it answers before it writes)
must lose acknowledged feedback: the test can fail.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from service.issued_cards import IssuedCards
from tests.processes import dockerfile_gunicorn_args, free_port
from tests.test_feedback_postgres import postgres_url  # noqa: F401 - the throwaway PostgreSQL cluster fixture

ROOT = Path(__file__).resolve().parent.parent
SENDERS = 8
PER_SENDER = 60
SERVICE_ID = "her2-mbc-guidance"
FEEDBACK = f"/cds-services/{SERVICE_ID}/feedback"
DEFAULT_DATABASE = Path("var") / "her2cds-feedback.sqlite3"  # service/config.py's default, relative to the cwd


@dataclass
class Gunicorn:
    """A gunicorn master with the Dockerfile's settings, started in ``workdir``."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return sorted(int(pid) for pid in children)


def start_gunicorn(workdir: Path, app: str, database_url: str | None) -> Gunicorn:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HER2CDS_", "GUNICORN_"))}
    env["PYTHONPATH"] = str(ROOT)  # for tests.durability_apps
    if database_url:
        env["HER2CDS_DATABASE_URL"] = database_url
    module, _, factory = app.partition(":")
    # The Dockerfile's start script: one create_app() first, so the workers never race to create the table.
    subprocess.run(
        [sys.executable, "-c", f"import {module}; {module}.{factory}"], cwd=workdir, env=env, check=True, capture_output=True
    )
    port = free_port()
    log = workdir / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", *dockerfile_gunicorn_args(port), "--pythonpath", str(ROOT), app]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Gunicorn(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{server.base_url}/healthz", timeout=5).status_code == 200 and len(server.worker_pids()) == 2:
                return server
        except requests.RequestException:
            pass  # not listening yet, or slow to answer on a busy machine
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    pytest.fail("gunicorn did not start: " + log.read_text()[-3000:])


def stop(server: Gunicorn) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@dataclass
class Stream:
    """What the client threads sent and what came back."""

    acknowledged: set[str] = field(default_factory=set)
    cut_off: set[str] = field(default_factory=set)  # no answer: the worker died with the request
    server_errors: list[str] = field(default_factory=list)
    acknowledged_after_kills: int = 0
    kills: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cards: dict[tuple[int, int], str] = field(default_factory=dict)  # (sender, n) -> the card it sends feedback on


def feedback_body(card: str) -> dict[str, object]:
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "s1"}],
                "outcomeTimestamp": "2026-06-01T10:00:00Z",
            }
        ]
    }


def stream_cards() -> dict[tuple[int, int], str]:
    """The card uuid each sender sends its n-th feedback on (unique per run: PostgreSQL may be shared)."""
    run = uuid.uuid4().hex[:8]
    return {(sender, n): f"durable-{sender}-{n}-{run}" for sender in range(SENDERS) for n in range(PER_SENDER)}


def issue(database_url: str, cards: dict[tuple[int, int], str]) -> None:
    """Record the cards as issued to the development client, as the hook answers that carried them would:
    the service takes feedback only on cards it issued."""
    engine = create_engine(database_url)
    try:
        records = [{"uuid": card, "indicator": "info"} for card in cards.values()]
        IssuedCards(engine).record(records, dict.fromkeys(cards.values(), "summary"), "development", SERVICE_ID, "patient-view")
    finally:
        engine.dispose()


def send(server: Gunicorn, stream: Stream, sender: int) -> None:
    with requests.Session() as session:
        for n in range(PER_SENDER):
            card = stream.cards[(sender, n)]
            try:
                response = session.post(server.base_url + FEEDBACK, json=feedback_body(card), timeout=30)
            except requests.RequestException:  # reset, or a response cut off mid-body: no acknowledgement
                with stream.lock:
                    stream.cut_off.add(card)
                session.close()  # a fresh connection to a live worker
                continue
            with stream.lock:
                if response.status_code == 200:
                    stream.acknowledged.add(card)
                    stream.acknowledged_after_kills += len(stream.kills) == 2
                elif response.status_code >= 500:
                    stream.server_errors.append(f"{response.status_code} {response.text[:200]}")


def kill_workers_mid_stream(server: Gunicorn, stream: Stream) -> None:
    """SIGKILL one worker after a third of the stream, the other (a survivor of the first kill) after two thirds."""
    total = SENDERS * PER_SENDER
    for share in (1 / 3, 2 / 3):
        while True:
            with stream.lock:
                if len(stream.acknowledged) + len(stream.cut_off) >= total * share:
                    break
            time.sleep(0.005)
        victim = next(pid for pid in server.worker_pids() if pid not in stream.kills)
        os.kill(victim, signal.SIGKILL)
        stream.kills.append(victim)


def run_stream(server: Gunicorn, database_url: str) -> Stream:
    stream = Stream(cards=stream_cards())
    issue(database_url, stream.cards)
    killer = threading.Thread(target=kill_workers_mid_stream, args=(server, stream))
    killer.start()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        list(pool.map(lambda sender: send(server, stream, sender), range(SENDERS)))
    killer.join(timeout=30)
    return stream


def stored_cards_sqlite(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("SELECT card_uuid FROM feedback")}


def stored_cards_sql(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT card_uuid FROM feedback"))}
    finally:
        engine.dispose()


def check_durable(stream: Stream, stored: set[str]) -> None:
    assert len(stream.kills) == 2, "both workers were killed mid-stream"
    assert stream.acknowledged_after_kills > 0, "the stream went on after the kills, served by new workers"
    assert stream.server_errors == []
    lost = stream.acknowledged - stored
    assert not lost, f"{len(lost)} of {len(stream.acknowledged)} acknowledged feedback items are not in the database"
    assert stored <= stream.acknowledged | stream.cut_off  # nothing stored that was not sent


def test_sqlite_default_loses_no_acknowledged_feedback(tmp_path: Path) -> None:
    server = start_gunicorn(tmp_path, "service:create_app()", None)
    try:
        stream = run_stream(server, f"sqlite:///{tmp_path / DEFAULT_DATABASE}")
    finally:
        stop(server)
    stored = stored_cards_sqlite(tmp_path / DEFAULT_DATABASE)
    check_durable(stream, stored)
    assert len(stream.acknowledged) >= SENDERS * PER_SENDER * 0.9, (len(stream.acknowledged), len(stream.cut_off))


def test_postgresql_loses_no_acknowledged_feedback(tmp_path: Path, postgres_url: str) -> None:  # noqa: F811 - the fixture
    server = start_gunicorn(tmp_path, "service:create_app()", postgres_url)
    try:
        stream = run_stream(server, postgres_url)
    finally:
        stop(server)
    check_durable(stream, stored_cards_sql(postgres_url))


def test_the_check_catches_an_app_that_answers_before_it_writes(tmp_path: Path) -> None:
    server = start_gunicorn(tmp_path, "tests.durability_apps:write_behind_app()", None)
    try:
        stream = run_stream(server, f"sqlite:///{tmp_path / DEFAULT_DATABASE}")
    finally:
        stop(server)
    stored = stored_cards_sqlite(tmp_path / DEFAULT_DATABASE)
    assert stream.server_errors == [] and len(stream.kills) == 2
    lost = stream.acknowledged - stored
    assert lost, "killing a worker with writes pending must lose acknowledged feedback"
    with pytest.raises(AssertionError, match="acknowledged feedback items are not in the database"):
        check_durable(stream, stored)
