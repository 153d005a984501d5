"""The /sandbox EHR page in a real browser against the real service (subprocess, own SQLite file)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from service import create_app
from service.cli import bundle_resources, example_bundles
from service.knowledge import load_knowledge
from tests.browser.conftest import Server
from tests.fhir_search import run_template

SERVICE = "/cds-services/her2-mbc-guidance"
ASSESSMENT_KEY = "her2-cds-assessment"


def example(patient_id: str) -> dict[str, Any]:
    for _name, bundle in example_bundles():
        resources = bundle_resources(bundle)
        if any(r.get("resourceType") == "Patient" and r.get("id") == patient_id for r in resources):
            return bundle
    raise AssertionError(f"no example patient {patient_id}")


def api_cards(server: Server, patient_id: str) -> list[dict[str, Any]]:
    """What the service answers an EHR that prefetches this example (prefetch built independently of the page)."""
    knowledge = load_knowledge()
    resources = bundle_resources(example(patient_id))
    templates = server.get_json("/cds-services")["services"][0]["prefetch"]
    prefetch = {key: run_template(template, resources, knowledge) for key, template in templates.items()}
    body = {"hook": "patient-view", "hookInstance": "browser-test", "context": {"patientId": patient_id}, "prefetch": prefetch}
    return server.post_json(SERVICE, body)["cards"]


def open_patient(page: Any, patient_id: str) -> dict[str, Any]:
    """Click the patient; return the request and response the page exchanged with the service."""
    with page.expect_response(lambda r: r.url.endswith(SERVICE) and r.request.method == "POST") as exchange:
        page.click(f"button[data-patient='{patient_id}']")
    page.wait_for_selector("body[data-state='ready']", timeout=15000)
    response = exchange.value
    return {"request": json.loads(response.request.post_data), "response": response.json(), "status": response.status}


def feedback_rows(database: Path, card_uuid: str) -> list[sqlite3.Row]:
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute("SELECT * FROM feedback WHERE card_uuid = ? ORDER BY id", (card_uuid,)).fetchall()


@pytest.mark.parametrize("patient_id", ["ex3-patient", "ex4-patient", "ex6-patient"])
def test_patient_chart_and_cards(page: Any, server: Server, artifacts: Path, patient_id: str) -> None:
    exchange = open_patient(page, patient_id)
    assert exchange["status"] == 200
    request = exchange["request"]
    assert request["hook"] == "patient-view" and request["context"]["patientId"] == patient_id
    templates = server.get_json("/cds-services")["services"][0]["prefetch"]
    assert set(request["prefetch"]) == set(templates), "the page prefetches every key discovery lists"

    expected = api_cards(server, patient_id)
    cards = exchange["response"]["cards"]
    assert len(cards) == len(expected)
    assert [c["indicator"] for c in cards] == [c["indicator"] for c in expected]
    rendered = page.locator("#cards article.card")
    assert rendered.count() == len(expected)
    for index, card in enumerate(cards):
        item = rendered.nth(index)
        assert f"indicator-{card['indicator']}" in (item.get_attribute("class") or "")
        assert item.locator(".summary").inner_text() == card["summary"]
        if card.get("source", {}).get("url"):
            assert item.locator(".source a").get_attribute("href").startswith("http")
        for suggestion in card.get("suggestions", []):
            assert item.locator(f"button[data-suggestion='{suggestion['uuid']}']").inner_text() == suggestion["label"]
        assert item.locator("select.override-reason option").count() == (
            len(card["overrideReasons"]) + 1 if card.get("overrideReasons") else 0
        )

    assessment = cards[0]["extension"][ASSESSMENT_KEY]
    chart = page.locator("#chart")
    assert chart.locator(".sites").inner_text() == (", ".join(assessment.get("metastaticSites", [])) or "none recorded")
    assert assessment["her2"] in chart.inner_text()
    history = assessment["lineOfTherapy"].get("history", [])
    assert chart.locator("svg.timeline rect.line-bar").count() == len(history)
    for bar, line in zip(chart.locator("svg.timeline rect.line-bar").all(), history, strict=True):
        assert bar.get_attribute("data-line") == str(line["line"])
    # The summary card offers the assessment's regimens (those with agents to order) as suggestion buttons.
    summary_buttons = rendered.nth(0).locator("button.suggestion")
    assert summary_buttons.count() == len(cards[0].get("suggestions", []))
    assert summary_buttons.count() <= len(assessment.get("recommendedRegimens", []))

    if patient_id in ("ex4-patient", "ex6-patient"):
        assert page.locator("#cards article.card.indicator-warning").count() >= 1
    if patient_id == "ex6-patient":
        critical = page.locator("#cards article.card.indicator-critical")
        assert critical.count() >= 1
        colour = critical.first.evaluate("e => getComputedStyle(e).borderLeftColor")
        assert colour == "rgb(198, 40, 40)"

    page.check("#raw-toggle")
    assert json.loads(page.locator("#raw-response").inner_text()) == exchange["response"]
    assert json.loads(page.locator("#raw-request").inner_text())["hookInstance"] == request["hookInstance"]
    page.screenshot(path=str(artifacts / f"sandbox-{patient_id}.png"), full_page=True)


def test_accept_suggestion_stores_feedback(page: Any, server: Server) -> None:
    cards = open_patient(page, "ex3-patient")["response"]["cards"]
    card = cards[0]
    suggestion = card["suggestions"][0]
    with page.expect_response(lambda r: r.url.endswith(SERVICE + "/feedback")) as sent:
        page.click(f"button[data-suggestion='{suggestion['uuid']}']")
    assert sent.value.status == 200
    body = json.loads(sent.value.request.post_data)
    assert body["feedback"][0]["outcome"] == "accepted"
    page.wait_for_selector(f"article[data-uuid='{card['uuid']}'] .done[data-feedback='ok']")
    rows = feedback_rows(server.database, card["uuid"])
    assert len(rows) == 1
    assert rows[0]["outcome"] == "accepted"
    assert json.loads(rows[0]["accepted_suggestions"]) == [suggestion["uuid"]]
    assert rows[0]["override_reason"] is None


def test_dismiss_with_override_reason_stores_it(page: Any, server: Server, artifacts: Path) -> None:
    cards = open_patient(page, "ex4-patient")["response"]["cards"]
    index, card = next((i, c) for i, c in enumerate(cards) if c.get("overrideReasons"))
    reason = card["overrideReasons"][1]
    item = page.locator("#cards article.card").nth(index)
    item.locator("select.override-reason").select_option(label=reason["display"])
    item.locator("input.override-comment").fill("discussed at tumour board")
    with page.expect_response(lambda r: r.url.endswith(SERVICE + "/feedback")) as sent:
        item.locator("button.dismiss").click()
    assert sent.value.status == 200
    page.wait_for_selector(f"article[data-uuid='{card['uuid']}'] .done[data-feedback='ok']")
    page.screenshot(path=str(artifacts / "sandbox-dismissed.png"), full_page=True)
    rows = feedback_rows(server.database, card["uuid"])
    assert len(rows) == 1
    assert rows[0]["outcome"] == "overridden"
    stored = json.loads(rows[0]["override_reason"])
    assert stored["reason"]["code"] == reason["code"]
    assert stored["reason"]["system"] == reason["system"]
    assert stored["userComment"] == "discussed at tumour board"


HOSTILE = "Plain **bold** <img src=x onerror=alert(1)> and <script>alert(2)</script> [click](javascript:alert(3))"


def test_card_text_is_never_rendered_as_html(page: Any) -> None:
    """A hostile service response (faked in the page's network) is shown as text, links are http(s) only."""
    fake = {
        "cards": [
            {
                "uuid": "hostile-1",
                "indicator": "critical",
                "summary": "<img src=x onerror=alert(4)>",
                "detail": HOSTILE,
                "source": {"label": "<b>evil</b>", "url": "javascript:alert(5)"},
                "links": [{"label": "bad", "url": "javascript:alert(6)", "type": "absolute"}],
                "suggestions": [{"uuid": "s1", "label": "<img src=x onerror=alert(7)>"}],
                "overrideReasons": [{"code": "x", "system": "urn:x", "display": "<img src=x onerror=alert(8)>"}],
            }
        ]
    }
    page.route(
        "**" + SERVICE,
        lambda route: (
            route.fulfill(status=200, content_type="application/json", body=json.dumps(fake))
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    page.click("button[data-patient='ex1-patient']")
    page.wait_for_selector("body[data-state='ready']")
    cards = page.locator("#cards")
    assert cards.locator("img, script").count() == 0
    assert "<img src=x onerror=alert(1)>" in cards.locator(".detail").inner_text()
    assert cards.locator(".detail strong").inner_text() == "bold"
    assert cards.locator(".summary").inner_text() == "<img src=x onerror=alert(4)>"
    hrefs = cards.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(h.startswith("http") for h in hrefs), hrefs
    # The renderer on its own, too.
    html = page.evaluate("text => window.sandboxMarkdown(text).innerHTML", HOSTILE)
    assert "<img" not in html and "<script" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    page.wait_for_timeout(200)
    assert page.js_errors == [], "no alert() dialog and no script error"


def test_sandbox_is_off_unless_enabled(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/feedback.sqlite3"
    off = create_app({"database_url": database, "sandbox": False}).test_client()
    assert off.get("/sandbox").status_code == 404
    assert off.get("/sandbox/api/examples").status_code == 404
    on = create_app({"database_url": database, "sandbox": True}).test_client()
    assert on.get("/sandbox").status_code == 200
    assert len(on.get("/sandbox/api/examples").json["examples"]) == len(example_bundles())
