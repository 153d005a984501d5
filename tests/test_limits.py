"""Input limits: body size, nesting, floods of tiny values, huge-but-allowed bodies, unknown fields.

The limits protect a worker's memory and time from one request: a body over ``max_body_bytes`` is
refused before it is read (413, also when it arrives chunked without a Content-Length), JSON nested
deeper than the service reads (``jsonio.MAX_DEPTH``) or denser than FHIR (``jsonio.too_dense``) is a
400 that costs little memory, and everything within the limits is answered. Peak memory is measured
with ``tracemalloc`` (Python allocations, orjson's included).
"""

from __future__ import annotations

import copy
import http.client
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from werkzeug.serving import make_server

from service import create_app
from service.jsonio import DENSITY_CHECK_FROM_BYTES, MAX_DEPTH, JsonTooDeep, parse_json
from tests.cards import ASSESSMENT_KEY, response_problems
from tests.conftest import coding, her2_positive_liver_patient, observation, prefetch_for

SERVICE = "/cds-services/her2-mbc-guidance"
FEEDBACK = f"{SERVICE}/feedback"
SMALL_LIMIT = 100_000


def hook_body(prefetch: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"patientId": "p1", "userId": "Practitioner/example"},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def feedback_body() -> dict[str, Any]:
    return {"feedback": [{"card": "card-1", "outcome": "accepted", "outcomeTimestamp": "2026-06-01T10:00:00Z"}]}


@pytest.fixture()
def full_prefetch(app, knowledge) -> dict[str, Any]:
    return prefetch_for(her2_positive_liver_patient(), app.extensions["her2cds"].templates, knowledge)


def measured_post(client: Any, path: str, data: bytes) -> tuple[Any, int]:
    """POST ``data``; the response and the peak of Python memory the app allocated while handling it.

    Measured around the WSGI app only: the test client's copy of the body and the log check's own
    parse of it (tests/logcheck.py) are not the service's memory.
    """
    app = client.application
    inner = app.wsgi_app
    peaks: list[int] = []

    def wsgi(environ: Any, start_response: Any) -> Any:
        tracemalloc.start()
        try:
            return inner(environ, start_response)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    app.wsgi_app = wsgi
    try:
        response = client.post(path, data=data, content_type="application/json")
    finally:
        app.wsgi_app = inner
    return response, peaks[0]


