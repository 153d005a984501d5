"""Feedback in a real PostgreSQL (a throwaway cluster started for the test), and in SQLite, both idempotent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.feedback import FeedbackStore


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed (apt-get install postgresql): the PostgreSQL feedback test needs it")
    return str(found)


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb refuses to run as root; CI runs as root, so drop to the postgres user there.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    # Not under pytest's tmp dir: its parents are private to root and the server runs as postgres.
    data = Path(tempfile.mkdtemp(prefix="her2cds-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    initdb = subprocess.run(
        _as_postgres_user([_pg_bin("initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "her2cds"]),
        capture_output=True,
        text=True,
    )
    if initdb.returncode != 0:
        pytest.fail(f"initdb failed: {initdb.stderr[-2000:]}")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data}"
    pg_ctl = _pg_bin("pg_ctl")
    started = subprocess.run(
        _as_postgres_user([pg_ctl, "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start"]),
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        pytest.fail(f"PostgreSQL did not start: {started.stderr[-2000:]}")
    try:
        yield f"postgresql+psycopg://her2cds@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data / "db"), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def feedback_item(card: str, n: int = 0) -> dict:
    return {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": f"s{n}"}],
        "outcomeTimestamp": f"2026-06-01T10:00:{n:02d}Z",
    }


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_feedback_is_idempotent_and_safe_under_concurrency(backend, request, tmp_path):
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/f.sqlite3"
    store = FeedbackStore(url)
    assert store.engine.dialect.name == backend
    assert store.store("her2-mbc-guidance", [feedback_item("card-a")]) == 1
    assert store.store("her2-mbc-guidance", [feedback_item("card-a")]) == 0
    # the same 20 items sent 4 times at once (an EHR retrying): 20 rows, no error
    items = [feedback_item("card-b", n) for n in range(20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        inserted = sum(pool.map(lambda _: FeedbackStore(url).store("her2-mbc-guidance", items), range(4)))
    assert inserted == 20
    assert store.count("card-b") == 20 and store.count("card-a") == 1


def test_the_app_stores_feedback_in_postgresql(postgres_url):
    from service import create_app

    app = create_app({"database_url": postgres_url})
    client = app.test_client()
    # A card issued to the development client, as a hook answer records it.
    app.extensions["her2cds"].issued.record(
        [{"uuid": "card-http", "indicator": "info"}], {"card-http": "summary"}, "development", "her2-mbc-guidance", "patient-view"
    )
    body = {"feedback": [feedback_item("card-http")]}
    assert client.post("/cds-services/her2-mbc-guidance/feedback", json=body).status_code == 200
    assert client.post("/cds-services/her2-mbc-guidance/feedback", json=body).status_code == 200
    assert FeedbackStore(postgres_url).count("card-http") == 1
    assert client.get("/healthz").json == {"status": "ok", "database": "ok"}
