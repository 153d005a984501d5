"""openapi.yaml: a valid OpenAPI 3.1 document that states the assessment contract and that the app keeps.

- openapi-spec-validator accepts the document (and rejects a broken copy of it);
- ``components/schemas/Assessment`` is the shared contract: the same schema as
  ``service/contract/assessment.schema.json``, itself a byte-for-byte copy of ``../shared/contract/``;
- every route of the app is described, and nothing else;
- real responses of the app (discovery, patient-view, order-select/order-sign, feedback, health and the
  error cases) validate against the schema the document declares for their path, method, status and
  Content-Type, and the cards keep the CDS Hooks rules of ``tests/cards.py``;
- the schemas and the card checker reject broken cards (so these tests can fail).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate as validate_spec
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from service import create_app
from tests.cards import ASSESSMENT_KEY, card_problems, response_problems

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "openapi.yaml"
CONTRACT = ROOT / "service" / "contract" / "assessment.schema.json"
SHARED_CONTRACT = ROOT.parent / "shared" / "contract" / "assessment.schema.json"
BASE_URI = "https://her2-cds.invalid/openapi.yaml"
GUIDANCE = "/cds-services/her2-mbc-guidance"
ORDER_CHECK = "/cds-services/her2-mbc-order-check"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


# -- the document --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def registry(spec: dict[str, Any]) -> Registry:
    return Registry().with_resource(BASE_URI, DRAFT202012.create_resource(spec))


def pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def lookup(spec: dict[str, Any], pointer: str) -> Any:
    node: Any = spec
    for token in pointer.lstrip("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def schema_validator(spec: dict[str, Any], registry: Registry, pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` in the document; its ``$ref``s resolve in the document."""
    lookup(spec, pointer)  # KeyError here = the document has no such schema
    return Draft202012Validator(
        {"$ref": f"{BASE_URI}#{pointer}"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def component(spec: dict[str, Any], registry: Registry, name: str) -> Draft202012Validator:
    return schema_validator(spec, registry, f"/components/schemas/{name}")


def response_schema_pointer(spec: dict[str, Any], path: str, method: str, status: int, media_type: str) -> str:
    """Where the document declares the body schema of this response; fails when it declares none."""
    operation_pointer = f"/paths/{pointer_escape(path)}/{method}"
    responses = lookup(spec, operation_pointer)["responses"]
    assert str(status) in responses, f"{method.upper()} {path}: status {status} is not declared in openapi.yaml"
    pointer = f"{operation_pointer}/responses/{status}"
    response = responses[str(status)]
    while "$ref" in response:
        pointer = response["$ref"].removeprefix("#")
        response = lookup(spec, pointer)
    content = response.get("content", {})
    assert media_type in content, f"{method.upper()} {path} {status}: Content-Type {media_type} is not declared ({list(content)})"
    return f"{pointer}/content/{pointer_escape(media_type)}/schema"


def schema_errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [
        f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


class Conformance:
    """Checks a test-client response against openapi.yaml: status and Content-Type declared, body valid."""

    def __init__(self, spec: dict[str, Any], registry: Registry) -> None:
        self.spec = spec
        self.registry = registry

    def __call__(self, response: Any, path: str, method: str, expected_status: int) -> Any:
        assert response.status_code == expected_status, response.get_data(as_text=True)[:1000]
        pointer = response_schema_pointer(self.spec, path, method, response.status_code, response.mimetype)
        body = json.loads(response.get_data())
        errors = schema_errors(schema_validator(self.spec, self.registry, pointer), body)
        assert not errors, f"{method.upper()} {path} {response.status_code} does not match openapi.yaml:\n" + "\n".join(errors)
        return body


@pytest.fixture()
def conforms(spec: dict[str, Any], registry: Registry) -> Conformance:
    return Conformance(spec, registry)


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    validate_spec(spec)


def test_the_spec_validator_rejects_a_broken_document(spec):
    dangling = copy.deepcopy(spec)
    dangling["components"]["schemas"]["Card"]["properties"]["source"]["$ref"] = "#/components/schemas/NoSuchSchema"
    with pytest.raises(Exception, match="NoSuchSchema"):
        validate_spec(dangling)
    wrong_type = copy.deepcopy(spec)
    wrong_type["paths"]["/healthz"]["get"]["responses"] = "200"
    with pytest.raises(Exception):  # noqa: B017 - any validation error will do
        validate_spec(wrong_type)


def test_every_route_of_the_app_is_described_and_nothing_else(spec, tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path}/fb.sqlite3", "evaluation_date": "2026-06-01"})
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("sandbox."):
            continue  # the sandbox page is a development tool, not part of the CDS Hooks API
        path = rule.rule.replace("<service_id>", "{id}").replace("<path:filename>", "{filename}")
        routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    described = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
    }
    assert described == routes


def test_every_schema_is_valid_2020_12_and_every_ref_resolves(spec, registry):
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(spec)
    resolver = registry.resolver(base_uri=BASE_URI)
    for ref in sorted(set(refs)):
        assert ref.startswith("#/"), f"{ref}: openapi.yaml refers only inside itself"
        assert resolver.lookup(ref).contents is not None, ref
    assert "#/components/schemas/Assessment/$defs/agent" in refs


def test_the_examples_in_the_document_match_their_schemas(spec, registry):
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            for media_type, media in operation["requestBody"]["content"].items():
                pointer = f"/paths/{pointer_escape(path)}/{method}/requestBody/content/{pointer_escape(media_type)}/schema"
                validator = schema_validator(spec, registry, pointer)
                for name, example in media.get("examples", {}).items():
                    assert schema_errors(validator, example["value"]) == [], f"{path} example {name}"
                    checked += 1
    assert checked >= 4


# -- the assessment contract ---------------------------------------------------------------------
def contract_as_component(contract: dict[str, Any]) -> dict[str, Any]:
    """The contract as it must read inside openapi.yaml: no $schema/$id, $defs refs through the document."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: value.replace("#/$defs/", "#/components/schemas/Assessment/$defs/") if key == "$ref" else rewrite(value)
                for key, value in node.items()
                if key not in ("$schema", "$id")
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    return dict(rewrite(contract))


def test_the_project_contract_is_the_shared_contract():
    if not SHARED_CONTRACT.exists():
        pytest.skip(f"{SHARED_CONTRACT} is not beside the repository")
    assert CONTRACT.read_bytes() == SHARED_CONTRACT.read_bytes(), (
        "service/contract/assessment.schema.json differs from ../shared/contract/assessment.schema.json: copy it again"
    )


def test_the_assessment_component_is_the_contract(spec):
    contract = json.loads(CONTRACT.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(contract)
    assert contract["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert spec["components"]["schemas"]["Assessment"] == contract_as_component(contract)
    card_extension = spec["components"]["schemas"]["CardExtension"]["properties"]
    assert card_extension[ASSESSMENT_KEY] == {"$ref": "#/components/schemas/Assessment"}


ASSESSMENTS = [
    {
        "version": "1",
        "breastCancer": True,
        "metastatic": False,
        "her2": "unknown",
        "hormoneReceptor": "unknown",
        "lineOfTherapy": {"current": 0, "status": "naive"},
    },
    {
        "version": "1",
        "breastCancer": True,
        "metastatic": True,
        "metastaticSites": ["brain", "liver"],
        "her2": "positive",
        "hormoneReceptor": "positive",
        "lineOfTherapy": {
            "current": 1,
            "status": "progressed",
            "earlyRelapse": False,
            "history": [
                {
                    "line": 1,
                    "agents": ["docetaxel", "pertuzumab", "trastuzumab"],
                    "start": "2024-02-01",
                    "end": "2025-03-01",
                    "endReason": "progression",
                }
            ],
        },
        "recommendedLine": 2,
        "recommendedRegimens": [
            {"id": "trastuzumab-deruxtecan", "preferred": True},
            {"id": "clinical-trial", "preferred": False},
        ],
        "alerts": ["brain-metastases", "lvef-monitoring-overdue"],
    },
]
BROKEN_ASSESSMENTS = [
    {
        "version": "2",
        "metastatic": False,
        "her2": "unknown",
        "hormoneReceptor": "unknown",
        "lineOfTherapy": {"current": 0, "status": "naive"},
    },
    {
        "version": "1",
        "metastatic": False,
        "her2": "3+",
        "hormoneReceptor": "unknown",
        "lineOfTherapy": {"current": 0, "status": "naive"},
    },
    {"version": "1", "metastatic": False, "her2": "zero", "hormoneReceptor": "unknown", "lineOfTherapy": {"current": 0}},
    {
        "version": "1",
        "metastatic": False,
        "her2": "zero",
        "hormoneReceptor": "unknown",
        "lineOfTherapy": {"current": 0, "status": "naive"},
        "alerts": None,
    },
    {
        "version": "1",
        "metastatic": True,
        "her2": "positive",
        "hormoneReceptor": "negative",
        "lineOfTherapy": {
            "current": 1,
            "status": "on-treatment",
            "history": [{"line": 1, "agents": ["herceptin"], "start": "2024-02-01"}],
        },
    },
    {
        "version": "1",
        "metastatic": True,
        "her2": "positive",
        "hormoneReceptor": "negative",
        "lineOfTherapy": {
            "current": 1,
            "status": "on-treatment",
            "history": [{"line": 1, "agents": ["trastuzumab"], "start": "1 Feb 2024"}],
        },
    },
    {
        "version": "1",
        "metastatic": True,
        "her2": "positive",
        "hormoneReceptor": "negative",
        "lineOfTherapy": {"current": 0, "status": "naive"},
        "recommendedRegimens": [{"id": "thp", "preferred": True}],
    },
]


@pytest.mark.parametrize("index", range(len(ASSESSMENTS)))
def test_contract_and_component_accept_the_same_assessments(spec, registry, index):
    contract = Draft202012Validator(json.loads(CONTRACT.read_text(encoding="utf-8")))
    assert schema_errors(contract, ASSESSMENTS[index]) == []
    assert schema_errors(component(spec, registry, "Assessment"), ASSESSMENTS[index]) == []


@pytest.mark.parametrize("index", range(len(BROKEN_ASSESSMENTS)))
def test_contract_and_component_reject_the_same_broken_assessments(spec, registry, index):
    contract = Draft202012Validator(json.loads(CONTRACT.read_text(encoding="utf-8")))
    assert schema_errors(contract, BROKEN_ASSESSMENTS[index]) != []
    assert schema_errors(component(spec, registry, "Assessment"), BROKEN_ASSESSMENTS[index]) != []


# -- a small patient, its prefetch ---------------------------------------------------------------
def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def small_patient(her2_text: str = "3+", patient_id: str = "oa1") -> list[dict[str, Any]]:
    """HER2 IHC ``her2_text``, breast cancer since 2023, liver metastases since 2026-02."""
    subject = {"reference": f"Patient/{patient_id}"}
    return [
        {"resourceType": "Patient", "id": patient_id, "gender": "female", "birthDate": "1970-05-17"},
        {
            "resourceType": "Condition",
            "id": f"{patient_id}-breast",
            "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")]},
            "code": {"coding": [coding(SNOMED, "254837009", "Malignant neoplasm of breast")]},
            "subject": subject,
            "onsetDateTime": "2023-03-02",
            "recordedDate": "2023-03-05",
        },
        {
            "resourceType": "Condition",
            "id": f"{patient_id}-liver",
            "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")]},
            "code": {"coding": [coding(SNOMED, "94381002", "Secondary malignant neoplasm of liver")]},
            "subject": subject,
            "onsetDateTime": "2026-02-10",
            "recordedDate": "2026-02-12",
        },
        {
            "resourceType": "Observation",
            "id": f"{patient_id}-her2",
            "status": "final",
            "code": {"coding": [coding(LOINC, "85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain")]},
            "subject": subject,
            "effectiveDateTime": "2026-02-20",
            "issued": "2026-02-21T09:30:00Z",
            "valueCodeableConcept": {"text": her2_text},
        },
    ]


def with_recent_lvef(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The patient plus a normal LVEF a month before the evaluation date (2026-06-01): a HER2 drug
    may start without the order check asking for an echocardiogram."""
    patient_id = resources[0]["id"]
    lvef = {
        "resourceType": "Observation",
        "id": f"{patient_id}-lvef",
        "status": "final",
        "code": {"coding": [coding(LOINC, "10230-1", "Left ventricular Ejection fraction")]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-05-01",
        "valueQuantity": {"value": 60, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }
    return [*resources, lvef]


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"http://ehr.invalid/fhir/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


def prefetch_of(templates: dict[str, str], resources: list[dict[str, Any]]) -> dict[str, Any]:
    """What an EHR would prefetch: each template (from discovery) run over ``resources``."""
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        resource_type, _, query = template.partition("?")
        if "/" in resource_type:  # an instance read: Patient/{{context.patientId}}
            resource_type = resource_type.split("/")[0]
            prefetch[key] = next(r for r in resources if r["resourceType"] == resource_type)
            continue
        params = dict(part.split("=", 1) for part in query.split("&") if part)
        wanted = set(params["code"].split(",")) if "code" in params else None
        matches = [
            r
            for r in resources
            if r["resourceType"] == resource_type
            and (wanted is None or any(f"{c['system']}|{c['code']}" in wanted for c in r.get("code", {}).get("coding", [])))
        ]
        prefetch[key] = searchset(matches)
    return prefetch


@pytest.fixture()
def app(tmp_path: Path):
    return create_app({"database_url": f"sqlite:///{tmp_path}/fb.sqlite3", "evaluation_date": "2026-06-01"})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def templates(client, conforms) -> dict[str, str]:
    services = conforms(client.get("/cds-services"), "/cds-services", "get", 200)["services"]
    return dict(next(s for s in services if s["hook"] == "patient-view")["prefetch"])


def draft_order(medication_text: str, order_id: str = "draft-1", patient_id: str = "oa1") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": order_id,
                    "status": "draft",
                    "intent": "order",
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "authoredOn": "2026-06-01",
                    "medicationCodeableConcept": {"text": medication_text},
                }
            }
        ],
    }


