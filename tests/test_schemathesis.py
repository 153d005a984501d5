"""Schemathesis against openapi.yaml on the running app: generated requests never give a 5xx, answers keep the spec.

A real werkzeug server (threaded, as ``her2-cds serve`` runs it) serves the app on a free loopback port:
once in development mode with the evaluation date fixed, once with a trusted CDS client configured. For
every operation in openapi.yaml schemathesis generates valid and invalid requests (the hypothesis
profile decides how many: ``HYPOTHESIS_PROFILE``, see tests/fhir_strategies.py) and checks each answer:

- no 5xx;
- the status code is one the operation documents;
- the Content-Type is one documented for that status;
- the body validates against the documented schema;
- the headers the document declares are there (``WWW-Authenticate`` on a 401);
- a method the path does not offer is a 405 with an ``Allow`` header;
- on the authenticated server, a request without valid credentials is refused (``ignored_auth``).

Two of schemathesis' checks are left out on purpose: ``positive_data_acceptance`` (a service answers
only its own hooks, a pairing of path and body the schema cannot state, so a schema-valid
``patient-view`` call to the order check is rightly a 400) and ``negative_data_rejection`` (requests
are read leniently, as openapi.yaml says: unknown fields and a ``null`` where a value may be absent are
accepted).

Requests are counted per server, and the test of the counts runs last, so the "hundreds of requests"
claim is checked, not assumed. Generated bodies are far smaller than the body limit; the 413 path is
covered by tests/test_openapi.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from werkzeug.serving import make_server

from service import create_app
from tests.fhir_strategies import PATIENT_ID  # noqa: F401 - loads the hypothesis profile
from tests.tokens import ISSUER, jwks, signing_key

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    unsupported_method,
    allow_header_conformance,
    missing_required_header,
    ignored_auth,
]
STATUSES: dict[str, Counter[int]] = {"development": Counter(), "authenticated": Counter()}


def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on a real threaded werkzeug server on a free loopback port; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def development_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("schemathesis-dev") / "feedback.sqlite3"
    yield from serve(create_app({"database_url": f"sqlite:///{database}", "evaluation_date": "2026-06-01"}))


@pytest.fixture(scope="module")
def authenticated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with a trusted client configured: generated requests carry no valid JWT, so every hooks call is a 401."""
    database = tmp_path_factory.mktemp("schemathesis-auth") / "feedback.sqlite3"
    settings = {
        "database_url": f"sqlite:///{database}",
        "evaluation_date": "2026-06-01",
        "clients": [{"issuer": ISSUER, "jwks": jwks(signing_key("ES384"))}],
        "public_base_url": "http://localhost",  # production mode requires it; no token is valid here anyway
    }
    yield from serve(create_app(settings))


@SCHEMA.parametrize()
def test_the_running_app_keeps_openapi_yaml(case: Any, development_server: str) -> None:
    response = case.call_and_validate(base_url=development_server, checks=CHECKS)
    STATUSES["development"][response.status_code] += 1


@SCHEMA.parametrize()
def test_the_authenticated_app_keeps_openapi_yaml(case: Any, authenticated_server: str) -> None:
    response = case.call_and_validate(base_url=authenticated_server, checks=CHECKS)
    STATUSES["authenticated"][response.status_code] += 1
    if case.path.startswith("/cds-services") and case.method.upper() == case.operation.method.upper():
        assert response.status_code == 401, response.text[:500]  # (other methods get 405 before authentication)


def test_the_checks_catch_a_response_the_document_does_not_declare(development_server: str) -> None:
    """With 400 taken out of the document, a hook call without ``hookInstance`` (a 400) fails the checks."""
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    del document["paths"]["/cds-services/{id}"]["post"]["responses"]["400"]
    operation = schemathesis.openapi.from_dict(document)["/cds-services/{id}"]["POST"]
    case = operation.Case(
        path_parameters={"id": "her2-mbc-guidance"}, body={"hook": "patient-view"}, media_type="application/json"
    )
    with pytest.raises(FailureGroup, match="Undocumented status code"):
        case.call_and_validate(base_url=development_server, checks=CHECKS)
    SCHEMA["/cds-services/{id}"]["POST"].Case(
        path_parameters={"id": "her2-mbc-guidance"}, body={"hook": "patient-view"}, media_type="application/json"
    ).call_and_validate(base_url=development_server, checks=CHECKS)  # the real document declares it


def test_hundreds_of_requests_were_made_and_answered_without_a_5xx() -> None:
    """Runs after the generated tests (same module, defined last): the counts they kept are real."""
    development, authenticated = STATUSES["development"], STATUSES["authenticated"]
    if not development.total() or not authenticated.total():
        pytest.skip("run together with the generated tests (this file as a whole)")
    assert development.total() >= 300, development
    assert not any(status >= 500 for status in development | authenticated)
    assert 200 in development and 400 in development and 401 in authenticated
    print(f"schemathesis statuses: development {dict(development)}, authenticated {dict(authenticated)}")
