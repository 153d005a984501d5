"""What belongs to another cancer or another disease, and what a line's records say of its end.

Found by held-out testers 129-136 (2026-12-07): a metastasis whose words give another cancer's origin, a
metastasis of a site another primary's words name as its spread, results whose ``focus`` is another primary,
drugs given for a disease other than a cancer (lupus nephritis, immune thrombocytopenia, fertility
preservation), endocrine therapy in a cancer never hormone-receptor positive, Sweden's ICD-10-SE by its OID,
and the end of a last line whose endocrine partner stopped after its antibodies.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.render import CardRenderer, RenderContext
from tests.conftest import condition, draft_order, observation, patient, statement
from tests.test_dispenses import administration

NOW = date(2026, 6, 1)


def _assessment(engine, resources: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = engine.evaluate("p1", resources, NOW).assessment()
    return result


def _early_breast_cancer() -> list[dict[str, Any]]:
    """HER2 3+, ER 80 % early breast cancer of 2019, treated; nothing metastatic of its own."""
    return [
        patient(),
        condition("bc", "icd10cm", "C50.412", "2019-05-06"),
        observation("her2", "85319-2", "2019-05-09", valueCodeableConcept={"text": "3+"}),
        observation("er", "85337-4", "2019-05-09", valueQuantity={"value": 80, "unit": "%"}),
    ]


def _lung_cancer(text: str = "Adenocarcinoma RUL, stage IVA") -> dict[str, Any]:
    lung = condition("lung-ca", "icd10cm", "C34.11", "2025-01-16")
    lung["code"]["text"] = text
    return lung


def _metastasis(rid: str, code: str, on: str, text: str, note: str | None = None) -> dict[str, Any]:
    found = condition(rid, "icd10cm", code, on)
    found["code"]["text"] = text
    if note:
        found["note"] = [{"text": note}]
    return found


def test_a_metastasis_whose_words_name_another_cancer_is_that_cancers(engine, knowledge):
    """Held-out a57: "Pleural metastasis - lung adenocarcinoma" beside a lung cancer is the lung cancer's;
    with no other primary on record the same words still make the breast cancer metastatic."""
    pleura = _metastasis("pleura", "C78.2", "2025-01-16", "Pleural metastasis - lung adenocarcinoma")
    evaluation = engine.evaluate("p1", [*_early_breast_cancer(), _lung_cancer(), pleura], NOW)
    assert evaluation.assessment()["metastatic"] is False
    detail = CardRenderer(knowledge).cards(evaluation, RenderContext("h", "p1"))[-1]["detail"]
    assert "Read as another primary cancer" in detail and "Condition/pleura" in detail  # named on the data card
    assert _assessment(engine, [*_early_breast_cancer(), pleura])["metastatic"] is True


def test_a_note_naming_the_origin_is_read_and_a_negated_or_breast_clause_is_not_another_origin(engine):
    """Held-out a54: a liver metastasis whose note reads "c/w gastric primary ... Not breast." beside a gastric
    cancer is not the breast cancer's; "lung primary excluded" negates; "from breast cancer" keeps it."""
    gastric = condition("gastric", "icd10cm", "C16.2", "2025-08-08")
    other = _metastasis(
        "liver", "C78.7", "2025-08-12", "Liver metastases", "Biopsy: adenocarcinoma c/w gastric primary. Not breast."
    )
    assert _assessment(engine, [*_early_breast_cancer(), gastric, other])["metastatic"] is False
    for note in (
        "Biopsy: lung primary excluded.",
        "Liver biopsy: metastatic carcinoma from breast cancer; gastric cancer stable",
    ):
        liver = _metastasis("liver", "C78.7", "2025-08-12", "Liver metastases", note)
        assert _assessment(engine, [*_early_breast_cancer(), gastric, liver])["metastaticSites"] == ["liver"], note


