"""The FHIR profiles under profiles/ on the HAPI FHIR test server.

Every StructureDefinition and ValueSet is PUT on the server, then ``$validate`` checks:

- every resource of every bundle under service/examples/ and tests/fixtures/scenarios/ against the profile that
  applies to it (decided by resource type and code, as service/normalise.py decides what it reads);
- every resource the service's card suggestions create (drafts from ``evaluate_bundle`` on those bundles, and every
  regimen drug and service the renderer can draft) against the draft profiles;
- that validation bites (resources that break a profile are rejected);
- the CapabilityStatement, the StructureDefinitions and the ValueSets themselves.

The server is offline and has no LOINC, SNOMED CT, RxNorm or ICD-10-CM content, and the mCODE / US Core packages
cannot be loaded: see ``OFFLINE_LIMITATIONS`` for the exact messages that this causes and that are not counted.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from service.cli import evaluate_bundle
from service.knowledge import Knowledge
from service.read.values import RECEPTOR_KINDS
from service.render import CardRenderer, prune

pytestmark = pytest.mark.hapi

ROOT = Path(__file__).resolve().parents[2]
PROFILE_DIR = ROOT / "profiles"
EXAMPLE_DIR = ROOT / "service" / "examples"
SCENARIO_DIR = ROOT / "tests" / "fixtures" / "scenarios"
SCENARIO_TABLE = ROOT / "tests" / "scenarios.yaml"
CANONICAL = "http://her2-cds.org/fhir/StructureDefinition/"
EVALUATION_DATE = date(2026, 6, 1)  # as the app fixture in tests/conftest.py
TIMEOUT = 120
VALIDATION_THREADS = 4
RACE_RETRIES = 3  # validator_race
RACE_LOCK = threading.Lock()
FHIR_JSON = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}

TUMOR_MARKER = CANONICAL + "her2cds-tumor-marker-test"
LVEF = CANONICAL + "her2cds-lvef"
DISEASE_STATUS = CANONICAL + "her2cds-cancer-disease-status"
PRIMARY_CONDITION = CANONICAL + "her2cds-primary-cancer-condition"
SECONDARY_CONDITION = CANONICAL + "her2cds-secondary-cancer-condition"
MEDICATION_REQUEST = CANONICAL + "her2cds-cancer-medication-request"
MEDICATION_ADMINISTRATION = CANONICAL + "her2cds-cancer-medication-administration"
MEDICATION_STATEMENT = CANONICAL + "her2cds-cancer-medication-statement"
DRAFT_MEDICATION_REQUEST = CANONICAL + "her2cds-draft-medication-request"
DRAFT_SERVICE_REQUEST = CANONICAL + "her2cds-draft-service-request"
# The kinds the read layer reads as tissue receptor results: the tumor-marker profile's codes.
TUMOR_MARKER_KINDS = set(RECEPTOR_KINDS)
LVEF_CODE = ("http://loinc.org", "10230-1")

# --- What an offline HAPI reports and why it is not counted --------------------------------------------------
# HAPI's validator (FhirInstanceValidator with the JPA server's validation support chain) knows the FHIR core
# code systems and UCUM, but it has no LOINC, SNOMED CT, RxNorm or ICD-10-CM content here (no terminology server,
# no network). For codes of those four systems it says it could not check them; with our extensible bindings these
# come as warnings (HAPI 8.8), but a stricter binding or another HAPI version may raise them to errors, and they say
# nothing about the resource. Only these exact messages, and only for these four systems, are not counted:
#   - "CodeSystem is unknown and can't be validated: <system> for '<system>#<code>'"
#   - "Unable to expand ValueSet because CodeSystem could not be found: <system>"
#       (a value set with an is-a filter on, or all of, a system HAPI does not have)
#   - "None of the codings provided are in the value set '...' (...), ... (codes = <system>#<code>[, ...])"
#       (follows from the previous one: membership of an unexpandable value set; only when every code listed is
#       from the four systems)
#   - "The value set references CodeSystem '<system>' which has status 'not-present'" (validating our ValueSets)
# The mCODE STU4 and US Core packages cannot be loaded (no network), so a resource that declares one of their profiles
# in meta.profile gets, as an ERROR, "Profile reference '<url>' has not been checked because it could not be found,
# and the validator is set to not fetch unknown profiles": not counted when <url> is under http://hl7.org/fhir/us/.
# Everything else of severity error or fatal fails the test (for example a wrong UCUM unit, which HAPI can check).
OFFLINE_SYSTEMS = (
    "http://loinc.org",
    "http://snomed.info/sct",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://hl7.org/fhir/sid/icd-10-cm",
)
_SYSTEM = "(?:" + "|".join(re.escape(s) for s in OFFLINE_SYSTEMS) + ")"
OFFLINE_LIMITATIONS = [
    re.compile(rf"^CodeSystem is unknown and can't be validated: (?P<s>{_SYSTEM}) for '(?P=s)#[^']*'$"),
    re.compile(rf"^Unable to expand ValueSet because CodeSystem could not be found: {_SYSTEM}(\|[^ ]*)?$"),
    re.compile(rf"^None of the codings provided are in the value set .* \(codes = {_SYSTEM}#[^,]*(, {_SYSTEM}#[^,]*)*\)$"),
    re.compile(rf"^The value set references CodeSystem '{_SYSTEM}' which has status 'not-present'$"),
    re.compile(
        r"^Profile reference 'http://hl7\.org/fhir/us/[^']+' has not been checked because it could not be found, "
        r"and the validator is set to not fetch unknown profiles$"
    ),
]


# --- HTTP --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fhir() -> Iterator[requests.Session]:
    session = requests.Session()
    session.headers.update(FHIR_JSON)
    yield session
    session.close()


def conformance_resources() -> list[dict[str, Any]]:
    """Every JSON resource under profiles/ (StructureDefinitions, ValueSets, the CapabilityStatement)."""
    found = []
    for path in sorted(PROFILE_DIR.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        stem_id = path.stem.split("-", 1)[1]
        assert resource.get("id") == stem_id, f"{path.name}: id {resource.get('id')!r} is not the file stem {stem_id!r}"
        assert path.stem.startswith(resource["resourceType"] + "-"), path.name
        found.append(resource)
    return found


@pytest.fixture()
def profiles(hapi_base: str, fhir: requests.Session) -> dict[str, dict[str, Any]]:
    """PUT every profile and ValueSet (before each test: idempotent, and survives a server reset between tests)."""
    uploaded = {}
    resources = conformance_resources()
    # ValueSets before the StructureDefinitions that bind to them
    for resource in sorted(resources, key=lambda r: r["resourceType"] != "ValueSet"):
        if resource["resourceType"] not in ("ValueSet", "StructureDefinition"):
            continue
        response = fhir.put(f"{hapi_base}/{resource['resourceType']}/{resource['id']}", json=resource, timeout=TIMEOUT)
        assert response.status_code in (200, 201), f"PUT {resource['resourceType']}/{resource['id']}: {response.text[:2000]}"
        uploaded[resource["url"]] = resource
    return uploaded


def validate(hapi_base: str, fhir: requests.Session, resource: dict[str, Any], profile: str | None) -> list[dict[str, Any]]:
    """The OperationOutcome issues of ``$validate`` against ``profile``, or the core resource definition when None.

    The core definition is named explicitly: without any ``profile`` HAPI adds, for a meta.profile it cannot find, a
    second error ("Invalid profile. Failed to retrieve profile with url=...") next to the one tolerated above.
    """
    url = f"{hapi_base}/{resource['resourceType']}/$validate"
    profile = profile or f"http://hl7.org/fhir/StructureDefinition/{resource['resourceType']}"
    response = fhir.post(url, params={"profile": profile}, json=resource, timeout=TIMEOUT)
    for _ in range(RACE_RETRIES):
        if not validator_race(response):
            break
        with RACE_LOCK:  # asked again alone: the race needs two validations at once
            response = fhir.post(url, params={"profile": profile}, json=resource, timeout=TIMEOUT)
    outcome = response.json()
    assert outcome.get("resourceType") == "OperationOutcome", f"$validate answered {response.status_code}: {response.text[:2000]}"
    # HAPI answers 412 when the resource fails: the issues say why
    assert response.status_code in (200, 412), f"$validate answered {response.status_code}: {response.text[:2000]}"
    return list(outcome.get("issue") or [])


# HAPI's validator faults that come from validating in parallel, not from the resource: a 500 naming one of these.
VALIDATOR_RACES = (
    "java.util.ConcurrentModificationException",  # HAPI-0389, shared caches (hapifhir/hapi-fhir#5019, #6554, #8034)
    "HAPI-0707: Failed to generate snapshot",  # two threads building one profile's snapshot at once
)


def validator_race(response: requests.Response) -> bool:
    """HAPI's own thread-safety fault, not a verdict on the resource: a 500 naming one of ``VALIDATOR_RACES``.

    HAPI's validator shares cached StructureDefinitions, snapshots and code-validation results between requests and,
    validating in parallel, now and then fails inside itself. ``problems_of`` therefore validates against each
    profile once alone before it validates in parallel. Should one of these exact answers come even so (each was
    seen once in many CI runs, before that), it is asked again, alone, ``RACE_RETRIES`` times at most: a profile
    that really cannot be snapshotted fails alone too.
    """
    return response.status_code == 500 and any(race in response.text for race in VALIDATOR_RACES)


def problems_of(hapi_base: str, fhir: requests.Session, checks: list[tuple[str, dict[str, Any], str | None]]) -> list[str]:
    """Validate (label, resource, profile) triples; the counted errors, each prefixed by its label.

    The first check of each (resource type, profile) runs alone, so HAPI builds and caches that profile's snapshot
    with no other validation under way; the rest run a few at a time.
    """
    first: dict[tuple[str, str | None], int] = {}
    for index, (_, resource, profile) in enumerate(checks):
        first.setdefault((resource["resourceType"], profile), index)
    outcomes: dict[int, list[dict[str, Any]]] = {}
    for index in first.values():
        outcomes[index] = validate(hapi_base, fhir, checks[index][1], checks[index][2])
    rest = [index for index in range(len(checks)) if index not in outcomes]
    with ThreadPoolExecutor(max_workers=VALIDATION_THREADS) as pool:
        outcomes.update(zip(rest, pool.map(lambda i: validate(hapi_base, fhir, checks[i][1], checks[i][2]), rest), strict=True))
    return [f"{checks[i][0]}: {line}" for i in range(len(checks)) for line in errors(outcomes[i])]


def offline_limitation(issue: dict[str, Any]) -> bool:
    message = str(issue.get("diagnostics") or "")
    return any(pattern.match(message) for pattern in OFFLINE_LIMITATIONS)


def errors(issues: list[dict[str, Any]]) -> list[str]:
    """Error and fatal issues that are not offline limitations, as readable lines."""
    return [
        f"{issue.get('severity')}: {', '.join(issue.get('expression') or issue.get('location') or ['?'])}: "
        f"{issue.get('diagnostics')}"
        for issue in issues
        if issue.get("severity") in ("error", "fatal") and not offline_limitation(issue)
    ]


# --- Which profile applies ---------------------------------------------------------------------------------------
def _codings(concept: Any) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [(str(c.get("system") or ""), str(c.get("code") or "")) for c in concept.get("coding") or [] if isinstance(c, dict)]


def profiles_for(resource: dict[str, Any], knowledge: Knowledge) -> list[str | None]:
    """The her2-cds profiles that apply to a resource of an EHR record; [None] (the base resource) when none does."""
    resource_type = resource.get("resourceType")
    codings = _codings(resource.get("code"))
    found: list[str | None] = []
    if resource_type == "Observation":
        kinds = {knowledge.observation_kind.get(coding) for coding in codings}
        if kinds & TUMOR_MARKER_KINDS:
            found.append(TUMOR_MARKER)
        if LVEF_CODE in codings:
            found.append(LVEF)
        if "disease-status" in kinds:
            found.append(DISEASE_STATUS)
    elif resource_type == "Condition":
        secondary_profiles = set(knowledge.raw["codes"].get("secondary_cancer_profiles", []))
        declared = set((resource.get("meta") or {}).get("profile") or [])
        if any(
            coding in knowledge.breast_cancer_codes
            or any(coding[0] == system and coding[1].startswith(prefix) for system, prefix in knowledge.breast_cancer_prefixes)
            for coding in codings
        ):
            found.append(PRIMARY_CONDITION)
        if declared & secondary_profiles or any(
            coding in knowledge.metastasis_codes
            or any(coding[0] == system and coding[1].startswith(prefix) for system, prefix, _ in knowledge.metastasis_prefixes)
            for coding in codings
        ):
            found.append(SECONDARY_CONDITION)
    elif resource_type == "MedicationRequest":
        drafted = resource.get("status") == "draft" and resource.get("intent") == "proposal"
        found.append(DRAFT_MEDICATION_REQUEST if drafted else MEDICATION_REQUEST)
    elif resource_type == "MedicationAdministration":
        found.append(MEDICATION_ADMINISTRATION)
    elif resource_type == "MedicationStatement":
        found.append(MEDICATION_STATEMENT)
    elif resource_type == "ServiceRequest" and resource.get("status") == "draft" and resource.get("intent") == "proposal":
        found.append(DRAFT_SERVICE_REQUEST)
    return found or [None]


# --- The bundles -------------------------------------------------------------------------------------------------
def bundle_files() -> list[Path]:
    return sorted(EXAMPLE_DIR.glob("*.json")) + sorted(SCENARIO_DIR.glob("*.json"))


def bundle_resources(path: Path) -> list[dict[str, Any]]:
    """The resources of every Bundle in a file (a Bundle, or a document holding Bundles, e.g. by prefetch key)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("resourceType") == "Bundle":
                for entry in node.get("entry") or []:
                    resource = entry.get("resource") if isinstance(entry, dict) else None
                    if isinstance(resource, dict):
                        if resource.get("resourceType") == "Bundle":
                            walk(resource)
                        else:
                            found.append(resource)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def evaluation_date(path: Path) -> date:
    """A scenario's own evaluation date (tests/scenarios.yaml `now`); the fixed date for the examples."""
    if path.parent == SCENARIO_DIR and SCENARIO_TABLE.exists():
        for item in yaml.safe_load(SCENARIO_TABLE.read_text(encoding="utf-8")) or []:
            if isinstance(item, dict) and Path(str(item.get("bundle", ""))).name == path.name and item.get("now"):
                return date.fromisoformat(str(item["now"]))
    return EVALUATION_DATE


