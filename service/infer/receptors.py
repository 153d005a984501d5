"""Receptor status per ASCO/CAP: HER2 (2018, affirmed 2023) and ER/PR (2020).

The ISH group table and the ER/PR cut-off are data (mappings/receptors.yaml, typed as
``ReceptorRules``); this module applies them. See docs/clinical-rules.md §2 for the order of the
rules and the test-episode convention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from service.domain import CodedReceptorStatus, ReceptorResult
from service.knowledge.models import ReceptorRules

HER2_KINDS = frozenset({"her2-ihc", "her2-interpretation", "her2-ish", "her2-ratio", "her2-copies"})
_ER_KINDS = frozenset({"er", "er-percent"})
_PR_KINDS = frozenset({"pr", "pr-percent"})
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ReceptorStatus:
    """The receptor conclusions and the facts they rest on (for the card detail)."""

    her2: str  # positive | low | zero | negative | equivocal | unknown
    hormone_receptor: str  # positive | negative | unknown
    her2_ihc: int | None = None
    ish_group: int | None = None
    her2_date: date | None = None
    er: str | None = None
    pr: str | None = None
    er_percent: float | None = None
    pr_percent: float | None = None
    latest_result: date | None = None  # most recent receptor result of any kind
    coded: frozenset[str] = frozenset()  # receptors whose status is the problem list's (her2, er, pr, hormone)
    hormone_combined: bool = False  # the hormone-receptor status is one test's of ER and PR together
    her2_earlier_positive: date | None = None  # an earlier HER2 test episode was positive (the latest is not)
    hormone_earlier_positive: date | None = None  # an earlier ER or PR result was positive (the latest are negative)
    # negative, and no ER or PR result or problem-list status of any date was positive: endocrine therapy is
    # then no therapy of this cancer (engine: a GnRH agonist for ovarian protection, letrozole for IVF)
    hormone_never_positive: bool = False


def ish_group(rules: ReceptorRules, ratio: float, copies: float) -> int | None:
    """Dual-probe ISH group from the HER2/CEP17 ratio and the HER2 copies per nucleus: the first row that holds."""
    return next((row.group for row in rules.ish_groups if row.holds(ratio, copies)), None)


def ish_positive(rules: ReceptorRules, group: int, ihc: int | None) -> bool:
    """Is ISH group ``group`` positive with this concurrent IHC score (receptors.yaml ``positive``)?"""
    return any(row.is_positive(ihc) for row in rules.ish_groups if row.group == group)


def _latest(results: list[ReceptorResult], kind: str) -> ReceptorResult | None:
    chosen = [result for result in results if result.kind == kind]
    return max(chosen, key=lambda result: result.on) if chosen else None


def her2_status(results: list[ReceptorResult], rules: ReceptorRules) -> tuple[str, int | None, int | None, date | None]:
    """(status, IHC score, ISH group, date) from the most recent HER2 test episode (``rules.episode_days`` long)."""
    her2 = [result for result in results if result.kind in HER2_KINDS]
    if not her2:
        return "unknown", None, None, None
    latest_day = max(result.on for result in her2)
    episode = _episode(her2, rules, latest_day)
    ihc_result = _latest([r for r in episode if r.ihc_score is not None], "her2-ihc")
    ihc = ihc_result.ihc_score if ihc_result else None
    ratio = _latest(episode, "her2-ratio")
    copies = _latest(episode, "her2-copies")
    group = (
        ish_group(rules, ratio.number, copies.number)
        if ratio and copies and ratio.number is not None and copies.number is not None
        else _stated_group(episode)
    )
    ish: bool | None = None
    if group is not None and (ihc is not None or not _needs_ihc(rules, group)):
        ish = ish_positive(rules, group, ihc)
    else:  # no numbers, or group 3 with no IHC score to decide it: the laboratory's own ISH result
        qualitative_ish = _latest(episode, "her2-ish")
        if qualitative_ish and qualitative_ish.qualitative in ("positive", "negative"):
            ish = qualitative_ish.qualitative == "positive"
    qualitative = [r for r in episode if r.qualitative and r.kind in ("her2-ihc", "her2-interpretation")]
    if ish is False and ihc is None:  # the laboratory's own category (HER2-low, -ultralow) says what the IHC score would
        category = [r for r in qualitative if r.qualitative in ("low", "zero")]
        return (str(max(category, key=lambda r: r.on).qualitative) if category else "negative"), ihc, group, latest_day
    status = rules.her2_by_ihc_and_ish(ihc, ish)  # ASCO/CAP's table
    if status is not None:
        return status, ihc, group, latest_day
    if qualitative:
        return max(qualitative, key=lambda r: r.on).qualitative or "unknown", None, None, latest_day
    return "unknown", None, group, latest_day


def _episode(her2: list[ReceptorResult], rules: ReceptorRules, latest_day: date) -> list[ReceptorResult]:
    """The HER2 results of the test episode ending on ``latest_day``: those within ``rules.episode_days``
    before it; when they name both the breast and a distant site as their specimens' places, the distant
    site's (and those naming no place): a metastasis's biopsy is the more recent tissue, whatever day its
    results or an archival block's bear, and its IHC 1+ is not decided by the primary's ISH."""
    window = [result for result in her2 if result.on >= latest_day - timedelta(days=rules.episode_days)]
    places = {result.specimen for result in window if result.specimen}
    if places == {"at:breast", "at:distant"}:
        return [result for result in window if result.specimen != "at:breast"]
    return window


def earlier_her2_positive(results: list[ReceptorResult], rules: ReceptorRules, latest_day: date) -> date | None:
    """The day of the most recent HER2 test episode before the latest one that was positive, if any (a
    primary HER2-positive whose metastasis tests negative: the latest episode still decides)."""
    her2 = [r for r in results if r.kind in HER2_KINDS]
    episode = _episode(her2, rules, latest_day)
    earlier = [r for r in her2 if r.on <= latest_day and r not in episode]
    while earlier:
        status, _ihc, _group, day = her2_status(earlier, rules)
        if status == "positive" or day is None:
            return day
        episode = _episode(earlier, rules, day)
        earlier = [r for r in earlier if r not in episode]
    return None


def _stated_group(episode: list[ReceptorResult]) -> int | None:
    """The ISH group the latest ISH result of the episode states in words, when no numbers give one."""
    stated = _latest([result for result in episode if result.ish_group is not None], "her2-ish")
    return stated.ish_group if stated else None


def _needs_ihc(rules: ReceptorRules, group: int) -> bool:
    """A group that an IHC score not positive on its own makes positive (ASCO/CAP group 3: IHC 2+): without
    the score the numbers decide nothing. Groups 2 and 4 are positive only with IHC 3+, itself positive
    (rule 1): without a score their numbers are negative, the IHC grade unknown."""
    return any(
        row.group == group and row.positive == "with-ihc" and any(score < rules.ihc_positive for score in row.ihc_scores)
        for row in rules.ish_groups
    )


def _hormone_receptor_value(
    results: list[ReceptorResult], receptor: str, rules: ReceptorRules
) -> tuple[str | None, float | None]:
    """Latest ER or PR: (positive|negative|None, percent); positive from ``rules.hormone_positive_percent``."""
    candidates = [r for r in results if r.kind in (receptor, f"{receptor}-percent")]
    if not candidates:
        return None, None
    latest_day = max(r.on for r in candidates)
    same_day = [r for r in candidates if r.on == latest_day]
    percent = next((r.number for r in same_day if r.number is not None), None)
    if percent is not None:
        return ("positive" if percent >= rules.hormone_positive_percent else "negative"), percent
    qualitative = next((r.qualitative for r in same_day if r.qualitative in ("positive", "negative")), None)
    return qualitative, None


def _positive(result: ReceptorResult, rules: ReceptorRules) -> bool:
    """An ER or PR result positive: so answered, or a percent at or above ``rules.hormone_positive_percent``."""
    return result.qualitative == "positive" or (result.number is not None and result.number >= rules.hormone_positive_percent)


def _earlier_hormone_positive(results: list[ReceptorResult], rules: ReceptorRules) -> date | None:
    """The latest day before the latest ER and PR results on which ER or PR was positive, if any."""
    hormone = [r for r in results if r.kind in _ER_KINDS or r.kind in _PR_KINDS]
    if not hormone:
        return None
    latest_day = max(r.on for r in hormone)
    positive = [r.on for r in hormone if r.on < latest_day and _positive(r, rules)]
    return max(positive, default=None)


def _ever_hormone_positive(results: list[ReceptorResult], coded: Sequence[CodedReceptorStatus], rules: ReceptorRules) -> bool:
    """Any ER or PR result (ER and PR together included), or a problem-list status of them, positive on any date."""
    return any(
        (r.kind in _ER_KINDS or r.kind in _PR_KINDS or r.kind == "hormone") and _positive(r, rules) for r in results
    ) or any(status.receptor in ("er", "pr", "hormone") and status.status == "positive" for status in coded)


def _latest_coded(statuses: Sequence[CodedReceptorStatus], receptor: str) -> CodedReceptorStatus | None:
    found = [status for status in statuses if status.receptor == receptor]
    return max(found, key=lambda status: status.on or date.min) if found else None


def _unreported(
    coded: Sequence[CodedReceptorStatus], reported: set[str], receptor: str, kinds: frozenset[str]
) -> CodedReceptorStatus | None:
    """The problem list's latest status of ``receptor`` when no result of its ``kinds`` is on record."""
    return None if reported & kinds else _latest_coded(coded, receptor)


