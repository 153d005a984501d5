"""The quick bench with figure 3 against the HAPI server the session fixture started."""

from __future__ import annotations

import re

from tests.test_bench import FIGURE_ROWS, run_quick_bench


def test_quick_bench_measures_fallback_against_hapi(hapi_base):
    out = run_quick_bench("--fhir-server", hapi_base)
    for number, pattern in FIGURE_ROWS.items():
        assert re.search(pattern, out, re.MULTILINE), f"figure {number} missing:\n{out}"
    assert re.search(
        r"^3 fallback p50 service / sequential HAPI +ex3 \d+\.\d\d, heavy \d+\.\d\d +<= 1\.0  (met|NOT MET)$", out, re.MULTILINE
    ), out
    assert len(re.findall(r"service \(no prefetch\) +p50 +\d+\.\d ms +p95", out)) == 2, out
    assert len(re.findall(r"HAPI sequential +p50 +\d+\.\d ms +p95", out)) == 2, out
    assert "data problems" not in out
