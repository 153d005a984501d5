"""``make bench``: the four performance figures of issue 6, side by side, in one run on one machine.

1. Throughput and p50/p99 latency of patient-view with the largest example's prefetch under gunicorn
   with the Dockerfile's settings, next to a trivial Flask app (bench/floor.py) under the same settings
   that parses the same body and returns a fixed card. Goal: service/floor throughput >= 0.5.
2. A generated heavy patient (bench/heavy.py) through ``Engine.evaluate`` in process and through HTTP:
   CPU per request next to ``json.loads`` of the same body. Goal: <= 10x. Also 100, 1,000, 10,000
   resources in process, with the cost per resource (it should stay flat: linear growth).
3. Fallback mode against HAPI: p50/p95 of patient-view without prefetch (fhirServer = HAPI) next to
   the same searches run one after another by a plain client, interleaved in the same run. Goal <= 1.0x.
4. Peak RSS (VmHWM) of each gunicorn worker after the runs.

Load comes from wrk (bench/load.lua) in its own process; every request is a patient not sent before.
BENCH_QUICK=1 (or --quick) runs a short version
(tiny sizes) that proves the bench works; its numbers are not figures.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import gc
import json
import os
import pstats
import re
import resource as rusage
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import requests

from bench.heavy import NOW as HEAVY_NOW
from bench.heavy import PATIENT_ID as HEAVY_PATIENT
from bench.heavy import heavy_patient
from service.cli import bundle_resources, example_bundles, patient_id_of, transaction_of
from service.engine import Engine
from service.gather import render_query
from service.knowledge import load_knowledge
from service.render import CardRenderer, RenderContext
from service.sandbox import run_template
from tests.processes import dockerfile_gunicorn_args, free_port, stop

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PATH = "/cds-services/her2-mbc-guidance"
LARGEST_EXAMPLE = "ex3-"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FALLBACK_BUDGET_SECONDS = 20


@dataclass(frozen=True)
class Plan:
    """How long and how big: the full bench, or the quick one CI runs."""

    load_seconds: float  # of one round of figure 1 (each round loads the floor, then the service)
    warmup_seconds: float
    connections: int
    heavy_size: int
    sizes: tuple[int, ...]
    repeats: int
    http_requests: int
    fallback_rounds: int
    rounds: int  # figure 1: floor and service loaded in turn, this many times; the figures are medians


FULL = Plan(3, 3, 8, 2600, (100, 1000, 10000), 5, 20, 60, 5)
QUICK = Plan(1, 1, 8, 300, (100, 200, 400), 2, 3, 5, 2)
SMALL_EXAMPLE = "ex1-"
LINEAR_FROM = 1000  # resources: evaluate+render per resource is measured against its goal from this size up
MAX_US_PER_RESOURCE = 10.0
MAX_HEAVY_HTTP_RATIO = 4.0
MARKER = "@@N@@"  # where bench/load.lua puts each request's own suffix
RSS_BEFORE_MB = 130  # peak RSS of the larger worker before issue 16, same bench (bench/results/2026-12-01-before.txt)


@dataclass
class Figure:
    """One row of the final table."""

    name: str
    value: str
    goal: str
    met: bool | None  # None: not measured
    notes: list[str] = field(default_factory=list)


# -- gunicorn -------------------------------------------------------------------------------------
@dataclass
class Server:
    """A running gunicorn: its URL and master pid."""

    url: str
    process: subprocess.Popen[bytes]

    def workers(self) -> list[int]:
        """Pids of the master's worker processes."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if int(_stat_fields(int(entry.name))[1]) == self.process.pid:
                        found.append(int(entry.name))
        return sorted(found)

    def workers_cpu_seconds(self) -> float:
        return sum(_cpu_seconds(pid) for pid in self.workers())

    def peak_rss_mb(self) -> list[float]:
        """VmHWM of each worker, in MB."""
        found = []
        for pid in self.workers():
            status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                found.append(int(match.group(1)) / 1024)
        return found


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [state, ppid, ...]."""
    text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    return text[text.rindex(")") + 2 :].split()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextlib.contextmanager
def gunicorn(
    app: str,
    env: dict[str, str],
    *,
    workers: int | None = None,
    wrapper: tuple[str, ...] = (),
    stderr: Any = subprocess.DEVNULL,
    patience: float = 1.0,
) -> Iterator[Server]:
    """Serve ``app`` with the Dockerfile's gunicorn settings until the block ends.

    ``workers`` replaces the Dockerfile's count; ``wrapper`` runs gunicorn under another program (valgrind,
    bench/instructions.py); ``stderr`` takes its output; ``patience`` multiplies every wait (60 s to start,
    6 s for an answer, 30 s to stop). Ready once it answers at / and all its workers have started.
    """
    port = free_port()
    args = dockerfile_gunicorn_args(port)
    if workers is not None:
        args[args.index("--workers") + 1] = str(workers)
    expected = int(args[args.index("--workers") + 1])
    command = [*wrapper, sys.executable, "-m", "gunicorn", *args, app]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)  # noqa: S603
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60 * patience
        while True:
            if process.poll() is not None:
                raise SystemExit(f"bench: gunicorn {app} exited with {process.returncode}")
            with contextlib.suppress(requests.RequestException):
                requests.get(server.url + "/", timeout=6 * patience)  # any answer: the floor has no page at /
                if len(server.workers()) >= expected:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: gunicorn {app} did not answer within {60 * patience:.0f} s")
            time.sleep(0.2)
        yield server
    finally:
        stop(process, grace_seconds=30 * patience)


def service_env(folder: Path) -> dict[str, str]:
    """The environment the service runs with: defaults, a private feedback database, quiet logs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HER2CDS_")}
    env["HER2CDS_DATABASE_URL"] = f"sqlite:///{folder}/feedback.sqlite3"
    env["PYTHONPATH"] = str(ROOT)
    # Figure 3: long enough for the heavy patient's paged searches, so the service reads everything and
    # is timed doing so (the default 2 s would cut them and answer early with partial data).
    env["HER2CDS_TIME_BUDGET_SECONDS"] = str(FALLBACK_BUDGET_SECONDS)
    env.pop("GUNICORN_CMD_ARGS", None)
    # As the Dockerfile's start script does: build the app once, so that workers never race to create the table.
    subprocess.run(
        [sys.executable, "-c", "from service import create_app; create_app()"], cwd=ROOT, env=env, check=True, capture_output=True
    )  # noqa: S603
    return env


