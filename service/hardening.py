"""HTTP hardening around every route: who may address the service, and what responses tell browsers.

- Development mode answers only requests whose ``Host`` names a loopback address (``localhost``,
  127.0.0.0/8, ``::1``) or the host of ``public_base_url``: a web page cannot use DNS rebinding
  (``evil.example`` resolving to 127.0.0.1) to drive a developer's unauthenticated service.
- Every response says ``X-Content-Type-Options: nosniff``; responses of the CDS routes and the
  sandbox's API (patient facts) say ``Cache-Control: no-store``; HTML pages (the sandbox) carry a
  Content-Security-Policy that allows this origin's scripts only and no framing.
- ``cors_origins`` entries are exact origins (``https://ehr.hospital.example``) or, as the one
  pattern form, ``scheme://*.domain[:port]``: any single DNS label in place of ``*``. Any other
  character that a regular expression would read is refused at start-up (flask-cors would otherwise
  treat the entry as a regular expression, silently: ``https://*.hospital.example`` matched
  ``https://evil.example/.hospital.example``-like origins it was never meant to).
- CORS headers answer requests that carry an ``Origin`` (browsers); a server-side EHR's call carries
  none and gets none, and skips flask-cors's per-request matching (about 50 µs a call; issue 16).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from flask import Flask, Response, request

from service.config import ConfigError, Settings
from service.errors import error_response

NO_STORE_PREFIXES = ("/cds-services", "/sandbox/api")
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")  # probes reach a pod by its address; they carry no data
SANDBOX_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_EXACT_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_WILDCARD_ORIGIN = re.compile(r"^(https?)://\*\.([A-Za-z0-9.-]+?)(:[0-9]{1,5})?$")


def loopback_host(host_header: str) -> bool:
    """True when a ``Host`` header (``name[:port]``, ``[v6]:port``) names a loopback address."""
    host = urlsplit(f"//{host_header}").hostname if host_header else None
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def install_cors(app: Flask, settings: Settings) -> None:
    """flask-cors for ``settings.browser_origins``, its after-request step run for requests with an ``Origin``.

    ``always_send=False``: a request without ``Origin`` is no CORS request (Fetch standard) and its
    response names no origin; so flask-cors's step would add nothing to it, and is not run.
    """
    if not settings.browser_origins:
        return
    from flask_cors import CORS

    after = app.after_request_funcs.setdefault(None, [])
    known = len(after)
    # Private Network Access: a page on a public origin (the CDS Hooks sandbox) calling a loopback service.
    origins = cors_origin_patterns(settings.browser_origins)
    CORS(app, origins=origins, supports_credentials=False, allow_private_network=settings.development_mode, always_send=False)
    after[known:] = [_with_origin_only(step) for step in after[known:]]


def _with_origin_only(step: Callable[[Any], Any]) -> Callable[[Response], Response]:
    @functools.wraps(step)
    def run(response: Response) -> Response:
        return cast(Response, step(response)) if "Origin" in request.headers else response

    return run


def cors_origin_patterns(origins: tuple[str, ...] | list[str]) -> list[str | re.Pattern[str]]:
    """Exact origins as strings; ``scheme://*.domain`` as an anchored pattern for one DNS label; else ConfigError."""
    patterns: list[str | re.Pattern[str]] = []
    for entry in origins:
        wildcard = _WILDCARD_ORIGIN.match(entry)
        if wildcard:
            scheme, domain, port = wildcard.groups()
            patterns.append(re.compile(rf"^{scheme}://[A-Za-z0-9-]+\.{re.escape(domain)}{re.escape(port or '')}$", re.IGNORECASE))
        elif entry == "*" or _EXACT_ORIGIN.match(entry):
            patterns.append(entry.rstrip("/"))
        else:
            raise ConfigError(
                f"setting cors_origins: {entry!r} is neither an exact origin (https://ehr.example.org) "
                "nor scheme://*.domain (any one DNS label in place of *)"
            )
    return patterns


def install(app: Flask, settings: Settings) -> None:
    """Register the Host check (development mode) and the response headers on ``app``."""
    allowed_hosts = {urlsplit(settings.public_base_url).hostname} - {None} if settings.public_base_url else set()

    if settings.development_mode:

        @functools.lru_cache(maxsize=256)  # an EHR sends one Host header again and again; any other is one entry
        def allowed_host(host_header: str) -> bool:
            return loopback_host(host_header) or urlsplit(f"//{host_header}").hostname in allowed_hosts

        @app.before_request
        def _loopback_hosts_only() -> Response | None:
            if allowed_host(request.headers.get("Host", "")) or request.path in HEALTH_PATHS:
                return None
            return error_response(
                400, "development mode answers requests to loopback hosts only (localhost, 127.0.0.1, [::1])"
            )

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path.startswith(NO_STORE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = SANDBOX_CSP
            response.headers["X-Frame-Options"] = "DENY"
        return response