# -- real responses ------------------------------------------------------------------------------
def test_discovery_conforms(client, conforms):
    body = conforms(client.get("/cds-services"), "/cds-services", "get", 200)
    assert {(s["id"], s["hook"]) for s in body["services"]} == {
        ("her2-mbc-guidance", "patient-view"),
        ("her2-mbc-order-check", "order-select"),
        ("her2-mbc-order-check", "order-sign"),
    }


def test_patient_view_with_prefetch_conforms(client, conforms, templates):
    request = {
        "hook": "patient-view",
        "hookInstance": "2f0b7c84-0c55-4e63-9a55-3a2f3f0f8a01",
        "context": {"patientId": "oa1", "userId": "Practitioner/example"},
        "prefetch": prefetch_of(templates, small_patient()),
        "extension": {"com.example.ehr": {"trace": "x"}},  # unknown extensions are accepted
    }
    body = conforms(client.post(GUIDANCE, json=request), "/cds-services/{id}", "post", 200)
    assert response_problems(body, "patient-view") == []
    assessment = body["cards"][0]["extension"][ASSESSMENT_KEY]
    assert assessment["her2"] == "positive"
    assert assessment["metastatic"] is True
    assert assessment["metastaticSites"] == ["liver"]
    assert assessment["lineOfTherapy"]["status"] == "naive"


