"""CDS client authentication: every hooks route needs a valid client JWT once clients are configured.

Each rejection test sends a token that differs from a good one in one way and expects the same bare
401; a happy-path twin shows the good token passes, so every test fails if its check is removed.
"""

from __future__ import annotations

import re
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service import create_app
from service.config import ConfigError
from tests.conftest import her2_positive_liver_patient, prefetch_for
from tests.stub_server import stub_server
from tests.tokens import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    bearer,
    claims,
    hmac_with_public_key,
    jwks,
    mint,
    signing_key,
    unsigned,
)

SERVICE = "/cds-services/her2-mbc-guidance"
FEEDBACK_URL = AUDIENCE + "/feedback"
ALGORITHMS = ["ES384", "RS384", "ES256", "RS256"]


def client_entry(**extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"issuer": ISSUER, "jwks": jwks(*(signing_key(alg) for alg in ALGORITHMS))}
    entry.update(extra)
    return entry


def build(tmp_path, clients: list[dict[str, Any]] | None = None, database: str = "feedback.sqlite3", **settings: Any):
    return create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/{database}",
            "evaluation_date": "2026-06-01",
            "clients": clients if clients is not None else [client_entry()],
            "public_base_url": "http://localhost",  # the Flask test client's host: tokens name http://localhost/...
            **settings,
        }
    )


@pytest.fixture()
def secured(tmp_path):
    return build(tmp_path)


@pytest.fixture()
def hook_request(secured, knowledge) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "a7c3f1d2-auth",
        "context": {"patientId": "p1", "userId": "Practitioner/example"},
        "prefetch": prefetch_for(her2_positive_liver_patient(), secured.extensions["her2cds"].templates, knowledge),
    }


def call(app, token: str | None, body: dict[str, Any], headers: dict[str, str] | None = None):
    return app.test_client().post(SERVICE, json=body, headers=headers if headers is not None else bearer(token or ""))


def assert_bare_401(response) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication required"}],
    }


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_token_of_each_allowed_algorithm_is_accepted(secured, hook_request, alg):
    response = call(secured, mint(signing_key(alg)), hook_request)
    assert response.status_code == 200, response.json
    assert response.json["cards"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-a-jwt"}],
    ids=["missing", "not-bearer", "empty-bearer", "garbage"],
)
def test_no_usable_bearer_token_is_401(secured, hook_request, headers):
    assert_bare_401(call(secured, None, hook_request, headers))


def test_alg_none_is_401(secured, hook_request):
    assert_bare_401(call(secured, unsigned(claims()), hook_request))


def test_hs256_signed_with_the_public_key_is_401(secured, hook_request):
    """Algorithm confusion: the public key (published in the JWKS) used as an HMAC secret."""
    key = signing_key("RS384")
    assert_bare_401(call(secured, hmac_with_public_key(key, claims()), hook_request))


def test_an_algorithm_not_on_the_list_is_401(tmp_path, hook_request):
    es512 = SigningKey("es512", "ES512", ec.generate_private_key(ec.SECP521R1()))
    app = build(tmp_path, [client_entry(jwks=jwks(es512, signing_key("ES384")))])
    assert_bare_401(call(app, mint(es512), hook_request))
    assert call(app, mint(signing_key("ES384")), hook_request).status_code == 200


def test_unknown_issuer_is_401(secured, hook_request):
    assert_bare_401(call(secured, mint(signing_key(), claims(iss="https://other-ehr.example.org")), hook_request))


def test_a_key_of_another_issuer_is_401(secured, hook_request):
    stranger = signing_key("ES384", serial=7)  # not in the JWKS, but claims our issuer and an existing kid
    assert_bare_401(call(secured, mint(stranger, kid="es384-0"), hook_request))
    assert_bare_401(call(secured, mint(stranger), hook_request))


def test_a_token_without_kid_is_401(secured, hook_request):
    key = signing_key()
    token = jwt.encode(claims(), key.private, algorithm="ES384")
    assert_bare_401(call(secured, token, hook_request))


@pytest.mark.parametrize(
    "payload",
    [
        lambda: claims(aud="http://localhost/cds-services/her2-mbc-order-check"),
        lambda: claims(aud="https://cds.example.org/cds-services/her2-mbc-guidance"),
        lambda: claims(aud=AUDIENCE + "?x=1"),
        lambda: claims(aud=None),
    ],
    ids=["another-path", "another-host", "with-query", "missing"],
)
def test_wrong_audience_is_401(secured, hook_request, payload):
    """Made when the test runs (a token made at collection could have expired, and be refused for that)."""
    assert_bare_401(call(secured, mint(signing_key(), payload()), hook_request))


def test_audience_is_the_public_base_url_when_set(tmp_path, hook_request):
    app = build(tmp_path, public_base_url="https://cds.example.org/")
    public = "https://cds.example.org/cds-services/her2-mbc-guidance"
    assert call(app, mint(signing_key(), claims(aud=public)), hook_request).status_code == 200
    assert_bare_401(call(app, mint(signing_key(), claims()), hook_request))