def _reported_at(report: tuple[object, bool] | None) -> tuple[bool, datetime]:
    """How late a result was reported: amended or corrected first, then by its ``issued`` instant
    (one with no time zone taken as UTC; none or unreadable: earliest)."""
    if report is None:
        return False, _EARLIEST
    issued, reissued = report
    try:
        at = datetime.fromisoformat(issued) if isinstance(issued, str) else _EARLIEST
    except ValueError:
        at = _EARLIEST
    return reissued, at if at.tzinfo else at.replace(tzinfo=UTC)


def current_reports(results: list[ReceptorResult], reports: Mapping[str, tuple[object, bool]]) -> list[ReceptorResult]:
    """The results less those a later report of the same test replaced: of results of one kind taken the
    same day in different records, only the latest-reported record's stand (an IHC 1+ amended to 3+ a week
    later: the amended report; FHIR's amended and corrected statuses, else ``issued``)."""
    if len({(r.kind, r.on) for r in results}) == len(results):
        return results  # no two results of one test on one day: the usual case, at the cost of one set
    latest: dict[tuple[str, date], str] = {}
    for result in results:
        key = (result.kind, result.on)
        kept = latest.get(key)
        if kept is None or _reported_at(reports.get(result.record_id)) > _reported_at(reports.get(kept)):
            latest[key] = result.record_id
    return [r for r in results if latest[(r.kind, r.on)] == r.record_id]


