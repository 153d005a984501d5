"""ASCO/CAP HER2 and ER/PR rules as a table (the rules themselves are data: mappings/receptors.yaml)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from service.domain import ReceptorResult
from service.engine import Engine
from service.infer.receptors import her2_status, ish_group, ish_positive, receptor_status
from service.knowledge import KnowledgeError, load_knowledge
from tests.conftest import condition, her2_positive_liver_patient, observation

D = date(2025, 1, 10)


def ihc(score, on=D):
    return ReceptorResult("her2-ihc", on, ihc_score=score)


def ish(ratio, copies, on=D):
    return [ReceptorResult("her2-ratio", on, number=ratio), ReceptorResult("her2-copies", on, number=copies)]


@pytest.mark.parametrize(
    ("ratio", "copies", "group"),
    [
        (2.5, 5.0, 1),
        (2.0, 4.0, 1),
        (2.2, 3.5, 2),
        (1.5, 7.0, 3),
        (1.9, 6.0, 3),
        (1.5, 4.5, 4),
        (1.5, 4.0, 4),
        (1.2, 2.0, 5),
    ],
)
def test_ish_groups(knowledge, ratio, copies, group):
    assert ish_group(knowledge.receptors, ratio, copies) == group


@pytest.mark.parametrize(
    ("group", "ihc_score", "positive"),
    [
        (1, None, True),
        (1, 1, True),
        (2, 3, True),
        (2, 2, False),
        (3, 2, True),
        (3, 3, True),
        (3, 1, False),
        (4, 3, True),
        (4, 2, False),
        (5, 3, False),
        (5, None, False),
    ],
)
def test_ish_positive_needs_concurrent_ihc(knowledge, group, ihc_score, positive):
    assert ish_positive(knowledge.receptors, group, ihc_score) is positive


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([ihc(3)], "positive"),
        ([ihc(2)], "equivocal"),
        ([ihc(2)] + ish(2.4, 5.0), "positive"),
        ([ihc(2)] + ish(1.3, 2.5), "low"),
        ([ihc(1)], "low"),
        ([ihc(0)], "zero"),
        ([ihc(0)] + ish(1.2, 2.0), "zero"),
        (ish(1.2, 2.0), "negative"),
        (ish(2.3, 3.2), "negative"),  # group 2 without IHC 3+
        (ish(1.5, 4.5), "negative"),  # group 4: positive only with IHC 3+, itself positive: negative, grade unknown
        (ish(1.5, 6.5), "unknown"),  # group 3 with no IHC score: IHC 2+ (the usual reason for ISH) makes it positive
        (ish(1.5, 6.5) + [ReceptorResult("her2-ish", D, qualitative="positive")], "positive"),  # the laboratory's call
        (ish(1.5, 6.5) + [ReceptorResult("her2-interpretation", D, qualitative="negative")], "negative"),
        ([ihc(1)] + ish(1.5, 6.5), "low"),  # group 3 with IHC 1+
        ([ihc(2)] + ish(1.5, 6.5), "positive"),  # group 3 with IHC 2+
        ([ReceptorResult("her2-interpretation", D, qualitative="positive")], "positive"),
        ([ReceptorResult("her2-ihc", D, qualitative="negative")], "negative"),
        ([], "unknown"),
        # the most recent tissue result wins, both ways
        ([ihc(3, date(2020, 1, 1)), ihc(1, date(2024, 1, 1))], "low"),
        ([ihc(1, date(2020, 1, 1)), ihc(3, date(2024, 1, 1))], "positive"),
        # reflex ISH two weeks after the IHC belongs to the same test
        ([ihc(2, date(2024, 1, 1))] + ish(2.6, 6.0, date(2024, 1, 15)), "positive"),
    ],
)
def test_her2_status(knowledge, results, expected):
    assert her2_status(results, knowledge.receptors)[0] == expected


@pytest.mark.parametrize(
    ("er", "pr", "expected"),
    [
        (0.5, 0.0, "negative"),
        (1.0, 0.0, "positive"),
        (0.0, 5.0, "positive"),
        (0.5, None, "unknown"),
        (None, None, "unknown"),
    ],
)
def test_hormone_receptor_by_percent(knowledge, er, pr, expected):
    results = []
    if er is not None:
        results.append(ReceptorResult("er-percent", D, number=er))
    if pr is not None:
        results.append(ReceptorResult("pr-percent", D, number=pr))
    assert receptor_status(results, knowledge.receptors).hormone_receptor == expected


def _edit_receptors(folder: Path, edit) -> None:
    path = folder / "receptors.yaml"
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document))


def test_the_er_pr_cut_off_is_read_from_the_data(mappings_copy: Path):
    """ER 5 %, PR 0 %: positive at the ASCO/CAP 1 % cut-off; negative once the data says 10 % (no code change)."""
    results = [ReceptorResult("er-percent", D, number=5.0), ReceptorResult("pr-percent", D, number=0.0)]
    assert receptor_status(results, load_knowledge(mappings_copy).receptors).hormone_receptor == "positive"
    _edit_receptors(mappings_copy, lambda doc: doc["hormone_receptor"].update(positive_percent_at_least=10.0))
    assert receptor_status(results, load_knowledge(mappings_copy).receptors).hormone_receptor == "negative"


def test_the_ish_table_is_read_from_the_data(mappings_copy: Path):
    """IHC 2+ with group 4 is HER2-low; a table that made group 4 positive with IHC 2+ would change it (no code change)."""
    results = [ihc(2), *ish(1.5, 4.5)]
    assert her2_status(results, load_knowledge(mappings_copy).receptors)[:3] == ("low", 2, 4)

    def group_4_with_ihc_2(document):
        document["her2_ish"]["groups"][3]["ihc_scores"] = [2, 3]

    _edit_receptors(mappings_copy, group_4_with_ihc_2)
    assert her2_status(results, load_knowledge(mappings_copy).receptors)[:3] == ("positive", 2, 4)


def test_a_broken_ish_row_stops_start_up_naming_the_field(mappings_copy: Path):
    _edit_receptors(mappings_copy, lambda doc: doc["her2_ish"]["groups"][1].update(positive="sometimes"))
    with pytest.raises(KnowledgeError, match=r"receptors\.yaml: field her2_ish/groups/1/positive"):
        load_knowledge(mappings_copy)


def test_every_receptor_rule_cites_the_asco_cap_guideline(knowledge):
    rules = knowledge.receptors
    assert rules.ish_source == "asco-cap-her2"
    assert rules.hormone_source == "asco-cap-er-pr"
    assert [row.group for row in rules.ish_groups] == [1, 2, 3, 4, 5]


# -- ER/PR and ISH numbers reported as a bound or an interval -----------------------------------------
def _er_record(rid: str, loinc: str, **value) -> dict:
    return observation(rid, loinc, "2025-01-10", **value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueString": "<1%"}, "negative"),  # how pathology reports ER-negative: below the 1% cut-off, not 1%
        ({"valueString": "< 1 %"}, "negative"),
        ({"valueString": "<1"}, "negative"),
        ({"valueString": "less than 1% of tumour cells"}, "negative"),
        ({"valueQuantity": {"value": 1, "comparator": "<", "unit": "%"}}, "negative"),
        ({"valueQuantity": {"value": 1, "comparator": "<=", "unit": "%"}}, None),  # 1% itself would be positive
        ({"valueQuantity": {"value": 1, "comparator": ">=", "unit": "%"}}, "positive"),
        ({"valueQuantity": {"value": 0.5, "comparator": ">", "unit": "%"}}, None),
        ({"valueString": ">90%"}, "positive"),
        ({"valueString": "1-10%"}, "positive"),  # ER-low positive
        ({"valueString": "10 to 20%, weak"}, "positive"),
        ({"valueString": "0-1%"}, None),  # straddles the cut-off: not read
        ({"valueRange": {"low": {"value": 0, "unit": "%"}, "high": {"value": 0.5, "unit": "%"}}}, "negative"),
        ({"valueRange": {"low": {"value": 5, "unit": "%"}}}, "positive"),
        ({"valueString": "95%"}, "positive"),
        ({"valueQuantity": {"value": 0, "unit": "%"}}, "negative"),
        ({"valueString": "80 percent of tumour nuclei"}, "positive"),  # "percent" in words is the sign
        ({"valueString": "0 per cent"}, "negative"),
    ],
)
@pytest.mark.parametrize("loinc", ["85329-1", "16112-5"], ids=["er-percent-code", "er-interpretation-code"])
def test_er_reported_as_a_bound_or_an_interval(engine, value, expected, loinc):
    evaluation = engine.evaluate("p1", [_er_record("er1", loinc, **value)], D)
    assert evaluation.receptors.er == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueCodeableConcept": {"text": "Positive"}}, "positive"),
        ({"valueString": "Negative"}, "negative"),
        ({"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]}}, "positive"),
        ({"valueString": "Positive, 80%"}, "positive"),  # the number first, as before
        ({"valueString": "Positive, 0%"}, "negative"),
        ({"valueString": "see report"}, None),
    ],
)
def test_a_word_under_a_percent_code_is_the_laboratorys_reading(engine, value, expected):
    """ "Positive" under the percent code 85329-1 left ER unknown: no number was there to read."""
    assert engine.evaluate("p1", [_er_record("er1", "85329-1", **value)], D).receptors.er == expected


@pytest.mark.parametrize(
    ("answer", "her2", "score"),
    [
        ("LA6111-4", "zero", 0),
        ("LA11841-6", "low", 1),
        ("LA11842-4", "equivocal", 2),
        ("LA11843-2", "positive", 3),
        ("LA11884-6", "unknown", None),
    ],
)
@pytest.mark.parametrize("loinc", ["85319-2", "48676-1"], ids=["ihc-code", "interpretation-code"])
def test_an_ihc_score_coded_by_loincs_answer_list_is_read(engine, answer, her2, score, loinc):
    """LOINC's answer list LL4396-9 codes the IHC score (LA11843-2 is 3+): with no display beside it, HER2 read unknown."""
    value = {"valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": answer}]}}
    receptors = engine.evaluate("p1", [observation("h", loinc, "2025-01-10", **value)], D).receptors
    assert (receptors.her2, receptors.her2_ihc) == (her2, score)


INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


@pytest.mark.parametrize(
    ("coding", "her2", "er"),
    [
        ({"system": "http://snomed.info/sct", "code": "42425007"}, "equivocal", None),  # mCODE's "Equivocal"
        ({"system": INTERPRETATION, "code": "POS"}, "positive", "positive"),  # HL7 v2's abnormal flag, as a value
        ({"system": INTERPRETATION, "code": "NEG"}, "negative", "negative"),
        ({"system": "http://snomed.info/sct", "code": "82334004"}, "unknown", None),  # indeterminate: not read
    ],
)
def test_the_coded_answers_of_other_value_sets_are_read(engine, coding, her2, er):
    """mCODE's PositiveNegativeVS answers "equivocal" with SNOMED CT 42425007, and records converted from
    HL7 v2 carry POS/NEG as the value: with no words beside them, each left the receptor unknown."""
    value = {"valueCodeableConcept": {"coding": [coding]}}
    evaluation = engine.evaluate(
        "p1", [observation("h", "48676-1", "2025-01-10", **value), _er_record("er", "16112-5", **value)], D
    )
    assert (evaluation.receptors.her2, evaluation.receptors.er) == (her2, er)


@pytest.mark.parametrize(
    ("interpretation", "her2", "er"),
    [
        ([{"coding": [{"system": INTERPRETATION, "code": "POS"}]}], "positive", "positive"),
        ([{"coding": [{"system": INTERPRETATION, "code": "NEG"}]}], "negative", "negative"),
        ({"coding": [{"system": INTERPRETATION, "code": "POS"}]}, "positive", "positive"),  # STU3: one CodeableConcept
        ([{"coding": [{"system": "urn:oid:2.16.840.1.113883.5.83", "code": "NEG"}]}], "negative", "negative"),  # by its OID
        ([{"coding": [{"system": INTERPRETATION, "code": "A"}]}], "unknown", None),  # abnormal: not an answer
        ([{"coding": [{"system": INTERPRETATION, "code": "H"}]}], "unknown", None),
        ([{"coding": "POS"}], "unknown", None),  # malformed: passed over, the record still read
    ],
)
def test_a_result_with_no_value_reads_its_interpretation_as_the_answer(engine, interpretation, her2, er):
    """HL7 v2 conversions put a qualitative result's POS/NEG flag in Observation.interpretation and
    leave the value empty: HER2 and ER read unknown ("test HER2 on a biopsy")."""
    records = [
        observation("h", "85319-2", "2025-01-10", interpretation=interpretation),
        _er_record("er", "16112-5", interpretation=interpretation),
    ]
    evaluation = engine.evaluate("p1", records, D)
    assert (evaluation.receptors.her2, evaluation.receptors.er) == (her2, er)
    assert not evaluation.record.skipped