def test_audience_may_be_a_list_holding_the_url(secured, hook_request):
    assert call(secured, mint(signing_key(), claims(aud=["https://x.example", AUDIENCE])), hook_request).status_code == 200


# Each payload is made when its test runs, not when the module is collected: a whole suite runs for many
# minutes, and an iat or nbf "600 s in the future" at collection was in the past by the time the test ran
# (a CI run whose integration tests took over nine minutes answered 200).
@pytest.mark.parametrize(
    "payload",
    [
        lambda: claims(now=time.time() - 600),  # expired 5 minutes ago
        lambda: claims(exp=None),
        lambda: claims(iat=None),
        lambda: claims(jti=None),
        lambda: claims(jti=123),
        lambda: claims(jti="x" * 300),
        lambda: claims(nbf=int(time.time()) + 600),
        lambda: claims(iat=int(time.time()) + 600, exp=int(time.time()) + 900),
        lambda: claims(lifetime=3 * 3600),
        lambda: claims(iss=None),
    ],
    ids=[
        "expired",
        "no-exp",
        "no-iat",
        "no-jti",
        "jti-not-string",
        "jti-too-long",
        "nbf-future",
        "iat-future",
        "lives-3h",
        "no-iss",
    ],
)
def test_bad_times_and_missing_claims_are_401(secured, hook_request, payload):
    assert_bare_401(call(secured, mint(signing_key(), payload()), hook_request))


def test_clock_skew_within_the_leeway_is_accepted(tmp_path, hook_request):
    app, strict = build(tmp_path), build(tmp_path, database="strict.sqlite3", jwt_leeway_seconds=0)
    now = time.time()
    skewed = claims(now=now + 30, nbf=int(now) + 30)  # the EHR's clock 30 s ahead
    assert call(app, mint(signing_key(), skewed), hook_request).status_code == 200
    late = claims(now=now - 330)  # expired 30 s ago
    assert call(app, mint(signing_key(), late), hook_request).status_code == 200
    assert_bare_401(call(strict, mint(signing_key(), claims(now=now - 330)), hook_request))


def test_a_client_with_a_tenant_needs_the_tenant_claim(tmp_path, hook_request):
    """README: the claim must equal the client's tenant; a token without it is not the tenant's (issue 13.5)."""
    app = build(tmp_path, [client_entry(tenant="hospital-a")])
    assert call(app, mint(signing_key(), claims(tenant="hospital-a")), hook_request).status_code == 200
    assert_bare_401(call(app, mint(signing_key(), claims()), hook_request))
    assert_bare_401(call(app, mint(signing_key(), claims(tenant="hospital-b")), hook_request))
    untenanted = build(tmp_path / "other", [client_entry()])
    assert call(untenanted, mint(signing_key(), claims()), hook_request).status_code == 200


def test_a_replayed_jti_is_401(secured, hook_request):
    token = mint(signing_key())
    assert call(secured, token, hook_request).status_code == 200
    assert_bare_401(call(secured, token, hook_request))
    same_jti = mint(signing_key("RS384"), claims(jti=jwt.decode(token, options={"verify_signature": False})["jti"]))
    assert_bare_401(call(secured, same_jti, hook_request))


def test_a_jti_replayed_to_another_worker_is_401(tmp_path, hook_request):
    """Two app instances on one SQLite file, as two gunicorn workers share the database."""
    first, second = build(tmp_path), build(tmp_path)
    token = mint(signing_key())
    assert call(first, token, hook_request).status_code == 200
    assert_bare_401(call(second, token, hook_request))
    assert call(second, mint(signing_key()), hook_request).status_code == 200


