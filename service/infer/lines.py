"""Lines of therapy from the medication history (docs/clinical-rules.md §4, clinical.md §7)."""

from __future__ import annotations

import calendar
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from operator import attrgetter

import msgspec

from service.domain import EVENT_SOURCES, DiseaseStatus, Exposure
from service.knowledge import Knowledge


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (clamped to the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass
class TherapyLine:
    """One metastatic line: its regimen's agents, dates and how it ended."""

    number: int
    start: date
    exposures: list[Exposure] = field(default_factory=list)
    end: date | None = None
    ongoing: bool = False
    progressed: bool = False
    end_reason: str | None = None  # progression | toxicity | completed | unknown
    # (number of exposures, their sorted agents): ``agents`` is read several times a request.
    _sorted_agents: tuple[int, tuple[str, ...]] = field(default=(-1, ()), init=False, repr=False, compare=False)

    @property
    def agents(self) -> list[str]:
        """Sorted canonical agents of the line (sorted again only once an exposure has been added)."""
        counted, agents = self._sorted_agents
        if counted != len(self.exposures):
            agents = tuple(sorted({exposure.agent for exposure in self.exposures}))
            self._sorted_agents = (len(self.exposures), agents)
        return list(agents)


@dataclass
class TherapyHistory:
    """The metastatic lines, the current one's status and the (neo)adjuvant facts."""

    lines: list[TherapyLine]
    status: str  # naive | on-treatment | progressed | off-treatment
    early_relapse: bool | None = None  # None when not metastatic
    adjuvant_agents: tuple[str, ...] = ()
    adjuvant_end: date | None = None
    progression_dates: tuple[date, ...] = ()
    still_given: frozenset[str] = frozenset()  # agents of the ongoing current line given now (LineOfTherapyRules)

    @property
    def current(self) -> TherapyLine | None:
        return self.lines[-1] if self.lines else None

    @property
    def current_number(self) -> int:
        return len(self.lines)

    def received_agents(self) -> set[str]:
        """Every agent ever given, (neo)adjuvant included."""
        return {agent for line in self.lines for agent in line.agents} | set(self.adjuvant_agents)

    def active_agents(self) -> set[str]:
        """Agents of the current line when it is ongoing."""
        line = self.current
        return set(line.agents) if line is not None and line.ongoing else set()

    def ongoing_agents(self) -> set[str]:
        """Agents of the current line still being given now (a dropped taxane is not)."""
        return set(self.still_given)

    def agents_stopped_for(self, reason: str) -> set[str]:
        """Key agents the disease progressed on (reason "progression") or stopped for toxicity."""
        found: set[str] = set()
        for line in self.lines:
            if reason == "progression" and line.progressed:
                found.update(line.agents)
            found.update(e.agent for e in line.exposures if e.stop_reason == reason)
        return found

    def refractory_agents(self) -> set[str]:
        """Agents the disease progressed on: in a metastatic line, or, after an early relapse, the
        (neo)adjuvant HER2 agents it relapsed within the window of (that course counts as a progressed
        line: mappings/options.yaml early_relapse_counts_as_line)."""
        found = self.agents_stopped_for("progression")
        if self.early_relapse:
            found |= set(self.adjuvant_agents)
        return found


def _last_given(records: list[Exposure]) -> list[Exposure]:
    """The records ending on the latest last day among them."""
    last = max(record.last_day for record in records)
    return [record for record in records if record.last_day == last]


def _doses_and_courses(exposures: list[Exposure]) -> tuple[list[Exposure], list[Exposure]]:
    """The records of a line that each give a drug on one day, and the others (courses).

    A dose: an administration or a dispense; or an order or statement that covers one day, completed or
    stopped for no stated reason, when the line holds more than one such record of its agent (a course
    recorded dose by dose: an order per cycle as Epic's treatment plans and Synthea write them, a
    statement per infusion). A lone one-day statement may be a whole course dated once, and a record
    stopped for a reason ends the line as a course does: neither is a dose.
    """
    one_day = [
        e
        for e in exposures
        if e.end == e.start
        and e.source_type not in EVENT_SOURCES
        and (e.status == "completed" or (e.status == "stopped" and e.stop_reason is None))
    ]
    if not one_day:
        return [e for e in exposures if e.source_type in EVENT_SOURCES], [
            e for e in exposures if e.source_type not in EVENT_SOURCES
        ]
    counts = Counter(e.agent for e in one_day)
    dose_ids = {id(e) for e in one_day if counts[e.agent] > 1}
    doses = [e for e in exposures if e.source_type in EVENT_SOURCES or id(e) in dose_ids]
    return doses, [e for e in exposures if e.source_type not in EVENT_SOURCES and id(e) not in dose_ids]


def _stops_dated_by_doses(exposures: list[Exposure], gap_days: int) -> list[Exposure]:
    """An order or statement stopped for a reason with no end date (the reader ends it on its first
    day), its drug given dose by dose in records of their own, was stopped after the last of its drug's
    doses recorded from its start until the drug's next order: it ends there. Dated by its start alone,
    a trastuzumab order written with a new partner drug and stopped for no response after eighteen
    months of doses had put the progression at the line's first day, so the line before it read as
    progressed and the current one as still given. The doses are its course's: none after a pause
    longer than the gap (``gap_days``). The THP order's trastuzumab, stopped for no response, had been
    dated by the first trastuzumab infusion of a third line two years later, which then read as
    progressed."""
    stops = [e for e in exposures if e.stop_reason is not None and e.last_day == e.start and e.source_type not in EVENT_SOURCES]
    if not stops:
        return exposures
    dated: dict[int, Exposure] = {}
    for stop in stops:
        later = [
            e.start for e in exposures if e.agent == stop.agent and e.source_type not in EVENT_SOURCES and e.start > stop.start
        ]
        until = min(later, default=date.max)
        doses = sorted(
            e.last_day
            for e in exposures
            if e.agent == stop.agent and e.source_type in EVENT_SOURCES and stop.start <= e.start < until
        )
        last = stop.start
        for day in doses:
            if (day - last).days > gap_days:
                break
            last = max(last, day)
        if last > stop.start:
            dated[id(stop)] = msgspec.structs.replace(stop, end=last)
    return [dated.get(id(e), e) for e in exposures] if dated else exposures


def _without_superseded(exposures: list[Exposure]) -> list[Exposure]:
    """``exposures`` but an ongoing order or statement whose drug's last word is a stop: a record of the same
    drug stopped, on a recorded end date after the ongoing one began, with no record of the drug begun
    after that. A specialty pharmacy's capecitabine statement left "on hold" for a hand-foot syndrome,
    then the patient's "stopped: treatment break" months later, had kept the line on treatment (held-out
    k30). A stop followed by more of the drug (a held cycle, then the next) supersedes nothing."""
    stopped: dict[str, date] = {}
    for e in exposures:
        if e.status == "stopped" and e.end_recorded and e.end is not None and e.source_type not in EVENT_SOURCES:
            stopped[e.agent] = max(stopped.get(e.agent, date.min), e.end)
    if not stopped:
        return exposures
    latest: dict[str, date] = {}
    for e in exposures:
        latest[e.agent] = max(latest.get(e.agent, date.min), e.start)
    return [
        e
        for e in exposures
        if not (e.ongoing and e.agent in stopped and e.start < stopped[e.agent] and latest[e.agent] <= stopped[e.agent])
    ]


def _undated_stop(exposure: Exposure) -> bool:
    """An order or statement stopped with no end date and no dose of its drug to date the stop
    (``_stops_dated_by_doses``): when it stopped is not known, and its first day is not it. An oral
    letrozole order "stopped: progressive disease", written the day maintenance began, had dated the
    progression then, ending the first line ten months early (held-out v30)."""
    return not exposure.end_recorded and exposure.last_day == exposure.start


def _resumes_unknown_use(same_day: list[Exposure], line: TherapyLine) -> bool:
    """Drugs the line holds a statement of, of unknown status and with no end (FHIR "unknown": the state of
    the use is not known, as records converted from another system state every drug): when that use ended
    is not known, so no gap can be measured from it, and taking the same drugs again goes on with the line
    (*convention*). A first line begun in a legacy system and continued after go-live as Phesgo had read as
    two lines (held-out d21)."""
    unknown = {
        e.agent for e in line.exposures if e.status == "unknown" and not e.end_recorded and e.source_type == "MedicationStatement"
    }
    return bool(unknown) and all(exposure.agent in unknown for exposure in same_day)


def _may_have_begun_after(exposure: Exposure, metastatic_date: date) -> bool:
    """Whether a record whose start is written to the month or year only (read as its first day) may have begun on
    or after the metastatic diagnosis, in that month or year, and was itself given on after it: first-line THP
    "since 2022" in a transfer letter, for de novo disease found in March 2022, had read as (neo)adjuvant therapy
    and its patient as an early relapse with two lines (held-out w78)."""
    latest = exposure.start_latest
    return (
        latest is not None
        and exposure.start < metastatic_date <= latest
        and not exposure.curative
        and (exposure.ongoing or exposure.last_day >= metastatic_date)
    )


def _course_spans(courses: list[Exposure], now: date) -> dict[str, list[tuple[date, date]]]:
    """Per agent, the dates each (neo)adjuvant order or statement covers (an ongoing one runs to ``now``)."""
    spans: dict[str, list[tuple[date, date]]] = {}
    for course in courses:
        spans.setdefault(course.agent, []).append((course.start, now if course.ongoing else course.last_day))
    return spans


def _within_course(exposure: Exposure, spans: dict[str, list[tuple[date, date]]]) -> bool:
    """An administration given under a (neo)adjuvant order or statement of the same agent (its dates cover it)."""
    if exposure.source_type not in EVENT_SOURCES:
        return False
    return any(start <= exposure.start <= last for start, last in spans.get(exposure.agent, ()))


class LineOfTherapyRules:
    """The line-of-therapy rules of mappings/lines.yaml, applied to one patient's exposures."""

    def __init__(self, knowledge: Knowledge) -> None:
        rules = knowledge.lines
        self.knowledge = knowledge
        self.window = rules["regimen_window_days"]
        self.gap = rules["gap_days"]
        # (classes, agents, the agents one of which the line must hold) of each maintenance addition
        self.maintenance = [
            (frozenset(item.get("classes", [])), frozenset(item.get("agents", [])), frozenset(item["when_line_has"]))
            for item in rules["maintenance_additions"]
        ]
        relapse = rules["early_relapse"]
        self.relapse_months = int(relapse["months"])
        self.relapse_months_if = dict(relapse.get("months_if_agent", {}))
        self.her2_agents = knowledge.agents_of_class(*relapse["her2_classes"])
        self.stale_order_days = int(rules.get("stale_active_order", {}).get("days", 0)) or None
        self.still_given_days = int(rules["still_given_window"]["days"])

    def _still_given(self, line: TherapyLine | None, now: date) -> frozenset[str]:
        """Agents of an ongoing line given now: those of its ongoing records and the others given now without one
        (``_given_now``), else, with no ongoing record, those infused within the window (lines.yaml)."""
        if line is None or not line.ongoing:
            return frozenset()
        if any(exposure.ongoing for exposure in line.exposures):
            ongoing = {exposure.agent for exposure in line.exposures if exposure.ongoing}
            return frozenset(ongoing | self._given_now(line, now)) if len(ongoing) < len(line.agents) else frozenset(ongoing)
        latest = max(exposure.last_day for exposure in line.exposures)
        return frozenset(e.agent for e in line.exposures if (latest - e.last_day).days <= self.still_given_days)

    def _given_now(self, line: TherapyLine, now: date) -> set[str]:
        """Agents of a line with ongoing records that are given now all the same, with no ongoing record of their
        own: a dose or a supply within the window before today (a dispense reaching today), or a course whose
        recorded end is today or later (held-out n86: capecitabine dispensed through today beside an active
        tucatinib order, its own order counted in the line before, had read as dropped: maintenance). Not one
        whose order or statement ended (stopped, completed) on or after its last dose: paclitaxel last infused
        three weeks ago, its order stopped since for neuropathy, is no longer given (held-out u76)."""
        window = self.still_given_days
        found: dict[str, date] = {}  # agent -> its last dose or supply
        for e in line.exposures:
            if not e.ongoing and (e.last_day >= now or (e.source_type in EVENT_SOURCES and (now - e.last_day).days <= window)):
                found[e.agent] = max(found.get(e.agent, e.last_day), e.last_day)
        if not found:
            return set()
        closed = {
            e.agent
            for e in line.exposures
            if e.agent in found and not e.ongoing and e.source_type not in EVENT_SOURCES and found[e.agent] <= e.last_day < now
        }
        return set(found) - closed

    def _starts_new_line(  # noqa: PLR0913
        self,
        start: date,
        same_day: list[Exposure],
        line: TherapyLine,
        agents: set[str],
        last_activity: date,
        progression: list[date],
    ) -> bool:
        """Rule 1 (the gap) or rule 6 (a drug outside the regimen after the window), for the drugs started on ``start``.

        ``agents`` and ``last_activity`` are the line's, kept up to date by the caller (computing them
        from the exposures at every step made the grouping quadratic in the number of records).
        """
        if (start - last_activity).days > self.gap and not _resumes_unknown_use(same_day, line):
            return True
        return any(
            exposure.agent not in agents and not self._joins_line(exposure, line, agents, progression) for exposure in same_day
        )

    def _joins_line(self, exposure: Exposure, line: TherapyLine, agents: set[str], progression: list[date]) -> bool:
        """Rules 2-5 of docs/clinical-rules.md §4: does this exposure stay in the line? An addition at
        maintenance (rule 4: endocrine therapy, a CDK4/6 inhibitor) is one only before the line progressed:
        fulvestrant begun after HP was stopped for progression is a new line."""
        if exposure.agent in agents:
            return True
        if (exposure.start - line.start).days <= self.window:
            return True
        groups = self.knowledge.substitution_group
        group = groups.get(exposure.agent)
        if group is not None and any(groups.get(a) == group for a in agents):
            after = self.knowledge.substitution_after.get(group)  # lines.yaml substitutions after_stop_for
            if after is None or any(e.stop_reason == after and groups.get(e.agent) == group for e in line.exposures):
                return True
        agent, agent_class = exposure.agent, self.knowledge.agent_class[exposure.agent]
        maintenance = any(
            (agent_class in classes or agent in added) and agents & holders for classes, added, holders in self.maintenance
        )
        return maintenance and not any(line.start < day <= exposure.start for day in progression)

    def history(
        self,
        exposures: list[Exposure],
        disease_statuses: list[DiseaseStatus],
        metastatic_date: date | None,
        now: date,
    ) -> TherapyHistory:
        """Group exposures into lines, mark progression and status, and find early relapse."""
        exposures = _stops_dated_by_doses(exposures, self.gap)
        progression = sorted(
            {status.on for status in disease_statuses if status.status == "worsened"}
            | {e.last_day for e in exposures if e.stop_reason == "progression" and not _undated_stop(e)}
        )
        if metastatic_date is None:
            return TherapyHistory(lines=[], status="naive", progression_dates=tuple(progression))
        begun = self._begun_before_staging(exposures, metastatic_date)
        before = [e for e in exposures if id(e) not in begun] if begun else exposures  # (neo)adjuvant candidates
        courses = [e for e in before if e.start < metastatic_date and e.source_type not in EVENT_SOURCES]
        metastatic = [e for e in exposures if (e.start >= metastatic_date or id(e) in begun) and not e.curative]
        if courses:  # without a (neo)adjuvant course no administration is part of one
            spans = _course_spans(courses, now)
            metastatic = [e for e in metastatic if not _within_course(e, spans)]
        metastatic.sort(key=attrgetter("start", "agent"))
        lines: list[TherapyLine] = []
        agents: set[str] = set()
        last_activity = date.min
        # Drugs started the same day go together: if one of them starts a new line, all of them belong to it
        # (neratinib + capecitabine on one day is NALA, even when capecitabine was in the line before).
        for start, group in itertools.groupby(metastatic, key=attrgetter("start")):
            same_day = list(group)
            if not lines or self._starts_new_line(start, same_day, lines[-1], agents, last_activity, progression):
                lines.append(TherapyLine(number=len(lines) + 1, start=start))
                agents, last_activity = set(), date.min
            lines[-1].exposures.extend(same_day)
            for exposure in same_day:
                agents.add(exposure.agent)
                given = now if exposure.ongoing else exposure.last_day
                if given > last_activity:
                    last_activity = given
        for index, line in enumerate(lines):
            following = lines[index + 1] if index + 1 < len(lines) else None
            self._close(line, following, progression, now)
        status = "naive"
        if lines:
            last = lines[-1]
            status = "progressed" if last.progressed else ("on-treatment" if last.ongoing else "off-treatment")
        early, adjuvant_agents, adjuvant_end = self._early_relapse(before, metastatic_date, now)
        return TherapyHistory(
            lines=lines,
            status=status,
            early_relapse=early,
            adjuvant_agents=adjuvant_agents,
            adjuvant_end=adjuvant_end,
            progression_dates=tuple(progression),
            still_given=self._still_given(lines[-1] if lines else None, now),
        )

    def _close(self, line: TherapyLine, following: TherapyLine | None, progression: list[date], now: date) -> None:
        """Set end, ongoing, progressed and end reason of one line."""
        limit = following.start if following else None
        # A record of the line stopped for progression says so whatever its dates: an order "stopped" with no
        # end date ends, as far as the record shows, on the day it started, which is no day after the start.
        line.progressed = any(line.start < day and (limit is None or day <= limit) for day in progression) or any(
            e.stop_reason == "progression" for e in line.exposures
        )
        if following is not None:
            records = _without_superseded(line.exposures)
            if line.progressed:  # a drug's record left open after a progression carries on only a HER2 drug
                records = [e for e in records if not (e.ongoing and e.agent not in self.her2_agents)] or records
            line.end = min(max(now if e.ongoing else e.last_day for e in records), following.start)
            line.ongoing = False
        else:
            kept = self._running_records(line)
            # A completed order whose supply reaches today (its end, capped at the day of the evaluation, is today)
            # is still taken.
            supplied = any(e.status == "completed" and e.end == now and e.source_type not in EVENT_SOURCES for e in kept)
            line.ongoing = any(e.ongoing for e in kept) or supplied or self._given_lately(line, progression, now)
            # Ended, the line ends on its last record's last day, whichever drug's: letrozole stopped a few days
            # after the antibodies it had joined at maintenance (held-out e54), as a closed line's end reads.
            ended = [e.last_day for e in _without_superseded(line.exposures) if not e.ongoing]
            line.end = None if line.ongoing else max([e.last_day for e in kept if not e.ongoing] + ended)
        if line.end is None:
            return
        records = _doses_and_courses(line.exposures)[1]
        if line.progressed:
            line.end_reason = "progression"
        elif any(e.stop_reason == "toxicity" for e in line.exposures):
            line.end_reason = "toxicity"
        elif records and all(e.status == "completed" for e in _last_given(records)):
            # The courses that ended it, those last given: an IV antibody's order stopped at the switch to Phesgo
            # months before the line's last course was completed says nothing of how the line ended (held-out bb1).
            line.end_reason = "completed"
        else:
            line.end_reason = "unknown"

    def _begun_before_staging(self, exposures: list[Exposure], metastatic_date: date) -> set[int]:
        """The records (their ``id``) of a drug begun at most ``regimen_window_days`` before the metastatic
        diagnosis was recorded and given on after it: the first metastatic line, begun while the staging
        was written up (THP started on clinically obvious de novo disease, the liver metastasis recorded
        three weeks later), not (neo)adjuvant therapy. And a record whose start, written to the month or year only,
        may fall on or after the diagnosis, given on after it (``_may_have_begun_after``). Empty for almost every
        patient."""
        if metastatic_date.toordinal() <= self.window:  # undated metastatic disease (date.min): every therapy counts
            return set()
        window_start = metastatic_date - timedelta(days=self.window)
        early = [e for e in exposures if window_start <= e.start < metastatic_date and not e.curative]
        begun = {id(e) for e in exposures if e.start_latest is not None and _may_have_begun_after(e, metastatic_date)}
        if not early:
            return begun
        given_on = {e.agent for e in exposures if e.start >= metastatic_date or e.ongoing or e.last_day >= metastatic_date}
        return begun | {id(e) for e in early if e.agent in given_on}

    def _running_records(self, line: TherapyLine) -> list[Exposure]:
        """The records that can keep the last line running. After a progression only its HER2-directed
        drugs can: an endocrine or bone drug's order left active (letrozole ordered for years) does not
        carry a failed regimen on, nor does an order of a drug older than that drug's stop for progression
        (an order put on hold in 2025, never closed, after the drug was stopped for progression in 2026)."""
        exposures = _without_superseded(line.exposures)
        her2 = [e for e in exposures if e.agent in self.her2_agents] if line.progressed else []
        if not her2:
            return exposures
        stopped: dict[str, date] = {}
        for e in her2:
            if e.stop_reason == "progression" and e.last_day > stopped.get(e.agent, date.min):
                stopped[e.agent] = e.last_day
        kept = [e for e in her2 if not (e.ongoing and e.agent in stopped and e.start <= stopped[e.agent])]
        return kept or her2

    def _given_lately(self, line: TherapyLine, progression: list[date], now: date) -> bool:
        """A last line of administrations or dispenses (or of orders or statements of one dose each:
        ``_doses_and_courses``) runs while the last is recent (a dispense: the end of its supply) within
        the gap, unless the disease progressed and nothing was given since, or a course of the line was
        recorded as stopped or completed on or after the last day one was given (T-DM1 stopped for
        toxicity after a dose)."""
        events, courses = _doses_and_courses(line.exposures)
        if not events:
            return False
        last_given = max(e.start for e in events)  # the day of the infusion or of the hand-over
        covered_until = max(e.last_day for e in events)
        # After a progression with nothing given since, the line has stopped; unless a supply handed over before it
        # still reaches today (tucatinib and capecitabine dispensed for six weeks, progression three weeks in, no
        # stop recorded: still taken, held-out ae6, whose line had ended "today").
        supplied_now = last_given <= now <= covered_until and last_given < covered_until
        if line.progressed and last_given <= max(progression, default=date.min) and not supplied_now:
            return False
        # An order of one cycle completed on the day its dose was given (a first cycle of an order-per-cycle
        # chart, held-out y46) is that dose's order, not a course ended; nor is a completed order whose supply
        # reaches today (its end is the day of the evaluation: an oral drug's 63 days prescribed two weeks ago,
        # held-out p79 and p75, had ended a line on HP maintenance "completed" today).
        dose_days = {(e.agent, e.start) for e in events}
        stopped_since = any(
            e.status in ("stopped", "completed")
            and e.end is not None
            and e.last_day >= last_given
            and not (e.status == "completed" and e.end == e.start and (e.agent, e.start) in dose_days)
            and not (e.status == "completed" and e.end == now)
            for e in courses
        )
        return (now - covered_until).days <= self.gap and not stopped_since

    def _adjuvant_last_day(self, exposure: Exposure, now: date) -> date:
        """The last day of a (neo)adjuvant exposure; an order left active is bounded (mappings/lines.yaml)."""
        if not exposure.ongoing:
            return exposure.last_day
        if self.stale_order_days is None:
            return now
        return min(now, exposure.start + timedelta(days=self.stale_order_days))

    def _early_relapse(
        self, exposures: list[Exposure], metastatic_date: date, now: date
    ) -> tuple[bool, tuple[str, ...], date | None]:
        """(neo)adjuvant HER2 therapy ended < 6 months (12 with pertuzumab) before metastatic disease."""
        adjuvant = [e for e in exposures if (e.start < metastatic_date or e.curative) and e.agent in self.her2_agents]
        if not adjuvant:
            return False, (), None
        agents = tuple(sorted({e.agent for e in adjuvant}))
        end = max(self._adjuvant_last_day(e, now) for e in adjuvant)
        months = max([self.relapse_months] + [self.relapse_months_if[a] for a in agents if a in self.relapse_months_if])
        return metastatic_date <= add_months(end, months), agents, end
