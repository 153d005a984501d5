"""order-select / order-sign: a request without its draft orders is a 400 naming the field, never an empty 200."""

from __future__ import annotations

import pytest

from tests.conftest import draft_order
from tests.patients import Patient

PATH = "/cds-services/her2-mbc-order-check"


def request(hook: str, context_extra: dict) -> dict:
    entries = [{"resource": r} for r in Patient().resources()]
    prefetch = {key: {"resourceType": "Bundle", "type": "searchset", "entry": entries} for key in ("conditions", "receptors")}
    return {
        "hook": hook,
        "hookInstance": "o1",
        "context": {"patientId": "p1", "userId": "Practitioner/x"} | context_extra,
        "prefetch": prefetch,
    }


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize(
    "draft_orders",
    [None, [{"resourceType": "MedicationRequest", "id": "d1"}], {"resourceType": "MedicationRequest", "id": "d1"}, "Bundle"],
    ids=["missing", "array", "resource", "string"],
)
def test_draft_orders_must_be_a_bundle(client, hook, draft_orders):
    extra = {} if draft_orders is None else {"draftOrders": draft_orders}
    if hook == "order-select":
        extra["selections"] = ["MedicationRequest/d1"]
    response = client.post(PATH, json=request(hook, extra))
    assert response.status_code == 400
    assert "context.draftOrders" in response.get_data(as_text=True)
    assert response.json["resourceType"] == "OperationOutcome"


def test_an_empty_bundle_is_still_answered(client):
    """A Bundle with no entries is a valid request with nothing to check: 200, no cards."""
    body = request("order-sign", {"draftOrders": {"resourceType": "Bundle", "type": "collection"}})
    response = client.post(PATH, json=body)
    assert response.status_code == 200 and response.json == {"cards": []}


def test_order_check_cards_come_critical_first(engine, knowledge):
    """A draft the liver label forbids (critical) is shown before one the disease progressed on (warning)."""
    from datetime import date

    from service.order_check import OrderChecker
    from service.render import CardRenderer, RenderContext
    from tests.patients import Line

    progressed = Line(["Enhertu"], "2021-07-15", "2023-01-31", progressed="2023-01-20")
    labs = [("bilirubin", "2026-11-10", 1.6, 1.2), ("lvef", "2026-11-01", 60, None)]  # a recent, normal LVEF
    patient = Patient(lines=[progressed], labs=labs)
    evaluation = engine.evaluate(patient.pid, patient.resources(), date(2026, 11, 20))
    drafts = [
        {
            "resourceType": "MedicationRequest",
            "id": name,
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {"text": name},
        }
        for name in ("Enhertu", "Taxotere")
    ]
    renderer = CardRenderer(knowledge)
    cards = OrderChecker(knowledge, engine.normaliser, renderer).cards(evaluation, drafts, RenderContext("h", patient.pid))
    assert [card["indicator"] for card in cards] == ["critical", "warning"]
    assert "docetaxel" in cards[0]["summary"].lower()


def test_the_conformance_checker_rejects_two_recommended_suggestions_on_an_at_most_one_card():
    from tests.cards import response_problems

    suggestion = {"label": "Order", "uuid": "u1", "isRecommended": True, "actions": []}
    card = {
        "summary": "s",
        "indicator": "info",
        "source": {"label": "x"},
        "suggestions": [suggestion, suggestion | {"uuid": "u2"}],
        "selectionBehavior": "at-most-one",
    }
    assert any("at-most-one" in problem for problem in response_problems({"cards": [card]}, "patient-view"))
    assert not any(
        "at-most-one" in p for p in response_problems({"cards": [card | {"selectionBehavior": "any"}]}, "patient-view")
    )


def _order_cards(engine, knowledge, patient, names, now="2026-11-20"):
    from datetime import date

    from service.order_check import OrderChecker
    from service.render import CardRenderer, RenderContext

    evaluation = engine.evaluate(patient.pid, patient.resources(), date.fromisoformat(now))
    drafts = [
        {
            "resourceType": "MedicationRequest",
            "id": f"d{i}",
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {"text": n},
        }
        for i, n in enumerate(names)
    ]
    checker = OrderChecker(knowledge, engine.normaliser, CardRenderer(knowledge))
    return checker.cards(evaluation, drafts, RenderContext("h", patient.pid))


