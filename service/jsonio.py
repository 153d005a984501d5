"""JSON in and out with orjson (parsed once per request)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

MAX_DEPTH = 64


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def depth_exceeds(node: Any, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON nests deeper than ``limit`` (checked without recursion)."""
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict):
            stack.extend((value, depth + 1) for value in current.values() if isinstance(value, dict | list))
        elif isinstance(current, list):
            stack.extend((value, depth + 1) for value in current if isinstance(value, dict | list))
    return False
