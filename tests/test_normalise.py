"""What real records contain, normalised: value shapes, statuses, references, repairs."""

from __future__ import annotations

from datetime import date

from service.read import Normaliser
from tests.conftest import coding, condition, observation

NOW = date(2026, 6, 1)


def record(knowledge, *resources):
    return Normaliser(knowledge).patient_record("p1", list(resources), NOW)


def test_her2_values_in_every_shape(knowledge):
    result = record(
        knowledge,
        observation("a", "85319-2", "2025-01-01", valueCodeableConcept={"text": "Equivocal (2+)"}),
        observation("b", "18474-7", "2025-01-02", valueString="Score 1+"),
        observation("c", "85319-2", "2025-01-03", valueQuantity={"value": 3}),
        observation("d", "85318-4", "2025-01-04", valueCodeableConcept={"coding": [coding("loinc", "LA6576-8", "Positive")]}),
        observation("e", "49683-6", "2025-01-05", valueRatio={"numerator": {"value": 4.4}, "denominator": {"value": 2}}),
        observation("f", "74860-8", "2025-01-06", valueQuantity={"value": 6.1, "unit": "{copies}/{nucleus}"}),
        observation("g", "48676-1", "2025-01-07", valueCodeableConcept={"coding": [coding("snomed", "260385009")]}),
        observation("h", "85319-2", "2025-01-08", valueCodeableConcept={"text": "Negative"}),
    )
    decoded = {r.record_id: (r.kind, r.ihc_score, r.qualitative, r.number) for r in record_sorted(result)}
    assert decoded == {
        "a": ("her2-ihc", 2, None, None),
        "b": ("her2-ihc", 1, None, None),
        "c": ("her2-ihc", 3, None, None),
        "d": ("her2-ish", None, "positive", None),
        "e": ("her2-ratio", None, None, 2.2),
        "f": ("her2-copies", None, None, 6.1),
        "g": ("her2-interpretation", None, "negative", None),
        "h": ("her2-ihc", None, "negative", None),
    }


def record_sorted(result):
    return sorted(result.receptors, key=lambda r: r.record_id)


def test_non_final_serum_and_unknown_observations_are_ignored(knowledge):
    result = record(
        knowledge,
        observation("p", "85319-2", "2025-01-01", status="preliminary", valueString="3+"),
        observation("x", "85319-2", "2025-01-01", status="entered-in-error", valueString="3+"),
        observation("s", "32996-1", "2025-01-01", valueQuantity={"value": 30}),
        observation("u", "2345-7", "2025-01-01", valueQuantity={"value": 90}),
    )
    assert result.receptors == [] and result.labs == [] and result.skipped == []


def test_components_of_a_panel_are_read(knowledge):
    panel = observation("panel", "85337-4", "2025-02-01", valueCodeableConcept={"text": "Positive"})
    panel["component"] = [{"code": {"coding": [coding("loinc", "85325-9")]}, "valueQuantity": {"value": 40, "unit": "%"}}]
    kinds = sorted((r.kind, r.qualitative, r.number) for r in record(knowledge, panel).receptors)
    assert kinds == [("er", "positive", None), ("pr-percent", None, 40.0)]


def test_lvef_as_a_fraction_and_reference_ranges(knowledge):
    lvef = observation("l", "10230-1", "2025-03-01", valueQuantity={"value": 0.55})
    bili = observation(
        "b",
        "1975-2",
        "2025-03-01",
        valueQuantity={"value": 1.4, "unit": "mg/dL"},
        referenceRange=[{"low": {"value": 0.1}, "high": {"value": 1.0}}],
    )
    labs = {lab.kind: lab for lab in record(knowledge, lvef, bili).labs}
    assert labs["lvef"].value == 55.0
    assert labs["bilirubin-total"].reference_high == 1.0


def test_conditions_refuted_icd_and_body_site(knowledge):
    refuted = condition(
        "r",
        "snomed",
        "94225005",
        "2024-01-01",
        verificationStatus={
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]
        },
    )
    generic = condition("g", "snomed", "128462008", "2024-02-01", bodySite=[{"text": "Pleural effusion, right pleura"}])
    icd = condition("i", "icd10cm", "C79.51", "2024-03-01")
    lung = condition("l", "icd10cm", "C78.01", "2024-03-01")
    primary = condition("p", "icd10cm", "C50.912", "2023-01-01", stage=[{"summary": {"text": "Stage IV"}}])
    result = record(knowledge, refuted, generic, icd, lung, primary)
    assert sorted((c.role, c.site) for c in result.conditions) == [
        ("metastasis", "bone"),
        ("metastasis", "lung"),
        ("metastasis", "pleura"),
        ("primary", None),
        ("stage-iv", None),
    ]