def test_discovery_and_feedback_need_a_token_and_healthz_does_not(secured, hook_request):
    client = secured.test_client()
    discovery_url = "http://localhost/cds-services"
    assert_bare_401(client.get("/cds-services"))
    assert client.get("/cds-services", headers=bearer(mint(signing_key(), claims(aud=discovery_url)))).status_code == 200
    card = call(secured, mint(signing_key()), hook_request).get_json()["cards"][0]["uuid"]
    feedback = {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-06-01T10:00:00Z"}]}
    assert_bare_401(client.post(f"{SERVICE}/feedback", json=feedback))
    assert_bare_401(client.post(f"{SERVICE}/feedback", json=feedback, headers=bearer(mint(signing_key()))))  # aud of the hook
    ok = client.post(f"{SERVICE}/feedback", json=feedback, headers=bearer(mint(signing_key(), claims(aud=FEEDBACK_URL))))
    assert ok.status_code == 200
    assert secured.extensions["her2cds"].feedback.count(card) == 1
    assert secured.extensions["her2cds"].feedback.rows(card)[0]["client"] == ISSUER
    assert client.get("/healthz").status_code == 200


def test_unknown_service_without_a_token_is_401_not_404(secured):
    assert_bare_401(secured.test_client().post("/cds-services/no-such", json={}))


def test_sandbox_is_off_with_clients(secured):
    assert secured.test_client().get("/sandbox").status_code == 404


def test_every_refusal_looks_the_same(secured, hook_request):
    bodies = {
        call(secured, token, hook_request).get_data()
        for token in (
            "garbage",
            unsigned(claims()),
            mint(signing_key(), claims(aud="http://x")),
            mint(signing_key(), claims(iss="x")),
        )
    }
    assert len(bodies) == 1


def test_unknown_kid_refetches_the_jwks_after_a_key_rotation(tmp_path, hook_request):
    old, new = signing_key("ES384", kid="2026-01"), signing_key("RS384", kid="2026-02")
    with stub_server() as ehr:
        ehr.routes["/jwks.json"] = jwks(old)
        app = build(tmp_path, [client_entry(jwks=None, jwks_url=f"{ehr.base}/jwks.json")], jwks_refresh_cooldown_seconds=0.3)
        assert call(app, mint(old), hook_request).status_code == 200
        assert call(app, mint(old), hook_request).status_code == 200
        assert ehr.hits["/jwks.json"] == 1  # cached
        ehr.routes["/jwks.json"] = jwks(new)  # the EHR rotates its key
        time.sleep(0.35)
        assert call(app, mint(new), hook_request).status_code == 200
        assert ehr.hits["/jwks.json"] == 2
        assert_bare_401(call(app, mint(old), hook_request))  # the old key is gone from the refreshed set


def test_unknown_kids_do_not_hammer_the_jwks_url(tmp_path, hook_request):
    key = signing_key()
    with stub_server() as ehr:
        ehr.routes["/jwks.json"] = jwks(key)
        app = build(tmp_path, [client_entry(jwks=None, jwks_url=f"{ehr.base}/jwks.json")])
        assert call(app, mint(key), hook_request).status_code == 200
        for attempt in range(5):
            assert_bare_401(call(app, mint(signing_key(serial=9), kid=f"unknown-{attempt}"), hook_request))
        assert ehr.hits["/jwks.json"] == 1  # no refetch within the 30 s cooldown


def test_an_unreachable_jwks_url_is_401(tmp_path, hook_request):
    with stub_server() as ehr:
        url = f"{ehr.base}/jwks.json"
    app = build(tmp_path, [client_entry(jwks=None, jwks_url=url)])  # the server is gone: connection refused
    assert_bare_401(call(app, mint(signing_key()), hook_request))


def test_jku_must_be_on_the_issuers_list(tmp_path, hook_request):
    rotated = signing_key("ES256", kid="via-jku")
    with stub_server() as ehr:
        ehr.routes["/listed.json"] = jwks(rotated)
        ehr.routes["/unlisted.json"] = jwks(rotated)
        app = build(tmp_path, [client_entry(jku=[f"{ehr.base}/listed.json"])])
        assert call(app, mint(rotated, jku=f"{ehr.base}/listed.json"), hook_request).status_code == 200
        assert_bare_401(call(app, mint(rotated, jku=f"{ehr.base}/unlisted.json"), hook_request))
        assert ehr.hits["/unlisted.json"] == 0
        assert_bare_401(call(app, mint(rotated), hook_request))  # without jku: not in the inline JWKS


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"jwks": {"keys": []}}, "clients[0]"),
        ({"issuer": "", "jwks_url": "https://ehr.example.org/jwks"}, "clients[0].issuer"),
        ({"issuer": ISSUER}, "exactly one of jwks"),
        ({"issuer": ISSUER, "jwks_url": "ftp://x/jwks"}, "clients[0].jwks_url"),
        ({"issuer": ISSUER, "jwks_url": "https://x/jwks", "fhir_servers": ["https://a@b/fhir"]}, "clients[0].fhir_servers"),
        ({"issuer": ISSUER, "jwks_url": "https://x/jwks", "private_networks": ["10.0.0.0/33"]}, "clients[0].private_networks"),
        ({"issuer": ISSUER, "jwks_url": "https://x/jwks", "jku": "https://x/jku"}, "clients[0].jku"),
        ({"issuer": ISSUER, "jwks_url": "https://x/jwks", "colour": "blue"}, "colour"),
        ({"issuer": ISSUER, "jwks": {"keys": [{"kty": "nonsense"}]}}, "clients[0].jwks"),
    ],
)
def test_a_bad_client_entry_stops_start_up_naming_the_field(tmp_path, entry, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        build(tmp_path, [entry])


def test_the_example_configuration_starts_the_service_in_production_mode(tmp_path, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.setenv("HER2CDS_CONFIG", str(ROOT / "config.example.yaml"))
    app = create_app({"database_url": f"sqlite:///{tmp_path}/f.sqlite3"})
    settings = app.extensions["her2cds"].settings
    assert not settings.development_mode and len(settings.clients) == 2
    assert_bare_401(app.test_client().get("/cds-services"))


def test_openapi_declares_the_401_on_every_authenticated_operation():
    import yaml

    from tests.conftest import ROOT

    paths = yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"]
    for path, method in [("/cds-services", "get"), ("/cds-services/{id}", "post"), ("/cds-services/{id}/feedback", "post")]:
        assert paths[path][method]["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
    assert "401" not in paths["/healthz"]["get"]["responses"]
