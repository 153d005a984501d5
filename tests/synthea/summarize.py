#!/usr/bin/env python3
"""Inventory the codes in a directory of Synthea FHIR R4 patient bundles.

Usage: python3 tests/synthea/summarize.py OUTDIR [--examples]

Reads every ``OUTDIR/*.json`` Bundle that contains a Patient (the hospital and
practitioner bundles in ``OUTDIR/shared`` are not read), finds the breast cancer
patients (Condition SNOMED 254837009) and prints, for them, every distinct code
of their Conditions, Observations (with value shapes), liver labs, LVEF,
medications (following ``medicationReference`` to the Medication entry) and
procedures, with counts, then a per-patient timeline of markers and orders.
Standard library only, so it runs without the project's virtualenv.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import statistics
import sys
from collections.abc import Iterator

BREAST_CANCER = "254837009"
LIVER_LOINC = {
    "1975-2": "bilirubin total",
    "1968-7": "bilirubin direct",
    "42719-5": "bilirubin total (blood)",
    "14631-6": "bilirubin total (molar)",
    "1920-8": "AST",
    "30239-8": "AST (P-5'-P)",
    "1742-6": "ALT",
    "1743-4": "ALT (P-5'-P)",
    "76625-3": "ALT (blood)",
    "6768-6": "ALP",
}
LVEF_LOINC = {"10230-1", "18043-0", "8806-2", "18010-0", "8808-8", "8807-0", "77889-9", "93610-4", "33762-6", "42637-9"}
MARKER_LOINC = {
    "85319-2": "HER2-IHC",
    "85318-4": "HER2-FISH",
    "85337-4": "ER",
    "85339-0": "PR",
    "10480-2": "ER+PR",
    "21924-6": "tumor-marker",
    "21908-9": "stage",
    "21907-1": "M",
    "21905-5": "T",
    "21906-3": "N",
    "88040-1": "response",
    "59557-9": "treatment-status",
}
MED_TYPES = ("MedicationRequest", "MedicationAdministration", "MedicationStatement", "Medication")
SYSTEMS = {
    "http://snomed.info/sct": "SNOMED",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://unitsofmeasure.org": "UCUM",
}

Coding = tuple[str, str, str]


def codings(cc: dict | None) -> list[Coding]:
    if not cc:
        return []
    return [(SYSTEMS.get(c.get("system", ""), c.get("system", "?")), str(c.get("code")), c.get("display", ""))
            for c in cc.get("coding", [])]


def codes_of(cc: dict | None) -> set[str]:
    return {code for _, code, _ in codings(cc)}


def value_repr(obs: dict) -> str:
    if "valueCodeableConcept" in obs:
        return "CodeableConcept " + "; ".join(f"{s} {c} {d!r}" for s, c, d in codings(obs["valueCodeableConcept"]))
    if "valueQuantity" in obs:
        q = obs["valueQuantity"]
        return f"Quantity unit={q.get('unit')!r} code={q.get('code')!r}"
    if "valueString" in obs:
        return f"valueString {obs['valueString']!r}"
    for k in obs:
        if k.startswith("value"):
            return k
    return "components" if "component" in obs else "no value"


def value_text(obs: dict) -> object:
    if "valueCodeableConcept" in obs:
        return obs["valueCodeableConcept"].get("text")
    if "valueQuantity" in obs:
        return obs["valueQuantity"].get("value")
    return obs.get("valueString")


def load(outdir: pathlib.Path) -> Iterator[tuple[pathlib.Path, dict[str, dict], list[dict]]]:
    for path in sorted(outdir.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        entries = [e for e in bundle.get("entry", []) if "resource" in e]
        resources = [e["resource"] for e in entries]
        if any(r["resourceType"] == "Patient" for r in resources):
            yield path, {e.get("fullUrl", ""): e["resource"] for e in entries}, resources


def med_codings(r: dict, by_url: dict[str, dict]) -> tuple[str, list[Coding]]:
    """(shape, codings) of a Medication* resource, following medicationReference."""
    if "medicationCodeableConcept" in r:
        return "medicationCodeableConcept", codings(r["medicationCodeableConcept"])
    if "medicationReference" in r:
        target = by_url.get(r["medicationReference"].get("reference", ""))
        return "medicationReference", codings(target.get("code")) if target else []
    if r["resourceType"] == "Medication":
        return "code", codings(r.get("code"))
    return "none", []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=pathlib.Path)
    ap.add_argument("--examples", action="store_true", help="print one example resource of each kind")
    args = ap.parse_args(argv)

    sizes: list[int] = []
    counts: list[int] = []
    rtypes: collections.Counter[str] = collections.Counter()
    all_liver: collections.Counter[str] = collections.Counter()
    bc_patients: list[tuple[str, int, int, list[str]]] = []
    cond_codes: collections.Counter[Coding] = collections.Counter()
    obs_codes: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
    obs_values: dict[Coding, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    liver: dict[Coding, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    liver_refrange: collections.Counter[str] = collections.Counter()
    lvef: dict[Coding, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    meds: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
    med_shape: collections.Counter[tuple[str, str]] = collections.Counter()
    med_status: collections.Counter[tuple[str, str, str]] = collections.Counter()
    med_timing: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
    proc_codes: collections.Counter[Coding] = collections.Counter()
    timelines: dict[str, list[str]] = collections.defaultdict(list)
    examples: dict[str, dict] = {}

    for path, by_url, res in load(args.outdir):
        sizes.append(path.stat().st_size)
        counts.append(len(res))
        rtypes.update(r["resourceType"] for r in res)
        for r in res:
            if r["resourceType"] == "Observation":
                all_liver.update(c for c in codes_of(r.get("code")) if c in LIVER_LOINC)
        dx = [r for r in res if r["resourceType"] == "Condition" and BREAST_CANCER in codes_of(r.get("code"))]
        if not dx:
            continue
        patient = next(r for r in res if r["resourceType"] == "Patient")
        name = path.name
        flags: list[str] = []
        timeline = timelines[name]
        status = codings(dx[0].get("clinicalStatus"))
        timeline.append(
            f"{dx[0].get('onsetDateTime', '')[:10]} DIAGNOSIS clinicalStatus={status[0][1] if status else None}"
            f" birthDate={patient.get('birthDate')} deceased={patient.get('deceasedDateTime', '-')[:10]}"
        )
        for r in res:
            rt = r["resourceType"]
            if rt == "Condition":
                cond_codes.update(codings(r.get("code")))
                if BREAST_CANCER in codes_of(r.get("code")):
                    examples.setdefault("Condition", r)
            elif rt == "Observation":
                cats = ",".join(sorted({c for cat in r.get("category", []) for c in codes_of(cat)}))
                for coding in codings(r.get("code")):
                    code = coding[1]
                    obs_codes[(*coding, cats)] += 1
                    obs_values[coding][value_repr(r)] += 1
                    if code in LIVER_LOINC:
                        liver[coding][value_repr(r)] += 1
                        liver_refrange["yes" if r.get("referenceRange") else "no"] += 1
                        examples.setdefault("Observation (liver)", r)
                    if code in LVEF_LOINC:
                        lvef[coding][value_repr(r)] += 1
                        examples.setdefault("Observation (LVEF)", r)
                    if code in MARKER_LOINC:
                        timeline.append(f"{r.get('effectiveDateTime', '')[:10]} {MARKER_LOINC[code]}={value_text(r)}")
                        examples.setdefault(f"Observation ({MARKER_LOINC[code]})", r)
                    value = codes_of(r.get("valueCodeableConcept"))
                    if code == "85319-2" and "10828004" in value:
                        flags.append("HER2+")
                    if (code == "21907-1" and "55440008" in value) or (code == "21908-9" and "258228008" in value):
                        flags.append("M1/stage4")
            elif rt in MED_TYPES:
                shape, cs = med_codings(r, by_url)
                med_shape[(rt, shape)] += 1
                examples.setdefault(rt, r)
                for _, code, display in cs:
                    meds[(rt, "RxNorm", code, display)] += 1
                    med_status[(rt, code, str(r.get("status")))] += 1
                    if rt == "MedicationRequest":
                        timing = [json.dumps(di.get("timing", {}).get("repeat"), sort_keys=True)
                                  for di in r.get("dosageInstruction", [])]
                        med_timing[(code, display)][", ".join(timing) or "no dosageInstruction"] += 1
                        timeline.append(f"{r.get('authoredOn', '')[:10]} MedicationRequest {r.get('status')} "
                                        f"RxNorm {code} {display}")
            elif rt == "Procedure":
                proc_codes.update(codings(r.get("code")))
        bc_patients.append((name, len(res), path.stat().st_size, sorted(set(flags))))

    out = print
    out(f"# Synthea output inventory: {args.outdir}\n")
    her2 = sum("HER2+" in f for *_, f in bc_patients)
    m1 = sum("M1/stage4" in f for *_, f in bc_patients)
    out(f"patients: {len(sizes)}; breast cancer (SNOMED {BREAST_CANCER}): {len(bc_patients)}; "
        f"HER2 positive: {her2}; stage 4 / M1: {m1}")
    if sizes:
        out(f"bundle size: resources min/median/max = {min(counts)}/{int(statistics.median(counts))}/{max(counts)}; "
            f"bytes min/median/max = {min(sizes)}/{int(statistics.median(sizes))}/{max(sizes)}")
    out("\n## resource types (all patients)")
    for k, v in rtypes.most_common():
        out(f"- {k}: {v}")
    out("\n## breast cancer patients")
    for name, n, size, flags in bc_patients:
        out(f"- {name}: {n} resources, {size} bytes {' '.join(flags)}")
    out("\n## Conditions in breast cancer patients (system code display: count)")
    for (s, c, d), v in cond_codes.most_common():
        out(f"- {s} {c} {d!r}: {v}")
    out("\n## Observations in breast cancer patients (system code display [category]: count -> value shapes)")
    for (s, c, d, cat), v in obs_codes.most_common():
        shapes = "; ".join(f"{k} x{n}" for k, n in obs_values[(s, c, d)].most_common(6))
        out(f"- {s} {c} {d!r} [{cat}]: {v} -> {shapes}")
    out("\n## Liver labs in breast cancer patients")
    for coding, shapes in liver.items():
        out(f"- {coding}: {dict(shapes)}")
    out(f"- referenceRange present: {dict(liver_refrange)}")
    out(f"- liver lab observations in ALL patients: {dict(all_liver)}")
    out("\n## LVEF / echo observations in breast cancer patients")
    for coding, shapes in lvef.items():
        out(f"- {coding}: {dict(shapes)}")
    if not lvef:
        out("- none")
    out("\n## Medications in breast cancer patients (type system code display: count)")
    for (rt, s, c, d), v in sorted(meds.items(), key=lambda x: (x[0][0], -x[1])):
        out(f"- {rt} {s} {c} {d!r}: {v}")
    out(f"- shapes: {dict(med_shape)}")
    out(f"- status by code: {dict(med_status)}")
    out("- MedicationRequest dosageInstruction timing by code:")
    for key, timings in med_timing.items():
        out(f"  - {key}: {dict(timings)}")
    out("\n## Procedures in breast cancer patients")
    for (s, c, d), v in proc_codes.most_common():
        out(f"- {s} {c} {d!r}: {v}")
    out("\n## per breast cancer patient: markers and treatment timeline")
    for name, *_ in bc_patients:
        out(f"### {name}")
        for line in timelines[name]:
            out(f"- {line}")
    if args.examples:
        out("\n## examples")
        for kind, resource in examples.items():
            out(f"### {kind}\n{json.dumps(resource, indent=1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
