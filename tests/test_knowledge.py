"""Every knowledge file loads against its schema; a broken one stops start-up naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from service.knowledge import KNOWLEDGE_FILES, KnowledgeError, agents_from_name, load_knowledge, refine_agents
from tests.conftest import ROOT


def test_all_files_load_and_cross_references_hold(knowledge):
    assert set(knowledge.raw) == set(KNOWLEDGE_FILES)
    for regimen_id, regimen in knowledge.regimens.items():
        assert regimen["source"] in knowledge.sources, regimen_id
        assert set(regimen["agents"]) <= set(knowledge.drugs["agents"]), regimen_id


def test_every_regimen_and_agent_id_keeps_the_contract(knowledge):
    """Ids are open in the contract (kebab case); the canonical agents it names must all be known."""
    import json
    import re

    schema = json.loads((ROOT / "service" / "contract" / "assessment.schema.json").read_text())
    regimen_id = re.compile(schema["$defs"]["regimen"]["pattern"])
    agent_id = re.compile(schema["$defs"]["agent"]["pattern"])
    assert all(regimen_id.fullmatch(r) for r in knowledge.regimens), sorted(knowledge.regimens)
    assert all(agent_id.fullmatch(a) for a in knowledge.drugs["agents"]), sorted(knowledge.drugs["agents"])
    contract_text = (ROOT / "service" / "contract" / "assessment.md").read_text()
    canonical = contract_text.split("### Canonical agent names", 1)[1].split("(Biosimilars", 1)[0]
    names = {name.strip().rstrip(".") for name in canonical.replace("\n", " ").split(",")}
    assert len(names) == 24
    assert names <= set(knowledge.drugs["agents"])


def test_bad_field_names_file_and_field(mappings_copy: Path):
    path = mappings_copy / "lines.yaml"
    document = yaml.safe_load(path.read_text())
    document["gap_days"] = "a long time"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KnowledgeError, match=r"lines\.yaml: field gap_days"):
        load_knowledge(mappings_copy)


def test_unknown_source_is_refused(mappings_copy: Path):
    path = mappings_copy / "regimens.yaml"
    document = yaml.safe_load(path.read_text())
    document["regimens"]["trastuzumab-deruxtecan"]["source"] = "a-blog-post"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KnowledgeError, match="a-blog-post"):
        load_knowledge(mappings_copy)


def test_a_safety_rule_naming_no_known_agent_is_refused(mappings_copy: Path):
    path = mappings_copy / "safety.yaml"
    document = yaml.safe_load(path.read_text())
    document["lung"]["rules"][1]["agents"].append("trastuzumab-emtansin")  # a typo
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KnowledgeError, match=r"safety\.yaml: lung/rules/1/agents: 'trastuzumab-emtansin'"):
        load_knowledge(mappings_copy)


def test_a_maintenance_addition_naming_no_known_agent_is_refused(mappings_copy: Path):
    """lines.yaml's maintenance holders are any drugs.yaml agent (inetetamab holds it too), checked by name."""
    path = mappings_copy / "lines.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("[trastuzumab, pertuzumab, inetetamab]", "[trastuzumab, inetetamib]")
    )
    with pytest.raises(KnowledgeError, match="inetetamib"):
        load_knowledge(mappings_copy)


def test_lvef_monitoring_by_a_class_that_does_not_exist_is_refused(mappings_copy: Path):
    path = mappings_copy / "safety.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "monitored_classes: [her2-antibody, her2-adc]", "monitored_classes: [her2-antibodies]"
        )
    )
    with pytest.raises(KnowledgeError, match="her2-antibodies"):
        load_knowledge(mappings_copy)


def test_adding_a_biosimilar_is_a_data_change(mappings_copy: Path):
    path = mappings_copy / "drugs.yaml"
    document = yaml.safe_load(path.read_text())
    assert agents_from_name(load_knowledge(mappings_copy), "Novatrast") == set()  # a brand made up for the test
    document["agents"]["trastuzumab"]["names"].append("novatrast")
    path.write_text(yaml.safe_dump(document))
    assert agents_from_name(load_knowledge(mappings_copy), "Novatrast 150 mg") == {"trastuzumab"}