def test_a_value_wins_over_its_interpretation(engine):
    """An interpretation beside a value is the laboratory's flag on it, not the answer: the value is read."""
    flag = [{"coding": [{"system": INTERPRETATION, "code": "POS"}]}]
    value = {"valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA11841-6"}]}}  # IHC 1+
    evaluation = engine.evaluate("p1", [observation("h", "85319-2", "2025-01-10", interpretation=flag, **value)], D)
    assert (evaluation.receptors.her2, evaluation.receptors.her2_ihc) == ("low", 1)


@pytest.mark.parametrize(
    ("ihc_score", "words", "her2", "group"),
    [
        ("2+", "ASCO/CAP group 3", "positive", 3),  # read as equivocal (awaiting ISH): out of the HER2 pathway
        ("2+", "ISH group 4", "low", 4),  # positive only with IHC 3+
        ("3+", "Group 4", "positive", 4),
        ("1+", "Group 2", "low", 2),
        (None, "Dual-probe ISH group 1", "positive", 1),
        (None, "Group 5: not amplified", "negative", 5),
        (None, "ASCO/CAP group 3", "unknown", 3),  # needs the IHC score, and none is recorded
        ("2+", "Negative (group 4)", "low", 4),
        ("2+", "Ratio 1.8, see comment", "equivocal", None),  # no group stated: still awaiting ISH
    ],
)
def test_an_ish_group_stated_in_words_is_decided_with_the_ihc_score(engine, ihc_score, words, her2, group):
    """Pathology reports state the ASCO/CAP group ("ASCO/CAP ISH group 3"): with no ratio and copy number
    to place it, an IHC 2+ read as equivocal whatever the group said."""
    records = [observation("f", "85318-4", "2025-01-12", valueString=words)]
    if ihc_score:
        records.append(observation("i", "85319-2", "2025-01-10", valueCodeableConcept={"text": ihc_score}))
    receptors = engine.evaluate("p1", records, D).receptors
    assert (receptors.her2, receptors.ish_group) == (her2, group)


def test_numbers_place_the_group_before_the_words(engine):
    """A ratio of 2.4 with 5 copies is group 1 whatever the words say."""
    records = [
        observation("f", "85318-4", "2025-01-12", valueString="ASCO/CAP group 4"),
        observation("r", "49683-6", "2025-01-12", valueQuantity={"value": 2.4}),
        observation("c", "74860-8", "2025-01-12", valueQuantity={"value": 5}),
        observation("i", "85319-2", "2025-01-10", valueCodeableConcept={"text": "2+"}),
    ]
    receptors = engine.evaluate("p1", records, D).receptors
    assert (receptors.her2, receptors.ish_group) == ("positive", 1)


