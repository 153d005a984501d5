"""Gather stage: prefetch first, else the EHR's FHIR server, else 412.

Per CDS Hooks 2.0: an absent prefetch key is fetched from ``fhirServer``; a ``null`` key means no
data; an OperationOutcome in a key is a failed prefetch, fetched again when possible. FHIR searches
run in parallel within the request's time budget.

A key that cannot be read is named in ``Gathered.problems`` (the info card). A *required* key that
cannot be read is a 412: advice without the conditions or the receptor results would be wrong, not
merely partial ("no breast cancer recorded", "no HER2 result").

A medication record may name its drug only by a reference to a Medication resource, which no
prefetch template can ask for (CDS Hooks' restricted query subset has no ``_include``). Such
Medications that were not sent, and whose reference carries no ``display`` to read instead, are
fetched from the FHIR server afterwards, in one ``_id`` search per hundred, within the same budget.
Those that still cannot be read leave their records unreadable, and the history incomplete
(service/read/medications.py).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from contextvars import copy_context
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qs, quote

from service.fhir_gateway import FetchResult, FhirBadResponse, FhirError, FhirGateway, is_error_outcome
from service.ops import metrics
from service.read.common import local_reference_aliases, referenced_id, resolve_local_references, with_bundle_local_id
from service.read.medications import medication_key, unresolved_reference
from service.read.record import MEDICATION_TYPES

log = logging.getLogger(__name__)
MAX_PARALLEL_SEARCHES = 8
MEDICATION_IDS_PER_SEARCH = 100
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

_NOT_OFFERED = (404, 501)  # FHIR REST: the resource type is not supported (or the operation not implemented)
_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z0-9_]+)\s*\}\}")


class PrefetchUnavailable(Exception):
    """Required data was neither prefetched nor fetchable (HTTP 412)."""


@dataclass
class Gathered:
    """The resources found for one request and what could not be read."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fetched_keys: list[str] = field(default_factory=list)
    # Keys whose records could not be read in full (a fault, a paging limit, an error OperationOutcome,
    # a next page nobody could fetch). The engine raises history-incomplete for medication keys.
    incomplete: list[str] = field(default_factory=list)
    # Keys whose search the server does not offer (404 or 501: FHIR's answer for a resource type it does
    # not support). For a best-effort key that is no fault: the server keeps none of those records.
    not_offered: list[str] = field(default_factory=list)


