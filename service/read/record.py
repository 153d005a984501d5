"""One patient's gathered FHIR resources -> a ``PatientRecord`` (the read stage of the pipeline).

Each resource type has its reader module (patient, conditions, observations, medications); this one
sorts the resources by type and hands them over. Nothing here imports from a later stage.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import msgspec

from service.domain import EVENT_SOURCES, Exposure, PatientRecord
from service.knowledge import Knowledge
from service.read.common import JSON_OBJECT, raw_concept_texts, raw_mapping, reference_of, referenced_id
from service.read.conditions import ConditionReader
from service.read.medications import MedicationReader
from service.read.observations import ObservationReader, collection_date, dated_by_specimen
from service.read.patient import read_patient

# Records a modifierExtension makes unusable here; a medication record is judged by its reader (it may name no
# drug of the history), Patient and Medication resources are read as they are.
_MODIFIED_UNUSABLE = frozenset({"Observation", "Condition"})
MEDICATION_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense")
READ_TYPES = ("Patient", "Medication", "Observation", "Condition", "Specimen", *MEDICATION_TYPES)


class Normaliser:
    """Turns the gathered FHIR resources of one patient into a ``PatientRecord``."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.conditions = ConditionReader(knowledge)
        self.observations = ObservationReader(knowledge)
        self.medications = MedicationReader(knowledge)
        # lines.yaml order_first_dose: an order starts on its drug's first dose within this many days.
        self._first_dose_days = timedelta(days=int(knowledge.lines.get("order_first_dose", {}).get("days", 0)))
        self._gap_days = int(knowledge.lines["gap_days"])  # a line's drugs not given this long: the line ended
        # lines.yaml partial_dates: a record's end written to the month only ends on a dose this many days before it
        self._partial_end_days = timedelta(days=int(knowledge.lines.get("partial_dates", {}).get("end_days_before", 0)))

    def patient_record(self, patient_id: str, resources: Iterable[Mapping[str, Any]], now: date) -> PatientRecord:
        """Read every resource the rules need; skip the rest; name the unreadable ones."""
        record = PatientRecord(patient_id=patient_id)
        by_type = _sorted_by_type(resources, patient_id, record)
        for raw in by_type["Patient"]:
            read_patient(raw, patient_id, record)
        medications = self.medications.medications_by_reference(by_type["Medication"])
        medication_resources = {f"Medication/{raw['id']}": raw for raw in by_type["Medication"] if isinstance(raw.get("id"), str)}
        observations = by_type["Observation"]
        if by_type["Specimen"]:
            observations = dated_by_specimen(observations, _collection_dates(by_type["Specimen"]))
        self.observations.read_all(observations, record)
        for raw in by_type["Condition"]:
            self.conditions.read(raw, record)
        for resource_type in MEDICATION_TYPES:
            for raw in by_type[resource_type]:
                self.medications.read(raw, record, medications, now, medication_resources)
        self._ranges_of_sex(record)
        if record.exposures:
            _leave_out_not_begun(record, now, now - self._first_dose_days)
            self._dated_by_each_other(record, by_type, now)
            if record.partially_dated:
                _partial_dates_made_exact(record, self._partial_end_days)
        on_other_organs = (  # another primary, results naming specimens: almost never
            self._results_on_other_organs(record, by_type["Specimen"])
            if record.other_primary_organs and record.observation_specimens
            else set()
        )
        _leave_out_other_cancers_results(record, on_other_organs)
        if record.observation_focus and record.disease_statuses:  # a status whose focus names another condition
            _leave_out_statuses_of_other_conditions(record, by_type["Condition"])
        return record

    def _dated_by_each_other(self, record: PatientRecord, by_type: dict[str, list[Mapping[str, Any]]], now: date) -> None:
        """The medication records' dates as the other records of their drugs tell them: an order begun when
        first given, a supply when its prescription plans, a record no longer given ended, a re-entered one out."""
        doses = by_type["MedicationAdministration"] or by_type["MedicationDispense"]
        if (doses or by_type["MedicationStatement"]) and by_type["MedicationRequest"]:
            if by_type["MedicationDispense"]:
                self._supplies_started_when_planned(record)
            self._orders_started_when_given(record)
        if by_type["MedicationDispense"] and (by_type["MedicationRequest"] or by_type["MedicationStatement"]):
            _supplies_ended_when_stopped(record)
        if doses:  # an order, a statement or an administration in progress may have outlived its drug's doses
            self._records_no_longer_given(record, now)
        _ended_by_a_later_stop(record)
        if record.doses_not_given:
            self._ended_by_doses_not_given(record)
        self._courses_ended_by_their_own_records(record, now)
        if record.dated_by_assertion:
            _leave_out_re_entered(record)

    def _ended_by_doses_not_given(self, record: PatientRecord) -> None:
        """A drug's last record before a dose of it not given for a progression or a toxicity (its status reason),
        at most lines.yaml ``gap_days`` before it and no record of the drug begun since, ends for that reason when
        no reason of its own says why: T-DXd's next dose not given, "adverse reaction to drug", interstitial
        pneumonitis (held-out ae6). A dose not given and the drug given again, or an order of it still active, is a
        delay or a hold within the course (held-out l51, v45: an active order keeps a progressed line open)."""
        for agent, day, why in record.doses_not_given:
            records = [index for index, e in enumerate(record.exposures) if e.agent == agent]
            if any(record.exposures[index].start > day or record.exposures[index].ongoing for index in records):
                continue  # given again, or an order or statement of it still running: a dose delayed or held
            before = [i for i in records if 0 <= (day - record.exposures[i].last_day).days <= self._gap_days]
            if before:
                last = max(before, key=lambda i: record.exposures[i].last_day)
                if record.exposures[last].stop_reason in (None, "other"):
                    record.exposures[last] = msgspec.structs.replace(record.exposures[last], stop_reason=why)

    def _results_on_other_organs(self, record: PatientRecord, specimens: list[Mapping[str, Any]]) -> set[str]:
        """The Observations (ids) on a specimen of another primary cancer's organ (terminology.yaml
        other_primary organs): its Specimen's type and body site name the organ and not the breast (held-out
        a54: a gastric cancer's HER2 3+ on a gastric biopsy, no ``focus``, had been read as the breast's)."""
        terminology = self.conditions.terminology
        organs: dict[str, str | None] = {}
        for specimen in specimens:
            if isinstance(specimen.get("id"), str):
                collection = raw_mapping(specimen.get("collection"))
                texts = raw_concept_texts(specimen.get("type")) + raw_concept_texts(collection.get("bodySite"))
                organs[f"Specimen/{specimen['id']}"] = terminology.organ_in_words(texts)
        return {
            record_id
            for record_id, named in record.observation_specimens.items()
            if organs.get(named) in record.other_primary_organs and record_id not in record.observation_focus
        }

    def _orders_started_when_given(self, record: PatientRecord) -> None:
        """Start each order on its drug's first administration or dispense, or the start a statement gives it,
        within lines.yaml ``order_first_dose`` days of the order's own date (written or planned), when that
        came later: the drug was started when given, not when the order was written."""
        window = self._first_dose_days
        given: dict[str, list[date]] = {}
        asserted = {reference.partition("/")[2] for reference in record.dated_by_assertion}
        for exposure in record.exposures:
            # A statement's own start is when the drug was begun (a cancer agency's treatment summary, held-out
            # e62); one dated only by when it was asserted, or only to the month ("2026-01"), says nothing of that day.
            if exposure.source_type in EVENT_SOURCES or (
                exposure.source_type == "MedicationStatement"
                and exposure.record_id not in asserted
                and not record.partially_dated.get(f"MedicationStatement/{exposure.record_id}", ("",))[0]
            ):
                given.setdefault(exposure.agent, []).append(exposure.start)
        for index, exposure in enumerate(record.exposures):
            doses = given.get(exposure.agent) if exposure.source_type == "MedicationRequest" else None
            first = (
                min((day for day in doses if exposure.start < day <= exposure.start + window), default=None) if doses else None
            )
            if first is not None:
                end = max(exposure.end, first) if exposure.end is not None else None
                record.exposures[index] = msgspec.structs.replace(exposure, start=first, end=end)

    def _supplies_started_when_planned(self, record: PatientRecord) -> None:
        """Start a dispense handed over before the first day its prescription plans (``authorizingPrescription``),
        at most lines.yaml ``order_first_dose`` days before it, on that day: a specialty pharmacy's tucatinib
        handed over the day before cycle 1 was begun on day 1 (held-out b56). Each drug of an order of several (a
        ribociclib and letrozole co-pack) by its own plan: held-out z99's letrozole had begun on the day handed over."""
        planned = {
            (f"MedicationRequest/{e.record_id}", e.agent): e.start
            for e in record.exposures
            if e.source_type == "MedicationRequest" and e.record_id
        }
        window = self._first_dose_days
        for index, exposure in enumerate(record.exposures):
            if exposure.source_type != "MedicationDispense":
                continue
            begins = next((planned[key] for r in exposure.reasons if (key := (r, exposure.agent)) in planned), None)
            if begins is not None and exposure.start < begins <= exposure.start + window:
                end = max(exposure.end, begins) if exposure.end is not None else None
                record.exposures[index] = msgspec.structs.replace(exposure, start=begins, end=end)

    def _records_no_longer_given(self, record: PatientRecord, now: date) -> None:
        """End an order or statement still active (or on hold) on its drug's last dose when doses of it are
        recorded after the record began and none in lines.yaml ``gap_days`` before today: an order no one
        carries out any more (an Epic therapy plan never discontinued, its last infusion 14 months ago), or
        another system's list still saying "Enhertu: active" six months after the last infusion, is not
        ongoing therapy; nor is an administration left "in-progress" that later doses of its drug followed.
        A record no dose follows keeps its own reading (an active signed order begins a line)."""
        running = [index for index, exposure in enumerate(record.exposures) if exposure.ongoing]
        if not running:  # a chart of administrations alone, all given: nothing to end (ex3)
            return
        given: dict[str, list[date]] = {}
        for exposure in record.exposures:
            if exposure.source_type in EVENT_SOURCES and not exposure.ongoing:
                given.setdefault(exposure.agent, []).append(exposure.end or exposure.start)
        never_given: set[int] = set()
        gap = self._gap_days
        for index in running:  # a course, or an administration in progress
            exposure = record.exposures[index]
            days = given.get(exposure.agent)
            if not days:
                continue
            last = max(days)
            if exposure.start <= last and (now - last).days > gap:
                record.exposures[index] = msgspec.structs.replace(exposure, end=last, ongoing=False)
            elif exposure.start <= last and (course_end := _superseded_course_end(record, exposure, days, gap)):
                record.exposures[index] = msgspec.structs.replace(exposure, end=course_end, ongoing=False)
            elif (
                exposure.source_type == "MedicationRequest"
                and 0 < (exposure.start - last).days <= gap < (now - exposure.start).days
            ):
                # The next cycle's order, written within the gap after its drug's last dose and not given in the gap
                # since: never begun (Cerner's T-DM1 cycle 10 left active after a progression had kept that line open
                # until the next one began: held-out o46). An order written long after the last dose is a new course
                # whose doses may be recorded elsewhere: it keeps its reading.
                never_given.add(index)
        if never_given:
            record.exposures = [e for index, e in enumerate(record.exposures) if index not in never_given]

    def _courses_ended_by_their_own_records(self, record: PatientRecord, now: date) -> None:
        """End an order or statement still running on the day another record of its drug, begun with it (within
        lines.yaml ``order_first_dose`` days), says that course ended, when the drug then paused longer than the gap
        and a record of its own began it again: an outside list imported as "Herceptin, Perjeta: active since
        2021-02-08" had bridged the chart's planned 15-month break (orders of 2021 stopped 2024-05-13, the drugs
        ordered again 2025-08-11) and made one line of two (held-out r67)."""
        running = [index for index, e in enumerate(record.exposures) if e.ongoing and e.source_type not in EVENT_SOURCES]
        if not running:
            return
        window, gap = self._first_dose_days, self._gap_days
        for index in running:
            exposure = record.exposures[index]
            others = [e for e in record.exposures if e.agent == exposure.agent and e is not exposure]
            ends = [
                e.end
                for e in others
                if not e.ongoing
                and e.end is not None
                and e.end_recorded
                and e.source_type not in EVENT_SOURCES
                and abs((e.start - exposure.start).days) <= window.days
            ]
            course_end = max(ends, default=None)
            if course_end is None or course_end <= exposure.start:
                continue
            running_over = any(e.start <= course_end < (now if e.ongoing else e.last_day) for e in others)
            later = [e for e in others if e.start > course_end]
            if (
                not running_over
                and later
                and (min(e.start for e in later) - course_end).days > gap
                and any(e.source_type not in EVENT_SOURCES for e in later)
            ):
                record.exposures[index] = msgspec.structs.replace(exposure, end=course_end, ongoing=False)

    def _ranges_of_sex(self, record: PatientRecord) -> None:
        """Give each lab whose reference ranges differ by sex the range of the patient's sex (terminology.yaml
        reference_range_sex), chosen once the whole record is read: a bundle may hold the Patient last.
        A patient whose sex is not known keeps the first range. Most records have no such lab: one test."""
        if not record.sex_specific_labs or record.gender is None:
            return
        sex = self.knowledge.terminology.sex_by_gender.get(record.gender)
        if sex is None:
            return
        chosen = {
            id(lab): msgspec.structs.replace(lab, reference_low=low, reference_high=high)
            for lab in record.sex_specific_labs
            for named, low, high in lab.by_sex
            if named == sex
        }
        record.labs = [chosen.get(id(lab), lab) for lab in record.labs]

    def medications_by_reference(self, resources: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
        """``Medication/id`` -> agents for the Medication resources among ``resources``."""
        return self.medications.medications_by_reference(
            [r for r in resources if isinstance(r, JSON_OBJECT) and r.get("resourceType") == "Medication"]
        )

    def agents_of_record(self, raw: Mapping[str, Any], medications: Mapping[str, set[str]]) -> set[str]:
        """The canonical agents a medication record or a draft order names."""
        return self.medications.agents_of_record(raw, medications)

    def premedication_of(self, raw: Mapping[str, Any]) -> str | None:
        """The premedication (safety.yaml premedication: "loperamide") a draft order names, if any."""
        return self.medications.premedication_of(raw, {})


def _leave_out_re_entered(record: PatientRecord) -> None:
    """Leave out the exposures of a MedicationStatement that ended (not active or on hold) and is dated only by
    its ``dateAsserted``, when a dated record gave the same drug on or before that day: a reconciliation
    re-entering past drugs (Taxotere, Herceptin, Perjeta "completed", asserted today) says nothing of when
    they were given, and had opened a new line on the day of the reconciliation. A drug no dated record
    gives keeps the assertion's date (it is the only trace of that therapy)."""
    asserted = {reference.partition("/")[2] for reference in record.dated_by_assertion}

    def by_assertion(exposure: Exposure) -> bool:
        return exposure.source_type == "MedicationStatement" and exposure.record_id in asserted

    first_dated: dict[str, date] = {}
    last_dated: dict[str, date] = {}  # the last day of each drug's dated records; date.max while one is running
    for exposure in record.exposures:
        if not by_assertion(exposure):
            first_dated[exposure.agent] = min(exposure.start, first_dated.get(exposure.agent, date.max))
            last = date.max if exposure.ongoing else exposure.last_day
            last_dated[exposure.agent] = max(last, last_dated.get(exposure.agent, date.min))
    left_out = [
        exposure
        for exposure in record.exposures
        if by_assertion(exposure) and not exposure.ongoing and first_dated.get(exposure.agent, date.max) <= exposure.start
    ]
    # Still listed as active, every dated record of its drug ended before the list was made: a list carried forward
    # (a GP's shared health summary listing "Herceptin" and "Letrozole" years after both courses were completed,
    # held-out r72, had begun a line of them on the day of the summary).
    carried = [
        exposure
        for exposure in record.exposures
        if by_assertion(exposure) and exposure.ongoing and last_dated.get(exposure.agent, date.max) < exposure.start
    ]
    if not left_out and not carried:
        return
    record.exposures = [exposure for exposure in record.exposures if exposure not in left_out and exposure not in carried]
    kept = {exposure.record_id for exposure in record.exposures if by_assertion(exposure)}
    gone = sorted({f"MedicationStatement/{exposure.record_id or '?'}" for exposure in left_out if exposure.record_id not in kept})
    forward = sorted(
        {f"MedicationStatement/{exposure.record_id or '?'}" for exposure in carried if exposure.record_id not in kept}
    )
    record.re_entered += gone
    record.carried_forward += forward
    record.dated_by_assertion = [reference for reference in record.dated_by_assertion if reference not in gone + forward]


_STOPPED_FOR = frozenset({"toxicity", "progression"})


def _ended_by_a_later_stop(record: PatientRecord) -> None:
    """End an order or statement still running when a record of its drug begun after it says the drug was stopped
    for toxicity or progression: on the drug's last day given since the running record began. An outside
    hospital's list imported as "Enhertu: active" (not reconciled) had kept T-DXd running after the chart's own
    order was stopped for grade 2 pneumonitis and its last infusion given (held-out m57): the line was on treatment
    and no next line was offered. A record of the drug begun after the stop keeps its own reading."""
    stops: dict[str, list[date]] = {}
    for exposure in record.exposures:
        if exposure.stop_reason in _STOPPED_FOR and not exposure.ongoing and exposure.source_type not in EVENT_SOURCES:
            stops.setdefault(exposure.agent, []).append(exposure.start)
    if not stops:
        return
    for index, exposure in enumerate(record.exposures):
        later = stops.get(exposure.agent) if exposure.ongoing and exposure.source_type not in EVENT_SOURCES else None
        if later and max(later) > exposure.start:
            given = [
                e.last_day
                for e in record.exposures
                if e.agent == exposure.agent and not e.ongoing and e.last_day >= exposure.start
            ]
            record.exposures[index] = msgspec.structs.replace(exposure, end=max(given, default=exposure.start), ongoing=False)


def _partial_dates_made_exact(record: PatientRecord, end_days: timedelta) -> None:
    """Date a medication record written to the month or year only ("2026-01", read as its first day) by the records of
    its drug written to the day (lines.yaml partial_dates): its start by the first of them that begins inside that
    month or year, its end by the last dose of them inside it or up to ``end_days`` before it. A patient's own list
    saying "Herceptin, Perjeta, Taxotere since 2026-01" had begun the line on 1 January, four days before the chart's
    first infusion (held-out s53), and a T-DXd "since 2025-10" before the progression of 8 October that ended the
    line before it, so that T-DXd read as progressed (s55). A record begun after the course's own end, written to the
    day, does not date its start. With no such record the first day stands, and the start's last possible day is
    kept beside it (``Exposure.start_latest``)."""
    exact: dict[str, list[Exposure]] = {}
    for exposure in record.exposures:
        if f"{exposure.source_type}/{exposure.record_id}" not in record.partially_dated:
            exact.setdefault(exposure.agent, []).append(exposure)
    for index, exposure in enumerate(record.exposures):
        precision = record.partially_dated.get(f"{exposure.source_type}/{exposure.record_id}")
        if precision is None:
            continue
        others = exact.get(exposure.agent, [])
        start, end, start_latest = exposure.start, exposure.end, None
        if precision[0]:
            last = _last_day_of(start, precision[0])
            if end is not None and not precision[1]:  # no record begun after the course's own end begins it
                last = min(last, end)
            dated = [other.start for other in others if start <= other.start <= last]
            start, start_latest = (min(dated), None) if dated else (start, last)
        if precision[1] and end is not None:
            last = _last_day_of(end, precision[1])
            days = [other.last_day for other in others if not other.ongoing and end - end_days <= other.last_day <= last]
            end = max(days, default=end)
        end = max(end, start) if end is not None else None
        if (start, end, start_latest) != (exposure.start, exposure.end, exposure.start_latest):
            record.exposures[index] = msgspec.structs.replace(exposure, start=start, end=end, start_latest=start_latest)


def _last_day_of(first: date, precision: str) -> date:
    """The last day of the month (or year) a partial date names by its first day."""
    if precision == "year":
        return date(first.year, 12, 31)
    return date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])