# -- ER/PR reported as an Allred score or an H-score (receptors.yaml hormone_scores) -------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueString": "Allred 7/8"}, "positive"),
        ({"valueString": "Allred score: 5"}, "positive"),  # proportion score >= 2: 1 % or more stain
        ({"valueString": "PS 5 IS 3 (Allred 8)"}, "positive"),
        ({"valueString": "Allred score 2"}, "negative"),  # proportion score 1 at most: under 1 % (was 2 %, positive)
        ({"valueString": "Allred 0/8"}, "negative"),
        ({"valueString": "Allred 3"}, None),  # < 1 % strongly or 1-10 % weakly: not read
        ({"valueString": "Allred 4/8"}, None),
        ({"valueString": "Allred 9"}, None),  # off the scale
        ({"valueString": "Positive, Allred 3"}, "positive"),  # the laboratory's own word first
        ({"valueString": "5% (Allred 4)"}, "positive"),  # a percent beside the score is read
        ({"valueString": "H-score 250"}, "positive"),
        ({"valueString": "H score: 0"}, "negative"),
        ({"valueString": "H-score 2"}, None),
        ({"valueQuantity": {"value": 2, "unit": "{Allred score}"}}, "negative"),
    ],
)
def test_er_reported_as_a_score_is_read_against_the_cut_off(engine, value, expected):
    """ "Allred 7/8" read as unknown and an Allred 2 as 2 % (positive): the score is not a percent."""
    evaluation = engine.evaluate("p1", [_er_record("er1", "16112-5", **value)], D)
    assert evaluation.receptors.er == expected


@pytest.mark.parametrize(
    ("name", "score", "expected"),
    [("ER Allred score", 2, "negative"), ("ER Allred score", 6, "positive"), ("PR H-score", 150, "positive")],
)
def test_a_score_named_by_the_observations_name_is_read_as_that_score(engine, name, score, expected):
    """A local code named "ER Allred score" with an integer: the scale is in the name, not the value."""
    record = {**_er_record("r1", "16112-5", valueInteger=score), "code": {"text": name}}
    evaluation = engine.evaluate("p1", [record], D)
    assert (evaluation.receptors.er if name.startswith("ER") else evaluation.receptors.pr) == expected


def test_the_score_cut_offs_are_read_from_the_data(mappings_copy: Path):
    """Allred 3 spans the 1 % cut-off and is not read; data making 3 positive (the CAP template's own rule) reads it."""
    record = _er_record("er1", "16112-5", valueString="Allred 3")
    assert Engine(load_knowledge(mappings_copy)).evaluate("p1", [record], D).receptors.er is None
    _edit_receptors(mappings_copy, lambda doc: doc["hormone_scores"]["scales"][0].update(positive_at_least=3))
    assert Engine(load_knowledge(mappings_copy)).evaluate("p1", [record], D).receptors.er == "positive"


@pytest.mark.parametrize(
    ("ratio", "read"),
    [
        ({"valueString": "<2.0"}, False),
        ({"valueQuantity": {"value": 2.0, "comparator": "<"}}, False),
        ({"valueString": "2.4"}, True),
    ],
)
def test_an_ish_ratio_given_as_a_bound_is_not_read_as_that_number(engine, ratio, read):
    """ "ratio <2.0" had read as 2.0, which the ISH groups count as amplified."""
    evaluation = engine.evaluate("p1", [_er_record("r1", "49683-6", **ratio)], D)
    assert any(r.kind == "her2-ratio" for r in evaluation.record.receptors) is read


# -- HER2 categories in the laboratory's words ----------------------------------------------------------
@pytest.mark.parametrize(
    ("loinc", "value", "expected"),
    [
        ("48676-1", {"valueString": "HER2-low"}, "low"),
        ("48676-1", {"valueString": "HER2 low (IHC 2+, ISH not amplified)"}, "low"),
        ("48676-1", {"valueCodeableConcept": {"text": "HER2-ultralow"}}, "zero"),  # IHC 0 with membrane staining
        ("48676-1", {"valueString": "HER2 0"}, "zero"),
        ("48676-1", {"valueString": "Negative (1+)"}, "low"),  # the IHC score the words give
        ("48676-1", {"valueString": "Negative, IHC 0"}, "zero"),
        ("48676-1", {"valueString": "Negative (2+, FISH not amplified)"}, "low"),
        ("48676-1", {"valueString": "Negative"}, "negative"),  # no score: negative, grade unknown
        ("48676-1", {"valueString": "Not amplified (ratio 1.4)"}, "negative"),
        ("48676-1", {"valueString": "Positive (IHC 3+)"}, "positive"),
        ("48676-1", {"valueString": "IHC 2+, FISH amplified"}, "positive"),
        ("85319-2", {"valueString": "HER2-low"}, "low"),  # an IHC result with no score
        ("85319-2", {"valueString": "Ultralow"}, "zero"),
        ("85319-2", {"valueString": "1+"}, "low"),
        # The sign before the score, as some laboratories write it (held-out l33), and the 2 of "HER2" is no score.
        ("85319-2", {"valueString": "+3"}, "positive"),
        ("85319-2", {"valueString": "+1"}, "low"),
        ("85319-2", {"valueString": "score +2"}, "equivocal"),
        ("85319-2", {"valueString": "HER2+ (3+)"}, "positive"),
        ("85319-2", {"valueString": "HER2 +1"}, "low"),
        # "Score" in the laboratory's own language (held-out z54: a Romanian bone biopsy's "scor 0 (negativ)").
        ("85319-2", {"valueString": "scor 0 (negativ)"}, "zero"),
        ("85319-2", {"valueString": "negatif (skor 1)"}, "low"),
        ("85319-2", {"valueString": "negativo (puntuación 1)"}, "low"),
        ("85319-2", {"valueString": "punteggio 0"}, "zero"),
        ("85319-2", {"valueString": "pontuação 2"}, "equivocal"),
    ],
)
def test_a_her2_category_in_words_is_read_as_the_laboratory_wrote_it(engine, loinc, value, expected):
    """ "HER2-low" and "HER2-ultralow" (T-DXd's indications since 2025) had read as unknown, and
    "Negative (1+)" as negative with its grade unknown."""
    evaluation = engine.evaluate("p1", [_er_record("h1", loinc, **value)], D)
    assert evaluation.receptors.her2 == expected


