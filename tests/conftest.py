"""Shared fixtures: the knowledge, an app per test with its own SQLite file, FHIR builders."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from service import create_app
from service.engine import Engine
from service.knowledge import Knowledge, load_knowledge
from tests.logcheck import no_secrets_in_logs  # noqa: F401 - autouse: no test's request leaks a secret to the logs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.fixture(scope="session")
def engine(knowledge: Knowledge) -> Engine:
    return Engine(knowledge)


@pytest.fixture()
def app(tmp_path: Path):
    return create_app({"database_url": f"sqlite:///{tmp_path}/feedback.sqlite3", "evaluation_date": "2026-06-01"})


@pytest.fixture()
def mappings_copy(tmp_path: Path) -> Path:
    """A copy of mappings/ a test may edit: knowledge changes that need no code change."""
    target = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", target)
    return target


@pytest.fixture()
def client(app):
    return app.test_client()


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    systems = {
        "loinc": "http://loinc.org",
        "snomed": "http://snomed.info/sct",
        "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
        "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    }
    result = {"system": systems.get(system, system), "code": code}
    if display:
        result["display"] = display
    return result


def observation(rid: str, loinc: str, when: str, patient: str = "p1", status: str = "final", **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": status,
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [coding("loinc", loinc)]},
        "effectiveDateTime": when,
        **value,
    }


def condition(rid: str, system: str, code: str, when: str, patient: str = "p1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [coding(system, code)]},
        "onsetDateTime": when,
        **extra,
    }


def statement(
    rid: str, text: str, start: str, end: str | None = None, status: str = "completed", patient: str = "p1", **extra: Any
) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {"text": text},
        "effectivePeriod": period,
        **extra,
    }


def draft_order(order_id: str, patient_id: str, **medication: Any) -> dict[str, Any]:
    """A draft MedicationRequest as an EHR sends it in ``context.draftOrders``; ``medication`` is its medication[x]."""
    return {
        "resourceType": "MedicationRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        **medication,
    }


def patient(pid: str = "p1") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1968-04-02"}


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"fullUrl": f"http://fhir.test/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }


def her2_positive_liver_patient() -> list[dict[str, Any]]:
    """HER2 3+, ER 80%, liver metastases since 2024-01-10, THP then progression."""
    return [
        patient(),
        condition("c1", "snomed", "254837009", "2022-01-10"),
        condition("c2", "icd10cm", "C78.7", "2024-01-10"),
        observation("o1", "85319-2", "2024-01-15", valueCodeableConcept={"text": "3+"}),
        observation("o2", "85329-1", "2024-01-15", valueQuantity={"value": 80, "unit": "%"}),
        statement("m1", "Phesgo", "2024-02-01", "2025-03-01"),
        statement("m2", "Taxotere", "2024-02-01", "2024-07-01"),
        observation("o3", "97509-4", "2025-02-20", valueCodeableConcept={"coding": [coding("snomed", "271299001")]}),
        observation("o4", "10230-1", "2025-02-20", valueQuantity={"value": 58, "unit": "%"}),
    ]


def untreated_her2_positive_patient(*extra: dict[str, Any], lvef_on: str = "2025-03-20") -> list[dict[str, Any]]:
    """HER2 3+, breast cancer since 2024-11-10, liver metastases since 2025-01-10, an LVEF of 62 %: no therapy
    yet unless ``extra`` records give it."""
    return [
        patient(),
        condition("c1", "snomed", "254837009", "2024-11-10"),
        condition("c2", "icd10cm", "C78.7", "2025-01-10"),
        observation("o1", "85319-2", "2025-01-15", valueCodeableConcept={"text": "3+"}),
        observation("o4", "10230-1", lvef_on, valueQuantity={"value": 62, "unit": "%"}),
        *extra,
    ]


def prefetch_for(resources: list[dict[str, Any]], templates: dict[str, str], knowledge: Knowledge) -> dict[str, Any]:
    """What an EHR would prefetch for these resources: each key's search run over the list."""
    from tests.fhir_search import run_template

    return {key: run_template(template, resources, knowledge) for key, template in templates.items()}


def option_notes(detail: str, lead: str) -> list[list[str]]:
    """The notes beginning ``lead`` ("Lung:") under each option of a summary card's ``detail``, option by
    option: the words after the finding's bracket ("...on record (since 2025-05-01, active). <these>")."""
    noted: list[list[str]] = []
    for line in detail.split("**Options for line")[1].split("\n"):
        if line[:1].isdigit():
            noted.append([])
        elif line.startswith(f"   - {lead}"):
            noted[-1].append(line.split(").", 1)[1].strip())
    return noted


def draft_order_cards(
    engine: Engine, knowledge: Knowledge, resources: list[dict[str, Any]], drug: str, now: date
) -> list[dict[str, Any]]:
    """The order-select cards for one draft MedicationRequest of ``drug`` (by name) for patient p1."""
    from service.order_check import OrderChecker
    from service.render import CardRenderer, RenderContext

    evaluation = engine.evaluate("p1", resources, now)
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order"}
    draft["medicationCodeableConcept"] = {"text": drug}
    checker = OrderChecker(knowledge, engine.normaliser, CardRenderer(knowledge))
    return checker.cards(evaluation, [draft], RenderContext("h", "p1"))
