"""Settings: typed (pydantic-settings), from a YAML file named by ``HER2CDS_CONFIG``, ``HER2CDS_*``
environment variables and start-up overrides, in that order of precedence (overrides win).

Validated once by ``load_settings``; a bad value stops start-up with a message naming the setting, and
so does a ``HER2CDS_*`` variable or a file key that names no setting (a misspelt one would otherwise be
ignored silently). Adding a setting is one line in ``Settings`` (type, default, ``help``); the README's
reference table is generated from it (``python -m service.settings_reference README.md``) and a test
checks that it is current.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import orjson
import yaml
from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "HER2CDS_"
CONFIG_VARIABLE = f"{ENV_PREFIX}CONFIG"
# HER2CDS_* variables that belong to the project's tools, not to the service's settings.
TOOL_VARIABLES = ("HER2CDS_CHROMIUM",)
TOOL_PREFIXES = ("HER2CDS_HAPI_",)
# The official CDS Hooks sandbox (cds-hooks/sandbox), the client most engineers try first.
CDS_HOOKS_SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"


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


def _comma_list(value: Any) -> Any:
    """A list setting: a YAML list, or a comma-separated string (the environment)."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _clients(value: Any) -> tuple[Client, ...]:
    """``clients``: a YAML list (or JSON in the environment), checked entry by entry (errors name the field)."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"setting clients: not a JSON list of client entries: {exc}") from exc
    if isinstance(value, tuple) and all(isinstance(item, Client) for item in value):
        return value
    return parse_clients(value)


Urls = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]
Clients = Annotated[tuple[Client, ...], NoDecode, BeforeValidator(_clients)]


def setting(default: Any, help: str, **constraints: Any) -> Any:
    """One setting: its default, the sentence the README table shows, and pydantic constraints."""
    return Field(default, description=help, **constraints)


class Settings(BaseSettings):
    """Every setting of the service: type, default and meaning. One line per setting."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True, case_sensitive=False)

    database_url: str = setting("sqlite:///var/her2cds-feedback.sqlite3", "feedback store; `postgresql+psycopg://user:pw@host/db` for PostgreSQL (`pip install 'her2-cds[postgres]'`)")
    time_budget_seconds: float = setting(2.0, "per-request budget for FHIR calls (they run in parallel)", gt=0)
    fhir_connect_timeout_seconds: float = setting(0.5, "connect timeout of each FHIR call", gt=0)
    max_body_bytes: int = setting(5 * 1024 * 1024, "larger request bodies get 413", gt=0)
    max_fhir_pages: int = setting(20, "most `next` pages read for one FHIR search", ge=1)
    max_fhir_bundle_bytes: int = setting(20 * 1024 * 1024, "largest FHIR answer read", gt=0)
    public_base_url: str = setting("", "absolute URL EHRs call the service at: JWT `aud` and card icons; required in production")
    mappings_dir: str = setting("", "knowledge folder to use instead of the one shipped in the package (`service.mappings`)")
    cors_origins: Urls = setting((), "browser origins that may call the service (CORS; preflight needs no token, the call does)")
    fhir_servers: Urls = setting((), "development mode: FHIR base URLs the service may call; with clients, each client lists its own")
    allow_loopback_fhir: bool = setting(True, "development mode: FHIR servers on 127.0.0.0/8 and ::1 may be called")
    sandbox: bool = setting(True, "development mode: the EHR-like page at `/sandbox`")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = setting("INFO", "log level of the service and the libraries under it")
    jwt_leeway_seconds: int = setting(60, "clock skew allowed on a JWT's `exp`, `nbf` and `iat`", ge=0)
    jwks_timeout_seconds: float = setting(2.0, "timeout fetching a client's JWKS", gt=0)
    jwks_refresh_cooldown_seconds: float = setting(30.0, "an unknown `kid` refetches a JWKS at most this often", ge=0)
    clients: Clients = setting((), "trusted EHRs (see below); none = development mode. In the environment: a JSON list")
    insecure_development: bool = setting(False, "allow development mode (no authentication) on a non-loopback address; never with patient data")
    development_cors_origins: Urls = setting((CDS_HOOKS_SANDBOX_ORIGIN,), "development mode: browser origins allowed besides `cors_origins`")
    discovery_ids: Literal["shared", "per-hook"] = setting("shared", "`per-hook`: one service id per hook in discovery, for clients that key services by id")
    examples_fhir: bool = setting(False, "development mode: serve the example patients as read-only FHIR at `/fhir` (`serve --examples`)")
    otlp_endpoint: str = setting("", "OpenTelemetry: OTLP/HTTP traces URL (e.g. `http://otel-collector:4318/v1/traces`); set, tracing is on")
    tracing: Literal["", "off", "otlp", "console"] = setting("", "OpenTelemetry exporter: `otlp` (the default with an endpoint), `console`, or `off` (the default without)")
    trace_sample_ratio: float = setting(1.0, "OpenTelemetry: share of new traces kept; a caller's `traceparent` decides for its own traces", ge=0, le=1)
    issued_card_retention_days: float = setting(30.0, "how long issued cards are remembered (no patient data), and so how long feedback on them is accepted", gt=0)
    issued_card_batch_seconds: float = setting(0.2, "issued cards are written to the database in one batch per this many seconds (0: one write per hook answer)", ge=0, le=5)
    feedback_per_card: int = setting(10, "most feedback items stored per card; more get 429", ge=1)
    feedback_per_client_per_hour: int = setting(10000, "most feedback items per client per hour; more get 429", ge=1)
    fallback_fhir_server: str = setting("", "development mode: FHIR base URL read when a hook request names no `fhirServer`")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides, then ``HER2CDS_*`` variables, then the ``HER2CDS_CONFIG`` file; no dotenv, no secrets dir."""
        return init_settings, env_settings, ConfigFile(settings_cls)

    @field_validator("public_base_url", "fallback_fhir_server")
    @classmethod
    def _absolute_url(cls, value: str, info: Any) -> str:
        return _http_url(f"setting {info.field_name}", value) if value else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _production_needs_its_url(self) -> Settings:
        if self.clients and not self.public_base_url:
            # Without it the JWT ``aud`` would be checked against the request's Host header, which the caller
            # chooses: a token minted for another CDS service would pass when sent with that Host.
            raise ConfigError(
                "setting public_base_url: required when clients are configured (production mode): "
                "the absolute URL EHRs call the service at, e.g. https://cds.example.org; JWT audiences are checked against it"
            )
        return self

    @property
    def development_mode(self) -> bool:
        """No trusted clients configured: no client authentication (said loudly at start-up)."""
        return not self.clients

    @property
    def browser_origins(self) -> tuple[str, ...]:
        """Origins granted CORS: ``cors_origins``, plus ``development_cors_origins`` in development mode."""
        extra = self.development_cors_origins if self.development_mode else ()
        return tuple(dict.fromkeys((*self.cors_origins, *extra)))


class ConfigFile(PydanticBaseSettingsSource):
    """The YAML file named by ``HER2CDS_CONFIG``: the lowest-precedence source."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        return read_config_file(os.environ.get(CONFIG_VARIABLE, ""))


