"""Options as eligibility rules (mappings/options.yaml): carried forward, label-gated, and data-only to extend."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import yaml

from service.engine import Engine, Evaluation
from service.knowledge import Knowledge, load_knowledge
from service.render import CardRenderer, RenderContext
from tests.patients import Line, Patient

NOW = date(2026, 11, 20)
THP = Line(["Perjeta", "Herceptin", "Taxotere"], "2020-02-01", "2021-06-30", progressed="2021-06-20")
TDXD = Line(["Enhertu"], "2021-07-15", "2023-01-31", progressed="2023-01-20")
TUC = Line(["Tukysa", "Herceptin", "Xeloda"], "2023-02-15", "2026-06-30", progressed="2026-06-20")
TDM1 = Line(["Kadcyla"], "2023-02-15", "2026-06-30", progressed="2026-06-20")


def evaluate(engine: Engine, patient: Patient) -> Evaluation:
    return engine.evaluate(patient.pid, patient.resources(), NOW)


def offered(evaluation: Evaluation) -> dict[str, bool]:
    return {option.regimen: option.preferred for option in evaluation.recommendation.options}


def test_t_dm1_never_received_is_carried_forward_to_lines_4_and_5(engine):
    """NCCN lists T-DM1 for the third line and beyond: after THP, T-DXd and the tucatinib regimen it is still an option."""
    line4 = evaluate(engine, Patient(lines=[THP, TDXD, TUC]))
    assert line4.recommendation.line == 4
    assert "trastuzumab-emtansine" in offered(line4)
    assert "trastuzumab-deruxtecan" not in offered(line4) and "tucatinib-trastuzumab-capecitabine" not in offered(line4)
    lapatinib = Line(["Tykerb", "Xeloda"], "2026-07-10", "2026-10-31", progressed="2026-10-20")
    line5 = evaluate(engine, Patient(lines=[THP, TDXD, TUC, lapatinib]))
    assert line5.recommendation.line == 5 and "trastuzumab-emtansine" in offered(line5)
    assert "lapatinib-capecitabine" not in offered(line5), "progressed on lapatinib"


def test_tdxd_and_the_tucatinib_regimen_never_received_are_carried_forward(engine):
    """After THP and T-DM1 (no T-DXd): T-DXd at line 3; the tucatinib regimen stays at line 4 if never given."""
    line3 = evaluate(engine, Patient(lines=[THP, TDM1]))
    assert offered(line3)["trastuzumab-deruxtecan"] is False
    assert offered(line3)["tucatinib-trastuzumab-capecitabine"] is True
    tdxd_late = Line(["Enhertu"], "2026-07-10", "2026-10-31", progressed="2026-10-20")
    line4 = evaluate(engine, Patient(lines=[THP, TDM1, tdxd_late]))
    assert "tucatinib-trastuzumab-capecitabine" in offered(line4)


def test_neratinib_follows_its_label_two_metastatic_anti_her2_regimens(engine):
    """Nerlynx: >= 2 prior anti-HER2 regimens in the metastatic setting; no longer only from line 4."""
    after_two = evaluate(engine, Patient(lines=[THP, TDXD]))
    assert after_two.recommendation.line == 3 and "neratinib-capecitabine" in offered(after_two)
    endocrine = Line(["Letrozole"], "2020-02-01", "2021-06-30", progressed="2021-06-20")
    after_one = evaluate(engine, Patient(er_percent=80, lines=[endocrine, TDXD]))
    assert after_one.recommendation.line == 3 and "neratinib-capecitabine" not in offered(after_one)


def test_the_first_her2_line_after_endocrine_therapy_or_chemotherapy_alone_gets_the_first_line_options(engine, knowledge):
    """Letrozole, then capecitabine, each progressed, no HER2 drug yet: trastuzumab deruxtecan was the
    "preferred 2nd line", though its second-line label is after a prior anti-HER2 regimen."""
    first_line = offered(evaluate(engine, Patient(er_percent=90)))
    endocrine = Line(["Letrozole"], "2020-02-01", "2021-06-30", progressed="2021-06-20")
    chemotherapy = Line(["Xeloda"], "2021-07-15", "2023-01-31", progressed="2023-01-20")
    for lines in ([endocrine], [endocrine, chemotherapy]):
        evaluation = evaluate(engine, Patient(er_percent=90, lines=lines))
        assert evaluation.recommendation.line == len(lines) + 1 and evaluation.recommendation.read_as_line == 1
        assert offered(evaluation) == first_line and first_line["pertuzumab-trastuzumab-docetaxel"] is True
        detail = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]
        assert f"**Options for line {len(lines) + 1}** (HER2-directed line 1: the 1st-line options)" in detail


ENDOCRINE = Line(["Letrozole"], "2019-02-01", "2020-01-31", progressed="2020-01-20")
ERIBULIN = Line(["Eribulin"], "2021-07-15", "2023-01-31", progressed="2023-01-20")


def test_lines_without_an_her2_drug_do_not_move_the_her2_sequence_on(engine, knowledge):
    """Letrozole, then THP; or THP, then eribulin; each progressed: the next line is the second HER2-directed
    one, so T-DXd is its preferred option (DESTINY-Breast03), not a 'carried forward' third-line choice."""
    for lines in ([ENDOCRINE, THP], [THP, ERIBULIN]):
        evaluation = evaluate(engine, Patient(er_percent=90, metastatic_on="2019-01-10", lines=lines))
        assert evaluation.recommendation.line == 3 and evaluation.recommendation.read_as_line == 2
        assert offered(evaluation)["trastuzumab-deruxtecan"] is True
        assert offered(evaluation).get("tucatinib-trastuzumab-capecitabine") is None  # line 2: only with brain metastases
        detail = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]
        assert "**Options for line 3** (HER2-directed line 2: the 2nd-line options)" in detail
    standard = evaluate(engine, Patient(lines=[THP, TDXD]))  # the guideline's own order: read as itself
    assert standard.recommendation.line == 3 and standard.recommendation.read_as_line is None
    assert offered(standard)["tucatinib-trastuzumab-capecitabine"] is True


def test_after_t_dxd_given_early_the_next_line_reads_the_options_after_t_dxd(engine, knowledge):
    """First-line T-DXd + pertuzumab (DESTINY-Breast09), or T-DXd after letrozole and capecitabine, progressed:
    the options were the second line's ('T-DM1 when T-DXd is not possible', no tucatinib regimen) or, after
    three lines, the fourth's (the tucatinib regimen not preferred)."""
    first_line_tdxd = Line(["Enhertu", "Perjeta"], "2020-02-01", "2023-01-31", progressed="2023-01-20")
    capecitabine = Line(["Xeloda"], "2020-02-15", "2021-01-31", progressed="2021-01-20")
    after_chemotherapy = Line(["Enhertu"], "2021-02-15", "2023-01-31", progressed="2023-01-20")
    for lines, line in (([first_line_tdxd], 2), ([ENDOCRINE, capecitabine, after_chemotherapy], 4)):
        evaluation = evaluate(engine, Patient(er_percent=90, metastatic_on="2019-01-10", lines=lines))
        assert evaluation.recommendation.line == line and evaluation.recommendation.read_as_line == 3
        assert evaluation.recommendation.read_after == ("trastuzumab-deruxtecan",)
        options = offered(evaluation)
        assert options["tucatinib-trastuzumab-capecitabine"] is True and "trastuzumab-deruxtecan" not in options
        detail = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]
        assert f"**Options for line {line}** (after trastuzumab deruxtecan (T-DXd): the 3rd-line options)" in detail


