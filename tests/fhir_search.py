"""A tiny evaluator of the service's own prefetch templates over a list of resources.

Used to build EHR-style prefetch from a bundle in unit tests (the HAPI integration tests run the
same templates against a real FHIR server).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from service.knowledge import Knowledge


def _subject_id(resource: dict[str, Any]) -> str | None:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference.split("/")[-1] if reference else None


def run_template(template: str, resources: list[dict[str, Any]], knowledge: Knowledge) -> Any:
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    patient_id = patient["id"] if patient else "unknown"
    query = template.replace("{{context.patientId}}", patient_id)
    if "?" not in query:
        resource_type, rid = query.split("/")
        return next((r for r in resources if r.get("resourceType") == resource_type and r.get("id") == rid), None)
    resource_type, params = query.split("?", 1)
    parsed = parse_qs(urlsplit("?" + params).query)
    codes = set()
    for token in parsed.get("code", [""])[0].split(","):
        if "|" in token:
            codes.add(tuple(token.split("|", 1)))
    matches = []
    for resource in resources:
        if resource.get("resourceType") != resource_type or _subject_id(resource) != patient_id:
            continue
        if codes:
            own = {(c.get("system"), c.get("code")) for c in (resource.get("code") or {}).get("coding", [])}
            if not own & codes:
                continue
        matches.append(resource)
    return {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": [{"resource": r} for r in matches]}
