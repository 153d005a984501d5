"""Property tests: whatever FHIR-shaped JSON arrives, the pipeline answers and keeps the contract.

Strategies (tests/fhir_strategies.py) draw Conditions, Observations, medication records, Medications
and Patients with codes from the knowledge files mixed with junk, missing and wrong-typed fields, partial
and impossible dates, values of every type, nested extensions, huge strings, a wrong ``resourceType``,
and plain JSON. Properties:

- ``Normaliser.patient_record`` never raises, and ``Engine.evaluate`` on the same input never raises
  and gives an assessment valid against ``service/contract/assessment.schema.json``; the cards rendered
  from it keep the CDS Hooks rules of ``tests/cards.py``;
- the same holds when the junk is mixed into a real example patient (so the rules see real histories);
- fields the FHIR models do not know, added anywhere in the resources, change nothing;
- the whole pipeline through the Flask app: a hook request with a random prefetch (Bundles of the above,
  failed and ``null`` keys, junk) and random draft orders never gives a 5xx; a 200 keeps the CDS Hooks
  rules, a 4xx is an OperationOutcome.

Examples per test come from the hypothesis profile (``HYPOTHESIS_PROFILE``, see tests/fhir_strategies.py).
Crashes these properties found are kept as explicit ``@example``s.
"""

from __future__ import annotations

import json
import random
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from service import create_app
from service.cli import bundle_resources, example_bundles, patient_id_of
from service.engine import Engine
from service.render import CardRenderer, RenderContext
from tests.cards import response_problems
from tests.fhir_strategies import PATIENT_ID, fhir_resources, hook_requests, json_values

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = json.loads((ROOT / "service" / "contract" / "assessment.schema.json").read_text(encoding="utf-8"))
ASSESSMENT = Draft202012Validator(CONTRACT, format_checker=Draft202012Validator.FORMAT_CHECKER)
NOW = date(2026, 6, 1)


def _of_patient(resources: list[dict[str, Any]], patient_id: str) -> list[dict[str, Any]]:
    """An example patient's records as ``patient_id``'s: its Patient's id and every reference to it renamed.
    The service does not read a record whose subject names another patient, and these tests evaluate
    every example (and records of several examples together) as ``PATIENT_ID``."""
    original = patient_id_of(resources)
    text = json.dumps(resources).replace(f'"Patient/{original}"', f'"Patient/{patient_id}"')
    text = text.replace(f'/Patient/{original}"', f'/Patient/{patient_id}"')
    renamed: list[dict[str, Any]] = json.loads(text)
    for resource in renamed:
        if resource.get("resourceType") == "Patient" and resource.get("id") == original:
            resource["id"] = patient_id
    return renamed


EXAMPLES = [_of_patient(bundle_resources(bundle), PATIENT_ID) for _name, bundle in example_bundles()]
SERVICES = {
    "patient-view": "/cds-services/her2-mbc-guidance",
    "order-select": "/cds-services/her2-mbc-order-check",
    "order-sign": "/cds-services/her2-mbc-order-check",
}
LOINC_HER2_IHC = {"system": "http://loinc.org", "code": "85319-2"}
# Crashes the properties found (each raised TypeError in service/normalise.py before it read raw JSON defensively).
FOUND_CRASHES: list[list[Any]] = [
    [{"resourceType": "Condition", "code": {"coding": 0}}],
    [{"resourceType": "Observation", "code": {"coding": [LOINC_HER2_IHC]}, "component": True}],
    [{"resourceType": "Observation", "code": {"coding": [LOINC_HER2_IHC]}, "status": ["final"]}],
    [{"resourceType": "Condition", "code": {}, "meta": {"profile": [{}]}}],
    [
        {
            "resourceType": "Medication",
            "id": "m",
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": {}}]},
        }
    ],
    [{"resourceType": "MedicationStatement", "medicationCodeableConcept": {"text": "Herceptin"}, "status": []}],
    [{"resourceType": "MedicationRequest", "medicationCodeableConcept": {"text": "Herceptin"}, "status": "active", "intent": {}}],
    [{"resourceType": "MedicationStatement", "medicationReference": {"reference": "#med"}, "contained": 1}],
    # A component's coding with a display and a system that is an object: the look-up by LOINC name hashed
    # the object (a 500; found by the random-prefetch property in CI, 2026-12-05).
    [
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [LOINC_HER2_IHC]},
            "component": [{"code": {"coding": [{"system": "http://snomed.info/sct"}, {"system": {}, "display": "x"}]}}],
        }
    ],
]