# Each label of an LVEF-monitored drug asks for LVEF before the first dose (clinical.md section 3).
@pytest.mark.parametrize(
    ("labs", "expected"),
    [
        ([], "No ejection fraction (LVEF) in the last 3 months (last: none recorded)"),
        ([("lvef", "2026-03-01", 62, None)], "(last: 2026-03-01)"),
        ([("lvef", "2026-10-20", 44, None)], "Ejection fraction (LVEF) 44% is below 50% before starting"),
    ],
)
def test_starting_an_lvef_monitored_drug_needs_a_recent_normal_lvef(engine, knowledge, labs, expected):
    from tests.patients import Patient

    cards = _order_cards(engine, knowledge, Patient(labs=labs), ["Phesgo"])
    assert len(cards) == 1, [c["summary"] for c in cards]  # one card for the order, naming both drugs
    card = cards[0]
    assert expected in card["summary"] and "pertuzumab + trastuzumab" in card["summary"]
    assert card["indicator"] == "warning"
    if not labs or labs[0][2] >= 50:
        echo = card["suggestions"][0]["actions"][0]["resource"]
        assert echo["resourceType"] == "ServiceRequest" and card["suggestions"][0]["isRecommended"] is True
    assert card["suggestions"][-1]["actions"][0] == {
        "type": "delete",
        "description": "Remove draft pertuzumab + trastuzumab",
        "resourceId": "MedicationRequest/d0",
    }


def test_drafts_of_one_drug_warned_of_in_the_same_words_share_one_card(engine, knowledge):
    """Held-out q04: Phesgo's loading and maintenance doses drafted as two orders with an LVEF of 44%: one
    card, whose suggestion removes both drafts, not two cards alike but for the draft they remove. A
    draft of another drug keeps its own card."""
    from tests.patients import Patient

    low = Patient(labs=[("lvef", "2026-10-20", 44, None)])
    cards = _order_cards(engine, knowledge, low, ["Phesgo", "Phesgo", "Herceptin"])
    assert len(cards) == 2, [c["summary"] for c in cards]
    both = next(card for card in cards if "pertuzumab + trastuzumab" in card["summary"])
    removal = both["suggestions"][-1]
    assert removal["label"] == "Remove the 2 draft orders for pertuzumab + trastuzumab"
    assert [action["resourceId"] for action in removal["actions"]] == ["MedicationRequest/d0", "MedicationRequest/d1"]
    alone = next(card for card in cards if card is not both)
    assert [action["resourceId"] for action in alone["suggestions"][-1]["actions"]] == ["MedicationRequest/d2"]
    assert len({card["uuid"] for card in cards}) == 2


@pytest.mark.parametrize(
    ("death", "words"), [({"deceasedDateTime": "2026-05-27"}, "died on 2026-05-27"), ({"deceasedBoolean": True}, "died:")]
)
def test_drafts_for_a_patient_recorded_as_deceased_get_one_card(engine, knowledge, death, words):
    """Held-out a06: a first-line set pended before the death and selected after it raised nothing. One
    warning for the drafts of drugs the service checks (an antiemetic's draft is not named), whose
    suggestion removes them."""
    from datetime import date

    from service.order_check import OrderChecker
    from service.render import CardRenderer, RenderContext
    from tests.patients import Patient

    alive = Patient(labs=[("lvef", "2026-05-01", 61, None)])
    resources = alive.resources()
    resources[0] = {**resources[0], **death}
    drafts = [_draft(f"d{i}", alive.pid, name) for i, name in enumerate(["paclitaxel", "Herceptin", "ondansetron"])]
    checker = OrderChecker(knowledge, engine.normaliser, CardRenderer(knowledge))
    cards = checker.cards(engine.evaluate(alive.pid, resources, date(2026, 6, 1)), drafts, RenderContext("h", alive.pid))
    deceased = [card for card in cards if "has died" in card["summary"]]
    assert len(deceased) == 1 and words in deceased[0]["summary"], [c["summary"] for c in cards]
    assert deceased[0]["indicator"] == "warning" and "paclitaxel + trastuzumab" in deceased[0]["summary"]
    removal = deceased[0]["suggestions"][-1]["actions"]
    assert [action["resourceId"] for action in removal] == ["MedicationRequest/d0", "MedicationRequest/d1"]
    assert not [
        card
        for card in checker.cards(
            engine.evaluate(alive.pid, alive.resources(), date(2026, 6, 1)), drafts, RenderContext("h", alive.pid)
        )
        if "has died" in card["summary"]
    ]


def test_a_recent_normal_lvef_or_a_drug_already_given_raises_no_lvef_card(engine, knowledge):
    from tests.patients import Line, Patient

    recent = Patient(labs=[("lvef", "2026-10-20", 61, None)])
    assert _order_cards(engine, knowledge, recent, ["Enhertu", "Herceptin"]) == []
    ongoing = Patient(lines=[Line(["Herceptin", "Perjeta"], "2025-01-01")], labs=[("lvef", "2026-10-20", 61, None)])
    assert not [c for c in _order_cards(engine, knowledge, ongoing, ["Herceptin"]) if "LVEF" in c["summary"]]
    # capecitabine needs no LVEF
    assert _order_cards(engine, knowledge, Patient(), ["Xeloda"]) == []


