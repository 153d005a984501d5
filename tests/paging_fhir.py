"""A small FHIR server on 127.0.0.1 that pages every search by a fixed size, newest entries as given.

It answers ``GET [base]/Patient/<id>`` and type searches filtered by ``patient``, ``code`` (token
lists, with or without a system) and ``_id`` (a list), ignores ``_count`` (some EHRs do) and links
pages with ``next``.
Used to prove that the service follows paging to the end and reads what it finds as the prefetch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


def _subject_id(resource: dict[str, Any]) -> str | None:
    for name in ("subject", "patient"):
        reference = resource.get(name)
        if isinstance(reference, dict) and isinstance(reference.get("reference"), str):
            return reference["reference"].rsplit("/", 1)[-1]
    return None


def _matches(resource: dict[str, Any], query: dict[str, list[str]]) -> bool:
    patient = query.get("patient", [None])[0]
    if patient is not None and _subject_id(resource) != patient:
        return False
    if "_id" in query and resource.get("id") not in query["_id"][0].split(","):
        return False
    if "code" in query:
        wanted = {token.rsplit("|", 1)[-1] for token in query["code"][0].split(",")}
        codes = {c.get("code") for c in (resource.get("code") or {}).get("coding") or [] if isinstance(c, dict)}
        return bool(codes & wanted)
    return True


@contextmanager
def paging_fhir_server(resources: list[dict[str, Any]], page_size: int) -> Iterator[str]:
    """Serve ``resources`` on loopback in pages of ``page_size``; yield the base URL (``.../fhir``)."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            segments = parts.path.strip("/").split("/")[1:]  # after "fhir"
            body: dict[str, Any] | None = None
            if len(segments) == 2:
                body = next((r for r in by_type.get(segments[0], []) if r.get("id") == segments[1]), None)
            elif len(segments) == 1:
                query = parse_qs(parts.query)
                page = int(query.pop("_page", ["0"])[0])
                query.pop("_count", None)
                matches = [r for r in by_type.get(segments[0], []) if _matches(r, query)]
                chunk = matches[page * page_size : (page + 1) * page_size]
                body = {"resourceType": "Bundle", "type": "searchset", "total": len(matches)}
                body["entry"] = [{"resource": resource} for resource in chunk]
                if (page + 1) * page_size < len(matches):
                    params = urlencode({**{k: v[0] for k, v in query.items()}, "_page": page + 1})
                    body["link"] = [{"relation": "next", "url": f"{base}/fhir/{segments[0]}?{params}"}]
            data = json.dumps(body if body is not None else {"resourceType": "OperationOutcome"}).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the service opens up to 8 searches at once; the default backlog of 5 drops some
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{base}/fhir"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
