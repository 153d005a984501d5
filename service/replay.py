"""Replay store for CDS client JWTs: a ``jti`` is accepted once per issuer until its token expires.

It lives in the service's database (the feedback engine), so every gunicorn worker sees the same
store: a token replayed to another worker is refused too. The unique constraint on (iss, jti) makes
"insert or fail" atomic in SQLite and PostgreSQL alike; expired rows are purged now and then.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, UniqueConstraint, delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from service.throttle import AtMostEvery

MAX_JTI_LENGTH = 255
PURGE_INTERVAL_SECONDS = 300.0

metadata = MetaData()
seen_tokens = Table(
    "seen_jwt",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issuer", String(1000), nullable=False),
    Column("jti", String(MAX_JTI_LENGTH), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    UniqueConstraint("issuer", "jti", name="uq_seen_jwt_issuer_jti"),
)


class ReplayStore:
    """Remembers (issuer, jti) pairs until the token they came from has expired."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            metadata.create_all(engine, checkfirst=True)
        except (OperationalError, ProgrammingError):
            # Another worker created the table between our check and our CREATE: re-check once.
            metadata.create_all(engine, checkfirst=True)
        self._purges = AtMostEvery(PURGE_INTERVAL_SECONDS)

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record the token; False when this issuer's ``jti`` was already recorded (a replay)."""
        self._purges.run(self.purge)
        row = {"issuer": issuer, "jti": jti, "expires_at": datetime.fromtimestamp(expires_at, UTC)}
        try:
            with self.engine.begin() as connection:
                connection.execute(seen_tokens.insert(), row)
        except IntegrityError:
            return False
        return True

    def purge(self) -> None:
        """Delete the rows of expired tokens (run at most once per ``PURGE_INTERVAL_SECONDS`` per process)."""
        with self.engine.begin() as connection:
            connection.execute(delete(seen_tokens).where(seen_tokens.c.expires_at < datetime.now(UTC)))
