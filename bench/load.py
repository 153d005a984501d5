"""Load generator, run as its own process: N keep-alive connections POST request bodies for a fixed time.

BODY_FILE holds one JSON request per line (distinct patients, bench/run.py ``patient_variants``); the
connections take them in turn, so no request repeats a patient until every line has been sent once
(issue 16: every measured request is a patient the server has not seen).

Each connection is a thread with its own ``http.client`` connection (no ``requests`` overhead on the
client side: sending a prepared body and reading the answer costs the client far less CPU than the
server spends, so on 2 cores the load generator is not what limits the figures). Requests in the
warm-up are not counted. Prints one JSON object: requests, errors, seconds, latencies (ms, sorted).

    python -m bench.load URL BODY_FILE --connections 8 --seconds 10 --warmup 2
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit


def _worker(
    url: str, bodies: Iterator[bytes], start_at: float, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    while True:
        began = time.perf_counter()
        if began >= stop_at:
            break
        try:
            connection.request("POST", parts.path, body=next(bodies), headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
            status = 0
        ended = time.perf_counter()
        if began >= start_at and ended <= stop_at:
            if status == 200:
                latencies.append((ended - began) * 1000)
            else:
                errors.append(status)
    connection.close()


def run(url: str, bodies: list[bytes], connections: int, seconds: float, warmup: float) -> dict[str, object]:
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    latencies: list[float] = []
    errors: list[int] = []
    rotation = itertools.cycle(bodies)  # next() on it is atomic under the GIL: each body is sent by one thread
    threads = [
        threading.Thread(target=_worker, args=(url, rotation, start_at, stop_at, latencies, errors), daemon=True)
        for _ in range(connections)
    ]
    cpu = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "bodies": len(bodies),
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": seconds,
        "client_cpu_seconds": time.process_time() - cpu,
        "latencies_ms": sorted(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("body", type=Path)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.body.read_bytes().splitlines(), args.connections, args.seconds, args.warmup)))


if __name__ == "__main__":
    main()
