"""The golden responses (issue 16): every example, scenario and public mCODE patient, whole responses.

Each case is a CDS Hooks request (fixed ``now``, fixed ``hookInstance``, so card uuids are stable) sent
through the Flask app with the prefetch an EHR would send. ``tests/test_golden.py`` compares today's
responses with ``tests/golden/*.json`` exactly; ``make golden`` (``python -m tests.golden_cases``)
rewrites those files, and is run ONLY after a reviewed change of the expected output (card wording, a
new rule): a performance change must leave every file as it is.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from service import create_app
from service.cli import bundle_resources, example_bundles, patient_id_of
from service.knowledge import load_knowledge
from tests.conftest import draft_order
from tests.fhir_search import run_template
from tests.scenario_table import load_scenarios

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "tests" / "golden"
MCODE_DIR = ROOT.parent / "shared" / "data" / "mcode-examples"
EXAMPLES_NOW = "2026-06-01"
PATIENT_VIEW = "/cds-services/her2-mbc-guidance"
ORDER_CHECK = "/cds-services/her2-mbc-order-check"
# Drafts sent to the order-select service for every example: an anti-HER2 ADC and a taxane.
DRAFT_MEDICATIONS = ("Enhertu", "Taxotere")


@dataclass(frozen=True)
class GoldenCase:
    """One request whose whole response is kept in ``tests/golden/<name>.json``."""

    name: str
    now: str
    resources: list[dict[str, Any]]
    draft: str | None = None  # a medication text: an order-select request with that draft

    def path(self) -> Path:
        return GOLDEN_DIR / f"{self.name}.json"


def _mcode_bundles() -> list[tuple[str, dict[str, Any]]]:
    if not MCODE_DIR.is_dir():
        return []
    return [(path.stem, orjson.loads(path.read_bytes())) for path in sorted(MCODE_DIR.glob("*.json"))]


def golden_cases() -> list[GoldenCase]:
    """Every example (patient-view and order-select), every scenario, every public mCODE patient."""
    cases: list[GoldenCase] = []
    for name, bundle in example_bundles():
        resources = bundle_resources(bundle)
        cases.append(GoldenCase(f"example-{name}", EXAMPLES_NOW, resources))
        for drug in DRAFT_MEDICATIONS:
            cases.append(GoldenCase(f"example-{name}-order-{drug.lower()}", EXAMPLES_NOW, resources, drug))
    cases.extend(GoldenCase(f"scenario-{s.id}", s.now, s.resources()) for s in load_scenarios())
    cases.extend(GoldenCase(f"mcode-{name}", EXAMPLES_NOW, bundle_resources(bundle)) for name, bundle in _mcode_bundles())
    return cases


def request_of(case: GoldenCase, templates: dict[str, str], knowledge: Any) -> tuple[str, dict[str, Any]]:
    """The service path and the hook request of ``case`` (prefetch: each template run over its records)."""
    patient_id = patient_id_of(case.resources)
    prefetch = {key: run_template(template, case.resources, knowledge) for key, template in templates.items()}
    context: dict[str, Any] = {"patientId": patient_id, "userId": "Practitioner/golden"}
    instance = f"golden-{case.name}"
    if case.draft is None:
        return PATIENT_VIEW, {"hook": "patient-view", "hookInstance": instance, "context": context, "prefetch": prefetch}
    draft = draft_order("golden-draft", patient_id, medicationCodeableConcept={"text": case.draft})
    context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
    return ORDER_CHECK, {"hook": "order-select", "hookInstance": instance, "context": context, "prefetch": prefetch}


def responses(cases: list[GoldenCase], database_dir: str) -> Iterator[tuple[GoldenCase, int, Any]]:
    """(case, HTTP status, JSON body) of each case, through one app per evaluation date."""
    knowledge = load_knowledge()
    apps: dict[str, Any] = {}
    for case in cases:
        if case.now not in apps:
            database_url = f"sqlite:///{database_dir}/golden-{case.now}.sqlite3"
            apps[case.now] = create_app({"database_url": database_url, "evaluation_date": case.now})
        app = apps[case.now]
        path, body = request_of(case, app.extensions["her2cds"].templates, knowledge)
        answer = app.test_client().post(path, json=body)
        yield case, answer.status_code, answer.json


def encode(body: Any) -> bytes:
    """The stored form: sorted keys, indented, so a diff of two versions reads card by card."""
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def rewrite() -> int:
    """Rewrite tests/golden/ from today's responses (only after a reviewed change of the expected output)."""
    GOLDEN_DIR.mkdir(exist_ok=True)
    for stale in GOLDEN_DIR.glob("*.json"):
        stale.unlink()
    with tempfile.TemporaryDirectory() as database_dir:
        cases = golden_cases()
        for case, status, body in responses(cases, database_dir):
            if status != 200:
                print(f"golden: {case.name} answered {status}", file=sys.stderr)
                return 1
            case.path().write_bytes(encode(body))
    print(f"golden: {len(cases)} responses written to {GOLDEN_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(rewrite())