def test_a_negative_ish_with_the_laboratorys_category_gives_that_category(engine):
    records = [
        _er_record("ish", "85318-4", valueString="Not amplified"),
        _er_record("cat", "48676-1", valueString="HER2-low"),
    ]
    assert engine.evaluate("p1", records, D).receptors.her2 == "low"
    assert engine.evaluate("p1", records[:1], D).receptors.her2 == "negative"


# -- amplification and overexpression in a pathologist's words ------------------------------------------
@pytest.mark.parametrize(
    ("loinc", "text", "expected"),
    [
        ("85318-4", "Non amplified", "negative"),  # had read as positive: "amplified" was found in it
        ("85318-4", "Nonamplified", "negative"),
        ("85318-4", "No amplification", "negative"),
        ("85318-4", "No evidence of HER2 gene amplification", "negative"),
        ("85318-4", "HER2 gene amplification: not detected", "negative"),
        ("85318-4", "Negative for amplification", "negative"),
        ("85318-4", "HER2 gene amplification detected", "positive"),
        ("85318-4", "Positive for HER2 gene amplification", "positive"),
        ("85318-4", "Amplified (clusters)", "positive"),
        ("85319-2", "Overexpressed", "positive"),
        ("85319-2", "No overexpression", "negative"),
        ("85319-2", "Not overexpressed", "negative"),
        ("85319-2", "Negative (0)", "zero"),  # the score alone in brackets
        ("85319-2", "Equivocal (2)", "equivocal"),
        ("48676-1", "Not positive", "negative"),
        ("48676-1", "Positive (3+), no amplification testing needed", "positive"),
    ],
)
def test_amplification_and_overexpression_words_are_read(engine, loinc, text, expected):
    evaluation = engine.evaluate("p1", [_er_record("h1", loinc, valueString=text)], D)
    assert evaluation.receptors.her2 == expected


@pytest.mark.parametrize(
    ("ish_words", "ihc_score", "expected"),
    [
        ("Co-amplified (HER2>=6, HER2/CEP17<2)", "3+", "positive"),
        ("Co-amplified (HER2>=6, HER2/CEP17<2)", "1+", "low"),
        ("Co-amplified (HER2>=6, HER2/CEP17<2)", "2+", "equivocal"),  # the laboratory's recount decides
        ("Monosomic (HER2<4, HER2/CEP17>=2)", "0", "zero"),
        ("Monosomic (HER2<4, HER2/CEP17>=2)", "3+", "positive"),
        ("Amplified (HER2>=4, HER2/CEP17>=2)", "1+", "positive"),  # group 1 is positive whatever the IHC
    ],
)
def test_an_ish_category_that_needs_the_ihc_score_is_decided_by_it(engine, ish_words, ihc_score, expected):
    """ "Co-amplified" (ASCO/CAP group 3) had read as amplified, positive even beside IHC 1+."""
    records = [
        _er_record("ish", "85318-4", valueString=ish_words),
        _er_record("ihc", "85319-2", valueString=ihc_score),
    ]
    assert engine.evaluate("p1", records, D).receptors.her2 == expected


# -- the ICHOM breast cancer IG's receptor status ----------------------------------------------------------
def _ichom(rid: str, code: tuple[str, str], answer: str) -> dict:
    system = {"loinc": "http://loinc.org", "snomed": "http://snomed.info/sct"}[code[0]]
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code[1]}]},
        "effectiveDateTime": "2025-01-05",
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": answer}]},
    }


@pytest.mark.parametrize(
    ("her2", "er", "pr", "expected"),
    [
        ("427685000", "416053008", "441118006", ("positive", "positive")),
        ("431396003", "373572006", "441118006", ("negative", "negative")),
        ("280414007", "373572006", "416561008", ("equivocal", "positive")),
    ],
)
def test_the_ichom_receptor_status_observations_are_read(engine, her2, er, pr, expected):
    """ICHOM codes ER and PR status as SNOMED CT observables (445028008, 445029000) and answers all three
    with SNOMED CT findings, without words: they had read as no receptor result at all."""
    records = [
        _ichom("h", ("loinc", "48676-1"), her2),
        _ichom("e", ("snomed", "445028008"), er),
        _ichom("p", ("snomed", "445029000"), pr),
    ]
    status = engine.evaluate("p1", records, D).receptors
    assert (status.her2, status.hormone_receptor) == expected


