"""OpenTelemetry traces: off unless configured; the FHIR calls carry ``traceparent``.

Settings (environment):

- ``HER2CDS_OTLP_ENDPOINT``: OTLP/HTTP traces URL (``http://otel-collector:4318/v1/traces``). Set, it
  turns tracing on with the OTLP exporter. Unset (the default), nothing is instrumented.
- ``HER2CDS_TRACING``: ``off`` (the default without an endpoint), ``otlp`` (the default with one) or
  ``console`` (spans as JSON on stdout, for trying it out).
- ``HER2CDS_TRACE_SAMPLE_RATIO``: fraction of new traces kept (0-1, default 1); a caller's
  ``traceparent`` decides for the traces it starts (parent-based sampling).
- ``OTEL_SERVICE_NAME``: the ``service.name`` resource attribute (default ``her2-cds``).

Flask requests become server spans (continuing the caller's ``traceparent``; the probes and
``/metrics`` are not traced); every ``requests`` call, the FHIR fallback included, becomes a client
span whose context goes out as ``traceparent``. The FHIR searches run in threads that carry the
request's context, so their spans sit under the request's span.

No patient data and no token leaves in a span: the exporter is wrapped so that span names,
attribute values and event attributes pass through ``service.logs`` redaction (URLs such as
``Condition?patient=<id>`` and ``Patient/<id>`` included) before they are sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flask import Flask

from service.config import ConfigError
from service.logs import REDACTED, is_sensitive_key, redact_text

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("her2cds.tracing")
ENDPOINT_ENV = "HER2CDS_OTLP_ENDPOINT"
MODE_ENV = "HER2CDS_TRACING"
SAMPLE_RATIO_ENV = "HER2CDS_TRACE_SAMPLE_RATIO"
NOT_TRACED = "/livez,/readyz,/healthz,/metrics,/assets/"
EXTENSION = "her2cds.tracing"
MODES = ("off", "otlp", "console")


class TracingSettingError(ConfigError):
    """A tracing variable holds a value the service cannot use (start-up stops with this message)."""


def tracing_mode(endpoint: str | None = None, mode: str | None = None) -> str:
    """``off``, ``otlp`` or ``console`` from the settings given, else from the environment."""
    endpoint = (os.environ.get(ENDPOINT_ENV, "") if endpoint is None else endpoint).strip()
    mode = (os.environ.get(MODE_ENV, "") if mode is None else mode).strip().lower() or ("otlp" if endpoint else "off")
    if mode not in MODES:
        raise TracingSettingError(f"{MODE_ENV}: {mode!r} is not one of {', '.join(MODES)}")
    if mode == "otlp" and not endpoint:
        raise TracingSettingError(f"{MODE_ENV}=otlp needs {ENDPOINT_ENV} (the collector's OTLP/HTTP traces URL)")
    return mode


def sample_ratio(given: float | None = None) -> float:
    """The share of new traces kept, from the settings given, else from the environment."""
    raw = (os.environ.get(SAMPLE_RATIO_ENV, "") if given is None else str(given)).strip() or "1"
    try:
        ratio = float(raw)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise TracingSettingError(f"{SAMPLE_RATIO_ENV}: {raw!r} is not a number from 0 to 1")
    return ratio


def _redacted_value(key: str, value: Any) -> Any:
    if is_sensitive_key(key.rsplit(".", 1)[-1]):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, tuple | list):
        return tuple(redact_text(item) if isinstance(item, str) else item for item in value)
    return value


def _redacted_attributes(attributes: Any) -> dict[str, Any]:
    return {key: _redacted_value(key, value) for key, value in (attributes or {}).items()}


def redacted_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of a finished span with its name, attributes and events redacted."""
    from opentelemetry.sdk.trace import Event, ReadableSpan

    events = [Event(redact_text(event.name), _redacted_attributes(event.attributes), event.timestamp) for event in span.events]
    return ReadableSpan(
        name=redact_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_redacted_attributes(span.attributes),
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def redacting(exporter: SpanExporter) -> SpanExporter:
    """Wrap ``exporter`` so that every span passes through the log redaction before it leaves."""
    from opentelemetry.sdk.trace.export import SpanExporter

    class RedactingExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return exporter.export([redacted_span(span) for span in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return exporter.force_flush(timeout_millis)

    return RedactingExporter()


def _exporter(mode: str, endpoint: str) -> SpanExporter:
    if mode == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, timeout=5)


def configure_tracing(
    app: Flask,
    exporter: SpanExporter | None = None,
    *,
    endpoint: str | None = None,
    mode: str | None = None,
    ratio: float | None = None,
) -> TracerProvider | None:
    """Instrument ``app`` and ``requests`` when tracing is configured (or ``exporter`` given); else nothing.

    ``endpoint``, ``mode`` and ``ratio`` are the typed settings (``otlp_endpoint``, ``tracing``,
    ``trace_sample_ratio``); left out, the environment variables are read.
    """
    mode = "given" if exporter is not None else tracing_mode(endpoint, mode)
    endpoint = (os.environ.get(ENDPOINT_ENV, "") if endpoint is None else endpoint).strip()
    ratio = sample_ratio(ratio)
    if mode == "off":
        return None
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "her2-cds"}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(redacting(exporter or _exporter(mode, endpoint))))
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider, excluded_urls=NOT_TRACED)
    instrumentor = RequestsInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    app.extensions[EXTENSION] = provider
    log.info("tracing on", extra={"exporter": mode, "sample_ratio": ratio})
    return provider


def stop_tracing(app: Flask) -> None:
    """Flush and stop the app's tracer provider and undo the instrumentation (tests, shutdown)."""
    provider = app.extensions.pop(EXTENSION, None)
    if provider is None:
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    provider.force_flush()
    RequestsInstrumentor().uninstrument()
    FlaskInstrumentor().uninstrument_app(app)
    provider.shutdown()