def test_an_early_relapse_counts_as_an_her2_line_at_the_next_line_too(engine):
    """Relapse within 6 months of adjuvant trastuzumab + pertuzumab, then T-DM1 (its first metastatic line),
    progressed: the third HER2-directed regimen is due, the tucatinib regimen preferred, not the second line's."""
    adjuvant = Line(["Herceptin", "Perjeta", "Taxol"], "2019-01-10", "2019-11-30")
    tdm1 = Line(["Kadcyla"], "2020-02-01", "2023-01-31", progressed="2023-01-20")
    evaluation = evaluate(engine, Patient(adjuvant=adjuvant, lines=[tdm1]))
    assert evaluation.history.early_relapse and evaluation.recommendation.line == 2
    assert evaluation.recommendation.read_as_line == 3 and evaluation.recommendation.read_after == ()
    assert offered(evaluation)["tucatinib-trastuzumab-capecitabine"] is True
    assert offered(evaluation)["trastuzumab-deruxtecan"] is False  # never received: carried forward


def test_margetuximab_counts_adjuvant_anti_her2_therapy_as_its_label_does(engine):
    """Margenza: >= 2 prior anti-HER2 regimens, >= 1 of them for metastatic disease (adjuvant counts)."""
    adjuvant = Line(["Herceptin", "Taxol"], "2018-01-10", "2018-12-20")
    with_adjuvant = evaluate(engine, Patient(adjuvant=adjuvant, lines=[THP, TDXD]))
    assert with_adjuvant.recommendation.line == 3 and "margetuximab-chemotherapy" in offered(with_adjuvant)
    endocrine = Line(["Letrozole"], "2019-02-01", "2020-01-05", progressed="2019-12-20")
    # one metastatic anti-HER2 regimen, read as the line after T-DXd: the label's two regimens need the adjuvant one
    without = evaluate(engine, Patient(er_percent=90, lines=[endocrine, TDXD]))
    assert without.recommendation.read_as_line == 3 and "margetuximab-chemotherapy" not in offered(without)
    with_one = evaluate(engine, Patient(er_percent=90, adjuvant=adjuvant, lines=[endocrine, TDXD]))
    assert "margetuximab-chemotherapy" in offered(with_one)


