"""``her2-cds report``: which advice clinicians accept and which they override, per card kind and rule.

Reads the feedback rows (each carries the kind, indicator and rule of the card it is about, copied from
the issued-card record when it arrived) and the issued cards still within their retention, over a
date range of ``received_at`` / ``issued_at`` (UTC days, both ends included). Rates are shares of the
feedback received: ``override rate`` = overridden / (accepted + overridden), ``acceptance rate`` =
accepted / (accepted + overridden); ``issued`` counts cards issued in the range (0 once they expired).
Override reasons are counted by their code (and display). No patient data is read or printed.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from service.feedback import feedback_table
from service.issued_cards import issued_cards_table

UNKNOWN = "(unknown)"  # feedback stored before cards were recorded has no kind or rule
CSV_COLUMNS = [
    "kind", "rule", "indicator", "issued", "feedback", "accepted", "overridden",
    "acceptance_rate", "override_rate", "override_reasons",
]  # fmt: skip


@dataclass
class RuleFigures:
    """The feedback on one (kind, rule, indicator)."""

    kind: str
    rule: str
    indicator: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def feedback(self) -> int:
        return self.accepted + self.overridden

    def rate(self, count: int) -> float | None:
        return round(count / self.feedback, 3) if self.feedback else None


def _bounds(since: date | None, until: date | None) -> tuple[datetime, datetime]:
    start = datetime.combine(since, time.min, UTC) if since else datetime(1970, 1, 1, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, UTC) if until else datetime(9999, 1, 1, tzinfo=UTC)
    return start, end


def _printable(text: object, limit: int = 100) -> str:
    """Client-sent text made safe to print: no control characters (terminal escapes), at most ``limit``."""
    return "".join(character if character.isprintable() else "?" for character in str(text))[:limit]


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run as a formula (``=HYPERLINK(...)`` in an override reason)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _reason_label(override_reason: str | None) -> str:
    """``code (display)`` of a stored overrideReason, or ``(none given)``; printable text only."""
    try:
        reason = (json.loads(override_reason) if override_reason else {}).get("reason") or {}
    except (ValueError, AttributeError):
        reason = {}
    code = reason.get("code") if isinstance(reason, dict) else None
    if not code:
        return "(none given)"
    display = reason.get("display")
    return f"{_printable(code)} ({_printable(display)})" if display else _printable(code)


def rule_figures(engine: Engine, since: date | None = None, until: date | None = None) -> list[RuleFigures]:
    """Per (kind, rule, indicator): cards issued, feedback accepted and overridden, override reasons."""
    start, end = _bounds(since, until)
    figures: dict[tuple[str, str, str], RuleFigures] = {}

    def entry(kind: str | None, rule: str | None, indicator: str | None) -> RuleFigures:
        key = (kind or UNKNOWN, rule or "", indicator or "")
        return figures.setdefault(key, RuleFigures(*key))

    issued = issued_cards_table.c
    feedback = feedback_table.c
    with engine.connect() as connection:
        for kind, rule, indicator, count in connection.execute(
            select(issued.kind, issued.rule, issued.indicator, func.count())
            .where(issued.issued_at >= start, issued.issued_at < end)
            .group_by(issued.kind, issued.rule, issued.indicator)
        ):
            entry(kind, rule, indicator).issued += int(count)
        columns = (feedback.card_kind, feedback.card_rule, feedback.card_indicator, feedback.outcome, feedback.override_reason)
        in_range = (feedback.received_at >= start, feedback.received_at < end)
        for kind, rule, indicator, outcome, reason in connection.execute(select(*columns).where(*in_range)):
            figures_of = entry(kind, rule, indicator)
            if outcome == "accepted":
                figures_of.accepted += 1
            elif outcome == "overridden":
                figures_of.overridden += 1
                figures_of.reasons[_reason_label(reason)] += 1
    return sorted(figures.values(), key=lambda f: (f.kind, f.rule, f.indicator))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def _reasons_text(reasons: Counter[str]) -> str:
    return "; ".join(f"{label} x{count}" for label, count in reasons.most_common())


def as_text(rows: list[RuleFigures], since: date | None, until: date | None) -> str:
    """A table for people: one line per rule, its override reasons below it."""
    span = f"{since.isoformat() if since else 'the start'} to {until.isoformat() if until else 'today'}"
    lines = [f"her2-cds feedback report, {span} (UTC)", ""]
    if not rows:
        return "\n".join([*lines, "no cards issued and no feedback received in this range"]) + "\n"
    header = f"{'kind':14} {'rule':40} {'indicator':9} {'issued':>7} {'feedback':>8} {'accepted':>9} {'overridden':>10}"
    lines += [header + f" {'accept':>7} {'override':>8}", "-" * (len(header) + 17)]
    for row in rows:
        accept, override = _percent(row.rate(row.accepted)), _percent(row.rate(row.overridden))
        lines.append(
            f"{row.kind[:14]:14} {(row.rule or '-')[:40]:40} {row.indicator[:9]:9} {row.issued:>7} {row.feedback:>8} "
            f"{row.accepted:>9} {row.overridden:>10} {accept:>7} {override:>8}"
        )
        if row.reasons:
            lines.append(f"{'':16}override reasons: {_reasons_text(row.reasons)}")
    total_accepted = sum(row.accepted for row in rows)
    total_overridden = sum(row.overridden for row in rows)
    answered = total_accepted + total_overridden
    lines += [
        "",
        f"all cards: {sum(row.issued for row in rows)} issued, {answered} feedback, "
        f"{_percent(total_accepted / answered if answered else None)} accepted, "
        f"{_percent(total_overridden / answered if answered else None)} overridden",
    ]
    return "\n".join(lines) + "\n"


def as_csv(rows: list[RuleFigures]) -> str:
    """One CSV row per (kind, rule, indicator); rates as fractions, empty when no feedback."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        acceptance, override = row.rate(row.accepted), row.rate(row.overridden)
        writer.writerow(
            [_cell(value) for value in [
                row.kind, row.rule, row.indicator, row.issued, row.feedback, row.accepted, row.overridden,
                "" if acceptance is None else acceptance, "" if override is None else override, _reasons_text(row.reasons),
            ]]  # fmt: skip
        )
    return out.getvalue()
