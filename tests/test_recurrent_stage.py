"""A breast primary that states its stage IV came back (terminology.yaml text.recurrence).

A tester's problem list held "Carcinoma of left breast (dx 2013), recurrent metastatic 2018", with the
2013 diagnosis as its onset and the bone and lung metastases recorded in 2018. The stage IV in its words
was dated by that onset, so the adjuvant AC-TH and anastrozole of 2013-2018 were read as two metastatic
lines and the patient on her fourth line was offered a seventh.
"""

from __future__ import annotations

from datetime import date

import pytest

from service.engine import Engine
from tests.conftest import condition, statement

NOW = date(2026, 6, 1)
ADJUVANT = [
    statement("ac", "doxorubicin + cyclophosphamide", "2013-04-15", "2013-06-10"),
    statement("th", "paclitaxel + trastuzumab", "2013-06-24", "2014-06-30"),
]
FIRST_LINE = statement("thp", "docetaxel + trastuzumab + pertuzumab", "2018-10-15")
BONE = condition("bone", "icd10cm", "C79.51", "2018-09-24")
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _primary(text: str, **extra) -> dict:
    primary = condition("bc", "icd10cm", "C50.512", "2013-03-04", **extra)
    primary["code"]["text"] = text
    return primary


@pytest.mark.parametrize(
    "primary",
    [
        _primary("Carcinoma of left breast (dx 2013), recurrent metastatic 2018"),
        _primary("Metastatic breast cancer, relapsed"),
        _primary(
            "Metastatic breast cancer",
            clinicalStatus={"coding": [{"system": CLINICAL_STATUS, "code": "recurrence"}]},
        ),
        _primary("Carcinome du sein gauche, récidive métastatique"),
        # Sites a primary's words name as come back (held-out u46: AC-TH in 2013 had made two metastatic lines).
        _primary("Left breast IDC pT2 pN1a (stage IIB) 03/2013; metastatic relapse liver/bone 09/2018"),
    ],
)
def test_a_recurrence_stage_iv_is_dated_by_its_metastases(engine: Engine, primary):
    evaluation = engine.evaluate("p1", [primary, BONE, *ADJUVANT, FIRST_LINE], NOW)
    assert evaluation.extent.metastatic_date == date(2018, 9, 24)
    assert [line.start for line in evaluation.history.lines] == [date(2018, 10, 15)]


def test_a_de_novo_stage_iv_primary_is_dated_by_its_metastases(engine: Engine):
    """Stage IV at diagnosis: the primary's onset is the breast biopsy's day, a week before its sites were
    found; the metastases date the metastatic diagnosis (held-out t19, n23, i49, f52: 2026-12-07), and THP begun
    while the staging was written up, and given since, is still the first line."""
    primary = condition("bc", "icd10cm", "C50.512", "2018-04-30")
    primary["code"]["text"] = "Metastatic breast cancer"
    later_bone = condition("bone", "icd10cm", "C79.51", "2018-05-07")
    thp = statement("thp", "docetaxel + trastuzumab + pertuzumab", "2018-05-02", status="active")
    evaluation = engine.evaluate("p1", [primary, later_bone, thp], NOW)
    assert evaluation.extent.metastatic_date == date(2018, 5, 7)
    assert evaluation.history.current.number == 1
    assert evaluation.history.current.start == date(2018, 5, 2)


def test_a_recurrence_stage_iv_with_no_dated_metastasis_keeps_its_date(engine: Engine):
    """With nothing else dated, the primary's onset is the only date there is."""
    primary = _primary("Metastatic breast cancer, recurrent")
    evaluation = engine.evaluate("p1", [primary], NOW)
    assert evaluation.extent.metastatic and evaluation.extent.metastatic_date == date(2013, 3, 4)


