"""Decode the value[x] of an Observation (or a component) into receptor results and lab values.

Every shape real laboratories send is read: coded answers (LOINC or SNOMED CT), text, quantities,
ratios, integers and booleans. Free text is read last, with the patterns of mappings/codes.yaml.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, NamedTuple

from service.domain import LabResult, ReceptorResult
from service.knowledge import Knowledge
from service.knowledge.models import HormoneScale
from service.read.common import coding_pair, codings, concept_texts, one_spaced, raw_codings
from service.read.shapes import CodeableConcept, Coding
from service.read.terminology import LVEF_PERCENT_UNITS

ER_PR_KIND = "er-pr"  # ER and PR in one test (LOINC 10480-2): read by ``combined_hormone_results``
RECEPTOR_KINDS = frozenset(
    {
        "her2-ihc",
        "her2-interpretation",
        "her2-ish",
        "her2-ratio",
        "her2-copies",
        "er",
        "er-percent",
        "pr",
        "pr-percent",
        ER_PR_KIND,
    }
)
VALUE_ELEMENTS = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRatio",
    "valueRange",
)
# The UCUM codes an ejection fraction is read in whatever its unit's name (the names: terminology.yaml
# lvef_percent_units).
LVEF_UNIT_CODES = frozenset({"%", "1"})  # UCUM percent and a fraction: a Quantity coded so is read whatever its unit's name
LAB_KINDS = frozenset({"lvef", "bilirubin-total", "bilirubin-total-molar", "ast", "alt", "alp", "albumin"})
# Linear time on long inputs: a number starts only where no digit or dot precedes it, and the spaces
# around an optional comparator are one run (``\s*[<>]?\s*`` backtracks quadratically over spaces).
# A decimal comma (European laboratories: "3,1", "62,5 %") reads as a point; the percent sign may come
# first ("%60", as Turkish writes it); "percent" and "per cent" in words are the sign ("EF estimated at 50 to 55
# percent", an echo report's sentence: held-out p49, its LVEF unread, had raised lvef-monitoring-overdue).
_PERCENT = re.compile(r"(?<![\d.,])(-?\d+(?:[.,]\d+)?)\s*(?:%|per\s?cent\b)|(?<![\w.])%\s*(\d+(?:[.,]\d+)?)", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*(?:[<>]\s*)?(-?\d+(?:\.\d+|,\d{1,2})?)\s*$")  # "1,000" is no decimal comma
# A bound, not a result: "<1%", "< 1 %", "less than 1%", "≥ 10%"; or alone: "< 1".
_COMPARATOR = r"(<=|>=|≤|≥|<|>|less than|greater than|more than|at least)"
_BOUND_PERCENT = re.compile(_COMPARATOR + r"\s*(\d+(?:\.\d+)?)\s*%", re.IGNORECASE)
_BOUND_ALONE = re.compile(r"^\s*" + _COMPARATOR + r"\s*(\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
# A range of percents: "1-10%", "55 - 60 %", "10% to 20%", "50 to 55 percent" (the second number ends in %, so that a
# date such as 2025-01-06 is not one).
_RANGE_PERCENT = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:%\s*)?(?:-|–|to)\s*(\d+(?:\.\d+)?)\s*(?:%|per\s?cent\b)", re.IGNORECASE
)
# A range with no unit as the whole answer: an LVEF "60-65", an ER "1-10" (its kind gives the unit).
_RANGE_ALONE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
# An LVEF's own name before a number with no unit: "EF 35", "LVEF: 55-60", "Estimated EF is 40" (the
# kind gives the unit, as for a number alone).
_LVEF_NAME = re.compile(
    r"^\s*(?:(?:visually\s+)?estimated\s+)?(?:lv\s*ef|lvef|ef|(?:left\s+ventricular\s+)?ejection\s+fraction)\b"
    r"\s*(?:[:=]|is|was|of)?\s*",
    re.IGNORECASE,
)
# A lab value written as text with its unit, perhaps after the test's name: "3.5 mg/dL", "AST 250 U/L",
# "Total bilirubin: 60 umol/L" (the units of the liver tests: mass, molar, enzyme activity).
_LAB_TEXT = re.compile(
    r"^\s*(?:[^\d<>]*?[\s:=])?(?:[<>]\s*)?(\d+(?:\.\d+)?)\s*((?:m?g|[uµμm]mol|i?u|[nuµμ]kat)\s*/\s*d?l)?\s*$",
    re.IGNORECASE,
)
_OPEN_BELOW = {"<": True, "less than": True, "<=": False, "≤": False}  # comparator -> the bound itself excluded
_OPEN_ABOVE = {">": True, "greater than": True, "more than": True, ">=": False, "≥": False, "at least": False}


class Reading(NamedTuple):
    """The values a reported number allows: ``low == high`` for an exact result; a side is None when
    open ("< 1%" has no low); ``*_open`` when the bound itself is excluded ("< 1" is not 1)."""

    low: float | None
    high: float | None
    low_open: bool = False
    high_open: bool = False

    @property
    def exact(self) -> float | None:
        return self.low if self.low is not None and self.low == self.high else None

    def at_least(self, threshold: float) -> bool | None:
        """Whether the result is >= ``threshold``: True, False, or None when the reading allows both."""
        if self.low is not None and self.low >= threshold:
            return True
        if self.high is not None and (self.high < threshold or (self.high == threshold and self.high_open)):
            return False
        return None


def _bound(comparator: str, value: float) -> Reading:
    word = comparator.lower()
    if word in _OPEN_BELOW:
        return Reading(None, value, high_open=_OPEN_BELOW[word])
    return Reading(value, None, low_open=_OPEN_ABOVE[word])


# The receptor whose words a result of each kind is about (codes.yaml receptor_names).
_RECEPTOR_OF_KIND = {
    "er": "er",
    "er-percent": "er",
    "pr": "pr",
    "pr-percent": "pr",
    "her2-ihc": "her2",
    "her2-interpretation": "her2",
    "her2-ish": "her2",
}
# An answer before the first receptor name: the answers come first ("Positive for ER, negative for PR").
_ANSWER_FIRST = re.compile(r"\b(positive|negative|pos|neg|equivocal|amplified)\b|\d\s*%")
# Nothing but a joining word or punctuation between two names: "ER/PR positive", "ER and PR: negative".
_JOINED = re.compile(r"[\s/,&;:.()-]*(?:and|or|und|y|e|et)?[\s/,&;:.()-]*")
# "ER+/PR-", "ER + PR -": a sign after the name, then nothing, a separator or a space (not "HER2-low",
# not "ER - 95%").
_SIGN = re.compile(r"\s*[:=]?\s*(\+|-|−|–)(?=$|[/,;()]|\s)(?!\s*\d)")


def _bounds(reference: Any) -> tuple[float | None, float | None]:
    """(low, high) of a reference range; None for a side it does not give."""
    low = float(reference.low.value) if reference.low is not None and reference.low.value is not None else None
    high = float(reference.high.value) if reference.high is not None and reference.high.value is not None else None
    return low, high


def _percent_bounds(low: float | None, high: float | None) -> tuple[float | None, float | None]:
    """An LVEF's range bounds as percents, when they were recorded as a fraction (at most 1)."""
    return (round(low * 100, 1) if low is not None and low <= 1.0 else low), (
        round(high * 100, 1) if high is not None and high <= 1.0 else high
    )


