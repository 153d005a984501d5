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


def without_accents(text: str) -> str:
    """The text with its accents dropped ("metástasis" -> "metastasis"); ASCII text as it is."""
    if text.isascii():
        return text
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


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


def agents_from_name(knowledge: Knowledge, text: str) -> set[str]:
    """Agents named in free text; each word is used by one name at most (longest name first).

    Only the names whose first word is in the text can match: they are tried, in the global order.
    A text naming no drug costs one split and a look-up a word. A text that is one name and nothing
    else ("Herceptin", the usual case) is one look-up: no other name fits in it once that one is read.
    """
    name = normalise_name(text)
    exact = knowledge.agents_by_name.get(name)
    if exact is not None:
        return set(exact)
    return scan_agents(knowledge, name)


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
    matches: list[tuple[int, tuple[str, ...]]] = []  # (index of the word after the name, its agents)
    for pattern in (knowledge.name_patterns[index] for index in sorted(candidates)):
        size = len(pattern.words)
        index = 0
        while index + size <= len(words):
            if tuple(words[index : index + size]) == pattern.words:
                matches.append((index + size, pattern.agents))
                words[index : index + size] = ["\0"] * size
                index += size
            else:
                index += 1
    payloads = knowledge.conjugate_payloads
    found: set[str] = set()
    for after, agents in matches:
        if not (payloads and after < len(words) and words[after] != "\0" and words[after].endswith(payloads)):
            found.update(agents)
    return found


def refine_agents(knowledge: Knowledge, agents: set[str]) -> set[str]:
    """Drop an agent that a more specific one in the same record refines (nab-paclitaxel over paclitaxel)."""
    refined = {knowledge.refinements[agent] for agent in agents if agent in knowledge.refinements}
    return agents - refined
