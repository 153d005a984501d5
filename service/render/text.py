"""Text helpers of the render stage: points, ordinals, patient text made safe for markdown, summaries clipped."""

from __future__ import annotations

import html
import re
from datetime import date

from service.domain import UNDATED

SUMMARY_LIMIT = 139
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|>~-])")


def points(value: float) -> str:
    """'1 point', '12 points' (an LVEF fall)."""
    return f"{value:g} point" + ("" if value == 1 else "s")


def day(on: date | None) -> str:
    """A record's day, ISO; "date unknown" for a record that gave none (read as ``UNDATED``)."""
    return "date unknown" if on is None or on == UNDATED else on.isoformat()


def ordinal(number: int) -> str:
    return ORDINALS.get(number, f"{number}th")


def safe_text(text: str) -> str:
    """Patient-supplied text for markdown: HTML escaped and markdown punctuation neutralised."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def clip(summary: str) -> str:
    """CDS Hooks: summary under 140 characters."""
    return summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1].rstrip() + "…"
