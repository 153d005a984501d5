"""The one place outbound FHIR HTTP happens: one session, timeouts, paging, typed errors.

The bearer token is sent only to the origin of the ``fhirServer`` it came with: redirects are not
followed at all, nor ``next`` links to another origin. Origins are read with ``service.ssrf.url_origin``,
which refuses any URL the HTTP client could read differently (``http://OTHER\\@FHIRHOST/``), and
every URL, each page included, passes the caller's address guard (``reachable``) before it is fetched.
Every call keeps to the request's deadline
(connect timeout, read timeout, body read in pieces) and to a byte limit; every failure is a typed
``FhirError`` that ``service.gather`` turns into an info card or a 412.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import http.cookiejar
import ipaddress
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from service.jsonio import JsonRefused, JsonTooDeep, parse_json, too_dense
from service.ops import metrics
from service.ssrf import url_origin

# Decides, just before a GET, whether the URL's host may be called (the SSRF address check).
AddressGuard = Callable[[str], bool]

RETRYABLE_STATUSES = (429, 503)
MIN_REQUEST_SECONDS = 0.05  # less budget than this left: do not start another request
SEARCHSET_TYPES = ("searchset", "collection", "batch-response", "transaction-response")


class FhirError(Exception):
    """A FHIR call failed; ``operation_outcome`` keeps the server's explanation when it sent one."""

    def __init__(self, message: str, status: int | None = None, operation_outcome: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.operation_outcome = operation_outcome
        self.page = 0  # the page of a search that failed (1: its first answer); 0 for a read


class FhirTimeout(FhirError):
    """No answer within the time left in the request's budget."""


class FhirUnavailable(FhirError):
    """Connection refused, DNS failure, or a transport error."""


class FhirBadResponse(FhirError):
    """The answer was not the FHIR JSON asked for (HTML, truncated JSON, wrong Bundle type...)."""


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on other C libraries."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim", None)
    except OSError:
        return None


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand heap memory freed by this process back to the operating system (glibc only).

    An oversized answer is read up to ``max_bytes`` before it is refused. The freed chunks stay in the
    malloc arena of the thread that read them, usable by that arena only; with a new thread pool per
    request, arena after arena keeps its 20 MB, and `make soak` saw the workers' RSS grow by half in
    five minutes. Trimming after such a refusal keeps it flat.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def origin(url: Any) -> tuple[str, str, int] | None:
    """(scheme, host, port) with default ports made explicit; None when ``url`` is not a usable,
    unambiguous URL (``service.ssrf.url_origin``)."""
    return url_origin(url)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay in seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _parse(body: bytes, status: int) -> Any:
    """JSON of a body; None for an empty or (on an error status) unreadable one."""
    if not body:
        return None
    if too_dense(body):
        raise FhirBadResponse("the FHIR answer holds far more values than its size suggests; refused unparsed", status)
    try:
        return parse_json(body)
    except JsonRefused as exc:
        if status >= 400:
            return None
        if isinstance(exc, JsonTooDeep):
            raise FhirBadResponse("the FHIR answer nests too deeply", status) from exc
        raise FhirBadResponse("the FHIR server answered with something that is not JSON (HTML, or cut off)", status) from exc


def _status_text(status: int, outcome: dict[str, Any] | None, headers: Mapping[str, str]) -> str:
    """'the FHIR server answered 429 Too Many Requests (throttled; Retry-After 30 s)': no server prose, only codes."""
    try:
        text = f"the FHIR server answered {status} {HTTPStatus(status).phrase}"
    except ValueError:
        text = f"the FHIR server answered {status}"
    notes = []
    issues = outcome.get("issue") if outcome else None
    if isinstance(issues, list) and issues and isinstance(issues[0], dict) and isinstance(issues[0].get("code"), str):
        notes.append(issues[0]["code"][:40])
    wait = retry_after_seconds(headers.get("Retry-After")) if status in RETRYABLE_STATUSES else None
    if wait is not None:
        notes.append(f"Retry-After {wait:.0f} s")
    return text + (f" ({'; '.join(notes)})" if notes else "")


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
    """Resources of one search, across its pages.

    ``error_outcomes`` keeps every OperationOutcome the server put among the entries (``search.mode =
    outcome``) with an ``error`` or ``fatal`` issue: the server says its answer is partial (a search
    parameter it dropped, a timeout on its side), so the records it did send are not the whole story.
    Informational and warning outcomes are not kept: they do not say records are missing.
    """

    resources: list[dict[str, Any]]
    pages: int
    error_outcomes: list[dict[str, Any]] = field(default_factory=list)


