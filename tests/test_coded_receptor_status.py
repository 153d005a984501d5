"""Receptor status coded on the problem list: ICD-10-CM Z17 and ICHOM's SNOMED CT findings
(mappings/codes.yaml receptor_status_conditions).

Since FY2025 ICD-10-CM codes PR, HER2 and the combined statuses (Z17.21-Z17.421) beside ER's Z17.0/Z17.1.
A chart whose pathology report is a scanned document may hold HER2 status only there: the service read
it as unknown and asked for a biopsy. A receptor's coded status counts only when no laboratory result of
that receptor is on record, and the facts say where it came from.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.render import CardRenderer, RenderContext
from tests.conftest import condition, observation, patient, statement

NOW = date(2026, 6, 1)


def _status(rid: str, code: str, **extra: Any) -> dict[str, Any]:
    return condition(rid, "icd10cm", code, "2026-02-10", **extra)


def _metastatic(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        patient(),
        condition("c1", "snomed", "254837009", "2025-11-10"),
        condition("c2", "icd10cm", "C78.7", "2026-02-01"),
        observation("lv", "10230-1", "2026-05-20", valueQuantity={"value": 62, "unit": "%"}),
        *extra,
    ]


@pytest.mark.parametrize(
    ("codes", "her2", "hormone"),
    [
        (["Z17.31"], "positive", "unknown"),
        (["Z17.32"], "negative", "unknown"),
        (["Z17.410"], "positive", "positive"),
        (["Z17.411"], "negative", "positive"),
        (["Z17.420"], "positive", "negative"),
        (["Z17.421"], "negative", "negative"),
        (["Z1731", "Z170"], "positive", "positive"),  # without the dot, as claims data write it
        (["Z17.31", "Z17.1", "Z17.22"], "positive", "negative"),
        (["Z17.31", "Z17.1"], "positive", "unknown"),  # ER negative, PR not known
    ],
)
def test_a_receptor_status_on_the_problem_list_is_read(engine, codes, her2, hormone):
    coded = [_status(f"z{i}", code) for i, code in enumerate(codes)]
    receptors = engine.evaluate("p1", _metastatic(*coded), NOW).receptors
    assert (receptors.her2, receptors.hormone_receptor) == (her2, hormone)


def test_a_her2_positive_status_coded_only_on_the_problem_list_gets_the_her2_options(engine, knowledge):
    """It read as HER2 unknown: "No HER2 tissue result: test HER2 on a biopsy before choosing therapy"."""
    evaluation = engine.evaluate("p1", _metastatic(_status("z", "Z17.410")), NOW)
    assert evaluation.recommendation.in_scope and evaluation.recommendation.line == 1
    assert evaluation.assessment()["recommendedRegimens"][0]["id"] == "pertuzumab-trastuzumab-docetaxel"
    assert "receptor-retest" in evaluation.assessment()["alerts"]  # still no tissue result since the metastasis
    detail = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]
    assert "- HER2 **positive** (problem list, 2026-02-10)" in detail
    assert "- Hormone receptor **positive** (problem list): ER unknown, PR unknown" in detail


def test_a_laboratory_result_of_the_receptor_wins_over_the_problem_list(engine):
    ihc = observation("h", "85319-2", "2026-01-15", valueCodeableConcept={"text": "1+"})
    er = observation("er", "85329-1", "2026-01-15", valueQuantity={"value": 0, "unit": "%"})
    receptors = engine.evaluate("p1", _metastatic(_status("z1", "Z17.31"), _status("z2", "Z17.0"), ihc, er), NOW).receptors
    assert (receptors.her2, receptors.er, receptors.coded) == ("low", "negative", frozenset())


def test_a_refuted_or_erroneous_status_is_not_read_and_the_status_reads_nothing_else(engine):
    refuted = _status("z", "Z17.31", verificationStatus={"coding": [{"code": "refuted"}]})
    evaluation = engine.evaluate("p1", _metastatic(refuted), NOW)
    assert evaluation.receptors.her2 == "unknown"
    with_status = engine.evaluate("p1", _metastatic(_status("z", "Z17.31"), statement("m", "Phesgo", "2026-03-01")), NOW)
    assert with_status.assessment()["metastaticSites"] == ["liver"]  # a Z17 code is no cancer, site or history


@pytest.mark.parametrize(
    ("code", "her2", "breast_cancer"),
    [("427685000", "positive", True), ("431396003", "negative", True), ("416053008", "unknown", False)],
)
def test_a_snomed_problem_naming_the_status_gives_it_and_stays_the_primary(engine, code, her2, breast_cancer):
    """ "HER2 positive carcinoma of breast" (SNOMED CT 427685000) on the problem list is the breast primary
    and says HER2 is positive; "Estrogen receptor positive tumor" says ER is positive and nothing else."""
    problem = condition("bc", "snomed", code, "2025-11-10")
    records = [patient(), problem, condition("c2", "icd10cm", "C78.7", "2026-02-01")]
    evaluation = engine.evaluate("p1", records, NOW)
    assert (evaluation.receptors.her2, evaluation.assessment()["breastCancer"]) == (her2, breast_cancer)
    assert (evaluation.receptors.er == "positive") is (code == "416053008")


def _worded_primary(words: str, coded: bool = True) -> dict[str, Any]:
    """A breast primary whose problem-list words state receptor status: coded C50.912 with those words as
    its display (as IMO and Epic problem lists carry them), or text only."""
    problem = condition("bc", "icd10cm", "C50.912", "2025-11-10")
    if coded:
        problem["code"]["coding"][0]["display"] = words
    else:
        problem["code"] = {"text": words}
    return problem


@pytest.mark.parametrize(
    ("words", "her2", "er", "pr", "hormone"),
    [
        ("HER2-positive breast cancer", "positive", "unknown", "unknown", "unknown"),
        ("ER+/PR-/HER2+ invasive ductal carcinoma of left breast", "positive", "positive", "negative", "positive"),
        (
            "Malignant neoplasm of unspecified site of left female breast, estrogen receptor positive",
            "unknown",
            "positive",
            "unknown",
            "positive",
        ),
        ("Breast cancer, hormone receptor-positive, HER2-negative", "negative", "unknown", "unknown", "positive"),
        ("Triple negative breast cancer", "negative", "negative", "negative", "negative"),
        ("Breast cancer (ER/PR negative, HER2 amplified)", "positive", "negative", "negative", "negative"),
        ("HER2/neu positive breast ca", "positive", "unknown", "unknown", "unknown"),
        # HER2's categories, and its IHC score and ISH result by ASCO/CAP's table.
        ("Breast cancer, HER2-low", "low", "unknown", "unknown", "unknown"),
        ("HER2 low metastatic breast cancer, HR+", "low", "unknown", "unknown", "positive"),
        ("HER2-ultralow breast cancer", "zero", "unknown", "unknown", "unknown"),
        ("Breast carcinoma, ER 95%, HER2 0", "zero", "unknown", "unknown", "unknown"),
        ("HER2 3+ invasive ductal carcinoma of breast", "positive", "unknown", "unknown", "unknown"),
        ("Breast cancer, HER2 (IHC 2+), FISH not amplified", "low", "unknown", "unknown", "unknown"),
        ("Breast cancer, HER2 IHC 2+, FISH amplified", "positive", "unknown", "unknown", "unknown"),
        ("Breast cancer, HER2 2+", "equivocal", "unknown", "unknown", "unknown"),
        ("ER+/PR+/HER2- (IHC 1+) breast cancer", "low", "positive", "positive", "positive"),
        ("ER+/HER2 negative (IHC 0) breast cancer", "zero", "positive", "unknown", "positive"),
        ("HER2+ (IHC 2+) breast cancer", "positive", "unknown", "unknown", "unknown"),  # a positive stays positive
        # The sign before the score ("+3" is 3+): "HER2 +1" is IHC 1+, not a positive status and a 1.
        ("IDC L breast, ER+ PR+, HER2 +3", "positive", "positive", "positive", "positive"),
        ("HER2 +1 breast cancer", "low", "unknown", "unknown", "unknown"),
        ("Breast cancer, HER2 +2", "equivocal", "unknown", "unknown", "unknown"),
        ("Breast cancer, HER2 IHC +3", "positive", "unknown", "unknown", "unknown"),
        ("Breast cancer, ER+ 2 cm, HER2 +0", "zero", "positive", "unknown", "positive"),
        ("Breast cancer, HER2 not amplified", "negative", "unknown", "unknown", "unknown"),  # not a denial of the cancer
        # Not statuses: a denied one, a percent, "PR" for a response, HER2 words of no breast cancer.
        ("Breast cancer, not HER2 positive", "unknown", "unknown", "unknown", "unknown"),
        ("Breast cancer, HER2 30%", "unknown", "unknown", "unknown", "unknown"),
        ("Breast cancer, ER 90%, PR on T-DXd", "unknown", "unknown", "unknown", "unknown"),
    ],
)
def test_a_receptor_status_in_the_words_of_the_breast_primary_is_read(engine, words, her2, er, pr, hormone):
    """A problem list saying "ER+/PR-/HER2+ invasive ductal carcinoma" with no HER2 laboratory result read as
    HER2 unknown: "No HER2 tissue result: test HER2 on a biopsy before choosing therapy"."""
    for coded in (True, False):
        records = [patient(), _worded_primary(words, coded), condition("c2", "icd10cm", "C78.7", "2026-02-01")]
        receptors = engine.evaluate("p1", records, NOW).receptors
        read = (receptors.her2, receptors.er or "unknown", receptors.pr or "unknown", receptors.hormone_receptor)
        assert read == (her2, er, pr, hormone), coded


def test_the_words_give_way_to_a_laboratory_result_and_say_where_they_came_from(engine, knowledge):
    records = [patient(), _worded_primary("ER+/PR+/HER2+ breast cancer"), condition("c2", "icd10cm", "C78.7", "2026-02-01")]
    evaluation = engine.evaluate("p1", records, NOW)
    assert evaluation.recommendation.in_scope and evaluation.recommendation.line == 1
    detail = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[0]["detail"]
    assert "- HER2 **positive** (problem list, 2025-11-10)" in detail
    ihc = observation("h", "85319-2", "2026-01-15", valueCodeableConcept={"text": "1+"})
    assert engine.evaluate("p1", [*records, ihc], NOW).receptors.her2 == "low"


def test_another_cancers_words_give_no_breast_receptor_status(engine):
    """A metastasis record naming another cancer's HER2 status ("HER2 positive gastric cancer, liver
    metastases") says nothing of the breast cancer's; one naming the breast cancer does."""
    for words, her2 in (
        ("HER2 positive gastric cancer, liver metastases", "unknown"),
        ("HER2+ breast cancer, liver metastases", "positive"),
        ("HER2+ MBC, liver metastases", "positive"),  # MBC: metastatic breast cancer
    ):
        metastasis = condition("c2", "icd10cm", "C78.7", "2026-02-01")
        metastasis["code"]["coding"][0]["display"] = words
        records = [patient(), condition("c1", "snomed", "254837009", "2025-11-10"), metastasis]
        assert engine.evaluate("p1", records, NOW).receptors.her2 == her2, words


