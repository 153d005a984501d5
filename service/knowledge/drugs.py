"""Drug names in free text: normalise a name into words, find the agents it names, drop refined agents.

The tables these functions read (``name_patterns``, ``agents_by_name``, ``patterns_by_first_word``,
``refinements``) are built once by ``compile.py``.
"""

from __future__ import annotations

import re
import unicodedata

from service.knowledge.base import Knowledge

# Words are runs of letters or of digits: a dose glued to its drug ("trastuzumab420mg", "Kadcyla160mg") is
# two words, as it is when spaced; a name with digits ("tdm1", "rc48") is split the same way at start-up.
_WORD_SPLIT = re.compile(r"[^a-z0-9]+|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")

# Scripts other than Latin that drug names are written in: Greek, Cyrillic, Hebrew, Arabic, Thai, Hangul,
# kana and CJK ideographs (with their compatibility and half-width forms). Chinese and Japanese write a
# name with no space between its parts, or none before the form that follows it ("赫赛汀注射液").
_SCRIPT = re.compile(
    r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0e00-\u0e7f\u1100-\u11ff\u3040-\u30ff\u3130-\u318f"
    r"\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)
# What may stand between the parts of such a name: spaces, middle dots (Japanese ・, Taiwanese ‧),
# brackets and hyphens. The katakana long-vowel mark ー is part of a word, not a gap.
_SCRIPT_GAPS = re.compile(r"[\s・·‧()\[\]【】「」『』〔〕\-‐‑–]+")
_KANA_MARKS = "\u3099\u309a"  # the voiced-sound marks of kana: part of the letter (ズ is not ス)


def without_accents(text: str) -> str:
    """The text with its accents dropped ("metástasis" -> "metastasis"); ASCII text as it is. Hangul and
    kana come back whole (recomposed; the kana's voiced marks kept: ズ is not ス), so that words in those
    scripts are still found."""
    if text.isascii():
        return text
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", text) if ch in _KANA_MARKS or not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare)


def ndc_product(code: str) -> str | None:
    """The labeler and product segments of an NDC as nine digits (the 11-digit form's first nine), from its
    10-digit hyphenated forms (4-4-2, 5-3-2, 5-4-1), its 11-digit form (5-4-2, hyphens or none) or a
    labeler-product pair; None for anything else (10 digits with no hyphens cannot be split)."""
    parts = code.strip().split("-")
    if not all(part.isdigit() for part in parts):
        return None
    if len(parts) == 1:
        return parts[0][:9] if len(parts[0]) == 11 else None
    labeler, product = parts[0], parts[1]
    if len(parts) > 3 or not (4 <= len(labeler) <= 5 and 3 <= len(product) <= 4):
        return None
    return labeler.zfill(5) + product.zfill(4)


def normalise_name(text: str) -> tuple[str, ...]:
    """Lower-case words of a drug name: ``"Trastuzumab-dkst (Ogivri)"`` -> ``("trastuzumab", "dkst", "ogivri")``,
    ``"trastuzumab420mg"`` -> ``("trastuzumab", "420", "mg")``.

    Accents are dropped first ("deruxtecán" is "deruxtecan"), so that a Spanish or Portuguese name is
    not cut at its accented letter.
    """
    return tuple([word for word in _WORD_SPLIT.split(without_accents(text.lower())) if word])


def script_compact(text: str) -> str:
    """A name in a script other than Latin as it is compared: NFKC (half-width katakana and full-width
    Latin made ordinary), lower case, without accents (Greek tonos: "τραστουζουμάμπη" is
    "τραστουζουμαμπη"), with no gaps (``"トラスツズマブ　デルクステカン"`` -> ``"トラスツズマブデルクステカン"``,
    ``"Трастузумаб эмтанзин"`` -> ``"трастузумабэмтанзин"``)."""
    return _SCRIPT_GAPS.sub("", _script_normal(text))


def _script_normal(text: str) -> str:
    """NFKC, lower case, without accents (kana keep their voiced marks: ``without_accents``)."""
    return unicodedata.normalize("NFKC", without_accents(text.lower()))


def agents_from_name(knowledge: Knowledge, text: str) -> set[str]:
    """Agents named in free text; each word is used by one name at most (longest name first).

    Only the names whose first word is in the text can match: they are tried, in the global order.
    A text naming no drug costs one split and a look-up a word. A text that is one name and nothing
    else ("Herceptin", the usual case) is one look-up: no other name fits in it once that one is read.
    A text in another script (Cyrillic, Greek, Chinese, Japanese, Korean...) is also searched for the
    names written in it (drugs.yaml ``script_names``).
    """
    name = normalise_name(text)
    if not text.isascii() and knowledge.script_names and _SCRIPT.search(text):
        return scan_agents(knowledge, name) | scan_script_names(knowledge, text)
    exact = knowledge.agents_by_name.get(name)
    if exact is not None:
        return set(exact)
    return scan_agents(knowledge, name)


def scan_script_names(knowledge: Knowledge, text: str) -> set[str]:
    """The agents named in a text by their names in scripts other than Latin, longest name first; a name
    read is taken out of the text, so 恩美曲妥珠单抗 (T-DM1) does not also read as 曲妥珠单抗 (trastuzumab), nor
    "трастузумаб эмтанзин" as "трастузумаб". An HER2 antibody's name followed by a payload word
    (``script_conjugate``) names a conjugate, not the antibody."""
    return _script_scan(knowledge, text)[0]


def script_conjugate(knowledge: Knowledge, text: str) -> str | None:
    """The words of an antibody-drug conjugate the list does not name, in a script other than Latin: an HER2
    antibody's name followed by a payload word (drugs.yaml ``script_conjugate_payloads``), as
    "трастузумаб рецетекан" would be; None if the text names none."""
    if text.isascii() or not knowledge.script_names or not _SCRIPT.search(text):
        return None
    return _script_scan(knowledge, text)[1]


def _script_scan(knowledge: Knowledge, text: str) -> tuple[set[str], str | None]:
    compact = script_compact(text)
    found: set[str] = set()
    conjugate = None
    for written, agents in knowledge.script_names:
        if written in compact:
            compact = compact.replace(written, "\0")
            named = _payload_after(knowledge, text, written) if knowledge.script_antibodies.issuperset(agents) else None
            if named is None:
                found.update(agents)
            else:
                conjugate = conjugate or named
    return found, conjugate


def _payload_after(knowledge: Knowledge, text: str, written: str) -> str | None:
    """The antibody's name and the word after it, when a payload word follows every time it stands in the
    text ("трастузумаб емтанзин"), else None."""
    spaced = " ".join(_SCRIPT_GAPS.sub(" ", _script_normal(text)).split())  # one space between words
    following = re.findall(re.escape(written) + r" ?(\w*)", spaced)
    payloads = knowledge.script_payloads
    if payloads and following and all(any(stem in word for stem in payloads) for word in following):
        return f"{written} {following[0]}"
    return None


def scan_agents(knowledge: Knowledge, name: tuple[str, ...]) -> set[str]:
    """The word scan of ``agents_from_name``: each candidate name over the words, in the global order.

    A name followed by a word no name took that ends as an ADC's payload does (drugs.yaml
    ``conjugate_payload_suffixes``: "trastuzumab botidotin") names a conjugate of that antibody, a
    different drug: it is not read as the antibody.
    """
    if name and name[0] in knowledge.supportive_first_words:  # "dexamethasone ... before docetaxel"
        return set()
    words = list(name)
    by_first_word = knowledge.patterns_by_first_word
    candidates = {index for word in words if word in by_first_word for index in by_first_word[word]}
    # (index of the name's first word, of the word after it, its agents, the words that make it mean something else)
    matches: list[tuple[int, int, tuple[str, ...], frozenset[str]]] = []
    for pattern in (knowledge.name_patterns[index] for index in sorted(candidates)):
        size = len(pattern.words)
        index = 0
        while index + size <= len(words):
            if tuple(words[index : index + size]) == pattern.words:
                matches.append((index, index + size, pattern.agents, pattern.not_with))
                words[index : index + size] = ["\0"] * size
                index += size
            else:
                index += 1
    payloads = knowledge.conjugate_payloads
    found: set[str] = set()
    unavailable: set[str] = set()  # named as not to be had ("docetaxel out of stock"): kept only if no other is named
    for start, after, agents, not_with in matches:
        if not_with and not not_with.isdisjoint(name):  # "HP eradication": Helicobacter pylori, not HP
            continue
        if payloads and after < len(words) and words[after] != "\0" and words[after].endswith(payloads):
            continue
        if len(matches) > 1 and _named_unavailable(knowledge, name, start, after):
            unavailable.update(agents)
        else:
            found.update(agents)
    return found or unavailable


def _named_unavailable(knowledge: Knowledge, name: tuple[str, ...], start: int, after: int) -> bool:
    """Whether the words right before ``name[start:after]`` or right after it (past drugs.yaml's ``between`` words)
    say that drug was not to be had ("instead of docetaxel", "docetaxel out of stock")."""
    if any(start >= len(words) and name[start - len(words) : start] == words for words in knowledge.unavailable_before):
        return True
    while after < len(name) and name[after] in knowledge.unavailable_between:
        after += 1
    return any(name[after : after + len(words)] == words for words in knowledge.unavailable_after)


def agents_from_misspelt_name(knowledge: Knowledge, text: str) -> set[str]:
    """The agents a name misspelt by one letter stands for (drugs.yaml misspelt_names): each word of the text,
    long enough and no name itself, within one edit of exactly one agent's one-word name ("Herceptn",
    "Perjetta840mg"). The last resort, for a record whose names gave no agent."""
    least = knowledge.misspelt_min_letters
    found: set[str] = set()
    for word in normalise_name(text) if least else ():
        if len(word) < least or not word.isalpha() or (word,) in knowledge.agents_by_name:
            continue
        meant = {
            agents
            for size in (len(word) - 1, len(word), len(word) + 1)
            for name, agents in knowledge.misspelt_candidates.get((word[0], size), ())
            if _one_edit_apart(word, name)
        }
        if len(meant) == 1:
            found.update(next(iter(meant)))
    return found


def _one_edit_apart(word: str, name: str) -> bool:
    """Whether ``word`` is ``name`` with one letter left out, added or changed, or two neighbours swapped."""
    if word == name or abs(len(word) - len(name)) > 1:
        return False
    start = next((i for i, (a, b) in enumerate(zip(word, name, strict=False)) if a != b), min(len(word), len(name)))
    if len(word) == len(name):
        if word[start + 1 :] == name[start + 1 :]:
            return True  # one letter changed
        return word[start : start + 2] == name[start : start + 2][::-1] and word[start + 2 :] == name[start + 2 :]
    longer, shorter = (word, name) if len(word) > len(name) else (name, word)
    return longer[start + 1 :] == shorter[start:]


def refine_agents(knowledge: Knowledge, agents: set[str]) -> set[str]:
    """Drop an agent that a more specific one in the same record refines (nab-paclitaxel over paclitaxel)."""
    refined = {knowledge.refinements[agent] for agent in agents if agent in knowledge.refinements}
    return agents - refined
