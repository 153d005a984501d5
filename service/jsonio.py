"""JSON in and out: parsed once per request by pydantic-core (its nesting limit is the depth check), written by orjson."""

from __future__ import annotations

from typing import Any

import orjson
import pydantic_core
from flask import Response

# The parser's own nesting limit (pydantic-core's jiter): a deeper document is refused while it is parsed.
# tests/test_limits.py checks the parser still stops here. No resource the service reads nests beyond
# about 10 levels, and no code of the service recurses into request data, so any limit far below
# Python's recursion limit (1,000) is safe.
MAX_DEPTH = 200
_PARSER_DEPTH_ERROR = "recursion limit exceeded"
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


class JsonRefused(ValueError):
    """The bytes are not JSON the service accepts; ``str()`` says why, in words for an API error."""


class JsonTooDeep(JsonRefused):
    """Well-formed as far as read, but nested deeper than ``MAX_DEPTH``."""


def parse_json(raw: bytes) -> Any:
    """Parse ``raw`` once, refusing it when it nests deeper than ``MAX_DEPTH`` (issue 16).

    pydantic-core's parser (jiter) stops at its own nesting limit while it parses, so no second walk
    over the parsed objects is needed; that walk had cost more than parsing the body. Object keys are
    interned as they are read (``cache_strings="keys"``): a FHIR bundle repeats a few hundred keys
    hundreds of times, and looking each up beats creating it again. NaN and Infinity are refused as
    in JSON; a number too large for a float becomes infinity, which the read layer refuses per record.
    """
    try:
        return pydantic_core.from_json(raw, allow_inf_nan=False, cache_strings="keys")
    except ValueError as exc:
        reason = str(exc)
        if reason.startswith(_PARSER_DEPTH_ERROR):
            raise JsonTooDeep(f"JSON nests too deeply (more than {MAX_DEPTH} levels)") from exc
        raise JsonRefused(f"malformed JSON: {reason}") from exc