class FhirGateway:
    """Reads from a FHIR server for one request; thread-safe for concurrent searches.

    One session with a connection pool large enough for the parallel searches of several concurrent
    requests (an undersized pool discards connections and logs a warning on every request). The
    session keeps no cookies: it serves every EHR user, so a cookie set for one request's token
    must never ride along with another's. Without cookies the session holds no per-request state
    (headers and timeouts are passed per call), and urllib3's pool is safe to share between threads.
    """

    def __init__(
        self,
        connect_timeout: float = 0.5,
        max_pages: int = 20,
        max_bytes: int = 20 * 1024 * 1024,
        pool_size: int = 64,
    ) -> None:
        self.session = requests.Session()
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.hooks["response"].append(metrics.observe_fhir_response)
        self.connect_timeout = connect_timeout
        self.max_pages = max_pages
        self.max_bytes = max_bytes

    def close(self) -> None:
        self.session.close()

    def _get(self, url: str, token: str | None, deadline: float, reachable: AddressGuard | None = None) -> dict[str, Any]:
        """GET one FHIR resource; a 429/503 whose Retry-After fits in the budget is tried once more.

        The URL must be unambiguous and, when ``reachable`` is given, pass it (the full SSRF address
        check) right before the request: a page is judged as strictly as the first request.
        """
        if origin(url) is None:
            raise FhirBadResponse("a FHIR URL that HTTP clients could read differently; not fetched with the token")
        if reachable is not None and not reachable(url):
            raise FhirBadResponse("a FHIR URL on an address this service may not call; not fetched")
        status, headers, body = self._exchange(url, token, deadline)
        if status in RETRYABLE_STATUSES:
            wait = retry_after_seconds(headers.get("Retry-After"))
            if wait is not None and time.monotonic() + wait + MIN_REQUEST_SECONDS < deadline:
                time.sleep(wait)
                status, headers, body = self._exchange(url, token, deadline)
        return self._resource_of(status, headers, body)

    def _exchange(self, url: str, token: str | None, deadline: float) -> tuple[int, Mapping[str, str], bytes]:
        """One GET: status, headers and the whole body, read within the deadline and the byte limit."""
        remaining = deadline - time.monotonic()
        if remaining <= MIN_REQUEST_SECONDS:
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
            raise FhirTimeout("the FHIR server did not answer in time") from exc
        except requests.RequestException as exc:
            raise FhirUnavailable(f"the FHIR server could not be reached ({type(exc).__name__})") from exc
        try:
            body = self._read_body(response, deadline)
        finally:
            response.close()
        return response.status_code, response.headers, body

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        """The body, refused once over ``max_bytes`` or past the deadline.

        ``read1`` returns whatever has arrived, so a server that drips its answer a byte at a time is
        stopped at the deadline instead of holding the thread until the last byte.
        """
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FhirBadResponse(f"the FHIR answer is over {self.max_bytes} bytes", response.status_code)
        # Fixed-size chunks joined once at the end: a bytearray grown chunk by chunk reallocates ever
        # larger blocks, and the freed ones fragment the heap (`make soak` saw the workers' RSS double).
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise FhirTimeout("the FHIR server was too slow sending its answer")
                chunk = response.raw.read1(65536, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    chunks.clear()
                    release_free_memory()
                    raise FhirBadResponse(f"the FHIR answer is over {self.max_bytes} bytes", response.status_code)
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise FhirTimeout("the FHIR server was too slow sending its answer") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FhirUnavailable(f"the FHIR answer broke off ({type(exc).__name__})") from exc
        return b"".join(chunks)

    @staticmethod
    def _resource_of(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The JSON resource of a 2xx answer; a typed error for everything else."""
        if 300 <= status < 400:
            raise FhirBadResponse(f"the FHIR server redirected ({status}); redirects are not followed", status)
        parsed = _parse(body, status)
        if status >= 400:
            outcome = parsed if isinstance(parsed, dict) and parsed.get("resourceType") == "OperationOutcome" else None
            raise FhirError(_status_text(status, outcome, headers), status, outcome)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
            raise FhirBadResponse("the FHIR server answered with JSON that is not a FHIR resource", status)
        return parsed

    def read(
        self, base_url: str, path: str, token: str | None, deadline: float, reachable: AddressGuard | None = None
    ) -> dict[str, Any]:
        """GET one resource (``Patient/123``); anything but that resource is a bad response."""
        resource = self._get(urljoin(base_url.rstrip("/") + "/", path), token, deadline, reachable)
        resource_type, _, resource_id = path.partition("/")
        if resource.get("resourceType") != resource_type or resource.get("id") != resource_id:
            raise FhirBadResponse(f"the FHIR server answered a read of {resource_type} with another resource")
        return resource

    def search(
        self, base_url: str, query: str, token: str | None, deadline: float, reachable: AddressGuard | None = None
    ) -> FetchResult:
        """GET a search and follow ``next`` links on the same origin; searchset Bundles only."""
        url = urljoin(base_url.rstrip("/") + "/", query)
        return self.follow(url, base_url, token, deadline, reachable=reachable)

    def follow(  # noqa: PLR0913  (one search's identity: url, origin, token, deadline, first page, guard)
        self,
        url: str,
        base_url: str,
        token: str | None,
        deadline: float,
        first_page: dict[str, Any] | None = None,
        reachable: AddressGuard | None = None,
    ) -> FetchResult:
        """Collect the resources of a paged Bundle, starting at ``url`` or at ``first_page``.

        Pages are read only from the origin of ``base_url`` (the token belongs there), judged by the
        parser the HTTP client uses, each through the address guard ``reachable``, at most
        ``max_pages`` of them, and never the same page twice.
        """
        resources: list[dict[str, Any]] = []
        error_outcomes: list[dict[str, Any]] = []
        seen: set[str] = set()
        home = origin(base_url)
        pages = 0
        bundle = first_page
        next_url: Any = url
        while True:
            if bundle is None:
                if next_url is None:
                    break
                if home is None or origin(next_url) != home:
                    raise FhirBadResponse("a FHIR next link points to another server; not followed with the token")
                if next_url in seen:
                    raise FhirBadResponse("FHIR paging loops back to a page already read")
                seen.add(next_url)
                pages += 1
                if pages > self.max_pages:
                    raise FhirBadResponse(f"the FHIR search has more than {self.max_pages} pages")
                try:
                    bundle = self._get(next_url, token, deadline, reachable)
                except FhirError as exc:
                    exc.page = pages
                    raise
            matches, outcomes = _searchset_entries(bundle)
            resources.extend(matches)
            error_outcomes.extend(outcome for outcome in outcomes if is_error_outcome(outcome))
            next_url = _next_url(bundle)
            bundle = None
        return FetchResult(resources, pages, error_outcomes)


def is_error_outcome(resource: Any) -> bool:
    """True for an OperationOutcome with at least one ``error`` or ``fatal`` issue."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "OperationOutcome":
        return False
    issues = resource.get("issue")
    return isinstance(issues, list) and any(
        isinstance(issue, dict) and issue.get("severity") in ("error", "fatal") for issue in issues
    )


def _searchset_entries(bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The match entries and the OperationOutcomes of one searchset page; a bad response for anything
    not shaped like one. An OperationOutcome entry counts as an outcome whatever its ``search.mode``
    says (servers do not all set it), never as a record."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") not in SEARCHSET_TYPES:
        raise FhirBadResponse("the FHIR server answered a search with something other than a searchset Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise FhirBadResponse("the FHIR server answered a search with a malformed Bundle")
    resources: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        search = entry.get("search") if isinstance(entry, dict) else None
        mode = search.get("mode", "match") if isinstance(search, dict) else "match"
        if not isinstance(resource, dict):
            continue
        if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
            outcomes.append(resource)
        else:
            resources.append(resource)
    return resources, outcomes


def _next_url(bundle: dict[str, Any]) -> Any:
    """The ``next`` link of a Bundle page (any JSON value; ``follow`` checks it), or None."""
    links = bundle.get("link") or []
    if not isinstance(links, list):
        raise FhirBadResponse("the FHIR server answered a search with a malformed Bundle")
    return next((link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "next"), None)
