"""her2-cds: a CDS Hooks 2.0 service for HER2-positive metastatic breast cancer (serve, try, check and report on it)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from service.examples import bundle_resources, example_bundles, patient_id_of

EXAMPLES_PACKAGE = "service.examples"
__all__ = ["bundle_resources", "example_bundles", "main", "patient_id_of"]  # re-exported: tests and scripts import them here
EVALUATE_HOOK_INSTANCE = "her2-cds-evaluate"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from exc


def read_bundle(path: Path) -> dict[str, Any]:
    """A FHIR Bundle from a JSON file; exits with a clear message when it is not one."""
    try:
        bundle = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SystemExit(f"her2-cds: cannot read {path}: {exc}") from exc
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise SystemExit(f"her2-cds: {path} is not a FHIR Bundle")
    return bundle


def evaluate_bundle(bundle: dict[str, Any], hook: str, now: date, mappings_dir: str | None = None) -> dict[str, Any]:
    """The CDS Hooks response the service gives for the patient in ``bundle`` (no server, no FHIR calls)."""
    from service.engine import Engine
    from service.knowledge import load_knowledge
    from service.order_check import OrderChecker
    from service.render import CardRenderer, RenderContext

    knowledge = load_knowledge(mappings_dir)
    engine = Engine(knowledge)
    renderer = CardRenderer(knowledge)
    resources = bundle_resources(bundle)
    patient_id = patient_id_of(resources)
    evaluation = engine.evaluate(patient_id, resources, now)
    context = RenderContext(EVALUATE_HOOK_INSTANCE, patient_id)
    if hook == "patient-view":
        return {"cards": renderer.cards(evaluation, context)}
    drafts = [r for r in resources if r.get("resourceType") == "MedicationRequest" and r.get("status") == "draft"]
    return {"cards": OrderChecker(knowledge, engine.normaliser, renderer).cards(evaluation, drafts, context)}


def _print_demo(name: str, bundle: dict[str, Any], response: dict[str, Any]) -> None:
    resources = bundle_resources(bundle)
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), {})
    names = patient.get("name") or [{}]
    display = " ".join(names[0].get("given", []) + [names[0].get("family", "")]).strip() or patient.get("id", "?")
    cards = response["cards"]
    assessment = cards[0].get("extension", {}).get("her2-cds-assessment", {}) if cards else {}
    print("=" * 100)
    print(f"{display}  ({name}, {len(resources)} resources)")
    line = assessment.get("lineOfTherapy", {})
    print(
        f"  HER2 {assessment.get('her2')} | HR {assessment.get('hormoneReceptor')} | metastatic {assessment.get('metastatic')}"
        f" {assessment.get('metastaticSites', [])} | line {line.get('current')} {line.get('status')}"
        + (" | early relapse" if line.get("earlyRelapse") else "")
    )
    for entry in line.get("history", []):
        print(
            f"    line {entry['line']}: {', '.join(entry['agents'])} {entry['start']} -> {entry.get('end', 'ongoing')}"
            f" {entry.get('endReason', '')}"
        )
    if assessment.get("recommendedRegimens"):
        options = ", ".join(r["id"] + (" (preferred)" if r["preferred"] else "") for r in assessment["recommendedRegimens"])
        print(f"  line {assessment.get('recommendedLine')} options: {options}")
    if assessment.get("alerts"):
        print(f"  alerts: {', '.join(assessment['alerts'])}")
    for card in cards:
        print(textwrap.indent(f"[{card['indicator'].upper():8}] {card['summary']}", "  "))


def cmd_demo(args: argparse.Namespace) -> int:
    now = args.now or date.today()
    examples = example_bundles()
    if not examples:
        print("her2-cds: no example patients are bundled", file=sys.stderr)
        return 1
    for name, bundle in examples:
        response = evaluate_bundle(bundle, "patient-view", now, args.mappings)
        if args.json:
            print(orjson.dumps({"example": name, **response}, option=orjson.OPT_INDENT_2).decode())
        else:
            _print_demo(name, bundle, response)
    print("=" * 100)
    print(f"{len(examples)} example patients evaluated on {now.isoformat()}.")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    bundle = read_bundle(Path(args.bundle))
    response = evaluate_bundle(bundle, args.hook, args.now or date.today(), args.mappings)
    sys.stdout.write(orjson.dumps(response, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n")
    return 0


def serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings ``her2-cds serve`` options change (everything else comes from HER2CDS_CONFIG / HER2CDS_*)."""
    overrides: dict[str, Any] = {"listen_hosts": [args.host]}
    if args.now:
        overrides["evaluation_date"] = args.now.isoformat()
    if args.insecure_development:
        overrides["insecure_development"] = True
    if args.examples:
        # The examples endpoint is this server's /fhir; the service reads it over HTTP as it would an EHR's.
        overrides["examples_fhir"] = True
        overrides["fallback_fhir_server"] = f"{base_url_of(args.host, args.port)}/fhir"
    return overrides


