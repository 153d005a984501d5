"""The quick bench end to end: real gunicorn, the floor app, the heavy patient; figures printed with goals.

A benchmark, not a test of speed: nothing here asserts a timing, only that every figure is measured
and printed beside its goal (figure 3 needs HAPI: tests/integration/test_bench_hapi.py).
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from datetime import date

from bench.heavy import NOW, PATIENT_ID, heavy_patient
from service.cli import bundle_resources
from tests.conftest import ROOT

FIGURE_ROWS = {
    1: r"^1 throughput service/floor .* >= 0\.5  (met|NOT MET)$",
    2: r"^2 heavy patient CPU / json\.loads .*x in process, .*x HTTP +<= 10x  (met|NOT MET)$",
    4: r"^4 peak RSS per worker \(VmHWM\) +\d+ MB / \d+ MB +report  met$",
}


def run_quick_bench(*extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_quick_bench_prints_every_figure_with_its_goal():
    out = run_quick_bench()
    for number, pattern in FIGURE_ROWS.items():
        assert re.search(pattern, out, re.MULTILINE), f"figure {number} missing:\n{out}"
    assert re.search(r"^3 fallback .* <= 1\.0  not run$", out, re.MULTILINE), out
    assert re.search(r"floor +\d+\.\d req/s  p50 +\d+\.\d ms  p99", out), out
    assert re.search(r"service +\d+\.\d req/s .* errors 0$", out, re.MULTILINE), out
    assert len(re.findall(r"^ +\d+ resources: .* us/resource", out, re.MULTILINE)) == 3, out
    assert re.search(r"where one service request's CPU goes .*normalise \d+\.\d.*json\.loads \(floor\) \d+\.\d", out), out
    assert re.search(r"normalise validates \d+ of 279 resources with fhir\.resources: \d+% of normalise", out), out
    assert "--workers 2 --worker-class gevent" in out  # the Dockerfile's settings, not the README comment's example


def test_the_heavy_patient_is_big_deterministic_and_coherent(engine):
    bundle = heavy_patient()
    assert bundle == heavy_patient()
    resources = bundle_resources(bundle)
    kinds = collections.Counter(r["resourceType"] for r in resources)
    assert kinds["Observation"] >= 2000
    assert kinds["MedicationStatement"] + kinds["MedicationRequest"] + kinds["MedicationAdministration"] >= 300
    assert min(kinds["MedicationStatement"], kinds["MedicationRequest"], kinds["MedicationAdministration"]) > 0
    evaluation = engine.evaluate(PATIENT_ID, resources, NOW)
    assert evaluation.record.skipped == []
    assert evaluation.extent.sites == ("bone", "liver") or sorted(evaluation.extent.sites) == ["bone", "liver"]
    assert [(line.agents, line.end_reason) for line in evaluation.history.lines] == [
        (["docetaxel", "pertuzumab", "trastuzumab"], "progression"),
        (["trastuzumab-deruxtecan"], "progression"),
        (["capecitabine", "trastuzumab", "tucatinib"], None),
    ]
    assert evaluation.history.status == "on-treatment"
    assert evaluation.history.lines[2].start == date(2023, 6, 5)


def test_every_size_keeps_the_three_lines(engine):
    for size in (100, 1000):
        resources = bundle_resources(heavy_patient(size))
        evaluation = engine.evaluate(PATIENT_ID, resources, NOW)
        assert len(evaluation.history.lines) == 3, size
        assert evaluation.history.progression_dates[-2:] == (date(2021, 3, 1), date(2023, 5, 15)), size
