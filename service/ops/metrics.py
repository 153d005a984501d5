"""Prometheus metrics: what the service did, by bounded labels only (never a patient id, never a token).

The metric objects live in the default registry. Under gunicorn, ``service.ops.gunicorn_conf`` sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker imports ``prometheus_client``, so every worker writes
its values to files there and ``/metrics`` (``exposition``) adds up all workers. Without that variable
(tests, ``her2-cds serve``) the values live in the process.

Every label value comes from a fixed set or from the service's own knowledge (service ids, prefetch
keys, card topics): a caller cannot create new series by sending odd values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

KNOWN_HOOKS = frozenset({"patient-view", "order-select", "order-sign"})
FHIR_RESOURCE_TYPES = frozenset(
    {
        "Patient",
        "Condition",
        "Observation",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationAdministration",
        "MedicationDispense",
        "Medication",
    }
)
CARD_INDICATORS = frozenset({"info", "warning", "critical"})
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
FHIR_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
LABEL_MAX = 64  # a knowledge-derived label longer than this is a bug, not a series

REQUESTS = Counter(
    "her2cds_http_requests",
    "HTTP requests answered, by route, CDS service, hook and status",
    ["route", "service", "hook", "status"],
)
REQUEST_SECONDS = Histogram(
    "her2cds_http_request_duration_seconds",
    "Time to answer an HTTP request, by route, CDS service, hook and status",
    ["route", "service", "hook", "status"],
    buckets=LATENCY_BUCKETS,
)
CARDS = Counter(
    "her2cds_cards",
    "Cards returned, by CDS service, hook, kind (card topic) and indicator",
    ["service", "hook", "kind", "indicator"],
)
FHIR_REQUESTS = Counter(
    "her2cds_fhir_requests",
    "FHIR fallback calls that got an answer, by resource type and status class",
    ["resource_type", "status"],
)
FHIR_SECONDS = Histogram(
    "her2cds_fhir_request_duration_seconds",
    "FHIR fallback calls: time to the answer's headers, by resource type",
    ["resource_type"],
    buckets=FHIR_LATENCY_BUCKETS,
)
FHIR_FAULTS = Counter(
    "her2cds_fhir_faults",
    "FHIR fallback reads that failed, by kind (timeout, unavailable, bad_response, http_4xx, http_5xx, budget, unreadable)",
    ["kind"],
)
PREFETCH_UNAVAILABLE = Counter(
    "her2cds_prefetch_unavailable",
    "412 answers: required prefetch keys neither prefetched nor fetchable, by key",
    ["key"],
)
AUTH_REFUSALS = Counter("her2cds_auth_refusals", "Requests refused with 401, by reason", ["reason"])
FEEDBACK = Counter("her2cds_feedback", "Feedback items received, by CDS service and outcome", ["service", "outcome"])


def _bounded(value: Any, allowed: Iterable[str], other: str = "other") -> str:
    return value if isinstance(value, str) and value in allowed else other


def _label(value: Any) -> str:
    """A knowledge-derived label (card topic, prefetch key), cut to a sane length."""
    return str(value)[:LABEL_MAX] if value else "none"


_children: dict[tuple[Any, ...], Any] = {}  # (metric, *labels) -> its labelled child


def _child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once per series: every request counts into the same few
    (the label values are bounded), and prometheus-client checks and joins the labels on each call."""
    key = (metric, *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def observe_request(route: str, service: str, hook: str | None, status: int, seconds: float) -> None:
    """One answered HTTP request (called by the after-request hook of ``service.ops.endpoints``)."""
    labels = (route, service, _bounded(hook, KNOWN_HOOKS, "none" if hook is None else "other"), str(status))
    _child(REQUESTS, *labels).inc()
    _child(REQUEST_SECONDS, *labels).observe(seconds)


def count_cards(service: str, hook: str, cards: Iterable[Mapping[str, Any]]) -> None:
    """The cards of one hook answer, by their topic (``source.topic.code``) and indicator."""
    hook_label = _bounded(hook, KNOWN_HOOKS)
    for card in cards:
        source = card.get("source")
        topic = source.get("topic") if isinstance(source, Mapping) else None
        kind = topic.get("code") if isinstance(topic, Mapping) else None
        _child(CARDS, _label(service), hook_label, _label(kind), _bounded(card.get("indicator"), CARD_INDICATORS)).inc()


def fhir_resource_type(url: str) -> str:
    """The FHIR resource type a URL reads (``.../Condition?patient=..`` -> Condition); never an id."""
    segments = [segment for segment in urlsplit(url).path.split("/") if segment]
    for segment in reversed(segments[-2:]):
        if segment in FHIR_RESOURCE_TYPES:
            return segment
    return "other"


def observe_fhir_response(response: Any, *_args: Any, **_kwargs: Any) -> None:
    """``requests`` response hook of the FHIR gateway's session: one FHIR call that got an answer."""
    resource_type = fhir_resource_type(str(getattr(getattr(response, "request", None), "url", "") or ""))
    status = int(getattr(response, "status_code", 0) or 0)
    FHIR_REQUESTS.labels(resource_type, f"{status // 100}xx" if 100 <= status < 600 else "other").inc()
    elapsed = getattr(response, "elapsed", None)
    if elapsed is not None:
        FHIR_SECONDS.labels(resource_type).observe(elapsed.total_seconds())


def fhir_fault_kind(error: BaseException | None) -> str:
    """timeout / unavailable / bad_response / http_4xx / http_5xx / unreadable, from the typed FHIR error."""
    if error is None:
        return "budget"
    name = type(error).__name__
    kinds = {"FhirTimeout": "timeout", "FhirUnavailable": "unavailable", "FhirBadResponse": "bad_response"}
    if name in kinds:
        return kinds[name]
    status = getattr(error, "status", None)
    if isinstance(status, int) and 400 <= status < 600:
        return f"http_{status // 100}xx"
    return "unreadable"


def count_fhir_fault(error: BaseException | None) -> None:
    """One FHIR read that failed; ``None`` for one still running when the time budget ran out."""
    FHIR_FAULTS.labels(fhir_fault_kind(error)).inc()


def count_prefetch_unavailable(keys: Iterable[str]) -> None:
    """A 412: the required prefetch keys that could not be had."""
    for key in keys:
        PREFETCH_UNAVAILABLE.labels(_label(key)).inc()


# The message prefixes of ``service.auth.Unauthenticated`` -> a bounded reason.
_AUTH_REASONS = (
    ("no bearer token", "no_token"),
    ("not a JWT", "malformed"),
    ("unknown issuer", "unknown_issuer"),
    ("algorithm", "algorithm"),
    ("no kid", "no_kid"),
    ("no key for kid", "unknown_kid"),
    ("jku", "jku"),
    ("token lives longer", "lifetime"),
    ("tenant", "tenant"),
    ("jti already used", "replay"),
    ("jti is not", "jti"),
)
_JWT_ERRORS = {
    jwt.ExpiredSignatureError: "expired",
    jwt.ImmatureSignatureError: "not_yet_valid",
    jwt.InvalidAudienceError: "audience",
    jwt.InvalidIssuedAtError: "issued_at",
    jwt.InvalidIssuerError: "issuer",
    jwt.MissingRequiredClaimError: "missing_claim",
    jwt.InvalidSignatureError: "signature",
}


def auth_refusal_reason(refusal: BaseException) -> str:
    """A bounded reason for a refused token: the PyJWT error class behind it, else its message prefix."""
    cause = refusal.__cause__
    for error_type, reason in _JWT_ERRORS.items():
        if isinstance(cause, error_type):
            return reason
    text = str(refusal)
    for prefix, reason in _AUTH_REASONS:
        if text.startswith(prefix):
            return reason
    return "rejected" if isinstance(cause, jwt.PyJWTError) else "other"


def count_auth_refusal(refusal: BaseException) -> None:
    AUTH_REFUSALS.labels(auth_refusal_reason(refusal)).inc()


def count_feedback(service: str, items: Iterable[Mapping[str, Any]]) -> None:
    """Feedback items of one accepted ``/feedback`` call, by outcome (accepted / overridden)."""
    for item in items:
        FEEDBACK.labels(_label(service), _bounded(item.get("outcome"), {"accepted", "overridden"})).inc()


def multiprocess_dir() -> str | None:
    """Where the gunicorn workers write their values, when running under ``service.ops.gunicorn_conf``."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of every worker (multiprocess mode) or of this process."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