def suggested_resources(response: dict[str, Any]) -> list[dict[str, Any]]:
    """cards[*].suggestions[*].actions[*].resource."""
    return [
        action["resource"]
        for card in response.get("cards") or []
        for suggestion in card.get("suggestions") or []
        for action in suggestion.get("actions") or []
        if isinstance(action.get("resource"), dict)
    ]


def draft_profile(resource: dict[str, Any]) -> str:
    drafts = {"MedicationRequest": DRAFT_MEDICATION_REQUEST, "ServiceRequest": DRAFT_SERVICE_REQUEST}
    profile = drafts.get(resource["resourceType"])
    assert profile, f"a suggestion creates a {resource['resourceType']}, which no draft profile covers"
    return profile


def _draft_label(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']} {json.dumps(resource.get('medicationCodeableConcept') or resource.get('code'))}"


def _label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


BUNDLE_FILES = bundle_files()


# --- Tests -------------------------------------------------------------------------------------------------------
def test_conformance_resources_are_complete():
    """The profiles, ValueSets and CapabilityStatement the service documents are all there and consistent."""
    resources = conformance_resources()
    urls = {r["url"] for r in resources}
    for profile in (
        TUMOR_MARKER,
        LVEF,
        DISEASE_STATUS,
        PRIMARY_CONDITION,
        SECONDARY_CONDITION,
        MEDICATION_REQUEST,
        MEDICATION_ADMINISTRATION,
        MEDICATION_STATEMENT,
        DRAFT_MEDICATION_REQUEST,
        DRAFT_SERVICE_REQUEST,
    ):
        assert profile in urls, f"missing profile {profile}"
    for resource in resources:
        if resource["resourceType"] != "StructureDefinition":
            continue
        assert resource["derivation"] == "constraint"
        assert resource["baseDefinition"] == f"http://hl7.org/fhir/StructureDefinition/{resource['type']}"
        assert resource["fhirVersion"] == "4.0.1"
        assert "mcode/STU4" in resource["description"], resource["id"]
        for element in resource["differential"]["element"]:
            value_set = (element.get("binding") or {}).get("valueSet")
            assert value_set is None or value_set.startswith("http://hl7.org/fhir/ValueSet/") or value_set in urls, value_set
    capability = next(r for r in resources if r["resourceType"] == "CapabilityStatement")
    for rest_resource in capability["rest"][0]["resource"]:
        for profile in rest_resource.get("supportedProfile", []):
            assert profile in urls, profile


def _value_set_codes(resource_id: str) -> set[tuple[str, str]]:
    value_set = next(r for r in conformance_resources() if r["resourceType"] == "ValueSet" and r["id"] == resource_id)
    found = set()
    for include in value_set["compose"]["include"]:
        found |= {(include["system"], concept["code"]) for concept in include.get("concept", [])}
        found |= {(include["system"], f"is-a {f['value']}") for f in include.get("filter", [])}
    return found


def test_value_sets_match_the_mappings(knowledge):
    """The ValueSets list the codes mappings/ gives the service, no more, no less (they are kept by hand)."""
    systems = knowledge.systems
    loinc = systems["loinc"]
    assert _value_set_codes("her2cds-tumor-marker-codes") == {
        (loinc, code) for kind in TUMOR_MARKER_KINDS for code in knowledge.codes_by_kind[kind]
    }
    assert _value_set_codes("her2cds-cancer-disease-status-values") == {
        (systems["snomed"], code) for code in knowledge.disease_status_by_code
    }
    assert _value_set_codes("her2cds-receptor-qualitative-results") == set(knowledge.answer_by_coding)
    assert _value_set_codes("her2cds-primary-breast-cancer-codes") == set(knowledge.breast_cancer_codes) | {
        (system, f"is-a {prefix}") for system, prefix in knowledge.breast_cancer_prefixes
    }
    assert _value_set_codes("her2cds-secondary-cancer-codes") == set(knowledge.metastasis_codes) | {
        (system, f"is-a {prefix}") for system, prefix, _ in knowledge.metastasis_prefixes
    } | {(systems["snomed"], "is-a 128462008")}
    assert _value_set_codes("her2cds-draft-service-request-codes") == {
        (systems[spec["system"]], spec["code"]) for spec in knowledge.cards["service_requests"].values()
    }


def test_the_capability_statement_names_every_prefetch_query(knowledge):
    """Each prefetch key's query, as mappings/services.yaml has it, is in the documentation of its resource
    type (it was once left at ``_count=200`` and without the SNOMED CT search); nothing else is named."""
    capability = next(r for r in conformance_resources() if r["resourceType"] == "CapabilityStatement")
    by_type = {entry["type"]: entry for entry in capability["rest"][0]["resource"]}
    best_effort = set(knowledge.services.get("best_effort_prefetch", []))
    keys_by_type: dict[str, set[str]] = {}
    for key, template in knowledge.services["prefetch"].items():
        resource_type = template.split("?")[0].split("/")[0]
        assert f"`{key}`: `{template}`" in by_type[resource_type]["documentation"], key
        keys_by_type.setdefault(resource_type, set()).add(key)
    for resource_type, keys in keys_by_type.items():
        # SHOULD only for a type every search of which is best effort (MedicationDispense); a best-effort
        # search of a type the service needs anyway (the pregnancy status Observation) says so in words.
        expectations = {e["valueCode"] for e in by_type[resource_type]["extension"]}
        assert expectations == ({"SHOULD"} if keys <= best_effort else {"SHALL"}), resource_type
        for key in keys & best_effort:
            if not keys <= best_effort:
                assert "best effort" in by_type[resource_type]["documentation"], key
    assert set(by_type) == set(keys_by_type) | {"Medication"}


def test_profiles_and_value_sets_validate(hapi_base, fhir, profiles):
    checks = [(f"{r['resourceType']}/{r['id']}", r, None) for r in profiles.values()]
    assert problems_of(hapi_base, fhir, checks) == []


def test_capability_statement_validates(hapi_base, fhir, profiles):
    capability = next(r for r in conformance_resources() if r["resourceType"] == "CapabilityStatement")
    assert errors(validate(hapi_base, fhir, capability, None)) == []
    response = fhir.put(f"{hapi_base}/CapabilityStatement/{capability['id']}", json=capability, timeout=TIMEOUT)
    assert response.status_code in (200, 201), response.text[:2000]


@pytest.mark.parametrize("path", BUNDLE_FILES, ids=[_label(p) for p in BUNDLE_FILES])
def test_bundle_resources_conform(path, hapi_base, fhir, profiles, knowledge):
    resources = bundle_resources(path)
    assert resources, f"{_label(path)} holds no Bundle entries"
    checks = [
        (f"{resource.get('resourceType')}/{resource.get('id', '?')} against {profile or 'the base resource'}", resource, profile)
        for resource in resources
        for profile in profiles_for(resource, knowledge)
    ]
    problems = problems_of(hapi_base, fhir, checks)
    assert problems == [], f"{_label(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", BUNDLE_FILES, ids=[_label(p) for p in BUNDLE_FILES])
