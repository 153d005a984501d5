"""Cards the service issued, remembered long enough for their feedback: kind, indicator, rule, client.

A row holds no patient data: the card's uuid (a uuid5 of hookInstance, patient id and key, which
cannot be turned back), the client it was issued to (the JWT ``iss``, or ``development``), the
service and hook, the card's indicator, and its key split into a kind and a rule (``alert:lvef-low``
-> kind ``alert``, rule ``lvef-low``; an order card's draft-order id is left out). Feedback is accepted
only for a card issued to the same client by the same service, and takes the kind, indicator and rule
along, so that ``her2-cds report`` can say which advice clinicians override after the rows expire.

Rows older than the retention (``issued_card_retention_days``, 30 by default) are purged now and
then; it lives in the service's database, so every gunicorn worker sees the same cards.

Rows are written in batches (``issued_card_batch_seconds``, 0.2 s by default): the first card of a
batch starts a timer, and everything issued until it fires goes to the database in one transaction.
One transaction per hook answer had been a sixth of a worker's time on a small patient (issue 16).
A batch reaching ``MAX_BATCH_ROWS`` is handed to the timer at once; the hook answer that filled it does
not write it. Every database call goes through ``run_blocking``: under the gevent worker it runs in a
native thread, so a slow or locked database delays no hook answer (issue 16). ``find`` writes this
worker's batch first and waits for a write in progress; the feedback endpoint asks once more after a
batch's time for cards another worker may still hold. A worker killed with SIGKILL loses at most its
last batch: feedback on those cards is then refused as for any card never issued; the cards
themselves were sent.
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, delete, select, text
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from service.ops.blocking import run_blocking
from service.throttle import AtMostEvery

log = logging.getLogger("her2cds")
DEFAULT_RETENTION_DAYS = 30.0
MAX_BATCH_ROWS = 1000  # written at once however young the batch: bounds the memory of a burst
# Rows of one SQLite insert statement: 8 parameters each stay under 999, the limit of SQLite builds
# before 3.32 (later ones allow 32,766).
SQLITE_ROWS_PER_INSERT = 100
PURGE_INTERVAL_SECONDS = 300.0
DEVELOPMENT_CLIENT = "development"

metadata = MetaData()
issued_cards_table = Table(
    "issued_card",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", String(100), nullable=False, unique=True),
    Column("client", String(1000), nullable=False),
    Column("service_id", String(100), nullable=False),
    Column("hook", String(100), nullable=False),
    Column("indicator", String(20), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("rule", String(200), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class IssuedCard:
    """What feedback may be joined to: the card's kind, indicator and rule, and whom it was issued to."""

    card_uuid: str
    client: str
    service_id: str
    hook: str
    indicator: str
    kind: str
    rule: str


def kind_and_rule(key: str) -> tuple[str, str]:
    """``alert:lvef-low`` -> (alert, lvef-low); ``order:<draft id>:<agent>:<issue>`` -> (order, <agent>:<issue>)."""
    kind, _, rule = key.partition(":")
    if kind in ("order", "order-remove"):
        rule = rule.partition(":")[2]  # the EHR's draft-order id says nothing about the rule
    return kind, rule