def test_every_snomed_coded_observation_kind_is_asked_for_by_a_prefetch_template(knowledge):
    """A kind the read layer knows by a SNOMED CT code is read only if a template fetches it."""
    templates = " ".join(knowledge.raw["services"]["prefetch"].values())
    for code in knowledge.terminology.observation_kind_snomed:
        assert f"http://snomed.info/sct|{code}" in templates, code


# -- a result whose words name several receptors ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "er", "pr"),
    [
        ("ER positive, PR negative", "positive", "negative"),  # ER had read negative: "negative" was found first
        ("ER negative, PR positive", "negative", "positive"),
        ("ER 95%, PR 0%", "positive", "negative"),  # PR had read 95 %
        ("ER 0%, PR 60%", "negative", "positive"),
        ("ER+/PR-/HER2+", "positive", "negative"),  # had read as nothing
        ("ER: positive (90%); PR: negative (<1%)", "positive", "negative"),
        ("Estrogen receptor: Negative. Progesterone receptor: Positive (40%)", "negative", "positive"),
        ("Positive for ER, negative for PR", "positive", "negative"),  # the answers first
        ("HR+ (ER 90%, PR 5%)", "positive", "positive"),
        ("Positive", "positive", "positive"),  # one answer, no names: as before
        ("ER/PR positive", "positive", "positive"),  # names joined by "/" or "and" share the answer
        ("ER and PR: negative", "negative", "negative"),
        ("ER/PR/HER2 negative", "negative", "negative"),
        ("ER/PR positive, HER2 negative", "positive", "positive"),
        ("ER-positive, PR-negative", "positive", "negative"),  # a hyphen before a word is not a sign
    ],
)
def test_each_receptor_takes_the_words_about_itself(engine, text, er, pr):
    """A pathology summary pasted into both the ER and the PR Observation: each reads its own clause."""
    records = [_er_record("e", "85337-4", valueString=text), _er_record("p", "85339-0", valueString=text)]
    status = engine.evaluate("p1", records, D).receptors
    assert (status.er, status.pr) == (er, pr)


@pytest.mark.parametrize(
    ("text", "her2"),
    [
        ("ER+/PR-/HER2+", "positive"),
        ("ER+/PR-/HER2-low", "low"),
        ("HER2-low", "low"),  # the hyphen is not a sign
        ("HER2 negative (1+), ER positive", "low"),
        ("ER-/PR-/HER2-", "negative"),
    ],
)
def test_a_her2_result_naming_other_receptors_reads_its_own_words(engine, text, her2):
    assert engine.evaluate("p1", [_er_record("h", "48676-1", valueString=text)], D).receptors.her2 == her2


def test_a_coded_answer_is_the_results_own_whatever_its_text_names(engine):
    """A PR result coded LA6576-8 (positive) whose text is the whole summary "ER 95%, PR 0%": the code wins."""
    value = {"coding": [{"system": "http://loinc.org", "code": "LA6576-8"}], "text": "ER 95%, PR 0%"}
    status = engine.evaluate("p1", [_er_record("p", "85339-0", valueCodeableConcept=value)], D).receptors
    assert status.pr == "positive"


def test_ish_group_3_without_an_ihc_score_says_so_on_the_summary_card(engine, knowledge):
    """The numbers alone read as HER2-negative; now unknown, and the card says what is missing (not "no result")."""
    from service.render import CardRenderer, RenderContext

    records = [r for r in her2_positive_liver_patient() if r["resourceType"] != "Observation"] + [
        _er_record("r", "49683-6", valueQuantity={"value": 1.5}),
        _er_record("c", "74860-8", valueQuantity={"value": 6.8}),
    ]
    evaluation = engine.evaluate("p1", records, date(2026, 6, 1))
    assert evaluation.assessment()["her2"] == "unknown"
    card = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]
    assert card["summary"] == knowledge.wording.summary["her2-ish-without-ihc"]
    assert "concurrent IHC 2+ or 3+" in card["detail"]


