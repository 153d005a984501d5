"""``CardRenderer``: the cards of one response, in order, pruned as CDS Hooks asks."""

from __future__ import annotations

from typing import Any

from service.engine import Evaluation
from service.knowledge import Knowledge
from service.render.base import FindingWording, RenderContext
from service.render.prune import _built_clean, prune, prune_except
from service.render.summary import SummaryCard

INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}
_BRIEF = 5  # records a data-card line names before it counts the rest
SUMMARY_BUILT_CLEAN = frozenset({"suggestions"})  # summary card keys whose values hold no empty value as built
UNCONFIRMED = "Not counted until confirmed (a provisional, differential, unconfirmed or suspected diagnosis): "
UNIDENTIFIED = "An anticancer drug this service does not know, given since the metastatic diagnosis (its line cannot be told): "
DATED_BY_ASSERTION = "Medication dated by the day it was recorded as taken (no dates of the course given): "
UNDATED_CURRENT = (
    "Medication taken now with no date, read as the line in use since the metastatic diagnosis (its start is unknown): "
)
RE_ENTERED = (
    "Not counted in the lines of therapy, an ended medication dated only by the day it was recorded, its drug given "
    "earlier (a reconciliation): "
)
CARRIED_FORWARD = (
    "Not counted in the lines of therapy, a medication listed as active and dated only by the day it was recorded, "
    "every dated record of its drug ended before (a list carried forward): "
)
OTHER_PRIMARY = (
    "Another primary cancer is recorded; metastases that name neither cancer are read as the breast cancer's,"
    " check their origin: "
)
OTHER_CANCERS_SPREAD = "Read as another primary cancer's, not the breast cancer's (its record, words or staging name it): "
OTHER_CANCER_THERAPY = (
    "Not counted in the lines of therapy, given for another primary cancer or another disease (the record or its order"
    " names it), or endocrine therapy with no ER or PR result ever positive: "
)
OTHER_PATIENT = "Not used, a record of another patient (its subject names another Patient): "
SPREAD_FROM_NAME = "Metastasis or stage IV read from the name of the diagnosis (its code names the breast primary only): "


def _listed_briefly(refs: tuple[str, ...]) -> str:
    """The first few references and how many more: an order per dose would fill the card."""
    shown = ", ".join(refs[:_BRIEF])
    return shown if len(refs) <= _BRIEF else f"{shown} and {len(refs) - _BRIEF} more"


