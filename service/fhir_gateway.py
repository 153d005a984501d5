"""The one place outbound FHIR HTTP happens: one session, timeouts, paging, typed errors.

The bearer token is sent only to the origin of the ``fhirServer`` it came with: a ``next`` link or a
redirect to another origin is not followed with it.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter


class FhirError(Exception):
    """A FHIR call failed; ``operation_outcome`` keeps the server's explanation when it sent one."""

    def __init__(self, message: str, status: int | None = None, operation_outcome: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.operation_outcome = operation_outcome


class FhirTimeout(FhirError):
    """No answer within the time left in the request's budget."""


class FhirUnavailable(FhirError):
    """Connection refused, DNS failure, or a transport error."""


class FhirBadResponse(FhirError):
    """The answer was not the FHIR JSON asked for (HTML, truncated JSON, wrong Bundle type...)."""


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports made explicit."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def is_loopback(url: str) -> bool:
    """True when every address the host resolves to is a loopback address."""
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


@dataclass
class FetchResult:
    """Resources of one search, across its pages."""

    resources: list[dict[str, Any]]
    pages: int


class FhirGateway:
    """Reads from a FHIR server for one request; thread-safe for concurrent searches."""

    def __init__(self, connect_timeout: float = 0.5, max_pages: int = 20, max_bytes: int = 20 * 1024 * 1024) -> None:
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=16, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.connect_timeout = connect_timeout
        self.max_pages = max_pages
        self.max_bytes = max_bytes

    def close(self) -> None:
        self.session.close()

    def _get(self, url: str, token: str | None, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            raise FhirTimeout("time budget used up before the request")
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.session.get(
                url,
                headers=headers,
                timeout=(min(self.connect_timeout, remaining), remaining),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout as exc:
            raise FhirTimeout("FHIR server did not answer in time") from exc
        except requests.RequestException as exc:
            raise FhirUnavailable(f"FHIR server unreachable ({type(exc).__name__})") from exc
        try:
            body = self._read_body(response, deadline)
        finally:
            response.close()
        if response.is_redirect:
            raise FhirBadResponse(
                f"FHIR server redirected ({response.status_code}); redirects are not followed", response.status_code
            )
        parsed = self._parse(body, response.status_code)
        if response.status_code >= 400:
            outcome = parsed if isinstance(parsed, dict) and parsed.get("resourceType") == "OperationOutcome" else None
            raise FhirError(f"FHIR server answered {response.status_code}", response.status_code, outcome)
        if not isinstance(parsed, dict):
            raise FhirBadResponse("FHIR server answered with JSON that is not a resource", response.status_code)
        return parsed

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > self.max_bytes:
                    raise FhirBadResponse(f"FHIR response over {self.max_bytes} bytes", response.status_code)
                if time.monotonic() > deadline:
                    raise FhirTimeout("FHIR server too slow sending its answer")
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise FhirUnavailable(f"FHIR answer broke off ({type(exc).__name__})") from exc
        return b"".join(chunks)

    @staticmethod
    def _parse(body: bytes, status: int) -> Any:
        if not body:
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if status >= 400:
                return None
            raise FhirBadResponse("FHIR server answered with something that is not JSON", status) from exc

    def read(self, base_url: str, path: str, token: str | None, deadline: float) -> dict[str, Any]:
        """GET one resource (``Patient/123``)."""
        return self._get(urljoin(base_url.rstrip("/") + "/", path), token, deadline)

    def search(self, base_url: str, query: str, token: str | None, deadline: float) -> FetchResult:
        """GET a search and follow ``next`` links on the same origin; searchset Bundles only."""
        url = urljoin(base_url.rstrip("/") + "/", query)
        return self.follow(url, base_url, token, deadline)

    def follow(
        self, url: str, base_url: str, token: str | None, deadline: float, first_page: dict[str, Any] | None = None
    ) -> FetchResult:
        """Collect the resources of a paged Bundle, starting at ``url`` or at ``first_page``."""
        resources: list[dict[str, Any]] = []
        seen: set[str] = set()
        home = origin(base_url)
        pages = 0
        bundle = first_page
        next_url: str | None = url
        while True:
            if bundle is None:
                if next_url is None:
                    break
                if next_url in seen:
                    raise FhirBadResponse("FHIR paging loops back to a page already read")
                seen.add(next_url)
                if origin(next_url) != home:
                    raise FhirBadResponse("FHIR next link points to another server; not followed with the token")
                pages += 1
                if pages > self.max_pages:
                    raise FhirBadResponse(f"FHIR search has more than {self.max_pages} pages")
                bundle = self._get(next_url, token, deadline)
            if bundle.get("resourceType") != "Bundle" or bundle.get("type") not in (
                "searchset",
                "collection",
                "batch-response",
                "transaction-response",
            ):
                raise FhirBadResponse("FHIR server answered a search with something other than a searchset Bundle")
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and (entry.get("search") or {}).get("mode", "match") != "outcome":
                    resources.append(resource)
            next_url = next(
                (
                    link.get("url")
                    for link in bundle.get("link") or []
                    if isinstance(link, dict) and link.get("relation") == "next"
                ),
                None,
            )
            bundle = None
        return FetchResult(resources, pages)