@pytest.fixture(scope="module")
def renderer(knowledge) -> CardRenderer:
    return CardRenderer(knowledge)


def assessment_errors(engine: Engine, renderer: CardRenderer, resources: list[Any]) -> tuple[dict[str, Any], list[str]]:
    """Run the whole pure pipeline; return the assessment and every contract or card-rule violation."""
    evaluation = engine.evaluate(PATIENT_ID, resources, NOW)
    assessment = evaluation.assessment()
    errors = [f"assessment: {error.message}" for error in ASSESSMENT.iter_errors(assessment)]
    cards = renderer.cards(evaluation, RenderContext("f0e1d2c3-0000-4000-8000-000000000001", PATIENT_ID, ["fuzz"]))
    errors += response_problems({"cards": cards}, "patient-view")
    return assessment, errors


def _with_found_crashes(test: Any) -> Any:
    for resources in FOUND_CRASHES:
        test = example(resources=resources)(test)
    return test


@given(resources=st.lists(fhir_resources(), max_size=12))
@_with_found_crashes
def test_normaliser_never_raises_and_the_assessment_keeps_the_contract(
    engine: Engine, renderer: CardRenderer, resources: list[Any]
) -> None:
    record = engine.normaliser.patient_record(PATIENT_ID, resources, NOW)
    assert record.patient_id == PATIENT_ID
    _assessment, errors = assessment_errors(engine, renderer, resources)
    assert errors == []


@given(example=st.sampled_from(EXAMPLES), junk=st.lists(fhir_resources(), max_size=8), data=st.data())
def test_junk_mixed_into_a_real_patient(
    engine: Engine, renderer: CardRenderer, example: list[dict[str, Any]], junk: list[Any], data: st.DataObject
) -> None:
    kept = data.draw(st.lists(st.sampled_from(example), max_size=len(example), unique_by=id), label="kept resources")
    resources = data.draw(st.permutations([*kept, *junk]), label="order")
    _assessment, errors = assessment_errors(engine, renderer, resources)
    assert errors == []


def with_unknown_fields(node: Any, chooser: random.Random, values: list[Any]) -> Any:
    """A copy of ``node`` with an unknown field added to about a third of its objects.

    The places come from one hypothesis-drawn ``Random`` (a draw per node would make each example take
    seconds over a whole patient); the added values from a few drawn JSON values.
    """
    if isinstance(node, dict):
        copy = {key: with_unknown_fields(value, chooser, values) for key, value in node.items()}
        if chooser.random() < 0.3:
            copy[f"zzUnknown{chooser.randrange(1000)}"] = chooser.choice(values)
        return copy
    if isinstance(node, list):
        return [with_unknown_fields(item, chooser, values) for item in node]
    return node


@given(
    example=st.sampled_from(EXAMPLES),
    junk=st.lists(fhir_resources(), max_size=4),
    chooser=st.randoms(use_true_random=False),
    values=st.lists(json_values(4), min_size=1, max_size=4),
)
def test_unknown_fields_change_nothing(
    engine: Engine,
    renderer: CardRenderer,
    example: list[dict[str, Any]],
    junk: list[Any],
    chooser: random.Random,
    values: list[Any],
) -> None:
    resources = [*example, *junk]
    before, _ = assessment_errors(engine, renderer, resources)
    after, _ = assessment_errors(engine, renderer, [with_unknown_fields(resource, chooser, values) for resource in resources])
    assert after == before


