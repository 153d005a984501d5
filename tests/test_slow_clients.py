"""Issue 13.2: slow clients must not take the service down.

256 connections to gunicorn as the Dockerfile runs it (on 127.0.0.1) each send a request line and then
drip one header line every half second, never finishing their headers (slowloris); a connection the
server closes is opened again at once, as an attacker would. Meanwhile ``/healthz`` and a hook call
with prefetch must each answer within 1 s. With gunicorn's gthread worker (2 workers x 4 threads) 8 such
connections were enough to make ``/healthz`` time out; the gevent worker reads each connection in its
own greenlet (a dripping client holds a few kB, not a thread) and, as gunicorn's async workers do,
closes a connection whose request has not arrived within ``--keep-alive`` (2 s).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import requests

from service.app import prefetch_templates
from service.cli import bundle_resources, example_bundles
from service.knowledge import load_knowledge
from service.sandbox import run_template
from tests.processes import served

SLOW_CONNECTIONS = 256
ANSWER_WITHIN_SECONDS = 1.0
ROUNDS = 8
DRIP_SECONDS = 0.5


def hook_body() -> dict[str, Any]:
    templates = prefetch_templates(load_knowledge())
    resources = bundle_resources(example_bundles()[0][1])
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    prefetch = {key: run_template(template, patient_id, resources) for key, template in templates.items()}
    return {"hook": "patient-view", "hookInstance": "slow-1", "context": {"patientId": patient_id}, "prefetch": prefetch}


def open_slow_connection(port: int, number: int) -> socket.socket:
    """A connection that has sent a request line and one header, and will go on dripping."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET /healthz?slow={number} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    return sock


def drip(connections: list[socket.socket], port: int) -> int:
    """One more header line on every connection; one the server closed is opened again. Returns how many
    had to be opened again."""
    reopened = 0
    for index, sock in enumerate(connections):
        try:
            sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            sock.close()
            connections[index] = open_slow_connection(port, index)
            reopened += 1
    return reopened


def timed(call: Any) -> tuple[float, int]:
    started = time.monotonic()
    try:
        status = call().status_code
    except requests.RequestException:
        status = 0
    return time.monotonic() - started, status


def test_256_slow_connections_leave_healthz_and_hooks_answering_within_a_second(tmp_path: Path) -> None:
    body = hook_body()
    with served(tmp_path) as service:
        port = int(service.base_url.rsplit(":", 1)[1])
        url = service.base_url
        assert requests.post(url + "/cds-services/her2-mbc-guidance", json=body, timeout=10).status_code == 200  # warm
        connections = [open_slow_connection(port, number) for number in range(SLOW_CONNECTIONS)]
        timings: list[tuple[str, float, int]] = []
        reopened = 0
        try:
            for _round in range(ROUNDS):  # bounded: ROUNDS x (drip + two calls of at most 5 s each)
                time.sleep(DRIP_SECONDS)
                reopened += drip(connections, port)
                health = timed(lambda: requests.get(url + "/healthz", timeout=5))
                hook = timed(lambda: requests.post(url + "/cds-services/her2-mbc-guidance", json=body, timeout=5))
                timings += [("healthz", *health), ("hook", *hook)]
        finally:
            for sock in connections:
                sock.close()
        slow = [(name, round(seconds, 3), status) for name, seconds, status in timings if seconds > ANSWER_WITHIN_SECONDS]
        failed = [(name, status) for name, _seconds, status in timings if status != 200]
        assert failed == [], f"calls that failed under {SLOW_CONNECTIONS} slow connections: {failed}"
        assert slow == [], f"calls slower than {ANSWER_WITHIN_SECONDS} s under {SLOW_CONNECTIONS} slow connections: {slow}"
        worst = max(seconds for _name, seconds, _status in timings)
        print(f"slow clients: {SLOW_CONNECTIONS} dripping connections ({reopened} reopened); worst answer {worst * 1000:.0f} ms")