def _text(rid: str, words: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": "Patient/p1"},
        "code": {"text": words},
        "onsetDateTime": "2026-02-10",
    }


@pytest.mark.parametrize(
    ("words", "her2", "hormone"),
    [
        # A problem of receptor statuses alone, beside the cancer (held-out d53, d56, d60): read as Z17 is.
        ("ER+/PR-/HER2 amplified", "positive", "positive"),
        ("ER pos PR neg HER2 equivocal, FISH pending", "equivocal", "positive"),
        ("ER-/PR-", "unknown", "negative"),
        # ...not a relative's, a history's or a doubt's words.
        ("Family history: mother ER+ breast cancer", "unknown", "unknown"),
        ("FHx sister HER2+", "unknown", "unknown"),
        ("? HER2 amplified", "unknown", "unknown"),
        # ...nor an emergency room's ("ER" the department, its dash no status): "Seen in ER - positive flu test".
        ("Seen in ER - positive flu test", "unknown", "unknown"),
        ("ER visit 2026-03-02 - chest pain, troponin negative", "unknown", "unknown"),
        ("Presented to the emergency department, ER - admitted", "unknown", "unknown"),
    ],
)
def test_a_problem_stating_receptor_statuses_alone_is_read(engine, words, her2, hormone):
    receptors = engine.evaluate("p1", _metastatic(_text("s", words)), NOW).receptors
    assert (receptors.her2, receptors.hormone_receptor) == (her2, hormone)
    if hormone == "unknown":  # neither receptor read: not ER negative with PR unknown
        assert (receptors.er, receptors.pr) == (None, None), words


