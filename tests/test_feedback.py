"""Feedback joined to the cards the service issued, its bounds, and ``her2-cds report`` (issue 13.8/13.11, issue 15).

The attack replays against gunicorn are in tests/test_attacks.py; these run the app in process.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from service import create_app
from service.cli import main
from service.issued_cards import SQLITE_ROWS_PER_INSERT, IssuedCards, issued_cards_table, kind_and_rule
from tests.conftest import her2_positive_liver_patient, prefetch_for

SERVICE = "/cds-services/her2-mbc-guidance"
FEEDBACK = SERVICE + "/feedback"


@pytest.fixture()
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/feedback.sqlite3"


@pytest.fixture()
def app(database: str):
    return create_app({"database_url": database, "evaluation_date": "2026-06-01"})


def hook_body(app: Any, knowledge: Any, instance: str) -> dict[str, Any]:
    prefetch = prefetch_for(her2_positive_liver_patient(), app.extensions["her2cds"].templates, knowledge)
    return {"hook": "patient-view", "hookInstance": instance, "context": {"patientId": "p1"}, "prefetch": prefetch}


def answer(app: Any, knowledge: Any, instance: str = "h-1") -> list[dict[str, Any]]:
    response = app.test_client().post(SERVICE, json=hook_body(app, knowledge, instance))
    assert response.status_code == 200
    return list(response.get_json()["cards"])


def item(card: str, outcome: str = "accepted", **extra: Any) -> dict[str, Any]:
    return {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-06-01T10:00:00Z", **extra}


@pytest.mark.parametrize(
    ("key", "kind", "rule"),
    [
        ("summary", "summary", ""),
        ("alert:lvef-low", "alert", "lvef-low"),
        ("regimen:thp", "regimen", "thp"),
        ("data-problems", "data-problems", ""),
        ("order:draft-7:trastuzumab-deruxtecan:hepatic", "order", "trastuzumab-deruxtecan:hepatic"),
    ],
)
def test_a_render_key_gives_the_kind_and_the_rule(key, kind, rule):
    assert kind_and_rule(key) == (kind, rule)


def test_every_card_of_an_answer_is_recorded_with_its_kind_indicator_and_rule(app, knowledge):
    cards = answer(app, knowledge)
    issued = app.extensions["her2cds"].issued.find(card["uuid"] for card in cards)
    assert set(issued) == {card["uuid"] for card in cards}
    for card in cards:
        record = issued[card["uuid"]]
        assert (record.client, record.service_id, record.hook, record.indicator) == (
            "development",
            "her2-mbc-guidance",
            "patient-view",
            card["indicator"],
        )
    kinds = {record.kind for record in issued.values()}
    assert "summary" in kinds and kinds <= {"summary", "alert", "data-problems"}
    assert all(record.rule for record in issued.values() if record.kind == "alert")


def test_the_same_hook_instance_answered_twice_is_recorded_once(app, knowledge):
    first, again = answer(app, knowledge, "same"), answer(app, knowledge, "same")
    assert [c["uuid"] for c in first] == [c["uuid"] for c in again]
    assert len(app.extensions["her2cds"].issued.find(c["uuid"] for c in first)) == len(first)


@pytest.mark.parametrize(
    "bad",
    [
        {"overrideReason": {"reason": {"system": "urn:x"}}},  # a Coding needs its code
        {"overrideReason": {"reason": {"code": "x" * 101}}},
        {"overrideReason": {"reason": "free text"}},
        {"overrideReason": {"userComment": "x" * 2001}},
        {"outcomeTimestamp": "yesterday-ish"},
        {"outcomeTimestamp": "2026-06-01"},
        {"acceptedSuggestions": [{"id": f"s{n}"} for n in range(21)]},
        {"outcome": "ignored"},
    ],
)
def test_feedback_fields_are_bounded_to_their_cds_hooks_types(app, knowledge, bad):
    card = answer(app, knowledge)[0]["uuid"]
    client = app.test_client()
    assert client.post(FEEDBACK, json={"feedback": [item(card)]}).status_code == 200
    response = client.post(FEEDBACK, json={"feedback": [item(card) | bad]})
    assert response.status_code == 400 and response.get_json()["resourceType"] == "OperationOutcome"


def test_unknown_keys_of_an_override_reason_are_not_stored(app, knowledge):
    card = answer(app, knowledge)[0]["uuid"]
    reason = {"reason": {"code": "patient-declined", "system": "urn:x", "padding": "y" * 5000}, "userComment": "ok", "more": 1}
    body = {"feedback": [item(card, "overridden", overrideReason=reason)]}
    assert app.test_client().post(FEEDBACK, json=body).status_code == 200
    stored = app.extensions["her2cds"].feedback.rows(card)[0]["override_reason"]
    assert "padding" not in stored and "more" not in stored and len(stored) < 200


def test_feedback_per_client_and_hour_is_limited(app, knowledge):
    runtime = app.extensions["her2cds"]
    runtime.feedback_per_client_per_hour = 3
    cards = [answer(app, knowledge, f"limit-{number}")[0]["uuid"] for number in range(4)]
    client = app.test_client()
    assert client.post(FEEDBACK, json={"feedback": [item(card) for card in cards[:3]]}).status_code == 200
    refused = client.post(FEEDBACK, json={"feedback": [item(cards[3])]})
    assert refused.status_code == 429 and "per client" in refused.get_json()["issue"][0]["diagnostics"]


def test_feedback_on_an_expired_card_is_refused_and_old_cards_are_purged(app, knowledge):
    runtime = app.extensions["her2cds"]
    old, fresh = answer(app, knowledge, "old")[0]["uuid"], answer(app, knowledge, "fresh")[0]["uuid"]
    runtime.issued.flush()  # written now, not within the batch's 0.2 s, so that the row can be aged
    with runtime.feedback.engine.begin() as connection:
        connection.execute(
            update(issued_cards_table)
            .where(issued_cards_table.c.card_uuid == old)
            .values(issued_at=datetime.now(UTC) - timedelta(days=31))
        )
    assert app.test_client().post(FEEDBACK, json={"feedback": [item(old)]}).status_code == 404
    assert runtime.issued.purge() >= 1
    assert runtime.issued.find([old, fresh]).keys() == {fresh}


def test_a_feedback_table_of_the_previous_release_gets_the_new_columns(tmp_path, knowledge):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE feedback (id INTEGER PRIMARY KEY, dedupe_key VARCHAR(64) NOT NULL UNIQUE,"
            " service_id VARCHAR(100) NOT NULL, card_uuid VARCHAR(100) NOT NULL, outcome VARCHAR(20) NOT NULL,"
            " outcome_timestamp VARCHAR(40) NOT NULL,"
            " accepted_suggestions TEXT NOT NULL, override_reason TEXT, received_at DATETIME NOT NULL)"
        )
        connection.execute(
            "INSERT INTO feedback VALUES (1, 'k', 'her2-mbc-guidance', 'c-old', 'overridden', '2026-06-01T10:00:00Z', '[]', NULL,"
            f" '{datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f}')"
        )
    app = create_app({"database_url": f"sqlite:///{path}", "evaluation_date": "2026-06-01"})
    card = answer(app, knowledge)[0]["uuid"]
    assert app.test_client().post(FEEDBACK, json={"feedback": [item(card)]}).status_code == 200
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT card_uuid, client, card_kind FROM feedback ORDER BY id").fetchall()
    assert rows == [("c-old", None, None), (card, "development", "summary")]


def run_report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


def test_the_report_gives_rates_per_card_kind_and_rule_with_the_override_reasons(app, knowledge, database, capsys):
    client = app.test_client()
    summaries = []
    for number in range(4):
        cards = answer(app, knowledge, f"r-{number}")
        summaries.append(cards[0]["uuid"])
    declined = {"reason": {"code": "patient-declined", "display": "Patient declined", "system": "urn:x"}}
    formula = {"reason": {"code": "=HYPERLINK(\"http://evil.example\")"}}
    items = [
        item(summaries[0]),
        item(summaries[1], "overridden", overrideReason=declined),
        item(summaries[2], "overridden", overrideReason=declined),
        item(summaries[3], "overridden", overrideReason=formula),
    ]
    assert client.post(FEEDBACK, json={"feedback": items}).status_code == 200
    rows = list(csv.DictReader(io.StringIO(run_report(capsys, "--database-url", database, "--format", "csv"))))
    summary = next(row for row in rows if row["kind"] == "summary")
    assert (summary["issued"], summary["feedback"], summary["accepted"], summary["overridden"]) == ("4", "4", "1", "3")
    assert (summary["acceptance_rate"], summary["override_rate"]) == ("0.25", "0.75")
    assert summary["override_reasons"].startswith("patient-declined (Patient declined) x2")
    assert "'=HYPERLINK" in summary["override_reasons"] or all(not v.startswith("=") for v in summary.values())
    text = run_report(capsys, "--database-url", database)
    assert "summary" in text and "75 %" in text and "patient-declined (Patient declined) x2" in text
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert "no cards issued and no feedback" in run_report(capsys, "--database-url", database, "--since", tomorrow)


def test_the_report_refuses_a_range_that_ends_before_it_starts(database, capsys):
    assert main(["report", "--database-url", database, "--since", "2026-06-02", "--until", "2026-06-01"]) == 2


def test_issued_cards_are_written_in_batches_and_seen_by_another_worker_in_time(app, knowledge, tmp_path):
    """Issue 16: one transaction per batch, not per answer. A second store on the same database (another
    gunicorn worker) does not see a batch before it is written; the feedback endpoint asks again after a
    batch's time, by which the timer has written it."""
    runtime = app.extensions["her2cds"]
    assert runtime.issued.batch_seconds == 0.2  # the default
    other_worker = IssuedCards(runtime.feedback.relaxed_engine())
    cards = [answer(app, knowledge, f"batch-{number}")[0]["uuid"] for number in range(3)]
    assert other_worker.find(cards) == {}  # still in this worker's batch
    time.sleep(runtime.issued.batch_seconds + 0.3)
    assert other_worker.find(cards).keys() == set(cards)  # the timer wrote them, in one batch


