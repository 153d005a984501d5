"""Structured logs: one JSON object per line, with secrets and patient identifiers redacted.

``configure_logging`` sends every log record, ours and other libraries' (werkzeug, urllib3, gunicorn's
error and access logs), through one ``structlog`` ``ProcessorFormatter``. Its ``redact`` step runs
last before rendering, on every line:

- values of keys that carry secrets or identifiers (``authorization``, ``access_token``, ``token``,
  ``jwt``, ``patientId``, ``patient``, ``fhirAuthorization``, ``prefetch``, ...) are replaced;
- in every string (the message, extras, a formatted traceback): JWT-shaped strings, ``Bearer xxx``,
  patient search parameters in URLs (``patient=``, ``subject=``, ``_id=``, ``identifier=``) and
  ``Patient/<id>`` references are replaced.

urllib3 logs each FHIR request line at DEBUG (``GET /fhir/Condition?patient=<id>...``): it is kept
(useful when debugging a FHIR server) and redacted by the URL rules, not silenced.

Every line logged while a request is handled carries its ``request_id`` (the caller's ``X-Request-ID``
when it is a plain token, else a new one) and, for hook calls, its ``hook_instance`` (as sent when it
is a UUID, else hashed: ``loggable_hook_instance``): ``bind_request``
and ``bind_hook`` put them in ``structlog.contextvars``, and the formatter merges them into each line
(the FHIR searches' threads run in a copy of the request's context). ANSI colour escapes are
stripped from every string, so a line is plain JSON whatever library wrote it.

A hook call's summary (hook, service, ``hook_instance``, cards, problems, ``answer_ms``) is one line.
Under gunicorn with the operations config and an access log, it is written on the call's access line
(``log_hook_summary`` leaves it in the WSGI environ for ``gunicorn_conf.JsonLogger``): one line per
call, not two, which halves the log volume and took a line's formatting off every call (about 0.1 ms,
issue 16). Elsewhere (``her2-cds serve``, a WSGI server without that logger) it is a line of its own,
``hook answered``.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

REDACTED = "[redacted]"
HANDLER_NAME = "her2cds-json"
HOOK_SUMMARY_KEY = "her2cds.hook_summary"  # the WSGI environ entry the access line reads
_summary_on_access_line = [False]  # set in a gunicorn worker whose access lines carry the summary
# What bind_hook bound, also kept here: read by the metrics and the summary of every hook call without
# walking the whole context as get_contextvars does (issue 16).
_hook_bound: ContextVar[dict[str, str] | None] = ContextVar("her2cds_hook_bound", default=None)

# Keys compared lower-cased without "_" and "-": accessToken, access_token and access-token alike.
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "token",
        "jwt",
        "bearer",
        "patientid",
        "patient",
        "fhirauthorization",
        "prefetch",
        "password",
        "secret",
        "cookie",
        "setcookie",
    }
)
_PATIENT_PARAMETER = re.compile(r"(?i)([?&;](?:patient|subject|_id|identifier|patient\.identifier)(?::[a-z]+)?=)[^&\s\"'#]+")
# Each rule with the text it cannot match without (the lower-cased text for the case-blind ones): a
# line's ten strings are mostly words like "patient-view", and a substring test costs a fraction of a
# regex pass (the five passes per string had been most of a log line's cost; issue 16).
_STRING_RULES = (
    ("eyJ", False, re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), REDACTED),  # JWT: header is base64url '{"'
    ("bearer", True, re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), r"\1 " + REDACTED),
    ("=", False, _PATIENT_PARAMETER, r"\1" + REDACTED),
    ("Patient/", False, re.compile(r"\b(Patient/)[A-Za-z0-9\-.]{1,64}"), r"\1" + REDACTED),
)
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_UUID = re.compile(r"(?:urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_sensitive_key(key: str) -> bool:
    """True for keys whose values are secrets or identifiers (compared without case, "_" and "-")."""
    return _sensitive(key)


def _sensitive(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "") in SENSITIVE_KEYS


def redact_text(text: str) -> str:
    if "\x1b" in text:
        text = _ANSI_ESCAPE.sub("", text)
    lowered = text.lower()
    for needed, case_blind, pattern, replacement in _STRING_RULES:
        if needed in (lowered if case_blind else text):
            text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: REDACTED if isinstance(key, str) and _sensitive(key) else _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: replace sensitive keys' values and secrets inside strings."""
    for key in list(event_dict):
        event_dict[key] = REDACTED if _sensitive(key) else _redact_value(event_dict[key])
    return event_dict


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler: structlog and stdlib records alike end as redacted JSON lines."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
    )


class _StderrHandler(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment (test runners and gunicorn may swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str) -> None:
    """Install the JSON handler on the root logger once; set the level; reformat gunicorn's handlers."""
    structlog.configure(
        processors=[
            merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if not any(handler.get_name() == HANDLER_NAME for handler in root.handlers):
        stderr = _StderrHandler()
        stderr.set_name(HANDLER_NAME)
        stderr.setFormatter(json_formatter())
        root.addHandler(stderr)
    root.setLevel(level.upper())
    for name in ("gunicorn.error", "gunicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(json_formatter())


def bind_request(request_id: str | None) -> str:
    """Start a request's log context: its id (the caller's when it is a plain token of 1-64 chars, else new)."""
    clear_contextvars()
    _hook_bound.set(None)
    if not (isinstance(request_id, str) and _REQUEST_ID.fullmatch(request_id)):
        # 128 random bits as 32 hex digits, like uuid4().hex: an id to find lines by, not a secret, so
        # the process's generator (reseeded in each forked worker) rather than a system call (issue 16).
        request_id = f"{random.getrandbits(128):032x}"  # noqa: S311 - not used for security
    bind_contextvars(request_id=request_id)
    return request_id


def loggable_hook_instance(hook_instance: str) -> str:
    """The ``hookInstance`` as logged: as sent when it is a UUID (as CDS Hooks says it is), else a hash.

    An EHR that puts something else there (an encounter number, a patient id) must not get it into the
    log; the hash still lets an operator find the call: sha256 of the EHR's value, first 16 hex digits.
    """
    text = str(hook_instance)
    if _UUID.fullmatch(text):
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def bind_hook(hook_instance: str, hook: str, service: str) -> None:
    """Add a hook call's ``hookInstance``, hook and service to every later line of the request."""
    bound = {"hook_instance": loggable_hook_instance(hook_instance), "hook": hook, "service": service}
    bind_contextvars(**bound)
    _hook_bound.set(bound)


def bound_hook() -> str | None:
    """The hook ``bind_hook`` bound for the request being handled, if any."""
    bound = _hook_bound.get()
    return bound["hook"] if bound else None


def summary_on_access_line(enabled: bool = True) -> None:
    """Say whether the server's access lines carry the hook summaries (``gunicorn_conf``, per worker)."""
    _summary_on_access_line[0] = enabled


def log_hook_summary(logger: logging.Logger, environ: MutableMapping[str, Any], summary: dict[str, Any]) -> None:
    """A hook call's summary: on its access line when the server writes one for it, else a line of its own."""
    if _summary_on_access_line[0]:
        environ[HOOK_SUMMARY_KEY] = (_hook_bound.get() or {}) | summary
    else:
        logger.info("hook answered", extra=summary)


def end_request() -> None:
    """Forget the request's context: later lines of this thread belong to no request."""
    clear_contextvars()
    _hook_bound.set(None)