@pytest.mark.parametrize(
    ("text", "agents"),
    [
        ("ado-trastuzumab emtansine 3.6 mg/kg", {"trastuzumab-emtansine"}),
        ("Kadcyla", {"trastuzumab-emtansine"}),
        ("fam-trastuzumab deruxtecan-nxki", {"trastuzumab-deruxtecan"}),
        ("Enhertu 100 MG Injection", {"trastuzumab-deruxtecan"}),
        ("trastuzumab-dkst (Ogivri)", {"trastuzumab"}),
        ("Herceptin Hylecta", {"trastuzumab"}),
        ("Kanjinti", {"trastuzumab"}),
        ("Phesgo", {"pertuzumab", "trastuzumab"}),
        ("pertuzumab, trastuzumab, and hyaluronidase-zzxf", {"pertuzumab", "trastuzumab"}),
        ("Abraxane (paclitaxel protein-bound particles)", {"nab-paclitaxel"}),
        ("Tukysa 150 mg", {"tucatinib"}),
        ("ondansetron", set()),
    ],
)
def test_drug_names(knowledge, text, agents):
    assert refine_agents(knowledge, agents_from_name(knowledge, text)) == agents


@pytest.mark.parametrize(
    ("text", "agents"),
    [
        ("注射用曲妥珠单抗（赫赛汀）440mg", {"trastuzumab"}),
        ("注射用恩美曲妥珠单抗（赫赛莱）160mg", {"trastuzumab-emtansine"}),  # holds 曲妥珠单抗: T-DM1 alone
        ("注射用德曲妥珠单抗（优赫得）", {"trastuzumab-deruxtecan"}),
        ("瑞康曲妥珠单抗", {"trastuzumab-rezetecan"}),
        ("帕妥珠曲妥珠单抗注射液(皮下注射)", {"pertuzumab", "trastuzumab"}),  # Phesgo
        ("曲妥珠单抗 + 帕妥珠单抗 + 多西他赛", {"docetaxel", "pertuzumab", "trastuzumab"}),
        ("注射用紫杉醇(白蛋白结合型)", {"nab-paclitaxel"}),
        ("歐洲紫杉醇", {"docetaxel"}),  # Taiwan's word for docetaxel holds paclitaxel's
        ("賀癌平凍晶注射劑 440mg", {"trastuzumab"}),
        ("马来酸吡咯替尼片（艾瑞妮）", {"pyrotinib"}),
        ("トラスツズマブ　デルクステカン（遺伝子組換え）", {"trastuzumab-deruxtecan"}),
        ("トラスツズマブエムタンシン", {"trastuzumab-emtansine"}),
        ("ﾄﾗｽﾂｽﾞﾏﾌﾞ", {"trastuzumab"}),  # half-width katakana
        ("トラスツズマブBS点滴静注用60mg「ファイザー」", {"trastuzumab"}),
        ("ラパチニブトシル酸塩水和物", {"lapatinib"}),
        ("フェスゴ配合皮下注MA", {"pertuzumab", "trastuzumab"}),
        ("트라스투주맙 엠탄신", {"trastuzumab-emtansine"}),
        ("엔허투주 100mg", {"trastuzumab-deruxtecan"}),
        ("트라스트주맙", {"trastuzumab"}),  # the spelling news and hospitals use beside MFDS's
        ("Herceptin 赫赛汀 + 帕捷特", {"pertuzumab", "trastuzumab"}),  # a Latin name does not end the reading
        ("地塞米松片", set()),  # dexamethasone: no agent
        ("Кадсила (трастузумаб эмтанзин) 160 мг", {"trastuzumab-emtansine"}),
        ("трастузумаба эмтанзина", {"trastuzumab-emtansine"}),  # the genitive: its nominative is not inside it
        ("Трастузумаб дерукстекан 100 мг, ліофілізат", {"trastuzumab-deruxtecan"}),
        ("Трастузумаб (Гертикад) лиоф. 440 мг", {"trastuzumab"}),
        ("Пер’єта", {"pertuzumab"}),
        ("ΤΡΑΣΤΟΥΖΟΥΜΑΜΠΗ 600MG/5ML ΥΠΟΔΟΡΙΑ", {"trastuzumab"}),  # Greek capitals, no accents
        ("τραστουζουµάµπη", {"trastuzumab"}),  # typed with the micro sign
        ("τραστουζουμάμπης εμτανσίνης", {"trastuzumab-emtansine"}),
        ("התרופה הרצפטין וקסלודה", {"trastuzumab", "capecitabine"}),  # Hebrew: "and" glued to Xeloda
        ("التراستوزوماب", {"trastuzumab"}),  # Arabic: the article glued on
        ("ยาทราสทูซูแมบ", {"trastuzumab"}),  # Thai: "drug" glued on
        ("трастузумаб рецетекан 100 мг", set()),  # an antibody and a payload word: a conjugate, not trastuzumab
        ("トラスツズマブ レザテカン", set()),
    ],
)
def test_drug_names_in_other_scripts(knowledge, text, agents):
    assert refine_agents(knowledge, agents_from_name(knowledge, text)) == agents


