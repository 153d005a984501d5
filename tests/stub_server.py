"""A real HTTP server on 127.0.0.1 in a thread, answering from a table of paths: JWKS, a tiny FHIR server.

Counts the requests per path so tests can prove that a request did (or did not) leave the service.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from service.read.record import MEDICATION_TYPES


class BacklogHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with a listen backlog a FHIR server has, not socketserver's 5.

    The service opens a connection per FHIR search, all at once. With a backlog of 5, a freshly booted
    gunicorn worker's burst could overflow it while the accepting thread waited for the GIL: the
    dropped connection timed out at the 0.5 s connect timeout and the hook answered 412 (seen in CI,
    test_metrics). HAPI's Tomcat or any production server queues 100 or more.
    """

    request_queue_size = 128


class StubServer:
    """``routes`` maps a path (no query) to the JSON to answer; anything else is 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = urlsplit(self.path).path
                stub.hits[path] += 1
                stub.requests.append((self.path, dict(self.headers)))
                found = stub.routes.get(path)
                body = json.dumps(found if found is not None else {"resourceType": "OperationOutcome"}).encode()
                self.send_response(200 if found is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                pass

        self.server = BacklogHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def total(self) -> int:
        return sum(self.hits.values())


@contextmanager
def stub_server() -> Iterator[StubServer]:
    stub = StubServer()
    thread = threading.Thread(target=stub.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.server.shutdown()
        stub.server.server_close()
        thread.join(timeout=5)


def empty_fhir(stub: StubServer, prefix: str = "/fhir", patient: dict[str, Any] | None = None) -> str:
    """Make the stub a FHIR server with no records but the patient; return its base URL."""
    for resource_type in ("Condition", "Observation", *MEDICATION_TYPES):  # every search the service runs
        stub.routes[f"{prefix}/{resource_type}"] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    if patient is not None:
        stub.routes[f"{prefix}/Patient/{patient['id']}"] = patient
    return stub.base + prefix
