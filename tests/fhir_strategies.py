"""Hypothesis strategies for FHIR-shaped JSON as an EHR might send it, good and bad.

Shared by the normaliser property tests and the API fuzz tests. Codes come from the knowledge files
(mappings/codes.yaml, mappings/drugs.yaml through ``load_knowledge``), mixed with junk, so that many
generated resources get past the cheap code filter and reach the R4B models and the rules; every field
may be missing, wrong-typed, partial or huge.

Every strategy is built once (``@cache``): building the tree of nested strategies again for each
example costs more than drawing from it.

Importing this module loads the hypothesis settings profile named by ``HYPOTHESIS_PROFILE``:

- ``ci`` (the default): 200 examples per test, derandomized (the same examples on every run, so a CI
  failure reproduces anywhere) and no example database;
- ``dev``: 50 random examples per test, failures remembered in ``.hypothesis/`` for quick iteration;
- ``deep``: 5000 random examples per test, for a long hunt before a release.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from service.knowledge import Knowledge, load_knowledge

_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile(
    "ci", max_examples=200, derandomize=True, database=None, deadline=None, suppress_health_check=_SLOW_DATA
)
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=_SLOW_DATA)
settings.register_profile("deep", max_examples=5000, deadline=None, suppress_health_check=_SLOW_DATA)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PATIENT_ID = "p1"
RESOURCE_TYPES = ["Condition", "Observation", "MedicationStatement", "MedicationRequest", "MedicationAdministration", "Patient"]
JUNK_SYSTEMS = ["", "urn:junk", "http://loinc.org/", "HTTP://SNOMED.INFO/SCT"]
STAGE_TEXTS = ["Stage IV", "stage 4", "IV", "M1", "cM1", "Stage II", "T2N1M0", "stage ivb"]
VALUE_TEXTS = [
    "3+",
    "2+",
    "1+",
    "0",
    "IHC 3+",
    "positive",
    "Negative",
    "equivocal",
    "80 %",
    "<1%",
    "> 2.2",
    "amplified",
    "not amplified",
    "58",
    "NaN",
    "",
    " ",
    "score: 2+ (equivocal)",
    "liver",
    "brain",
]
STOP_TEXTS = ["disease progression", "toxicity", "cardiotoxicity", "patient choice", "no response", ""]


@cache
def knowledge() -> Knowledge:
    return load_knowledge()


@cache
def json_scalars() -> st.SearchStrategy[Any]:
    """Every JSON scalar, including values that break naive code: huge numbers, odd floats, long text."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )


