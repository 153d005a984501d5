"""Logs are JSON lines with secrets and patient identifiers redacted, ours and other libraries' alike.

The FHIR fallback test runs the real path (urllib3 at DEBUG logs every request line, patient search
included) against a FHIR stub on 127.0.0.1, and a real werkzeug server logs its access lines.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server

from service import create_app
from service.logs import REDACTED, configure_logging, json_formatter
from tests.logcheck import LeakCheck, secrets_of_request
from tests.stub_server import empty_fhir, stub_server
from tests.tokens import bearer, claims, mint, signing_key

PATIENT_ID = "patient-7f3a9c"
HOOK_INSTANCE = "2f1c8e4a-7b3d-4e59-9a6c-0d1e2f3a4b5c"


@pytest.fixture()
def logs() -> Iterator[LeakCheck]:
    """The test's own capture at DEBUG, urllib3 included (its level restored afterwards)."""
    urllib3 = logging.getLogger("urllib3")
    level = urllib3.level
    urllib3.setLevel(logging.DEBUG)
    check = LeakCheck()
    check.start()
    yield check
    check.stop()
    urllib3.setLevel(level)


def lines(check: LeakCheck) -> list[dict]:
    return [json.loads(line) for line in check.text().splitlines() if line.strip()]


def test_fhir_fallback_at_debug_leaks_neither_token_nor_patient_id(tmp_path, logs):
    fhir_token = mint(signing_key(), claims(aud="https://fhir.example.org"))  # JWT-shaped access token
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "name": [{"family": "Quested", "given": ["Philippa"]}]}
    with stub_server() as ehr:
        base = empty_fhir(ehr, patient=patient)
        app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "log_level": "DEBUG"})
        body = {
            "hook": "patient-view",
            "hookInstance": "log-1",
            "fhirServer": base,
            "fhirAuthorization": {"access_token": fhir_token, "token_type": "Bearer", "scope": "patient/*.read"},
            "context": {"patientId": PATIENT_ID},
        }
        response = app.test_client().post("/cds-services/her2-mbc-guidance", json=body)
    assert response.status_code == 200
    assert ehr.hits[f"/fhir/Patient/{PATIENT_ID}"] == 1
    logs.secrets.update({fhir_token, PATIENT_ID})
    records = lines(logs)
    request_lines = [r["event"] for r in records if r.get("logger") == "urllib3.connectionpool" and "GET /fhir/" in r["event"]]
    assert any("patient=" + REDACTED in line for line in request_lines), request_lines  # the search was logged...
    assert any("Patient/" + REDACTED in line for line in request_lines), request_lines
    assert logs.leaks() == []  # ...without the patient id or the token
    answered = next(r for r in records if r["event"] == "hook answered")
    assert answered["service"] == "her2-mbc-guidance" and answered["hook"] == "patient-view"
    assert {"cards", "problems", "answer_ms", "timestamp", "level"} <= set(answered)


def test_werkzeug_access_lines_are_redacted(tmp_path, logs):
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "log_level": "DEBUG"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/cds-services?patient={PATIENT_ID}"
        assert requests.get(url, headers=bearer("opaque-secret-token-value"), timeout=5).status_code == 200
    finally:
        server.shutdown()
        thread.join(timeout=5)
    logs.secrets.add(PATIENT_ID)
    access = [r["event"] for r in lines(logs) if r.get("logger") == "werkzeug"]
    assert any(f"patient={REDACTED}" in line for line in access), access
    assert logs.leaks() == []


def test_refused_requests_log_the_reason_but_not_the_token(tmp_path, logs):
    client = {"issuer": "https://ehr.example.org", "jwks": {"keys": [signing_key().public_jwk()]}}
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "clients": [client], "public_base_url": "http://localhost"})
    token = mint(signing_key(), claims(aud="https://elsewhere.example.org/"))
    assert app.test_client().get("/cds-services", headers=bearer(token)).status_code == 401
    logs.secrets.add(token)
    refused = [r for r in lines(logs) if r["event"].startswith("request refused")]
    assert refused and "audience" in refused[0]["event"].lower() and refused[0]["level"] == "info"
    assert logs.leaks() == []


