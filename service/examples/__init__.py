"""The bundled example patients: FHIR R4 Bundles (``ex*.json``), one patient each.

``her2-cds demo`` evaluates them, ``/sandbox`` shows them, ``her2-cds serve --examples`` serves them as a
read-only FHIR endpoint (``service.examples_fhir``), and the tests use them as fixtures. They travel in
the wheel as package data and are read through importlib.resources.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson

from service.read.common import local_reference_aliases, resolve_local_references, with_bundle_local_id


@cache
def _loaded() -> tuple[tuple[str, bytes], ...]:
    folder = resources.files(__name__)
    return tuple(
        (entry.name, entry.read_bytes())
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    )


def example_bundles() -> list[tuple[str, dict[str, Any]]]:
    """The bundled example patients, by file name (fresh dictionaries each call: callers may change them)."""
    return [(name, orjson.loads(raw)) for name, raw in _loaded()]


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries (entries without a resource are skipped).

    A resource with no id takes its entry's Bundle-local uuid (``with_bundle_local_id``), and references
    to an entry's ``urn:uuid`` fullUrl are rewritten, in place, to its ``Type/id``
    (``resolve_local_references``): a transaction Bundle's records name each other so.
    """
    found = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        found.append(resource if "id" in resource else with_bundle_local_id(entry, resource))
    aliases: dict[str, str] = {}
    local_reference_aliases(bundle.get("entry"), aliases)
    resolve_local_references(found, aliases)
    return found


def patient_id_of(resources: list[dict[str, Any]]) -> str:
    """The id of the first Patient among ``resources`` that no other record replaced (FHIR Patient.link
    "replaced-by": a merged record's old Patient), else of the first Patient (``"unknown"`` when none)."""
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    current = [
        p
        for p in patients
        if not any(isinstance(link, dict) and link.get("type") == "replaced-by" for link in p.get("link") or [])
    ]
    patient = (current or patients)[0] if patients else None
    return str(patient.get("id")) if patient and patient.get("id") else "unknown"
