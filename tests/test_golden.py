"""Whole responses of every example, scenario and public mCODE patient, exactly as recorded (issue 16).

A change that should not change what a clinician sees (a faster read layer, a new JSON encoder) must
leave every byte of ``tests/golden/`` as it is. After a reviewed change of the expected output, run
``make golden`` and review the diff of tests/golden/ with the change.
"""

from __future__ import annotations

import orjson
import pytest

from tests.golden_cases import GOLDEN_DIR, golden_cases, responses

CASES = golden_cases()


def test_every_case_has_a_golden_file_and_none_is_left_over():
    assert len(CASES) >= 60
    assert {case.path() for case in CASES} == set(GOLDEN_DIR.glob("*.json"))


def test_the_public_mcode_patients_are_among_the_cases():
    assert any(case.name.startswith("mcode-") for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_response_is_the_golden_one(case, tmp_path):
    [(_, status, body)] = list(responses([case], str(tmp_path)))
    assert status == 200
    assert body == orjson.loads(case.path().read_bytes())
