"""``GET /``: what this service is and where to go next (discovery, the sandbox, the examples FHIR endpoint).

A browser gets a short HTML page, anything else JSON. No authentication (it says nothing an EHR's
discovery call would not); the version and the development links only in development mode.
"""

from __future__ import annotations

from html import escape
from importlib import metadata
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request

from service.config import CDS_HOOKS_SANDBOX_ORIGIN
from service.jsonio import json_response

home = Blueprint("home", __name__)
EXAMPLE_PATIENT = "ex3-patient"  # progressed on THP, liver metastases: cards of every kind
DESCRIPTION = "CDS Hooks 2.0 service for HER2-positive metastatic breast cancer"


def package_version() -> str:
    """The installed version (pyproject.toml is its one place); ``unknown`` when run from an uninstalled checkout."""
    try:
        return metadata.version("her2-cds")
    except metadata.PackageNotFoundError:
        return "unknown"


def service_links(base_url: str, settings: Any) -> dict[str, str]:
    """Absolute links a newcomer needs: discovery always; in development mode the sandboxes and examples."""
    base = base_url.rstrip("/")
    links = {"discovery": f"{base}/cds-services", "health": f"{base}/healthz"}
    if settings.development_mode:
        if settings.sandbox:
            links["sandbox"] = f"{base}/sandbox"
        if settings.examples_fhir:
            links["examplesFhirServer"] = f"{base}/fhir"
        links["cdsHooksSandbox"] = official_sandbox_url(base, settings.examples_fhir)
    return links


def official_sandbox_url(base_url: str, examples: bool = False) -> str:
    """The official CDS Hooks sandbox, told to load this service's discovery (and, with ``examples``, to read
    the example patients from this service's ``/fhir``): its ``serviceDiscoveryURL``, ``fhirServiceUrl`` and
    ``patientId`` query parameters."""
    base = base_url.rstrip("/")
    query = [("serviceDiscoveryURL", f"{base}/cds-services")]
    if examples:
        query += [("fhirServiceUrl", f"{base}/fhir"), ("patientId", EXAMPLE_PATIENT)]
    return f"{CDS_HOOKS_SANDBOX_ORIGIN}/?{urlencode(query, safe=':/')}"


@home.get("/")
def index() -> Response:
    settings = current_app.extensions["her2cds"].settings
    base = settings.public_base_url or request.host_url
    about: dict[str, Any] = {"name": "her2-cds", "description": DESCRIPTION, "links": service_links(base, settings)}
    if settings.development_mode:
        about["version"] = package_version()
        about["mode"] = "development: requests are not authenticated"
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":  # a browser; curl gets JSON
        items = "".join(
            f'<li>{escape(name)}: <a href="{escape(url)}">{escape(url)}</a></li>' for name, url in about["links"].items()
        )
        mode = f"<p>{escape(about['mode'])} (version {escape(about['version'])})</p>" if "mode" in about else ""
        page = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>her2-cds</title>"
            f"<h1>her2-cds</h1><p>{escape(DESCRIPTION)}.</p>{mode}<ul>{items}</ul></html>"
        )
        return Response(page, mimetype="text/html")
    return json_response(about)