# -- request bodies -------------------------------------------------------------------------------
@functools.cache
def templates() -> dict[str, str]:
    """The service's prefetch templates (read once: loading the knowledge files takes a while)."""
    from service.app import prefetch_templates

    return prefetch_templates(load_knowledge())


def hook_request(
    patient_id: str, resources: list[dict[str, Any]] | None, fhir_server: str | None = None, instance: str = "bench-0001"
) -> dict[str, Any]:
    """A patient-view request; the prefetch is the service's own templates run over ``resources``."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": instance,
        "context": {"patientId": patient_id, "userId": "Practitioner/bench"},
    }
    if resources is not None:
        body["prefetch"] = {key: run_template(t, patient_id, resources) for key, t in templates().items()}
    if fhir_server:
        body["fhirServer"] = fhir_server
    return body


def largest_example() -> tuple[str, dict[str, Any]]:
    return example_named(LARGEST_EXAMPLE)


def example_named(prefix: str) -> tuple[str, dict[str, Any]]:
    return next((name, bundle) for name, bundle in example_bundles() if name.startswith(prefix))


def _renamed(node: Any, suffix: str) -> Any:
    """A copy of FHIR JSON with every resource id and every ``Type/id`` reference suffixed."""
    if isinstance(node, dict):
        copy = {key: _renamed(value, suffix) for key, value in node.items()}
        if isinstance(copy.get("resourceType"), str) and isinstance(copy.get("id"), str):
            copy["id"] += suffix
        reference = copy.get("reference")
        if isinstance(reference, str) and "/" in reference:
            copy["reference"] = reference + suffix
        return copy
    if isinstance(node, list):
        return [_renamed(item, suffix) for item in node]
    return node


def patient_template(label: str, resources: list[dict[str, Any]]) -> bytes:
    """One request body whose patient id, hookInstance, resource ids and references each end in ``MARKER``.

    bench/load.lua replaces every marker with a suffix no other request uses, so that every measured
    request is a patient the server has never seen (issue 16) while the clinical content, hence the
    work, stays the same.
    """
    patient_id = patient_id_of(resources)
    renamed = _renamed(resources, MARKER)
    return orjson.dumps(hook_request(patient_id + MARKER, renamed, instance=f"bench-{label}{MARKER}"))


def patient_variants(label: str, resources: list[dict[str, Any]], count: int) -> list[bytes]:
    """``count`` request bodies made from ``patient_template``, each a patient no other has named."""
    template = patient_template(label, resources)
    return [template.replace(MARKER.encode(), f"-{label}{number:04d}".encode()) for number in range(count)]


# -- measuring ------------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(share * len(values) + 0.5) - 1))
    return sorted(values)[index]


def p50_p95(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5):7.1f} ms  p95 {percentile(values, 0.95):7.1f} ms"


def best_time(function: Any, repeats: int, clock: Any = time.perf_counter) -> float:
    """The lowest of ``repeats`` timings of ``function()`` (the least disturbed run), seconds.

    The garbage collector is off while timing, as ``timeit`` does: a collection triggered by one
    call scans every object alive in the bench process, which made json.loads of the same body vary
    threefold between runs.
    """
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            began = clock()
            function()
            best = min(best, clock() - began)
        finally:
            gc.enable()
    return best


def wrk(server: Server, template: Path, plan: Plan, seconds: float, run: str) -> dict[str, Any]:
    """wrk (bench/load.lua) against ``server`` for ``seconds``, each request a new patient (``run`` names the run).

    wrk is C and event-driven: its two threads cost the 2-core machine little CPU and add no latency
    of their own (the Python load generator it replaced held the GIL across 8 threads, which showed
    as tail latency of its own). Also measured: the workers' CPU per request, from /proc.
    """
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is needed for the load (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)")
    command = [
        "wrk", "-t2", f"-c{plan.connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
        "-s", str(ROOT / "bench" / "load.lua"), server.url + SERVICE_PATH, "--", str(template), run,
    ]  # fmt: skip
    client = rusage.getrusage(rusage.RUSAGE_CHILDREN)
    cpu = server.workers_cpu_seconds()
    done = subprocess.run(command, capture_output=True, check=True, text=True)  # noqa: S603
    worker_cpu = server.workers_cpu_seconds() - cpu
    after = rusage.getrusage(rusage.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["client_cpu_seconds"] = after.ru_utime + after.ru_stime - client.ru_utime - client.ru_stime
    result["rps"] = result["requests"] / result["seconds"]
    result["cpu_seconds"] = worker_cpu
    result["cpu_ms"] = worker_cpu / max(1, result["requests"]) * 1000
    return result


def interleaved_loads(
    servers: dict[str, Server], patients: list[tuple[str, Path]], plan: Plan
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Figure 1's loads: (server, patient) -> one wrk run per round, the servers taking turns.

    This virtual machine's speed drifts by the minute (the floor's CPU per ex3 request went from 1.8
    to 5.0 ms between runs), so the floor and the service are loaded alternately in short rounds
    rather than one after the other: each round's ratio compares the two at nearly the same moment,
    and the figure is the median round.
    """
    for _patient, template in patients:
        for server in servers.values():
            wrk(server, template, plan, plan.warmup_seconds, "warm")
    loads: dict[tuple[str, str], list[dict[str, Any]]] = {(name, patient): [] for name in servers for patient, _ in patients}
    for number in range(1, plan.rounds + 1):
        for patient, template in patients:
            for name, server in servers.items():
                print(f"bench: figure 1, round {number} of {plan.rounds}, {name}, {patient} ...", flush=True)
                loads[name, patient].append(wrk(server, template, plan, plan.load_seconds, f"r{number}"))
    return loads


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one server and patient as one run: totals, and the median round's latencies."""
    requests_made = sum(run["requests"] for run in runs)
    seconds = sum(run["seconds"] for run in runs)
    return {
        "requests": requests_made,
        "errors": sum(run["errors"] for run in runs),
        "seconds": seconds,
        "rps": requests_made / seconds,
        "p50": statistics.median(run["p50"] for run in runs),
        "p99": statistics.median(run["p99"] for run in runs),
        "cpu_ms": sum(run["cpu_seconds"] for run in runs) / max(1, requests_made) * 1000,
        "client_cpu_seconds": sum(run["client_cpu_seconds"] for run in runs),
    }


