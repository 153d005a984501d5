"""The Flask application: discovery, hook calls, feedback, health. Built by ``create_app``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from marshmallow import ValidationError

from service import hardening
from service.auth import Authenticator, Unauthenticated, unauthorized
from service.config import Client, Settings, load_settings
from service.engine import Engine
from service.errors import ApiError, register_error_handlers
from service.feedback import FeedbackRefused, FeedbackStore
from service.fhir_gateway import FhirGateway
from service.gather import PrefetchUnavailable, gather
from service.home import home
from service.issued_cards import DEVELOPMENT_CLIENT, IssuedCard, IssuedCards
from service.jsonio import JsonRefused, json_response, parse_json, too_dense
from service.knowledge import Knowledge, load_knowledge
from service.logs import bind_hook, configure_logging, log_hook_summary
from service.ops import endpoints as ops_endpoints
from service.ops import metrics
from service.ops.blocking import run_blocking
from service.ops.tracing import configure_tracing
from service.order_check import OrderChecker, draft_medication_requests, draft_medications
from service.render import CardRenderer, RenderContext, prune
from service.replay import ReplayStore
from service.schemas import FeedbackSchema, bare_patient_id, load_hook_request, messages_of
from service.ssrf import development_host_allowed, development_server_allowed, fhir_server_allowed, host_allowed
from service.startup import check_listen_addresses, listen_hosts

log = logging.getLogger("her2cds")
hooks = Blueprint("hooks", __name__)
# Public files EHRs fetch from the browser (the card icon): no authentication, cached for a day.
assets = Blueprint("assets", __name__, static_folder="assets", static_url_path="/assets")
FEEDBACK_SCHEMA = FeedbackSchema()
BATCH_GRACE_SECONDS = 0.5  # beyond a batch's time: its timer running late on a busy worker, its transaction committing


HOST_URLS_KEPT = 64


class Runtime:
    """Everything built once at start-up and shared by requests."""

    def __init__(self, settings: Settings, knowledge: Knowledge) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.engine = Engine(knowledge)
        self.renderer = CardRenderer(knowledge)
        self.order_checker = OrderChecker(knowledge, self.engine.normaliser, self.renderer)
        self.gateway = FhirGateway(settings.fhir_connect_timeout_seconds, settings.max_fhir_pages, settings.max_fhir_bundle_bytes)
        self.feedback = FeedbackStore(settings.database_url)
        # Settings read with a default until service.config declares them (typed settings, issue 15).
        retention_days = settings.issued_card_retention_days
        self.issued = IssuedCards(self.feedback.relaxed_engine(), retention_days, settings.issued_card_batch_seconds)
        self.feedback_per_card = settings.feedback_per_card
        self.feedback_per_client_per_hour = settings.feedback_per_client_per_hour
        self.authenticator = None if settings.development_mode else Authenticator(settings, ReplayStore(self.feedback.engine))
        self.services = knowledge.services["services"]
        self.templates = prefetch_templates(knowledge)
        self.discovery = discovery_document(knowledge, self.templates, settings.discovery_ids)
        self._host_urls: dict[tuple[Any, ...], str] = {}  # development mode: request.host_url by what it is made of

    def service_hooks(self, service_id: str) -> set[str]:
        """The hooks ``service_id`` answers: its shared id, or (``discovery_ids: per-hook``) one id per hook."""
        return {service["hook"] for service in self.services if service_id in (service["id"], per_hook_id(service))}

    def may_call(self, fhir_server: str) -> bool:
        """SSRF guard (``service.ssrf``): the calling client's FHIR servers; in development mode, listed or loopback."""
        if self.settings.development_mode:
            return development_server_allowed(fhir_server, self.settings.fhir_servers, self.settings.allow_loopback_fhir)
        client: Client | None = g.get("cds_client")
        return client is not None and fhir_server_allowed(fhir_server, client.fhir_servers, client.private_networks)

    def client_name(self) -> str:
        """Who is calling: the client's JWT issuer, or ``development`` without trusted clients."""
        client: Client | None = g.get("cds_client")
        return client.issuer if client is not None else DEVELOPMENT_CLIENT

    def address_guard(self) -> Callable[[str], bool]:
        """The SSRF address check the gateway applies to every URL of this request, pages included.

        Bound to the calling client now: the FHIR fetches run in other threads, outside the request context.
        """
        if self.settings.development_mode:
            return partial(
                development_host_allowed, listed=self.settings.fhir_servers, allow_loopback=self.settings.allow_loopback_fhir
            )
        client: Client | None = g.get("cds_client")
        if client is None:
            return lambda _url: False
        return partial(host_allowed, private_networks=client.private_networks)

    def public_base_url(self) -> str | None:
        """Where EHRs reach the service (card icons): the configured URL; the request's host in development only."""
        if self.settings.public_base_url:
            return self.settings.public_base_url
        if not self.settings.development_mode:
            return None
        # werkzeug makes host_url from the scheme, the Host header and the server address (and the app's
        # trusted hosts): worked out once for each, not on every call (a thirtieth of a small patient's
        # request, issue 16). The Host header is the caller's: the table is bounded.
        environ = request.environ
        key = tuple(environ.get(name) for name in ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT"))
        found = self._host_urls.get(key)
        if found is None:
            found = request.host_url
            if len(self._host_urls) >= HOST_URLS_KEPT:
                self._host_urls.clear()
            self._host_urls[key] = found
        return found

    def fallback_fhir_server(self) -> str | None:
        """Development mode: where to read what a request neither prefetched nor named a ``fhirServer`` for."""
        return (self.settings.fallback_fhir_server or None) if self.settings.development_mode else None

    def evaluation_date(self) -> date:
        fixed = current_app.config.get("HER2CDS_EVALUATION_DATE")
        return date.fromisoformat(fixed) if fixed else date.today()


def prefetch_templates(knowledge: Knowledge) -> dict[str, str]:
    """Prefetch templates with the ``{{codes:kind,...}}`` shorthand expanded to LOINC token lists.

    Each ``system|code`` token of a ``code`` search is asked again under the system's OIDs
    (codes.yaml ``system_aliases.oids``): a server that stores codes as records converted from C-CDA or
    HL7 v2 write them (``urn:oid:2.16.840.1.113883.6.1|...``) matches no URI token.
    """
    loinc = knowledge.systems["loinc"]
    oids: dict[str, list[str]] = {}
    for alias, system in knowledge.system_alias.items():
        if alias.startswith("urn:oid:"):
            oids.setdefault(system, []).append(alias)
    templates = {}
    for key, template in knowledge.services["prefetch"].items():
        while "{{codes:" in template:
            start = template.index("{{codes:")
            end = template.index("}}", start)
            kinds = template[start + len("{{codes:") : end].split(",")
            tokens = ",".join(f"{loinc}|{code}" for kind in kinds for code in knowledge.codes_by_kind[kind])
            template = template[:start] + tokens + template[end + 2 :]
        templates[key] = _with_oid_tokens(template, oids)
    return templates


def _with_oid_tokens(template: str, oids: dict[str, list[str]]) -> str:
    """The template with each ``code=`` token also asked under its system's OIDs (after the URI tokens)."""
    path, separator, query = template.partition("?")
    if not separator:
        return template
    parameters = []
    for parameter in query.split("&"):
        name, equals, value = parameter.partition("=")
        if name == "code" and equals:
            tokens = value.split(",")
            pairs = [token.partition("|")[::2] for token in tokens]
            extra = [f"{oid}|{code}" for system, code in pairs for oid in oids.get(system, [])]
            parameter = f"{name}={','.join(tokens + extra)}"
        parameters.append(parameter)
    return f"{path}?{'&'.join(parameters)}"


def per_hook_id(service: dict[str, Any]) -> str:
    """The id a service offered under several hooks gets per hook for clients that key services by id."""
    return f"{service['id']}-{service['hook']}"


def discovery_document(knowledge: Knowledge, templates: dict[str, str], discovery_ids: str = "shared") -> dict[str, Any]:
    """``GET /cds-services`` body, from mappings/services.yaml.

    ``discovery_ids="shared"`` lists a service offered under several hooks with one id (CDS Hooks 2.0
    allows it, and an EHR then replaces the order-select cards with the order-sign ones); ``"per-hook"``
    gives such a service one id per hook (``her2-mbc-order-check-order-sign``) for clients that key
    services by id, such as the official CDS Hooks sandbox.
    """
    shared = [service["id"] for service in knowledge.services["services"]]
    services = []
    for service in knowledge.services["services"]:
        entry = {key: service[key] for key in ("hook", "id", "title", "description", "usageRequirements") if service.get(key)}
        if discovery_ids == "per-hook" and shared.count(service["id"]) > 1:
            entry["id"] = per_hook_id(service)
        entry["prefetch"] = dict(templates)
        services.append(entry)
    return {"services": services}


def runtime() -> Runtime:
    found: Runtime = current_app.extensions["her2cds"]
    return found


def request_bytes(limit: int) -> bytes:
    """The request body; a 413 when it reaches ``limit`` bytes.

    When the server ends the body stream itself (gunicorn sets ``wsgi.input_terminated``) and the
    ``Content-Length`` is below the limit, the body is read from it in one call. Werkzeug's guarded
    stream would read it in 64 KiB blocks, each into a new buffer, and then once more to find the end:
    that had cost three times the floor's read of the same body (issue 16). It returns the same bytes.
    Anything else (no length, a chunked body, a server that does not end the stream) takes
    werkzeug's way.
    """
    environ = request.environ
    length = request.content_length
    if length is not None and length < limit and environ.get("wsgi.input_terminated"):
        return bytes(environ["wsgi.input"].read(length))
    raw = request.get_data(cache=False)
    if len(raw) >= limit:
        request.stream.read(1)  # a chunked body is cut off at the limit without a word: reading on raises the 413
    return raw


def read_json_body() -> Any:
    """The request body as JSON, parsed once; clear 4xx errors for everything else."""
    mimetype = (request.mimetype or "").lower()
    if not (mimetype == "application/json" or mimetype.endswith("+json")):
        raise ApiError(415, "Content-Type must be application/json")
    raw = request_bytes(current_app.config["MAX_CONTENT_LENGTH"])
    if not raw:
        raise ApiError(400, "request body is empty; a JSON object is required")
    if too_dense(raw):
        raise ApiError(400, "the JSON holds far more values than its size suggests (a flood of tiny values); refused unparsed")
    try:
        body = parse_json(raw)
    except JsonRefused as exc:
        raise ApiError(400, str(exc)) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


@hooks.before_request
def authenticate() -> Response | None:
    """Every hooks route but /healthz needs a valid CDS client JWT once clients are configured."""
    authenticator = runtime().authenticator
    if authenticator is None or request.endpoint == "hooks.healthz" or request.method == "OPTIONS":
        return None
    try:
        g.cds_client = authenticator.verify(request.headers.get("Authorization"), authenticator.audience())
    except Unauthenticated as reason:
        log.info("request refused: %s", reason, extra={"path": request.path})
        metrics.count_auth_refusal(reason)
        return unauthorized()
    return None


@hooks.get("/cds-services")
def discovery() -> Response:
    return json_response(runtime().discovery)


@hooks.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    rt = runtime()
    offered = rt.service_hooks(service_id)
    if not offered:
        raise ApiError(404, f"no CDS service with id '{service_id}'")
    body = read_json_body()
    try:
        hook_request = load_hook_request(body)
    except ValidationError as exc:
        raise ApiError(400, "invalid CDS Hooks request", messages_of(exc)) from exc
    bind_hook(hook_request["hookInstance"], hook_request["hook"], service_id)
    if hook_request["hook"] not in offered:
        raise ApiError(400, f"service '{service_id}' does not answer hook '{hook_request['hook']}'")
    context = bare_patient_id(hook_request["context"])
    authorization = hook_request.get("fhirAuthorization") or {}
    orders = draft_medication_requests(context, hook_request["hook"]) if hook_request["hook"] != "patient-view" else []
    order_medications = draft_medications(context) if orders else []  # drugs the drafts may reference
    started = time.monotonic()
    try:
        gathered = gather(
            rt.templates,
            rt.knowledge.services["required_prefetch"],
            context,
            hook_request.get("prefetch"),
            hook_request.get("fhirServer") or rt.fallback_fhir_server(),
            authorization.get("access_token"),
            rt.gateway,
            rt.settings.time_budget_seconds,
            rt.may_call,
            rt.address_guard(),
            [*orders, *order_medications],  # drafts whose Medications are fetched if not at hand
            rt.knowledge.services.get("best_effort_prefetch", ()),
        )
    except PrefetchUnavailable as exc:
        raise ApiError(412, str(exc)) from exc
    patient_id = str(context["patientId"])
    evaluation = rt.engine.evaluate(patient_id, gathered.resources, rt.evaluation_date(), gathered.incomplete)
    render_context = RenderContext(hook_request["hookInstance"], patient_id, gathered.problems, rt.public_base_url())
    problems = gathered.problems
    if hook_request["hook"] == "patient-view":
        cards = rt.renderer.cards(evaluation, render_context)
    else:
        normaliser = rt.engine.normaliser
        medications = normaliser.medications_by_reference([*order_medications, *gathered.resources])
        session = draft_medication_requests(context, "order-sign")  # every draft, selected or not
        cards = rt.order_checker.cards(evaluation, orders, render_context, medications, session) if orders else []
        unreadable_orders = rt.order_checker.unreadable(orders, medications)
        problems = gathered.problems + unreadable_orders
        # Records that could not be read may hide a warning: say so whenever an order was (or could not be) checked.
        checked = cards or any(normaliser.agents_of_record(order, medications) for order in orders)
        if problems and (checked or unreadable_orders):
            cards.append(prune(rt.renderer.data_card(problems, render_context)))
    metrics.count_cards(service_id, hook_request["hook"], cards)
    remember_issued_cards(rt, cards, render_context, service_id, hook_request["hook"])
    summary = {"cards": len(cards), "problems": len(problems), "answer_ms": round((time.monotonic() - started) * 1000)}
    log_hook_summary(log, request.environ, summary)
    return json_response({"cards": cards})


def remember_issued_cards(rt: Runtime, cards: list[dict[str, Any]], context: RenderContext, service_id: str, hook: str) -> None:
    """Record the response's cards (kind, indicator, rule, client; no patient data) for their feedback.

    A database failure here costs the feedback on these cards, never the cards themselves.
    """
    try:
        rt.issued.record(cards, context.issued_keys, rt.client_name(), service_id, hook)
    except Exception:  # noqa: BLE001 - the safety warnings must reach the clinician even when the database is down
        log.exception("issued cards could not be recorded; feedback on them will be refused")


@hooks.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """Feedback on cards this service issued to this client; bounded per card and per client."""
    rt = runtime()
    if not rt.service_hooks(service_id):
        raise ApiError(404, f"no CDS service with id '{service_id}'")
    body = read_json_body()
    try:
        items = FEEDBACK_SCHEMA.load(body)["feedback"]
    except ValidationError as exc:
        raise ApiError(400, "invalid feedback", messages_of(exc)) from exc
    client = rt.client_name()
    issued = issued_cards_of(rt, {item["card"] for item in items})
    mine = {uuid for uuid, card in issued.items() if card.client == client and card.service_id == service_id}
    unknown = sorted({item["card"] for item in items} - mine)
    if unknown:
        # The same answer whether the card was never issued, expired, or issued to another client.
        raise ApiError(404, f"no card issued by service '{service_id}' to this client with uuid {', '.join(unknown[:5])}")
    try:
        run_blocking(rt.feedback.check_limits, client, items, rt.feedback_per_card, rt.feedback_per_client_per_hour)
    except FeedbackRefused as exc:
        raise ApiError(exc.status, str(exc)) from exc
    stored = run_blocking(rt.feedback.store, service_id, items, client, issued)
    metrics.count_feedback(service_id, items)
    log.info("feedback stored", extra={"service": service_id, "items": len(items), "new": stored})
    return json_response({})


def issued_cards_of(rt: Runtime, card_uuids: set[str]) -> dict[str, IssuedCard]:
    """The issued cards among ``card_uuids``; asked twice when some are missing, since another worker
    may hold them in its batch for up to ``issued_card_batch_seconds`` (``service.issued_cards``)."""
    issued = rt.issued.find(card_uuids)
    missing = card_uuids - issued.keys()
    if missing and rt.issued.batch_seconds > 0:
        time.sleep(rt.issued.batch_seconds + BATCH_GRACE_SECONDS)  # a greenlet's sleep under gevent
        issued.update(rt.issued.find(missing))
    return issued


@hooks.get("/healthz")
def healthz() -> Response:
    try:
        run_blocking(runtime().feedback.ping)
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        log.exception("health check: database unavailable")
        return json_response({"status": "unavailable", "database": "down"}, 503)
    return json_response({"status": "ok", "database": "ok"})


def readiness_checks(rt: Runtime) -> dict[str, Any]:
    """What ``/readyz`` checks: the database answers, the knowledge is loaded."""
    return {"database": lambda: run_blocking(rt.feedback.ping), "knowledge": lambda: bool(rt.discovery["services"])}


SYNCED_KEPT = 256


class ServiceFlask(Flask):
    """Flask, with the answer of ``ensure_sync`` kept for each view and request hook.

    Flask asks, for every hook and the view of every request, whether the function is a coroutine
    (``inspect.iscoroutinefunction``: eight times a hook call). The answer never changes for a
    function, so it is looked up once (issue 16). Functions made per request (``after_this_request``)
    would fill the table: it keeps at most ``SYNCED_KEPT``, the first ones asked, the app's own.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        try:
            return self._synced[func]
        except KeyError:
            synced = super().ensure_sync(func)
            if len(self._synced) < SYNCED_KEPT:
                self._synced[func] = synced
            return synced
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. ``config`` overrides settings (tests); the environment gives the rest."""
    overrides = dict(config or {})
    evaluation_date = overrides.pop("evaluation_date", None)
    listening_on = overrides.pop("listen_hosts", None)  # her2-cds serve says where it binds
    settings = load_settings(overrides)
    configure_logging(settings.log_level)
    check_listen_addresses(settings, listen_hosts(listening_on))
    knowledge = load_knowledge(settings.mappings_dir or None)
    app = ServiceFlask("her2cds")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 86400  # the card icon
    app.config["HER2CDS_EVALUATION_DATE"] = evaluation_date
    app.extensions["her2cds"] = Runtime(settings, knowledge)
    app.register_blueprint(hooks)
    app.register_blueprint(assets)
    app.register_blueprint(home)
    if settings.sandbox and settings.development_mode:
        from service.sandbox import sandbox

        app.register_blueprint(sandbox)
    if settings.examples_fhir and settings.development_mode:
        from service.examples_fhir import examples_fhir

        app.register_blueprint(examples_fhir)
    register_error_handlers(app)
    rt = app.extensions["her2cds"]
    ops_endpoints.install(app, {service["id"] for service in rt.discovery["services"]}, readiness_checks(rt))
    configure_tracing(app, endpoint=settings.otlp_endpoint, mode=settings.tracing, ratio=settings.trace_sample_ratio)
    hardening.install(app, settings)  # dev-mode Host check, nosniff / no-store / CSP headers (service.hardening)
    hardening.install_cors(app, settings)  # grants to browser origins only (service.hardening)
    if settings.development_mode:
        log.warning(
            "DEVELOPMENT MODE: no trusted CDS clients configured, requests are NOT authenticated; "
            "FHIR servers on loopback addresses may be called. Configure clients (HER2CDS_CONFIG) before real use."
        )
    return app
