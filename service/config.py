"""Settings: a YAML file named by ``HER2CDS_CONFIG`` and/or ``HER2CDS_*`` environment variables.

Validated once by ``load_settings``; a bad value stops start-up with a message naming the setting.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ENV_PREFIX = "HER2CDS_"


class ConfigError(Exception):
    """A setting is missing or has a value of the wrong kind."""


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Client:
    """A trusted CDS client (an EHR): who signs its JWTs, with which keys, and which FHIR servers it may name."""

    issuer: str
    jwks: Mapping[str, Any] | None = None  # inline JWKS
    jwks_url: str = ""  # or fetched from here (cached, refreshed on an unknown kid)
    jku: tuple[str, ...] = ()  # JWKS URLs a token's ``jku`` header may name
    fhir_servers: tuple[str, ...] = ()  # FHIR base URLs this client's requests may make the service call
    tenant: str = ""
    private_networks: tuple[IpNetwork, ...] = ()  # non-public networks its FHIR servers may resolve to


@dataclass(frozen=True)
class Settings:
    """Every setting of the service, with its default."""

    database_url: str = "sqlite:///var/her2cds-feedback.sqlite3"
    time_budget_seconds: float = 2.0
    fhir_connect_timeout_seconds: float = 0.5
    max_body_bytes: int = 5 * 1024 * 1024
    max_fhir_pages: int = 20
    max_fhir_bundle_bytes: int = 20 * 1024 * 1024
    public_base_url: str = ""
    mappings_dir: str = ""
    cors_origins: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] = ()  # base URLs the service may call in development mode too
    allow_loopback_fhir: bool = True  # development mode: FHIR servers on 127.0.0.0/8 and ::1
    sandbox: bool = True
    log_level: str = "INFO"
    jwt_leeway_seconds: int = 60  # clock skew allowed on exp, nbf and iat
    jwks_timeout_seconds: float = 2.0
    jwks_refresh_cooldown_seconds: float = 30.0  # an unknown kid refetches a JWKS at most this often
    clients: tuple[Client, ...] = field(default=())

    @property
    def development_mode(self) -> bool:
        """No trusted clients configured: no client authentication (said loudly at start-up)."""
        return not self.clients


def _coerce(name: str, kind: Any, value: Any) -> Any:
    try:
        if kind in (float, "float"):
            return float(value)
        if kind in (int, "int"):
            return int(value)
        if kind in (bool, "bool"):
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind in (str, "str"):
            if not isinstance(value, str | int | float):
                raise ValueError(value)
            return str(value)
        if "tuple" in str(kind):
            if isinstance(value, str):
                return tuple(item.strip() for item in value.split(",") if item.strip())
            if isinstance(value, list | tuple):
                return tuple(value)
            raise ValueError(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {value!r} is not a valid {kind}") from exc
    return value


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """File (``HER2CDS_CONFIG``) < environment (``HER2CDS_<NAME>``) < ``overrides`` (tests, CLI)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = env.get(f"{ENV_PREFIX}CONFIG")
    if config_path:
        try:
            document = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{config_path}: cannot be read: {exc}") from exc
        if not isinstance(document, dict):
            raise ConfigError(f"{config_path}: must be a mapping of settings")
        values.update(document)
    known = {f.name: f for f in fields(Settings)}
    for name in known:
        env_value = env.get(f"{ENV_PREFIX}{name.upper()}")
        if env_value is not None:
            values[name] = env_value
    values.update(overrides or {})
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    coerced = {name: _coerce(name, known[name].type, value) for name, value in values.items() if name != "clients"}
    if "clients" in values:
        coerced["clients"] = parse_clients(values["clients"])
    settings = Settings(**coerced)
    if settings.time_budget_seconds <= 0 or settings.max_body_bytes <= 0:
        raise ConfigError("time_budget_seconds and max_body_bytes must be positive")
    if settings.jwt_leeway_seconds < 0 or settings.jwks_timeout_seconds <= 0 or settings.jwks_refresh_cooldown_seconds < 0:
        raise ConfigError("jwt_leeway_seconds, jwks_timeout_seconds and jwks_refresh_cooldown_seconds must not be negative")
    return settings


CLIENT_FIELDS = {f.name for f in fields(Client)}


def parse_clients(clients: Any) -> tuple[Client, ...]:
    """``clients`` entries checked one by one; an error names the entry and the field."""
    if not isinstance(clients, list | tuple) or not all(isinstance(c, Mapping) for c in clients):
        raise ConfigError("setting clients: must be a list of client entries")
    parsed = tuple(_parse_client(f"clients[{index}]", entry) for index, entry in enumerate(clients))
    issuers = [client.issuer for client in parsed]
    duplicates = sorted({issuer for issuer in issuers if issuers.count(issuer) > 1})
    if duplicates:
        raise ConfigError(f"setting clients: issuer listed twice: {', '.join(duplicates)}")
    return parsed


def _parse_client(where: str, entry: Mapping[str, Any]) -> Client:
    unknown = set(entry) - CLIENT_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    issuer = entry.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise ConfigError(f"{where}.issuer: required (the 'iss' of the client's JWTs)")
    jwks = entry.get("jwks")
    jwks_url = entry.get("jwks_url") or ""
    if (jwks is None) == (not jwks_url):
        raise ConfigError(f"{where}: exactly one of jwks (inline) or jwks_url is required")
    if jwks is not None and not (isinstance(jwks, Mapping) and isinstance(jwks.get("keys"), list) and jwks["keys"]):
        raise ConfigError(f"{where}.jwks: must be a JWKS object with a non-empty 'keys' list")
    if jwks_url:
        _http_url(f"{where}.jwks_url", jwks_url)
    tenant = entry.get("tenant") or ""
    if not isinstance(tenant, str):
        raise ConfigError(f"{where}.tenant: must be a string")
    return Client(
        issuer=issuer,
        jwks=jwks,
        jwks_url=jwks_url,
        jku=tuple(_http_url(f"{where}.jku", url) for url in _string_list(f"{where}.jku", entry.get("jku"))),
        fhir_servers=tuple(
            _http_url(f"{where}.fhir_servers", url).rstrip("/")
            for url in _string_list(f"{where}.fhir_servers", entry.get("fhir_servers"))
        ),
        tenant=tenant,
        private_networks=tuple(
            _network(f"{where}.private_networks", cidr)
            for cidr in _string_list(f"{where}.private_networks", entry.get("private_networks"))
        ),
    )


def _string_list(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{where}: must be a list of strings")
    return list(value)


def _http_url(where: str, url: Any) -> str:
    """An absolute http(s) URL with a host and no user info (``user@host`` hides the real host)."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ConfigError(f"{where}: {url!r} is not an absolute http(s) URL without user info")
    return str(url)


def _network(where: str, cidr: str) -> IpNetwork:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise ConfigError(f"{where}: {cidr!r} is not an IP network (CIDR)") from exc
