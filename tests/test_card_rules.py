"""Every card of every bundled example patient, through HTTP, against the card rules of issue 7.

``tests/cards.py`` checks what CDS Hooks 2.0 requires of any card; this file checks what this service
promises on top: plain summaries (no abbreviation without its expansion), a detail with the dated
patient facts, a source with an icon served by the service and a topic, links to the guideline, the
drug labels and a prefilled ClinicalTrials.gov search, suggestions that are valid FHIR R4B resources
an EHR can place, and override reasons on every warning and critical card.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from service import create_app
from service.cli import bundle_resources, example_bundles, patient_id_of
from tests.cards import response_problems
from tests.conftest import prefetch_for

BASE_URL = "https://cds.example.org/her2"
EXAMPLES = example_bundles()
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MODELS = {"MedicationRequest": MedicationRequest, "ServiceRequest": ServiceRequest}


@pytest.fixture()
def public_app(tmp_path: Path):
    return create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/feedback.sqlite3",
            "evaluation_date": "2026-12-01",
            "public_base_url": BASE_URL,
        }
    )


def patient_view(app, name: str, bundle: dict[str, Any], knowledge) -> dict[str, Any]:
    resources = bundle_resources(bundle)
    body = {
        "hook": "patient-view",
        "hookInstance": f"rules-{name}",
        "context": {"patientId": patient_id_of(resources), "userId": "Practitioner/1"},
        "prefetch": prefetch_for(resources, app.extensions["her2cds"].templates, knowledge),
    }
    response = app.test_client().post("/cds-services/her2-mbc-guidance", json=body)
    assert response.status_code == 200, response.json
    return response.json


def order_sign(app, name: str, bundle: dict[str, Any], knowledge, agents: list[str]) -> dict[str, Any]:
    """order-sign with one draft MedicationRequest per agent (the way an EHR sends drafts)."""
    resources = bundle_resources(bundle)
    patient_id = patient_id_of(resources)
    drafts = [
        {
            "resourceType": "MedicationRequest",
            "id": f"draft-{index}",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": {"text": knowledge.drugs["agents"][agent]["display"]},
        }
        for index, agent in enumerate(agents)
    ]
    body = {
        "hook": "order-sign",
        "hookInstance": f"rules-order-{name}",
        "context": {
            "patientId": patient_id,
            "userId": "Practitioner/1",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in drafts]},
        },
        "prefetch": prefetch_for(resources, app.extensions["her2cds"].templates, knowledge),
    }
    response = app.test_client().post("/cds-services/her2-mbc-order-check", json=body)
    assert response.status_code == 200, response.json
    return response.json


def rule_problems(card: dict[str, Any], knowledge, fact_card: bool = True) -> list[str]:
    """This service's card rules (beyond CDS Hooks), one line per broken rule."""
    wording = knowledge.cards
    problems = []
    summary = card["summary"]
    for abbreviation, expansion in wording["glossary"].items():
        if re.search(rf"(?<![\w-]){re.escape(abbreviation)}(?![\w-])", summary) and expansion.lower() not in summary.lower():
            problems.append(f"summary uses {abbreviation} without '{expansion}': {summary!r}")
    detail = card.get("detail", "")
    if not detail.strip():
        problems.append("detail: empty")
    elif fact_card and ("**Patient facts**" not in detail or not DATE.search(detail)):
        problems.append("detail: no dated patient facts")
    source = card["source"]
    if source.get("icon") != BASE_URL + wording["icon"]["path"]:
        problems.append(f"source.icon: {source.get('icon')!r} is not the icon served from the public base URL")
    if not str(source.get("url", "")).startswith("https://"):
        problems.append(f"source.url: {source.get('url')!r} is not an absolute https URL")
    topic = source.get("topic") or {}
    known = {entry["code"] for entry in wording["topics"].values()}
    if topic.get("system") != wording["topic_system"] or topic.get("code") not in known or not topic.get("display"):
        problems.append(f"source.topic: {topic!r} is not one of the service's topics")
    if not card.get("links"):
        problems.append("links: none (the guideline or label the card rests on)")
    if card["indicator"] in ("warning", "critical") and not card.get("overrideReasons"):
        problems.append("overrideReasons: required on warning and critical cards")
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            resource = action.get("resource")
            if resource is None:
                continue
            model = MODELS.get(resource["resourceType"])
            if model is None:
                problems.append(f"suggestion {suggestion['label']!r}: creates a {resource['resourceType']}")
                continue
            model.model_validate(resource)  # raises on an invalid resource
            if resource["status"] != "draft" or resource["intent"] != "proposal":
                problems.append(f"suggestion {suggestion['label']!r}: resource is not a draft proposal")
    return problems