def test_pertuzumab_is_re_offered_from_the_third_line_as_asco_says(engine):
    no_pertuzumab = Line(["Herceptin", "Taxol"], "2020-02-01", "2021-06-30", progressed="2021-06-20")
    line2 = evaluate(engine, Patient(lines=[no_pertuzumab]))
    assert line2.recommendation.line == 2 and "pertuzumab-trastuzumab-paclitaxel" not in offered(line2)
    line3 = evaluate(engine, Patient(lines=[no_pertuzumab, TDXD]))
    assert offered(line3).get("pertuzumab-trastuzumab-paclitaxel") is False


def test_first_line_hp_maintenance_names_the_2025_additions_without_offering_them(engine, knowledge):
    """HER2CLIMB-05 (any HR status) and PATINA (HR-positive) are trial evidence, never preferred, 'not
    FDA-approved'. With no guideline-preferred addition (HR-negative) no change of therapy is suggested:
    they are named on the summary card, not offered (options.yaml maintenance_offered_only_with_preferred);
    fourteen held-out testers read the contract so."""
    maintenance = Line(["Perjeta", "Herceptin"], "2026-02-01")
    # the taxane record ends after induction: maintenance on the antibodies alone
    patient = Patient(metastatic_on="2026-01-10", lines=[maintenance])
    resources = patient.resources() + [
        {
            "resourceType": "MedicationStatement",
            "id": "taxane",
            "status": "completed",
            "medicationCodeableConcept": {"text": "Taxotere"},
            "subject": {"reference": "Patient/p1"},
            "effectivePeriod": {"start": "2026-02-01", "end": "2026-06-01"},
        }
    ]
    hr_negative = engine.evaluate("p1", resources, NOW)
    assert hr_negative.recommendation.kind == "none" and offered(hr_negative) == {}
    assert [o.regimen for o in hr_negative.recommendation.trial_additions] == ["tucatinib-with-her2-maintenance"]
    assessment = hr_negative.assessment()
    assert "recommendedLine" not in assessment and "recommendedRegimens" not in assessment
    assert "not FDA-approved" in knowledge.regimen_models["tucatinib-with-her2-maintenance"].label_status
    card = CardRenderer(knowledge).summary_card(hr_negative, RenderContext("h", "p1"))
    title = knowledge.regimen_models["tucatinib-with-her2-maintenance"].title
    assert "Additions to this maintenance with trial evidence only" in card["detail"] and title in card["detail"]
    assert not card.get("suggestions")