SPREAD_WORDS = [
    "Metastatic breast cancer to liver",
    "Liver mets",
    "MBC to liver",
    "Metástasis hepáticas",
    "Secondary malignant neoplasm of bone",
    "Leptomeningeal carcinomatosis",
    "Leptomeningeal disease",
    "Carcinomatous meningitis",
    "Pleural effusion, malignant",
    "Malignant pleural effusion",
    "Malignant pericardial effusion",
    "Malignant ascites",
    "Stage IV breast cancer",
    "Stage 4 breast cancer",
    "Breast cancer cT2N1M1",
    "Breast cancer pT2 N1 M1a",
    "Peritoneal carcinomatosis",
    "METASTASES TO BONE",
]
LUNG_WORDS = [
    "ILD",
    "Interstitial lung disease",
    "Interstitial pneumonia",
    "Pulmonary fibrosis",
    "Fibrosis of lungs",
    "Pneumonitis",
]
HEART_WORDS = [
    "Heart failure",
    "Congestive cardiac failure",
    "CHF",
    "CCF",
    "HFrEF",
    "HFmrEF",
    "HFpEF",
    "Left ventricular failure",
    "Right ventricular insufficiency",
    "Dilated cardiomyopathy",
    "Cardiomyopathy due to drug",
    "LV systolic dysfunction",
    "Left ventricular systolic dysfunction",
    "LVSD",
    "Left ventricular dysfunction",
    "Reduced ejection fraction",
    "NYHA class II",
    "New York Heart Association class III",
]


def test_the_hints_hold_every_text_their_patterns_match(knowledge):
    """A text without a hint is not searched (the patterns are slow): the hints must not hide a match."""
    from service.knowledge.drugs import without_accents

    terminology = knowledge.terminology
    for text in SPREAD_WORDS:
        lowered = without_accents(text.lower())
        assert terminology.text_secondary.search(lowered) or terminology.text_stage_iv.search(lowered), text
        assert any(hint in lowered for hint in terminology.text_spread_hints), text
    for terms, texts in ((terminology.lung, LUNG_WORDS), (terminology.heart, HEART_WORDS)):
        for text in texts:
            assert terms.text.search(text), text
            assert any(hint in text.lower() for hint in terms.hints), text
    for text in PSEUDO_NEGATIONS:  # ICD-10 titles' "unspecified" in the languages their editions are in
        assert terminology.text_pseudo_negation.search(text), text
        assert any(hint in text.lower() for hint in terminology.pseudo_negation_hints), text


PSEUDO_NEGATIONS = [
    "carcinoma of breast, not otherwise specified",
    "hepatic failure, unspecified without coma",
    "tumeur maligne du sein gauche, sans precision, chez la femme",
    "sans autre indication",
    "localisation non precisee",
    "tumor maligno de la mama, sin especificacion",
    "parte no especificada",
    "tumore maligno della mammella, non specificato",
    "bosartige neubildung: brustdruse, nicht naher bezeichnet",
    "neoplasia maligna da mama, sem especificacao",
    "mama, nao especificada",
]


