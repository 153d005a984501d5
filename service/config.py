"""Settings: a YAML file named by ``HER2CDS_CONFIG`` and/or ``HER2CDS_*`` environment variables.

Validated once by ``load_settings``; a bad value stops start-up with a message naming the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "HER2CDS_"


class ConfigError(Exception):
    """A setting is missing or has a value of the wrong kind."""


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
    clients: tuple[Mapping[str, Any], ...] = field(default=())

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
        clients = values["clients"]
        if not isinstance(clients, list | tuple) or not all(isinstance(c, Mapping) for c in clients):
            raise ConfigError("setting clients: must be a list of client entries")
        coerced["clients"] = tuple(clients)
    settings = Settings(**coerced)
    if settings.time_budget_seconds <= 0 or settings.max_body_bytes <= 0:
        raise ConfigError("time_budget_seconds and max_body_bytes must be positive")
    return settings
