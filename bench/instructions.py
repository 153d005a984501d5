"""``make bench-instructions``: instructions per hook request, the floor's and the service's, counted by callgrind.

Figure 1 of ``make bench`` (throughput, service / floor) is the goal, but on this virtual machine one
run's figure moves with the machine: the floor's CPU per ex1 request was 0.54 ms in one session and
1.5 ms in the next, and a change of 25 us a request is within the spread of two runs (issue 16). The
number of instructions a request executes does not move with the machine: valgrind's callgrind counts
the same total for the same code and inputs whatever else the machine is doing. So a change of a few
percent to the request path can be measured here in one run, before the noisy figure can see it.

Each server (bench/floor.py and the service) runs as one gunicorn gevent worker with the Dockerfile's
other settings, under callgrind. A client sends ``warm-up`` requests, then ``count`` more over one
keep-alive connection, each a patient not sent before (bench/run.py ``patient_variants``). Every server
is started twice, with and without the ``count`` requests; the difference of the worker's two totals,
divided by ``count``, is one request: start-up, warm-up and shutdown cancel out. Timers (the service's
batch writer of issued cards, every 0.2 s; gunicorn's heartbeat) run more often in a slower run, so
two runs of the same code differ a little: 2.76 and 2.74 M instructions for the floor's ex1 request,
5.65 and 5.59 M for the service's; 18.68 and 18.22 M, 28.16 and 28.38 M for ex3 (within 2.5 %).

Instructions are not time. The service's instructions run slower than the floor's (more code and
data, so more cache misses), so the throughput ratio of figure 1 is below the instruction ratio
printed here: ex1 gave 0.49 here against 0.43-0.46 in figure 1.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.run import SERVICE_PATH, example_named, gunicorn, patient_variants, service_env
from service.cli import bundle_resources

APPS = {"floor": "bench.floor:create_app()", "service": "service:create_app()"}
SLOWER = 10  # gunicorn() waits ten times longer: it runs about 50 times slower under callgrind, start-up included
SETTLE_SECONDS = 2.0  # after the last request: the service's batch of issued cards is written (0.2 s, slower here)


@dataclass(frozen=True)
class Plan:
    patients: dict[str, int]  # example prefix -> requests counted
    warmup: int


FULL = Plan({"ex1-": 200, "ex3-": 30}, warmup=50)
QUICK = Plan({"ex1-": 10}, warmup=5)


def _collected(log: str, master: int) -> int:
    """The worker's total from valgrind's log: the one process other than gunicorn's master."""
    totals = {int(pid): int(total.replace(",", "")) for pid, total in re.findall(r"==(\d+)== Collected : ([\d,]+)", log)}
    workers = [total for pid, total in totals.items() if pid != master]
    if len(workers) != 1:
        raise SystemExit(f"bench: expected one gunicorn worker's count from callgrind, found {totals}\n{log[-2000:]}")
    return workers[0]


def worker_instructions(app: str, env: dict[str, str], bodies: list[bytes]) -> int:
    """Instructions the worker of ``app`` executed, from its start to its exit, having answered ``bodies``."""
    folder = Path(tempfile.mkdtemp(prefix="her2cds-callgrind-"))
    valgrind = ("valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/callgrind.%p")
    log_path = folder / "valgrind.log"
    # A database of its own: two runs send the same warm-up patients, whose cards would otherwise meet
    # in one table and take the duplicate path of the issued-card writer in whichever run wrote second.
    env = {**env, "HER2CDS_DATABASE_URL": f"sqlite:///{folder}/feedback.sqlite3"}
    try:
        with log_path.open("wb") as log:
            server = gunicorn(app, env, workers=1, wrapper=valgrind, stderr=log, patience=SLOWER)
            with server as running:
                # http.client sends only the headers given: the counts stay those of the bare requests
                # the figures were first taken with (a requests.Session adds three headers to parse).
                connection = http.client.HTTPConnection(urlsplit(running.url).netloc, timeout=300)
                for body in bodies:
                    connection.request("POST", SERVICE_PATH, body=body, headers={"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:
                        raise SystemExit(f"bench: {app} answered {response.status} under callgrind")
                connection.close()
                time.sleep(SETTLE_SECONDS)
        return _collected(log_path.read_text(encoding="utf-8", errors="replace"), running.process.pid)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def per_request(plan: Plan, prefix: str, env: dict[str, str]) -> dict[str, float]:
    """Instructions per request of each app for one example patient (two apps, two runs each, two at a time)."""
    _name, bundle = example_named(prefix)
    count = plan.patients[prefix]
    bodies = patient_variants(prefix.rstrip("-"), bundle_resources(bundle), plan.warmup + count)
    runs = {(app, n): bodies[: plan.warmup + n] for app in APPS for n in (0, count)}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # one valgrind a core
        totals = dict(zip(runs, pool.map(lambda key: worker_instructions(APPS[key[0]], env, runs[key]), runs), strict=True))
    return {app: (totals[app, count] - totals[app, 0]) / count for app in APPS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a few requests of ex1 only: proves the tool works")
    quick = parser.parse_args(argv).quick
    if shutil.which("valgrind") is None:
        raise SystemExit("bench: valgrind is needed (Debian/Ubuntu: apt-get install valgrind)")
    plan = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="her2cds-instructions-") as folder:
        env = service_env(Path(folder))
        rows = []
        for prefix, count in plan.patients.items():
            print(f"bench: counting instructions, {prefix.rstrip('-')}, {count} requests ...", flush=True)
            rows.append((prefix.rstrip("-"), count, per_request(plan, prefix, env)))
    print()
    print("her2-cds instructions per hook request (valgrind callgrind; one gunicorn worker, the Dockerfile's other settings)")
    print("=" * 100)
    print(f"{'patient':10} {'requests':>9} {'floor':>12} {'service':>12} {'floor/service':>14}")
    for label, count, counts in rows:
        floor, service = counts["floor"], counts["service"]
        print(f"{label:10} {count:>9} {floor / 1e6:>10.2f} M {service / 1e6:>10.2f} M {floor / service:>14.2f}")
    print(f"each after {plan.warmup} warm-up requests, every request a patient not sent before; a count, not a time:")
    print("figure 1 of `make bench` is the goal, and its ratio is below this one (the service's instructions run slower)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