# -- no pattern in mappings/ can take quadratic time ----------------------------------------------------
def _unbounded_gaps(pattern: str) -> bool:
    """Whether a regular expression repeats "any character" or a negated class without an upper bound.

    Such a gap between two words ("no" ... "amplification") makes a search quadratic on a text that
    repeats the first word: one 96 kB valueString of "no no no ..." took 67 s to read. Bounded gaps
    ({0,80}) keep every search linear.
    """
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser as parser  # type: ignore[attr-defined]

    def negated_or_any(items: list[tuple[object, object]]) -> bool:
        for op, arg in items:
            if op == sre.ANY or (op == sre.IN and arg and arg[0][0] == sre.NEGATE):  # type: ignore[index]
                return True
            if op == sre.SUBPATTERN and negated_or_any(list(arg[-1])):  # type: ignore[index]
                return True
        return False

    def walk(items: list[tuple[object, object]]) -> bool:
        for op, arg in items:
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                _low, high, sub = arg  # type: ignore[misc]
                if (high == sre.MAXREPEAT and negated_or_any(list(sub))) or walk(list(sub)):
                    return True
            elif op == sre.SUBPATTERN and walk(list(arg[-1])):  # type: ignore[index]
                return True
            elif op == sre.BRANCH and any(walk(list(branch)) for branch in arg[1]):  # type: ignore[index]
                return True
            elif op in (sre.ASSERT, sre.ASSERT_NOT) and walk(list(arg[1])):  # type: ignore[index]
                return True
        return False

    return walk(list(parser.parse(pattern)))


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return []


def test_no_pattern_in_the_mappings_has_an_unbounded_gap():
    assert _unbounded_gaps(r"\bno\b[^.;,]*\bamplification") and _unbounded_gaps(r"her2.*fish")
    assert not _unbounded_gaps(r"\bno\b[^.;,]{0,80}\bamplification") and not _unbounded_gaps(r"\bmetasta\w*\s+")
    offending = []
    for path in sorted((ROOT / "mappings").glob("*.yaml")):
        for text in _strings(yaml.safe_load(path.read_text())):
            try:
                if _unbounded_gaps(text):
                    offending.append(f"{path.name}: {text[:80]}")
            except Exception:  # noqa: BLE001, S112  (a label, not a pattern)
                continue
    assert offending == []


def test_the_side_words_trie_finds_what_the_plain_alternation_does():
    """terminology.yaml's side words are compiled as a trie (``word_trie``), one pattern of their common
    beginnings: each word, in capitals and without its accents, names its side wherever the plain
    alternation of the same words does, and a word that only begins with one (``soliter``, ``rtl``) names none."""
    import re

    from service.read.terminology import _bare_too, word_trie

    sides = yaml.safe_load((ROOT / "mappings" / "terminology.yaml").read_text(encoding="utf-8"))["text"]["laterality_words"]
    def side_words(alternatives) -> re.Pattern[str]:
        named = "|".join(f"(?P<{side}>{alternatives(_bare_too(words))})" for side, words in sides.items())
        return re.compile(rf"\b(?:{named})\b", re.IGNORECASE)

    plain, trie = side_words(lambda words: "|".join(map(re.escape, words))), side_words(word_trie)
    texts = [f"Carcinoma of the {word.upper()} breast; {word} axilla" for words in sides.values() for word in _bare_too(words)]
    texts += ["soliter lesion", "rtl marker", "leftover", "Malignant neoplasm of upper-outer quadrant of left female breast"]
    for text in texts:
        found = [(m.lastgroup, m.span()) for m in trie.finditer(text)]
        assert found == [(m.lastgroup, m.span()) for m in plain.finditer(text)], text
    assert [m.lastgroup for m in trie.finditer("Sol memede kitle; sağ aksilla")] == ["left", "right"]
    assert not any(trie.finditer("soliter lesion; rtl marker; leftover"))


@pytest.mark.parametrize(
    ("names", "agents"),
    [
        (["trastuzumab", "ado-trastuzumab emtansine (KADCYLA)"], {"trastuzumab-emtansine"}),  # held-out t95
        (["trastuzumab", "Enhertu"], {"trastuzumab-deruxtecan"}),
        (["trastuzumab", "pertuzumab"], {"trastuzumab", "pertuzumab"}),
    ],
)
def test_a_record_naming_trastuzumab_and_its_conjugate_is_the_conjugate(knowledge, names, agents):
    """An OMOP export coded Kadcyla by the ingredient concept "trastuzumab", its text "ado-trastuzumab emtansine":
    one record naming both is T-DM1 (which holds trastuzumab and is never given with it), not a two-drug line."""
    found = set().union(*(agents_from_name(knowledge, name) for name in names))
    assert refine_agents(knowledge, found) == agents