def test_feedback_arriving_at_another_worker_before_the_batch_is_written_is_accepted(app, knowledge):
    runtime = app.extensions["her2cds"]
    issuing_worker = IssuedCards(runtime.feedback.relaxed_engine(), batch_seconds=0.2)
    cards = [{"uuid": "0c8f3f0e-0000-4000-8000-000000000001", "indicator": "info"}]
    issuing_worker.record(cards, {cards[0]["uuid"]: "summary:options"}, "development", "her2-mbc-guidance", "patient-view")
    response = app.test_client().post(FEEDBACK, json={"feedback": [item(cards[0]["uuid"])]})
    assert response.status_code == 200, response.get_json()


def test_a_batch_repeating_a_card_writes_it_once(app):
    """An EHR retrying a hookInstance within one batch: the same card twice in the batch, and once more later."""
    runtime = app.extensions["her2cds"]
    store = IssuedCards(runtime.feedback.relaxed_engine(), batch_seconds=60)
    card = {"uuid": "0c8f3f0e-0000-4000-8000-000000000002", "indicator": "warning"}
    for _ in range(2):
        store.record([card], {card["uuid"]: "alert:lvef-low"}, "development", "her2-mbc-guidance", "patient-view")
    assert store.flush() == 2
    store.record([card], {card["uuid"]: "alert:lvef-low"}, "development", "her2-mbc-guidance", "patient-view")
    assert store.flush() == 1
    assert list(store.find([card["uuid"]])) == [card["uuid"]]


