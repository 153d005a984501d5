"""JSON in and out with orjson (parsed once per request)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

MAX_DEPTH = 64
_CONTAINERS = (dict, list)
# FHIR JSON carries about 20 bytes per value (the bundled examples: 20-23). A body of empty arrays or
# one-digit numbers carries 2-3, and each of those values costs 30-60 bytes once parsed: a body under
# the size limit could still cost twenty times its size in memory. Bodies denser than this are refused
# unparsed; parsed memory stays within about ten times the body size.
MIN_BYTES_PER_VALUE = 8
DENSITY_CHECK_FROM_BYTES = 64 * 1024  # smaller bodies are cheap whatever they hold


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def too_dense(raw: bytes) -> bool:
    """True when ``raw`` may hold more JSON values than ``MIN_BYTES_PER_VALUE`` allows, counted unparsed.

    Every value but the first of an array or object follows a comma, so commas plus opening brackets
    (plus the root) bound the number of values from above; commas inside strings only raise the bound.
    """
    if len(raw) < DENSITY_CHECK_FROM_BYTES:
        return False
    values = raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1
    return values * MIN_BYTES_PER_VALUE > len(raw)


def depth_exceeds(node: Any, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON nests deeper than ``limit`` (checked without recursion).

    One level at a time, holding only the containers: twice as fast as a stack of (node, depth) pairs,
    which cost more than parsing the body (issue 6).
    """
    level = [node] if isinstance(node, _CONTAINERS) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        below = []
        for current in level:
            for value in current.values() if isinstance(current, dict) else current:
                if isinstance(value, _CONTAINERS):
                    below.append(value)
        level = below
        depth += 1
    return False