def test_first_line_tdxd_pertuzumab_is_not_maintenance(engine):
    """DESTINY-Breast09's T-DXd + pertuzumab is given until progression: with T-DXd ongoing the
    chemotherapy phase is not over, so no maintenance addition (HER2CLIMB-05's tucatinib) is offered
    and no change of therapy is suggested (options.yaml maintenance_not_while)."""
    on_tdxd_pertuzumab = evaluate(engine, Patient(metastatic_on="2026-01-10", lines=[Line(["Enhertu", "Perjeta"], "2026-01-20")]))
    assert on_tdxd_pertuzumab.history.current_number == 1 and on_tdxd_pertuzumab.history.status == "on-treatment"
    assert on_tdxd_pertuzumab.recommendation.kind != "maintenance"
    assert offered(on_tdxd_pertuzumab) == {}


def test_first_line_card_states_the_choice_with_tdxd_pertuzumab(engine, knowledge):
    """DESTINY-Breast09: FDA-approved first line; the card names what decides between it and THP."""
    naive = evaluate(engine, Patient(metastatic_on="2026-10-01"))
    assert offered(naive)["trastuzumab-deruxtecan-pertuzumab"] is False
    card = CardRenderer(knowledge).summary_card(naive, RenderContext("h", "p1"))
    assert "trastuzumab deruxtecan + pertuzumab" in card["summary"]
    assert "interstitial lung disease" in card["detail"] and "preference" in card["detail"]
    assert "2025-12-15" in card["detail"]


def _copy_mappings(tmp_path: Path) -> Path:
    folder = tmp_path / "mappings"
    shutil.copytree(Path(__file__).resolve().parent.parent / "mappings", folder)
    return folder


def _edit(folder: Path, name: str, change) -> None:
    path = folder / f"{name}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _allow_agent(folder: Path, agent: str) -> None:
    """drugs.schema.json may list the canonical agents by name: a new agent is then added there too (still mappings/)."""
    path = folder / "schemas" / "drugs.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    names = schema["properties"]["agents"].get("propertyNames", {})
    if "enum" in names:
        names["enum"].append(agent)
    path.write_text(json.dumps(schema), encoding="utf-8")