class _OneValue:
    """A value[x] reduced to one element, set by the subclass: every other element reads as absent."""

    valueCodeableConcept: Any = None
    valueString: Any = None
    valueQuantity = None
    valueRange = None
    valueRatio = None
    valueInteger = None
    valueBoolean = None


class _CodedValue(_OneValue):
    """An interpretation read as a result's coded answer."""

    def __init__(self, concept: Any) -> None:
        self.valueCodeableConcept = concept


class _TextValue(_OneValue):
    """A result's value reduced to the words about one receptor."""

    def __init__(self, text: str) -> None:
        self.valueString = text


class ValueReader:
    """Reads values with the answer lists and text patterns of the knowledge files."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        scales = knowledge.receptors.hormone_scales  # receptors.yaml hormone_scores: any scale's name, at once
        self._scale_names = re.compile("|".join(f"(?:{s.named.pattern})" for s in scales), re.IGNORECASE) if scales else None
        # The sex a reference range is for (terminology.yaml reference_range_sex): (system, code) -> sex, and words.
        terminology = knowledge.terminology
        snomed = knowledge.systems["snomed"]
        self._sex_by_coding: dict[tuple[str, str], str] = {}
        self._sex_words: re.Pattern[str] | None = None
        if terminology is not None:
            self._sex_by_coding = {(snomed, code): sex for code, sex in terminology.range_sex_snomed.items()}
            self._sex_by_coding |= {(terminology.gender_system, code): sex for code, sex in terminology.sex_by_gender.items()}
            self._sex_words = terminology.range_sex_words
        self._sexes = tuple(dict.fromkeys(self._sex_by_coding.values()))  # male, female
        self._percent_units = terminology.lvef_percent_units if terminology is not None else LVEF_PERCENT_UNITS

    def value_texts(self, holder: Any) -> list[str]:
        """The text of a coded value and a valueString."""
        texts = concept_texts(getattr(holder, "valueCodeableConcept", None))
        if getattr(holder, "valueString", None):
            texts.append(one_spaced(holder.valueString))
        return texts

    @staticmethod
    def has_value(holder: Any) -> bool:
        """Whether an Observation or component shape holds a value[x] the readers decode."""
        return any(getattr(holder, element, None) is not None for element in VALUE_ELEMENTS)

    def is_receptor_percent(self, holder: Any) -> bool:
        """Whether a value is a receptor's percent: a Quantity in %, or words that are only an answer and a percent
        ("Negative (<1%)", "80 %": terminology.yaml observation_text bare_value)."""
        quantity = getattr(holder, "valueQuantity", None)
        if quantity is not None and (quantity.unit == "%" or quantity.code == "%"):
            return True
        pattern = self.knowledge.terminology.bare_value
        return any(pattern.match(text) for text in self.value_texts(holder))

    def is_bare_answer(self, holder: Any) -> bool:
        """Whether a value is a receptor answer alone, one word ("Negative", "陰性": terminology.yaml bare_answer)."""
        pattern = self.knowledge.terminology.bare_answer
        texts = self.value_texts(holder)
        return bool(texts) and all(pattern.match(text) for text in texts) and self.qualitative(holder) in ("positive", "negative")

    def qualitative(self, holder: Any) -> str | None:
        """positive | negative | equivocal from a coded answer, text or a boolean."""
        for coding in codings(getattr(holder, "valueCodeableConcept", None)):
            value = self.knowledge.answer_by_coding.get(coding_pair(coding, self.knowledge.system_alias))
            if value:
                return value
        for text in self.value_texts(holder):
            for pattern, value in self.knowledge.answer_text:
                if pattern.search(text.lower()):
                    return value
        if getattr(holder, "valueBoolean", None) is not None:
            return "positive" if holder.valueBoolean else "negative"
        return None

    def number(self, holder: Any) -> float | None:
        """A quantity, ratio, integer or a number written as text ("40 %", "< 1")."""
        quantity = getattr(holder, "valueQuantity", None)
        if quantity is not None and quantity.value is not None:
            return float(quantity.value)
        ratio = getattr(holder, "valueRatio", None)
        if ratio is not None and ratio.numerator and ratio.numerator.value is not None:
            denominator = ratio.denominator.value if ratio.denominator and ratio.denominator.value else 1
            return float(ratio.numerator.value) / float(denominator)
        if getattr(holder, "valueInteger", None) is not None:
            return float(holder.valueInteger)
        for text in self.value_texts(holder):
            match = _PERCENT.search(text) or _NUMBER.match(text)
            if match:
                return float((match.group(1) or match.group(2)).replace(",", "."))
        return None

    def reading(self, holder: Any) -> Reading | None:
        """The values a reported result allows, its comparator or range kept ("<1%" is below 1, not 1).

        A Quantity with a ``comparator``, a ``valueRange``, or text with a comparator or a range of
        percents is a bound or an interval; anything else ``number`` reads is exact.
        """
        quantity = getattr(holder, "valueQuantity", None)
        if quantity is not None and quantity.value is not None:
            value = float(quantity.value)
            comparator = quantity.comparator
            return _bound(comparator, value) if comparator in _OPEN_BELOW or comparator in _OPEN_ABOVE else Reading(value, value)
        interval = getattr(holder, "valueRange", None)
        if interval is not None:
            low = float(interval.low.value) if interval.low is not None and interval.low.value is not None else None
            high = float(interval.high.value) if interval.high is not None and interval.high.value is not None else None
            return None if low is None and high is None else Reading(low, high)
        for text in self.value_texts(holder):
            bound = _BOUND_PERCENT.search(text) or _BOUND_ALONE.match(text)
            if bound:
                return _bound(bound.group(1), float(bound.group(2)))
            interval_text = _RANGE_PERCENT.search(text) or _RANGE_ALONE.match(text)
            if interval_text:
                low, high = sorted((float(interval_text.group(1)), float(interval_text.group(2))))
                return Reading(low, high)
        number = self.number(holder)
        return None if number is None else Reading(number, number)

    def ihc_score(self, holder: Any) -> int | None:
        """HER2 IHC score 0..3 from text ("2+", "Score 1+", "0 (ultralow ...)") or a number."""
        score = self._stated_score(holder)
        if score is not None:
            return score
        number = self.number(holder)
        if number is not None and number in (0, 1, 2, 3):
            return int(number)
        return None

    def own_words(self, kind: str, holder: Any) -> Any:
        """``holder``, or its words about this result's own receptor when they name several ("ER 95%, PR 0%").

        The words about a receptor run from its name to the next receptor's name; or, when the answers
        come before the names ("Positive for ER, negative for PR"), from the previous name to its own.
        A "+" or "-" right after the name ("ER+/PR-") is the answer. Only a text (not a coded answer or
        a quantity) is cut, and only when it names this receptor and another, or signs this one.
        """
        receptor = _RECEPTOR_OF_KIND.get(kind)
        names = self.knowledge.receptor_names
        if receptor is None or receptor not in names or getattr(holder, "valueQuantity", None) is not None:
            return holder
        answers = self.knowledge.answer_by_coding
        aliases = self.knowledge.system_alias
        if any(coding_pair(c, aliases) in answers for c in codings(getattr(holder, "valueCodeableConcept", None))):
            return holder  # a coded answer is this result's own, whatever its text says
        for text in self.value_texts(holder):
            lowered = text.lower()
            if not any(hint in lowered for hint in self.knowledge.receptor_name_hints):
                continue
            found = sorted((m.start(), m.end(), name) for name, pattern in names.items() for m in pattern.finditer(lowered))
            own = [m for m in found if m[2] == receptor]
            if not own:
                continue
            start, end = own[0][0], own[0][1]
            others = [m for m in found if m[2] != receptor]
            sign = _SIGN.match(lowered, end)
            if not others and sign is None:
                continue
            if _ANSWER_FIRST.search(lowered, 0, found[0][0]):  # "positive for ER, negative for PR"
                before = [m[1] for m in others if m[1] <= start]
                return _TextValue(lowered[max(before, default=0) : start])
            after = [m for m in others if m[0] >= end]
            stop = after[0][0] if after else len(lowered)
            # "ER/PR positive", "ER/PR/HER2 negative": names joined by nothing but "/" or "and" share the answer.
            joined_end = end
            while sign is None and after and _JOINED.fullmatch(lowered, joined_end, after[0][0]):
                joined_end = after.pop(0)[1]
                stop = after[0][0] if after else len(lowered)
            if sign is not None:
                return _TextValue(("positive" if sign.group(1) == "+" else "negative") + lowered[sign.end() : stop])
            return _TextValue(lowered[start:stop])  # the name kept: "HER2-low" is read whole
        return holder

    def receptor_result(self, kind: str, holder: Any, on: date, record_id: str, dated: bool = True) -> ReceptorResult | None:
        """One receptor result of ``kind``; None when the value says nothing readable. A result with no
        value whose interpretation is an answer (HL7's POS or NEG: a converted HL7 v2 flag) reads it."""
        if holder.interpretation:  # read only then: an attribute test, not a call, on every receptor result
            holder = self._answered(holder)
        holder = self.own_words(kind, holder)
        if kind == "her2-ihc":
            return self._her2_ihc(holder, on, record_id, dated)
        if kind in ("her2-ratio", "her2-copies"):
            # A bound or an interval ("ratio < 2.0") is not a ratio the ISH groups can place: not read.
            exact = reading.exact if (reading := self.reading(holder)) is not None else None
            return None if exact is None else ReceptorResult(kind, on, number=exact, record_id=record_id, dated=dated)
        if kind in ("er-percent", "pr-percent", "er", "pr"):
            return self._hormone_result(kind, holder, on, record_id, dated)
        if kind == "her2-interpretation":
            return self._her2_interpretation(holder, on, record_id, dated)
        group = self._stated_ish_group(holder) if kind == "her2-ish" else None
        qualitative = self.qualitative(holder)
        if qualitative is None and group is None:
            return None
        return ReceptorResult(kind, on, qualitative=qualitative, record_id=record_id, dated=dated, ish_group=group)

    def _stated_ish_group(self, holder: Any) -> int | None:
        """The ASCO/CAP ISH group an ISH result's words state ("ASCO/CAP group 4"; codes.yaml ish_group_pattern)."""
        for text in self.value_texts(holder):
            match = self.knowledge.ish_group.search(text)
            if match:
                return int(match.group(1))
        return None

    def _answered(self, holder: Any) -> Any:
        """``holder`` (an Observation or component shape with an interpretation), or, when it has no value and
        its interpretation is an answer (HL7's POS or NEG: a converted HL7 v2 flag), that answer as its value."""
        if not self.has_value(holder):
            return self._interpreted(holder.interpretation) or holder
        return holder

    def _interpreted(self, interpretation: Any) -> Any | None:
        """The first interpretation coding that is an answer (codes.yaml answers), as a value to read. As
        sent: a list (R4) or one CodeableConcept (STU3); codings of the wrong JSON type are passed over."""
        concepts = interpretation if isinstance(interpretation, list) else [interpretation]
        for concept in concepts:
            for system, code in raw_codings(concept, self.knowledge.system_alias):
                if (system, code) in self.knowledge.answer_by_coding:
                    return _CodedValue(CodeableConcept(coding=[Coding(system=system, code=code)]))
        return None

    def _her2_ihc(self, holder: Any, on: date, record_id: str, dated: bool) -> ReceptorResult | None:
        """The IHC score, else the laboratory's category or answer (positive/negative without a grade)."""
        score = self.ihc_score(holder)
        qualitative = None if score is not None else self.her2_category(holder) or self.qualitative(holder)
        if score is None and qualitative is None:
            return None
        if qualitative == "equivocal" and self.knowledge.her2_equivocal_ihc_score is not None:
            score, qualitative = self.knowledge.her2_equivocal_ihc_score, None  # IHC's one equivocal score: 2+
        elif qualitative == "positive" and (weak := self.knowledge.her2_weak_ihc) is not None:
            if any(weak[0].search(text) for text in self.value_texts(holder)):  # weak staining: 1+ or 2+, never 3+
                score, qualitative = weak[1], None
        return ReceptorResult("her2-ihc", on, ihc_score=score, qualitative=qualitative, record_id=record_id, dated=dated)

    def _her2_interpretation(self, holder: Any, on: date, record_id: str, dated: bool) -> ReceptorResult | None:
        """The laboratory's category, its answer (a negative by the score it gives), else an IHC score."""
        qualitative = self.her2_category(holder) or self._negative_by_score(holder, self.qualitative(holder))
        if qualitative is not None:
            return ReceptorResult("her2-interpretation", on, qualitative=qualitative, record_id=record_id, dated=dated)
        score = self._stated_score(holder)
        if score is None:
            return None
        # "3+" exists only in immunohistochemistry: a HER2 result that is a score is an IHC result.
        return ReceptorResult("her2-ihc", on, ihc_score=score, record_id=record_id, dated=dated)

    def her2_category(self, holder: Any) -> str | None:
        """HER2-low, -ultralow or 0 in a result's words (codes.yaml her2_category_text): ``low`` or ``zero``."""
        for text in self.value_texts(holder):
            lowered = text.lower()
            for pattern, value in self.knowledge.her2_category_text:
                if pattern.search(lowered):
                    return value
        return None

    def _negative_by_score(self, holder: Any, qualitative: str | None) -> str | None:
        """A negative interpretation whose words give the IHC score ("Negative (1+)") is low or zero by it."""
        if qualitative != "negative":
            return qualitative
        score = self._stated_score(holder)
        return qualitative if score is None else self.knowledge.her2_negative_by_ihc_score.get(score, qualitative)

    def _stated_score(self, holder: Any) -> int | None:
        """The HER2 IHC score a result's coded answer (LOINC LL4396-9) or words give ("1+", "IHC 0"), not a bare number."""
        by_coding = self.knowledge.ihc_score_by_coding
        for coding in codings(getattr(holder, "valueCodeableConcept", None)):
            score = by_coding.get(coding_pair(coding, self.knowledge.system_alias))
            if score is not None:
                return score
        for text in self.value_texts(holder):
            match = self.knowledge.ihc_score.search(text.strip())
            if match:
                return int(next(group for group in match.groups() if group is not None))
        return None

    def receptor_results(self, kind: str, holder: Any, on: date, record_id: str, dated: bool = True) -> list[ReceptorResult]:
        """The receptor results one Observation or component of ``kind`` reports: one, none, or ER and PR."""
        if kind == ER_PR_KIND:
            return self.combined_hormone_results(holder, on, record_id, dated)
        result = self.receptor_result(kind, holder, on, record_id, dated)
        found = [] if result is None else [result]
        if kind == "her2-ish":
            found += self._stated_ish_numbers(holder, on, record_id, dated)
        return found

    def _stated_ish_numbers(self, holder: Any, on: date, record_id: str, dated: bool) -> list[ReceptorResult]:
        """The HER2/CEP17 ratio and HER2 copies per cell an ISH result's words state (codes.yaml ish_numbers),
        as a ratio and a copy number coded apart are read; a copy number said of CEP17 is not HER2's."""
        knowledge = self.knowledge
        for text in self.value_texts(holder):
            ratio = knowledge.ish_ratio.search(text)
            copies = next(
                (m for m in knowledge.ish_copies.finditer(text) if not knowledge.ish_not_her2.search(text, 0, m.start())),
                None,
            )
            found = []
            if ratio is not None:
                found.append(ReceptorResult("her2-ratio", on, number=float(ratio.group(1)), record_id=record_id, dated=dated))
            if copies is not None:
                number = float(copies.group(1) or copies.group(2))
                found.append(ReceptorResult("her2-copies", on, number=number, record_id=record_id, dated=dated))
            if found:
                return found
        return []

    def combined_hormone_results(self, holder: Any, on: date, record_id: str, dated: bool = True) -> list[ReceptorResult]:
        """ER and PR reported in one test: an ER and a PR result from the words about each ("ER positive
        (90%), PR negative", "ER/PR positive"); else one ``hormone`` result of its single answer, which
        says only whether either receptor is positive."""
        if holder.interpretation:
            holder = self._answered(holder)
        named = [(kind, own) for kind in ("er", "pr") if (own := self.own_words(kind, holder)) is not holder]
        if named:
            found = (self._hormone_result(kind, own, on, record_id, dated) for kind, own in named)
            return [result for result in found if result is not None]
        qualitative = self.qualitative(holder)
        if qualitative not in ("positive", "negative"):
            return []
        return [ReceptorResult("hormone", on, qualitative=qualitative, record_id=record_id, dated=dated)]

    def _hormone_result(self, kind: str, holder: Any, on: date, record_id: str, dated: bool) -> ReceptorResult | None:
        """ER or PR: a percent (a number, a bound, an interval), else the qualitative answer.

        For the qualitative codes (``er``, ``pr``) a Quantity is read as the percent, and so is a text
        answer that names no answer word ("95%", "<1%"). Under a percent code, an answer with no number
        is read by its word ("Positive"): the lab's own reading.
        """
        percent_kind = kind if kind.endswith("-percent") else f"{kind}-percent"
        scored = self._hormone_score(holder)
        if scored is not None:  # an Allred score or an H-score, not a percent
            return (
                None if scored[1] is None else ReceptorResult(kind, on, qualitative=scored[1], record_id=record_id, dated=dated)
            )
        quantity = getattr(holder, "valueQuantity", None)
        if kind == percent_kind or (quantity is not None and quantity.value is not None):
            reading = self.reading(holder)
            if reading is not None:
                return self._hormone_percent(percent_kind, reading, on, record_id, dated)
            if kind != percent_kind:
                return None
        qualitative = self.qualitative(holder)
        if qualitative is not None:
            return ReceptorResult(kind, on, qualitative=qualitative, record_id=record_id, dated=dated)
        reading = self.reading(holder)  # no answer word: a percent as the answer ("95%", "<1%")
        return None if reading is None else self._hormone_percent(percent_kind, reading, on, record_id, dated)

    def _hormone_score(self, holder: Any) -> tuple[str, str | None] | None:
        """(the scale, positive | negative | None) when an ER or PR result is reported as a score
        (receptors.yaml hormone_scores: "Allred 7/8", "H-score 250", or a number under a name or unit
        saying so); None when it names no scale or gives a percent too ("5 % (Allred 4)": the percent is
        read). The lab's own word beside the score is read first."""
        named = self._hormone_scale(holder)
        if named is None:
            return None
        scale, values = named
        qualitative = self.qualitative(holder)
        if qualitative is not None:
            return scale.name, qualitative
        match = next((found for text in values if (found := scale.value.search(text))), None)
        if match is not None:
            return scale.name, scale.status(int(match.group("score")))
        number = self.number(holder)
        whole = number is not None and number >= 0 and number == int(number)
        return scale.name, (scale.status(int(number)) if whole and number is not None else None)

    def _hormone_scale(self, holder: Any) -> tuple[HormoneScale, list[str]] | None:
        """(the scale a result names, its value's words), unless it names none or is a percent."""
        quantity = getattr(holder, "valueQuantity", None)
        if quantity is not None and "%" in (quantity.unit, quantity.code):
            return None  # a percent by its unit (the usual ER/PR result): read as one, at no further cost
        values = self.value_texts(holder)
        names = "\n".join([*values, *concept_texts(getattr(holder, "code", None))])
        if quantity is not None:
            names += f"\n{quantity.unit or ''}\n{quantity.code or ''}"
        if self._scale_names is None or not self._scale_names.search(names) or any(_PERCENT.search(t) for t in values):
            return None  # one search first: most results name no scale
        return next(scale for scale in self.knowledge.receptors.hormone_scales if scale.named.search(names)), values

    def _hormone_percent(self, kind: str, reading: Reading, on: date, record_id: str, dated: bool) -> ReceptorResult | None:
        """An ER or PR percent: the number when exact; for a bound or an interval, positive or negative when
        it lies wholly on one side of the cut-off ("<1%" is negative, "1-10%" positive), else not read."""
        exact = reading.exact
        if exact is not None:
            return ReceptorResult(kind, on, number=exact, record_id=record_id, dated=dated)
        positive = reading.at_least(self.knowledge.receptors.hormone_positive_percent)
        if positive is None:
            return None
        return ReceptorResult(kind, on, qualitative="positive" if positive else "negative", record_id=record_id, dated=dated)

    def lab_result(self, kind: str, holder: Any, on: date, record_id: str, dated: bool = True) -> LabResult | None:
        """A numeric lab (LVEF as a percent even when recorded as a fraction) with its reference range.

        An LVEF reported as a range or a bound ("55-60%", a valueRange, "<20%") is read as
        mappings/safety.yaml ``lvef.reported_range`` says: at its lower end, or its midpoint.
        """
        value = self._lvef_value(holder) if kind == "lvef" else self.number(holder)
        unit = self._quantity_unit(kind, getattr(holder, "valueQuantity", None))
        if value is None and kind != "lvef":
            value, unit = self._lab_text(holder)
        if value is None:
            return None
        low = high = None
        by_sex: tuple[tuple[str, float | None, float | None], ...] = ()
        ranges = getattr(holder, "referenceRange", None)
        if ranges:
            first = ranges[0]  # the first range while the patient's sex is not known
            if first.low is not None and first.low.value is not None:
                low = float(first.low.value)
            if first.high is not None and first.high.value is not None:
                high = float(first.high.value)
            if low is None and high is None and first.text:  # the range in words only: "0.3 - 1.0 mg/dL", "<1.2"
                low, high = _range_in_words(first.text, unit)
            if len(ranges) > 1:  # only then may ranges differ by sex
                by_sex = self._ranges_by_sex(ranges, (low, high))
        if kind == "lvef" and 0 < value <= 1.0:  # recorded as a fraction
            value = round(value * 100, 1)
            low, high = _percent_bounds(low, high)
            by_sex = tuple((sex, *_percent_bounds(sex_low, sex_high)) for sex, sex_low, sex_high in by_sex)
        return LabResult(kind, on, value, unit, low, high, record_id, dated=dated, by_sex=by_sex)

    def _ranges_by_sex(
        self, ranges: list[Any], first: tuple[float | None, float | None]
    ) -> tuple[tuple[str, float | None, float | None], ...]:
        """(sex, low, high) of the range a male and a female patient are read against (terminology.yaml
        reference_range_sex): the first range naming the sex, else the first naming none (no range when
        every range names the other sex); () when neither differs from the ``first`` range's bounds."""
        sexes = [self._range_sex(reference) for reference in ranges]
        if not any(sexes):
            return ()
        chosen = []
        for sex in self._sexes:
            reference = next((r for r, named in zip(ranges, sexes, strict=True) if named == sex), None)
            if reference is None:
                reference = next((r for r, named in zip(ranges, sexes, strict=True) if named is None), None)
            chosen.append((sex, *(_bounds(reference) if reference is not None else (None, None))))
        return tuple(chosen) if any((low, high) != first for _sex, low, high in chosen) else ()

    def _range_sex(self, reference: Any) -> str | None:
        """The one sex a reference range's appliesTo names by code (SNOMED CT, AdministrativeGender), else
        by its words; None when it names none or both."""
        found: set[str] = set()
        aliases = self.knowledge.system_alias
        for concept in reference.appliesTo or ():
            coded = {sex for coding in codings(concept) if (sex := self._sex_by_coding.get(coding_pair(coding, aliases)))}
            if not coded and self._sex_words is not None:
                coded = {str(match.lastgroup) for text in concept_texts(concept) for match in self._sex_words.finditer(text)}
            found |= coded
        return found.pop() if len(found) == 1 else None

    def _quantity_unit(self, kind: str, quantity: Any) -> str:
        """A Quantity's unit ("" with none), or its code when only the code is one safety.yaml reads ("U/L"
        for a unit written "units per liter"), or when it is an LVEF's UCUM "%" or "1" (whatever the unit's
        name: "procent")."""
        if quantity is None:
            return ""
        unit, code = quantity.unit or quantity.code or "", quantity.code
        if not code or unit == code:
            return str(unit)
        if kind == "lvef":
            return str(code) if code in LVEF_UNIT_CODES else str(unit)
        factor = self.knowledge.label_tables.liver_unit_factor
        return str(code) if factor(kind, unit) is None and factor(kind, code) is not None else str(unit)

    def plausible(self, lab: LabResult) -> bool:
        """A value the measurement can have: an ejection fraction is a percent above 0 and at most 100, in
        a unit of percent or a fraction (terminology.yaml lvef_percent_units; not mL, a volume mistaken
        for it); no lab value is negative."""
        if lab.kind == "lvef":
            unit = lab.unit.strip().lower()
            percent = unit in LVEF_UNIT_CODES or not unit or any(word in unit for word in self._percent_units)
            return percent and 0 < lab.value <= 100
        return lab.value >= 0

    def _lvef_value(self, holder: Any) -> float | None:
        reading = self.reading(holder) or self._named_lvef_reading(holder)
        if reading is None:
            return None
        if reading.low is None or reading.high is None:  # a bound: the one number the record gives
            return reading.low if reading.low is not None else reading.high
        if self.knowledge.label_tables.lvef_reported_range == "midpoint":
            return (reading.low + reading.high) / 2
        return reading.low

    def _lab_text(self, holder: Any) -> tuple[float | None, str]:
        """(value, unit) of a lab written as text with its unit or the test's name ("3.5 mg/dL", "AST 250")."""
        for text in self.value_texts(holder):
            found = _LAB_TEXT.match(text)
            if found:
                return float(found.group(1)), (found.group(2) or "").replace(" ", "")
        return None, ""

    def _named_lvef_reading(self, holder: Any) -> Reading | None:
        """A number, bound or range with no unit after the LVEF's name ("EF 35", "LVEF: 55-60")."""
        for text in self.value_texts(holder):
            named = _LVEF_NAME.match(text)
            if named is None:
                continue
            rest = text[named.end() :]
            bound = _BOUND_ALONE.match(rest)
            if bound:
                return _bound(bound.group(1), float(bound.group(2)))
            interval = _RANGE_ALONE.match(rest)
            if interval:
                low, high = sorted((float(interval.group(1)), float(interval.group(2))))
                return Reading(low, high)
            number = _NUMBER.match(rest)
            if number:
                value = float(number.group(1))
                return Reading(value, value)
        return None

    def disease_status(self, holder: Any) -> str | None:
        """improved | stable | worsened | undetermined from a coded answer (SNOMED CT; codes.yaml disease_status_other_systems)
        or its words."""
        by_coding = self.knowledge.disease_status_by_coding
        for coding in codings(getattr(holder, "valueCodeableConcept", None)):
            pair = coding_pair(coding, self.knowledge.system_alias)
            if pair in by_coding:
                return by_coding[pair]
        return self.disease_status_from_text(self.value_texts(holder))

    def disease_status_from_text(self, texts: list[str]) -> str | None:
        """A disease status written as text ("Patient's condition worsened", "stable disease", "no progression")."""
        denied = self.knowledge.terminology.text_denied_progression
        for text in texts:
            if denied.search(text):
                return "stable"
            for pattern, status in self.knowledge.terminology.disease_status_text:
                if pattern.search(text):
                    return str(status)
        return None


# A reference range given only in words, as HL7 v2 results carry it (OBX-7) into referenceRange.text: "0.3 - 1.0
# mg/dL", "3-21", "0,3–1,2", "<1.2", "<= 40 U/L". Its unit is the value's (a range naming another is not read).
_RANGE_NUMBER = r"(\d+(?:[.,]\d+)?)"
_RANGE_IN_WORDS = re.compile(
    rf"^\s*(?:{_RANGE_NUMBER}\s*(?:-|–|—|to)\s*{_RANGE_NUMBER}|(?:<|≤|<=)\s*{_RANGE_NUMBER})\s*(\S*)"
)


def _range_in_words(text: str, unit: str) -> tuple[float | None, float | None]:
    """(low, high) of a reference range written in words, in the value's ``unit``; (None, None) when it is not
    one, or names another unit ("3-21 umol/L" beside a value in mg/dL)."""
    found = _RANGE_IN_WORDS.match(text)
    named = found.group(4).strip(".,;()").lower() if found else ""
    if found is None or (named and unit and named != unit.strip().lower()):
        return None, None
    low, high, below = (float(number.replace(",", ".")) if number else None for number in found.groups()[:3])
    return (low, high) if below is None else (None, below)