@pytest.mark.parametrize("her2_text", ["3+", "0", "2+"])
def test_patient_view_answers_conform_whatever_the_her2_result(client, conforms, templates, her2_text):
    request = {
        "hook": "patient-view",
        "hookInstance": f"her2-{her2_text}",
        "context": {"patientId": "oa1"},
        "prefetch": prefetch_of(templates, small_patient(her2_text)),
    }
    body = conforms(client.post(GUIDANCE, json=request), "/cds-services/{id}", "post", 200)
    assert response_problems(body, "patient-view") == []


@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
def test_order_hook_without_findings_conforms(client, conforms, templates, hook):
    """HER2-positive patient with a recent normal LVEF, nothing given yet: a draft T-DXd order raises no card."""
    context: dict[str, Any] = {"patientId": "oa1", "userId": "Practitioner/example", "draftOrders": draft_order("Enhertu")}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/draft-1"]
    prefetch = prefetch_of(templates, with_recent_lvef(small_patient()))
    request = {"hook": hook, "hookInstance": f"{hook}-1", "context": context, "prefetch": prefetch}
    body = conforms(client.post(ORDER_CHECK, json=request), "/cds-services/{id}", "post", 200)
    assert response_problems(body, hook) == []
    assert body["cards"] == []


@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
def test_order_hook_warning_card_conforms(client, templates, spec, registry, hook):
    """HER2 IHC 0 and a draft trastuzumab order: a warning card with a 'remove the draft' suggestion."""
    context: dict[str, Any] = {"patientId": "oa1", "userId": "Practitioner/example", "draftOrders": draft_order("Herceptin")}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/draft-1"]
    request = {
        "hook": hook,
        "hookInstance": f"{hook}-2",
        "context": context,
        "prefetch": prefetch_of(templates, with_recent_lvef(small_patient("0"))),
    }
    response = client.post(ORDER_CHECK, json=request)
    assert response.status_code == 200
    body = response.json
    assert [card["indicator"] for card in body["cards"]] == ["warning"], body
    assert body["cards"][0]["suggestions"][0]["actions"][0]["type"] == "delete"
    pointer = response_schema_pointer(spec, "/cds-services/{id}", "post", 200, response.mimetype)
    problems = schema_errors(schema_validator(spec, registry, pointer), body) + response_problems(body, hook)
    assert not problems, "\n".join(
        ["the order card breaks openapi.yaml / CDS Hooks 2.0:", *problems, json.dumps(body["cards"][0])]
    )