def test_a_site_another_primarys_words_name_near_its_onset_is_that_cancers(engine):
    """A lung cancer "stage IVA (M1a: malignant pleural effusion)" and a "Malignant pleural effusion" problem
    two days before it (held-out a57): the effusion is the lung cancer's; one found two years later is not."""
    lung = _lung_cancer("Adenocarcinoma RUL, stage IVA (M1a: malignant pleural effusion)")
    effusion = _metastasis("mpe", "J91.0", "2025-01-14", "Malignant pleural effusion")
    assert _assessment(engine, [*_early_breast_cancer(), lung, effusion])["metastatic"] is False
    later = _metastasis("mpe", "J91.0", "2026-05-20", "Malignant pleural effusion")
    assert _assessment(engine, [*_early_breast_cancer(), _lung_cancer(), later])["metastaticSites"] == ["pleura"]
    assert _assessment(engine, [*_early_breast_cancer(), lung, later])["metastaticSites"] == ["pleura"]


def _focused(resource: dict[str, Any], target: str) -> dict[str, Any]:
    return {**resource, "focus": [{"reference": f"Condition/{target}"}]}


def test_results_focused_on_another_primary_are_that_cancers(engine):
    """Held-out a59: a gastro-oesophageal cancer's cM0 (its focus) ended a breast cancer's bone metastases; its
    HER2 0 would have made the breast cancer HER2 zero. Focused on the breast cancer, they are read."""
    gej = condition("gej", "icd10cm", "C16.0", "2025-09-18")
    bone = condition("bone", "icd10cm", "C79.51", "2023-03-20")
    m0 = observation("m0", "21907-1", "2025-09-26", valueCodeableConcept={"text": "cM0"})
    her2 = observation("her2-gej", "85319-2", "2025-09-22", valueCodeableConcept={"text": "0"})
    resources = [*_early_breast_cancer(), gej, bone, _focused(m0, "gej"), _focused(her2, "gej")]
    found = _assessment(engine, resources)
    assert (found["metastatic"], found["her2"]) == (True, "positive")
    found = _assessment(engine, [*_early_breast_cancer(), gej, bone, _focused(m0, "bc"), _focused(her2, "bc")])
    assert (found["metastatic"], found["her2"]) == (False, "zero")


def _specimen(rid: str, kind: str, site: str) -> dict[str, Any]:
    return {
        "resourceType": "Specimen",
        "id": rid,
        "subject": {"reference": "Patient/p1"},
        "type": {"text": kind},
        "collection": {"collectedDateTime": "2025-08-08", "bodySite": {"text": site}},
    }


@pytest.mark.parametrize(
    ("other_code", "kind", "site", "her2"),
    [
        ("C16.2", "Gastric biopsy", "Stomach, body, greater curvature", "positive"),  # the gastric cancer's: breast's 3+ stands
        ("C16.2", "Tissue specimen", "Stomach", "positive"),  # its body site names the organ
        ("C73", "Gastric biopsy", "Stomach", "zero"),  # no gastric cancer on record: a lobular metastasis's, perhaps
        ("C16.2", "Core biopsy", "Left breast, gastric-type mucosa adjacent", "zero"),  # the breast named: the breast's
        ("C16.2", "Liver core biopsy", "Liver, right lobe", "zero"),  # a site the breast cancer spreads to: not told
    ],
)
def test_a_result_on_another_primarys_organ_is_that_cancers(engine, other_code, kind, site, her2):
    """Held-out a54: a gastric cancer's HER2 on the gastric biopsy (its Specimen), naming no ``focus``, had been
    read as the breast cancer's newest result. With a cancer of that organ on record it is that cancer's."""
    other = condition("other", "icd10cm", other_code, "2025-08-08")
    her2_0 = observation("her2-new", "85319-2", "2025-08-11", valueCodeableConcept={"text": "0"})
    her2_0["specimen"] = {"reference": "Specimen/s1"}
    found = _assessment(engine, [*_early_breast_cancer(), other, _specimen("s1", kind, site), her2_0])
    assert found["her2"] == her2