@pytest.fixture(scope="module")
def module_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One app for every example (hypothesis runs many examples per test call)."""
    database = tmp_path_factory.mktemp("properties") / "feedback.sqlite3"
    return create_app({"database_url": f"sqlite:///{database}", "evaluation_date": "2026-06-01"}).test_client()


@given(hook_request=st.one_of(*(hook_requests(hook) for hook in SERVICES)))
# Crashes found in service/gather.py: a Bundle whose ``link`` or ``entry`` is not an array.
@example(
    hook_request={
        "hook": "patient-view",
        "hookInstance": "h1",
        "context": {"patientId": PATIENT_ID},
        "prefetch": {"conditions": {"resourceType": "Bundle", "link": True}, "receptors": {"resourceType": "Bundle", "entry": 0}},
    }
)
def test_a_hook_request_with_a_random_prefetch_never_gives_a_5xx(module_client: Any, hook_request: dict[str, Any]) -> None:
    response = module_client.post(SERVICES[hook_request["hook"]], json=hook_request)
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: how many reach the rules
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    body = response.get_json()
    if response.status_code == 200:
        assert response_problems(body, hook_request["hook"]) == []
    else:
        assert response.status_code in (400, 412) and body["resourceType"] == "OperationOutcome", body


def test_the_found_crashes_reach_the_code_that_raised(engine: Engine) -> None:
    """The kept examples still reach the raw-JSON reads they broke (a code filter in front would make them vacuous)."""
    record = engine.normaliser.patient_record(PATIENT_ID, FOUND_CRASHES[5], NOW)
    assert record.exposures == [] and record.skipped == ["MedicationStatement/?"]


@pytest.mark.parametrize("unit", ["9", " ", "9.", "-9", " 9 ", "3+ "])
def test_a_long_value_is_read_in_linear_time(engine: Engine, unit: str) -> None:
    """100 000 characters of digits or spaces as a value: found by the properties, 2 000 characters took a second and
    10 000 ten (the number patterns backtracked quadratically); now well under a second each."""
    text = unit * (100_000 // len(unit))
    values = {
        "85319-2": {"valueString": text},
        "85329-1": {"valueString": text},
        "10230-1": {"valueCodeableConcept": {"text": text}},
    }
    resources = [
        {
            "resourceType": "Observation",
            "id": code,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "effectiveDateTime": "2025-01-01",
            **value,
        }
        for code, value in values.items()
    ]
    started = time.perf_counter()
    record = engine.normaliser.patient_record(PATIENT_ID, resources, NOW)
    assert time.perf_counter() - started < 5
    assert record.receptors == [] or all(r.number is None or r.number >= 0 for r in record.receptors)


def test_the_property_can_fail(engine: Engine, renderer: CardRenderer) -> None:
    """The contract check is real: a broken assessment is reported."""
    assessment, errors = assessment_errors(engine, renderer, EXAMPLES[0])
    assert errors == [] and assessment["metastatic"] is True
    assert list(ASSESSMENT.iter_errors({**assessment, "her2": "very-positive"}))


WRONG_TYPES: list[Any] = [{}, [], [{}], 7, 1.5, True, "x", None, {"value": {"x": 1}}]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to an element of a JSON resource (object keys and array indices), the root excluded."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        if prefix == () and key == "resourceType":
            continue
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(node))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def _one_of_each_type() -> list[dict[str, Any]]:
    """One read record of every resource type the read layer touches, taken from the example patients."""
    chosen: dict[str, dict[str, Any]] = {}
    for resources in EXAMPLES:
        for resource in resources:
            resource_type = resource.get("resourceType")
            fuller = len(json.dumps(resource)) > len(json.dumps(chosen.get(resource_type, {})))
            if resource_type in ("Patient", "Condition", "Observation", "MedicationStatement", "MedicationRequest") and fuller:
                chosen[resource_type] = resource
    return list(chosen.values())


def test_a_wrong_json_type_at_any_element_the_read_layer_touches_never_raises(engine: Engine, renderer: CardRenderer) -> None:
    """Issue 13 item 7, systematically: every element of one full record of each type, replaced by every wrong JSON type.

    The pipeline answers within the contract, and a record whose ``status`` is not a string is named as unreadable.
    """
    records = _one_of_each_type()
    assert {r["resourceType"] for r in records} >= {"Patient", "Condition", "Observation", "MedicationStatement"}
    tried = 0
    for index, resource in enumerate(records):
        others = records[:index] + records[index + 1 :]
        for path in _paths(resource):
            for wrong in WRONG_TYPES:
                mutated = _replaced(resource, path, wrong)
                _assessment, errors = assessment_errors(engine, renderer, [*others, mutated])
                assert errors == [], (resource["resourceType"], path, wrong)
                tried += 1
        if resource["resourceType"] != "Patient" and "status" in resource:
            for wrong in WRONG_TYPES:
                if wrong is None or isinstance(wrong, str):  # absent, or an unknown code: not a wrong JSON type
                    continue
                record = engine.normaliser.patient_record(PATIENT_ID, [*others, _replaced(resource, ("status",), wrong)], NOW)
                assert any(ref.startswith(f"{resource['resourceType']}/{resource.get('id', '?')}") for ref in record.skipped)
    assert tried > 500