def render_query(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill ``{{context.x}}`` tokens; None when a token has no string value in the context."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        value = context.get(match.group(1))
        if not isinstance(value, str) or not value:
            missing = True
            return ""
        return quote(value, safe="")  # a patientId cannot add parameters or path segments

    query = _TOKEN.sub(substitute, template)
    return None if missing else query


def _resources_of(value: Any, aliases: dict[str, str]) -> tuple[list[dict[str, Any]], bool] | None:
    """Resources in a prefetch value (a Bundle or one resource), and whether the answer is partial: the
    Bundle also holds an OperationOutcome with an error or fatal issue, or entries without their resource
    (a fullUrl standing for a record not sent); None for an OperationOutcome or junk. A Bundle inside an
    entry (a batch-response wrapping the searchset) gives its own resources.

    One pass over the entries: a prefetched Bundle can hold thousands. A Bundle other than a search
    result (a collection or transaction an EHR assembled) adds its entries' ``urn:uuid`` names to
    ``aliases`` (``local_reference_aliases``); a searchset's fullUrls are the server's URLs.
    """
    if not isinstance(value, dict):
        return None
    resource_type = value.get("resourceType")
    if resource_type == "OperationOutcome":
        return None
    if resource_type == "Bundle":
        resources = []
        error_outcome = False
        entries = value.get("entry")
        for entry in entries if isinstance(entries, list) else ():
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                # An entry standing for a record the EHR did not send (a fullUrl, no resource): the answer is partial.
                error_outcome = error_outcome or isinstance(entry, dict)
                continue
            kind = resource.get("resourceType")
            if kind == "OperationOutcome":
                error_outcome = error_outcome or is_error_outcome(resource)
            elif kind == "Bundle":  # a search answered inside a batch-response (or another Bundle): its records
                inner = _resources_of(resource, aliases)
                if inner is not None:
                    resources.extend(inner[0])
                    error_outcome = error_outcome or inner[1]
            else:
                resources.append(resource if "id" in resource else with_bundle_local_id(entry, resource))
        if value.get("type") != "searchset":
            local_reference_aliases(entries, aliases)
        return resources, error_outcome
    if isinstance(resource_type, str):
        return [value], False
    return None


def _next_link(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        for link in value["link"] if isinstance(value.get("link"), list) else []:
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                return str(link["url"])
    return None


def _read_prefetch(
    templates: Mapping[str, str], context: Mapping[str, Any], prefetch: Mapping[str, Any], gathered: Gathered
) -> tuple[dict[str, str], dict[str, tuple[str, str | None]], dict[str, str]]:
    """Add every prefetched key's resources to ``gathered``; return the keys still to fetch (key -> query),
    to page (key -> (next link, the key's query)) and that cannot be read (key -> why)."""
    to_fetch: dict[str, str] = {}
    to_page: dict[str, tuple[str, str | None]] = {}
    unavailable: dict[str, str] = {}
    aliases: dict[str, str] = {}  # a Bundle-local urn:uuid -> Type/id (across keys: one may name another's)
    for key, template in templates.items():
        if key in prefetch:
            value = prefetch[key]
            if value is None:
                continue
            read = _resources_of(value, aliases)
            if read is not None:
                resources, error_outcome = read
                gathered.resources.extend(resources)
                if error_outcome:
                    gathered.incomplete.append(key)
                    gathered.problems.append(
                        f"prefetch {key} is partial (an error OperationOutcome, or entries without their record)"
                    )
                link = _next_link(value)
                if link:
                    to_page[key] = (link, render_query(template, context))
                continue
            gathered.problems.append(f"prefetch {key} failed in the EHR")
        query = render_query(template, context)
        if query is None:
            unavailable[key] = "the request's context lacks what its query needs"
            continue
        to_fetch[key] = query
    resolve_local_references(gathered.resources, aliases)
    return to_fetch, to_page, unavailable


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
    may_reach: Callable[[str], bool] | None = None,
    drafts: list[dict[str, Any]] | None = None,
    best_effort: Collection[str] = (),
) -> Gathered:
    """Collect every prefetch key's resources; raise ``PrefetchUnavailable`` when required data is missing.

    ``may_reach`` is the SSRF address check the gateway applies to every URL it fetches, pages included.
    ``drafts``: the draft orders of an order hook (and the Medications sent with them), whose referenced
    Medications are fetched as the history's are (they join ``Gathered.resources``).
    ``best_effort``: keys read when they can be (mappings/services.yaml ``best_effort_prefetch``): one
    neither prefetched nor fetchable, or whose search the server does not offer (404 or 501 to the
    search itself), is passed over in silence; one whose fetch fails otherwise is named.
    """
    deadline = time.monotonic() + budget_seconds
    gathered = Gathered()
    prefetch = prefetch if isinstance(prefetch, Mapping) else {}
    to_fetch, to_page, unavailable = _read_prefetch(templates, context, prefetch, gathered)
    server_allowed = bool(fhir_server) and may_call(str(fhir_server))
    if not server_allowed:  # a best-effort key nobody sent and nobody can fetch: passed over
        to_fetch = {key: query for key, query in to_fetch.items() if key not in best_effort}
    if (to_fetch or to_page) and fhir_server and not server_allowed:
        gathered.problems.append("the FHIR server named in the request is not one this service may call")
    if to_fetch or to_page:
        if not server_allowed:
            unavailable.update(dict.fromkeys(to_fetch, "not prefetched and no FHIR server to call"))
            if to_page:
                gathered.problems.append("a paged prefetch could not be followed (no FHIR server to call)")
                gathered.incomplete.extend(to_page)
        else:
            failed = _fetch_all(to_fetch, to_page, str(fhir_server), token, gateway, deadline, gathered, may_reach)
            unavailable.update(
                {key: why for key, why in failed.items() if key not in best_effort or key not in gathered.not_offered}
            )
    missing_required = sorted(key for key in required if key in unavailable)
    if missing_required:
        metrics.count_prefetch_unavailable(missing_required)
        raise PrefetchUnavailable(
            "required data not prefetched and not fetchable: "
            + "; ".join(f"{key} ({unavailable[key]})" for key in missing_required)
        )
    for key in sorted(unavailable):
        gathered.problems.append(f"{key} could not be read: {unavailable[key]}")
    gathered.incomplete = sorted(set(gathered.incomplete) | set(unavailable))
    if server_allowed:
        _fetch_referenced_medications(str(fhir_server), token, gateway, deadline, gathered, may_reach, drafts or [])
    return gathered


def _fetch_referenced_medications(
    fhir_server: str,
    token: str | None,
    gateway: FhirGateway,
    deadline: float,
    gathered: Gathered,
    may_reach: Callable[[str], bool] | None,
    drafts: list[dict[str, Any]],
) -> None:
    """Fetch the Medications the gathered medication records (and draft orders) need and nobody sent."""
    wanted = missing_medication_ids([*gathered.resources, *drafts], fhir_server)
    searches = {
        f"referenced Medications ({number + 1})": f"Medication?_id={','.join(ids)}&_count={len(ids)}"
        for number, ids in enumerate(_chunks(wanted, MEDICATION_IDS_PER_SEARCH))
    }
    if searches:
        failed = _fetch_all(searches, {}, fhir_server, token, gateway, deadline, gathered, may_reach)
        for label in sorted(failed):
            gathered.problems.append(f"{label} could not be read: {failed[label]}")


def missing_medication_ids(resources: list[dict[str, Any]], fhir_server: str | None) -> list[str]:
    """Ids of the Medications that medication records name only by a reference with no display, and
    that are not among ``resources`` (``unresolved_reference``); only those ``fhir_server`` holds (a
    relative reference, or an absolute one on that server). None without a server to ask.
    """
    if not fhir_server:
        return []
    base = fhir_server.rstrip("/") + "/"
    present = {f"Medication/{r.get('id')}" for r in resources if r.get("resourceType") == "Medication"}
    wanted: dict[str, None] = {}  # ordered, unique
    for resource in resources:
        target = unresolved_reference(resource, present) if resource.get("resourceType") in MEDICATION_TYPES else None
        if target is None or target.startswith(("#", "urn:")) or ("://" in target and not target.startswith(base)):
            continue  # understood, contained, Bundle-local, or another server's: not this server's to answer
        kind, _, medication_id = medication_key(target).partition("/")
        if kind == "Medication" and _FHIR_ID.fullmatch(medication_id):
            wanted[medication_id] = None
    return list(wanted)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _reference_id(resource: Mapping[str, Any], resource_type: str) -> str | None:
    """The id a resource's ``subject`` (or ``patient``) points to when it is a ``resource_type``, else None."""
    for name in ("subject", "patient"):
        reference = resource.get(name)
        if isinstance(reference, Mapping) and isinstance(reference.get("reference"), str):
            return referenced_id(reference, resource_type)
    return None


def _check_search_answer(query: str, resources: list[dict[str, Any]]) -> None:
    """Every resource of a search must be of the searched type and, for ``patient=``, of that patient.

    A server that answers with another patient's records (or records of another kind) is not
    answering the question asked: none of its answer is used.
    """
    resource_type, _, params = query.partition("?")
    patient_ids = parse_qs(params).get("patient")
    for resource in resources:
        if resource.get("resourceType") != resource_type:
            raise FhirBadResponse(f"the FHIR server answered the {resource_type} search with other kinds of records")
        if patient_ids and _reference_id(resource, "Patient") != patient_ids[0]:
            raise FhirBadResponse(f"the FHIR server answered the {resource_type} search with records of another patient")


def _note_partial_answer(key: str, outcomes: list[dict[str, Any]], gathered: Gathered) -> None:
    """A search answered with records and an error OperationOutcome: the key is incomplete.

    The records sent are kept (they are true); the key is named so that the engine distrusts what it
    needs in full (a medication history: ``history-incomplete``, no line, no regimen). Only the
    issue codes are named, never the server's prose.
    """
    codes = sorted(
        {
            str(issue["code"])[:40]
            for outcome in outcomes
            for issue in outcome.get("issue", [])
            if isinstance(issue, dict) and issue.get("severity") in ("error", "fatal") and isinstance(issue.get("code"), str)
        }
    )
    gathered.incomplete.append(key)
    gathered.problems.append(
        f"{key} could not be read in full: the FHIR server answered with an error OperationOutcome among the records"
        + (f", issue {' '.join(codes)}" if codes else "")
    )


def _fetch_all(
    to_fetch: Mapping[str, str],
    to_page: Mapping[str, tuple[str, str | None]],
    fhir_server: str,
    token: str | None,
    gateway: FhirGateway,
    deadline: float,
    gathered: Gathered,
    may_reach: Callable[[str], bool] | None = None,
) -> dict[str, str]:
    """Run the reads and searches in parallel; return the keys that failed with why."""

    def fetch(query: str) -> FetchResult:
        if "?" not in query:
            return FetchResult([gateway.read(fhir_server, query, token, deadline, may_reach)], 1)
        answer = gateway.search(fhir_server, query, token, deadline, may_reach)
        _check_search_answer(query, answer.resources)
        return answer

    def follow(link: str, query: str | None) -> FetchResult:
        answer = gateway.follow(link, fhir_server, token, deadline, reachable=may_reach)
        if query:
            _check_search_answer(query, answer.resources)
        return answer

    failed: dict[str, str] = {}
    jobs: dict[str, tuple[str, Callable[[], FetchResult]]] = {}  # label -> (key, job)
    for key, query in to_fetch.items():
        jobs[key] = (key, partial(fetch, query))
    for key, (link, page_query) in to_page.items():
        jobs[f"{key} (next pages)"] = (key, partial(follow, link, page_query))
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SEARCHES, max(1, len(jobs))), thread_name_prefix="fhir")
    try:
        futures = {pool.submit(copy_context().run, job): label for label, (_key, job) in jobs.items()}
        done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()) + 0.2)
        for future in pending:
            future.cancel()
            metrics.count_fhir_fault(None)
            failed[jobs[futures[future]][0]] = "the FHIR server did not answer within the time budget"
        for future in done:
            label = futures[future]
            try:
                answer = future.result()
            except FhirError as exc:
                metrics.count_fhir_fault(exc)
                failed[jobs[label][0]] = str(exc)
                if exc.status in _NOT_OFFERED and exc.page == 1 and label == jobs[label][0]:  # the search itself
                    gathered.not_offered.append(label)
                continue
            except Exception:  # noqa: BLE001 - a bug reading one odd answer must cost that key, not the response
                log.exception("reading a FHIR answer failed unexpectedly")
                metrics.count_fhir_fault(RuntimeError())
                failed[jobs[label][0]] = "the FHIR answer could not be interpreted"
                continue
            gathered.resources.extend(r for r in answer.resources if r.get("resourceType") != "OperationOutcome")
            gathered.fetched_keys.append(label)
            if answer.error_outcomes:
                _note_partial_answer(jobs[label][0], answer.error_outcomes, gathered)
    finally:
        # Never wait past the budget for a straggler: its own timeouts end it.
        pool.shutdown(wait=False, cancel_futures=True)
    return failed
