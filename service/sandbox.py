"""Development sandbox: an EHR-like page at ``/sandbox`` that calls the service over HTTP like an EHR.

Registered only when ``settings.sandbox`` is true and the service runs in development mode. The page
(``service/static/sandbox.*``) lists the bundled example patients, shows a chart summary and posts a
real ``patient-view`` request to ``/cds-services/her2-mbc-guidance`` with a prefetch built from the
example bundle by evaluating the discovery document's prefetch templates (restricted subset only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Response, send_from_directory

from service.jsonio import json_response

STATIC = Path(__file__).resolve().parent / "static"
sandbox = Blueprint("sandbox", __name__)


def _subject_id(resource: dict[str, Any]) -> str | None:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference.split("/")[-1] if reference else None


def run_template(template: str, patient_id: str, resources: list[dict[str, Any]]) -> Any:
    """One prefetch template over a bundle's resources: instance read or search by patient (+ code tokens)."""
    query = template.replace("{{context.patientId}}", patient_id)
    if "?" not in query:
        resource_type, _, rid = query.partition("/")
        return next((r for r in resources if r.get("resourceType") == resource_type and r.get("id") == rid), None)
    resource_type, params = query.split("?", 1)
    parsed = parse_qs(urlsplit("?" + params).query)
    codes = {tuple(t.split("|", 1)) for t in parsed.get("code", [""])[0].split(",") if "|" in t}
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


def _display_name(patient: dict[str, Any]) -> str:
    names = patient.get("name") or [{}]
    text = " ".join(list(names[0].get("given", [])) + [names[0].get("family", "")]).strip()
    return text or str(patient.get("id", "?"))


def examples_payload(templates: dict[str, str]) -> list[dict[str, Any]]:
    from service.examples import bundle_resources, example_bundles

    found = []
    for name, bundle in example_bundles():
        resources = bundle_resources(bundle)
        patient = next((r for r in resources if r.get("resourceType") == "Patient"), {})
        patient_id = str(patient.get("id", "unknown"))
        found.append(
            {
                "file": name,
                "id": patient_id,
                "name": _display_name(patient),
                "gender": patient.get("gender"),
                "birthDate": patient.get("birthDate"),
                "bundle": bundle,
                "prefetch": {key: run_template(t, patient_id, resources) for key, t in templates.items()},
            }
        )
    return found


@sandbox.get("/sandbox")
@sandbox.get("/sandbox/")
def page() -> Response:
    return send_from_directory(STATIC, "sandbox.html")


@sandbox.get("/sandbox/static/<path:name>")
def asset(name: str) -> Response:
    return send_from_directory(STATIC, name)


@sandbox.get("/sandbox/api/examples")
def examples() -> Response:
    from service.app import runtime

    rt = runtime()
    return json_response({"examples": examples_payload(rt.templates), "evaluationDate": rt.evaluation_date().isoformat()})