def _superseded_course_end(record: PatientRecord, exposure: Exposure, days: list[date], gap: int) -> date | None:
    """The last dose of the course a record still running ordered, when its drug's doses paused longer than the
    gap after it and a record of its own began the drug's later course (a trastuzumab order of 2024 left active,
    trastuzumab ordered again with tucatinib in 2025: held-out s47); None otherwise. With no later record the
    order carries the later doses too (a chart recording a course's first and last infusions only: held-out c13)."""
    course_end = _course_end(days, exposure.start, gap)
    if course_end >= max(days):
        return None
    later = any(
        e.agent == exposure.agent and e.source_type not in EVENT_SOURCES and e.start > course_end for e in record.exposures
    )
    return course_end if later else None


def _course_end(days: list[date], start: date, gap: int) -> date:
    """The last dose of the course a record begun on ``start`` ordered: its drug's doses from ``start`` on, up to
    the first pause longer than ``gap`` days (``days``: the drug's dose days; one is on or after ``start``)."""
    end = None
    for day in sorted(days):
        if day < start:
            continue
        if end is not None and (day - end).days > gap:
            break
        end = day
    return end if end is not None else start


def _supplies_ended_when_stopped(record: PatientRecord) -> None:
    """End a dispense's supply on the day an order or statement of its drug says the drug was stopped, when
    that came before the supply ran out: tucatinib stopped for progression on 2026-05-20, its last fill's
    thirty days running to today, had ended the line today (held-out n66)."""
    stops: dict[str, list[date]] = {}
    for e in record.exposures:
        if e.status == "stopped" and e.end is not None and e.end_recorded and e.source_type != "MedicationDispense":
            stops.setdefault(e.agent, []).append(e.end)
    if not stops:
        return
    for index, exposure in enumerate(record.exposures):
        days = stops.get(exposure.agent) if exposure.source_type == "MedicationDispense" else None
        end = exposure.end
        stop = min((day for day in days if end is not None and exposure.start <= day < end), default=None) if days else None
        if stop is not None:
            record.exposures[index] = msgspec.structs.replace(exposure, end=stop)


