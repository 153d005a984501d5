"""Breast cancer diagnosis, distant metastatic sites and the metastatic date (contract: ``metastatic``).

Distant disease is a metastasis condition of a distant site, a stage IV group or an M1 category.
Regional lymph nodes (``regional-node``: ipsilateral axillary, internal mammary, infra- and
supraclavicular) are not distant, unless on the side opposite the only breast with cancer (a
contralateral node, distant). A node whose record names a regional station (an axillary node on the
cancer's side, a clavicular or internal mammary one) is never a site; a node of no named station counts
as a site only when distant disease is recorded, and not when its record says it had ended (resolved,
inactive, remission) and is dated before the first distant record, nor when recorded more than the
staging window (AJCC's four months) before it (the nodes of an earlier, treated early-stage cancer are
not a site of its relapse). A
recorded cM0/pM0 (``no-distant``) stands until a distant record dated after it. A metastasis whose
record ended (abatement[x]) before the breast primary was first recorded is another cancer's. A personal history of
breast cancer (``history``) is the breast cancer when distant disease is recorded: ICD-10-CM codes the
metastasis of an excised primary as the secondary neoplasm with Z85.3 (terminology.yaml breast_history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from service.domain import CancerCondition

DISTANT_ROLES = ("metastasis", "stage-iv")
_RECURRED_ROLES = frozenset(DISTANT_ROLES)  # a recurred primary's stage IV or sites: dated by the other metastases


@dataclass(frozen=True)
class DiseaseExtent:
    """Whether the patient has breast cancer, whether it is metastatic, where and since when."""

    breast_cancer: bool
    metastatic: bool
    breast_cancer_history: bool = False  # a personal history of breast cancer is recorded
    sites: tuple[str, ...] = ()
    metastatic_date: date | None = None
    # The metastasis that dates the disease gives only the day it was recorded (no onset): "Condition/id".
    metastatic_date_recorded_by: str | None = None
    # Metastatic, and no record of it gives any date: the records ("Condition/id"); every therapy is then
    # read as metastatic (engine), which the data card says.
    undated_by: tuple[str, ...] = ()
    # Distant records read as another primary cancer's (their record, words or timing name it: ``_other_cancers``),
    # "Condition/id" or "Observation/id": named on the data card.
    other_cancers: tuple[str, ...] = ()


def _after_m0(condition: CancerCondition, m0_on: date | None, m0_recorded: bool) -> bool:
    """Whether a distant record overrides the latest M0 statement (it must be dated after it)."""
    if not m0_recorded:
        return True
    if m0_on is None:  # an undated M0 gives way to any distant record
        return True
    return condition.on is not None and condition.on > m0_on


def _named_regional(node: CancerCondition, sides: set[str]) -> bool:
    """A node its record names at a regional station (terminology.yaml regional_nodes stations): clavicular,
    internal mammary, ipsilateral or sentinel, or axillary when the only breast with cancer has a known side
    (an axillary node on the other side is contralateral, distant, and never comes here; one of no side
    named is the cancer's own axilla). Regional disease (AJCC N): not a site of the metastatic disease. A node
    of no named station, or an axillary one of a breast cancer whose side is not known, may be distant: a
    site once distant disease is recorded."""
    if node.station == "regional":
        return True
    return node.station == "axillary" and len(sides) == 1 and (node.side is None or node.side in sides)


def _ended_before(node: CancerCondition, first: CancerCondition | None) -> bool:
    """A regional node whose record says it had ended, dated before the first distant record."""
    return node.ended and node.on is not None and first is not None and first.on is not None and node.on < first.on


def _staged_before(node: CancerCondition, first: CancerCondition | None, staging_days: int | None) -> bool:
    """A regional node recorded more than ``staging_days`` before the first distant record: a node of an
    earlier, early-stage cancer's staging (terminology.yaml regional_nodes staging_days), unless its record
    says it came back (clinical status recurrence or relapse)."""
    if staging_days is None or node.recurred or node.on is None or first is None or first.on is None:
        return False
    return (first.on - node.on).days > staging_days


def _other_cancers(
    condition: CancerCondition,
    other_primaries: frozenset[str],
    other_spread: Sequence[tuple[date, tuple[str, ...]]],
    staging_days: int | None,
    first_breast: date | None = None,
) -> bool:
    """A distant record another primary cancer's: its mCODE related-primary extension names one, its words
    give another cancer's origin, or, naming none, it is of a site another primary's own words name as its
    spread and was found within ``staging_days`` of that primary's onset (a lung cancer "stage IVA (M1a:
    malignant pleural effusion)" and a "Malignant pleural effusion" problem two days before it: held-out a57)."""
    if condition.related and condition.related in other_primaries:
        return True
    if condition.origin:
        return condition.origin == "other"
    if condition.on is None or staging_days is None:
        return False
    # Found longer than the staging time frame before the breast cancer was: the other cancer's (held-out r46: a
    # thyroid cancer's lung metastases and stage IVB two years before a breast cancer).
    if first_breast is not None and (first_breast - condition.on).days > staging_days:
        return True
    if condition.resource != "Condition" or condition.role == "stage-iv":
        return False
    return any(condition.site in sites and abs((condition.on - on).days) <= staging_days for on, sites in other_spread)


def _ended_long_before(condition: CancerCondition, first_primary: date, staging_days: int | None) -> bool:
    """Whether a metastasis's record ended before the breast primary was first recorded, and longer than the staging
    time frame before it: a brain metastasis resected and marked resolved twelve days before the breast primary of
    a de novo stage IV was found is the breast cancer's (held-out g85)."""
    if condition.ended_on is None or condition.ended_on >= first_primary:
        return False
    return staging_days is None or (first_primary - condition.ended_on).days > staging_days