def _metastatic_her2(er_percent: float = 0) -> list[dict[str, Any]]:
    """HER2 3+ bone metastases since 2025-02-06, THP from 2025-03-05."""
    return [
        patient(),
        condition("bc", "icd10cm", "C50.912", "2025-01-29"),
        condition("bone", "icd10cm", "C79.51", "2025-02-06"),
        observation("her2", "85319-2", "2025-02-12", valueCodeableConcept={"text": "3+"}),
        observation("er", "85337-4", "2025-02-12", valueQuantity={"value": er_percent, "unit": "%"}),
        observation("pr", "85339-0", "2025-02-12", valueQuantity={"value": 0, "unit": "%"}),
        statement("tras", "trastuzumab", "2025-03-05", status="active"),
        statement("pert", "pertuzumab", "2025-03-05", status="active"),
        statement("doce", "docetaxel", "2025-03-05", "2025-06-20"),
    ]


def _history(engine, resources: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    lines = _assessment(engine, resources)["lineOfTherapy"].get("history", [])
    return [(line["start"], line["agents"]) for line in lines]


def test_drugs_given_for_another_disease_make_no_line(engine):
    """Held-out b44, b45, b46: cyclophosphamide for lupus nephritis (ICD-10 M32.14), rituximab whose infusions
    say "ITP" and whose order says nothing, letrozole for fertility preservation (Z31.84) even beside C50."""
    lupus = {"reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M32.14"}]}]}
    ivf = {
        "reasonCode": [
            {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C50.912"}]},
            {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z31.84"}], "text": "Fertility preservation"},
        ]
    }
    rituximab = {"medicationCodeableConcept": {"text": "Rituximab 500mg/50ml (Truxima)"}}
    order = {**draft_order("ritux-order", "p1", **rituximab), "status": "completed", "authoredOn": "2025-12-29"}
    infusions = [
        {
            "resourceType": "MedicationAdministration",
            "id": f"ritux-{day}",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            **rituximab,
            "effectiveDateTime": f"2026-01-{day}",
            "request": {"reference": "MedicationRequest/ritux-order"},
            **({"reasonCode": [{"text": "ITP"}]} if day == "05" else {}),
        }
        for day in ("05", "12", "19")
    ]
    others = [
        statement("cyclo", "cyclophosphamide 500 mg IV", "2025-09-01", "2025-10-27", **lupus),
        statement("letro", "letrozole 2.5 mg", "2025-02-11", "2025-02-25", **ivf),
        order,
        *infusions,
    ]
    found = _assessment(engine, [*_metastatic_her2(er_percent=60), *others])
    assert "alerts" not in found or "history-incomplete" not in found["alerts"]
    assert _history(engine, [*_metastatic_her2(er_percent=60), *others]) == [
        ("2025-03-05", ["docetaxel", "pertuzumab", "trastuzumab"])
    ]
    silent = [statement("cyclo", "cyclophosphamide 500 mg IV", "2025-09-01", "2025-10-27")]  # no reason: a line
    assert len(_history(engine, [*_metastatic_her2(er_percent=60), *silent])) == 2


def test_endocrine_therapy_of_a_cancer_never_hormone_receptor_positive_is_no_line_agent(engine):
    """Held-out b47: goserelin for ovarian protection from a week before chemotherapy in an ER 0 %, PR 0 %
    patient joins no line and starts none; with ER 60 % it is the first line's (begun within its window)."""
    goserelin = statement("gos", "goserelin 3.6 mg implant", "2025-02-26", status="active")
    assert _history(engine, [*_metastatic_her2(er_percent=0), goserelin]) == [
        ("2025-03-05", ["docetaxel", "pertuzumab", "trastuzumab"])
    ]
    assert _history(engine, [*_metastatic_her2(er_percent=60), goserelin]) == [
        ("2025-02-26", ["docetaxel", "goserelin", "pertuzumab", "trastuzumab"])
    ]
    earlier = observation("er-2019", "85337-4", "2019-02-12", valueQuantity={"value": 30, "unit": "%"})
    assert _history(engine, [*_metastatic_her2(er_percent=0), earlier, goserelin])[0][0] == "2025-02-26"


def test_sweden_icd10_se_by_its_oid(engine):
    """Held-out e51, e59: ICD-10-SE (urn:oid:1.2.752.116.1.1.1.1.3), written without the dot, is ICD-10."""
    oid = "urn:oid:1.2.752.116.1.1.1.1.3"
    resources = [patient(), condition("bc", oid, "C504", "2025-02-18"), condition("liver", oid, "C787", "2025-02-24")]
    found = _assessment(engine, resources)
    assert (found["breastCancer"], found["metastaticSites"]) == (True, ["liver"])


def test_a_progressed_last_line_ends_on_its_last_records_last_day(engine):
    """Held-out e54: the antibodies stopped for progression on 2026-04-20, letrozole (added at maintenance) on
    2026-05-08: the line ends on 2026-05-08, as a closed line's end reads."""
    resources = [
        patient(),
        condition("bc", "icd10cm", "C50.912", "2017-03-14"),
        condition("bone", "icd10cm", "C79.51", "2023-11-20"),
        observation("her2", "85319-2", "2023-11-28", valueCodeableConcept={"text": "3+"}),
        observation("er", "85337-4", "2023-11-28", valueQuantity={"value": 60, "unit": "%"}),
        statement("doce", "docetaxel", "2023-12-11", "2024-03-25"),
        statement("tras", "trastuzumab", "2023-12-11", "2026-04-20", status="stopped"),
        statement("pert", "pertuzumab", "2023-12-11", "2026-04-20", status="stopped"),
        statement("letro", "letrozole", "2024-04-15", "2026-05-08", status="stopped"),
        observation(
            "ds",
            "97509-4",
            "2026-05-05",
            valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "271299001"}]},
        ),
    ]
    line = _assessment(engine, resources)["lineOfTherapy"]["history"][-1]
    assert (line["end"], line["endReason"]) == ("2026-05-08", "progression")