def _collection_dates(specimens: list[Mapping[str, Any]]) -> dict[str, date]:
    """Specimen id -> when it was collected, of the Specimens that say (a search ``_include``s them)."""
    dates = {raw.get("id"): collection_date(raw) for raw in specimens}
    return {key: on for key, on in dates.items() if isinstance(key, str) and on is not None}


def _leave_out_not_begun(record: PatientRecord, now: date, recent: date) -> None:
    """Leave out the medication records of a therapy not begun: an order, or a record of a drug given now (an
    administration in progress, an active statement), whose first day is after today (a first cycle next week:
    held-out i34, T-DXd ordered after a progression and not yet given, had made the current line a second one on
    treatment; v42, a T-DXd administration scheduled so), and an order on hold whose drug no other record gives
    (a first cycle held before it was given: held-out i40, every drug of cycle 1 not given for a raised
    bilirubin, had made an untreated patient's first line), begun since ``recent`` (lines.yaml order_first_dose
    days ago), with nothing given since it began in a chart that records doses, or saying it was never given
    (held-out m86), or of a drug a dose of which is recorded as not done (held-out aj2: cycle 1 not given, the
    patient admitted). An order put on hold after its drug was given stays, and so does one begun longer ago, its
    doses not recorded (a chart of orders alone): a hold within a line. And an order stopped or completed for a drug a
    statement says was not taken, no dose of it on record (held-out v38: palbociclib denied by the payer)."""
    planned = [
        e
        for e in record.exposures
        if e.start > now and (e.source_type == "MedicationRequest" or e.ongoing or e.status == "in-progress")
    ]
    held_lately = [
        e
        for e in record.exposures
        if e.status == "on-hold"
        and e.source_type == "MedicationRequest"
        and (
            e.start >= recent
            or _nothing_given_since(record, e)
            or e.record_id in record.orders_not_given
            or e.agent in record.agents_not_done
        )
    ]
    # An order stopped or completed for a drug a statement says was not taken, no dose of it on record.
    refused = record.not_taken - {e.agent for e in record.exposures if e.source_type != "MedicationRequest"}
    unbegun = [e for e in record.exposures if e.agent in refused and e.source_type == "MedicationRequest" and not e.ongoing]
    held = {e.agent for e in held_lately}
    held_ids = {id(e) for e in held_lately}
    given = {e.agent for e in record.exposures if id(e) not in held_ids} if held else set()
    withdrawn = _supplied_under_cancelled_orders(record) if record.orders_cancelled else []
    if held - given or planned or unbegun or withdrawn:
        left_out = {id(e) for e in planned + unbegun + withdrawn}
        record.exposures = [e for e in record.exposures if id(e) not in left_out and (e.agent not in held or e.agent in given)]