def test_a_new_adc_is_a_change_to_mappings_alone(tmp_path, knowledge: Knowledge):
    """Add an ADC (agent, regimen, one eligibility rule) in a copy of mappings/: it is offered and ordered, no code change."""
    folder = _copy_mappings(tmp_path)
    _allow_agent(folder, "novel-adc")
    _edit(
        folder,
        "drugs",
        lambda d: d["agents"].update(
            {"novel-adc": {"class": "her2-adc", "display": "novelumab vedotin", "names": ["novelumab vedotin", "Novelza"]}}
        ),
    )
    _edit(
        folder,
        "regimens",
        lambda d: d["regimens"].update(
            {
                "novel-adc": {
                    "title": "Novelumab vedotin",
                    "short": "novelumab vedotin",
                    "agents": ["novel-adc"],
                    "key_agents": ["novel-adc"],
                    "label_status": "FDA-approved after trastuzumab deruxtecan (test)",
                    "source": "nccn-breast",
                }
            }
        ),
    )
    rule = {
        "regimen": "novel-adc",
        "eligible": {"line_min": 3, "never_received": ["novel-adc"]},
        "preferred": False,
        "category": "after trastuzumab deruxtecan",
        "source": "nccn-breast",
    }
    _edit(folder, "options", lambda d: d["rules"].insert(len(d["rules"]) - 4, rule))
    extended = load_knowledge(folder)
    patient = Patient(lines=[THP, TDXD])
    evaluation = Engine(extended).evaluate(patient.pid, patient.resources(), NOW)
    assert offered(evaluation).get("novel-adc") is False
    assert "novel-adc" not in offered(evaluate(Engine(knowledge), patient)), "the real mappings do not know it"
    card = CardRenderer(extended).summary_card(evaluation, RenderContext("h", patient.pid))
    suggestion = next(s for s in card["suggestions"] if s["label"] == "Order novelumab vedotin")
    assert [a["resource"]["medicationCodeableConcept"]["text"] for a in suggestion["actions"]] == ["novelumab vedotin"]
    # progression on the new ADC removes it, as for any regimen
    novel = Line(["Novelza"], "2023-02-15", "2026-06-30", progressed="2026-06-20")
    after = Engine(extended).evaluate("p1", Patient(lines=[THP, TDXD, novel]).resources(), NOW)
    assert after.recommendation.line == 4 and "novel-adc" not in offered(after)


def test_a_regimen_with_an_unknown_drug_stops_start_up_naming_the_file_and_field(tmp_path):
    import pytest

    from service.knowledge import KnowledgeError

    folder = _copy_mappings(tmp_path)
    _edit(folder, "regimens", lambda d: d["regimens"]["trastuzumab-emtansine"].update({"agents": ["kadcylaa"]}))
    with pytest.raises(KnowledgeError, match=r"regimens\.yaml: regimens/trastuzumab-emtansine/agents: 'kadcylaa'"):
        load_knowledge(folder)
    folder = _copy_mappings(tmp_path / "b")
    _edit(folder, "options", lambda d: d["rules"][0].update({"regimen": "no-such-regimen"}))
    with pytest.raises(KnowledgeError, match=r"options\.yaml: rules/0/regimen: unknown regimen no-such-regimen"):
        load_knowledge(folder)


def test_an_early_relapse_after_adjuvant_t_dm1_is_not_offered_t_dm1_again(engine, knowledge):
    """KATHERINE-style adjuvant T-DM1, metastases 3 months after it: the adjuvant course counts as a
    progressed line (options.yaml early_relapse_counts_as_line), so T-DM1 is no option and a draft of
    it is warned about; T-DXd stays preferred."""
    adjuvant = Line(["Kadcyla"], "2019-06-01", "2019-10-01")
    evaluation = evaluate(engine, Patient(metastatic_on="2020-01-10", adjuvant=adjuvant))
    assert evaluation.history.early_relapse is True
    assert offered(evaluation) == {"trastuzumab-deruxtecan": True, "clinical-trial": False}
    late = evaluate(engine, Patient(metastatic_on="2021-01-10", adjuvant=adjuvant))  # 15 months after: no early relapse
    assert late.history.early_relapse is False and "trastuzumab-deruxtecan-pertuzumab" in offered(late)

    from service.order_check import OrderChecker

    draft = {"resourceType": "MedicationRequest", "id": "d", "status": "draft", "intent": "order"}
    draft["medicationCodeableConcept"] = {"text": "Kadcyla"}
    cards = OrderChecker(knowledge, engine.normaliser, CardRenderer(knowledge)).cards(
        evaluation, [draft], RenderContext("h", "p1")
    )
    relapse = [c["summary"] for c in cards if "relapse" in c["summary"]]
    assert relapse == [
        "Metastatic relapse within 6 months of (neo)adjuvant ado-trastuzumab emtansine (T-DM1): "
        "treat the disease as refractory to it"
    ]


