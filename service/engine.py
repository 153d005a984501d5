"""The pure middle of the pipeline: FHIR resources -> normalise -> infer -> recommend -> assessment.

No Flask and no HTTP here; ``her2-cds evaluate`` and the hook endpoints both call ``Engine.evaluate``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec

from service.domain import DiseaseStatus, Exposure, PatientRecord, UnidentifiedTherapy
from service.infer.disease import DiseaseExtent, disease_extent, sites_new_on_line
from service.infer.lines import LineOfTherapyRules, TherapyHistory, TherapyLine
from service.infer.reasons import other_cancer_records
from service.infer.receptors import ReceptorStatus, current_reports, receptor_status
from service.infer.safety import SafetyFacts, SafetyRules
from service.knowledge import Knowledge
from service.read import Normaliser
from service.recommend import Recommendation, Recommender, alerts_of

_NOT_WORSE = frozenset({"stable", "improved"})  # disease statuses that deny a progression

UNRESOLVED_MEDICATIONS = "Medication"  # in ``Evaluation.incomplete_history``: a referenced Medication was not read
# in ``Evaluation.incomplete_history``: an anticancer drug the service does not know was given since the
# metastatic diagnosis (drugs.yaml unknown_anticancer)
UNIDENTIFIED_ANTICANCER = "anticancer"
# in ``Evaluation.incomplete_history``: a medication record of the history carries a modifierExtension, which
# FHIR forbids a reader that does not understand it to use ("not given", "planned"): what was given is not known
UNUSABLE_MEDICATIONS = "modifierExtension"


@dataclass
class Evaluation:
    """Every conclusion about one patient, ready to render."""

    record: PatientRecord
    extent: DiseaseExtent
    receptors: ReceptorStatus
    history: TherapyHistory
    safety: SafetyFacts
    recommendation: Recommendation
    alerts: list[str]
    now: date
    # Medication prefetch keys that could not be read in full (fault, paging cap, OperationOutcome),
    # and UNRESOLVED_MEDICATIONS when a record's referenced Medication could not be read.
    incomplete_history: tuple[str, ...] = field(default=())
    # medication records of an anticancer drug the service does not know, given since the metastatic diagnosis
    unidentified_anticancer: tuple[UnidentifiedTherapy, ...] = field(default=())
    # (site, first onset) of metastases first recorded during a line with no progression on record
    # (lines.yaml new_site_on_line): read as that line's progression, and named for the clinician
    new_sites: tuple[tuple[str, date], ...] = field(default=())
    # medication records given for another primary cancer (their reason names it): not counted in the lines
    other_cancer_therapy: tuple[str, ...] = field(default=())
    # medication records taken now that no date dates, read as the line in use since the metastatic diagnosis
    # (no dated record made a line): its start is unknown, so the assessment gives no history
    undated_current: tuple[str, ...] = field(default=())

    @property
    def deceased(self) -> bool:
        """The Patient records a death: no treatment is offered."""
        return self.record.deceased

    def assessment(self) -> dict[str, Any]:
        """The contract's assessment object (../shared/contract/assessment.md); absent knowledge omitted."""
        line_of_therapy: dict[str, Any] = {
            "current": self.history.current_number,
            "status": self.history.status,
        }
        if self.extent.metastatic and self.history.early_relapse is not None:
            line_of_therapy["earlyRelapse"] = self.history.early_relapse
        history = []
        for line in self.history.lines:
            entry: dict[str, Any] = {"line": line.number, "agents": line.agents, "start": line.start.isoformat()}
            if line.end is not None:
                entry["end"] = line.end.isoformat()
                entry["endReason"] = line.end_reason or "unknown"
            history.append(entry)
        if history and not self.undated_current:  # a line no record dates has no known start
            line_of_therapy["history"] = history
        assessment: dict[str, Any] = {
            "version": "1",
            "breastCancer": self.extent.breast_cancer,
            "metastatic": self.extent.metastatic,
            "her2": self.receptors.her2,
            "hormoneReceptor": self.receptors.hormone_receptor,
            "lineOfTherapy": line_of_therapy,
        }
        if self.deceased:
            assessment["deceased"] = True
        if self.extent.sites:
            assessment["metastaticSites"] = list(self.extent.sites)
        if self.recommendation.line is not None and self.recommendation.options:
            assessment["recommendedLine"] = self.recommendation.line
            assessment["recommendedRegimens"] = [
                {"id": option.regimen, "preferred": option.preferred} for option in self.recommendation.options
            ]
        if self.alerts:
            assessment["alerts"] = self.alerts
        return assessment