def test_a_process_that_exits_writes_its_last_batch(tmp_path):
    """A worker stopped as gunicorn stops it (a normal exit) writes the cards still in its batch."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    url = f"sqlite:///{tmp_path}/exit.sqlite3"
    script = f"""
from service.feedback import FeedbackStore
from service.issued_cards import IssuedCards
store = IssuedCards(FeedbackStore({url!r}).relaxed_engine(), batch_seconds=60)
card = {{"uuid": "0c8f3f0e-0000-4000-8000-000000000003", "indicator": "info"}}
store.record([card], {{card["uuid"]: "summary"}}, "development", "her2-mbc-guidance", "patient-view")
"""
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True, timeout=60)  # noqa: S603
    rows = sqlite3.connect(f"{tmp_path}/exit.sqlite3").execute("SELECT card_uuid FROM issued_card").fetchall()
    assert rows == [("0c8f3f0e-0000-4000-8000-000000000003",)]


def test_a_full_batch_is_written_by_the_timer_at_once_not_by_the_answer_that_filled_it(app, monkeypatch):
    """A batch reaching MAX_BATCH_ROWS is written now, however young, by the timer: the hook answer that
    filled it goes on (under gevent, the write runs in a native thread: tests/test_database_off_loop.py)."""
    monkeypatch.setattr("service.issued_cards.MAX_BATCH_ROWS", 3)
    runtime = app.extensions["her2cds"]
    store = IssuedCards(runtime.feedback.relaxed_engine(), batch_seconds=60)
    other_worker = IssuedCards(runtime.feedback.relaxed_engine())
    cards = [{"uuid": f"0c8f3f0e-0000-4000-8000-00000000010{number}", "indicator": "info"} for number in range(3)]
    for card in cards:
        store.record([card], {card["uuid"]: "summary"}, "development", "her2-mbc-guidance", "patient-view")
    deadline = time.monotonic() + 5
    while len(other_worker.find([card["uuid"] for card in cards])) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(other_worker.find([card["uuid"] for card in cards])) == 3  # long before the batch's 60 s
    assert store.flush() == 0


def test_a_batch_of_several_sqlite_inserts_stores_every_row_once(app):
    """A batch longer than one SQLite insert holds is split; a card already stored (an EHR's retry) in a
    later part rolls the whole batch back, and the fresh cards are then stored, each once."""
    runtime = app.extensions["her2cds"]
    store = IssuedCards(runtime.feedback.relaxed_engine(), batch_seconds=60)
    count = 2 * SQLITE_ROWS_PER_INSERT + 7
    cards = [{"uuid": f"0c8f3f0e-0000-4000-9000-{number:012d}", "indicator": "info"} for number in range(count)]
    keys = {card["uuid"]: "alert:lvef-low" for card in cards}
    store.record(cards[-3:], keys, "client-a", "her2-mbc-guidance", "patient-view")
    assert store.flush() == 3
    store.record(cards, keys, "client-a", "her2-mbc-guidance", "patient-view")
    assert store.flush() == count
    found = store.find([card["uuid"] for card in cards])
    assert set(found) == set(keys)
    assert {(card.kind, card.rule, card.client) for card in found.values()} == {("alert", "lvef-low", "client-a")}
    with runtime.feedback.relaxed_engine().begin() as connection:
        stored = connection.exec_driver_sql("SELECT count(*) FROM issued_card WHERE card_uuid LIKE '0c8f3f0e-0000-4000-9000-%'")
        assert stored.scalar() == count


def test_the_sqlite_batch_insert_stores_what_sqlalchemy_stores(app):
    """Batches go to SQLite as multi-row inserts through the driver (issue 16): the stored row, time stamp
    included, is the one SQLAlchemy's own insert would store, and a reader sees no difference."""
    runtime = app.extensions["her2cds"]
    engine = runtime.feedback.relaxed_engine()
    store = IssuedCards(engine, batch_seconds=60)
    cards = [{"uuid": f"0c8f3f0e-0000-4000-8000-00000000020{number}", "indicator": "critical"} for number in range(2)]
    for card in cards:
        store.record([card], {card["uuid"]: "alert:lvef-low"}, "client-a", "her2-mbc-guidance", "patient-view")
    assert store.flush() == 2
    columns = "card_uuid, client, service_id, hook, indicator, kind, rule, issued_at"
    with engine.begin() as connection:
        batch = connection.exec_driver_sql(f"SELECT {columns} FROM issued_card WHERE card_uuid LIKE '%00020_'").fetchall()
        at = datetime.fromisoformat(batch[0][-1]).replace(tzinfo=UTC)
        reference = {name: value for name, value in zip(columns.split(", "), batch[0], strict=True)}
        connection.execute(issued_cards_table.insert(), [reference | {"card_uuid": "reference", "issued_at": at}])
        by_sqlalchemy = connection.exec_driver_sql(f"SELECT {columns} FROM issued_card WHERE card_uuid = 'reference'").one()
    assert tuple(batch[0][1:]) == tuple(by_sqlalchemy[1:])
    assert batch[0][1:7] == ("client-a", "her2-mbc-guidance", "patient-view", "critical", "alert", "lvef-low")
    assert set(store.find([card["uuid"] for card in cards])) == {card["uuid"] for card in cards}
