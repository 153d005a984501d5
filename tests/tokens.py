"""Keys and CDS client JWTs for the authentication tests, minted with ``cryptography`` and PyJWT.

Also the forged tokens PyJWT refuses to make: ``alg: none`` and HS256 signed with the public key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://ehr.example.org"
AUDIENCE = "http://localhost/cds-services/her2-mbc-guidance"


@dataclass(frozen=True)
class SigningKey:
    """A private key, its ``kid`` and the algorithm it signs with."""

    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, without ``alg`` (as many EHRs publish it)."""
        algorithm = jwt.algorithms.RSAAlgorithm if self.alg.startswith("RS") else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@cache
def _private_key(alg: str, serial: int) -> Any:
    if alg.startswith("RS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1() if alg == "ES384" else ec.SECP256R1())


def signing_key(alg: str = "ES384", kid: str | None = None, serial: int = 0) -> SigningKey:
    """A key for ``alg``; the same (alg, serial) gives the same key within a test run."""
    return SigningKey(kid or f"{alg.lower()}-{serial}", alg, _private_key(alg, serial))


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}


def claims(aud: str = AUDIENCE, iss: str = ISSUER, lifetime: int = 300, now: float | None = None, **extra: Any) -> dict[str, Any]:
    """Valid CDS client claims; ``extra`` overrides or adds (``None`` removes a claim)."""
    issued = int(time.time() if now is None else now)
    body = {"iss": iss, "aud": aud, "exp": issued + lifetime, "iat": issued, "jti": str(uuid.uuid4()), "sub": "ehr-client"}
    body.update(extra)
    return {key: value for key, value in body.items() if value is not None}


def mint(key: SigningKey, payload: dict[str, Any] | None = None, **headers: Any) -> str:
    """A JWT signed by ``key`` (``kid`` and ``typ`` in the header, plus ``headers``)."""
    return jwt.encode(payload or claims(), key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": "JWT", **headers})


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_segment(value: dict[str, Any]) -> str:
    return _segment(json.dumps(value, separators=(",", ":")).encode())


def unsigned(payload: dict[str, Any], kid: str = "es384-0") -> str:
    """``alg: none``: no signature at all."""
    return f"{_json_segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_json_segment(payload)}."


def hmac_with_public_key(key: SigningKey, payload: dict[str, Any]) -> str:
    """The algorithm-confusion forgery: HS256 keyed with the public key's PEM bytes, which anyone has."""
    signing_input = f"{_json_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_json_segment(payload)}"
    signature = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_segment(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
