"""A progression an oncologist wrote as a dated note on the cancer's Condition (service/read/conditions.py).

A held-out US Core record (s22) had no disease-status Observation: the progression on first-line HP was
only in the note "Assessment: progressive disease on 1st-line HP" on the breast cancer problem, dated
2026-05-19. The line read as on treatment and no second-line option was offered.
"""

from __future__ import annotations

from datetime import date

import pytest

from service.engine import Engine
from tests.conftest import condition, observation, patient, statement

NOW = date(2026, 6, 1)


def _with_note(text: str, time: str | None = "2026-05-19T10:12:00-05:00") -> list[dict]:
    primary = condition("bc", "snomed", "254837009", "2024-03-04")
    primary["note"] = [
        {"time": "2024-09-10T14:02:00-05:00", "text": "Restaging CT: partial response (PR). Continue HP maintenance."},
        {"text": text, **({"time": time} if time else {})},
    ]
    return [
        patient(),
        primary,
        condition("lung", "snomed", "94391008", "2024-03-12"),
        observation("her2", "85319-2", "2024-03-19", valueCodeableConcept={"text": "3+"}),
        statement("thp", "paclitaxel + trastuzumab + pertuzumab", "2024-04-02", status="active"),
    ]


def test_a_dated_note_stating_progression_progresses_the_line(engine: Engine):
    text = "Clinical progression: enlarging lung nodules on CT. Assessment: progressive disease on 1st-line HP."
    evaluation = engine.evaluate("p1", _with_note(text), NOW)
    assert evaluation.history.status == "progressed"
    assert evaluation.assessment()["recommendedLine"] == 2


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("SD on CT. No evidence of progression. Continue trastuzumab/pertuzumab.", "2026-05-19"),
        ("New hip pain, concern for progression; restage in 6 weeks.", "2026-05-19"),
        ("Assessment: progressive disease on 1st-line HP.", None),  # undated: no day to give it
        ("Pseudoprogression on PET, continue.", "2026-05-19"),
    ],
    ids=["denied", "doubted", "undated", "pseudoprogression"],
)
def test_a_note_that_does_not_state_a_dated_progression_changes_nothing(engine: Engine, text, time):
    assert engine.evaluate("p1", _with_note(text, time), NOW).history.status == "on-treatment"


def test_a_malformed_note_leaves_the_condition_readable(engine: Engine):
    records = _with_note("Assessment: progressive disease.")
    records[1]["note"] = "progressive disease"  # not a list of Annotations
    evaluation = engine.evaluate("p1", records, NOW)
    assert evaluation.extent.breast_cancer and evaluation.history.status == "on-treatment"