def test_suggested_resources_conform(path, hapi_base, fhir, profiles):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in bundle_resources(path)]}
    drafts = suggested_resources(evaluate_bundle(bundle, "patient-view", evaluation_date(path)))
    problems = problems_of(hapi_base, fhir, [(_draft_label(r), r, draft_profile(r)) for r in drafts])
    assert problems == [], f"{_label(path)}:\n" + "\n".join(problems)


def test_every_draft_the_renderer_can_make_conforms(hapi_base, fhir, profiles, knowledge):
    """Not only the drafts the bundles happen to trigger: every drug of every regimen and every proposed service."""
    renderer = CardRenderer(knowledge)
    drafts = [
        renderer.draft_medication_request(agent, regimen_id, "00000000-0000-5000-8000-000000000000", "p1")
        for regimen_id, regimen in knowledge.regimens.items()
        for agent in regimen["agents"]
    ]
    drafts += [renderer.service_request(action, "p1", "reason") for action in knowledge.cards["service_requests"]]
    # CardRenderer.cards() prunes every card, suggestion resources included, before they leave the service; a drug
    # without an RxNorm code comes out of draft_medication_request() with "coding": [] (not valid FHIR) until then.
    drafts = [prune(draft) for draft in drafts]
    assert drafts
    assert problems_of(hapi_base, fhir, [(_draft_label(r), r, draft_profile(r)) for r in drafts]) == []