def test_redrafting_pertuzumab_after_progression_on_it_is_warned_of_citing_the_never_received_rule(engine, knowledge):
    from tests.patients import Line, Patient

    lvef = [("lvef", "2026-10-20", 61, None)]
    progressed = Patient(lines=[Line(["Phesgo", "Taxotere"], "2024-01-01", "2025-01-01", progressed="2024-12-20")], labs=lvef)
    cards = _order_cards(engine, knowledge, progressed, ["Phesgo"])
    assert [c["summary"] for c in cards] == ["Disease already progressed on pertuzumab (line 1): consider the next-line options"]
    assert cards[0]["source"]["label"] == knowledge.sources["asco-2022-her2"]["label"]
    # On pertuzumab maintenance with no progression, a new Phesgo order is no warning.
    maintained = Patient(lines=[Line(["Phesgo", "Taxotere"], "2025-06-01")], labs=lvef)
    assert _order_cards(engine, knowledge, maintained, ["Phesgo"]) == []


@pytest.mark.parametrize("do_not_perform", [True, False])
def test_a_draft_that_forbids_the_drug_is_not_warned_of(client, do_not_perform):
    """A draft with doNotPerform true ("do not give Enhertu") orders the drug withheld: the progression
    and liver warnings, and their "remove the draft" suggestion, belong to an order to give it."""
    from tests.patients import Line

    progressed = Line(["Enhertu"], "2021-07-15", "2023-01-31", progressed="2023-01-20")
    patient = Patient(lines=[progressed], labs=[("bilirubin", "2026-11-10", 3.0, 1.2)])
    draft = {
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "intent": "order",
        "doNotPerform": do_not_perform,
        "subject": {"reference": f"Patient/{patient.pid}"},
        "medicationCodeableConcept": {"text": "Enhertu"},
    }
    entries = [{"resource": r} for r in patient.resources()]
    body = {
        "hook": "order-sign",
        "hookInstance": "o1",
        "context": {
            "patientId": patient.pid,
            "userId": "Practitioner/x",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]},
        },
        "prefetch": {
            key: {"resourceType": "Bundle", "type": "searchset", "entry": entries} for key in ("conditions", "receptors")
        },
    }
    response = client.post(PATH, json=body)
    assert response.status_code == 200
    assert (response.json["cards"] == []) is do_not_perform


class _Her2Patient(Patient):
    """A patient whose HER2 IHC result reads as ``words`` (the others are HER2 3+)."""

    def __init__(self, words: str) -> None:
        super().__init__(labs=[("lvef", "2026-10-20", 61, None)])
        self.words = words

    def resources(self) -> list[dict]:
        resources = super().resources()
        for resource in resources:
            if resource.get("id") == f"{self.pid}-her2":
                resource["valueCodeableConcept"] = {"text": self.words}
        return resources


@pytest.mark.parametrize(
    ("words", "status", "warned"),
    [
        ("1+", "low", False),  # HER2-low: trastuzumab deruxtecan's own indication (DESTINY-Breast04/06)
        ("HER2-low", "low", False),
        ("0", "zero", True),  # HER2-ultralow is on its label, HER2 0 without membrane staining is not
        ("Negative", "negative", True),  # no IHC score: HER2-low or HER2 0
        ("2+", "equivocal", True),  # ISH awaited: HER2-positive or HER2-low, each on its own conditions
    ],
)
def test_trastuzumab_deruxtecan_for_her2_low_disease_is_on_its_label(engine, knowledge, words, status, warned):
    """T-DXd ordered for a HER2-low patient was warned "HER2-directed therapy needs HER2-positive disease",
    although its label has HER2-low and HER2-ultralow indications (options.yaml her2_other_indications).
    T-DM1, with none, is still warned of."""
    patient = _Her2Patient(words)
    cards = _order_cards(engine, knowledge, patient, ["Enhertu"])
    if not warned:
        assert cards == []
    else:
        depends = "whether its label covers this depends on the full HER2 result"
        assert [c["summary"] for c in cards] == [f"trastuzumab deruxtecan (T-DXd) ordered but HER2 status is {status}: {depends}"]
        assert cards[0]["indicator"] == "warning"
        assert cards[0]["source"]["label"] == knowledge.sources["label-t-dxd-her2-low"]["label"]
        assert "on the label" in cards[0]["detail"] or "the label covers" in cards[0]["detail"]
    t_dm1 = _order_cards(engine, knowledge, patient, ["Kadcyla"])
    needs = "HER2-directed therapy needs HER2-positive disease"
    assert [c["summary"] for c in t_dm1] == [f"ado-trastuzumab emtansine (T-DM1) ordered but HER2 status is {status}: {needs}"]


