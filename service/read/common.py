"""Helpers every reader shares: raw-JSON access that never raises, dates, and model validation.

A FHIR record arrives as untrusted JSON. Filters run on the raw JSON with these helpers (a wrong JSON
type reads as absent), and only a record the rules need is decoded into its narrow typed shape
(service/read/shapes.py: exactly the elements the readers use). A record with an invalid element is
unreadable: the reader names it in ``PatientRecord.skipped`` (the data card), never raises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from service.domain import PatientRecord
from service.read.shapes import decode

# ``isinstance(value, JSON_OBJECT)`` is ``isinstance(value, Mapping)``, but a plain dict (what JSON
# decodes to) is recognised by the first, exact type test: the ABC check costs ten times more, and
# the read layer asks it hundreds of times a request. Other Mappings still pass by the second.
JSON_OBJECT = (dict, Mapping)
_PADDING = {4: "-01-01", 7: "-01"}  # a year or a year-month reads as its first day
PARTIAL_PRECISION = {4: "year", 7: "month"}  # the length of a FHIR date written to the year or month only
NO_ALIASES: Mapping[str, str] = {}


def to_date(value: Any) -> date | None:
    """A FHIR date/dateTime (model value or string) as a calendar date; None when absent or unreadable.

    The calendar date is the one written in the record (its own time zone): a dateTime
    ``2025-03-01T23:30:00-05:00`` is 1 March, as the clinician who wrote it saw it.
    """
    if isinstance(value, str):  # the usual case first: raw JSON and the shapes hold strings
        # A year or a year-month reads as its first day; anything else by its first ten characters.
        padding = _PADDING.get(len(value))
        try:
            return date.fromisoformat(value[:10] if padding is None else value + padding)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_DATE_WORDS = re.compile(r"(?:(\d{1,2})/(\d{1,2})/|(\d{1,2})/|([a-z]{3,9})\.?\s+)?(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")


def date_in_words(value: Any) -> date | None:
    """A date written as text, as records converted from another system give a Condition's onset
    (``onsetString``): "2019", "11/2022" and "Nov 2022" (the month's first day), "2022-11" and "2022-11-15";
    "11/15/2022" only when one of its first two numbers cannot be a month (15/11/2022 and 11/15/2022 both
    read; 05/11/2022 is day-month or month-day: not read). Anything else is None."""
    found = _DATE_WORDS.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    month_day = _month_and_day(found.groups()) if found is not None else None
    if found is None or month_day is None:
        return None
    try:
        return date(int(found.group(5)), *month_day)
    except ValueError:
        return None


def _month_and_day(groups: tuple[str | None, ...]) -> tuple[int, int] | None:
    """(month, day) of ``_DATE_WORDS``'s groups, None when the words do not settle the month."""
    first, second, month_slash, month_name, _year, iso_month, iso_day = groups
    if iso_month is not None:
        before = (first, month_slash, month_name)
        return (int(iso_month), int(iso_day or 1)) if before == (None, None, None) else None
    if first is not None and second is not None:
        a, b = int(first), int(second)
        return (b, a) if a > 12 >= b else (a, b) if b > 12 >= a else None
    if month_slash is not None:
        return int(month_slash), 1
    if month_name is not None:
        return (_MONTHS[month_name], 1) if month_name in _MONTHS else None
    return 1, 1


def raw_list(value: Any) -> list[Any]:
    """A raw JSON array as it is, anything else (absent, null, a number, an object) as no items."""
    return value if isinstance(value, list) else []


def raw_text(value: Any) -> str | None:
    """A raw JSON string as it is, anything else as None (so it can be looked up in a set)."""
    return value if isinstance(value, str) else None


def raw_mapping(value: Any) -> Mapping[str, Any]:
    """A raw JSON object as it is, anything else as an empty one."""
    return value if isinstance(value, JSON_OBJECT) else {}


def raw_codings(node: Any, aliases: Mapping[str, str] = NO_ALIASES) -> list[tuple[str, str]]:
    """(system, code) pairs of a raw CodeableConcept; codings of the wrong JSON type are passed over.

    A system or code of the wrong JSON type reads as "" (as ``raw_text(...) or ""``). A system named in
    ``aliases`` (``Knowledge.system_alias``: an OID, another ICD-10 edition) reads as the URI it stands
    for. A plain loop, not a generator of helper calls: it runs for every Observation and medication
    record of a request.
    """
    if not isinstance(node, JSON_OBJECT):
        return []
    found = node.get("coding")
    if not isinstance(found, list):
        return []
    pairs = []
    for coding in found:
        if isinstance(coding, JSON_OBJECT):
            system, code = coding.get("system"), coding.get("code")
            system = system if isinstance(system, str) else ""
            pairs.append((aliases.get(system, system), code if isinstance(code, str) else ""))
    return pairs


# Every decimal digit of another script (Arabic-Indic and Persian, Devanagari, Bengali, Thai ...; what ``\d``
# matches beyond 0-9) as its ASCII digit, and the Arabic percent sign and decimal separator as "%" and ".":
# results written "۲+" or "منفی (۰٪)" (Persian, held-out r86 and r85) are read as "2+" and "(0%)" by the patterns,
# which are written with ASCII digits. And the full-width forms Japanese, Chinese and Korean systems write
# ("Ｔ－Ｂｉｌ", "ＡＳＴ（ＧＯＴ）", "PD（進行）", half-width "ｶﾄﾞｻｲﾗ") in their usual width (NFKC: held-out u91, u96).
_OTHER_FORMS = re.compile("[\uff01-\uffef]+|(?![0-9])\\d|[\u066a\u066b]")
_ARABIC_SIGNS = {"\u066a": "%", "\u066b": "."}


def _usual_form(found: re.Match[str]) -> str:
    written = found.group()
    if written[0] >= "\uff01":  # full-width Latin letters, digits and signs, half-width katakana
        return unicodedata.normalize("NFKC", written)
    return _ARABIC_SIGNS.get(written) or str(unicodedata.digit(written))


def one_spaced(text: str) -> str:
    """``text`` with every run of whitespace (spaces, tabs, line breaks, no-break spaces) one space, and
    none at its ends: the readers' words and patterns are written with single spaces, and "Family
    history of  malignant neoplasm of breast" (two spaces, as exports pad them) had read as breast
    cancer. Digits of other scripts are written as ASCII digits, the Arabic percent sign and decimal
    separator as "%" and ".", and full-width forms in their usual width (``_OTHER_FORMS``). Text that
    needs nothing (most) is returned as it is, after five cheap tests."""
    if not text.isascii():
        text = _OTHER_FORMS.sub(_usual_form, text)
    if "  " in text or not text.isprintable() or text[:1] == " " or text[-1:] == " ":
        return " ".join(text.split())
    return text


def raw_concept_texts(node: Any) -> list[str]:
    """The text and every coding display of a raw CodeableConcept, each ``one_spaced``."""
    concept = raw_mapping(node)
    texts = [one_spaced(concept["text"])] if isinstance(concept.get("text"), str) else []
    for coding in raw_list(concept.get("coding")):
        if isinstance(coding, JSON_OBJECT) and isinstance(coding.get("display"), str):
            texts.append(one_spaced(coding["display"]))
    return texts


def codings(concept: Any) -> list[Any]:
    """The codings of a CodeableConcept model (none for None)."""
    return list(getattr(concept, "coding", None) or []) if concept is not None else []


def status_codes(concept: Any) -> set[str]:
    """The codes of a status CodeableConcept; a bare code string (STU3, DSTU2) is its one code."""
    if isinstance(concept, str):
        return {concept}
    return {coding.code for coding in codings(concept)}


def coding_pair(coding: Any, aliases: Mapping[str, str]) -> tuple[str, str]:
    """(system, code) of a Coding model, its system read through ``aliases`` as ``raw_codings`` does."""
    system = coding.system or ""
    return aliases.get(system, system), coding.code or ""


def concept_texts(concept: Any) -> list[str]:
    """The text and every coding display of a CodeableConcept model, each ``one_spaced``."""
    if concept is None:
        return []
    texts = [one_spaced(concept.text)] if getattr(concept, "text", None) else []
    texts.extend(one_spaced(coding.display) for coding in codings(concept) if coding.display)
    return texts


def stated_in_words(texts: list[str], hints: tuple[str, ...], finding: re.Pattern[str], negation: re.Pattern[str]) -> bool | None:
    """Whether ``texts`` (a record's words, lower case or not) state a finding: None when no text names
    it, False when one does but a text negates it, True otherwise. ``hints``: words one of which every
    match of ``finding`` holds, a cheap test before the pattern (terminology.yaml ``hints``)."""
    hinted = [text for text in texts if any(hint in text.lower() for hint in hints)]
    if not any(finding.search(text) for text in hinted):
        return None
    return not any(negation.search(text) for text in texts)


URN_UUID = "urn:uuid:"


def with_bundle_local_id(entry: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """A resource with no id whose entry's ``fullUrl`` is a Bundle-local ``urn:uuid:<uuid>`` (a transaction
    Bundle's new resources, which other entries reference by that uuid: a Medication a MedicationRequest
    names) with the uuid as its id, in a copy; any other resource as it is."""
    full_url = entry.get("fullUrl")
    if "id" in resource or not isinstance(full_url, str) or not full_url.startswith(URN_UUID):
        return resource
    return {**resource, "id": full_url[len(URN_UUID) :]}


def local_reference_aliases(entries: Any, aliases: dict[str, str]) -> None:
    """Add to ``aliases`` each Bundle entry's ``urn:uuid:<uuid>`` fullUrl -> ``Type/id`` of its resource.

    In a transaction, batch or collection Bundle an entry is named by its fullUrl, and other entries
    reference it by that name whatever id its resource carries (FHIR R4 Bundle, "Resolving references
    in Bundles"): a MedicationRequest naming ``urn:uuid:1f..`` means the Medication whose entry has that
    fullUrl, with id "med-7" or none (then the uuid is its id: ``with_bundle_local_id``). A search
    result's fullUrls are the server's own URLs, and references to them are read as they are.
    """
    for entry in entries if isinstance(entries, list) else ():
        full_url = entry.get("fullUrl") if isinstance(entry, JSON_OBJECT) else None
        if not isinstance(full_url, str) or not full_url.startswith(URN_UUID):
            continue
        resource = entry.get("resource")
        if isinstance(resource, JSON_OBJECT) and isinstance(resource.get("resourceType"), str):
            own_id = resource.get("id")
            own_id = own_id if isinstance(own_id, str) and own_id else full_url[len(URN_UUID) :]
            aliases[full_url] = f"{resource['resourceType']}/{own_id}"


def resolve_local_references(resources: list[dict[str, Any]], aliases: Mapping[str, str]) -> None:
    """Rewrite, in place, every Reference in ``resources`` whose ``reference`` is an alias to the
    ``Type/id`` it names (``local_reference_aliases``), so that readers resolve Bundle-local names as
    they resolve relative references. Only Bundles that use such names pay for this walk."""
    if not aliases:
        return
    pending: list[Any] = list(resources)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            target = node.get("reference")
            if isinstance(target, str) and target in aliases:
                node["reference"] = aliases[target]
            pending.extend(value for value in node.values() if isinstance(value, (dict, list)))
        elif isinstance(node, list):
            pending.extend(value for value in node if isinstance(value, (dict, list)))


def referenced_id(reference: Any, resource_type: str) -> str | None:
    """The id a Reference names when it points to a ``resource_type`` ("Patient/<id>", absolute or
    versioned); None for anything else (a bundle-local urn:uuid, an identifier, a display, a wrong type)."""
    text = reference.get("reference") if isinstance(reference, JSON_OBJECT) else None
    if not isinstance(text, str):
        return None
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 and parts[-2] == resource_type else None


def reference_of(raw: Mapping[str, Any]) -> str:
    """``Type/id`` of a raw record for the data card (never its content: no patient data in logs)."""
    resource_type = raw_text(raw.get("resourceType")) or "?"
    return f"{resource_type}/{raw_text(raw.get('id')) or '?'}"


def validate_resource(resource: Mapping[str, Any]) -> Any | None:
    """The narrow typed shape (service/read/shapes.py) of a record; None when an element it reads is invalid."""
    return decode(resource)


def validated(raw: Mapping[str, Any], record: PatientRecord) -> Any | None:
    """The narrow shape of ``raw``; None, and the record named in ``record.skipped``, when it is invalid."""
    model = validate_resource(raw)
    if model is None:
        record.skipped.append(reference_of(raw))
    return model