def post(session: requests.Session, url: str, body: bytes) -> dict[str, Any]:
    response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    if response.status_code != 200:
        raise SystemExit(f"bench: {url} answered {response.status_code}: {response.text[:300]}")
    answer: dict[str, Any] = response.json()
    return answer


def profile_stats(profile: cProfile.Profile) -> list[tuple[tuple[str, int, str], tuple[int, int, float, float, Any]]]:
    """(file, line, function) -> (primitive calls, calls, own time, cumulative time, callers) of a profile."""
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return list(stats.items())


def stages(body: bytes, repeats: int) -> list[str]:
    """Where one request's CPU goes, stage by stage in process (best of ``repeats``), for the figure 1 notes."""
    from service.fhir_gateway import FhirGateway
    from service.gather import gather
    from service.jsonio import parse_json
    from service.schemas import load_hook_request

    knowledge = load_knowledge()
    engine, renderer = Engine(knowledge), CardRenderer(knowledge)
    request = orjson.loads(body)
    patient_id = request["context"]["patientId"]
    gateway = FhirGateway()  # never called: the prefetch holds every key

    def gathered() -> list[dict[str, Any]]:
        found = gather(templates(), [], request["context"], request["prefetch"], None, None, gateway, 2.0, lambda _url: False)
        return found.resources

    resources = gathered()
    today = date.today()  # as the service evaluates
    evaluation = engine.evaluate(patient_id, resources, today)
    timed = {
        "parse (depth-limited)": lambda: parse_json(body),
        "request schema": lambda: load_hook_request(request),
        "gather (prefetch)": gathered,
        "normalise": lambda: engine.normaliser.patient_record(patient_id, resources, today),
        "evaluate (all)": lambda: engine.evaluate(patient_id, resources, today),
        "render + dumps": lambda: orjson.dumps({"cards": renderer.cards(evaluation, RenderContext("bench", patient_id))}),
        "json.loads (floor)": lambda: json.loads(body),
    }
    cost = {name: best_time(function, repeats, time.process_time) * 1000 for name, function in timed.items()}
    profile = cProfile.Profile()
    profile.runcall(engine.normaliser.patient_record, patient_id, resources, today)
    by_name = {
        name: (calls, cumulative) for (_file, _line, name), (_cc, calls, _tt, cumulative, _callers) in profile_stats(profile)
    }
    validations, validating = by_name.get("validate_resource", (0, 0.0))
    share = validating / by_name["patient_record"][1]
    return [
        "where one service request's CPU goes (in process, ms): "
        + ", ".join(f"{name} {value:.1f}" for name, value in cost.items()),
        f"normalise decodes {validations} of {len(resources)} resources into narrow shapes (msgspec): "
        f"{share:.0%} of normalise (cProfile)",
    ]