def test_feedback_conforms_and_the_documented_examples_are_accepted(client, app, conforms, spec):
    examples = spec["paths"]["/cds-services/{id}/feedback"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    cards = {item["card"] for example in examples.values() for item in example["value"]["feedback"]}
    conforms(client.post(f"{GUIDANCE}/feedback", json=examples["accepted"]["value"]), "/cds-services/{id}/feedback", "post", 404)
    # The examples' cards, issued to the development client as a hook answer records them.
    issued = {card: "summary" for card in cards}
    records = [{"uuid": card, "indicator": "info"} for card in cards]
    app.extensions["her2cds"].issued.record(records, issued, "development", "her2-mbc-guidance", "patient-view")
    for example in examples.values():
        body = conforms(client.post(f"{GUIDANCE}/feedback", json=example["value"]), "/cds-services/{id}/feedback", "post", 200)
        assert body == {}
    conforms(
        client.post(f"{GUIDANCE}/feedback", json={"feedback": [{"card": "x", "outcome": "ignored"}]}),
        "/cds-services/{id}/feedback",
        "post",
        400,
    )
    conforms(
        client.post("/cds-services/no-such-service/feedback", json=examples["accepted"]["value"]),
        "/cds-services/{id}/feedback",
        "post",
        404,
    )
    conforms(
        client.post(f"{GUIDANCE}/feedback", data=b"feedback", content_type="text/plain"),
        "/cds-services/{id}/feedback",
        "post",
        415,
    )


def test_health_conforms(client, app, conforms, monkeypatch):
    assert conforms(client.get("/healthz"), "/healthz", "get", 200) == {"status": "ok", "database": "ok"}

    def database_down() -> bool:
        raise RuntimeError("database is down")

    monkeypatch.setattr(app.extensions["her2cds"].feedback, "ping", database_down)
    assert conforms(client.get("/healthz"), "/healthz", "get", 503) == {"status": "unavailable", "database": "down"}


ERROR_CASES = [
    ("malformed JSON", GUIDANCE, b'{"hook": "patient-view",', "application/json", 400),
    ("empty body", GUIDANCE, b"", "application/json", 400),
    ("not an object", GUIDANCE, b'["patient-view"]', "application/json", 400),
    ("wrong content type", GUIDANCE, b'{"hook": "patient-view"}', "text/plain", 415),
    ("form content type", GUIDANCE, b"hook=patient-view", "application/x-www-form-urlencoded", 415),
    ("missing context", GUIDANCE, b'{"hook": "patient-view", "hookInstance": "e1"}', "application/json", 400),
    (
        "missing patientId",
        GUIDANCE,
        b'{"hook": "patient-view", "hookInstance": "e1", "context": {"userId": "Practitioner/1"}}',
        "application/json",
        400,
    ),
    (
        "hook not offered",
        GUIDANCE,
        b'{"hook": "order-sign", "hookInstance": "e1", "context": {"patientId": "p1"}}',
        "application/json",
        400,
    ),
    (
        "unknown service id",
        "/cds-services/no-such-service",
        b'{"hook": "patient-view", "hookInstance": "e1", "context": {"patientId": "p1"}}',
        "application/json",
        404,
    ),
    (
        "no prefetch, no fhirServer",
        GUIDANCE,
        b'{"hook": "patient-view", "hookInstance": "e1", "context": {"patientId": "p1"}}',
        "application/json",
        412,
    ),
    (
        "fhirServer the service may not call",
        GUIDANCE,
        b'{"hook": "patient-view", "hookInstance": "e1", "context": {"patientId": "p1"}, "fhirServer": "https://ehr.example.org/fhir"}',
        "application/json",
        412,
    ),
]


@pytest.mark.parametrize(("case", "url", "data", "content_type", "status"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_responses_conform(client, conforms, case, url, data, content_type, status):
    body = conforms(client.post(url, data=data, content_type=content_type), "/cds-services/{id}", "post", status)
    assert body["resourceType"] == "OperationOutcome", case


def test_too_large_body_conforms(tmp_path, conforms):
    small = create_app({"database_url": f"sqlite:///{tmp_path}/fb.sqlite3", "max_body_bytes": 1000}).test_client()
    data = b'{"hook": "patient-view", "padding": "' + b"x" * 5000 + b'"}'
    conforms(small.post(GUIDANCE, data=data, content_type="application/json"), "/cds-services/{id}", "post", 413)
    conforms(
        small.post(f"{GUIDANCE}/feedback", data=data, content_type="application/json"), "/cds-services/{id}/feedback", "post", 413
    )


# -- the schemas and the checker can fail --------------------------------------------------------
GOOD_CARD: dict[str, Any] = {
    "uuid": "4b1f0c3e-8d1a-5f0e-9c1b-1a2b3c4d5e6f",
    "summary": "Consider trastuzumab deruxtecan (2nd line)",
    "indicator": "info",
    "detail": "**Options**",
    "source": {
        "label": "NCCN",
        "url": "https://www.nccn.org/",
        "topic": coding("urn:her2-cds:card-topic", "her2-mbc-guidance", "HER2+ MBC guidance"),
    },
    "suggestions": [
        {
            "label": "Order T-DXd",
            "uuid": "5c2f0c3e-8d1a-5f0e-9c1b-1a2b3c4d5e6f",
            "isRecommended": True,
            "actions": [
                {
                    "type": "create",
                    "description": "Draft order",
                    "resource": {"resourceType": "MedicationRequest", "status": "draft"},
                }
            ],
        },
        {
            "label": "Remove the draft",
            "uuid": "6d2f0c3e-8d1a-5f0e-9c1b-1a2b3c4d5e6f",
            "actions": [{"type": "delete", "description": "Remove draft", "resourceId": "MedicationRequest/draft-1"}],
        },
    ],
    "selectionBehavior": "at-most-one",
    "overrideReasons": [coding("urn:her2-cds:override-reason", "patient-declined", "Patient declined")],
    "links": [{"label": "Guideline", "url": "https://www.nccn.org/guidelines", "type": "absolute"}],
    "extension": {ASSESSMENT_KEY: ASSESSMENTS[1]},
}


def broken(path: str, value: Any) -> dict[str, Any]:
    """GOOD_CARD with the value at a dotted path replaced (``DELETE`` removes it)."""
    card = copy.deepcopy(GOOD_CARD)
    *parents, last = path.split(".")
    node: Any = card
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return card


DELETE = object()
BROKEN_CARDS = {
    "summary of 200 characters": broken("summary", "x" * 200),
    "summary of 140 characters": broken("summary", "x" * 140),
    "empty summary": broken("summary", ""),
    "no uuid": broken("uuid", DELETE),
    "indicator hard-stop": broken("indicator", "hard-stop"),
    "source without label": broken("source.label", DELETE),
    "null topic": broken("source.topic", None),
    "relative source url": broken("source.url", "/guidelines"),
    "suggestions without selectionBehavior": broken("selectionBehavior", DELETE),
    "selectionBehavior all": broken("selectionBehavior", "all"),
    "suggestion without uuid": broken("suggestions.0.uuid", DELETE),
    "suggestion without label": broken("suggestions.0.label", DELETE),
    "action type remove": broken("suggestions.0.actions.0.type", "remove"),
    "create without resource": broken("suggestions.0.actions.0.resource", DELETE),
    "delete with a list resourceId": broken("suggestions.1.actions.0.resourceId", ["MedicationRequest/draft-1"]),
    "delete without resourceId": broken("suggestions.1.actions.0.resourceId", DELETE),
    "empty suggestions": broken("suggestions", []),
    "override reason without display": broken("overrideReasons.0.display", DELETE),
    "link type external": broken("links.0.type", "external"),
    "link url not absolute": broken("links.0.url", "www.nccn.org"),
    "appContext on an absolute link": broken("links.0.appContext", "x=1"),
    "empty detail": broken("detail", ""),
    "null detail": broken("detail", None),
    "empty extension": broken("extension", {}),
    "unknown card field": broken("severity", "high"),
    "assessment off contract": broken(f"extension.{ASSESSMENT_KEY}.her2", "3+"),
}


def test_a_good_card_passes_both_checks(spec, registry):
    assert schema_errors(component(spec, registry, "Card"), GOOD_CARD) == []
    assert card_problems(GOOD_CARD, "patient-view") == []
    assert response_problems({"cards": [GOOD_CARD]}, "patient-view") == []


@pytest.mark.parametrize("name", list(BROKEN_CARDS))
def test_a_broken_card_fails_the_schema_and_the_checker(spec, registry, name):
    card = BROKEN_CARDS[name]
    assert schema_errors(component(spec, registry, "Card"), card) != [], f"openapi.yaml Card accepts: {name}"
    assert card_problems(card, "patient-view") != [], f"tests/cards.py accepts: {name}"


def test_a_summary_of_200_characters_is_rejected_with_a_reason(spec, registry):
    card = BROKEN_CARDS["summary of 200 characters"]
    with pytest.raises(ValidationError, match="is too long"):
        component(spec, registry, "Card").validate(card)
    assert card_problems(card, "patient-view") == ["card.summary: 200 characters (must be under 140)"]
    response = {"cards": [card]}
    pointer = response_schema_pointer(spec, "/cds-services/{id}", "post", 200, "application/json")
    assert schema_errors(schema_validator(spec, registry, pointer), response) != []


def test_response_level_rules(spec, registry):
    second = copy.deepcopy(GOOD_CARD)
    del second["extension"]
    assert response_problems({"cards": [GOOD_CARD, second]}, "patient-view") != []  # uuids used twice
    without_assessment = copy.deepcopy(GOOD_CARD)
    del without_assessment["extension"]
    assert any("her2-cds-assessment is missing" in p for p in response_problems({"cards": [without_assessment]}, "patient-view"))
    assert response_problems({"cards": [without_assessment]}, "order-sign") == []
    assert response_problems({"cards": []}, "patient-view") != []
    assert response_problems({"cards": []}, "order-sign") == []
    assert response_problems({}, "order-sign") != []
    hook_response = schema_validator(spec, registry, "/components/schemas/HookResponse")
    assert schema_errors(hook_response, {"cards": []}) == []
    assert schema_errors(hook_response, {"cards": None}) != []
    assert schema_errors(hook_response, {"cards": [], "extra": 1}) != []


def test_error_and_feedback_schemas_reject_wrong_bodies(spec, registry):
    outcome = component(spec, registry, "OperationOutcome")
    assert schema_errors(outcome, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}) == []
    assert schema_errors(outcome, {"resourceType": "OperationOutcome", "issue": []}) != []
    assert schema_errors(outcome, {"error": "bad request"}) != []
    assert schema_errors(component(spec, registry, "EmptyObject"), {"stored": 1}) != []
    assert schema_errors(component(spec, registry, "Health"), {"status": "ok"}) != []
    feedback = component(spec, registry, "FeedbackRequest")
    assert schema_errors(feedback, {"feedback": []}) != []
    assert (
        schema_errors(feedback, {"feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-06-01T10:00:00Z"}]})
        != []
    )
    hook_request = component(spec, registry, "HookRequest")
    assert (
        schema_errors(
            hook_request, {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p1"}, "anything": [1]}
        )
        == []
    )
    assert schema_errors(hook_request, {"hook": "patient-view", "hookInstance": "x", "context": {}}) != []
