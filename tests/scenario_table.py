"""The scenario table (tests/scenarios.yaml): FHIR bundles with the assessment clinical.md's rules give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

HERE = Path(__file__).resolve().parent
SCENARIO_DIR = HERE / "fixtures" / "scenarios"


@dataclass(frozen=True)
class Scenario:
    id: str
    path: Path
    now: str
    title: str
    expected: dict[str, Any]

    def bundle(self) -> dict[str, Any]:
        return orjson.loads(self.path.read_bytes())

    def resources(self) -> list[dict[str, Any]]:
        return [entry["resource"] for entry in self.bundle()["entry"]]

    def patient_id(self) -> str:
        return next(r["id"] for r in self.resources() if r["resourceType"] == "Patient")


def load_scenarios() -> list[Scenario]:
    table = yaml.safe_load((HERE / "scenarios.yaml").read_text(encoding="utf-8"))
    return [
        Scenario(item["id"], (SCENARIO_DIR / item["bundle"]).resolve(), str(item["now"]), item.get("title", ""), item["expected"])
        for item in table
    ]
