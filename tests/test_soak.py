"""A short soak (scripts/soak.py, ~30 s): gunicorn as the Dockerfile runs it, a FHIR server that faults.

Asserts what must hold however busy the machine is: no 5xx, every request answered, every kind of
request sent, faults injected, nothing sent to the other origin, no worker restarted, and the figures
reported. Latency and RSS growth are reported, not asserted: 30 s is too short and the machine too
shared for them to mean anything here (``make soak`` runs ten minutes and holds them to the goals).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SECONDS = 30


def test_a_short_soak_gives_no_5xx_and_reports_its_figures(tmp_path):
    figures = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak.py"), "--seconds", str(SECONDS), "--threads", "4", "--json", str(figures)],
        capture_output=True,
        text=True,
        timeout=SECONDS + 180,
    )
    assert figures.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(Path(figures).read_text())
    print(run.stdout)
    assert result["5xx"] == 0 and result["no_answer"] == 0, result["statuses"]
    assert result["goals"]["no worker restarted"] and result["goals"]["nothing sent to the other origin"]
    missed = {goal for goal, met in result["goals"].items() if not met}
    assert run.returncode == (1 if missed else 0)
    assert missed <= {"worker RSS growth < 10 %"}
    assert result["requests"] > 0 and sum(result["statuses"].values()) == result["requests"]
    assert set(result["by_kind"]) == {
        "patient-view prefetch",
        "patient-view fallback",
        "order-select",
        "order-sign",
        "feedback",
        "discovery",
        "malformed JSON",
    }
    assert result["by_kind"]["malformed JSON"] == {"400": result["by_kind"]["malformed JSON"]["400"]}
    assert result["by_kind"]["feedback"].get("200", 0) > 0  # feedback on cards the service issued is taken
    assert result["fhir_server"]["faults"] > 0 and result["other_origin_requests"] == 0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    rss = result["worker_rss_kib"]
    assert len(rss["after_warmup"]) == 2 and len(rss["end"]) == 2  # the Dockerfile's two workers
    assert isinstance(rss["growth_percent"], float)
    for line in ("5xx: 0", "latency p50", "worker RSS", "goals:"):
        assert line in run.stdout