@pytest.mark.parametrize(
    ("text", "sites", "metastatic_date"),
    [
        # The relapse's date in the words after it dates the sites they name (held-out z38, z41), in any order the
        # records write a month and year; the adjuvant course stays adjuvant.
        ("Carcinoma de mama 05/2018. Recaída a distancia 04/2026: metástasis pulmonares", ("lung",), date(2026, 4, 1)),
        (
            "Carcinoma mammella 2018. Ripresa di malattia a distanza 10/2024: 3 metastasi epatiche. "
            "TC total body e scintigrafia ossea negative per altre sedi.",  # a bone scan negative: no bone site
            ("liver",),
            date(2024, 10, 1),
        ),
        ("IDC 2018; metastatic relapse liver/bone 2025-02-10", ("bone", "liver"), date(2025, 2, 10)),
        ("Breast cancer 2018, relapsed: liver metastases 15/03/2025", ("liver",), date(2025, 3, 15)),
        # A day and month that could be either order date nothing: the primary's onset, the only date there is.
        ("Cancer du sein 2018. Rechute métastatique osseuse le 10/02/2025", ("bone",), date(2018, 5, 22)),
        # Distant nodes in Spanish words (held-out z38).
        ("Carcinoma 2018. Recaída 04/2026: metástasis en adenopatías mediastínicas", ("lymph-node",), date(2026, 4, 1)),
    ],
)
def test_a_recurred_primarys_words_date_the_sites_they_name(engine: Engine, text, sites, metastatic_date):
    primary = condition("bc", "icd10cm", "C50.912", "2018-05-22")
    primary["code"]["text"] = text
    adjuvant = statement("th", "paclitaxel + trastuzumab", "2018-06-04", "2019-06-03")
    evaluation = engine.evaluate("p1", [primary, adjuvant], NOW)
    assert (evaluation.extent.sites, evaluation.extent.metastatic_date) == (sites, metastatic_date)
    expected_lines = [] if metastatic_date > date(2019, 6, 3) else [date(2018, 6, 4)]
    assert [line.start for line in evaluation.history.lines] == expected_lines


def test_a_de_novo_stage_iv_primary_is_not_outweighed_by_a_problem_lists_entry_date(engine: Engine):
    """A metastasis dated only by when it was put on the problem list (recordedDate, a year later) does not date
    the diagnosis the primary's own stage IV dates: THP of 2018 stays the first line."""
    primary = condition("bc", "icd10cm", "C50.512", "2018-04-30")
    primary["code"]["text"] = "Metastatic breast cancer"
    bone = condition("bone", "icd10cm", "C79.51", "2018-05-07")
    del bone["onsetDateTime"]
    bone["recordedDate"] = "2019-01-10"
    thp = statement("thp", "docetaxel + trastuzumab + pertuzumab", "2018-05-14", "2018-12-20")
    evaluation = engine.evaluate("p1", [primary, bone, thp], NOW)
    assert evaluation.extent.metastatic_date == date(2018, 4, 30)
    assert [line.start for line in evaluation.history.lines] == [date(2018, 5, 14)]


@pytest.mark.parametrize(
    "text",
    [
        "Metastatic breast cancer, HR+/HER2-low (IHC 2+, FISH neg on liver bx 9/2025)",  # held-out t60
        "Metastatic breast cancer (HCC) - HER2+, to lung and pleura; now on second-line therapy",  # held-out q50
    ],
)
def test_a_renamed_primarys_sites_carry_its_early_onset_and_the_metastases_date_the_relapse(engine: Engine, text: str):
    """A primary of 2013 renamed "Metastatic breast cancer..." names sites in its words; with no recurrence word
    they had carried the 2013 onset, so the adjuvant therapy read as metastatic lines. The metastases' own onsets
    date the relapse."""
    evaluation = engine.evaluate("p1", [_primary(text), BONE, *ADJUVANT, FIRST_LINE], NOW)
    assert evaluation.extent.metastatic_date == date(2018, 9, 24)
    assert [line.start for line in evaluation.history.lines] == [date(2018, 10, 15)]