def test_a_problem_list_hormone_receptor_negative_beside_er_negative_alone_reads_negative(engine):
    """Held-out d57: "Hormone receptor negative, HER2 positive carcinoma of right breast" with Z17.1 (ER
    negative) and no PR had read hormone receptor unknown."""
    primary = condition("c1", "icd10cm", "C50.911", "2025-11-10")
    primary["code"]["text"] = "Hormone receptor negative, HER2 positive carcinoma of right breast"
    resources = _metastatic(_status("z", "Z17.1"))
    resources[1] = primary
    receptors = engine.evaluate("p1", resources, NOW).receptors
    assert (receptors.her2, receptors.hormone_receptor, receptors.er) == ("positive", "negative", "negative")


def test_overexpressing_in_a_problems_words_is_positive(engine):
    """Held-out d55: "Breast cancer, HER-2/neu overexpressing" as a local code's display had read HER2 unknown."""
    primary = condition("c1", "icd10cm", "C50.911", "2025-11-10")
    primary["code"]["coding"].append(
        {"system": "http://ehr.example/terms", "code": "PL-1", "display": "Breast cancer, HER-2/neu overexpressing"}
    )
    resources = _metastatic()
    resources[1] = primary
    assert engine.evaluate("p1", resources, NOW).receptors.her2 == "positive"
