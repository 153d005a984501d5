"""The operations routes and the per-request hooks: ``/metrics``, ``/livez``, ``/readyz``, request ids.

- ``/livez``: 200 while the process can answer at all (no database call: a database outage must not
  make an orchestrator restart every replica).
- ``/readyz``: 200 when every readiness check passes (the database answers, the knowledge is loaded),
  else 503 naming the failed check; an orchestrator stops routing to the replica meanwhile.
- ``/metrics``: the Prometheus text (``service.ops.metrics``), all gunicorn workers added up.

None of them needs a CDS client JWT (probes and scrapers carry none); none shows patient data.
Every request gets a request id (``X-Request-ID`` in and out, ``request_id`` on every log line) and is
counted with its latency by route, service, hook and status.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Mapping

from flask import Blueprint, Flask, Response, current_app, g, request

from service.logs import bind_request, bound_hook, end_request
from service.ops import metrics

log = logging.getLogger("her2cds.ops")
ops = Blueprint("ops", __name__)
READINESS_CHECKS = "her2cds.readiness"
SERVICE_IDS = "her2cds.service_ids"
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"


def _json(body: Mapping[str, str], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@ops.get("/livez")
def livez() -> Response:
    return _json({"status": "alive"})


@ops.get("/readyz")
def readyz() -> Response:
    checks: Mapping[str, Callable[[], object]] = current_app.extensions[READINESS_CHECKS]
    failed = []
    for name, check in checks.items():
        try:
            if not check():
                failed.append(name)
        except Exception:  # noqa: BLE001 - any failure of a dependency means "not ready", logged with its traceback
            log.exception("readiness check failed", extra={"check": name})
            failed.append(name)
    body = {"status": "unavailable" if failed else "ready"} | {name: "down" if name in failed else "ok" for name in checks}
    return _json(body, 503 if failed else 200)


@ops.get("/metrics")
def metrics_text() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, status=200, content_type=content_type)


def _start_request() -> None:
    g.ops_started = time.monotonic()
    g.request_id = bind_request(request.environ.get(REQUEST_ID_ENVIRON))  # the header, as WSGI hands it over


def _finish_request(response: Response) -> Response:
    """Count the request and its latency; hand the request id back to the caller."""
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("ops_started")
    if started is None or request.endpoint == "ops.metrics_text":
        return response
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    service_ids: Collection[str] = current_app.extensions[SERVICE_IDS]
    service_id = (request.view_args or {}).get("service_id")
    service = str(service_id) if service_id in service_ids else ("none" if service_id is None else "unknown")
    hook = bound_hook()
    metrics.observe_request(rule, service, hook, response.status_code, time.monotonic() - started)
    return response


def install(app: Flask, service_ids: Collection[str], readiness_checks: Mapping[str, Callable[[], object]]) -> None:
    """Add the operations routes and the request id / metrics hooks to ``app``."""
    app.extensions[READINESS_CHECKS] = dict(readiness_checks)
    app.extensions[SERVICE_IDS] = frozenset(service_ids)
    app.register_blueprint(ops)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.teardown_request(lambda _error: end_request())  # the thread's next lines belong to no request