def _supplied_under_cancelled_orders(record: PatientRecord) -> list[Exposure]:
    """The supplies handed over under a cancelled order (FHIR: withdrawn before any administration occurred),
    each its order's only supply, no dose of its drug given on or after it: a vial sent to the day unit for a
    cycle then postponed (held-out aa4). A series of supplies under one order is a course, whatever its status."""
    supplies: dict[str, list[Exposure]] = {}
    for exposure in record.exposures:
        if exposure.source_type == "MedicationDispense":
            for reference in exposure.reasons:
                if reference in record.orders_cancelled:
                    supplies.setdefault(reference, []).append(exposure)
    given = [e for e in record.exposures if e.source_type == "MedicationAdministration"]
    found = []
    for under_one in supplies.values():
        if len({e.start for e in under_one}) == 1:
            found += [e for e in under_one if not any(g.agent == e.agent and g.start >= e.start for g in given)]
    return found


def _nothing_given_since(record: PatientRecord, order: Exposure) -> bool:
    """Whether a chart that records doses (administrations, dispenses) records none on or after an order's first
    day: an order on hold begun longer ago than the first-dose window, nothing given since it was written, is a
    course waiting to begin (held-out e82: T-DXd ordered after a progression and held for a court order for six
    weeks, "not yet given", had made a second line on treatment). A chart of orders alone keeps its reading."""
    doses = [e.last_day for e in record.exposures if e.source_type in EVENT_SOURCES and not e.ongoing]
    return bool(doses) and max(doses) < order.start