def base_url_of(host: str, port: int) -> str:
    """The loopback URL a local client uses to reach ``host:port`` (a wildcard bind is reached on 127.0.0.1)."""
    reach = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - maps a wildcard away
    return f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"


def cmd_serve(args: argparse.Namespace) -> int:
    from service import create_app
    from service.home import official_sandbox_url

    app = create_app(serve_overrides(args))
    settings = app.extensions["her2cds"].settings
    base = base_url_of(args.host, args.port)
    print(f"her2-cds on {base}  (discovery {base}/cds-services)", flush=True)
    if settings.development_mode:
        if settings.sandbox:
            print(f"  sandbox EHR page:     {base}/sandbox", flush=True)
        if settings.examples_fhir:
            print(f"  example patients:     {base}/fhir  (read-only FHIR; the fallback when a request names no fhirServer)")
        print(f"  CDS Hooks sandbox:    {official_sandbox_url(base, settings.examples_fhir)}", flush=True)
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a configuration file (and the environment's HER2CDS_* variables) without starting the service."""
    from service.config_check import check_configuration

    for line in check_configuration(args.file, fetch_keys=not args.offline):
        print(line)
    return 0


def transaction_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """A transaction Bundle that PUTs every resource by id (running it twice leaves one copy)."""
    entries = []
    for resource in bundle_resources(bundle):
        if not resource.get("id"):
            raise SystemExit("her2-cds: every example resource needs an id to be loaded idempotently")
        path = f"{resource['resourceType']}/{resource['id']}"
        entries.append({"fullUrl": path, "resource": resource, "request": {"method": "PUT", "url": path}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def cmd_load_examples(args: argparse.Namespace) -> int:
    import requests

    base = args.fhir_server.rstrip("/")
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    bundles = example_bundles() if not args.bundle else [(p, read_bundle(Path(p))) for p in args.bundle]
    for name, bundle in bundles:
        try:
            response = requests.post(base, data=orjson.dumps(transaction_of(bundle)), headers=headers, timeout=60)
        except requests.RequestException as exc:
            print(f"her2-cds: cannot reach {base}: {type(exc).__name__}", file=sys.stderr)
            return 1
        if response.status_code >= 300:
            print(f"her2-cds: {name}: the FHIR server answered {response.status_code}: {response.text[:500]}", file=sys.stderr)
            return 1
        print(f"loaded {name}: {len(bundle_resources(bundle))} resources")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Override and acceptance rates per card kind and rule, with the override reasons (service.feedback_report)."""
    from service.config import load_settings
    from service.feedback import FeedbackStore
    from service.feedback_report import as_csv, as_text, rule_figures
    from service.issued_cards import IssuedCards

    if args.since and args.until and args.since > args.until:
        print("her2-cds report: --since is after --until", file=sys.stderr)
        return 2
    store = FeedbackStore(args.database_url or load_settings().database_url)  # creates the tables if need be
    try:
        IssuedCards(store.engine)
        rows = rule_figures(store.engine, args.since, args.until)
    finally:
        store.engine.dispose()
    output = as_csv(rows) if args.format == "csv" else as_text(rows, args.since, args.until)
    if args.output:
        Path(args.output).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    return 0


def add_report_parser(sub: Any) -> None:
    """``her2-cds report`` (issue 15: feedback analytics)."""
    report = sub.add_parser(
        "report", help="override and acceptance rates per card kind and rule, with override reasons, from the feedback database"
    )
    report.add_argument("--since", type=_date, help="first day (UTC, YYYY-MM-DD) of feedback and issued cards counted")
    report.add_argument("--until", type=_date, help="last day (UTC, YYYY-MM-DD), included")
    report.add_argument("--format", choices=["text", "csv"], default="text", help="a table for people, or CSV (default: text)")
    report.add_argument("--output", help="write to this file instead of standard output")
    report.add_argument("--database-url", help="the feedback database (default: the service's database_url setting)")
    report.set_defaults(func=cmd_report)


MAPPINGS_HELP = "knowledge folder to use instead of the one shipped with the package"
NOW_HELP = "evaluate as on this date, YYYY-MM-DD (default: today)"


def add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the CDS Hooks service (development server; production runs gunicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    serve.add_argument("--now", type=_date, help="fix the evaluation date, YYYY-MM-DD (demos and tests)")
    serve.add_argument(
        "--examples",
        action="store_true",
        help="also serve the bundled example patients as read-only FHIR at /fhir, read when a request names no fhirServer",
    )
    serve.add_argument(
        "--insecure-development",
        action="store_true",
        help="allow development mode (no authentication) on a non-loopback --host; never with patient data",
    )
    serve.set_defaults(func=cmd_serve)


def add_check_config_parser(sub: Any) -> None:
    check = sub.add_parser(
        "check-config", help="validate a configuration file and its clients' keys without starting the service"
    )
    check.add_argument("file", help="the YAML file HER2CDS_CONFIG would name")
    check.add_argument("--offline", action="store_true", help="do not fetch the clients' jwks_url key sets")
    check.set_defaults(func=cmd_check_config)


def build_parser() -> argparse.ArgumentParser:
    from service.home import package_version

    parser = argparse.ArgumentParser(prog="her2-cds", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_parser(sub)
    evaluate = sub.add_parser("evaluate", help="print the CDS Hooks response for a FHIR Bundle file")
    evaluate.add_argument("bundle", help="a JSON file holding a FHIR Bundle of one patient's records")
    evaluate.add_argument(
        "--hook",
        default="patient-view",
        choices=["patient-view", "order-select", "order-sign"],
        help="the hook to answer (order hooks check the bundle's draft MedicationRequests; default patient-view)",
    )
    evaluate.add_argument("--now", type=_date, help=NOW_HELP)
    evaluate.add_argument("--mappings", help=MAPPINGS_HELP)
    evaluate.set_defaults(func=cmd_evaluate)
    demo = sub.add_parser("demo", help="evaluate the bundled example patients and print the cards")
    demo.add_argument("--now", type=_date, help=NOW_HELP)
    demo.add_argument("--json", action="store_true", help="print the full responses as JSON")
    demo.add_argument("--mappings", help=MAPPINGS_HELP)
    demo.set_defaults(func=cmd_demo)
    load = sub.add_parser("load-examples", help="upload the example patients to a FHIR server as transactions")
    load.add_argument("--fhir-server", required=True, help="FHIR base URL, e.g. http://127.0.0.1:8090/fhir")
    load.add_argument("bundle", nargs="*", help="bundle files instead of the bundled examples")
    load.set_defaults(func=cmd_load_examples)
    add_check_config_parser(sub)
    add_report_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:  # noqa: BLE001 - a knowledge or config error is a message, not a traceback
        from service.config import ConfigError
        from service.knowledge import KnowledgeError

        if isinstance(exc, KnowledgeError | ConfigError):
            print(f"her2-cds: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