@cache
def json_values(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """Arbitrary JSON: scalars, lists and objects nested a few levels."""
    return st.recursive(
        json_scalars(),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
        max_leaves=max_leaves,
    )


@cache
def huge_strings() -> st.SearchStrategy[str]:
    """Long strings built cheaply (hypothesis would take ages to draw them character by character).

    Up to 20 000 characters keeps CI fast; tests/test_normalise_properties.py times 100 000.
    """
    return st.builds(lambda char, size: char * size, st.sampled_from(["9", "a", "3+", " ", "é"]), st.integers(1_000, 20_000))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-typed value, sometimes any JSON instead (wrong type, null, junk)."""
    return st.one_of(strategy, strategy, strategy, json_values(4))


def _known_pairs(k: Knowledge) -> list[tuple[str, str]]:
    snomed, rxnorm = k.systems["snomed"], k.systems["rxnorm"]
    pairs = set(k.observation_kind) | set(k.breast_cancer_codes) | set(k.metastasis_codes) | set(k.answer_by_coding)
    pairs |= set(k.progression_stop_codes) | set(k.toxicity_stop_codes)
    pairs |= {(snomed, code) for code in k.stage_iv_values} | {(snomed, code) for code in k.disease_status_by_code}
    pairs |= {pair for pair in k.agent_by_coding if pair[0] == rxnorm}
    pairs |= {(system, prefix + suffix) for system, prefix in k.breast_cancer_prefixes for suffix in ("", ".9", "1.911")}
    pairs |= {(system, prefix + "9") for system, prefix, _site in k.metastasis_prefixes}
    terminology = k.terminology  # mappings/terminology.yaml: the read layer's value sets
    snomed_codes = (
        terminology.breast_snomed
        | terminology.generic_malignancy_snomed
        | terminology.breast_body_sites_snomed
        | terminology.m0_snomed
        | terminology.m1_snomed
        | terminology.regional_node_snomed
        | set(terminology.observation_kind_snomed)
    )
    pairs |= {(snomed, code) for code in snomed_codes}
    pairs |= {(k.systems["icd10cm"], prefix) for prefix in terminology.regional_node_icd10_prefixes}
    pairs |= {(terminology.icdo3, code) for code in ("C50.9", "C50.4", "8500/3", "8500/2", "8520/6", "C34.1")}
    return sorted(pairs)


def _drug_names(k: Knowledge) -> list[str]:
    return sorted({name for agent in k.raw["drugs"]["agents"].values() for name in agent.get("names", [])})


@cache
def dates() -> st.SearchStrategy[Any]:
    """FHIR date/dateTime values: full, partial, with time zones, impossible, junk and wrong types."""
    return st.one_of(
        st.dates().map(lambda d: d.isoformat()),
        st.dates().map(lambda d: d.isoformat()[:7]),
        st.dates().map(lambda d: d.isoformat()[:4]),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.sampled_from(["2024-13-01", "2024-02-30", "0000", "2024-1-5", "yesterday", "", "2026-06-01T25:61:00Z", "9999-12-31"]),
        json_values(3),
    )


@cache
def codings() -> st.SearchStrategy[Any]:
    k = knowledge()
    real = st.sampled_from(_known_pairs(k))
    junk = st.tuples(st.sampled_from(JUNK_SYSTEMS + list(k.systems.values())), st.text(max_size=12))
    return st.builds(
        lambda pair, display, extra: {"system": pair[0], "code": pair[1], **({"display": display} if display else {}), **extra},
        st.one_of(real, real, real, junk),
        st.one_of(st.none(), st.sampled_from(_drug_names(k)), st.text(max_size=20)),
        st.dictionaries(st.sampled_from(["version", "userSelected", "extension", "code", "system"]), json_values(3), max_size=2),
    )


@cache
def concepts() -> st.SearchStrategy[Any]:
    """CodeableConcepts: codings from the knowledge files and junk, texts that the rules read."""
    k = knowledge()
    texts = st.one_of(
        st.sampled_from(_drug_names(k) + STAGE_TEXTS + VALUE_TEXTS + STOP_TEXTS), st.text(max_size=30), huge_strings()
    )
    return maybe(
        st.fixed_dictionaries(
            {},
            optional={"coding": maybe(st.lists(maybe(codings()), max_size=3)), "text": maybe(texts), "extension": extensions()},
        )
    )


@cache
def extensions() -> st.SearchStrategy[Any]:
    """FHIR extensions, nested (an extension may hold extensions)."""
    leaf = st.fixed_dictionaries(
        {"url": st.text(max_size=30)}, optional={"valueString": st.text(max_size=20), "valueCode": json_scalars()}
    )
    return st.lists(
        st.recursive(
            leaf,
            lambda children: st.fixed_dictionaries({"url": st.text(max_size=10), "extension": st.lists(children, max_size=3)}),
            max_leaves=6,
        ),
        max_size=3,
    )


@cache
def quantities() -> st.SearchStrategy[Any]:
    return maybe(
        st.fixed_dictionaries(
            {},
            optional={
                "value": maybe(st.one_of(st.integers(-10, 500), st.floats(allow_nan=False, allow_infinity=False))),
                "unit": st.sampled_from(["%", "mg/dL", "umol/L", "U/L", "g/dL", "g/L", "", "furlongs"]),
                "system": st.sampled_from(["http://unitsofmeasure.org", "urn:junk"]),
                "code": st.sampled_from(["%", "mg/dL", "umol/L", "U/L", "g/dL", "[iU]/L"]),
                "comparator": st.sampled_from(["<", ">", "<=", "~", "junk"]),
            },
        )
    )


@cache
def periods() -> st.SearchStrategy[Any]:
    return maybe(st.fixed_dictionaries({}, optional={"start": dates(), "end": dates()}))


@cache
def references(target: str = "Patient") -> st.SearchStrategy[Any]:
    return maybe(
        st.fixed_dictionaries(
            {},
            optional={
                "reference": st.sampled_from([f"{target}/{PATIENT_ID}", f"{target}/other", "#med", "", "Medication/m1"]),
                "display": st.text(max_size=20),
            },
        )
    )


def _values() -> dict[str, st.SearchStrategy[Any]]:
    """The value[x] choices of an Observation or component (more than one may appear: invalid, on purpose)."""
    return {
        "valueQuantity": quantities(),
        "valueCodeableConcept": concepts(),
        "valueString": maybe(st.one_of(st.sampled_from(VALUE_TEXTS), st.text(max_size=30), huge_strings())),
        "valueBoolean": maybe(st.booleans()),
        "valueInteger": maybe(st.integers()),
        "valueRatio": maybe(st.fixed_dictionaries({}, optional={"numerator": quantities(), "denominator": quantities()})),
        "valueRange": maybe(st.fixed_dictionaries({}, optional={"low": quantities(), "high": quantities()})),
        "valueDateTime": dates(),
    }


@cache
def _one_value() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(*(st.fixed_dictionaries({name: value}) for name, value in _values().items()), st.just({}))


def _common() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "id": maybe(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=64)),
        "meta": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "profile": maybe(
                        st.lists(
                            st.sampled_from(knowledge().raw["codes"].get("secondary_cancer_profiles", []) + ["urn:junk"]),
                            max_size=2,
                        )
                    )
                },
            )
        ),
        "extension": maybe(extensions()),
        "text": maybe(
            st.fixed_dictionaries(
                {"status": st.just("generated"), "div": st.just('<div xmlns="http://www.w3.org/1999/xhtml">x</div>')}
            )
        ),
    }


def _resource(
    resource_type: str, required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    common = {name: value for name, value in _common().items() if name not in required}
    return st.fixed_dictionaries({"resourceType": st.just(resource_type), **required}, optional={**common, **optional})


@cache
def observations() -> st.SearchStrategy[Any]:
    component = st.builds(lambda code, value: {"code": code, **value}, concepts(), _one_value())
    base = _resource(
        "Observation",
        {
            "code": concepts(),
            "status": maybe(st.sampled_from(["final", "amended", "corrected", "preliminary", "cancelled", "entered-in-error"])),
        },
        {
            "subject": references(),
            "effectiveDateTime": dates(),
            "effectivePeriod": periods(),
            "issued": dates(),
            "effectiveInstant": dates(),
            "specimen": maybe(st.fixed_dictionaries({"reference": maybe(st.sampled_from(["#spec", "Specimen/s1", ""]))})),
            "contained": maybe(st.lists(specimens(), max_size=2)),
            "component": maybe(st.lists(component, max_size=3)),
            "interpretation": maybe(st.lists(concepts(), max_size=2)),
        },
    )
    return st.builds(lambda observation, value: {**observation, **value}, base, _one_value())


@cache
def specimens() -> st.SearchStrategy[Any]:
    """A contained Specimen whose collection date stands in for an Observation's missing date."""
    collection = maybe(st.fixed_dictionaries({}, optional={"collectedDateTime": dates(), "collectedPeriod": periods()}))
    return st.fixed_dictionaries(
        {"resourceType": maybe(st.just("Specimen")), "id": maybe(st.just("spec"))}, optional={"collection": collection}
    )


def _coded_extensions(*urls: str) -> st.SearchStrategy[Any]:
    """Extensions the read layer looks into (mCODE morphology, treatment intent), right and wrong typed."""
    return maybe(
        st.lists(
            st.fixed_dictionaries(
                {"url": st.sampled_from([*urls, "urn:junk"])}, optional={"valueCodeableConcept": concepts()}
            ),
            max_size=2,
        )
    )


MORPHOLOGY_URL = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
INTENT_URLS = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-procedure-intent",
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-treatment-intent",
)


