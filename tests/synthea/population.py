"""Run the service over a Synthea population loaded into a FHIR server, and summarise what it found.

    python -m tests.synthea.population OUTDIR --fhir-server http://127.0.0.1:8090/fhir [--summary FILE]

Loads OUTDIR/shared/*.json then every patient bundle (POST entries rewritten as PUT by id, so a
second load leaves one copy), calls patient-view for every patient in FHIR-fallback mode exactly as
an EHR would (the app in process, the FHIR data from the server), and writes a summary: patients,
breast cancer, metastatic, HER2 statuses, lines found, cards by indicator, problems and errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import requests

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "service" / "contract" / "assessment.schema.json").read_text())


def as_idempotent_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """Synthea's POST entries as PUT Type/id (references by urn:uuid still resolve through fullUrl)."""
    entries = []
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        request = dict(entry.get("request") or {})
        if request.get("method") == "POST" and resource.get("id") and "ifNoneExist" not in request:
            request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        entries.append({**entry, "request": request})
    return {**bundle, "type": bundle.get("type", "transaction"), "entry": entries}


def load(outdir: Path, fhir_base: str) -> list[str]:
    """Post the shared bundles, then each patient; return the patient ids."""
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    for shared in sorted((outdir / "shared").glob("*.json")):
        response = requests.post(fhir_base, data=shared.read_bytes(), headers=headers, timeout=600)
        response.raise_for_status()
    patients = []
    for path in sorted(outdir.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        transaction = as_idempotent_transaction(bundle)
        response = requests.post(fhir_base, data=orjson.dumps(transaction), headers=headers, timeout=600)
        if response.status_code >= 300:
            raise RuntimeError(f"{path.name}: FHIR server answered {response.status_code}: {response.text[:500]}")
        patients.extend(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return patients


def evaluate(patients: list[str], fhir_base: str, now: date, database_url: str) -> dict[str, Any]:
    """Call patient-view for each patient against the FHIR server; tally the answers."""
    from service import create_app

    app = create_app({"database_url": database_url, "evaluation_date": now.isoformat(), "time_budget_seconds": 30})
    client = app.test_client()
    statuses: Counter[int] = Counter()
    her2: Counter[str] = Counter()
    lines: Counter[int] = Counter()
    lines_found: Counter[int] = Counter()  # patients by how many lines of therapy their history holds
    indicators: Counter[str] = Counter()
    regimens: Counter[str] = Counter()
    alerts: Counter[str] = Counter()
    errors: list[str] = []
    breast_cancer = metastatic = recommended = with_problems = deceased = 0
    violations: list[str] = []
    for patient_id in patients:
        body = {
            "hook": "patient-view",
            "hookInstance": f"synthea-{patient_id}",
            "fhirServer": fhir_base,
            "context": {"patientId": patient_id, "userId": "Practitioner/synthea"},
        }
        response = client.post("/cds-services/her2-mbc-guidance", json=body)
        statuses[response.status_code] += 1
        if response.status_code != 200:
            errors.append(f"{patient_id}: HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")
            continue
        cards = response.json["cards"]
        assessment = cards[0].get("extension", {}).get("her2-cds-assessment")
        try:
            jsonschema.validate(assessment, SCHEMA)
        except jsonschema.ValidationError as exc:
            errors.append(f"{patient_id}: invalid assessment: {exc.message}")
            continue
        summary_text = cards[0]["summary"]
        has_breast_cancer = not summary_text.startswith("No breast cancer diagnosis")
        breast_cancer += has_breast_cancer
        metastatic += assessment["metastatic"]
        her2[assessment["her2"]] += 1
        lines[assessment["lineOfTherapy"]["current"]] += 1
        lines_found[len(assessment["lineOfTherapy"].get("history", []))] += 1
        for card in cards:
            indicators[card["indicator"]] += 1
            with_problems += card["summary"].startswith("Some records could not be read")
        for regimen in assessment.get("recommendedRegimens", []):
            regimens[regimen["id"]] += 1
        for alert in assessment.get("alerts", []):
            alerts[alert] += 1
        if assessment.get("deceased"):
            deceased += 1
            if "recommendedRegimens" in assessment or "recommendedLine" in assessment:
                violations.append(f"{patient_id}: options offered to a deceased patient")
        if "recommendedRegimens" in assessment:
            recommended += 1
            if not has_breast_cancer:
                violations.append(f"{patient_id}: treatment recommended without a breast cancer diagnosis")
    return {
        "patients": len(patients),
        "http_status": {str(k): v for k, v in sorted(statuses.items())},
        "breast_cancer": breast_cancer,
        "metastatic": metastatic,
        "deceased": deceased,
        "her2": dict(her2),
        "current_line": {str(k): v for k, v in sorted(lines.items())},
        "lines_found": {str(k): v for k, v in sorted(lines_found.items())},
        "with_recommendation": recommended,
        "regimens_offered": dict(regimens),
        "alerts": dict(alerts),
        "cards_by_indicator": dict(indicators),
        "responses_with_unreadable_records": with_problems,
        "errors": errors,
        "violations": violations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--fhir-server", required=True)
    parser.add_argument("--now", default="2026-01-01", help="evaluation date (Synthea runs end 2026-01-01)")
    parser.add_argument("--summary", type=Path, help="write the summary JSON here")
    parser.add_argument("--database-url", default="sqlite:///var/synthea-feedback.sqlite3")
    args = parser.parse_args(argv)
    patients = load(args.outdir, args.fhir_server.rstrip("/"))
    summary = evaluate(patients, args.fhir_server.rstrip("/"), date.fromisoformat(args.now), args.database_url)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(text + "\n")
    return 1 if summary["errors"] or summary["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