def figure_throughput(
    label: str, floors: list[dict[str, Any]], services: list[dict[str, Any]], connections: int, where: list[str]
) -> Figure:
    ratios = [service["rps"] / floor["rps"] if floor["rps"] else 0.0 for floor, service in zip(floors, services, strict=True)]
    ratio = statistics.median(ratios)
    floor, service = combined(floors), combined(services)

    def row(label: str, run: dict[str, Any]) -> str:
        return f"{label:7} {run['rps']:8.1f} req/s  p50 {run['p50']:7.2f} ms  p99 {run['p99']:7.2f} ms  errors {run['errors']}"

    return Figure(
        f"1 throughput service/floor ({label})",
        f"{ratio:.2f}",
        ">= 0.5",
        ratio >= 0.5 and service["errors"] == 0,
        [
            row("floor", floor),
            row("service", service),
            f"ratio in each of {len(ratios)} rounds (floor and service in turn, {floors[0]['seconds']:.0f} s each; "
            f"the figure is their median): {', '.join(f'{value:.2f}' for value in ratios)}",
            f"{connections} keep-alive connections from wrk (bench/load.lua; its CPU: floor {floor['client_cpu_seconds']:.1f} s, "
            f"service {service['client_cpu_seconds']:.1f} s over {floor['seconds']:.0f} s); "
            f"every request a patient not sent before ({service['requests'] + service['errors']} "
            "distinct patients for the service)",
            f"worker CPU per request (from /proc): floor {floor['cpu_ms']:.2f} ms, service {service['cpu_ms']:.2f} ms",
            *where,
        ],
    )


