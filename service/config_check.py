"""``her2-cds check-config FILE``: validate a configuration without starting the service.

Checks what start-up would check (every setting, the ``HER2CDS_*`` variables beside the file, production
needing ``public_base_url``, the knowledge files) and, beyond it, that each client's keys are usable:
an inline JWKS is parsed, a ``jwks_url`` is fetched once (``--offline`` skips the fetch). Problems raise
``ConfigError`` naming the setting or the client entry; the report lists what was found.
"""

from __future__ import annotations

import os

import jwt
import requests

from service.config import CONFIG_VARIABLE, Client, ConfigError, load_settings
from service.knowledge import load_knowledge


def _key_summary(where: str, key_set: jwt.PyJWKSet) -> str:
    usable = [f"{key.key_type} {key.key_id or '(no kid)'}" for key in key_set.keys]
    if not usable:
        raise ConfigError(f"{where}: no usable key")
    return f"{len(usable)} key(s): {', '.join(usable)}"


def client_keys(where: str, client: Client, timeout: float, fetch: bool) -> str:
    """One line on a client's keys; ``ConfigError`` when they cannot be used."""
    if client.jwks is not None:
        try:
            return _key_summary(f"{where}.jwks", jwt.PyJWKSet.from_dict(dict(client.jwks)))
        except jwt.PyJWTError as exc:
            raise ConfigError(f"{where}.jwks: no usable key ({exc})") from exc
    if not fetch:
        return f"keys from {client.jwks_url} (not fetched: --offline)"
    try:
        answer = requests.get(client.jwks_url, timeout=timeout, allow_redirects=False)
        answer.raise_for_status()
        return _key_summary(f"{where}.jwks_url", jwt.PyJWKSet.from_dict(answer.json())) + f" from {client.jwks_url}"
    except (requests.RequestException, ValueError, jwt.PyJWTError) as exc:
        raise ConfigError(f"{where}.jwks_url: {client.jwks_url} gives no usable JWKS ({type(exc).__name__}: {exc})") from exc


def check_configuration(path: str, fetch_keys: bool = True) -> list[str]:
    """The report on ``path`` read as ``HER2CDS_CONFIG`` would be, with the environment's ``HER2CDS_*`` variables."""
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file")
    previous = os.environ.get(CONFIG_VARIABLE)
    os.environ[CONFIG_VARIABLE] = path
    try:
        settings = load_settings()
    finally:
        if previous is None:
            del os.environ[CONFIG_VARIABLE]
        else:
            os.environ[CONFIG_VARIABLE] = previous
    load_knowledge(settings.mappings_dir or None)
    mode = "development (no clients: nothing is authenticated)" if settings.development_mode else "production"
    report = [f"{path}: valid; {mode} mode; public_base_url {settings.public_base_url or '(none)'}"]
    for index, client in enumerate(settings.clients):
        where = f"clients[{index}]"
        report.append(f"  {where} {client.issuer}: {client_keys(where, client, settings.jwks_timeout_seconds, fetch_keys)}")
    report.append(f"  knowledge: {settings.mappings_dir or 'shipped with the package'}; loaded")
    return report