def _sorted_by_type(
    resources: Iterable[Mapping[str, Any]], patient_id: str, record: PatientRecord
) -> dict[str, list[Mapping[str, Any]]]:
    """The resources of each type a reader reads (Encounter, Procedure... are dropped), this patient's only."""
    by_type: dict[str, list[Mapping[str, Any]]] = {resource_type: [] for resource_type in READ_TYPES}
    own = f"Patient/{patient_id}"
    doubtful: list[tuple[str, Mapping[str, Any]]] = []  # another Patient's id, or the patient named by identifier
    for resource in resources:
        resource_type = resource.get("resourceType") if isinstance(resource, JSON_OBJECT) else None
        if isinstance(resource_type, str) and resource_type in by_type:
            if "modifierExtension" in resource and resource["modifierExtension"] and resource_type in _MODIFIED_UNUSABLE:
                # FHIR: a modifier extension the reader does not understand makes the record unusable
                record.skipped.append(f"{reference_of(resource)} (a modifier extension this service does not understand)")
                continue
            if "subject" in resource:  # the usual case, "Patient/<id>" of this patient, costs no call (issue 16)
                subject = resource["subject"]
                try:
                    reference = subject["reference"]
                except (TypeError, KeyError, IndexError):  # not a JSON object, or no reference
                    reference = None
                if reference != own and (another_patient(subject, patient_id) or named_by_identifier(subject)):
                    doubtful.append((resource_type, resource))
                    continue
            by_type[resource_type].append(resource)
    if doubtful:
        _sort_doubtful(doubtful, by_type, patient_id, record)
    return by_type