@cache
def conditions() -> st.SearchStrategy[Any]:
    statuses = st.fixed_dictionaries(
        {
            "coding": st.lists(
                st.fixed_dictionaries(
                    {
                        "system": st.just("http://terminology.hl7.org/CodeSystem/condition-ver-status"),
                        "code": st.sampled_from(["confirmed", "provisional", "refuted", "entered-in-error", "junk"]),
                    }
                ),
                max_size=2,
            )
        }
    )
    return _resource(
        "Condition",
        {"code": concepts()},
        {
            "subject": references(),
            "verificationStatus": maybe(statuses),
            "clinicalStatus": concepts(),
            "onsetDateTime": dates(),
            "onsetPeriod": periods(),
            "onsetString": maybe(st.text(max_size=10)),
            "recordedDate": dates(),
            "stage": maybe(st.lists(st.fixed_dictionaries({}, optional={"summary": concepts(), "type": concepts()}), max_size=2)),
            "bodySite": maybe(st.lists(concepts(), max_size=2)),
            "extension": _coded_extensions(MORPHOLOGY_URL),
        },
    )


@cache
def medications() -> st.SearchStrategy[Any]:
    return _resource("Medication", {"code": concepts()}, {})


@cache
def medication_records(resource_type: str) -> st.SearchStrategy[Any]:
    statuses = [
        "active",
        "completed",
        "stopped",
        "on-hold",
        "in-progress",
        "entered-in-error",
        "not-taken",
        "intended",
        "cancelled",
        "draft",
        "not-done",
        "unknown",
        "junk",
    ]
    optional: dict[str, st.SearchStrategy[Any]] = {
        "medicationCodeableConcept": concepts(),
        "medicationReference": references("Medication"),
        "contained": maybe(st.lists(medications().map(lambda m: {**m, "id": "med"}), max_size=1)),
        "statusReason": maybe(st.one_of(concepts(), st.lists(concepts(), max_size=2))),
        "subject": references(),
        "effectiveDateTime": dates(),
        "effectivePeriod": periods(),
        "extension": _coded_extensions(*INTENT_URLS),
        "reasonCode": maybe(st.lists(concepts(), max_size=2)),
        "reasonReference": maybe(st.lists(references("Condition"), max_size=2)),
    }
    if resource_type == "MedicationRequest":
        bounds = st.fixed_dictionaries(
            {"timing": st.fixed_dictionaries({"repeat": st.fixed_dictionaries({"boundsPeriod": periods()})})}
        )
        optional |= {
            "intent": maybe(st.sampled_from(["order", "plan", "proposal", "original-order", "junk"])),
            "authoredOn": dates(),
            "dosageInstruction": maybe(st.lists(maybe(bounds), max_size=2)),
            "dispenseRequest": maybe(st.fixed_dictionaries({}, optional={"validityPeriod": periods()})),
        }
    return _resource(resource_type, {"status": maybe(st.sampled_from(statuses))}, optional)


