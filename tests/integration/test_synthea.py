"""A small seeded Synthea population (records nobody on this team wrote) through HAPI and the service."""

from __future__ import annotations

import subprocess
from datetime import date

import pytest

from tests.conftest import ROOT
from tests.synthea.population import evaluate, load

POPULATION, SEED = 20, 42
OUTDIR = ROOT / "var" / f"synthea-ci-p{POPULATION}-s{SEED}"


@pytest.fixture(scope="module")
def synthea_patients(hapi_base: str) -> list[str]:
    if not (OUTDIR / ".synthea-run").exists():
        generated = subprocess.run(
            [
                "bash",
                str(ROOT / "scripts" / "synthea.sh"),
                str(OUTDIR),
                str(POPULATION),
                str(SEED),
                "--",
                "--exporter.fhir.excluded_resources=Claim,ExplanationOfBenefit,DocumentReference,Provenance",
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if generated.returncode != 0:
            pytest.fail(f"Synthea generation failed:\n{generated.stdout[-3000:]}\n{generated.stderr[-3000:]}")
    return load(OUTDIR, hapi_base)


def test_synthea_population(synthea_patients, hapi_base, tmp_path):
    summary = evaluate(synthea_patients, hapi_base, date(2026, 1, 1), f"sqlite:///{tmp_path}/f.sqlite3")
    print(summary)
    assert summary["patients"] >= POPULATION
    assert summary["errors"] == []  # no 5xx or 4xx, every assessment valid against the contract
    assert summary["violations"] == []  # no treatment advice without a breast cancer diagnosis
    assert summary["http_status"] == {"200": summary["patients"]}
    assert summary["breast_cancer"] >= 1  # the seed gives breast cancer patients: the rules saw real Synthea codes
    assert summary["responses_with_unreadable_records"] == 0
