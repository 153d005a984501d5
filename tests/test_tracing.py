"""OpenTelemetry traces: off by default; when configured, spans go to an OTLP/HTTP receiver (here one
on 127.0.0.1), the caller's trace continues, ``traceparent`` reaches the FHIR server, and no span
carries a patient id or a token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from service import create_app
from service.config import ConfigError
from service.ops.tracing import EXTENSION, TracingSettingError, stop_tracing
from tests.stub_server import BacklogHTTPServer, empty_fhir, stub_server

PATIENT_ID = "pat-trace-3141"
FHIR_TOKEN = "opaque-fhir-token-2718281828"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVICE = "/cds-services/her2-mbc-guidance"
BUDGET = 20  # seconds: a busy machine must not turn the fallback into a 412


class OtlpReceiver:
    """A loopback OTLP/HTTP traces endpoint that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        receiver.spans.extend(scope_spans.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                pass

        self.server = BacklogHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"


@pytest.fixture()
def receiver() -> Iterator[OtlpReceiver]:
    found = OtlpReceiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()
    thread.join(timeout=5)


def hook_body(base: str) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "hi-trace-1",
        "fhirServer": base,
        "fhirAuthorization": {"access_token": FHIR_TOKEN, "token_type": "Bearer", "scope": "patient/*.read"},
        "context": {"patientId": PATIENT_ID},
    }


def span_text(span: Any) -> str:
    """Everything a span says, as one string: name, attribute values, events."""
    return str(span)


def test_tracing_is_off_unless_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("HER2CDS_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("HER2CDS_TRACING", raising=False)
    with stub_server() as ehr:
        base = empty_fhir(ehr, patient={"resourceType": "Patient", "id": PATIENT_ID})
        app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "time_budget_seconds": BUDGET})
        assert app.test_client().post(SERVICE, json=hook_body(base)).status_code == 200
    assert EXTENSION not in app.extensions
    assert ehr.requests and not any("traceparent" in {k.lower() for k in headers} for _path, headers in ehr.requests)


def test_traceparent_reaches_the_fhir_server_and_spans_reach_the_collector_redacted(tmp_path, monkeypatch, receiver):
    monkeypatch.setenv("HER2CDS_OTLP_ENDPOINT", receiver.url)
    with stub_server() as ehr:
        base = empty_fhir(ehr, patient={"resourceType": "Patient", "id": PATIENT_ID})
        app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "time_budget_seconds": BUDGET})
        try:
            assert EXTENSION in app.extensions
            response = app.test_client().post(
                f"{SERVICE}?patient={PATIENT_ID}",
                json=hook_body(base),
                headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
            )
            assert app.test_client().get("/livez").status_code == 200  # probes are not traced
        finally:
            stop_tracing(app)  # flushes the batch to the receiver and undoes the instrumentation
    assert response.status_code == 200
    sent = [{k.lower(): v for k, v in headers.items()}.get("traceparent") for _path, headers in ehr.requests]
    assert len(sent) >= 6 and all(sent), sent  # every FHIR read and search carried one
    assert {value.split("-")[1] for value in sent} == {TRACE_ID}  # ...in the EHR's trace
    assert CALLER_SPAN not in {value.split("-")[2] for value in sent}  # ...under the service's own spans

    spans = receiver.spans
    server = [span for span in spans if span.kind == span.SPAN_KIND_SERVER]
    clients = [span for span in spans if span.kind == span.SPAN_KIND_CLIENT]
    assert [span.name for span in server] == ["POST /cds-services/<service_id>"]
    assert server[0].trace_id.hex() == TRACE_ID and server[0].parent_span_id.hex() == CALLER_SPAN
    assert len(clients) == len(sent)
    assert {span.parent_span_id for span in clients} == {server[0].span_id}  # the search threads' spans sit under it
    assert {f"00-{TRACE_ID}-{span.span_id.hex()}-01" for span in clients} == set(sent)
    everything = "\n".join(span_text(span) for span in spans)
    assert PATIENT_ID not in everything and FHIR_TOKEN not in everything
    assert "[redacted]" in everything  # the FHIR URLs were there, redacted
    url_values = [
        attribute.value.string_value
        for span in clients
        for attribute in span.attributes
        if attribute.key in ("http.url", "url.full")
    ]
    assert url_values and all("/fhir/" in url for url in url_values)


def test_a_bad_tracing_setting_stops_the_start_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HER2CDS_TRACING", "jaeger")
    with pytest.raises(ConfigError, match="setting tracing"):
        create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
    monkeypatch.setenv("HER2CDS_TRACING", "otlp")
    monkeypatch.delenv("HER2CDS_OTLP_ENDPOINT", raising=False)
    with pytest.raises(TracingSettingError, match="HER2CDS_OTLP_ENDPOINT"):
        create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
    monkeypatch.setenv("HER2CDS_TRACING", "console")
    monkeypatch.setenv("HER2CDS_TRACE_SAMPLE_RATIO", "2")
    with pytest.raises(ConfigError, match="setting trace_sample_ratio"):
        create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
