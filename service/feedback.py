"""Stored feedback (CDS Hooks ``/feedback``): SQLite by default, PostgreSQL by URL; idempotent.

Each row names the client that sent it and carries the issued card's kind, indicator and rule
(``service.issued_cards``), so that ``her2-cds report`` can count overrides per rule. Limits: at most
``feedback_per_card`` rows per card (CDS Hooks lets a client send an outcome again, not without end)
and ``feedback_per_client_per_hour`` rows per client per hour; both answer 429 when exceeded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

metadata = MetaData()
feedback_table = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("service_id", String(100), nullable=False),
    Column("card_uuid", String(100), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("accepted_suggestions", Text, nullable=False, default="[]"),
    Column("override_reason", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("client", String(1000), nullable=True),  # NULL on rows stored before clients were recorded
    Column("hook", String(100), nullable=True),
    Column("card_kind", String(50), nullable=True),
    Column("card_indicator", String(20), nullable=True),
    Column("card_rule", String(200), nullable=True),
    Index("ix_feedback_card_uuid", "card_uuid"),
    Index("ix_feedback_client_received", "client", "received_at"),
)
# Columns added after the first release: an existing table gets them at start-up (ALTER TABLE ADD COLUMN).
ADDED_COLUMNS = ("client", "hook", "card_kind", "card_indicator", "card_rule")
DEFAULT_PER_CARD = 10
DEFAULT_PER_CLIENT_PER_HOUR = 10000


class FeedbackRefused(Exception):
    """Feedback the service will not store: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by the service's user only (0600, folder 0700 when
    new). SQLite gives its -wal and -shm files the database file's mode, so they stay private too. An
    existing file open to others is narrowed: feedback rows and JWT ids are nobody else's business."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        if os.fstat(descriptor).st_mode & 0o077:
            os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, synchronous: str = "FULL") -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_pragmas_relaxed(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record, "NORMAL")


class FeedbackStore:
    """Writes feedback rows; the same feedback arriving twice is stored once."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            private_sqlite_file(Path(url.removeprefix("sqlite:///").split("?", 1)[0]))
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except (OperationalError, ProgrammingError):
            # Another worker created the table between our check and our CREATE: re-check once.
            metadata.create_all(self.engine, checkfirst=True)
        self._add_missing_columns()

    def relaxed_engine(self) -> Engine:
        """An engine for records whose last few may be lost in a power cut (issued cards), not in a crash.

        SQLite: a second engine on the same file with ``synchronous=NORMAL`` (in WAL mode a commit is
        not fsynced; one fsync per hook answer cost 6 ms of a worker's time). Other databases share the
        engine (``IssuedCards.record`` turns ``synchronous_commit`` off for its own transactions).
        """
        if self.engine.dialect.name != "sqlite":
            return self.engine
        # No pre-ping: the file cannot go away between checkouts as a database server can, and the
        # "SELECT 1" before every insert was a fifth of recording a response's cards (issue 16).
        relaxed = create_engine(self.engine.url)
        event.listen(relaxed, "connect", _sqlite_pragmas_relaxed)
        return relaxed

    def _add_missing_columns(self) -> None:
        """A feedback table from an older release lacks the client and card columns: add them (nullable)."""
        present = {column["name"] for column in inspect(self.engine).get_columns("feedback")}
        for name in ADDED_COLUMNS:
            if name in present:
                continue
            column_type = feedback_table.c[name].type.compile(dialect=self.engine.dialect)
            try:
                with self.engine.begin() as connection:
                    connection.execute(text(f"ALTER TABLE feedback ADD COLUMN {name} {column_type}"))
            except (OperationalError, ProgrammingError):
                pass  # another worker added it first
        for index in feedback_table.indexes:
            try:
                index.create(self.engine, checkfirst=True)
            except (OperationalError, ProgrammingError):
                pass  # another worker created it first

    @staticmethod
    def dedupe_key(service_id: str, item: dict[str, Any]) -> str:
        """Same service, card, outcome, timestamp, suggestions and reason = the same feedback."""
        canonical = json.dumps(
            [
                service_id,
                item["card"],
                item["outcome"],
                item["outcomeTimestamp"],
                sorted(s["id"] for s in item.get("acceptedSuggestions", [])),
                item.get("overrideReason"),
            ],
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def check_limits(self, client: str, items: list[dict[str, Any]], per_card: int, per_client_per_hour: int) -> None:
        """``FeedbackRefused`` (429) when the items would take a card or the client over its limit."""
        since = datetime.now(UTC) - timedelta(hours=1)
        cards = Counter(str(item["card"]) for item in items)
        with self.engine.connect() as connection:
            recent = connection.execute(
                select(func.count())
                .select_from(feedback_table)
                .where(feedback_table.c.client == client, feedback_table.c.received_at >= since)
            ).scalar_one()
            if int(recent) + len(items) > per_client_per_hour:
                raise FeedbackRefused(429, f"feedback limit reached: at most {per_client_per_hour} items per client per hour")
            stored: dict[str, int] = dict(
                connection.execute(
                    select(feedback_table.c.card_uuid, func.count())
                    .where(feedback_table.c.card_uuid.in_(sorted(cards)))
                    .group_by(feedback_table.c.card_uuid)
                ).all()
            )
        over = sorted(card for card, count in cards.items() if int(stored.get(card, 0)) + count > per_card)
        if over:
            raise FeedbackRefused(429, f"feedback limit reached: at most {per_card} items per card ({', '.join(over[:5])})")

    def store(
        self, service_id: str, items: list[dict[str, Any]], client: str | None = None, issued: Mapping[str, Any] | None = None
    ) -> int:
        """Insert the items in one transaction; return how many were new. ``issued``: card uuid -> IssuedCard."""
        issued = issued or {}
        rows = [
            {
                "dedupe_key": self.dedupe_key(service_id, item),
                "service_id": service_id,
                "card_uuid": item["card"],
                "outcome": item["outcome"],
                "outcome_timestamp": item["outcomeTimestamp"],
                "accepted_suggestions": json.dumps([s["id"] for s in item.get("acceptedSuggestions", [])]),
                "override_reason": json.dumps(item["overrideReason"]) if item.get("overrideReason") else None,
                "received_at": datetime.now(UTC),
                "client": client,
                **self._card_columns(issued.get(item["card"])),
            }
            for item in items
        ]
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        statement = (
            dialect.insert(feedback_table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(feedback_table.c.id)
        )
        inserted = 0
        with self.engine.begin() as connection:
            for row in rows:
                # RETURNING gives a row only for a new insert (rowcount is not reliable across drivers).
                inserted += len(connection.execute(statement, row).all())
        return inserted

    @staticmethod
    def _card_columns(card: Any) -> dict[str, str | None]:
        if card is None:
            return {"hook": None, "card_kind": None, "card_indicator": None, "card_rule": None}
        return {"hook": card.hook, "card_kind": card.kind, "card_indicator": card.indicator, "card_rule": card.rule}

    def count(self, card_uuid: str | None = None) -> int:
        """Rows stored (for one card when given)."""
        query = select(func.count()).select_from(feedback_table)
        if card_uuid:
            query = query.where(feedback_table.c.card_uuid == card_uuid)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def rows(self, card_uuid: str) -> list[dict[str, Any]]:
        """Stored feedback of one card, oldest first."""
        query = select(feedback_table).where(feedback_table.c.card_uuid == card_uuid).order_by(feedback_table.c.id)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            connection.execute(select(1))
        return True