def test_an_ectopic_pregnancy_is_no_current_pregnancy(engine):
    """Held-out b43: "Right tubal ectopic pregnancy" (methotrexate given) read as a current pregnancy when its
    display ("...without intrauterine pregnancy") was not sent, and not when it was: neither is one now."""
    ectopic = condition("ectopic", "icd10cm", "O00.101", "2026-04-29")
    ectopic["code"]["text"] = "Right tubal ectopic pregnancy"
    pregnant = condition("pregnant", "icd10cm", "Z33.1", "2026-04-29")
    base = _metastatic_her2(er_percent=60)
    assert engine.evaluate("p1", [*base, ectopic], NOW).safety.pregnancy is None
    assert engine.evaluate("p1", [*base, pregnant], NOW).safety.pregnancy is not None


def test_an_order_written_after_its_drugs_last_dose_and_never_given_is_no_activity(engine):
    """Held-out o46: T-DM1 given every 21 days until 2025-11-17, the next cycle's order (2025-12-08) left active
    and never given, tucatinib from 2026-01-05: the T-DM1 line ends on its last dose, not on the next line's start.
    An order of that kind written within the gap (120 days) of today still runs."""

    def ordered(rid: str, drug: str, day: str) -> dict[str, Any]:
        return {**draft_order(rid, "p1", medicationCodeableConcept={"text": drug}), "status": "active", "authoredOn": day}

    base = [
        *_metastatic_her2(er_percent=60)[:6],
        *(
            administration(f"tdm1-{n}", "ado-trastuzumab emtansine", day)
            for n, day in enumerate(["2025-10-06", "2025-10-27", "2025-11-17"])
        ),
        ordered("tdm1-c10", "ado-trastuzumab emtansine", "2025-12-08"),
        *(administration(f"tuca-{n}", drug, "2026-01-05") for n, drug in enumerate(["tucatinib", "capecitabine", "trastuzumab"])),
    ]
    lines = _assessment(engine, base)["lineOfTherapy"]["history"]
    assert [(line["agents"], line.get("end")) for line in lines[:1]] == [(["trastuzumab-emtansine"], "2025-11-17")]
    recent = [*base[:-4], ordered("tdm1-c10", "ado-trastuzumab emtansine", "2026-05-20")]
    assert "end" not in _assessment(engine, recent)["lineOfTherapy"]["history"][-1]
    # Written long after the last dose, it is a new course whose doses may be recorded elsewhere: it runs.
    # (scenario 22 in the orders-and-infusions dialect: trastuzumab infused in 2022-2024, ordered again in 2025).
    long_before = [
        administration(f"old-{n}", "ado-trastuzumab emtansine", day) for n, day in enumerate(["2024-01-08", "2024-01-29"])
    ]
    new_course = [*base[:6], *long_before, ordered("tdm1-again", "ado-trastuzumab emtansine", "2025-11-24")]
    assert "end" not in _assessment(engine, new_course)["lineOfTherapy"]["history"][-1]


