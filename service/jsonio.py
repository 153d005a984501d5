"""JSON in and out with orjson (parsed once per request)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

MAX_DEPTH = 64
_CONTAINERS = (dict, list)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


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