def in_process(resources: list[dict[str, Any]], body: bytes, repeats: int) -> dict[str, float]:
    """CPU seconds of evaluate + render for one patient, and of json.loads / orjson.loads of its request body."""
    knowledge = load_knowledge()
    engine = Engine(knowledge)
    renderer = CardRenderer(knowledge)
    patient_id = patient_id_of(resources)

    def evaluate() -> None:
        evaluation = engine.evaluate(patient_id, resources, HEAVY_NOW)
        renderer.cards(evaluation, RenderContext("bench", patient_id))

    evaluate()  # first call: imports and lazy set-up are not per-request work
    return {
        "evaluate": best_time(evaluate, repeats, time.process_time),
        "json": best_time(lambda: json.loads(body), max(repeats, 20)),  # the divisor of figure 2: its least disturbed run
        "orjson": best_time(lambda: orjson.loads(body), max(repeats, 20)),
    }


def figure_heavy(plan: Plan, service: Server | None, folder: Path) -> list[Figure]:
    bundle = heavy_patient(plan.heavy_size)
    resources = bundle_resources(bundle)
    body = orjson.dumps(hook_request(HEAVY_PATIENT, resources))
    kinds: dict[str, int] = {}
    for resource in resources:
        kinds[resource["resourceType"]] = kinds.get(resource["resourceType"], 0) + 1
    medications = sum(kinds.get(t, 0) for t in ("MedicationStatement", "MedicationRequest", "MedicationAdministration"))
    measured = in_process(resources, body, plan.repeats)
    ratio = measured["evaluate"] / measured["json"]
    notes = [
        f"heavy patient: {len(resources)} resources ({kinds.get('Observation', 0)} Observations, "
        f"{medications} medication records, {kinds.get('Condition', 0)} Conditions), request body {len(body) / 1e6:.2f} MB",
        f"in process: evaluate+render {measured['evaluate'] * 1000:.1f} ms CPU; json.loads {measured['json'] * 1000:.1f} ms "
        f"(orjson.loads {measured['orjson'] * 1000:.1f} ms): {ratio:.1f}x",
    ]
    http_ratio = None
    if service is not None:
        session = requests.Session()
        bodies = patient_variants("heavy", resources, plan.http_requests + 2)
        post(session, service.url + SERVICE_PATH, bodies[0])  # warm both workers (imports, lazy set-up)
        post(session, service.url + SERVICE_PATH, bodies[1])
        cpu = service.workers_cpu_seconds()
        began = time.perf_counter()
        for variant in bodies[2:]:
            post(session, service.url + SERVICE_PATH, variant)
        wall = (time.perf_counter() - began) / plan.http_requests
        per_request = (service.workers_cpu_seconds() - cpu) / plan.http_requests
        http_ratio = per_request / measured["json"]
        notes.append(
            f"HTTP (gunicorn, one connection, {plan.http_requests} requests, each a patient not sent before): worker CPU "
            f"{per_request * 1000:.1f} ms/request (from /proc), wall {wall * 1000:.1f} ms: {http_ratio:.1f}x json.loads"
        )
    notes.append("linear growth, in process (evaluate+render CPU per resource):")
    per_resource: dict[int, float] = {}
    for size in plan.sizes:
        scaled = bundle_resources(heavy_patient(size))
        scaled_body = orjson.dumps(hook_request(HEAVY_PATIENT, scaled))
        point = in_process(scaled, scaled_body, plan.repeats)
        per_resource[size] = point["evaluate"] / len(scaled) * 1e6  # by the size asked for (the generator gives ~size)
        notes.append(
            f"  {len(scaled):6d} resources: {point['evaluate'] * 1000:8.1f} ms = "
            f"{per_resource[size]:6.1f} us/resource; json.loads {point['json'] * 1000:6.1f} ms; "
            f"ratio {point['evaluate'] / point['json']:5.1f}x"
        )
    value = f"{ratio:.1f}x in process" + (f", {http_ratio:.1f}x HTTP" if http_ratio is not None else "")
    met = (http_ratio or ratio) <= MAX_HEAVY_HTTP_RATIO
    heavy = Figure("2 heavy patient CPU / json.loads", value, f"<= {MAX_HEAVY_HTTP_RATIO:.0f}x", met, notes)
    return [heavy, figure_linear(per_resource, plan)]