def named_by_identifier(subject: Any) -> bool:
    """Whether a record's ``subject`` names its patient by a logical identifier alone (no reference)."""
    return isinstance(subject, JSON_OBJECT) and "reference" not in subject and isinstance(subject.get("identifier"), JSON_OBJECT)


def _identifier(node: Any) -> tuple[str, str] | None:
    """(system, value) of an Identifier, None unless both are strings."""
    if not isinstance(node, JSON_OBJECT):
        return None
    system, value = node.get("system"), node.get("value")
    return (system, value) if isinstance(system, str) and isinstance(value, str) else None


def _sort_doubtful(
    doubtful: list[tuple[str, Mapping[str, Any]]],
    by_type: dict[str, list[Mapping[str, Any]]],
    patient_id: str,
    record: PatientRecord,
) -> None:
    """Keep the records that name this patient after all, name the others as another patient's.

    A merged record is this patient's: FHIR Patient.link says so, "replaces" on this Patient naming the
    old one, or "replaced-by" on the old Patient naming this one (records still filed under the old id).
    A record naming its patient by identifier alone is this patient's when the identifier is one of this
    Patient's, another patient's when it has a system this Patient has an identifier of but another value
    (another medical record number), and kept when nothing tells.
    """
    own_ids = {patient_id}
    identifiers: set[tuple[str, str]] = set()
    for patient in by_type["Patient"]:
        links = patient.get("link")
        for link in links if isinstance(links, list) else ():
            if not isinstance(link, JSON_OBJECT):  # a wrong JSON type says nothing
                continue
            other = referenced_id(link.get("other"), "Patient")
            if patient.get("id") == patient_id and link.get("type") == "replaces" and other:
                own_ids.add(other)
            elif other == patient_id and link.get("type") == "replaced-by" and isinstance(patient.get("id"), str):
                own_ids.add(patient["id"])
        if patient.get("id") == patient_id:
            found = patient.get("identifier")
            identifiers |= {pair for pair in map(_identifier, found if isinstance(found, list) else ()) if pair}
    systems = {system for system, _value in identifiers}
    for resource_type, resource in doubtful:
        subject = resource["subject"]
        named = referenced_id(subject, "Patient")
        if named is not None:
            mine = named in own_ids
        else:
            pair = _identifier(subject.get("identifier"))
            mine = pair is None or pair in identifiers or pair[0] not in systems
        if mine:
            by_type[resource_type].append(resource)
        else:
            record.other_patients.append(reference_of(resource))