def _ranked(options: list[dict]) -> list[dict]:
    """The summary card's order: preferred first, then guideline order."""
    return sorted(options, key=lambda option: not option["preferred"])


def response_rule_problems(cards: list[dict], knowledge) -> list[str]:
    """Rules across the cards of one response: order by severity, no suggestion against a warning, one card per advice."""
    problems = []
    ranks = {"critical": 0, "warning": 1, "info": 2}
    data_code = knowledge.cards["topics"]["data-quality"]["code"]
    alerts = [card for card in cards[1:] if card["source"]["topic"]["code"] != data_code]
    if [ranks[c["indicator"]] for c in alerts] != sorted(ranks[c["indicator"]] for c in alerts):
        problems.append("alert cards are not ordered critical, warning, info")
    forbidden = set()
    for agent, rule in knowledge.safety["liver"]["rules"].items():
        for row in rule["rows"]:
            if row.get("withhold") and any(row["summary_effect"] in card["summary"] for card in cards):
                forbidden.add(knowledge.drugs["agents"][agent]["display"])
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                drug = action.get("resource", {}).get("medicationCodeableConcept", {}).get("text")
                if drug in forbidden:
                    problems.append(f"suggestion {suggestion['label']!r} orders {drug}, which another card says not to give")
    summaries = [card["summary"] for card in cards]
    if len(summaries) != len(set(summaries)):
        problems.append("two cards give the same advice")
    for card in cards:
        text = card["summary"] + card.get("detail", "")
        if re.search(r"\]\(https?://", text):
            problems.append(f"{card['summary']!r}: a link inside detail (links belong in card.links)")
        if re.search(r"\b(docs|mappings|service|tests)/[\w.-]+", text):
            problems.append(f"{card['summary']!r}: a repository path shown to clinicians")
        if re.search(r"(?<![\d.])1 points", text):
            problems.append(f"{card['summary']!r}: '1 points'")
    return problems