class Engine:
    """Holds the compiled rules; ``evaluate`` is a pure function of its inputs."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.normaliser = Normaliser(knowledge)
        self.line_rules = LineOfTherapyRules(knowledge)
        self.safety_rules = SafetyRules(knowledge)
        self.recommender = Recommender(knowledge)
        self.receptor_rules = knowledge.receptors  # ASCO/CAP tables of mappings/receptors.yaml, typed
        # Prefetch keys whose records make up the medication history (their query searches Medication*);
        # a best-effort key (dispenses) that could not be read is named, but leaves the history trusted.
        best_effort = set(knowledge.services.get("best_effort_prefetch", ()))
        new_site = knowledge.lines.get("new_site_on_line")
        self.new_site_days: int | None = int(new_site["days_after_start"]) if new_site else None
        self.new_site_except = frozenset(new_site.get("except_sites", [])) if new_site else frozenset()
        # a brain metastasis is the line's progression too when none of its drugs was given this many days after it
        stopped_days = new_site.get("except_sites_when_stopped_days") if new_site else None
        self.new_site_stopped_days: int | None = int(stopped_days) if stopped_days else None
        self.staging_days = knowledge.terminology.regional_node_staging_days  # regional nodes of earlier staging
        self.endocrine_agents = knowledge.agents_of_class("endocrine")
        self.medication_keys = frozenset(
            key
            for key, template in knowledge.services["prefetch"].items()
            if template.startswith("Medication") and key not in best_effort
        )

    def evaluate(
        self,
        patient_id: str,
        resources: Iterable[Mapping[str, Any]],
        now: date,
        incomplete_keys: Iterable[str] = (),
    ) -> Evaluation:
        """Run read -> infer -> recommend for one patient.

        ``incomplete_keys``: prefetch keys the gather stage could not read in full. When one of them
        holds medication records, or a medication record references a Medication that was not sent
        and could not be fetched, the line of therapy is not trusted: ``history-incomplete`` is raised
        and no regimen is offered (contract). A deceased patient is offered no treatment.
        """
        record = self.normaliser.patient_record(patient_id, resources, now)
        extent = disease_extent(
            record.conditions, self.staging_days, frozenset(record.other_primary_ids), record.other_primary_spread
        )
        results = current_reports(record.receptors, record.receptor_reports)
        receptors = receptor_status(results, self.receptor_rules, record.receptor_statuses)
        # Stage IV without a date: every exposure is metastatic therapy.
        since = extent.metastatic_date or (date.min if extent.metastatic else None)
        other_cancer = self._not_for_this_cancer(record, receptors)
        exposures = (
            [e for e in record.exposures if f"{e.source_type}/{e.record_id}" not in other_cancer]
            if other_cancer
            else record.exposures
        )
        history = self.line_rules.history(exposures, record.disease_statuses, since, now)
        undated_current: tuple[str, ...] = ()
        if not history.lines and record.undated_ongoing and since not in (None, date.min) and extent.breast_cancer:
            exposures, undated_current = self._with_undated_current(exposures, record, other_cancer, since)
            history = self.line_rules.history(exposures, record.disease_statuses, since, now) if undated_current else history
        new_sites = self._new_sites(record, history, extent.other_cancers, now)
        if new_sites:  # RECIST 1.1: a new lesion is progression (lines.yaml new_site_on_line)
            found = [DiseaseStatus(on=on, status="worsened", record_id=f"new site: {site}") for site, on in new_sites]
            history = self.line_rules.history(exposures, [*record.disease_statuses, *found], since, now)
        if not (extent.metastatic and extent.breast_cancer):
            history = TherapyHistory(lines=[], status="naive", progression_dates=history.progression_dates)
        safety = self.safety_rules.facts(record, extent, history, now)
        recommendation = self.recommender.recommend(extent, receptors, history, safety)
        incomplete = tuple(sorted(key for key in set(incomplete_keys) if key in self.medication_keys))
        if record.unresolved_medications:  # a record of the history names a drug nobody sent
            incomplete = (*incomplete, UNRESOLVED_MEDICATIONS)
        if record.unusable_medications:  # a record of the history carries a modifier extension not understood
            incomplete = (*incomplete, UNUSABLE_MEDICATIONS)
        unidentified = (
            tuple(
                therapy
                for therapy in record.unidentified_anticancer
                if therapy.given_since(since) and therapy.record not in other_cancer
            )
            if since is not None and extent.breast_cancer
            else ()
        )
        if unidentified:  # what line it is cannot be told
            incomplete = (*incomplete, UNIDENTIFIED_ANTICANCER)
        if record.deceased:
            recommendation = Recommendation(in_scope=False, scope_reason="deceased")
            alerts: list[str] = []
        else:
            if incomplete and recommendation.in_scope:
                recommendation = Recommendation(in_scope=False, scope_reason="history-incomplete")
            alerts = alerts_of(self.knowledge, receptors, extent, history, safety, recommendation)
            if incomplete and extent.breast_cancer:
                alerts = sorted({*alerts, "history-incomplete"})
        facts = (record, extent, receptors, history, safety, recommendation, alerts, now, incomplete, unidentified, new_sites)
        return Evaluation(*facts, tuple(sorted(other_cancer)), undated_current)

    def _not_for_this_cancer(self, record: PatientRecord, receptors: ReceptorStatus) -> frozenset[str]:
        """The "Type/id" of the medication records given for another cancer or disease (infer/reasons.py), and
        of endocrine therapy when no ER or PR result was ever positive (``_endocrine_records``)."""
        found = other_cancer_records(
            record.exposures,
            record.unidentified_anticancer,
            record.conditions,
            frozenset(record.other_primary_ids),
            self.knowledge.terminology,
        )
        return found | self._endocrine_records(record.exposures) if receptors.hormone_never_positive else found

    def _endocrine_records(self, exposures: list[Exposure]) -> frozenset[str]:
        """The records of endocrine therapy (drugs.yaml class endocrine), when no ER or PR result was ever
        positive: no therapy of this cancer (endocrine therapy treats hormone-receptor-positive disease,
        clinical.md section 1, rule 4), but ovarian protection during chemotherapy or ovarian stimulation
        before it (held-out b46, b47: goserelin and a leuprolide trigger had joined the lines). An id-less
        record is kept: its key would be every id-less record's of its type."""
        return frozenset(f"{e.source_type}/{e.record_id}" for e in exposures if e.agent in self.endocrine_agents and e.record_id)

    @staticmethod
    def _with_undated_current(
        exposures: list[Exposure], record: PatientRecord, other_cancer: Collection[str], since: date
    ) -> tuple[list[Exposure], tuple[str, ...]]:
        """The medication records taken now (active, on hold) that no date dates, when no dated record makes a
        metastatic line: the line in use, read as given since the metastatic diagnosis (its start unknown, the
        assessment gives no history). A pharmacy's list of "PHESGO: active" with no dates had read as untreated,
        first-line THP offered to a patient on it. Another cancer's and curative therapy stay out."""
        undated = [
            exposure
            for exposure in record.undated_ongoing
            if not exposure.curative and f"{exposure.source_type}/{exposure.record_id}" not in other_cancer
        ]
        placed = [msgspec.structs.replace(exposure, start=since) for exposure in undated]
        return [*exposures, *placed], tuple(sorted({f"{e.source_type}/{e.record_id or '?'}" for e in undated}))

    def _stopped_after(self, line: TherapyLine, on: date, now: date) -> bool:
        """No drug of the current line given on or after ``on`` (none still running), and more than lines.yaml
        new_site_on_line ``except_sites_when_stopped_days`` days gone since: the line did not go on after ``on``."""
        days = self.new_site_stopped_days
        if days is None or (now - on).days <= days:
            return False
        return not any(e.ongoing or e.last_day >= on for e in line.exposures)

    def _new_sites(
        self, record: PatientRecord, history: TherapyHistory, other_cancers: tuple[str, ...] = (), now: date = date.max
    ) -> tuple[tuple[str, date], ...]:
        """Metastases first recorded during a line with no progression on record, more than the window after it
        began (lines.yaml new_site_on_line): a progression of that line on the site's first onset, unless a
        disease status recorded on or after that day, during the line, says the disease is stable or better
        (the clinician read the scan otherwise). A brain metastasis is one only when the line did not go on
        after it (``_stopped_after``)."""
        if self.new_site_days is None or not history.lines:
            return ()
        found: list[tuple[str, date]] = []
        lines = history.lines
        conditions = record.conditions
        if other_cancers:  # another primary's metastases are no new site of this cancer (held-out r47: a melanoma's)
            conditions = [c for c in conditions if f"{c.resource}/{c.record_id or '?'}" not in other_cancers]
        for index, line in enumerate(lines):
            if line.progressed:
                continue
            until = lines[index + 1].start if index + 1 < len(lines) else None
            current = self.new_site_stopped_days is not None and until is None
            except_sites = frozenset() if current else self.new_site_except  # the current line's brain: read below
            sites = [
                (site, on)
                for site, on in sites_new_on_line(conditions, line.start, self.new_site_days, except_sites, until)
                if site not in self.new_site_except or self._stopped_after(line, on, now)
            ]
            for site, on in sites:
                if not any(
                    status.status in _NOT_WORSE and on <= status.on and (until is None or status.on < until)
                    for status in record.disease_statuses
                ):
                    found.append((site, on))
        return tuple(found)
