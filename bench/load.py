"""Load generator, run as its own process: N keep-alive connections POST one body for a fixed time.

Each connection is a thread with its own ``http.client`` connection (no ``requests`` overhead on the
client side: sending a prepared body and reading the answer costs the client far less CPU than the
server spends, so on 2 cores the load generator is not what limits the figures). Requests in the
warm-up are not counted. Prints one JSON object: requests, errors, seconds, latencies (ms, sorted).

    python -m bench.load URL BODY_FILE --connections 8 --seconds 10 --warmup 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit


def _worker(url: str, body: bytes, start_at: float, stop_at: float, latencies: list[float], errors: list[int]) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    while True:
        began = time.perf_counter()
        if began >= stop_at:
            break
        try:
            connection.request("POST", parts.path, body=body, headers=headers)
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


def run(url: str, body: bytes, connections: int, seconds: float, warmup: float) -> dict[str, object]:
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    latencies: list[float] = []
    errors: list[int] = []
    threads = [
        threading.Thread(target=_worker, args=(url, body, start_at, stop_at, latencies, errors), daemon=True)
        for _ in range(connections)
    ]
    cpu = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
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
    print(json.dumps(run(args.url, args.body.read_bytes(), args.connections, args.seconds, args.warmup)))


if __name__ == "__main__":
    main()