@cache
def patients() -> st.SearchStrategy[Any]:
    return _resource(
        "Patient",
        {"id": st.just(PATIENT_ID)},
        {
            "birthDate": dates(),
            "gender": maybe(st.sampled_from(["female", "male", "other", "unknown"])),
            "deceasedBoolean": maybe(st.booleans()),
            "deceasedDateTime": dates(),
        },
    )


@cache
def fhir_resources() -> st.SearchStrategy[Any]:
    """One resource of a type the service reads, or a resource with the wrong ``resourceType``, or any JSON."""
    typed = st.one_of(
        observations(),
        conditions(),
        medication_records("MedicationStatement"),
        medication_records("MedicationRequest"),
        medication_records("MedicationAdministration"),
        medications(),
        patients(),
    )
    mislabelled = st.builds(
        lambda resource, resource_type: {**resource, "resourceType": resource_type},
        typed,
        st.one_of(st.sampled_from(RESOURCE_TYPES + ["Bundle", "OperationOutcome", "observation", ""]), json_scalars()),
    )
    return st.one_of(typed, typed, typed, typed, mislabelled, json_values(6))


PREFETCH_KEYS = [
    "patient",
    "conditions",
    "receptors",
    "cardiac",
    "liverLabs",
    "diseaseStatus",
    "stagingSnomed",
    "medicationStatements",
    "medicationRequests",
    "medicationAdministrations",
    "medicationDispenses",
    "pregnancyStatus",
]
REQUIRED_KEYS = ["conditions", "receptors"]
OPERATION_OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]}


