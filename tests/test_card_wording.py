"""mappings/cards.yaml loads into typed, frozen models checked at start-up; render reads them, so wording is data."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
import yaml

from service.cli import evaluate_bundle, example_bundles
from service.knowledge import KnowledgeError, load_knowledge

EXAMPLES = dict(example_bundles())
NOW = date(2026, 12, 1)


def _edit_cards(folder: Path, edit) -> None:
    path = folder / "cards.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True))


def test_the_wording_is_typed_and_frozen(knowledge):
    wording = knowledge.wording
    brain = wording.alerts["brain-metastases"]
    assert brain.topic in wording.topics and brain.source == "asco-2022-brain"
    assert wording.alerts["her2-equivocal"].action in wording.service_requests
    with pytest.raises(dataclasses.FrozenInstanceError):
        brain.summary = "anything"  # type: ignore[misc]


def test_a_variant_replaces_summary_and_detail_only_when_all_its_drugs_progressed(knowledge):
    brain = knowledge.wording.alerts["brain-metastases"]
    assert brain.for_history(set()) is brain
    after_tdxd = brain.for_history({"trastuzumab-deruxtecan"})
    assert "after progression on trastuzumab deruxtecan:" in after_tdxd.summary
    assert after_tdxd.detail and after_tdxd.detail.startswith("The disease progressed on trastuzumab deruxtecan.")
    assert after_tdxd.facts == brain.facts and after_tdxd.source == brain.source


def test_changing_a_summary_template_is_a_data_change(mappings_copy: Path):
    """The first-line summary of ex1 follows cards.yaml in a temporary mappings folder, with no code change."""
    bundle = EXAMPLES["ex1-de-novo-liver-naive.json"]
    before = evaluate_bundle(bundle, "patient-view", NOW, str(mappings_copy))["cards"][0]["summary"]
    assert before.startswith("HER2+ metastatic, untreated: 1st line ")

    def reword(document):
        document["summary"]["first-line-choice"] = "Untreated HER2-positive metastatic disease: {preferred} or {alternative}"

    _edit_cards(mappings_copy, reword)
    after = evaluate_bundle(bundle, "patient-view", NOW, str(mappings_copy))["cards"][0]["summary"]
    assert after.startswith("Untreated HER2-positive metastatic disease: pertuzumab + trastuzumab + docetaxel or ")


def test_an_alert_with_an_unknown_topic_stops_start_up_naming_the_field(mappings_copy: Path):
    _edit_cards(mappings_copy, lambda document: document["alerts"]["brain-metastases"].update(topic="neurology"))
    with pytest.raises(KnowledgeError, match=r"cards\.yaml: field alerts/brain-metastases/topic: topic 'neurology'"):
        load_knowledge(mappings_copy)


def test_an_alert_with_an_unknown_action_stops_start_up_naming_the_field(mappings_copy: Path):
    _edit_cards(mappings_copy, lambda document: document["alerts"]["her2-equivocal"].update(action="pet-scan"))
    with pytest.raises(KnowledgeError, match=r"cards\.yaml: field alerts/her2-equivocal/action: 'pet-scan'"):
        load_knowledge(mappings_copy)
