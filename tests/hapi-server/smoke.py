#!/usr/bin/env python3
"""Smoke check of a running test HAPI server (standard library only).

    python3 tests/hapi-server/smoke.py [BASE]      # BASE defaults to http://127.0.0.1:$HAPI_PORT/fhir

Writes a Patient, a transaction of Observations, pages a `_count=2` search through its `next` links,
uploads a differential-only profile and checks `$validate` against it, then deletes and expunges what
it wrote (only that: it is safe on a server other tests are using). Exits non-zero on the first failed
check.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

BASE = sys.argv[1] if len(sys.argv) > 1 else f"http://127.0.0.1:{os.environ.get('HAPI_PORT', '8090')}/fhir"
PATIENT = "smoke-p1"
PROFILE = "http://example.org/her2-cds/StructureDefinition/smoke-observation-with-subject"


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url if url.startswith("http") else f"{BASE}/{url}", data=data, method=method)
    request.add_header("Accept", "application/fhir+json")
    if data is not None:
        request.add_header("Content-Type", "application/fhir+json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw) if raw else None
        except ValueError:
            return error.code, {"non-json body": raw.decode(errors="replace")[:1000]}


def check(condition: bool, message: str, detail: Any = None) -> None:
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        if detail is not None:
            print(json.dumps(detail, indent=1)[:3000])
        sys.exit(1)


def observation(index: int, loinc: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": f"2025-0{index}-01",
        "identifier": [{"system": "urn:her2-cds:smoke", "value": f"o{index}"}],
        "valueString": f"smoke {index}",
    }


def issues(outcome: dict[str, Any], severity: str) -> list[str]:
    return [i.get("diagnostics", "") for i in outcome.get("issue", []) if i.get("severity") == severity]


def main() -> None:
    status, _ = call("GET", "metadata")
    check(status == 200, f"GET {BASE}/metadata")

    status, body = call("PUT", f"Patient/{PATIENT}", {"resourceType": "Patient", "id": PATIENT, "gender": "female"})
    check(status in (200, 201), "PUT Patient with a client-assigned id", body)

    entries = []
    for i in range(1, 6):
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{i}",
                "resource": observation(i, "85319-2"),
                "request": {"method": "POST", "url": "Observation", "ifNoneExist": f"identifier=urn:her2-cds:smoke|o{i}"},
            }
        )
    entries.append(
        {
            "resource": {**observation(6, "48676-1"), "id": "smoke-o6"},
            "request": {"method": "PUT", "url": "Observation/smoke-o6"},
        }
    )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    status, body = call("POST", "", bundle)
    check(status == 200 and body.get("type") == "transaction-response", "POST transaction (ifNoneExist + PUT by id)", body)
    status, again = call("POST", "", bundle)
    statuses = [e["response"]["status"] for e in again.get("entry", [])]
    check(
        status == 200 and all(s.startswith("200") for s in statuses),
        f"same transaction again matches, creates nothing: {statuses}",
        again,
    )

    url: str | None = f"Observation?patient={PATIENT}&code=http://loinc.org|85319-2&_count=2&_sort=date"
    pages, found = 0, []
    while url:
        status, page = call("GET", url)
        check(status == 200, f"search page {pages + 1}", page)
        pages += 1
        found += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
    check(
        pages == 3 and len(found) == 5 and len(set(found)) == 5,
        f"_count=2 paged through next links: {pages} pages, {len(found)} resources",
    )

    profile = {
        "resourceType": "StructureDefinition",
        "id": "smoke-observation-with-subject",
        "url": PROFILE,
        "name": "SmokeObservationWithSubject",
        "status": "active",
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": "Observation",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "derivation": "constraint",
        "differential": {"element": [{"id": "Observation.subject", "path": "Observation.subject", "min": 1}]},
    }
    status, body = call("PUT", "StructureDefinition/smoke-observation-with-subject", profile)
    check(status in (200, 201), "PUT a differential-only StructureDefinition", body)

    bad = {k: v for k, v in observation(7, "85319-2").items() if k != "subject"}
    status, outcome = call("POST", f"Observation/$validate?profile={PROFILE}", bad)
    errors = issues(outcome, "error")
    check(any("subject" in e for e in errors), f"$validate flags the missing subject ({status}): {errors}", outcome)
    status, outcome = call("POST", f"Observation/$validate?profile={PROFILE}", observation(7, "85319-2"))
    errors = issues(outcome, "error")
    check(status == 200 and not errors, f"$validate accepts the conforming one; warnings: {issues(outcome, 'warning')}", outcome)

    # Clean up what we wrote (and only that: the server may be shared): delete, then expunge the deleted
    status, body = call("DELETE", f"Observation?patient={PATIENT}")
    check(status == 200, "DELETE Observation?patient=... (conditional, several matches)", body)
    for url in (f"Patient/{PATIENT}", "StructureDefinition/smoke-observation-with-subject"):
        status, body = call("DELETE", url)
        check(status == 200, f"DELETE {url}", body)
    expunge = {"resourceType": "Parameters", "parameter": [{"name": "expungeDeletedResources", "valueBoolean": True}]}
    for kind in ("Observation", "Patient", "StructureDefinition"):
        status, body = call("POST", f"{kind}/$expunge", expunge)
        check(status == 200, f"POST {kind}/$expunge expungeDeletedResources", body)
    status, body = call("GET", f"Patient/{PATIENT}")
    check(status == 404, f"Patient/{PATIENT} is gone ({status})", body)
    status, body = call("GET", "Observation?identifier=urn:her2-cds:smoke|&_summary=count")
    check(status == 200 and body.get("total") == 0, "no smoke Observation left", body)


if __name__ == "__main__":
    main()