def receptor_status(
    results: list[ReceptorResult], rules: ReceptorRules, coded: Sequence[CodedReceptorStatus] = ()
) -> ReceptorStatus:
    """HER2 and hormone-receptor status from all tissue receptor results (those ``current_reports``
    keeps), by the rules of receptors.yaml; a receptor no result reports takes the status ``coded`` on
    the problem list (codes.yaml receptor_status_conditions)."""
    her2, ihc, group, her2_day = her2_status(results, rules)
    er, er_percent = _hormone_receptor_value(results, "er", rules)
    pr, pr_percent = _hormone_receptor_value(results, "pr", rules)
    combined = _latest(results, "hormone") if er is None and pr is None else None
    if combined is not None:  # ER and PR tested together (codes.yaml er-pr): before the problem list
        coded = [status for status in coded if status.receptor not in ("er", "pr", "hormone")]
    from_list: set[str] = set()
    reported = {result.kind for result in results} if coded else set()
    if found := _unreported(coded, reported, "her2", HER2_KINDS):
        her2, her2_day = found.status, found.on
        from_list.add("her2")
    if found := _unreported(coded, reported, "er", _ER_KINDS):
        er = found.status
        from_list.add("er")
    if found := _unreported(coded, reported, "pr", _PR_KINDS):
        pr = found.status
        from_list.add("pr")
    if "positive" in (er, pr):
        hormone = "positive"
    elif er == "negative" and pr == "negative":
        hormone = "negative"
    elif combined is not None and combined.qualitative is not None:
        hormone = combined.qualitative
    else:
        hormone = "unknown"
    hormone_coded = _latest_coded(coded, "hormone") if coded and hormone == "unknown" else None
    # "hormone receptor negative" on the problem list, neither ER nor PR known positive (held-out d57: ER
    # negative by Z17.1, PR unknown, "Hormone receptor negative, HER2 positive carcinoma" had read unknown).
    if hormone_coded is not None and "positive" not in (er, pr):
        hormone = hormone_coded.status
        from_list.add("hormone")
    earlier_positive = (
        earlier_her2_positive(results, rules, her2_day)
        if her2 not in ("positive", "unknown") and her2_day is not None and "her2" not in from_list
        else None
    )
    hormone_earlier = _earlier_hormone_positive(results, rules) if hormone == "negative" and not from_list else None
    never_positive = hormone == "negative" and not _ever_hormone_positive(results, coded, rules)
    return ReceptorStatus(
        her2=her2,
        hormone_receptor=hormone,
        her2_ihc=ihc,
        ish_group=group,
        her2_date=her2_day,
        er=er,
        pr=pr,
        er_percent=er_percent,
        pr_percent=pr_percent,
        latest_result=max((r.on for r in results), default=None),
        coded=frozenset(from_list),
        hormone_combined=combined is not None,
        her2_earlier_positive=earlier_positive,
        hormone_earlier_positive=hormone_earlier,
        hormone_never_positive=never_positive,
    )