def test_medication_shapes(knowledge):
    contained = {
        "resourceType": "MedicationAdministration",
        "id": "adm",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "contained": [{"resourceType": "Medication", "id": "med", "code": {"text": "Ogivri 150 mg"}}],
        "medicationReference": {"reference": "#med"},
        "effectiveDateTime": "2025-01-01T10:00:00Z",
    }
    request = {
        "resourceType": "MedicationRequest",
        "id": "req",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [coding("rxnorm", "1298944", "pertuzumab")]},
        "authoredOn": "2025-12-20",
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-01"}}}}],
    }
    cancelled = dict(request, id="cancel", status="cancelled")
    proposal = dict(request, id="prop", intent="proposal")
    option = dict(request, id="opt", intent="option")  # one choice of a RequestGroup, not an order
    forbidden = dict(request, id="dnp", doNotPerform=True)  # an order not to give it
    statement = {
        "resourceType": "MedicationStatement",
        "id": "st",
        "status": "stopped",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Enhertu"},
        "effectivePeriod": {"start": "2025-02-01", "end": "2025-09-01"},
        "statusReason": [{"coding": [coding("snomed", "266721009")]}],
    }
    # The older FHIR versions' negations, with a status that would count: STU3 and DSTU2 EHRs send them so.
    not_taken = [dict(statement, id="stu3-n", status="completed", taken="n"), dict(statement, id="dstu2-n", wasNotTaken=True)]
    not_given = [dict(contained, id="stu3-ng", notGiven=True), dict(contained, id="dstu2-ng", wasNotGiven=True)]
    taken = dict(statement, id="stu3-y", taken="y")
    every = (contained, request, cancelled, proposal, option, forbidden, statement, *not_taken, *not_given, taken)
    exposures = {e.record_id: e for e in record(knowledge, *every).exposures}
    assert set(exposures) == {"adm", "req", "st", "stu3-y"}
    assert (exposures["adm"].agent, exposures["adm"].start, exposures["adm"].end) == (
        "trastuzumab",
        date(2025, 1, 1),
        date(2025, 1, 1),
    )
    assert (exposures["req"].agent, exposures["req"].start, exposures["req"].ongoing) == ("pertuzumab", date(2026, 1, 1), True)
    assert (exposures["st"].agent, exposures["st"].stop_reason) == ("trastuzumab-deruxtecan", "progression")


def test_an_invalid_resource_is_skipped_and_named_not_raised(knowledge):
    broken = observation("bad", "85319-2", "2025-01-01", valueString="3+")
    broken["subject"] = "Patient/p1"  # a string where a Reference belongs
    repairable = observation("extra", "85319-2", "2025-01-02", valueString="3+", madeUpElement=True)
    result = record(knowledge, broken, repairable)
    assert result.skipped == ["Observation/bad"]
    assert [r.record_id for r in result.receptors] == ["extra"]


def test_only_the_latest_liver_test_of_each_kind_is_validated(knowledge, monkeypatch):
    """Issue 6: older liver tests are never validated; a newer unreadable one is named and passed over."""
    import service.read.common as common

    validated = []
    real = common.validate_resource
    monkeypatch.setattr(common, "validate_resource", lambda raw: validated.append(raw["id"]) or real(raw))
    ast = {"valueQuantity": {"value": 30, "unit": "U/L"}}
    old_broken = observation("ast-old-broken", "1920-8", "2024-01-01", **ast)
    old_broken["subject"] = "Patient/p1"  # a string where a Reference belongs
    newest_broken = observation("ast-newest-broken", "1920-8", "2025-03-01", **ast)
    newest_broken["subject"] = "Patient/p1"
    result = record(
        knowledge,
        old_broken,
        observation("ast-old", "1920-8", "2024-06-01", **ast),
        observation("ast-tie-first", "1920-8", "2025-02-01", valueQuantity={"value": 41, "unit": "U/L"}),
        observation("ast-tie-second", "1920-8", "2025-02-01", valueQuantity={"value": 99, "unit": "U/L"}),
        newest_broken,
        observation("alt-no-value", "1742-6", "2025-05-01"),
        observation("alt", "1742-6", "2025-04-01", valueQuantity={"value": 20, "unit": "U/L"}),
    )
    assert sorted(validated) == ["alt", "alt-no-value", "ast-newest-broken", "ast-tie-first"]
    assert [(lab.record_id, lab.value) for lab in result.labs] == [("ast-tie-first", 41.0), ("alt", 20.0)]
    assert result.skipped == ["Observation/ast-newest-broken"]


def test_every_progression_and_only_the_latest_other_disease_status_is_read(knowledge):
    def status(rid, when, code):
        return observation(rid, "97509-4", when, valueCodeableConcept={"coding": [coding("snomed", code)]})

    result = record(
        knowledge,
        status("worse-1", "2024-01-01", "271299001"),
        status("stable-old", "2024-03-01", "359746009"),
        status("worse-2", "2024-09-01", "271299001"),
        status("improved-latest", "2025-01-01", "268910001"),
        status("worse-old", "2023-01-01", "271299001"),
    )
    assert [(s.record_id, s.status) for s in result.disease_statuses] == [
        ("worse-1", "worsened"),
        ("worse-2", "worsened"),
        ("improved-latest", "improved"),
        ("worse-old", "worsened"),
    ]