PATIENT = {"reference": "Patient/p1"}
DRAFT_MEDICATION: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "status": "draft",
    "intent": "proposal",
    "subject": PATIENT,
    "medicationCodeableConcept": {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "224905", "display": "trastuzumab"}],
        "text": "trastuzumab",
    },
    "groupIdentifier": {"system": "urn:her2-cds:regimen", "value": "thp:1"},
}
LVEF_OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "10230-1"}]},
    "subject": PATIENT,
    "effectiveDateTime": "2026-01-15",
    "valueQuantity": {"value": 55, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
}
TUMOR_MARKER_OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85319-2"}]},
    "subject": PATIENT,
    "effectiveDateTime": "2025-11-02",
    "valueString": "3+",
}
METASTASIS: dict[str, Any] = {
    "resourceType": "Condition",
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C78.7"}]},
    "subject": PATIENT,
    "onsetDateTime": "2025-10-01",
}


def _without(resource: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in keys}


NEGATIVE = [
    ("draft-medication-request-active", {**DRAFT_MEDICATION, "status": "active"}, DRAFT_MEDICATION_REQUEST, "fixed to 'draft'"),
    ("draft-medication-request-order", {**DRAFT_MEDICATION, "intent": "order"}, DRAFT_MEDICATION_REQUEST, "fixed to 'proposal'"),
    (
        "draft-medication-request-no-group",
        _without(DRAFT_MEDICATION, "groupIdentifier"),
        DRAFT_MEDICATION_REQUEST,
        "groupIdentifier: minimum required = 1",
    ),
    (
        "draft-medication-request-no-text",
        {**DRAFT_MEDICATION, "medicationCodeableConcept": {"coding": DRAFT_MEDICATION["medicationCodeableConcept"]["coding"]}},
        DRAFT_MEDICATION_REQUEST,
        "text: minimum required = 1",
    ),
    (
        "draft-service-request-no-code",
        {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal", "subject": PATIENT},
        DRAFT_SERVICE_REQUEST,
        "code: minimum required = 1",
    ),
    ("lvef-no-effective", _without(LVEF_OBSERVATION, "effectiveDateTime"), LVEF, "effective[x]: minimum required = 1"),
    ("lvef-fraction", {**LVEF_OBSERVATION, "valueQuantity": {"value": 0.55}}, LVEF, "her2cds-lvef-1"),
    (
        "lvef-other-code",
        {**LVEF_OBSERVATION, "code": {"coding": [{"system": "http://loinc.org", "code": "8806-2"}]}},
        LVEF,
        "10230-1",
    ),
    ("tumor-marker-no-subject", _without(TUMOR_MARKER_OBSERVATION, "subject"), TUMOR_MARKER, "subject: minimum required = 1"),
    (
        "tumor-marker-integer",
        {**_without(TUMOR_MARKER_OBSERVATION, "valueString"), "valueInteger": 3},
        TUMOR_MARKER,
        "valueInteger",
    ),
    ("metastasis-undated", _without(METASTASIS, "onsetDateTime"), SECONDARY_CONDITION, "her2cds-secondary-cancer-condition-1"),
]


@pytest.mark.parametrize(("resource", "profile", "expected"), [n[1:] for n in NEGATIVE], ids=[n[0] for n in NEGATIVE])
def test_validation_bites(resource, profile, expected, hapi_base, fhir, profiles):
    found = errors(validate(hapi_base, fhir, resource, profile))
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(
    ("resource", "profile"),
    [
        (DRAFT_MEDICATION, DRAFT_MEDICATION_REQUEST),
        (LVEF_OBSERVATION, LVEF),
        (TUMOR_MARKER_OBSERVATION, TUMOR_MARKER),
        (METASTASIS, SECONDARY_CONDITION),
    ],
    ids=["draft-medication-request", "lvef", "tumor-marker", "metastasis"],
)
def test_the_negative_cases_start_from_conforming_resources(resource, profile, hapi_base, fhir, profiles):
    """The controls: without the one change each negative case makes, the resource passes."""
    assert errors(validate(hapi_base, fhir, resource, profile)) == []


def test_offline_terminology_messages_are_the_ones_tolerated(hapi_base, fhir, profiles):
    """Codes of the four offline systems draw only the messages ``OFFLINE_LIMITATIONS`` names (if any at all)."""
    samples = [
        (TUMOR_MARKER_OBSERVATION, TUMOR_MARKER),
        (METASTASIS, SECONDARY_CONDITION),
        (DRAFT_MEDICATION, DRAFT_MEDICATION_REQUEST),
    ]
    for resource, profile in samples:
        for issue in validate(hapi_base, fhir, resource, profile):
            message = str(issue.get("diagnostics") or "")
            if any(system in message for system in OFFLINE_SYSTEMS):
                assert offline_limitation(issue), f"an offline-terminology message the tolerance does not know: {issue}"


def test_only_hapis_own_race_is_asked_again():
    """A resource that fails, or another server fault, is never retried away."""

    def answer(status: int, text: str) -> requests.Response:
        response = requests.Response()
        response.status_code, response._content = status, text.encode()  # noqa: SLF001 - a response built by hand
        return response

    race = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":'
    race += '"HAPI-0389: Failed to call access method: java.util.ConcurrentModificationException"}]}'
    assert validator_race(answer(500, race))
    snapshot = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":'
    snapshot += '"HAPI-0707: Failed to generate snapshot"}]}'
    assert validator_race(answer(500, snapshot))
    assert not validator_race(answer(412, snapshot))
    assert not validator_race(answer(412, race.replace("HAPI-0389", "profile")))
    assert not validator_race(answer(500, race.replace("ConcurrentModificationException", "NullPointerException")))
    assert not validator_race(answer(200, '{"resourceType":"OperationOutcome","issue":[]}'))
