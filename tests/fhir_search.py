"""EHR-style prefetch for unit tests: the service's own template evaluator (service.sandbox) over a bundle.

(The HAPI integration tests run the same templates against a real FHIR server.)
"""

from __future__ import annotations

from typing import Any

from service.knowledge import Knowledge
from service.sandbox import run_template as run_over_bundle


def run_template(template: str, resources: list[dict[str, Any]], knowledge: Knowledge) -> Any:
    """One prefetch template over ``resources`` for the bundle's Patient."""
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    return run_over_bundle(template, patient["id"] if patient else "unknown", resources)
