"""Gather stage: prefetch first, else the EHR's FHIR server, else 412.

Per CDS Hooks 2.0: an absent prefetch key is fetched from ``fhirServer``; a ``null`` key means no
data; an OperationOutcome in a key is a failed prefetch, fetched again when possible. FHIR searches
run in parallel within the request's time budget.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from service.fhir_gateway import FhirError, FhirGateway

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z0-9_]+)\s*\}\}")


class PrefetchUnavailable(Exception):
    """Required data was neither prefetched nor fetchable (HTTP 412)."""


@dataclass
class Gathered:
    """The resources found for one request and what could not be read."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fetched_keys: list[str] = field(default_factory=list)


def render_query(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill ``{{context.x}}`` tokens; None when a token has no string value in the context."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        value = context.get(match.group(1))
        if not isinstance(value, str) or not value:
            missing = True
            return ""
        return value

    query = _TOKEN.sub(substitute, template)
    return None if missing else query


def _resources_of(value: Any) -> list[dict[str, Any]] | None:
    """Resources in a prefetch value (a Bundle or one resource); None for an OperationOutcome or junk."""
    if not isinstance(value, dict):
        return None
    resource_type = value.get("resourceType")
    if resource_type == "OperationOutcome":
        return None
    if resource_type == "Bundle":
        return [
            entry["resource"]
            for entry in (value["entry"] if isinstance(value.get("entry"), list) else [])
            if isinstance(entry, dict)
            and isinstance(entry.get("resource"), dict)
            and entry["resource"].get("resourceType") != "OperationOutcome"
        ]
    if isinstance(resource_type, str):
        return [value]
    return None


def _next_link(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        for link in value["link"] if isinstance(value.get("link"), list) else []:
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                return str(link["url"])
    return None


def gather(
    templates: Mapping[str, str],
    required: list[str],
    context: Mapping[str, Any],
    prefetch: Mapping[str, Any] | None,
    fhir_server: str | None,
    token: str | None,
    gateway: FhirGateway,
    budget_seconds: float,
    may_call: Callable[[str], bool],
) -> Gathered:
    """Collect every prefetch key's resources; raise ``PrefetchUnavailable`` when required data is missing."""
    deadline = time.monotonic() + budget_seconds
    gathered = Gathered()
    prefetch = prefetch if isinstance(prefetch, Mapping) else {}
    to_fetch: dict[str, str] = {}
    to_page: dict[str, tuple[str, dict[str, Any]]] = {}
    unavailable: set[str] = set()
    for key, template in templates.items():
        if key in prefetch:
            value = prefetch[key]
            if value is None:
                continue
            resources = _resources_of(value)
            if resources is not None:
                gathered.resources.extend(resources)
                link = _next_link(value)
                if link:
                    to_page[key] = (link, value)
                continue
            gathered.problems.append(f"prefetch '{key}' failed in the EHR")
        query = render_query(template, context)
        if query is None:
            unavailable.add(key)
            continue
        to_fetch[key] = query
    server_allowed = bool(fhir_server) and may_call(str(fhir_server))
    if (to_fetch or to_page) and fhir_server and not server_allowed:
        gathered.problems.append("the FHIR server named in the request is not one this service may call")
    if to_fetch or to_page:
        if not server_allowed:
            unavailable.update(to_fetch)
            if to_page:
                gathered.problems.append("a paged prefetch could not be followed (no FHIR server to call)")
        else:
            unavailable.update(_fetch_all(to_fetch, to_page, str(fhir_server), token, gateway, deadline, gathered))
    missing_required = [key for key in required if key in unavailable]
    if missing_required and (not fhir_server or not gathered.resources):
        raise PrefetchUnavailable("required data not prefetched and not fetchable: " + ", ".join(sorted(missing_required)))
    for key in sorted(unavailable - set(missing_required)):
        if key in to_fetch and server_allowed:
            continue  # already named by _fetch_all
        gathered.problems.append(f"'{key}' could not be read")
    return gathered


def _fetch_all(
    to_fetch: Mapping[str, str],
    to_page: Mapping[str, tuple[str, dict[str, Any]]],
    fhir_server: str,
    token: str | None,
    gateway: FhirGateway,
    deadline: float,
    gathered: Gathered,
) -> set[str]:
    """Run the searches in parallel; return the keys that failed (each named in ``gathered.problems``)."""
    failed: set[str] = set()
    jobs: dict[str, Callable[[], Any]] = {}
    def search(query: str) -> list[dict[str, Any]]:
        return gateway.search(fhir_server, query, token, deadline).resources

    def read(path: str) -> list[dict[str, Any]]:
        return [gateway.read(fhir_server, path, token, deadline)]

    def follow(url: str) -> list[dict[str, Any]]:
        return gateway.follow(url, fhir_server, token, deadline).resources

    for key, query in to_fetch.items():
        jobs[key] = partial(search if "?" in query else read, query)
    for key, (link, _first) in to_page.items():
        jobs[f"{key} (next pages)"] = partial(follow, link)
    pool = ThreadPoolExecutor(max_workers=min(8, max(1, len(jobs))), thread_name_prefix="fhir")
    try:
        futures = {pool.submit(job): key for key, job in jobs.items()}
        done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()) + 0.2)
        for future in pending:
            key = futures[future]
            failed.add(key.split(" ")[0])
            gathered.problems.append(f"'{key}': the FHIR server did not answer within the time budget")
            future.cancel()
        for future in done:
            key = futures[future]
            try:
                resources = future.result()
            except FhirError as exc:
                failed.add(key.split(" ")[0])
                gathered.problems.append(f"'{key}': {exc}")
                continue
            gathered.resources.extend(r for r in resources if r.get("resourceType") != "OperationOutcome")
            gathered.fetched_keys.append(key)
    finally:
        # Never wait past the budget for a straggler: its own timeouts end it.
        pool.shutdown(wait=False, cancel_futures=True)
    return failed
