"""CDS client authentication (CDS Hooks 2.0 "Trusting CDS Clients"): a signed JWT on every call.

The EHR sends ``Authorization: Bearer <jwt>``. The token is accepted only when:

- its ``iss`` is a configured client (read unverified first, only to pick the client's keys);
- its header ``alg`` is ES384, RS384, ES256 or RS256 (never ``none``, never HMAC) and ``kid`` names
  a key of that client's JWKS: inline ``jwks``, or ``jwks_url`` fetched with a short timeout, cached,
  and fetched again on an unknown ``kid`` at most once per ``jwks_refresh_cooldown_seconds``;
- a ``jku`` header, if any, is on the client's ``jku`` list (the keys then come from that URL);
- ``aud`` is the URL called (``public_base_url`` + path when set, else the request's URL without
  its query); ``exp``, ``iat`` and ``jti`` are present; ``exp``, ``nbf`` and ``iat`` hold within
  ``jwt_leeway_seconds``; the token lives at most ``MAX_TOKEN_LIFETIME_SECONDS``;
- when the client has a ``tenant``, the token carries a ``tenant`` claim equal to it (a token
  without the claim is refused);
- its ``jti`` has not been seen before from this issuer (``service.replay``, shared by all workers).

Any failure is the same bare 401 for the caller; the reason goes to the log, never the token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import jwt
from flask import Response, request

from service.config import Client, ConfigError, Settings
from service.errors import error_response
from service.ops.blocking import run_blocking
from service.replay import MAX_JTI_LENGTH, ReplayStore

log = logging.getLogger("her2cds.auth")

ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
MAX_TOKEN_LIFETIME_SECONDS = 3600  # exp - iat; CDS Hooks clients mint a fresh short-lived token per call
JWKS_CACHE_SECONDS = 300.0


class Unauthenticated(Exception):
    """Why a request was refused; logged, never shown to the caller."""


def unauthorized() -> Response:
    """The one 401 every refusal gets, whatever the reason."""
    response = error_response(401, "authentication required")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


class KeySet:
    """The signing keys of one JWKS source: inline, or fetched from a URL through ``PyJWKClient``."""

    def __init__(
        self, where: str, jwks: Mapping[str, Any] | None = None, url: str = "", timeout: float = 2.0, cooldown: float = 30.0
    ) -> None:
        self.inline: jwt.PyJWKSet | None = None
        self.remote: jwt.PyJWKClient | None = None
        if jwks is not None:
            try:
                self.inline = jwt.PyJWKSet.from_dict(dict(jwks))
            except jwt.PyJWTError as exc:
                raise ConfigError(f"{where}: no usable key ({exc})") from exc
        else:
            self.remote = jwt.PyJWKClient(url, lifespan=JWKS_CACHE_SECONDS, timeout=timeout, cooldown_duration=cooldown)

    def key(self, kid: str) -> jwt.PyJWK:
        """The key with this ``kid``; a remote set is fetched again (rate-limited) when it lacks it."""
        if self.remote is not None:
            try:
                return self.remote.get_signing_key(kid)
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"no key for kid from the JWKS ({type(exc).__name__})") from exc
        assert self.inline is not None
        for key in self.inline.keys:
            if key.key_id == kid:
                return key
        raise Unauthenticated("no key for kid in the inline JWKS")


class Authenticator:
    """Verifies CDS client JWTs against the configured clients. Built once at start-up."""

    def __init__(self, settings: Settings, replay: ReplayStore) -> None:
        self.settings = settings
        self.replay = replay
        self.clients = {client.issuer: client for client in settings.clients}
        self.keys: dict[str, KeySet] = {}
        self.jku_keys: dict[str, KeySet] = {}
        for index, client in enumerate(settings.clients):
            self.keys[client.issuer] = self._key_set(f"clients[{index}].jwks", client.jwks, client.jwks_url)
            for url in client.jku:
                self.jku_keys.setdefault(url, self._key_set(f"clients[{index}].jku", None, url))

    def _key_set(self, where: str, jwks: Mapping[str, Any] | None, url: str) -> KeySet:
        return KeySet(where, jwks, url, self.settings.jwks_timeout_seconds, self.settings.jwks_refresh_cooldown_seconds)

    def audience(self) -> str:
        """The URL the caller called: what ``aud`` must say."""
        if self.settings.public_base_url:
            return self.settings.public_base_url.rstrip("/") + request.path
        return request.base_url

    def verify(self, authorization: str | None, audience: str) -> Client:
        """The client that signed the bearer token; ``Unauthenticated`` with the reason otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("no bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"not a JWT ({type(exc).__name__})") from exc
        issuer = unverified.get("iss")
        client = self.clients.get(issuer) if isinstance(issuer, str) else None
        if client is None:
            raise Unauthenticated(f"unknown issuer {str(issuer)[:200]!r}")
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise Unauthenticated(f"algorithm {str(algorithm)[:20]!r} not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("no kid in the JWT header")
        keys = self.keys[client.issuer]
        jku = header.get("jku")
        if jku is not None:
            if jku not in client.jku:
                raise Unauthenticated("jku not on the client's list")
            keys = self.jku_keys[jku]
        # The raw public key with the header's algorithm: a JWK without "alg" would otherwise be bound to
        # RS256/ES256 by PyJWT. PyJWT still refuses a key whose type does not fit the algorithm.
        key = keys.key(kid).key
        leeway = self.settings.jwt_leeway_seconds
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=audience,
                issuer=client.issuer,
                leeway=leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:  # PyJWT also refuses an iat in the future (beyond the leeway)
            raise Unauthenticated(f"JWT rejected ({type(exc).__name__}: {exc})") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            # A key whose type does not fit the header's algorithm (RS256 on an EC key) makes PyJWT's key
            # preparation fail with errors outside its own hierarchy: a refusal, not a server error.
            raise Unauthenticated(f"the key does not fit the algorithm {algorithm} ({type(exc).__name__})") from exc
        self._check_lifetime_and_tenant(claims, client)
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise Unauthenticated("jti is not a string of 1-255 characters")
        if not run_blocking(self.replay.first_use, client.issuer, jti, float(claims["exp"]) + leeway):
            raise Unauthenticated("jti already used (replay)")
        return client

    def _check_lifetime_and_tenant(self, claims: dict[str, Any], client: Client) -> None:
        if float(claims["exp"]) - float(claims["iat"]) > MAX_TOKEN_LIFETIME_SECONDS:
            raise Unauthenticated(f"token lives longer than {MAX_TOKEN_LIFETIME_SECONDS} s")
        if client.tenant and claims.get("tenant") != client.tenant:
            raise Unauthenticated("tenant missing or not the client's")