class IssuedCards:
    """Records issued cards and answers which card a feedback item is about."""

    def __init__(self, engine: Engine, retention_days: float = DEFAULT_RETENTION_DAYS, batch_seconds: float = 0.0) -> None:
        self.engine = engine
        self.retention = timedelta(days=retention_days)
        self.batch_seconds = batch_seconds
        try:
            metadata.create_all(engine, checkfirst=True)
        except (OperationalError, ProgrammingError):
            metadata.create_all(engine, checkfirst=True)  # another worker created it between check and CREATE
        self._purges = AtMostEvery(PURGE_INTERVAL_SECONDS)
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # the pending rows and the timer
        self._writing = threading.Lock()  # one write at a time; held while a batch is on its way
        self._timer: threading.Timer | None = None
        self._due = False  # the timer is one that writes a full batch now
        if batch_seconds > 0:  # a worker stopped as gunicorn stops it writes its last batch
            atexit.register(_flush_at_exit, weakref.ref(self))  # weakly: a store dropped earlier is not kept alive

    def record(
        self, cards: Iterable[Mapping[str, Any]], keys: Mapping[str, str], client: str, service_id: str, hook: str
    ) -> int:
        """Remember the cards of one response (``keys``: card uuid -> render key); returns how many.

        Written now without batching; else within ``batch_seconds`` (``flush``).
        """
        rows = _rows(cards, keys, client, service_id, hook)
        if not rows:
            return 0
        if self.batch_seconds <= 0:
            with self._writing:
                run_blocking(self._write, rows)
            return len(rows)
        with self._lock:
            self._pending.extend(rows)
            full = len(self._pending) >= MAX_BATCH_ROWS
            if self._timer is None or (full and not self._due):
                if self._timer is not None:
                    self._timer.cancel()
                self._due = full  # one timer at a time writes a full batch, however many answers follow
                self._timer = threading.Timer(0 if full else self.batch_seconds, self._flush_logged)
                self._timer.daemon = True
                self._timer.start()
        return len(rows)

    def flush(self) -> int:
        """Write the cards recorded and not yet written, after any write in progress; returns how many."""
        with self._writing:
            with self._lock:
                rows, self._pending = self._pending, []
                timer, self._timer, self._due = self._timer, None, False
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()
            if rows:
                run_blocking(self._write, rows)
        return len(rows)

    def _flush_logged(self) -> None:
        """The timer's flush: nobody waits for it, so a failure is logged (feedback on those cards is then refused)."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - a database failure costs the feedback on these cards, never the service
            log.exception("issued cards could not be recorded; feedback on them will be refused")

    def _write(self, rows: list[dict[str, Any]]) -> None:
        self._purges.run(self.purge)
        try:
            with self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":  # losing the last records in a crash costs only their feedback
                    connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
                _insert(connection, rows)
        except IntegrityError:
            # The same hookInstance answered again (an EHR retry): the cards are already remembered.
            with self.engine.begin() as connection:
                column = issued_cards_table.c.card_uuid
                known = set(connection.execute(select(column).where(column.in_([r["card_uuid"] for r in rows]))).scalars())
                fresh = {row["card_uuid"]: row for row in rows if row["card_uuid"] not in known}
                if fresh:
                    connection.execute(issued_cards_table.insert(), list(fresh.values()))

    def find(self, card_uuids: Iterable[str]) -> dict[str, IssuedCard]:
        """The issued cards among ``card_uuids`` still within the retention."""
        wanted = sorted(set(card_uuids))
        if not wanted:
            return {}
        self.flush()
        return run_blocking(self._select, wanted)

    def _select(self, wanted: list[str]) -> dict[str, IssuedCard]:
        since = datetime.now(UTC) - self.retention
        query = select(issued_cards_table).where(
            issued_cards_table.c.card_uuid.in_(wanted), issued_cards_table.c.issued_at >= since
        )
        with self.engine.connect() as connection:
            return {
                row.card_uuid: IssuedCard(row.card_uuid, row.client, row.service_id, row.hook, row.indicator, row.kind, row.rule)
                for row in connection.execute(query)
            }

    def purge(self) -> int:
        """Delete cards issued before the retention; returns how many."""
        with self.engine.begin() as connection:
            result = connection.execute(
                delete(issued_cards_table).where(issued_cards_table.c.issued_at < datetime.now(UTC) - self.retention)
            )
        return int(result.rowcount or 0)


def _insert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``; on SQLite as a few multi-row inserts of up to ``SQLITE_ROWS_PER_INSERT`` rows.

    A batch is written in a native thread while the worker's event loop holds the GIL. The driver
    releases the GIL for every statement it steps and takes it back by forcing the loop to let go: the
    driver's ``executemany`` of a 300-row batch made 300 such hand-offs, each costing the loop time
    (SQLAlchemy's own executemany, which prepares each row in Python, had cost about 15 us more a row).
    So the rows are bound as tuples, many to a statement: a batch of 300 rows is three statements. Alone
    the write costs what it did; under load the worker used about 25 us less CPU per ex1 request and
    answered 1.7 % more of them (issue 16). The statement is SQLAlchemy's own one-row insert, compiled
    for the dialect, with its VALUES group repeated; the time stamp is stored by the column type's own
    processor: the row stored is the one SQLAlchemy's insert would store.
    """
    dialect = connection.dialect
    if dialect.name != "sqlite":
        connection.execute(issued_cards_table.insert(), rows)
        return
    head, group, names, stamp = _sqlite_insert(dialect, tuple(rows[0]))
    for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
        chunk = rows[start : start + SQLITE_ROWS_PER_INSERT]
        values = [stamp(row[name]) if name == "issued_at" else row[name] for row in chunk for name in names]
        connection.exec_driver_sql(_rows_statement(head, group, len(chunk)), tuple(values))


@functools.lru_cache(maxsize=4)
def _sqlite_insert(dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, str, list[str], Callable[[Any], Any]]:
    """The one-row insert compiled for ``dialect`` as (text up to VALUES, its values group), its
    parameters' order, and the time stamp's processor."""
    compiled = issued_cards_table.insert().compile(dialect=dialect, column_keys=list(keys))
    head, found, group = str(compiled).partition(" VALUES ")
    if not found or not (group.startswith("(") and group.endswith(")")):
        raise RuntimeError(f"unexpected SQLite insert statement: {compiled}")
    stamp = issued_cards_table.c.issued_at.type.dialect_impl(dialect).bind_processor(dialect) or str
    return head, group, list(compiled.positiontup or []), stamp


@functools.lru_cache(maxsize=SQLITE_ROWS_PER_INSERT)
def _rows_statement(head: str, group: str, count: int) -> str:
    """``head VALUES group, group, ...``: one insert of ``count`` rows."""
    return f"{head} VALUES {', '.join([group] * count)}"


def _flush_at_exit(store: weakref.ref[IssuedCards]) -> None:
    alive = store()
    if alive is not None:
        alive._flush_logged()  # noqa: SLF001 - the module's own exit hook


def _rows(
    cards: Iterable[Mapping[str, Any]], keys: Mapping[str, str], client: str, service_id: str, hook: str
) -> list[dict[str, Any]]:
    """One row per card of a response that has a render key."""
    now = datetime.now(UTC)
    rows = []
    for card in cards:
        key = keys.get(str(card.get("uuid")))
        if key is None:
            continue
        kind, rule = kind_and_rule(key)
        rows.append(
            {
                "card_uuid": str(card["uuid"]),
                "client": client[:1000],
                "service_id": service_id[:100],
                "hook": hook[:100],
                "indicator": str(card.get("indicator", ""))[:20],
                "kind": kind[:50],
                "rule": rule[:200],
                "issued_at": now,
            }
        )
    return rows