def figure_linear(per_resource: dict[int, float], plan: Plan) -> Figure:
    """evaluate+render per resource from LINEAR_FROM resources up: under the goal, and linear.

    Linear: the cost per resource does not grow with the size (at the largest size at most 1.5x what
    it is at the smallest counted one). It may fall: a fixed part per request (knowledge look-ups,
    the cards) weighs less per resource as patients grow, which is still linear growth of the total.
    """
    counted = {size: cost for size, cost in per_resource.items() if size >= min(LINEAR_FROM, max(plan.sizes) // 2)}
    # (the quick plan's sizes are all under LINEAR_FROM: it checks the figure is printed, from half its largest size)
    worst = max(counted.values())
    smallest, largest = min(counted), max(counted)
    linear = counted[largest] <= 1.5 * counted[smallest]
    sizes = ", ".join(f"{size}: {cost:.1f}" for size, cost in sorted(counted.items()))
    return Figure(
        "2b evaluate+render us/resource (>= 1,000)",
        f"{worst:.1f} us",
        f"<= {MAX_US_PER_RESOURCE:.0f} us",
        worst <= MAX_US_PER_RESOURCE and linear,
        [
            f"per resource by size ({sizes}); linear (per resource at {largest} <= 1.5x at {smallest}, "
            f"no growth with size): {'yes' if linear else 'NO'}"
        ],
    )


def figure_tail(runs: dict[str, list[dict[str, Any]]], floors: dict[str, list[dict[str, Any]]], connections: int) -> Figure:
    """p99 / p50 of the service at ``connections``: the median of figure 1's rounds, the floor's beside it."""

    def tail(rounds: list[dict[str, Any]]) -> float:
        return statistics.median(run["p99"] / run["p50"] for run in rounds)

    def each(rounds: list[dict[str, Any]]) -> str:
        return ", ".join(f"{run['p99'] / run['p50']:.2f}" for run in rounds)

    ratios = {label: tail(rounds) for label, rounds in runs.items()}
    return Figure(
        f"3b p99 / p50 at {connections} connections",
        ", ".join(f"{label} {value:.2f}" for label, value in ratios.items()),
        "<= 2.0",
        max(ratios.values()) <= 2.0,
        [
            "the floor's p99 / p50 under the same server and load: "
            + ", ".join(f"{label} {tail(rounds):.2f}" for label, rounds in floors.items()),
            *(f"{label}, each round: service {each(runs[label])}; floor {each(floors[label])}" for label in runs),
        ],
    )


def hapi_script(action: str, port: str) -> subprocess.CompletedProcess[str]:
    script = ["bash", str(ROOT / "scripts" / "hapi.sh"), action]  # noqa: S607 - bash from PATH, as the Makefile runs it
    return subprocess.run(  # noqa: S603
        script,
        env={**os.environ, "HAPI_PORT": port},
        capture_output=True,
        text=True,
        timeout=1800,  # noqa: S607
    )


def sequential_searches(session: requests.Session, base: str, queries: list[str]) -> float:
    """Seconds for a plain client to run ``queries`` one after another (following next links)."""
    began = time.perf_counter()
    for query in queries:
        url: str | None = f"{base}/{query}"
        while url:
            response = session.get(url, headers={"Accept": "application/fhir+json"}, timeout=60)
            response.raise_for_status()
            answer = orjson.loads(response.content)
            url = next((link["url"] for link in answer.get("link", []) if link.get("relation") == "next"), None)
    return time.perf_counter() - began


def load_into(fhir_server: str, name: str, bundle: dict[str, Any]) -> None:
    """PUT every resource of ``bundle`` by id in one transaction (running it again leaves one copy)."""
    data = orjson.dumps(transaction_of(bundle))
    response = requests.post(fhir_server, data=data, headers={"Content-Type": "application/fhir+json"}, timeout=600)
    if response.status_code >= 300:
        raise SystemExit(f"bench: loading {name} into {fhir_server}: HTTP {response.status_code}")


def fallback_rounds(
    service: Server, fhir_server: str, patient_id: str, rounds: int
) -> tuple[list[float], list[float], list[str]]:
    """Interleaved rounds (after 3 warm-up rounds): the service without prefetch, then the same searches in sequence (ms)."""
    queries = [q for q in (render_query(t, {"patientId": patient_id}) for t in templates().values()) if q]
    body = orjson.dumps(hook_request(patient_id, None, fhir_server))
    service_session, fhir_session = requests.Session(), requests.Session()
    service_times, fhir_times = [], []
    for round_number in range(rounds + 3):
        began = time.perf_counter()
        answer = post(service_session, service.url + SERVICE_PATH, body)
        took = time.perf_counter() - began
        sequential = sequential_searches(fhir_session, fhir_server, queries)
        if round_number >= 3:
            service_times.append(took * 1000)
            fhir_times.append(sequential * 1000)
    problems = [card["summary"] for card in answer["cards"] if card["summary"].startswith(("Some", "Could not"))]
    return service_times, fhir_times, problems


def figure_fallback(plan: Plan, service: Server, fhir_server: str) -> Figure:
    """The largest example and the heavy patient, each loaded into HAPI and read back by the service."""
    name, example = largest_example()
    patients = [
        (name.split("-")[0], name, example, plan.fallback_rounds),
        ("heavy", f"heavy patient ({plan.heavy_size})", heavy_patient(plan.heavy_size), max(3, plan.fallback_rounds // 3)),
    ]
    ratios, notes = [], []
    for label, title, bundle, rounds in patients:
        load_into(fhir_server, title, bundle)
        resources = bundle_resources(bundle)
        service_times, fhir_times, problems = fallback_rounds(service, fhir_server, patient_id_of(resources), rounds)
        ratio = statistics.median(service_times) / statistics.median(fhir_times)
        ratios.append(f"{label} {ratio:.2f}")
        notes += [
            f"{title}: {len(resources)} resources in HAPI ({fhir_server}); {rounds} interleaved rounds after 3 warm-up",
            f"  service (no prefetch)  {p50_p95(service_times)}",
            f"  HAPI sequential        {p50_p95(fhir_times)}  ratio of p50s {ratio:.2f}",
            *([f"  data problems in the cards: {problems}"] if problems else []),
        ]
    worst = max(float(r.split()[1]) for r in ratios)
    return Figure("3 fallback p50 service / sequential HAPI", ", ".join(ratios), "<= 1.0", worst <= 1.0, notes)


# -- the run --------------------------------------------------------------------------------------
def print_table(figures: list[Figure], plan: Plan, quick: bool) -> None:
    print()
    print(f"her2-cds bench{' (QUICK: proves the bench runs; not figures)' if quick else ''} — {os.cpu_count()} cores, "
          f"gunicorn {' '.join(dockerfile_gunicorn_args())}")  # fmt: skip
    print("=" * 110)
    print(f"{'figure':48} {'value':>26} {'goal':>10}  result")
    print("-" * 110)
    for figure in figures:
        result = "not run" if figure.met is None else ("met" if figure.met else "NOT MET")
        print(f"{figure.name:48} {figure.value:>26} {figure.goal:>10}  {result}")
        for note in figure.notes:
            print(f"    {note}")
    print("=" * 110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1", help="short run (CI)")
    parser.add_argument("--fhir-server", help="figure 3 against this FHIR server (the HAPI of the integration tests)")
    parser.add_argument(
        "--hapi",
        action="store_true",
        help="figure 3: start HAPI with scripts/hapi.sh on $HAPI_PORT (stopped after if it was not running)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    figures: list[Figure] = []
    hapi_port = os.environ.get("HAPI_PORT", "8090")
    fhir_server = args.fhir_server
    started_hapi = False
    if args.hapi and not fhir_server:
        already = hapi_script("status", hapi_port).returncode == 0
        started = hapi_script("start", hapi_port)
        if started.returncode != 0:
            raise SystemExit(f"bench: HAPI did not start:\n{started.stdout[-2000:]}{started.stderr[-2000:]}")
        started_hapi = not already
        fhir_server = f"http://127.0.0.1:{hapi_port}/fhir"
    try:
        with tempfile.TemporaryDirectory(prefix="her2cds-bench-") as tmp:
            folder = Path(tmp)
            env = service_env(folder)
            patients = []
            for label, prefix in (("ex3", LARGEST_EXAMPLE), ("ex1", SMALL_EXAMPLE)):
                name, bundle = example_named(prefix)
                resources = bundle_resources(bundle)
                body_file = folder / f"{label}-template.json"
                body_file.write_bytes(patient_template(label, resources))
                print(f"bench: {name}: {len(resources)} resources, request body {body_file.stat().st_size / 1e3:.0f} kB, "
                      "a new patient for every request", flush=True)  # fmt: skip
                patients.append((f"{label} {len(resources)} resources", body_file))
            floor = gunicorn("bench.floor:create_app()", env)
            with floor as floor_server, gunicorn("service:create_app()", env) as service_server:
                loads = interleaved_loads({"floor": floor_server, "service": service_server}, patients, plan)
                floor_rss = floor_server.peak_rss_mb()
                stop(floor_server.process)  # figures 2 and 3 load the service alone
                floors = {label: loads["floor", label] for label, _ in patients}
                runs = {label: loads["service", label] for label, _ in patients}
                for label, body_file in patients:
                    where = stages(body_file.read_bytes().replace(MARKER.encode(), b"-stages"), plan.repeats)
                    figures.append(figure_throughput(label, floors[label], runs[label], plan.connections, where))
                figures.append(figure_tail(runs, floors, plan.connections))
                print("bench: figure 2 ...", flush=True)
                figures.extend(figure_heavy(plan, service_server, folder))
                if fhir_server:
                    print("bench: figure 3 ...", flush=True)
                    figures.append(figure_fallback(plan, service_server, fhir_server.rstrip("/")))
                else:
                    figures.append(Figure("3 fallback p50 service / sequential HAPI", "-", "<= 1.0", None,
                                          ["not run: no --fhir-server / --hapi (make bench starts HAPI)"]))  # fmt: skip
                rss = service_server.peak_rss_mb()
            figures.append(
                Figure(
                    "4 peak RSS per worker (VmHWM)",
                    " / ".join(f"{mb:.0f} MB" for mb in rss),
                    f"<= {RSS_BEFORE_MB} MB",
                    max(rss) <= RSS_BEFORE_MB,
                    [
                        f"floor workers: {' / '.join(f'{mb:.0f} MB' for mb in floor_rss)}",
                        f"before issue 16: {RSS_BEFORE_MB} MB (larger worker, same bench: bench/results/2026-12-01-before.txt)",
                    ],
                )
            )
    finally:
        if started_hapi:
            hapi_script("stop", hapi_port)
    print_table(figures, plan, args.quick)
    if args.json:
        args.json.write_text(json.dumps([figure.__dict__ for figure in figures], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