class _WithPr(Patient):
    """The patient of tests.patients with a PR result of 0 % beside its ER result."""

    def resources(self) -> list[dict]:
        pr = {"valueQuantity": {"value": 0, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}
        return [*super().resources(), self._observation("pr", "85339-0", self.metastatic_on, pr)]


@pytest.mark.parametrize(
    ("er_percent", "drug", "warned"),
    [
        (0, "Arimidex", True),  # a held-out tester's anastrozole draft for ER- and PR-negative disease raised nothing
        (0, "Ibrance", True),  # a CDK4/6 inhibitor is given with endocrine therapy
        (0, "Zoladex", False),  # a GnRH agonist also protects the ovaries during chemotherapy (options.yaml)
        (80, "Arimidex", False),
    ],
)
def test_endocrine_therapy_drafted_with_negative_hormone_receptors_is_warned_of(engine, knowledge, er_percent, drug, warned):
    patient = _WithPr(labs=[("lvef", "2026-10-20", 61, None)], er_percent=er_percent)
    summaries = [c["summary"] for c in _order_cards(engine, knowledge, patient, [drug]) if c["indicator"] == "warning"]
    needs = "ordered but ER and PR are negative: endocrine therapy needs ER- or PR-positive disease"
    assert any(needs in summary for summary in summaries) is warned, summaries


def test_the_next_dose_of_a_drug_given_now_with_monitoring_overdue_is_named(engine, knowledge):
    """Held-out w07: a Kanjinti order on HP maintenance, the last coded LVEF five months old, raised nothing
    (monitoring had been left to the chart's card): the labels ask for LVEF every 3 months on treatment."""
    from tests.patients import Line, Patient

    overdue = Patient(lines=[Line(["Herceptin", "Perjeta"], "2025-01-01")], labs=[("lvef", "2026-05-20", 61, None)])
    cards = _order_cards(engine, knowledge, overdue, ["Herceptin"])
    summary = "No ejection fraction (LVEF) in the last 3 months on trastuzumab (last: 2026-05-20): assess LVEF before this dose"
    assert [(c["indicator"], c["summary"]) for c in cards] == [("warning", summary)]
    assert [s["label"] for s in cards[0]["suggestions"]][0].startswith("Order: ")


PREFETCHED = ("conditions", "receptors")


def _session(client, patient, hook: str, resources: list[dict], selections: list[str] | None = None) -> list[tuple[str, str]]:
    """The (indicator, summary) of the cards answering an order session of ``resources`` for ``patient``."""
    entries = [{"resource": r} for r in patient.resources()]
    context = {
        "patientId": patient.pid,
        "userId": "Practitioner/x",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]},
    }
    if selections:
        context["selections"] = selections
    body = {
        "hook": hook,
        "hookInstance": "o1",
        "context": context,
        "prefetch": {key: {"resourceType": "Bundle", "type": "searchset", "entry": entries} for key in PREFETCHED},
    }
    response = client.post(PATH, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return [(card["indicator"], card["summary"]) for card in response.json["cards"]]


def _draft(rid: str, pid: str, drug: str) -> dict:
    return draft_order(rid, pid, medicationCodeableConcept={"text": drug})


def test_the_drafts_a_treatment_plan_contains_are_checked(client):
    """Held-out x03: a drafted RequestGroup (a treatment plan) whose actions are MedicationRequests it
    contains: those are the session's drafts, and T-DXd drafted after progressing on it is warned of."""
    from tests.patients import Line

    patient = Patient(lines=[Line(["Enhertu"], "2021-07-15", "2023-01-31", progressed="2023-01-20")])
    plan = {
        "resourceType": "RequestGroup",
        "id": "plan",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient.pid}"},
        "contained": [_draft("c1", patient.pid, "Enhertu")],
        "action": [{"resource": {"reference": "#c1"}}],
    }
    cards = _session(client, patient, "order-sign", [plan])
    assert [indicator for indicator, summary in cards if "progressed on" in summary] == ["warning"], cards
    plan["contained"] = []
    assert _session(client, patient, "order-sign", [plan]) == []


def test_a_premedication_drafted_beside_the_selection_counts(client):
    """Held-out x04: neratinib selected, loperamide drafted in the same session but not selected: the
    label's loperamide is ordered, so no reminder; without it, the reminder comes."""
    from tests.patients import Line

    lines = [Line(["Enhertu"], "2021-07-15", "2023-01-31", progressed="2023-01-20")]
    patient = Patient(lines=lines)
    neratinib, loperamide = _draft("n1", patient.pid, "Nerlynx"), _draft("l1", patient.pid, "loperamide 2 mg")
    alone = _session(client, patient, "order-select", [neratinib], ["MedicationRequest/n1"])
    assert any("start loperamide" in summary for _indicator, summary in alone), alone
    both = _session(client, patient, "order-select", [neratinib, loperamide], ["MedicationRequest/n1"])
    assert not any("start loperamide" in summary for _indicator, summary in both), both