@pytest.mark.parametrize(
    ("message", "args", "extra", "secret"),
    [
        ("calling with %s", ("Bearer opaque-access-token-1",), {}, "opaque-access-token-1"),
        ("token %s", (mint(signing_key()),), {}, "eyJ"),
        ("fetched %s", ("https://fhir.example.org/Observation?code=1&patient=pat-4242&_count=200",), {}, "pat-4242"),
        ("fetched %s", ("https://fhir.example.org/Condition?subject=Patient/pat-4343",), {}, "pat-4343"),
        ("context", (), {"patientId": "pat-4444"}, "pat-4444"),
        ("auth", (), {"fhirAuthorization": {"access_token": "opaque-access-token-2"}}, "opaque-access-token-2"),
        ("headers", (), {"headers": {"Authorization": "Basic c2VjcmV0LXZhbHVl"}}, "c2VjcmV0LXZhbHVl"),
        ("nested", (), {"request": {"prefetch": {"patient": {"id": "pat-4545"}}}}, "pat-4545"),
    ],
)
def test_redaction_of_messages_and_extras(logs, message, args, extra, secret):
    logging.getLogger("some.library").warning(message, *args, extra=extra)
    text = logs.text()
    assert text and secret not in text
    assert REDACTED in text


def test_tracebacks_are_redacted_too(logs):
    try:
        raise ValueError("GET https://fhir.example.org/Patient/pat-4646 failed")
    except ValueError:
        logging.getLogger("her2cds").exception("unhandled")
    record = lines(logs)[-1]
    assert "ValueError" in record["exception"] and "pat-4646" not in record["exception"]


def test_gunicorn_handlers_get_the_redacting_formatter():
    handler = logging.StreamHandler()
    gunicorn = logging.getLogger("gunicorn.error")
    gunicorn.addHandler(handler)
    try:
        configure_logging("INFO")
        record = logging.LogRecord("gunicorn.error", logging.ERROR, __file__, 1, "worker saw %s", ("Bearer abc-secret-1",), None)
        assert "abc-secret-1" not in handler.format(record)
        assert json.loads(handler.format(record))["event"] == f"worker saw Bearer {REDACTED}"
    finally:
        gunicorn.removeHandler(handler)


def test_the_suite_wide_check_would_catch_a_leak(client, no_secrets_in_logs):
    """The autouse check records a request's secrets, and its detector finds a secret that was logged."""
    client.get("/healthz", headers=bearer("opaque-secret-98"))
    assert "opaque-secret-98" in no_secrets_in_logs.secrets
    inner = LeakCheck()
    inner.secrets.add("Philippa Quested")  # a name: no pattern can redact it, only the check can catch it
    inner.start()
    logging.getLogger("her2cds").debug("evaluating %s", "Philippa Quested")
    inner.stop()
    assert inner.leaks() == ["Philippa Quested"]
    recorded = secrets_of_request(
        {
            "headers": bearer("opaque-secret-99"),
            "json": {
                "fhirAuthorization": {"access_token": "fhir-secret-99"},
                "context": {"patientId": "pid-9999"},
                "prefetch": {"patient": {"resourceType": "Patient", "id": "pid-9999", "identifier": [{"value": "MRN-123"}]}},
            },
        }
    )
    assert {"Bearer opaque-secret-99", "opaque-secret-99", "fhir-secret-99", "pid-9999", "MRN-123"} <= recorded


def test_json_formatter_renders_one_object_per_line():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "two\nlines", (), None)
    rendered = json_formatter().format(record)
    assert "\n" not in rendered and json.loads(rendered)["event"] == "two\nlines"


def test_every_line_of_a_hook_call_carries_its_request_id_and_hook_instance(tmp_path, logs):
    """The service's lines and urllib3's lines from the FHIR search threads alike."""
    with stub_server() as ehr:
        base = empty_fhir(ehr, patient={"resourceType": "Patient", "id": PATIENT_ID})
        app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "log_level": "DEBUG", "time_budget_seconds": 20})
        body = {"hook": "patient-view", "hookInstance": HOOK_INSTANCE, "fhirServer": base, "context": {"patientId": PATIENT_ID}}
        response = app.test_client().post("/cds-services/her2-mbc-guidance", json=body, headers={"X-Request-ID": "ehr-req-7781"})
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "ehr-req-7781"
    mine = [r for r in lines(logs) if r.get("request_id") == "ehr-req-7781"]
    fhir_lines = [r for r in mine if r.get("logger") == "urllib3.connectionpool"]
    assert len(fhir_lines) >= 6  # a request line per search, from the search threads
    assert any(r["event"] == "hook answered" for r in mine)
    assert all(r.get("hook_instance") == HOOK_INSTANCE for r in mine)
    later = app.test_client().get("/livez")
    assert later.headers["X-Request-ID"] != "ehr-req-7781"
    logging.getLogger("her2cds").info("between requests")
    assert "request_id" not in lines(logs)[-1] and "hook_instance" not in lines(logs)[-1]


