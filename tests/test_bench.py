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

import pytest

from bench.heavy import NOW, PATIENT_ID, heavy_patient
from service.cli import bundle_resources
from tests.conftest import ROOT

FIGURE_ROWS = {
    1: r"^1 throughput service/floor .* >= 0\.5  (met|NOT MET)$",
    2: r"^2 heavy patient CPU / json\.loads .*x in process, .*x HTTP +<= 4x  (met|NOT MET)$",
    "2b": r"^2b evaluate\+render us/resource .* us +<= 10 us  (met|NOT MET)$",
    "3b": r"^3b p99 / p50 at 8 connections +ex3 279 resources \d+\.\d+, ex1 23 resources \d+\.\d+ +<= 2\.0  (met|NOT MET)$",
    4: r"^4 peak RSS per worker \(VmHWM\) +\d+ MB / \d+ MB +<= \d+ MB  (met|NOT MET)$",
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
    assert re.search(r"floor +\d+\.\d req/s  p50 +\d+\.\d+ ms  p99", out), out
    assert re.search(r"worker CPU per request \(from /proc\): floor \d+\.\d+ ms, service \d+\.\d+ ms", out), out
    assert len(re.findall(r"^1 throughput service/floor \((ex3 279|ex1 23) resources\)", out, re.MULTILINE)) == 2, out
    assert len(re.findall(r"^ +service +\d+\.\d req/s .* errors 0$", out, re.MULTILINE)) == 2, out
    assert re.search(r"every request a patient not sent before \(\d+ distinct patients for the service\)", out), out  # issue 16
    # floor and service loaded in turn, the figure the median round (the machine's speed drifts)
    rounds = r"^ +ratio in each of 2 rounds \(floor and service in turn.*\): \d+\.\d+, \d+\.\d+$"
    assert len(re.findall(rounds, out, re.MULTILINE)) == 2, out
    assert len(re.findall(r"^ +ex[13] \d+ resources, each round: service \d+\.\d+, \d+\.\d+; floor", out, re.MULTILINE)) == 2, out
    assert len(re.findall(r"^ +\d+ resources: .* us/resource", out, re.MULTILINE)) == 3, out
    assert re.search(r"where one service request's CPU goes .*normalise \d+\.\d.*json\.loads \(floor\) \d+\.\d", out), out
    assert re.search(r"normalise decodes \d+ of 279 resources into narrow shapes \(msgspec\): \d+% of normalise", out), out
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


def test_patient_variants_are_distinct_patients_with_the_same_clinical_content(app, client):
    """Issue 16: the load rotates patients the server has not seen; each answers as the original does."""
    import orjson

    from bench.run import example_named, patient_variants

    resources = bundle_resources(example_named("ex3-")[1])
    bodies = [orjson.loads(body) for body in patient_variants("t", resources, 3)]
    patient_ids = {body["context"]["patientId"] for body in bodies}
    assert len(patient_ids) == 3 and len({body["hookInstance"] for body in bodies}) == 3
    record_ids = [{r["id"] for entry in body["prefetch"].values() for r in _prefetched(entry)} for body in bodies]
    assert not record_ids[0] & record_ids[1]
    assessments = []
    for body in bodies:
        answer = client.post("/cds-services/her2-mbc-guidance", json=body)
        assert answer.status_code == 200
        assessments.append(answer.json["cards"][0]["extension"]["her2-cds-assessment"])
    assert assessments[0] == assessments[1] == assessments[2]
    assert assessments[0]["metastatic"] is True and assessments[0]["her2"] == "positive"


def _prefetched(entry):
    if not isinstance(entry, dict):
        return []
    if entry.get("resourceType") == "Bundle":
        return [item["resource"] for item in entry.get("entry", [])]
    return [entry]


def test_instruction_counts_are_printed_for_the_floor_and_the_service():
    """bench/instructions.py end to end, quick: both servers under callgrind, each twice (issue 16)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--quick"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    row = re.search(r"^ex1 +10 +(\d+\.\d\d) M +(\d+\.\d\d) M +(\d+\.\d\d)$", done.stdout, re.MULTILINE)
    assert row, done.stdout
    floor, service, ratio = (float(value) for value in row.groups())
    # A Flask request costs over a million instructions; the service does more than parse the body.
    assert 1.0 < floor < service, done.stdout
    assert abs(ratio - floor / service) <= 0.01, done.stdout
    assert "--workers" not in done.stdout  # one worker, named in the title instead


def test_the_instruction_count_is_the_workers_not_the_masters():
    from bench.instructions import _collected

    log = "==100== Collected : 5,000\n==101== Collected : 7,000,000\n"
    assert _collected(log, master=100) == 7_000_000
    for broken in ("==100== Collected : 5,000\n", log + "==102== Collected : 9\n"):
        with pytest.raises(SystemExit, match="one gunicorn worker"):
            _collected(broken, master=100)