def test_an_early_relapse_after_adjuvant_pertuzumab_warns_of_a_pertuzumab_draft(engine, knowledge):
    """Neoadjuvant THP then adjuvant HP, metastases 8 months after the last dose (inside pertuzumab's
    12 months): a first-line order set of THP again warns of pertuzumab (the course counts as a line
    progressed on: options.yaml never_received), not of trastuzumab, which later lines hold as a partner."""
    adjuvant = Line(["Perjeta", "Herceptin", "docetaxel"], "2024-09-06", "2025-09-16")
    evaluation = evaluate(engine, Patient(metastatic_on="2026-05-05", adjuvant=adjuvant))
    assert evaluation.history.early_relapse is True

    from service.order_check import OrderChecker

    drafts = []
    for number, drug in enumerate(["Perjeta", "Herceptin", "docetaxel"]):
        draft = {"resourceType": "MedicationRequest", "id": f"d{number}", "status": "draft", "intent": "order"}
        drafts.append(draft | {"medicationCodeableConcept": {"text": drug}})
    cards = OrderChecker(knowledge, engine.normaliser, CardRenderer(knowledge)).cards(
        evaluation, drafts, RenderContext("h", "p1")
    )
    relapse = [(c["indicator"], c["summary"]) for c in cards if "relapse" in c["summary"]]
    assert relapse == [
        ("warning", "Metastatic relapse within 12 months of (neo)adjuvant pertuzumab: treat the disease as refractory to it")
    ]


def test_her2_agents_used_outside_the_us_start_lines_of_their_own(engine, knowledge):
    """Pyrotinib (China) after THP is a 2nd line; a zanidatamab trial line after it a 3rd. Read as HER2
    agents, they count for the label gates (neratinib: >= 2 prior anti-HER2 metastatic lines)."""
    pyrotinib = Line(["pyrotinib maleate", "capecitabine"], "2021-07-15", "2023-01-31", progressed="2023-01-20")
    zanidatamab = Line(["Ziihera", "docetaxel"], "2023-02-15", "2026-06-30", progressed="2026-06-20")
    evaluation = evaluate(engine, Patient(lines=[THP, pyrotinib, zanidatamab]))
    history = evaluation.assessment()["lineOfTherapy"]["history"]
    assert [line["agents"] for line in history][1:] == [["capecitabine", "pyrotinib"], ["docetaxel", "zanidatamab"]]
    assert evaluation.recommendation.line == 4 and "neratinib-capecitabine" in offered(evaluation)


def test_inetetamab_is_named_and_holds_maintenance_as_trastuzumab_does(engine):
    """Inetetamab (Cipterbin, China) with vinorelbine, vinorelbine dropped, letrozole added: one line of
    inetetamab, not an unknown drug (history-incomplete) nor a new line at the letrozole."""
    inetetamab = Line(["Cipterbin (inetetamab)"], "2022-10-11", "2025-06-03", progressed="2025-06-01")
    vinorelbine = Line(["vinorelbine"], "2022-10-11", "2023-03-28")
    letrozole = Line(["letrozole"], "2023-04-18", "2025-06-03")
    evaluation = evaluate(engine, Patient(er_percent=60, lines=[THP, inetetamab, vinorelbine, letrozole]))
    history = evaluation.assessment()["lineOfTherapy"]["history"]
    assert [line["agents"] for line in history][1:] == [["inetetamab", "letrozole", "vinorelbine"]]
    assert "history-incomplete" not in evaluation.assessment().get("alerts", [])


def test_lvef_monitoring_covers_her2_conjugates_outside_the_canonical_list(engine):
    """The contract's lvef-monitoring-overdue: "on an HER2 antibody/ADC". Disitamab vedotin with the last
    LVEF eight months old had raised nothing (safety.yaml lvef monitored_classes)."""
    dv = Line(["disitamab vedotin"], "2025-06-17")
    patient = Patient(lines=[THP, dv], labs=[("lvef", "2025-10-14", 60, None)])
    assert "lvef-monitoring-overdue" in evaluate(engine, patient).assessment()["alerts"]
