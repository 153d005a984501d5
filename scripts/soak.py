"""Soak test: the service under gunicorn, as the Dockerfile runs it, against a FHIR server that faults.

Starts
- tests/faultserver.py serving the bundled example patients, with one FHIR read or search in
  ``--fault-every`` (default 5: 20 %) misbehaving, the kind taken in turn from every fault it knows;
- a second fault server standing as "another origin" (redirects and ``next`` links point there):
  it must see no request at all;
- gunicorn with the Dockerfile's GUNICORN_CMD_ARGS (read from the Dockerfile, bound to a loopback
  port) after the Dockerfile's one-process ``create_app()`` check;

then drives mixed requests from several client threads for ``SOAK_SECONDS`` (default 600): patient-view
with prefetch and with FHIR fallback, order-select, order-sign, feedback, discovery, malformed JSON.
It reports requests, counts by status, p50/p99 latency and the gunicorn workers' RSS (VmRSS) after a
warm-up and at the end (each time with no request in flight), beside the goals: zero 5xx (and every
request answered), RSS growth under 10 %, no worker restarted, nothing sent to the other origin.
Exit status 1 when a goal is missed.

    SOAK_SECONDS=45 .venv/bin/python scripts/soak.py --json var/soak.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.faultserver and the service, when run as a script

from service.app import prefetch_templates  # noqa: E402
from service.cli import bundle_resources, example_bundles  # noqa: E402
from service.knowledge import load_knowledge  # noqa: E402
from service.sandbox import run_template  # noqa: E402
from tests.processes import dockerfile_gunicorn_args, free_port, stop  # noqa: E402

GOAL_RSS_GROWTH_PERCENT = 10.0
QUIET_SECONDS = 3.0  # after the clients stop: requests in flight end (their FHIR budget is 2 s)
GUIDANCE = "/cds-services/her2-mbc-guidance"
ORDER_CHECK = "/cds-services/her2-mbc-order-check"
TOKEN = "soak-token-for-the-ehr-only"  # noqa: S105 - a made-up token the fault server expects
# What the clients send, with weights (out of 100).
MIX = {
    "patient-view prefetch": 25,
    "patient-view fallback": 25,
    "order-select": 12,
    "order-sign": 12,
    "feedback": 10,
    "discovery": 8,
    "malformed JSON": 8,
}
ORDERABLE = ["Enhertu", "trastuzumab deruxtecan", "Kadcyla", "Phesgo", "tucatinib", "Herceptin", "paracetamol 500 mg"]


# -- processes -----------------------------------------------------------------------------------------


def wait_for(url: str, seconds: float, process: subprocess.Popen[bytes], log: Path) -> None:
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def process(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with its output in ``log``, ended (TERM, then KILL) on the way out."""
    with log.open("wb") as out:
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env or os.environ.copy())  # noqa: S603
        try:
            yield child
        finally:
            stop(child)


def fault_server(port: int, fault_every: int, other_origin: str, log: Path) -> Any:
    command = [sys.executable, "-m", "tests.faultserver", "--port", str(port), "--fault-every", str(fault_every)]
    if other_origin:
        command += ["--other-origin", other_origin]
    # An oversized answer must be over the service's default max_fhir_bundle_bytes (20 MB) to be a fault.
    return process([*command, "--oversize-bytes", str(21 * 1024 * 1024)], log)