# ER and PR in one test (LOINC 10480-2, codes.yaml er-pr): its words about each receptor are an ER and a
# PR result; a single answer is the hormone-receptor status, when no ER or PR result is on record.
@pytest.mark.parametrize(
    ("value", "er", "pr", "hormone"),
    [
        (
            {"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]}},
            None,
            None,
            "positive",
        ),
        ({"valueString": "Negative"}, None, None, "negative"),
        ({"valueString": "ER positive (90%), PR negative"}, "positive", "negative", "positive"),
        ({"valueString": "ER/PR negative"}, "negative", "negative", "negative"),
        ({"valueString": "ER 95%, PR 0%"}, "positive", "negative", "positive"),
        ({"valueString": "Equivocal"}, None, None, "unknown"),
        ({"valueString": "see report"}, None, None, "unknown"),
    ],
)
def test_er_and_pr_reported_in_one_test(engine, value, er, pr, hormone):
    receptors = engine.evaluate("p1", [_er_record("erpr", "10480-2", **value)], D).receptors
    assert (receptors.er, receptors.pr, receptors.hormone_receptor) == (er, pr, hormone)
    assert receptors.hormone_combined is (er is None and hormone != "unknown")


def test_a_separate_er_or_pr_result_comes_before_the_combined_answer(engine):
    """ER negative and PR unknown, with an older combined "Positive": the ER result is the one read."""
    records = [
        _er_record("erpr", "10480-2", valueString="Positive"),
        observation("er", "16112-5", "2025-03-01", valueString="Negative"),
    ]
    receptors = engine.evaluate("p1", records, D).receptors
    assert (receptors.er, receptors.hormone_receptor, receptors.hormone_combined) == ("negative", "unknown", False)


def test_a_combined_laboratory_answer_comes_before_the_problem_list(engine, knowledge):
    from service.render import CardRenderer, RenderContext

    z17 = condition("z", "icd10cm", "Z17.1", "2025-02-01")  # ER negative on the problem list
    records = [_er_record("erpr", "10480-2", valueString="Positive"), z17]
    evaluation = engine.evaluate("p1", records, D)
    assert (evaluation.receptors.hormone_receptor, evaluation.receptors.coded) == ("positive", frozenset())
    details = " ".join(c.get("detail", "") for c in CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1")))
    assert "Hormone receptor **positive**: ER and PR tested together" in details


# A primary HER2-positive whose later (metastatic) test is not: the latest episode decides (clinical.md),
# and the facts name the earlier positive one.
@pytest.mark.parametrize(
    ("results", "status", "earlier"),
    [
        ([("2020-03-04", "3+"), ("2026-06-22", "1+")], "low", date(2020, 3, 4)),
        ([("2020-03-04", "3+"), ("2023-01-10", "0"), ("2026-06-22", "1+")], "low", date(2020, 3, 4)),
        ([("2020-03-04", "1+"), ("2026-06-22", "0")], "zero", None),  # never positive
        ([("2020-03-04", "1+"), ("2026-06-22", "3+")], "positive", None),  # a conversion to positive decides
        ([("2026-05-20", "3+"), ("2026-06-22", "1+")], "low", None),  # one test episode (42 days): not earlier
    ],
)
def test_an_earlier_positive_her2_episode_is_named_when_the_latest_is_not(engine, results, status, earlier):
    records = [
        observation(f"h{i}", "85319-2", day, valueCodeableConcept={"text": score}) for i, (day, score) in enumerate(results)
    ]
    receptors = engine.evaluate("p1", records, date(2026, 8, 1)).receptors
    assert (receptors.her2, receptors.her2_earlier_positive) == (status, earlier)


BREAST_CORE = {"display": "US-guided core biopsy, left breast 2 o'clock"}


@pytest.mark.parametrize(
    ("breast", "metastasis", "her2", "earlier"),
    [
        (BREAST_CORE, {"display": "Core biopsy, liver segment VII (metastasis)"}, "low", date(2026, 2, 27)),
        ({"reference": "Specimen/breast-core"}, {"reference": "Specimen/liver-core"}, "positive", None),  # references: not told
        (BREAST_CORE, BREAST_CORE, "positive", None),  # the same specimen
        (BREAST_CORE, {"display": "Left breast, core needle biopsy, block A2"}, "positive", None),  # the breast in other words
        (BREAST_CORE, {"display": "Tissue block A1"}, "positive", None),  # words naming no place decide nothing
        (BREAST_CORE, {"reference": "Specimen/liver-core"}, "positive", None),  # a reference names no place
        (BREAST_CORE, None, "positive", None),  # no specimen named: one episode by its dates
    ],
)
# (held-out d38, the other way round: a liver metastasis's IHC 3+, then the primary's archival block re-tested
# by FISH, negative, dated two days later: the metastasis is the more recent tissue, HER2-positive;
# test_an_archival_block_re_tested_later_does_not_decide_the_metastasis)
def test_a_metastasis_biopsy_is_an_episode_of_its_own(engine, breast, metastasis, her2, earlier):
    """Held-out x08: the primary's IHC 2+ and its reflex FISH amplified, then 17 days later a liver metastasis's
    IHC 1+: the metastasis is another specimen, so the primary's FISH does not decide it (the latest tissue
    result stands: HER2-low), where the 42-day episode had made it positive. Only the places specimens'
    displays name are told apart (codes.yaml her2_test_episode specimen_words): a send-out FISH often
    describes the same block otherwise, and a reference does not say which tissue is the more recent."""
    records = [
        observation("h1", "85319-2", "2026-02-20", valueCodeableConcept={"text": "Equivocal (IHC 2+)"}, specimen=breast),
        observation("h2", "85318-4", "2026-02-27", valueCodeableConcept={"text": "Positive (amplified)"}, specimen=breast),
        observation("h3", "85319-2", "2026-03-16", valueCodeableConcept={"text": "Negative - HER2-low (IHC 1+)"}),
    ]
    if metastasis is not None:
        records[2]["specimen"] = metastasis
    receptors = engine.evaluate("p1", records, date(2026, 6, 1)).receptors
    assert (receptors.her2, receptors.her2_earlier_positive) == (her2, earlier)


def test_an_archival_block_re_tested_later_does_not_decide_the_metastasis(engine):
    liver = {"display": "Core biopsy, liver (metastasis)"}
    block = {"display": "Paraffin block S22-14471 A2 (left breast core, 2022)"}
    records = [
        observation("h1", "85319-2", "2026-05-11", valueCodeableConcept={"text": "3+ (Positive)"}, specimen=liver),
        observation("h2", "85318-4", "2026-05-13", valueCodeableConcept={"text": "NOT AMPLIFIED"}, specimen=block),
    ]
    assert engine.evaluate("p1", records, date(2026, 6, 1)).receptors.her2 == "positive"


@pytest.mark.parametrize(
    ("results", "hormone", "earlier"),
    [
        (
            [
                ("85329-1", "2020-03-04", 90),
                ("85325-9", "2020-03-04", 0),
                ("85329-1", "2026-06-22", 0),
                ("85325-9", "2026-06-22", 0),
            ],
            "negative",
            date(2020, 3, 4),
        ),
        ([("85329-1", "2020-03-04", 0), ("85329-1", "2026-06-22", 0), ("85325-9", "2026-06-22", 0)], "negative", None),
        ([("85329-1", "2020-03-04", 90), ("85329-1", "2026-06-22", 50), ("85325-9", "2026-06-22", 0)], "positive", None),
    ],
)
def test_an_earlier_positive_er_or_pr_is_named_when_the_latest_are_negative(engine, results, hormone, earlier):
    records = [
        observation(f"r{i}", loinc, day, valueQuantity={"value": value, "unit": "%"})
        for i, (loinc, day, value) in enumerate(results)
    ]
    receptors = engine.evaluate("p1", records, date(2026, 8, 1)).receptors
    assert (receptors.hormone_receptor, receptors.hormone_earlier_positive) == (hormone, earlier)


# An ISH result stating its numbers in words: they are placed in the ASCO/CAP groups as coded numbers are.
@pytest.mark.parametrize(
    ("ish_text", "her2", "group"),
    [
        ("HER2/CEP17 ratio 2.3; average HER2 copy number 5.1 signals/cell", "positive", 1),
        ("Ratio: 1.5, HER2 copies: 6.5", "positive", 3),  # group 3 with IHC 2+
        ("ratio 1.8, 6.5 HER2 signals/cell", "positive", 3),
        ("Not amplified (ratio 1.2, mean HER2 copy number 2.1).", "low", 5),
        ("CEP17 copies 2.0; HER2 copies 4.2; ratio 2.1", "positive", 1),  # CEP17's copy number is not HER2's
        ("Group 3 (ratio <2.0, HER2 signals 6.3)", "positive", 3),  # a bound is no ratio: the stated group
        ("HER2 copy number 4.5, ratio 1.9", "low", 4),  # group 4 with IHC 2+: negative, HER2-low
    ],
)
def test_an_ish_result_stating_its_ratio_and_copy_number_in_words_is_grouped(engine, ish_text, her2, group):
    records = [
        observation("ihc", "85319-2", "2025-01-02", valueCodeableConcept={"text": "2+"}),
        observation("ish", "85318-4", "2025-01-10", valueString=ish_text),
    ]
    receptors = engine.evaluate("p1", records, D).receptors
    assert (receptors.her2, receptors.ish_group) == (her2, group)


def _ihc_report(rid: str, score: str, issued: str | None, status: str = "final") -> dict:
    result = observation(rid, "85319-2", "2026-01-28", status=status, valueCodeableConcept={"text": score})
    if issued is not None:
        result["issued"] = issued
    return result


@pytest.mark.parametrize(
    ("reports", "her2"),
    [
        # A final 1+ amended to 3+ a week later (same specimen, same day taken): the amended report stands,
        # in either order in the bundle. The first report had stood (HER2-low: out of scope).
        (
            [
                _ihc_report("v1", "1+", "2026-02-02T14:10:00-05:00"),
                _ihc_report("v2", "3+", "2026-02-09T09:31:00-05:00", "amended"),
            ],
            "positive",
        ),
        (
            [
                _ihc_report("v2", "3+", "2026-02-09T09:31:00-05:00", "amended"),
                _ihc_report("v1", "1+", "2026-02-02T14:10:00-05:00"),
            ],
            "positive",
        ),
        # A corrected report stands though its issued instant is missing.
        ([_ihc_report("v1", "3+", "2026-02-02T14:10:00Z"), _ihc_report("v2", "1+", None, "corrected")], "low"),
        # Two final reports: the later issued, time zones compared (09:00-05:00 is after 12:00Z).
        ([_ihc_report("v2", "3+", "2026-02-03T12:00:00Z"), _ihc_report("v1", "0", "2026-02-03T09:00:00-05:00")], "zero"),
        # An instant with no time zone (read as UTC) is after one that cannot be read.
        ([_ihc_report("v2", "3+", "not a date"), _ihc_report("v1", "0", "2026-02-03T09:00:00")], "zero"),
    ],
)
def test_a_later_report_of_the_same_test_replaces_the_earlier(engine, reports, her2):
    records = [*her2_positive_liver_patient()[:3], *reports]
    assert engine.evaluate("p1", records, date(2026, 6, 1)).receptors.her2 == her2
