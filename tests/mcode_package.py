"""The mCODE STU4 npm package (``hl7.fhir.us.mcode@4.0.0``, CC0): fetched with npm into a cache, read as patients.

The package is fetched with ``npm pack`` (npm's own client, the registry's integrity check) and
unpacked with Python's tarfile under the ``data`` filter: ``npm install`` cannot be used, because the
package declares dependencies (``hl7.fhir.r4.core@4.0.1``, ...) that have no versions on npm. The
cache lives under ``var/`` (gitignored); ``MCODE_PACKAGE_CACHE`` moves it. Nothing is downloaded but
this one tarball, whose checksum is pinned here.

Used by tests/test_mcode_package.py and by ``make mcode-examples``::

    python -m tests.mcode_package          # fetch if needed, print the patients and their example counts
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "hl7.fhir.us.mcode"
VERSION = "4.0.0"
TARBALL = f"{PACKAGE}-{VERSION}.tgz"
TARBALL_SHA1 = "b1d877a4ef642106699c6431b1f6d9fb5c52ea97"  # npm's shasum of the published tarball
EXAMPLE_COUNT = 179  # files in package/example/ (the IG's compiled examples)
NPM_TIMEOUT_SECONDS = 120


class McodePackageUnavailable(RuntimeError):
    """npm could not fetch the package (no npm, no registry, a changed tarball): the test fails with this."""


def cache_folder() -> Path:
    """Where the unpacked package is kept between runs."""
    return Path(os.environ.get("MCODE_PACKAGE_CACHE", ROOT / "var" / "npm" / f"{PACKAGE}-{VERSION}"))


def example_folder() -> Path:
    """``package/example`` of the unpacked package, fetched with npm first when it is not cached."""
    folder = cache_folder() / "package" / "example"
    if not folder.is_dir():
        _fetch(cache_folder())
    return folder


def _fetch(cache: Path) -> None:
    """``npm pack`` the package into a temporary folder, check its checksum, unpack it into ``cache``."""
    npm = shutil.which("npm")
    if npm is None:
        raise McodePackageUnavailable("npm is not installed; it is needed to fetch the mCODE examples")
    with tempfile.TemporaryDirectory() as work:
        try:
            subprocess.run(  # noqa: S603 - fixed arguments, npm found on PATH
                [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", work, "--loglevel=error"],
                check=True,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_SECONDS,
                cwd=work,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            stderr = getattr(exc, "stderr", "") or ""
            raise McodePackageUnavailable(f"npm pack {PACKAGE}@{VERSION} failed: {stderr.strip()[-500:]}") from exc
        tarball = Path(work) / TARBALL
        digest = hashlib.sha1(tarball.read_bytes()).hexdigest()  # noqa: S324 - npm's published shasum is SHA-1
        if digest != TARBALL_SHA1:
            raise McodePackageUnavailable(f"{TARBALL} has SHA-1 {digest}, not the published {TARBALL_SHA1}")
        unpacked = Path(work) / "unpacked"
        with tarfile.open(tarball) as archive:
            archive.extractall(unpacked, filter="data")
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
        shutil.move(str(unpacked), cache)


def example_resources(folder: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, resource) for every example; a Bundle's entries come one by one (the Bundle itself is not a record)."""
    for path in sorted(folder.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        if resource.get("resourceType") == "Bundle":
            for entry in resource.get("entry", []):
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    yield path.name, entry["resource"]
        else:
            yield path.name, resource


def patient_of(resource: Mapping[str, Any]) -> str | None:
    """The id of the Patient a resource is about (itself, ``subject`` or ``patient``), else None."""
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id"))
    for name in ("subject", "patient"):
        reference = resource.get(name)
        if isinstance(reference, Mapping) and isinstance(reference.get("reference"), str):
            kind, _, rid = reference["reference"].rpartition("/")
            return rid if kind.endswith("Patient") else None
    return None


@dataclass
class ExamplePatients:
    """The package's examples grouped by patient, and the examples that are about no patient."""

    patients: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unattached: list[str] = field(default_factory=list)  # "Type/id" of examples with no patient subject
    files: int = 0


def group_by_patient(examples: Iterable[tuple[str, dict[str, Any]]]) -> ExamplePatients:
    """Every example under its patient, each resource once (the Jenny M Bundle repeats her single examples)."""
    grouped = ExamplePatients()
    seen: set[tuple[str, str]] = set()
    files: set[str] = set()
    for file_name, resource in examples:
        files.add(file_name)
        identity = (str(resource.get("resourceType")), str(resource.get("id")))
        if identity in seen:
            continue
        seen.add(identity)
        patient_id = patient_of(resource)
        if patient_id is None:
            grouped.unattached.append("/".join(identity))
        else:
            grouped.patients.setdefault(patient_id, []).append(resource)
    grouped.files = len(files)
    return grouped


def main() -> None:
    grouped = group_by_patient(example_resources(example_folder()))
    print(f"{grouped.files} example files in {cache_folder()}")
    for patient_id, resources in sorted(grouped.patients.items()):
        print(f"  {patient_id}: {len(resources)} resources")
    print(f"  about no patient: {len(grouped.unattached)}")


if __name__ == "__main__":
    main()