def gunicorn(port: int, workdir: Path, log: Path) -> Any:
    """The Dockerfile's her2cds-start: create_app() once in one process, then gunicorn with its arguments."""
    env = os.environ | {"HER2CDS_DATABASE_URL": f"sqlite:///{workdir}/her2cds-feedback.sqlite3", "HER2CDS_LOG_LEVEL": "INFO"}
    check = [sys.executable, "-c", "from service import create_app; create_app()"]
    subprocess.run(check, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    gunicorn_bin = str(Path(sys.executable).parent / "gunicorn")
    return process([gunicorn_bin, *dockerfile_gunicorn_args(port), "service:create_app()"], log, env)


def workers_of(master: int) -> list[int]:
    """The gunicorn workers: the master's child processes."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for {pid}")


# -- requests ------------------------------------------------------------------------------------------


@dataclass
class Examples:
    """Per example patient: its id and its full prefetch."""

    patients: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def load(cls) -> Examples:
        templates = prefetch_templates(load_knowledge())
        examples = cls()
        for _name, bundle in example_bundles():
            resources = bundle_resources(bundle)
            patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
            prefetch = {key: run_template(template, patient_id, resources) for key, template in templates.items()}
            examples.patients.append((patient_id, prefetch))
        return examples


def hook_body(hook: str, patient_id: str, fhir_server: str | None, prefetch: dict[str, Any] | None, number: int) -> dict:
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": f"soak-{number}",
        "context": {"patientId": patient_id, "userId": "Practitioner/soak"},
    }
    if fhir_server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "scope": "patient/*.read", "subject": "soak"}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def order_context(patient_id: str, medication: str) -> dict[str, Any]:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {"text": medication},
    }
    return {"draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}}


class Client:
    """One client thread's requests; ``pick`` chooses the next one from ``MIX``."""

    def __init__(self, base: str, fhir_base: str, examples: Examples, seed: int) -> None:
        self.base = base
        self.fhir_base = fhir_base
        self.examples = examples
        self.random = random.Random(seed)  # noqa: S311 - a traffic mix, not a secret
        self.session = requests.Session()
        self.numbers = itertools.count(seed * 1_000_000)
        self.cards: deque[str] = deque(maxlen=200)  # uuids of cards this client was issued: feedback goes on them

    def remember_cards(self, response: requests.Response) -> requests.Response:
        """Keep the card uuids of a hook answer (the service takes feedback only on cards it issued)."""
        if response.status_code == 200:
            self.cards.extend(card["uuid"] for card in response.json().get("cards", []) if "uuid" in card)
        return response

    def pick(self) -> tuple[str, Callable[[], requests.Response]]:
        kind = self.random.choices(list(MIX), weights=list(MIX.values()))[0]
        patient_id, prefetch = self.random.choice(self.examples.patients)
        number = next(self.numbers)
        post = self.session.post
        if kind == "patient-view prefetch":
            body = hook_body("patient-view", patient_id, None, prefetch, number)
            return kind, lambda: self.remember_cards(post(self.base + GUIDANCE, json=body, timeout=30))
        if kind == "patient-view fallback":
            body = hook_body("patient-view", patient_id, self.fhir_base, None, number)
            return kind, lambda: self.remember_cards(post(self.base + GUIDANCE, json=body, timeout=30))
        if kind in ("order-select", "order-sign"):
            body = hook_body(kind, patient_id, self.fhir_base, None, number)
            body["context"] |= order_context(patient_id, self.random.choice(ORDERABLE))
            if kind == "order-select":
                body["context"]["selections"] = ["MedicationRequest/draft-1"]
            return kind, lambda: post(self.base + ORDER_CHECK, json=body, timeout=30)
        if kind == "feedback":
            outcome = self.random.choice(["accepted", "overridden"])
            card = self.random.choice(self.cards) if self.cards else f"never-issued-{number}"  # the latter: a 404
            item = {"card": card, "outcome": outcome, "outcomeTimestamp": f"2026-06-01T10:00:{number % 60:02d}Z"}
            if outcome == "overridden":
                item["overrideReason"] = {"reason": {"system": "urn:her2-cds:override-reason", "code": "patient-declined"}}
            return kind, lambda: post(self.base + GUIDANCE + "/feedback", json={"feedback": [item]}, timeout=30)
        if kind == "discovery":
            return kind, lambda: self.session.get(self.base + "/cds-services", timeout=30)
        broken = b'{"hook": "patient-view", "context": {"patientId": '
        headers = {"Content-Type": "application/json"}
        return kind, lambda: post(self.base + GUIDANCE, data=broken, headers=headers, timeout=30)


@dataclass
class Tally:
    """Every request's outcome, shared by the client threads."""

    statuses: Counter[str] = field(default_factory=Counter)
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: str, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.by_kind.setdefault(kind, Counter())[status] += 1
            self.latencies.append(seconds)


def drive(client: Client, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        kind, send = client.pick()
        started = time.monotonic()
        try:
            status = str(send().status_code)
        except requests.RequestException as exc:
            status = f"no answer ({type(exc).__name__})"
        tally.add(kind, status, time.monotonic() - started)


def milliseconds(seconds: float) -> int:
    return round(1000 * seconds)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# -- the run -------------------------------------------------------------------------------------------


def run_phase(
    base: str,
    fhir_base: str,
    examples: Examples,
    threads: int,
    until: float,
    tally: Tally,
    timeline: list[tuple[int, int]],
    workers: list[int],
    started: float = 0.0,
) -> None:
    """``threads`` clients until ``until``, sampling the workers' RSS into ``timeline`` every 10 s."""
    seeds = itertools.count(int(until))
    clients = [
        threading.Thread(target=drive, args=(Client(base, fhir_base, examples, next(seeds)), until, tally))
        for _ in range(threads)
    ]
    for thread in clients:
        thread.start()
    while any(thread.is_alive() for thread in clients):
        time.sleep(1)
        second = round(time.monotonic() - started)
        if started and second % 10 == 0 and all(Path(f"/proc/{pid}").exists() for pid in workers):
            timeline.append((second, sum(rss_kib(pid) for pid in workers) // 1024))


def quiet_rss(workers: list[int]) -> dict[int, int]:
    """The workers' RSS (KiB) once the requests in flight are over: the start and the end compare like with like."""
    time.sleep(QUIET_SECONDS)
    return {pid: rss_kib(pid) for pid in workers if Path(f"/proc/{pid}").exists()}


def soak(seconds: float, threads: int, fault_every: int, warmup: float) -> dict[str, Any]:
    examples = Examples.load()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="her2cds-soak-")))
        other_port, fhir_port, service_port = free_port(), free_port(), free_port()
        other_base = f"http://127.0.0.1:{other_port}/fhir"
        fhir_base = f"http://127.0.0.1:{fhir_port}/fhir"
        base = f"http://127.0.0.1:{service_port}"
        logs = {name: workdir / f"{name}.log" for name in ("other-origin", "faultserver", "gunicorn")}
        other = stack.enter_context(fault_server(other_port, 0, "", logs["other-origin"]))
        fhir = stack.enter_context(fault_server(fhir_port, fault_every, other_base, logs["faultserver"]))
        wait_for(f"http://127.0.0.1:{other_port}/_stats", 60, other, logs["other-origin"])
        wait_for(f"http://127.0.0.1:{fhir_port}/_stats", 60, fhir, logs["faultserver"])
        master = stack.enter_context(gunicorn(service_port, workdir, logs["gunicorn"]))
        wait_for(f"{base}/healthz", 120, master, logs["gunicorn"])
        workers = workers_of(master.pid)
        print(
            f"soak: gunicorn {master.pid} workers {workers}; {threads} clients for {seconds:.0f} s"
            f" (warm-up {warmup:.0f} s); 1 FHIR request in {fault_every} faults",
            flush=True,
        )

        tally = Tally()
        started = time.monotonic()
        warm_until = started + min(warmup, seconds / 2)
        run_phase(base, fhir_base, examples, threads, warm_until, tally, [], workers)
        rss_start = quiet_rss(workers)
        timeline: list[tuple[int, int]] = []  # (second, total worker RSS in MiB) every ~10 s
        run_phase(base, fhir_base, examples, threads, started + seconds, tally, timeline, workers, started)
        rss_end = quiet_rss(workers)
        workers_after = workers_of(master.pid)
        elapsed = time.monotonic() - started
        fhir_stats = requests.get(f"http://127.0.0.1:{fhir_port}/_stats", timeout=5).json()
        other_stats = requests.get(f"http://127.0.0.1:{other_port}/_stats", timeout=5).json()
        metrics = metric_totals(requests.get(f"{base}/metrics", timeout=10).text)
        feedback_report = report_of(workdir / "her2cds-feedback.sqlite3")

    total = sum(tally.statuses.values())
    five_xx = sum(count for status, count in tally.statuses.items() if status.startswith("5"))
    no_answer = sum(count for status, count in tally.statuses.items() if status.startswith("no answer"))
    start_sum, end_sum = sum(rss_start.values()), sum(rss_end.values())
    growth = 100.0 * (end_sum - start_sum) / start_sum if start_sum else float("nan")
    goals = {
        "zero 5xx": five_xx == 0,
        "every request answered": no_answer == 0,
        f"worker RSS growth < {GOAL_RSS_GROWTH_PERCENT:.0f} %": growth < GOAL_RSS_GROWTH_PERCENT,
        "no worker restarted": workers_after == workers,
        "nothing sent to the other origin": other_stats["requests"] == 0,
    }
    return {
        "seconds": round(elapsed, 1),
        "clients": threads,
        "requests": total,
        "requests_per_second": round(total / elapsed, 1) if elapsed else 0.0,
        "statuses": dict(sorted(tally.statuses.items())),
        "by_kind": {kind: dict(sorted(counts.items())) for kind, counts in sorted(tally.by_kind.items())},
        "5xx": five_xx,
        "no_answer": no_answer,
        "latency_ms": {name: milliseconds(percentile(tally.latencies, q)) for name, q in (("p50", 0.5), ("p99", 0.99))},
        "worker_rss_kib": {"after_warmup": rss_start, "end": rss_end, "growth_percent": round(growth, 1)},
        "worker_rss_mib_timeline": timeline,
        "workers": {"start": workers, "end": workers_after},
        "fhir_server": fhir_stats,
        "other_origin_requests": other_stats["requests"],
        "goals": goals,
        "goals_met": all(goals.values()),
        "metrics": metrics,
        "feedback_report": feedback_report,
    }


def metric_totals(exposition: str) -> dict[str, float]:
    """Each her2cds_* family of /metrics (all workers) summed over its labels: counters and histogram counts."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name.startswith("her2cds_"):
            counted = [s.value for s in family.samples if s.name.endswith(("_total", "_count"))]
            totals[family.name] = sum(counted)
    return totals


def report_of(database: Path) -> str:
    """``her2-cds report`` over the soak's feedback: rates per card kind and rule, with override reasons."""
    from sqlalchemy import create_engine

    from service.feedback_report import as_text, rule_figures

    engine = create_engine(f"sqlite:///{database}")
    try:
        return as_text(rule_figures(engine), None, None)
    finally:
        engine.dispose()


def report(result: dict[str, Any]) -> str:
    rss = result["worker_rss_kib"]
    lines = [
        f"soak: {result['requests']} requests in {result['seconds']} s"
        f" ({result['requests_per_second']}/s, {result['clients']} clients)",
        "  by status: " + ", ".join(f"{status}: {count}" for status, count in result["statuses"].items()),
        *(f"    {kind}: " + ", ".join(f"{s} {c}" for s, c in counts.items()) for kind, counts in result["by_kind"].items()),
        f"  5xx: {result['5xx']}   no answer: {result['no_answer']}   (goal: 0)",
        f"  latency p50 {result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms",
        f"  worker RSS after warm-up {sum(rss['after_warmup'].values()) // 1024} MiB,"
        f" at the end {sum(rss['end'].values()) // 1024} MiB:"
        f" growth {rss['growth_percent']} % (goal: < {GOAL_RSS_GROWTH_PERCENT:.0f} %)",
        "  worker RSS (MiB) every 10 s: " + " ".join(f"{mib}" for _second, mib in result["worker_rss_mib_timeline"]),
        f"  FHIR server: {result['fhir_server']['requests']} requests, {result['fhir_server']['faults']} faulted;"
        f" other origin: {result['other_origin_requests']} requests (goal: 0)",
        "  goals: " + ", ".join(f"{goal} {'MET' if met else 'MISSED'}" for goal, met in result["goals"].items()),
        "  /metrics after the soak (all workers, summed over labels): "
        + ", ".join(f"{name} {value:.0f}" for name, value in sorted(result["metrics"].items())),
        "  her2-cds report over the soak's feedback:",
        *("    " + line for line in result["feedback_report"].splitlines()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SOAK_THREADS", "8")))
    parser.add_argument("--fault-every", type=int, default=int(os.environ.get("SOAK_FAULT_EVERY", "5")))
    parser.add_argument("--warmup", type=float, help="seconds before the first RSS reading (default: a tenth, 5-60 s)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    options = parser.parse_args(argv)
    warmup = options.warmup if options.warmup is not None else min(60.0, max(5.0, options.seconds / 10))
    result = soak(options.seconds, options.threads, options.fault_every, warmup)
    print(report(result), flush=True)
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
