"""The read layer's shortcuts (issue 16, performance) read exactly what the plain forms read.

Each shortcut is compared with the plain form it replaced, written out here: the exact-name look-up of
``agents_from_name`` with the word scan, the set difference of ``refine_agents`` with the pairwise
test, the in-place coding walk of the Observation kinds with ``raw_codings``. No timing is asserted.
"""

from __future__ import annotations

from datetime import date
from itertools import combinations
from typing import Any

import pytest

from service.knowledge import Knowledge, agents_from_name, load_knowledge, normalise_name, refine_agents, scan_agents
from service.read.common import raw_codings, raw_concept_texts
from service.read.observations import ObservationReader
from service.read.record import Normaliser


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge()


def test_a_text_that_is_one_drug_name_reads_as_the_word_scan_reads_it(knowledge):
    names = [" ".join(pattern.words) for pattern in knowledge.name_patterns]
    texts = names + [name.upper() for name in names] + [f"{name} 150 mg" for name in names]
    texts += [f"{first} + {second}" for first, second in zip(names, reversed(names), strict=True)]
    for text in texts:
        assert agents_from_name(knowledge, text) == scan_agents(knowledge, normalise_name(text)), text


def test_refining_drops_what_another_agent_of_the_record_refines(knowledge):
    agents = sorted(set(knowledge.refinements) | set(knowledge.refinements.values()) | {"trastuzumab"})
    for size in (0, 1, 2, 3):
        for chosen in combinations(agents, size):
            pairwise = {a for a in chosen if not any(knowledge.refinements.get(other) == a for other in chosen)}
            assert refine_agents(knowledge, set(chosen)) == pairwise, chosen


def listed_kind(reader: ObservationReader, concept: Any) -> tuple[str | None, bool]:
    """The Observation kind as read through raw_codings (before the codings were walked in place)."""
    standard = False
    for system, code in raw_codings(concept):
        kind = reader.knowledge.observation_kind.get((system, code))
        if kind:
            return kind, False
        if system == reader.knowledge.systems["snomed"] and code in reader.terminology.observation_kind_snomed:
            return str(reader.terminology.observation_kind_snomed[code]), False
        standard = standard or system in {reader.knowledge.systems["loinc"], reader.knowledge.systems["snomed"]}
    if standard:
        return None, False
    kind = reader.terminology.observation_kind_from_text(raw_concept_texts(concept))
    return (None, False) if kind in (None, "ignore") else (kind, True)


@pytest.mark.parametrize(
    "concept",
    [
        None,
        "85319-2",
        [],
        {"coding": {"system": "http://loinc.org", "code": "85319-2"}},
        {"coding": [None, 3, {"system": ["http://loinc.org"], "code": "85319-2"}]},
        {"coding": [{"system": "http://loinc.org", "code": ["85319-2"]}], "text": "HER2 IHC"},
        {"coding": [{"system": "http://loinc.org", "code": "0000-0"}, {"system": "http://loinc.org", "code": "85319-2"}]},
        {"coding": [{"system": "http://snomed.info/sct", "code": "399537006"}]},
        {"coding": [{"system": "http://example.org/local", "code": "X"}], "text": "HER2 by IHC"},
        {"coding": [{"code": "85319-2"}], "text": "Left ventricular ejection fraction"},
        {"text": "ER percent positive"},
    ],
)
def test_the_kind_of_an_observation_code_reads_as_through_raw_codings(knowledge, concept):
    reader = ObservationReader(knowledge)
    assert reader._kind_and_source(concept) == listed_kind(reader, concept)


def test_a_resource_type_of_the_wrong_json_type_is_passed_over(knowledge):
    odd = [{"resourceType": value, "id": "x"} for value in (None, 3, ["Observation"], {"a": 1}, "Encounter")]
    record = Normaliser(knowledge).patient_record("p1", [*odd, "not an object", 7], date(2026, 1, 1))
    assert (record.conditions, record.receptors, record.labs, record.exposures, record.skipped) == ([], [], [], [], [])