class CardRenderer(SummaryCard):
    """Builds the cards of one response."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.wording = knowledge.wording
        # Agents whose drugs.yaml entry would leave an empty value in a draft order (an empty display, say):
        # only their drafts are pruned where made; every other value of a draft is a non-empty string.
        self.drafts_to_prune = frozenset(
            agent for agent in knowledge.drugs["agents"] if not _built_clean(self._medication_concept(agent))
        )
        # Looked up by every card of every request, and knowledge only: made once (issue 16).
        self.displays = {agent: str(entry["display"]) for agent, entry in knowledge.drugs["agents"].items()}
        self.links = {source_id: self._link_to(source_id) for source_id in knowledge.sources}
        tables, names = knowledge.label_tables, knowledge.wording.findings
        self.findings = {
            "lung": FindingWording(tables.lung, names["lung"]),
            "heart": FindingWording(tables.heart, names["heart"]),
        }
        self.pregnancy_rule = knowledge.label_tables.pregnancy
        self.endocrine_agents = frozenset(knowledge.agents_of_class("endocrine"))
        # The drugs an option's notes can be about: its agents and partner choices (a note on endocrine
        # therapy is about a partner), made once rather than per option of every request.
        self.noted_agents = {
            regimen_id: frozenset({*regimen.agents, *regimen.partner_choices})
            for regimen_id, regimen in knowledge.regimen_models.items()
        }

    @staticmethod
    def _recorded_date_note(evaluation: Evaluation) -> list[str]:
        """The metastatic date is only the day a metastasis was recorded and therapy began before it."""
        extent = evaluation.extent
        since = extent.metastatic_date
        if extent.metastatic_date_recorded_by is None or since is None:
            return []
        if not any(exposure.start < since for exposure in evaluation.record.exposures):
            return []
        return [
            f"Metastasis dated only by the day it was recorded ({since.isoformat()}; no onset): therapy before it is read "
            f"as (neo)adjuvant. Record its onset if it began earlier: {extent.metastatic_date_recorded_by}"
        ]

    @staticmethod
    def _undated_metastasis_note(evaluation: Evaluation) -> list[str]:
        """No record of the metastatic disease gives a date, so every therapy on record was read as a
        metastatic line: (neo)adjuvant therapy is told apart only when its own record says so."""
        undated_by = evaluation.extent.undated_by
        if not undated_by or not evaluation.record.exposures:
            return []
        return [
            f"Metastatic disease that no record dates ({', '.join(undated_by)}): every therapy on record is read as a "
            "metastatic line, (neo)adjuvant therapy only when its own record says so. Record when the metastasis was found."
        ]

    # -- public -------------------------------------------------------------------------------
    def cards(self, evaluation: Evaluation, context: RenderContext) -> list[dict[str, Any]]:
        """Summary card first (it carries the assessment: contract), then alerts critical, warning, info; then data problems."""
        cards = [self.summary_card(evaluation, context)]
        alerts = [self.alert_card(alert, evaluation, context) for alert in self._separate_alerts(evaluation)]
        findings = (self.finding_card(evaluation, context, "lung"), self.finding_card(evaluation, context, "heart"))
        alerts += [card for card in (*findings, self.pregnancy_card(evaluation, context)) if card]
        cards += sorted(alerts, key=lambda card: INDICATOR_RANK[card["indicator"]])
        record = evaluation.record
        used = {f"{ref} (no date)" for ref in evaluation.undated_current}
        problems = list(context.notes) + [f"Skipped unreadable record {ref}" for ref in record.skipped if ref not in used]
        problems += [UNDATED_CURRENT + ref for ref in evaluation.undated_current]
        problems += [OTHER_PATIENT + ref for ref in record.other_patients]
        problems += [f"Read from its text only (no code this service knows): {ref}" for ref in record.read_from_text]
        problems += [f"Result with no date, used while no dated result contradicts it: {ref}" for ref in record.undated]
        problems += [UNCONFIRMED + ref for ref in record.unconfirmed]
        problems += [SPREAD_FROM_NAME + ref for ref in record.spread_from_name]
        problems += [f"{UNIDENTIFIED}{therapy.record} ({therapy.named})" for therapy in evaluation.unidentified_anticancer]
        if evaluation.other_cancer_therapy and evaluation.extent.breast_cancer:
            problems.append(OTHER_CANCER_THERAPY + _listed_briefly(evaluation.other_cancer_therapy))
        problems += [DATED_BY_ASSERTION + ref for ref in record.dated_by_assertion]
        problems += [RE_ENTERED + ref for ref in record.re_entered]
        problems += [CARRIED_FORWARD + ref for ref in record.carried_forward]
        if evaluation.extent.metastatic and evaluation.extent.breast_cancer:
            problems += [OTHER_PRIMARY + ref for ref in record.other_primaries]
        if evaluation.extent.other_cancers:
            problems.append(OTHER_CANCERS_SPREAD + _listed_briefly(evaluation.extent.other_cancers))
        problems += self._recorded_date_note(evaluation)
        problems += self._undated_metastasis_note(evaluation)
        if problems:
            cards.append(self.data_card(problems, context))
        # The summary card's regimen suggestions are built with no empty value (``_regimen_suggestions``):
        # most of the card's objects are in their draft orders, so the walk skips them (issue 16).
        return [prune_except(cards[0], SUMMARY_BUILT_CLEAN), *(prune(card) for card in cards[1:])]
