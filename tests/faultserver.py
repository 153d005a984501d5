"""A real FHIR server on 127.0.0.1 that serves the bundled example patients and misbehaves on purpose.

It answers the reads and searches of the service's prefetch templates (``Runtime.templates``) from the
example bundles (``service/examples``), in pages of ``page_size`` linked by ``next``. A fault is set per
prefetch key (``server.faults["cardiac"] = "503"``; ``"*"`` for every key) or injected at a fixed rate
(``fault_every=10``: every 10th read or search gets the next mode of ``rotation``). Every request is
recorded with its Authorization header, so a second instance can stand as "another origin" and prove
that no token reached it.

Used by tests/test_faults.py in-process and by scripts/soak.py as a process::

    python -m tests.faultserver --port 8123 --fault-every 10
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from service.sandbox import run_template

# Every way the server can misbehave; "ok" answers normally. (Connection refused is a closed port: see
# ``closed_port``.)
STATUS_MODES = {
    "401": (401, "login"),
    "403": (403, "forbidden"),
    "404": (404, "not-found"),
    "410": (410, "deleted"),
    "429": (429, "throttled"),
    "500": (500, "exception"),
    "503": (503, "transient"),
}
MODES = (
    *STATUS_MODES,
    *(f"{status}+oo" for status in STATUS_MODES),  # the same statuses with an OperationOutcome body
    "429-once",  # 429 with Retry-After: 1 the first time, then the answer
    "hang",  # accept, read the request, never answer
    "slow",  # the right answer, after ``slow_seconds``
    "drop",  # accept, read the request, close the connection without a word
    "html",  # a login page instead of JSON
    "malformed",  # JSON with a syntax error
    "truncated",  # Content-Length larger than the body, then the connection closes
    "transaction",  # a Bundle of type transaction instead of a searchset
    "not-bundle",  # a resource that is not a Bundle (or not the one read)
    "wrong-type",  # a record of another resource type inside the answer
    "other-patient",  # a record of another patient inside the answer
    "endless-next",  # every page links to yet another page
    "next-other-origin",  # the next link points to another server
    "redirect",  # 302 to another server
    "oversized",  # an answer larger than any sensible limit (and a Content-Length saying so)
    "oversized-chunked",  # the same, sent chunked: its size shows only while reading
    "flood",  # a valid answer padded with 60,000 empty arrays (cheap to send, dear to parse)
    "deep",  # valid JSON nested deeper than any FHIR resource (an extension inside an extension...)
    "cookie",  # the right answer with a Set-Cookie header (a session the next request must not carry)
    "slow-drip",  # the answer arrives a few bytes at a time, for longer than any budget
)
# A search answer that carries an OperationOutcome entry (``search.mode = outcome``) beside its records,
# as HAPI FHIR does when it dropped a parameter or stopped early; the value is the severity.
# Kept out of MODES (and the soak's rotation): an informational outcome is no fault at all.
OUTCOME_MODES = {"outcome-error": "error", "outcome-fatal": "fatal", "outcome-information": "information"}
SEARCH_ONLY_MODES = {"endless-next", "next-other-origin", *OUTCOME_MODES}  # a read has no next link nor entries
DEFAULT_ROTATION = tuple(m for m in MODES if m not in ("hang", "slow-drip")) + ("hang", "slow-drip")
DEEP_LEVELS = 500  # two JSON levels each: below orjson's own limit (1024), so the answer parses
HARMLESS_MODES = ("429-once", "slow", "cookie")  # the service must still read the right answer


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def example_resources() -> list[dict[str, Any]]:
    """The resources of every bundled example patient."""
    from service.cli import bundle_resources, example_bundles

    return [resource for _name, bundle in example_bundles() for resource in bundle_resources(bundle)]


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str
    key: str | None
    mode: str
    authorization: str | None
    cookie: str | None = None


class FaultServer:
    """A threading HTTP server in a background thread; ``base_url`` ends in ``/fhir``."""

    def __init__(
        self,
        resources: list[dict[str, Any]],
        templates: Mapping[str, str],
        *,
        other_origin: str = "",
        page_size: int = 100,
        oversize_bytes: int = 2 * 1024 * 1024,
        hang_seconds: float = 10.0,
        slow_seconds: float = 0.6,
        fault_every: int = 0,
        rotation: tuple[str, ...] = DEFAULT_ROTATION,
        port: int = 0,
    ) -> None:
        self.resources = resources
        self.templates = dict(templates)
        self.other_origin = other_origin.rstrip("/")
        self.page_size = page_size
        self.oversize_bytes = oversize_bytes
        self.hang_seconds = hang_seconds
        self.slow_seconds = slow_seconds
        self.fault_every = fault_every
        self.rotation = rotation
        self.faults: dict[str, str] = {}
        self.seen: deque[Seen] = deque(maxlen=100_000)
        self.connections = 0
        self._counter = itertools.count(1)
        self._once: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.httpd = _QuietServer(("127.0.0.1", port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/fhir"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"faultserver-{self.port}", daemon=True)

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """No faults, nothing seen: the state of a fresh server."""
        with self._lock:
            self.faults.clear()
            self.seen.clear()
            self._once.clear()

    # -- what to serve -----------------------------------------------------------------------------
    def key_of(self, path: str, query: str) -> tuple[str | None, str | None]:
        """(prefetch key, patient id) of a request, by matching it against the templates."""
        if path.startswith("Patient/"):
            patient_id: str | None = path.split("/", 1)[1]
        else:
            patient_id = (parse_qs(query).get("patient") or [None])[0]
        if patient_id is None:
            return None, None
        asked = (path, sorted(parse_qsl(query)))
        for key, template in self.templates.items():
            rendered = urlsplit(template.replace("{{context.patientId}}", patient_id))
            if (rendered.path, sorted(parse_qsl(rendered.query))) == asked:
                return key, patient_id
        return None, patient_id

    def mode_for(self, key: str | None) -> str:
        """The fault a request gets: set for its key, else ``*``, else the rotation at ``fault_every``."""
        with self._lock:
            mode = self.faults.get(key or "", self.faults.get("*", "ok"))
            if mode == "429-once":  # the retry of the same key is answered
                if key in self._once:
                    return "ok"
                self._once.add(key or "")
            number = next(self._counter)
            if mode == "ok" and self.fault_every and number % self.fault_every == 0:
                mode = self.rotation[(number // self.fault_every) % len(self.rotation)]
            return mode

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def stats(self) -> dict[str, int]:
        """What the server saw (scripts/soak.py reads it over HTTP)."""
        seen = list(self.seen)
        faults = sum(1 for s in seen if s.mode != "ok")
        return {"requests": len(seen), "faults": faults, "withAuthorization": sum(1 for s in seen if s.authorization)}

    def requests_for(self, key: str) -> int:
        return sum(1 for seen in list(self.seen) if seen.key == key)

    def answer(self, path: str, query: str, patient_id: str | None) -> Any:
        """The correct answer: a resource for a read, a searchset for a search (None: not found)."""
        if patient_id is None:
            return None
        if "?" not in path and not query:
            return run_template(path, patient_id, self.resources)
        params = "&".join(f"{name}={value}" for name, value in parse_qsl(query))
        return run_template(f"{path}?{params}", patient_id, self.resources)


class _QuietServer(ThreadingHTTPServer):
    """No traceback on stderr when a client drops its connection (the service does so on purpose).

    A listen backlog for the parallel searches of many requests: the default (5) would refuse
    connections the soak did not mean to fault.
    """

    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _operation_outcome(code: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": code}]}


def _intruder(resource_type: str, patient_id: str, other_type: bool) -> dict[str, Any]:
    """A record that does not belong in the answer: another type, or another patient's."""
    if other_type:
        return {
            "resourceType": "Condition" if resource_type != "Condition" else "Observation",
            "id": "wrong-type",
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "94225005"}]},
            "onsetDateTime": "2026-05-01",
        }
    return {"resourceType": resource_type, "id": "other-patient", "subject": {"reference": "Patient/someone-else"}}