def test_a_primary_now_metastatic_is_dated_by_its_metastases(engine):
    """Held-out j50: "Invasive ductal carcinoma of left male breast (2019), now metastatic" with bone metastases
    of 2025: the stage IV its words state is the relapse's, so the adjuvant AC of 2019 is no metastatic line."""
    primary = condition("bc", "icd10cm", "C50.922", "2019-03-12")
    primary["code"]["text"] = "Invasive ductal carcinoma of left male breast (2019), now metastatic"
    resources = [
        patient(),
        primary,
        condition("bone", "icd10cm", "C79.51", "2025-08-12"),
        observation("her2", "85319-2", "2025-08-26", valueCodeableConcept={"text": "3+"}),
        statement("ac", "doxorubicin", "2019-04-15", "2019-05-27"),
        statement("cy", "cyclophosphamide", "2019-04-15", "2019-05-27"),
        statement("tdxd", "trastuzumab deruxtecan", "2025-09-15", status="active"),
    ]
    assert _history(engine, resources) == [("2025-09-15", ["trastuzumab-deruxtecan"])]


def test_another_cancers_records_by_timing_words_and_new_sites(engine):
    """Held-out r46, r47, r48, r51 (tester 143): a thyroid cancer's lung metastases two years before the breast
    cancer; a melanoma's in-transit metastases (not a new site of the breast cancer's line); a prostate cancer's
    "cM0" named so in its words; a liver metastasis "(colorectal)"."""
    thyroid = condition("thyroid", "icd10cm", "C73", "2023-04-12")
    early_lung = condition("lung-met", "icd10cm", "C78.00", "2024-06-18")
    base = [*_metastatic_her2(er_percent=60)]  # bone metastases since 2025-02-06, breast primary 2025-01-29
    assert _assessment(engine, [*base, thyroid, early_lung])["metastaticSites"] == ["bone"]
    assert _assessment(engine, [*base, early_lung])["metastaticSites"] == ["bone", "lung"]  # no other primary

    melanoma = condition("mel", "icd10cm", "C43.72", "2024-12-09")
    in_transit = _metastasis("in-transit", "C79.2", "2026-04-20", "In-transit melanoma metastases left lower leg")
    found = _assessment(engine, [*base, melanoma, in_transit])
    assert (found["metastaticSites"], found["lineOfTherapy"]["status"]) == (["bone"], "on-treatment")

    prostate = condition("pca", "icd10cm", "C61", "2024-07-22")
    m0 = observation("psma", "21907-1", "2025-02-26", valueCodeableConcept={"text": "cM0"})
    m0["code"]["text"] = "Prostate cancer - distant metastasis (M) category, PSMA PET restaging"
    assert _assessment(engine, [*base, prostate, m0])["metastaticSites"] == ["bone"]

    colon = condition("colon", "icd10cm", "C18.2", "2025-03-04")
    liver = _metastasis("liver", "C78.7", "2025-03-04", "Multiple bilobar liver metastases (colorectal)")
    assert _assessment(engine, [*base, colon, liver])["metastaticSites"] == ["bone"]
    for site_words in ("Metastasis (lung)", "Secondary carcinoma of lung, adenocarcinoma", "Metastatic carcinoma of lung"):
        lung = _metastasis("lung", "C78.00", "2025-03-04", site_words)  # a site named, no origin: the breast's
        assert _assessment(engine, [*base, colon, lung])["metastaticSites"] == ["bone", "lung"], site_words