def another_patient(subject: Any, patient_id: str) -> bool:
    """Whether a record's ``subject`` names a Patient other than ``patient_id``. A reference that names no
    Patient id (a bundle-local urn:uuid, an identifier, a display) cannot say, and keeps the record: a
    prefetch or a patient's export holds that patient's records."""
    named = referenced_id(subject, "Patient")
    return named is not None and named != patient_id


def _leave_out_statuses_of_other_conditions(record: PatientRecord, conditions: list[Mapping[str, Any]]) -> None:
    """Leave out a disease status whose ``focus`` names a Condition on record that the rules read as no breast
    cancer, its history, staging or metastasis: a benign meningioma's growth ("worsened", held-out bu4) had ended a
    breast cancer's first line for progression. A focus on a Condition not sent says nothing: the status is kept."""
    present = {f"Condition/{raw['id']}" for raw in conditions if isinstance(raw.get("id"), str)}
    breast = {f"Condition/{found.record_id}" for found in record.conditions if found.resource == "Condition"}
    breast |= {named.split(" ", 1)[0] for named in record.unconfirmed}  # provisional: perhaps the breast cancer's
    elsewhere = {rid for rid, condition in record.observation_focus.items() if condition in present and condition not in breast}
    if elsewhere:
        record.disease_statuses = [status for status in record.disease_statuses if status.record_id not in elsewhere]


def _leave_out_other_cancers_results(record: PatientRecord, on_other_organs: set[str]) -> None:
    """Leave out the results an Observation's ``focus`` says are another primary cancer's (terminology.yaml
    other_primary): its staging (a gastro-oesophageal cancer's "cM0" had ended a breast cancer's bone
    metastases, held-out a59), its disease status and its receptor results (a gastric cancer's HER2 3+); and
    those ``on_other_organs`` (``_results_on_other_organs``: a specimen of that cancer's organ)."""
    if not ((record.observation_focus and record.other_primary_ids) or on_other_organs):  # almost every record
        return
    other = {rid for rid, condition in record.observation_focus.items() if condition in record.other_primary_ids}
    other |= on_other_organs
    if not other:
        return
    record.conditions = [c for c in record.conditions if not (c.resource == "Observation" and c.record_id in other)]
    record.disease_statuses = [s for s in record.disease_statuses if s.record_id not in other]
    record.receptors = [r for r in record.receptors if r.record_id not in other]