@pytest.mark.parametrize(("name", "bundle"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_every_patient_view_card_keeps_the_card_rules(name, bundle, public_app, knowledge):
    body = patient_view(public_app, name, bundle, knowledge)
    assert response_problems(body, "patient-view") == []
    cards = body["cards"]
    for card in cards:
        data_card = card["source"]["topic"]["code"] == knowledge.cards["topics"]["data-quality"]["code"]
        assert rule_problems(card, knowledge, fact_card=not data_card) == [], card["summary"]
    assert response_rule_problems(cards, knowledge) == []

    summary_card = cards[0]
    assessment = summary_card["extension"]["her2-cds-assessment"]
    options = assessment.get("recommendedRegimens", [])
    preferred = [o["id"] for o in options if o["preferred"]]
    regimen_suggestions = summary_card.get("suggestions", [])
    recommended = [s for s in regimen_suggestions if s.get("isRecommended")]
    orderable_preferred = [r for r in preferred if knowledge.regimens[r]["agents"]]
    # CDS Hooks 2.0: several recommended suggestions only with selectionBehavior "any"; this card is at-most-one.
    assert len(recommended) == (1 if orderable_preferred else 0), "one isRecommended: the first preferred regimen"
    if orderable_preferred:
        assert regimen_suggestions[0]["isRecommended"], "the preferred regimen is offered first"
    orderable = [o for o in _ranked(options) if knowledge.regimens[o["id"]]["agents"]]
    for suggestion, option in zip(regimen_suggestions, orderable, strict=True):
        regimen = knowledge.regimens[option["id"]]
        created = {a["resource"]["note"][0]["text"] for a in suggestion["actions"]}
        assert len(suggestion["actions"]) == len(regimen["agents"]), f"{option['id']}: every drug of the regimen is created"
        assert created == {f"Part of regimen: {regimen['title']}"}
        if regimen.get("partner_choices"):
            assert "clinician's choice" in suggestion["label"], "a partner left to the clinician is said so"
    for suggestion in regimen_suggestions:
        resources = [a["resource"] for a in suggestion["actions"]]
        assert {r["resourceType"] for r in resources} == {"MedicationRequest"}
        assert len({r["groupIdentifier"]["value"] for r in resources}) == 1, "one regimen = one group"
        for resource in resources:
            codings = resource["medicationCodeableConcept"].get("coding", [])
            assert all(c["system"] == knowledge.systems["rxnorm"] for c in codings)
    groups = [s["actions"][0]["resource"]["groupIdentifier"]["value"] for s in regimen_suggestions]
    assert len(groups) == len(set(groups)), "each regimen its own group"

    links = {link["url"] for link in summary_card["links"]}
    if preferred:
        for agent in knowledge.regimens[preferred[0]]["agents"]:
            label_source = knowledge.drugs["agents"][agent].get("label_source")
            if label_source:
                assert knowledge.source(label_source)["url"] in links, f"label of {agent}"
    if any(o["id"] == "clinical-trial" for o in options):
        trial = [u for u in links if u.startswith("https://clinicaltrials.gov/")]
        assert trial and "HER2-positive" in parse_qs(urlsplit(trial[0]).query)["cond"][0]


@pytest.mark.parametrize(("name", "bundle"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_every_order_check_card_keeps_the_card_rules(name, bundle, public_app, knowledge):
    agents = sorted({agent for regimen in knowledge.regimens.values() for agent in regimen["agents"]})
    body = order_sign(public_app, name, bundle, knowledge, agents)
    assert response_problems(body, "order-sign") == []
    for card in body["cards"]:
        data_card = card["source"]["topic"]["code"] == knowledge.cards["topics"]["data-quality"]["code"]
        assert rule_problems(card, knowledge, fact_card=not data_card) == [], card["summary"]


def test_the_examples_reach_every_alert_and_order_check(public_app, knowledge):
    """The walk above means something only if the examples produce the cards: list what they reach."""
    topics: set[str] = set()
    service_requests: set[str] = set()
    for name, bundle in EXAMPLES:
        body = patient_view(public_app, name, bundle, knowledge)
        agents = sorted({agent for regimen in knowledge.regimens.values() for agent in regimen["agents"]})
        body["cards"] += order_sign(public_app, name, bundle, knowledge, agents)["cards"]
        for card in body["cards"]:
            topics.add(card["source"]["topic"]["code"])
            for suggestion in card.get("suggestions", []):
                for action in suggestion["actions"]:
                    if action.get("resource", {}).get("resourceType") == "ServiceRequest":
                        service_requests.add(action["resource"]["code"]["coding"][0]["code"])
    expected_topics = {"her2-mbc-next-line", "hepatic-safety", "visceral-crisis", "brain-metastases", "her2-testing"}
    # early relapse: its advice is on the summary card (one advice, one card), not a card of its own
    expected_topics |= {"liver-directed-therapy", "order-safety"}
    assert expected_topics <= topics
    wanted = {knowledge.cards["service_requests"][kind]["code"] for kind in ("her2-ish", "referral")}
    assert wanted <= service_requests


def test_lvef_cards_suggest_an_echocardiogram(public_app, knowledge, tmp_path):
    """A fall in ejection fraction on trastuzumab: critical card, echo ServiceRequest, label link, LVEF trend."""
    name, bundle = next((n, b) for n, b in EXAMPLES if n.startswith("ex2-"))
    resources = bundle_resources(bundle)
    patient_id = patient_id_of(resources)
    lvef = {
        "resourceType": "Observation",
        "id": "lvef-fall",
        "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "10230-1"}]},
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {"value": 38, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in [*resources, lvef]]}
    body = patient_view(public_app, name, bundle, knowledge)
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "cardiac-safety")
    assert card["indicator"] == "critical"
    assert rule_problems(card, knowledge) == []
    assert "38%" in card["summary"] and "ejection fraction" in card["summary"].lower()
    assert "earlier" in card["detail"], "the detail shows the LVEF trend"
    request = card["suggestions"][0]["actions"][0]["resource"]
    assert request["resourceType"] == "ServiceRequest"
    assert request["code"]["coding"][0]["code"] == knowledge.cards["service_requests"]["echo"]["code"]
    assert any("trastuzumab" in link["url"] for link in card["links"])


def test_the_icon_is_a_100_pixel_png_served_without_authentication(public_app):
    response = public_app.test_client().get(urlsplit(BASE_URL + "/assets/her2-cds-icon.png").path.removeprefix("/her2"))
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", response.data[16:24]) == (100, 100)


def test_without_a_public_base_url_production_cards_carry_no_icon(tmp_path, knowledge):
    """Behind a proxy the Host header is not a trustworthy base: no configured URL, no icon (dev mode uses the host)."""
    name, bundle = EXAMPLES[0]
    dev = create_app({"database_url": f"sqlite:///{tmp_path}/dev.sqlite3", "evaluation_date": "2026-12-01"})
    card = patient_view(dev, name, bundle, knowledge)["cards"][0]
    assert card["source"]["icon"] == "http://localhost" + knowledge.cards["icon"]["path"]


def test_in_development_each_request_gets_the_icon_of_the_host_it_was_sent_to(tmp_path, knowledge):
    """The development icon URL follows each request's scheme and (loopback) Host, worked out once per host (issue 16)."""
    name, bundle = EXAMPLES[0]
    dev = create_app({"database_url": f"sqlite:///{tmp_path}/dev.sqlite3", "evaluation_date": "2026-12-01"})
    resources = bundle_resources(bundle)
    body = {
        "hook": "patient-view",
        "hookInstance": "rules-hosts",
        "context": {"patientId": patient_id_of(resources), "userId": "Practitioner/1"},
        "prefetch": prefetch_for(resources, dev.extensions["her2cds"].templates, knowledge),
    }
    icons = []
    bases = ["http://localhost:8080", "https://localhost", "http://127.0.0.1:5000", "http://localhost:8080", "http://[::1]:8080"]
    for base in bases:
        response = dev.test_client().post("/cds-services/her2-mbc-guidance", json=body, base_url=base)
        assert response.status_code == 200, response.json
        icons.append(response.json["cards"][0]["source"]["icon"])
    path = knowledge.cards["icon"]["path"]
    assert icons == [base + path for base in bases]


def test_patient_supplied_text_is_never_rendered_as_html(public_app, knowledge):
    """A record id carrying markup reaches the data card escaped, not as HTML."""
    name, bundle = EXAMPLES[0]
    resources = bundle_resources(bundle)
    hostile = {
        "resourceType": "Observation",
        "id": "<img src=x onerror=alert(1)>",
        "status": "final",
        "subject": {"reference": f"Patient/{patient_id_of(resources)}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "10230-1"}]},
        "effectiveDateTime": "not a date <script>alert(2)</script>",
        "valueQuantity": {"value": 55, "unit": "%"},
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in [*resources, hostile]]}
    body = patient_view(public_app, name, bundle, knowledge)
    text = "".join(card.get("detail", "") + card["summary"] for card in body["cards"])
    assert "onerror" in text, "the skipped record is named on the data card"
    assert "<img" not in text and "<script" not in text


def test_names_that_fill_summaries_are_plain_words(knowledge):
    """Regimen and agent names go into summaries: none may be an abbreviation without its expansion."""
    names = [str(r["short"]) for r in knowledge.regimens.values()] + [a["display"] for a in knowledge.drugs["agents"].values()]
    for name in names:
        for abbreviation, expansion in knowledge.cards["glossary"].items():
            if re.search(rf"(?<![\w-]){re.escape(abbreviation)}(?![\w-])", name):
                assert expansion.lower() in name.lower(), name


@pytest.mark.parametrize(
    ("prefix", "advice"),
    [("ex7-", "trastuzumab-refractory"), ("ex8-", "order reflex ISH")],
)
def test_one_piece_of_advice_one_card(prefix, advice, public_app, knowledge):
    """ex7 (early relapse) and ex8 (HER2 equivocal) used to give the same advice on two cards."""
    name, bundle = next((n, b) for n, b in EXAMPLES if n.startswith(prefix))
    cards = patient_view(public_app, name, bundle, knowledge)["cards"]
    assert sum(advice.lower() in card["summary"].lower() for card in cards) == 1, [c["summary"] for c in cards]