def read_config_file(path: str) -> dict[str, Any]:
    """A configuration file's settings (empty without a path); unreadable or not a mapping: ``ConfigError``."""
    if not path:
        return {}
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: must be a mapping of settings")
    return document


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``HER2CDS_*`` variables that name no setting (nor ``HER2CDS_CONFIG``, nor a tool's variable)."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} | {CONFIG_VARIABLE, *TOOL_VARIABLES}
    return sorted(
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known and not name.upper().startswith(TOOL_PREFIXES)
    )


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """File (``HER2CDS_CONFIG``) < environment (``HER2CDS_<NAME>``) < ``overrides`` (tests, CLI), validated."""
    misspelt = unknown_variables(os.environ)
    if misspelt:
        raise ConfigError(
            f"unknown environment variable(s) {', '.join(misspelt)}: no such setting (the settings are listed in the README)"
        )
    try:
        return Settings(**dict(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_messages(exc)) from None


def _messages(error: ValidationError) -> str:
    """pydantic's errors as ``setting NAME: message`` (unknown keys as one ``unknown setting(s)`` line)."""
    unknown = sorted(str(item["loc"][0]) for item in error.errors() if item["type"] == "extra_forbidden")
    lines = [f"unknown setting(s): {', '.join(unknown)}"] if unknown else []
    for item in error.errors():
        if item["type"] != "extra_forbidden":
            where = ".".join(str(part) for part in item["loc"])
            lines.append(f"setting {where}: {item['msg']} (got {item.get('input')!r})")
    return "; ".join(lines)


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
