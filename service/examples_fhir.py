"""A small read-only FHIR R4 endpoint over the bundled example patients (``her2-cds serve --examples``).

It lets a newcomer try the FHIR fallback path with no Java and no HAPI server: the README's curls,
``/sandbox`` and the official CDS Hooks sandbox (pointed at ``http://127.0.0.1:8080/fhir``) read the
example patients from here. Development mode only, on the service's own loopback address. It answers
what the service's prefetch templates and the sandbox ask, and no more:

- ``GET /fhir/metadata``: a CapabilityStatement;
- ``GET /fhir/{type}/{id}``: a read;
- ``GET /fhir/{type}?patient=|subject=|_id=|code=|_count=``: a searchset Bundle, paged by ``_count``
  with ``next`` links (``_offset``); other search parameters are ignored, as FHIR's lenient handling
  allows, and named in the Bundle's ``self`` link only if they were used.

Anything else (writes, ``_history``, operations) is a 4xx with an OperationOutcome.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from service.examples import bundle_resources, example_bundles
from service.jsonio import json_response

FHIR_JSON = "application/fhir+json"
DEFAULT_PAGE = 100
MAX_PAGE = 500
examples_fhir = Blueprint("examples_fhir", __name__, url_prefix="/fhir")


class ExampleStore:
    """Every resource of the example bundles, by type and by id, built once."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for resource in resources:
            resource_type, resource_id = resource.get("resourceType"), resource.get("id")
            if isinstance(resource_type, str) and isinstance(resource_id, str):
                self.by_type[resource_type].append(resource)
                self.by_key[(resource_type, resource_id)] = resource

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        return self.by_key.get((resource_type, resource_id))

    def search(self, resource_type: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Resources of ``resource_type`` matching every supported parameter (token lists are OR)."""
        found = self.by_type.get(resource_type, [])
        patient = params.get("patient") or params.get("subject")
        if patient is not None:
            wanted = patient.removeprefix("Patient/")
            found = [r for r in found if _patient_id(r) == wanted]
        if "_id" in params:
            ids = set(params["_id"].split(","))
            found = [r for r in found if r.get("id") in ids]
        if "code" in params:
            tokens = [token for token in params["code"].split(",") if token]
            found = [r for r in found if any(_has_code(r, token) for token in tokens)]
        return found


def _patient_id(resource: Mapping[str, Any]) -> str | None:
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id"))
    reference = resource.get("subject") or resource.get("patient") or {}
    text = reference.get("reference", "") if isinstance(reference, Mapping) else ""
    return text.split("/")[-1] if text else None


def _has_code(resource: Mapping[str, Any], token: str) -> bool:
    """FHIR token search on ``code`` (or ``medicationCodeableConcept``): ``system|code``, ``|code`` or ``code``."""
    system, _, code = token.rpartition("|") if "|" in token else (None, "", token)
    concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
    codings = concept.get("coding", []) if isinstance(concept, Mapping) else []
    for coding in codings:
        if not isinstance(coding, Mapping) or coding.get("code") != code:
            continue
        if system is None or coding.get("system") == (system or None):
            return True
    return False


@cache
def store() -> ExampleStore:
    return ExampleStore([resource for _name, bundle in example_bundles() for resource in bundle_resources(bundle)])


def outcome(status: int, code: str, text: str) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    response = json_response(body, status)
    response.mimetype = FHIR_JSON
    return response


def fhir(body: Mapping[str, Any]) -> Response:
    response = json_response(dict(body))
    response.mimetype = FHIR_JSON
    return response


def capability_statement() -> dict[str, Any]:
    """What this endpoint answers: read and a few search parameters on each example resource type."""
    params = [
        {"name": name, "type": kind}
        for name, kind in (("patient", "reference"), ("subject", "reference"), ("code", "token"), ("_id", "token"))
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "kind": "instance",
        "software": {"name": "her2-cds examples FHIR endpoint"},
        "implementation": {
            "description": "The bundled her2-cds example patients, read-only",
            "url": request.base_url.removesuffix("/metadata"),
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {"type": resource_type, "interaction": [{"code": "read"}, {"code": "search-type"}], "searchParam": params}
                    for resource_type in sorted(store().by_type)
                ],
            }
        ],
    }


def _page_numbers(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        count = min(max(int(params.get("_count", DEFAULT_PAGE)), 1), MAX_PAGE)
        offset = max(int(params.get("_offset", 0)), 0)
    except ValueError as exc:
        raise ValueError("_count and _offset must be whole numbers") from exc
    return count, offset


@examples_fhir.get("/metadata")
def metadata() -> Response:
    return fhir(capability_statement())


@examples_fhir.get("/<resource_type>/<resource_id>")
def read(resource_type: str, resource_id: str) -> Response:
    found = store().read(resource_type, resource_id)
    if found is None:
        return outcome(404, "not-found", f"{resource_type}/{resource_id} is not one of the example resources")
    return fhir(found)


@examples_fhir.get("/<resource_type>")
def search(resource_type: str) -> Response:
    params = {key: value for key, value in request.args.items()}
    try:
        count, offset = _page_numbers(params)
    except ValueError as exc:
        return outcome(400, "invalid", str(exc))
    matches = store().search(resource_type, params)
    page = matches[offset : offset + count]
    used = [(key, params[key]) for key in ("patient", "subject", "_id", "code") if key in params]
    base = request.base_url

    def page_url(start: int) -> str:
        return f"{base}?{urlencode([*used, ('_count', str(count)), ('_offset', str(start))])}"

    links = [{"relation": "self", "url": page_url(offset)}]
    if offset + count < len(matches):
        links.append({"relation": "next", "url": page_url(offset + count)})
    return fhir(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "link": links,
            "entry": [{"fullUrl": f"{base}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in page],
        }
    )


@examples_fhir.route("/", defaults={"rest": ""}, methods=["POST", "PUT", "PATCH", "DELETE"])
@examples_fhir.route("/<path:rest>", methods=["POST", "PUT", "PATCH", "DELETE"])
def read_only(rest: str) -> Response:
    return outcome(405, "not-supported", "the examples FHIR endpoint is read-only")