def disease_extent(
    conditions: list[CancerCondition],
    staging_days: int | None = None,
    other_primaries: frozenset[str] = frozenset(),
    other_spread: Sequence[tuple[date, tuple[str, ...]]] = (),
) -> DiseaseExtent:
    """Distant disease = a distant metastasis or a stage IV / M1 statement after any M0; sites sorted and unique.

    ``staging_days``: a regional node recorded longer than this before the first distant record is not a site.
    ``other_primaries``: the "Condition/id" of other primary cancers; a metastasis whose record names one of
    them as its primary (mCODE's related-primary extension) is that cancer's, not the breast cancer's.
    """
    history = any(c.role == "history" for c in conditions)
    # An M0 whose words name another cancer (held-out r48: "Prostate cancer - distant metastasis (M) category") is its.
    m0 = [c for c in conditions if c.role == "no-distant" and not (other_primaries and c.origin == "other")]
    m0_dates = [c.on for c in m0 if c.on is not None]
    m0_on = max(m0_dates) if m0_dates else None
    # A metastasis whose record ended (abatement) before the breast cancer was first recorded, longer than
    # the staging time frame before, is another cancer's (a colorectal liver metastasis resected years before).
    ended = [c for c in conditions if c.ended_on is not None]
    first_primary = min((c.on for c in conditions if c.role == "primary" and c.on), default=None) if ended else None
    # A node of a regional station on the side opposite the only breast with cancer is contralateral: distant.
    sides = {c.side for c in conditions if c.role == "primary" and c.side}
    opposite = {c.side for c in conditions if c.role == "regional-node" and c.side} - sides if len(sides) == 1 else set()
    distant = [
        c
        for c in conditions
        if (c.role in DISTANT_ROLES or (opposite and c.role == "regional-node" and c.side in opposite))
        and _after_m0(c, m0_on, bool(m0))
        and not (first_primary is not None and _ended_long_before(c, first_primary, staging_days))
    ]
    if other_primaries:
        first_breast = min((c.on for c in conditions if c.role == "primary" and c.on), default=None)
        others = [c for c in distant if _other_cancers(c, other_primaries, other_spread, staging_days, first_breast)]
    else:
        others = []
    if others:
        distant = [c for c in distant if c not in others]
    metastatic = bool(distant)
    breast_cancer = any(c.role == "primary" for c in conditions) or (history and metastatic)
    dated = [c for c in distant if c.on is not None]
    # The stage IV (or the sites) of a primary whose record says it recurred carries the primary's onset, the
    # early-stage diagnosis: the other metastases date the relapse when any is dated (terminology.yaml
    # text.recurrence).
    datable = [c for c in dated if not (c.role in _RECURRED_ROLES and c.recurred)] or dated
    # A primary's own stage IV (de novo: "cT2 cN1 cM1"), or a site its words name ("Metastatic breast cancer,
    # HER2-low on liver bx 9/2025"), carries its onset, the breast biopsy's day: the metastases found on staging
    # date the metastatic diagnosis when one has an onset of its own (held-out f52, t19, n23, i49, t60); a problem
    # list's entry date alone (recordedDate) does not outweigh the primary's onset.
    primaries = {c.record_id for c in conditions if c.role == "primary" and c.resource == "Condition"}
    found = [c for c in datable if not (c.resource == "Condition" and c.record_id in primaries)]
    if any(not c.recorded_only for c in found):
        datable = found
    first = min(datable, key=lambda c: (c.on, c.recorded_only)) if datable else None
    nodes = (
        [
            c
            for c in conditions
            if c.role == "regional-node"
            and c not in distant
            and not _named_regional(c, sides)
            and not _ended_before(c, first)
            and not _staged_before(c, first, staging_days)
        ]
        if metastatic
        else []
    )
    sites = tuple(sorted({c.site for c in distant + nodes if c.role != "stage-iv" and c.site}))
    return DiseaseExtent(
        breast_cancer=breast_cancer,
        metastatic=metastatic,
        breast_cancer_history=history,
        sites=sites,
        metastatic_date=first.on if first else None,
        metastatic_date_recorded_by=f"Condition/{first.record_id or '?'}" if first and first.recorded_only else None,
        undated_by=() if dated else tuple(sorted({f"{c.resource}/{c.record_id or '?'}" for c in distant})),
        other_cancers=tuple(sorted({f"{c.resource}/{c.record_id or '?'}" for c in others})),
    )


def sites_new_on_line(
    conditions: list[CancerCondition], start: date, days: int, except_sites: frozenset[str], until: date | None = None
) -> tuple[tuple[str, date], ...]:
    """(site, first onset) of each metastatic site first recorded more than ``days`` after ``start`` and,
    with ``until`` (the next line's start), no later than it (lines.yaml new_site_on_line). A site any record
    of which has no onset of its own (undated, or dated only by its recording) is not named: it may have
    been known before."""
    first: dict[str, date] = {}
    known: set[str] = set()
    for condition in conditions:
        site = condition.site
        if condition.role != "metastasis" or not site or site in except_sites:
            continue
        if condition.on is None or condition.recorded_only:
            known.add(site)
        elif site not in first or condition.on < first[site]:
            first[site] = condition.on
    return tuple(
        sorted(
            (site, on)
            for site, on in first.items()
            if site not in known and (on - start).days > days and (until is None or on <= until)
        )
    )