def _handler_for(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection pool is exercised
        timeout = 60  # idle keep-alive connections end
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server.connections += 1

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read ``server.seen``."""

        def do_GET(self) -> None:
            try:
                self._serve()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout): nothing to do

        # -- dispatch ----------------------------------------------------------------------------
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/_stats":
                return self._json(200, server.stats())
            if not parts.path.startswith("/fhir/"):
                return self._json(404, _operation_outcome("not-found"))
            path, query = parts.path[len("/fhir/") :], parts.query
            if path == "_page":
                return self._page(dict(parse_qsl(query)))
            key, patient_id = server.key_of(path, query)
            mode = server.mode_for(key)
            if mode in SEARCH_ONLY_MODES and "?" not in self.path:
                mode = "ok"
            server.record(Seen(self.path, key, mode, self.headers.get("Authorization"), self.headers.get("Cookie")))
            answer = server.answer(path, query, patient_id)
            if answer is None:
                return self._json(404, _operation_outcome("not-found"))
            if answer.get("resourceType") == "Bundle":
                answer = self._paged(answer, key, patient_id or "", 0)
            return self._misbehave(mode, answer, path, patient_id or "", key)

        def _page(self, params: dict[str, str]) -> None:
            """A later page of a search (``_page?key=&patient=&offset=``); endless ones never end."""
            key, patient_id, offset = params.get("key", ""), params.get("patient", ""), int(params.get("offset", "0"))
            mode = server.faults.get(key, server.faults.get("*", "ok"))
            server.record(Seen(self.path, key, mode, self.headers.get("Authorization"), self.headers.get("Cookie")))
            if mode == "endless-next":
                return self._json(200, self._bundle([], self._page_url(key, patient_id, offset + 1)))
            template = server.templates.get(key)
            if template is None:
                return self._json(404, _operation_outcome("not-found"))
            rendered = urlsplit(template.replace("{{context.patientId}}", patient_id))
            full = server.answer(rendered.path, rendered.query, patient_id)
            return self._json(200, self._paged(full, key, patient_id, offset))

        # -- answers -----------------------------------------------------------------------------
        @staticmethod
        def _page_url(key: str | None, patient_id: str, offset: int, base: str = "") -> str:
            query = urlencode({"key": key or "", "patient": patient_id, "offset": offset})
            return f"{base or server.base_url}/_page?{query}"

        @staticmethod
        def _bundle(entries: list[dict[str, Any]], next_url: str | None) -> dict[str, Any]:
            bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
            if next_url:
                bundle["link"] = [{"relation": "next", "url": next_url}]
            return bundle

        def _paged(self, full: dict[str, Any], key: str | None, patient_id: str, offset: int) -> dict[str, Any]:
            entries = full.get("entry") or []
            end = offset + server.page_size
            next_url = self._page_url(key, patient_id, end) if end < len(entries) else None
            return self._bundle(entries[offset:end], next_url) | {"total": len(entries)}

        def _misbehave(self, mode: str, answer: dict[str, Any], path: str, patient_id: str, key: str | None) -> None:
            resource_type = path.split("/")[0].split("?")[0]
            is_read = answer.get("resourceType") != "Bundle"
            status_mode = STATUS_MODES.get(mode.removesuffix("+oo"))
            if mode == "ok":
                return self._json(200, answer)
            if mode in OUTCOME_MODES:
                outcome = _operation_outcome("incomplete") | {"issue": [{"severity": OUTCOME_MODES[mode], "code": "incomplete"}]}
                entries = [*answer.get("entry", []), {"resource": outcome, "search": {"mode": "outcome"}}]
                return self._json(200, answer | {"entry": entries})
            if status_mode:
                status, code = status_mode
                headers = {"Retry-After": "30"} if status == 429 else {}
                if mode.endswith("+oo"):
                    return self._json(status, _operation_outcome(code), headers)
                return self._raw(status, b"Service error", "text/plain", headers)
            if mode == "429-once":
                return self._raw(429, b"", "text/plain", {"Retry-After": "1"})
            if mode == "hang":
                server._stopping.wait(server.hang_seconds)
                self.close_connection = True
                return None
            if mode == "slow":
                server._stopping.wait(server.slow_seconds)
                return self._json(200, answer)
            if mode == "cookie":
                return self._json(200, answer, {"Set-Cookie": "session=ehr-session-of-another-user; Path=/"})
            if mode == "drop":
                self.close_connection = True
                return None
            if mode == "html":
                return self._raw(200, b"<!doctype html><html><body><form>Sign in</form></body></html>", "text/html")
            if mode == "malformed":
                return self._raw(200, b'{"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {', None)
            if mode == "truncated":
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body) + 1000))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return None
            if mode == "transaction":
                bundle = copy.deepcopy(answer) if not is_read else self._bundle([{"resource": answer}], None)
                return self._json(200, bundle | {"type": "transaction"})
            if mode == "not-bundle":
                return self._json(200, _operation_outcome("informational"))
            if mode in ("wrong-type", "other-patient"):
                intruder = _intruder(resource_type, patient_id, other_type=mode == "wrong-type")
                if is_read:
                    return self._json(200, intruder if mode == "wrong-type" else answer | {"id": "someone-else"})
                entries = [*answer.get("entry", []), {"resource": intruder}]
                return self._json(200, answer | {"entry": entries})
            if mode == "endless-next":
                return self._json(200, answer | {"link": [{"relation": "next", "url": self._page_url(key, patient_id, 10_000)}]})
            if mode == "next-other-origin":
                elsewhere = self._page_url(key, patient_id, 1, base=server.other_origin)
                return self._json(200, answer | {"link": [{"relation": "next", "url": elsewhere}]})
            if mode == "redirect":
                return self._raw(302, b"", "text/plain", {"Location": f"{server.other_origin}/{self.path[len('/fhir/'):]}"})
            if mode == "oversized":
                padding = "x" * server.oversize_bytes
                return self._json(200, answer | {"identifier": {"system": "urn:padding", "value": padding}})
            if mode == "oversized-chunked":
                return self._chunked(json.dumps(answer | {"identifier": {"value": "x" * server.oversize_bytes}}).encode())
            if mode == "flood":
                return self._json(200, answer | {"extension": [[]] * 60_000})
            if mode == "deep":
                nested = '{"url": "urn:deep"}'  # as text: json.dumps would hit Python's recursion limit
                for _ in range(DEEP_LEVELS):
                    nested = f'{{"url": "urn:deep", "extension": [{nested}]}}'
                body = json.dumps(answer | {"extension": "DEEP"}).replace('"DEEP"', f"[{nested}]", 1)
                return self._raw(200, body.encode(), None)
            if mode == "slow-drip":
                return self._drip(json.dumps(answer).encode())
            raise ValueError(f"unknown fault mode {mode!r}")

        def _drip(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), 8):  # 80 bytes a second: any answer outlasts the budget
                if server._stopping.wait(0.1):
                    break
                self.wfile.write(body[start : start + 8])
                self.wfile.flush()
            self.close_connection = True

        def _chunked(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for start in range(0, len(body), 65536):
                    chunk = body[start : start + 65536]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading at its limit
            self.close_connection = True

        def _json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
            self._raw(status, json.dumps(body).encode(), "application/fhir+json", headers)

        def _raw(self, status: int, body: bytes, content_type: str | None, headers: Mapping[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve the example patients with faults at a fixed rate until interrupted (scripts/soak.py)."""
    from service.app import prefetch_templates
    from service.knowledge import load_knowledge

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fault-every", type=int, default=10, help="every Nth read or search misbehaves (0: never)")
    parser.add_argument("--other-origin", default="", help="base URL used by next-other-origin and redirect faults")
    parser.add_argument("--oversize-bytes", type=int, default=2 * 1024 * 1024)
    parser.add_argument("--rotation", default=",".join(DEFAULT_ROTATION), help="the faults taken in turn (comma-separated)")
    options = parser.parse_args(argv)
    server = FaultServer(
        example_resources(),
        prefetch_templates(load_knowledge()),
        other_origin=options.other_origin,
        fault_every=options.fault_every,
        oversize_bytes=options.oversize_bytes,
        rotation=tuple(options.rotation.split(",")),
        hang_seconds=5.0,
        port=options.port,
    )
    server.start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