def test_ansi_escapes_are_stripped_from_every_line(logs):
    logging.getLogger("werkzeug").info("\x1b[31m\x1b[1mGET /x HTTP/1.1\x1b[0m %s", "\x1b[33m404\x1b[0m")
    text = logs.text()
    assert "\x1b" not in text and "\\u001b" not in text
    assert lines(logs)[-1]["event"] == "GET /x HTTP/1.1 404"


def test_gunicorn_error_and_access_lines_are_json_redacted_and_carry_the_request_id(tmp_path, knowledge):
    """Real gunicorn with the ops config: master and worker lines on stderr, access lines on stdout."""
    from tests.gunicorn_run import start_gunicorn
    from tests.processes import stop

    server = start_gunicorn(tmp_path, {"HER2CDS_LOG_LEVEL": "INFO"})
    try:
        no_data = dict.fromkeys(knowledge.services["prefetch"])  # every key null: no records, a 200
        body = {"hook": "patient-view", "hookInstance": HOOK_INSTANCE, "context": {"patientId": PATIENT_ID}, "prefetch": no_data}
        hook = requests.post(f"{server.base_url}/cds-services/her2-mbc-guidance", json=body, timeout=30)
        query = requests.get(f"{server.base_url}/cds-services?patient={PATIENT_ID}", timeout=30)
    finally:
        stop(server.process)
    assert hook.status_code == 200 and query.status_code == 200
    raw = server.stdout.read_text() + server.stderr.read_text()
    assert "\x1b" not in raw and "\\u001b" not in raw
    assert PATIENT_ID not in raw
    records = [json.loads(line) for line in raw.splitlines() if line.strip()]  # every line is one JSON object
    events = [r["event"] for r in records if r.get("logger") == "gunicorn.error"]
    assert any(e.startswith("Booting worker") for e in events) and any(e.startswith("Listening at") for e in events)
    access = {r["request_id"]: r for r in records if r.get("logger") == "gunicorn.access"}
    hook_line = access[hook.headers["X-Request-ID"]]
    assert hook_line["method"] == "POST" and hook_line["status"] == 200 and hook_line["path"] == "/cds-services/her2-mbc-guidance"
    assert isinstance(hook_line["ms"], float) and hook_line["bytes"] > 0
    assert access[query.headers["X-Request-ID"]]["path"] == f"/cds-services?patient={REDACTED}"
    # One line per hook call: its access line carries the hook's summary, written nowhere else.
    assert hook_line["hook_instance"] == HOOK_INSTANCE and hook_line["hook"] == "patient-view"
    assert hook_line["service"] == "her2-mbc-guidance" and hook_line["cards"] >= 0 and hook_line["problems"] == 0
    assert isinstance(hook_line["answer_ms"], int)
    assert not [r for r in records if r["event"] == "hook answered"]
    assert "hook" not in access[query.headers["X-Request-ID"]]


def test_a_hook_instance_that_is_no_uuid_is_logged_hashed(tmp_path, logs, knowledge):
    """CDS Hooks says a UUID; an EHR sending an identifier there must not get it into the log."""
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
    no_data = dict.fromkeys(knowledge.services["prefetch"])
    body = {"hook": "patient-view", "hookInstance": f"enc-{PATIENT_ID}", "context": {"patientId": PATIENT_ID}}
    body["prefetch"] = no_data
    assert app.test_client().post("/cds-services/her2-mbc-guidance", json=body).status_code == 200
    answered = next(r for r in lines(logs) if r["event"] == "hook answered")
    assert answered["hook_instance"].startswith("sha256:") and len(answered["hook_instance"]) == 23
    assert PATIENT_ID not in logs.text()