def assert_operation_outcome(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    assert response.json["resourceType"] == "OperationOutcome" and response.json["issue"][0]["code"] == code


# -- body size -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    return create_app({"database_url": f"sqlite:///{folder}/f.sqlite3", "max_body_bytes": SMALL_LIMIT})


@pytest.mark.parametrize("path", [SERVICE, FEEDBACK])
def test_a_body_over_the_configured_limit_is_413_on_every_route(small_app, path):
    data = orjson.dumps(hook_body() | {"padding": "x" * SMALL_LIMIT})
    assert_operation_outcome(small_app.test_client().post(path, data=data, content_type="application/json"), 413, "too-long")


def test_a_body_at_the_limit_is_read(small_app):
    body = hook_body()
    body["padding"] = ""
    body["padding"] = "x" * (SMALL_LIMIT - len(orjson.dumps(body)))
    data = orjson.dumps(body)
    assert len(data) == SMALL_LIMIT
    response = small_app.test_client().post(SERVICE, data=data, content_type="application/json")
    assert response.status_code == 412  # read and parsed: only the missing prefetch stops it


class CountingInput:
    """A server's body stream that ends the body itself (as gunicorn's does) and counts its reads."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, []

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        taken, self.data = (self.data, b"") if size is None or size < 0 else (self.data[:size], self.data[size:])
        return taken


def test_a_body_the_server_ends_is_read_in_one_call_and_answered_as_any(small_app, full_prefetch):
    """Under gunicorn (``wsgi.input_terminated``) a body with its length below the limit is read at once."""
    from service.app import request_bytes

    data = orjson.dumps(hook_body(full_prefetch))
    stream = CountingInput(data)
    environ = {"wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_LENGTH": str(len(data))}
    with small_app.test_request_context(SERVICE, method="POST", environ_overrides=environ):
        assert request_bytes(SMALL_LIMIT) == data
    assert stream.reads == [len(data)]
    client = small_app.test_client()
    plain = client.post(SERVICE, data=data, content_type="application/json")
    ended = client.post(SERVICE, data=data, content_type="application/json", environ_overrides={"wsgi.input_terminated": True})
    assert plain.status_code == ended.status_code == 200
    assert [card["summary"] for card in ended.json["cards"]] == [card["summary"] for card in plain.json["cards"]]


@pytest.mark.parametrize("extra", [0, 1])
def test_a_body_the_server_ends_at_or_over_the_limit_is_413(small_app, extra):
    """At the limit the server's stream cannot say whether more follows; over it, the length alone refuses it."""
    body = hook_body()
    body["padding"] = ""
    body["padding"] = "x" * (SMALL_LIMIT - len(orjson.dumps(body)) + extra)
    data = orjson.dumps(body)
    response = small_app.test_client().post(
        SERVICE, data=data, content_type="application/json", environ_overrides={"wsgi.input_terminated": True}
    )
    assert_operation_outcome(response, 413, "too-long")


@pytest.fixture(scope="module")
def served_small_app(small_app) -> Iterator[tuple[str, int]]:
    """The small-limit app behind a real HTTP server, so that a body can arrive chunked."""
    server = make_server("127.0.0.1", 0, small_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.port
    server.shutdown()


@pytest.mark.parametrize("path", [SERVICE, FEEDBACK])
def test_a_chunked_body_over_the_limit_is_413(served_small_app, path):
    """No Content-Length to refuse up front: the limit holds while the body is read."""
    host, port = served_small_app
    chunk = b" " * 65536  # JSON whitespace: only the size can stop it
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        body = iter([b'{"hook": "patient-view",', *[chunk] * (2 * SMALL_LIMIT // len(chunk)), b"}"])
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"}, encode_chunked=True)
        response = connection.getresponse()
        payload = orjson.loads(response.read())
    finally:
        connection.close()
    assert response.status == 413 and response.getheader("Transfer-Encoding") is None
    assert payload["resourceType"] == "OperationOutcome" and payload["issue"][0]["code"] == "too-long"


# -- nesting ---------------------------------------------------------------------------------------


def nested(levels: int, opening: bytes = b"[", closing: bytes = b"]", inner: bytes = b"") -> bytes:
    return opening * levels + inner + closing * levels


@pytest.mark.parametrize(
    "data",
    [
        nested(100_000),  # far past the parser's own limit
        nested(100_000, b'{"a":', b"}", b"1"),
        orjson.dumps(hook_body()).replace(b'"userId"', b'"deep": ' + nested(MAX_DEPTH + 5) + b', "userId"'),
        orjson.dumps(hook_body()).replace(b'"context"', b'"prefetch": {"conditions": ' + nested(900) + b'}, "context"'),
    ],
    ids=["100k-arrays", "100k-objects", "context-past-max-depth", "prefetch-900-deep"],
)
@pytest.mark.parametrize("path", [SERVICE, FEEDBACK])
def test_deeply_nested_json_is_400_cheaply(client, path, data):
    response, peak = measured_post(client, path, data)
    assert_operation_outcome(response, 400, "invalid")
    assert peak < 10 * 1024 * 1024 + 20 * len(data)  # never a copy per level, never a RecursionError (a 500)


@pytest.mark.parametrize(("opening", "closing", "inner"), [(b"[", b"]", b""), (b'{"a":', b"}", b"1")], ids=["arrays", "objects"])
def test_the_parser_stops_at_max_depth(opening, closing, inner):
    """MAX_DEPTH is the parser's own limit (pydantic-core): an upgrade that moves it fails here, not in production."""
    assert parse_json(nested(MAX_DEPTH, opening, closing, inner)) is not None
    with pytest.raises(JsonTooDeep, match="nests too deeply"):
        parse_json(nested(MAX_DEPTH + 2, opening, closing, inner))


def test_nesting_at_the_depth_the_service_reads_is_accepted(client, full_prefetch):
    body = hook_body(full_prefetch)
    body["context"]["extension"] = orjson.loads(nested(MAX_DEPTH - 5))
    assert client.post(SERVICE, json=body).status_code == 200


@pytest.mark.parametrize(
    ("literal", "element"),
    [(b"1e400", "valueQuantity"), (b"-1e999", "valueQuantity"), (b"1" + b"0" * 400, "valueInteger")],
    ids=["infinite-decimal", "negative-infinite-decimal", "400-digit-integer"],
)
def test_a_number_beyond_fhirs_range_makes_its_record_unreadable_not_an_alert(client, app, knowledge, literal, element):
    """The parser reads 1e400 as infinity and a 400-digit integer as itself; neither is a measurement.

    An LVEF of "inf %" would have met no threshold and one of infinity bilirubin every threshold: the
    record is named on the data card instead, and the advice says it rests on partial data.
    """
    resources = her2_positive_liver_patient()
    lvef = next(r for r in resources if r["id"] == "o4")
    lvef.pop("valueQuantity")
    lvef[element] = {"value": "NUMBER", "unit": "%"} if element == "valueQuantity" else "NUMBER"
    body = hook_body(prefetch_for(resources, app.extensions["her2cds"].templates, knowledge))
    data = orjson.dumps(body).replace(b'"NUMBER"', literal)
    response = client.post(SERVICE, data=data, content_type="application/json")
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    assert any("could not be read" in card["summary"] for card in cards), [card["summary"] for card in cards]
    assert not any("inf" in card["detail"].lower().replace("info", "") for card in cards if card.get("detail"))


# -- floods and huge bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("filler", [[], 1, "", {}], ids=["arrays", "numbers", "strings", "objects"])
def test_a_flood_of_tiny_values_is_refused_unparsed(client, filler):
    """4.5 MB of ``[],[],...`` would be ~100 MB of Python lists; the service refuses it unread."""
    data = orjson.dumps(hook_body() | {"junk": [filler] * 1_500_000})
    assert len(data) < 5 * 1024 * 1024  # within the default body limit
    response, peak = measured_post(client, SERVICE, data)
    assert_operation_outcome(response, 400, "invalid")
    assert "values" in response.json["issue"][0]["diagnostics"]
    assert peak < 4 * len(data), f"{peak / 1e6:.0f} MB for a {len(data) / 1e6:.1f} MB body"  # parsed: over 20 times


def padding_observations(count: int) -> list[dict[str, Any]]:
    """Observations the service does not read (glucose), each a realistic ~600 bytes."""
    return [
        observation(
            f"glucose-{index}",
            "2345-7",
            f"2025-{index % 12 + 1:02d}-{index % 28 + 1:02d}",
            valueQuantity={"value": 90 + index % 40, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
            category=[{"coding": [coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")]}],
            performer=[{"reference": "Practitioner/lab-1", "display": "Central laboratory"}],
            note=[{"text": "fasting sample, analysed on the morning run"}],
        )
        for index in range(count)
    ]


def test_a_huge_body_within_the_limit_is_answered(client, full_prefetch):
    """4.5 MB of realistic FHIR JSON (the default limit is 5 MB) gives the same advice as the small one."""
    small = client.post(SERVICE, json=hook_body(full_prefetch)).json
    huge_prefetch = copy.deepcopy(full_prefetch)
    padding = padding_observations(8_000)
    huge_prefetch["liverLabs"]["entry"].extend({"resource": resource} for resource in padding)
    data = orjson.dumps(hook_body(huge_prefetch))
    assert 4 * 1024 * 1024 < len(data) < 5 * 1024 * 1024 and len(data) > DENSITY_CHECK_FROM_BYTES
    started = time.monotonic()
    response, peak = measured_post(client, SERVICE, data)
    assert response.status_code == 200, response.json
    assert response_problems(response.json, "patient-view") == []
    assert response.json["cards"][0]["extension"][ASSESSMENT_KEY] == small["cards"][0]["extension"][ASSESSMENT_KEY]
    assert peak < 40 * len(data), f"{peak / 1e6:.0f} MB for a {len(data) / 1e6:.1f} MB body"
    print(f"{len(data) / 1e6:.1f} MB body: {time.monotonic() - started:.1f} s, peak {peak / 1e6:.0f} MB (with tracemalloc)")


# -- unknown fields --------------------------------------------------------------------------------


def test_unknown_fields_are_ignored_everywhere_in_a_hook_request(client, full_prefetch):
    body = hook_body(full_prefetch | {"somethingTheEhrAdded": {"resourceType": "Bundle", "type": "searchset"}})
    body |= {"fhirServer": None, "newTopLevel": [1, {"x": None}], "extension": {"com.example": True}}
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "subject": "s", "patient": "p1", "novel": 1}
    body["context"] |= {"encounterId": "e1", "futureField": {"nested": ["a"]}}
    response = client.post(SERVICE, json=body)
    assert response.status_code == 200 and response_problems(response.json, "patient-view") == []


def test_unknown_fields_are_ignored_in_feedback(client, full_prefetch):
    card = client.post(SERVICE, json=hook_body(full_prefetch)).json["cards"][0]["uuid"]
    body = feedback_body() | {"batch": "b1"}
    body["feedback"][0]["card"] = card
    body["feedback"][0] |= {"extension": {"com.example": 1}, "overrideReason": {"userComment": "x", "novel": 2}}
    assert client.post(FEEDBACK, json=body).status_code == 200