@cache
def bundles() -> st.SearchStrategy[Any]:
    """Search Bundles as an EHR prefetches them: entries of every kind, odd entries, a ``next`` link, a wrong type."""
    entry = st.one_of(
        fhir_resources().map(lambda resource: {"fullUrl": "urn:uuid:x", "resource": resource}),
        st.just({"resource": OPERATION_OUTCOME, "search": {"mode": "outcome"}}),
        json_values(3),
    )
    return st.fixed_dictionaries(
        {"resourceType": st.just("Bundle")},
        optional={
            "type": maybe(st.sampled_from(["searchset", "collection", "transaction", "history"])),
            "total": maybe(st.integers(0, 1000)),
            "entry": maybe(st.lists(entry, max_size=5)),
            "link": maybe(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "relation": st.sampled_from(["self", "next"]),
                            "url": st.sampled_from(["http://127.0.0.1:9/fhir/Observation?page=2", "", "junk"]),
                        }
                    ),
                    max_size=2,
                )
            ),
        },
    )


@cache
def prefetch_values() -> st.SearchStrategy[Any]:
    """One prefetch key's value: mostly a Bundle, else one resource, ``null``, a failed prefetch or junk."""
    return st.one_of(bundles(), bundles(), bundles(), fhir_resources(), st.none(), st.just(OPERATION_OUTCOME), json_values(3))


@cache
def hook_requests(hook: str) -> st.SearchStrategy[dict[str, Any]]:
    """A CDS Hooks request of ``hook`` with a random prefetch (some keys absent) and, for order hooks, random draft orders."""
    context: dict[str, st.SearchStrategy[Any]] = {"patientId": st.just(PATIENT_ID), "userId": st.just("Practitioner/x")}
    if hook in ("order-select", "order-sign"):
        drafts = st.lists(st.one_of(medication_records("MedicationRequest"), fhir_resources()), max_size=3)
        context["draftOrders"] = st.one_of(
            drafts.map(lambda items: {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in items]}),
            json_values(3),
        )
        if hook == "order-select":
            context["selections"] = maybe(st.lists(st.sampled_from(["MedicationRequest/draft", "junk"]), max_size=2))
    return st.fixed_dictionaries(
        {
            "hook": st.just(hook),
            "hookInstance": st.uuids().map(str),
            "context": st.fixed_dictionaries(context),
            "prefetch": st.fixed_dictionaries(
                # The keys without which the service answers 412 are there (mostly as Bundles) so that most
                # examples reach the rules; any other key may be absent.
                {key: st.one_of(bundles(), bundles(), bundles(), prefetch_values()) for key in REQUIRED_KEYS},
                optional={key: prefetch_values() for key in PREFETCH_KEYS if key not in REQUIRED_KEYS},
            ),
        }
    )
