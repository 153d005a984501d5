"""CORS: a browser-based EHR on a configured origin may call the hooks; other origins get no grant.

Preflight (OPTIONS) carries no Authorization header by the Fetch standard, so it must pass the JWT
check; the real call after it still needs the token.
"""

from __future__ import annotations

from tests.test_auth import build

EHR_ORIGIN = "https://ehr.example.org"
PREFLIGHT = {
    "Origin": EHR_ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def test_a_configured_origin_gets_a_preflight_grant_without_a_token(tmp_path):
    app = build(tmp_path, cors_origins=[EHR_ORIGIN])
    response = app.test_client().options("/cds-services/her2-mbc-guidance", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == EHR_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_the_call_after_the_preflight_still_needs_a_token(tmp_path):
    app = build(tmp_path, cors_origins=[EHR_ORIGIN])
    response = app.test_client().get("/cds-services", headers={"Origin": EHR_ORIGIN})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == EHR_ORIGIN  # so the EHR page can read the 401


def test_another_origin_gets_no_grant(tmp_path):
    app = build(tmp_path, cors_origins=[EHR_ORIGIN])
    response = app.test_client().options(
        "/cds-services/her2-mbc-guidance", headers={**PREFLIGHT, "Origin": "https://attacker.example.com"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_without_cors_origins_no_origin_is_granted(tmp_path):
    app = build(tmp_path)
    response = app.test_client().options("/cds-services/her2-mbc-guidance", headers=PREFLIGHT)
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_call_without_an_origin_gets_no_cors_headers(tmp_path):
    """A server-side EHR sends no Origin: no CORS request (Fetch standard), so no grant in the answer."""
    app = build(tmp_path, cors_origins=[EHR_ORIGIN])
    response = app.test_client().get("/cds-services")
    assert not [name for name in response.headers.keys() if name.lower().startswith("access-control-")]
    with_origin = app.test_client().get("/cds-services", headers={"Origin": EHR_ORIGIN})
    assert with_origin.headers["Access-Control-Allow-Origin"] == EHR_ORIGIN
