"""Suggestions: one per orderable regimen, and the draft FHIR resources they create (MedicationRequest, ServiceRequest)."""

from __future__ import annotations

from typing import Any

from service.engine import Evaluation
from service.render.base import RenderContext, RendererBase
from service.render.prune import prune


class RegimenSuggestions(RendererBase):
    """Regimen suggestions of the summary card and the draft orders of every card's suggestions."""

    def _ranked_options(self, evaluation: Evaluation) -> list[Any]:
        """Preferred options first, then the others in guideline order (clinical trial last, as listed)."""
        return sorted(evaluation.recommendation.options, key=lambda option: not option.preferred)

    def _regimen_suggestions(self, evaluation: Evaluation, context: RenderContext) -> list[dict[str, Any]]:
        """One suggestion per orderable regimen: every fixed drug is created; a partner of choice is named, not guessed.

        The card is ``at-most-one``, so only the first preferred regimen is ``isRecommended`` (CDS Hooks 2.0).
        No value here is empty (labels and descriptions are worded around the names, a regimen with no
        agent gets no suggestion, drafts are pruned where needed): ``cards`` does not prune them again.
        """
        suggestions = []
        recommended_given = False
        for option in self._ranked_options(evaluation):
            regimen = self.knowledge.regimen_models[option.regimen]
            if not regimen.agents:
                continue
            group = self.card_uuid(context, f"regimen:{option.regimen}")
            actions = [
                {
                    "type": "create",
                    "description": f"Draft order: {self._display(agent)}",
                    "resource": self.draft_medication_request(agent, option.regimen, group, context.patient_id),
                }
                for agent in regimen.agents
            ]
            label = f"Order {regimen.short}"
            if regimen.partner_choices:
                fixed = " + ".join(self._display(agent) for agent in regimen.agents)
                label = f"Order {fixed}; partner drug: clinician's choice (not ordered here)"
            recommended = option.preferred and not recommended_given
            recommended_given = recommended_given or recommended
            suggestions.append(
                {
                    "label": label,
                    "uuid": self.card_uuid(context, f"suggestion:{option.regimen}"),
                    "isRecommended": recommended,
                    "actions": actions,
                }
            )
        return suggestions

    def draft_medication_request(self, agent: str, regimen_id: str, group: str, patient_id: str) -> dict[str, Any]:
        """A draft MedicationRequest (intent proposal) for one agent of a regimen, RxNorm-coded where known.

        Built with no empty value: the summary card does not prune its suggestions again (``cards``).
        """
        draft = {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": self._medication_concept(agent),
            "groupIdentifier": {"system": "urn:her2-cds:regimen", "value": f"{regimen_id}:{group}"},
            "note": [{"text": f"Part of regimen: {self.knowledge.regimen_models[regimen_id].title}"}],
        }
        return prune(draft) if agent in self.drafts_to_prune else draft

    def _medication_concept(self, agent: str) -> dict[str, Any]:
        """The agent's first RxNorm code and its display (drugs.yaml)."""
        entry = self.knowledge.drugs["agents"][agent]
        codings = [
            {"system": self.knowledge.systems["rxnorm"], "code": code, "display": entry["display"]}
            for code in entry.get("rxnorm", [])[:1]
        ]
        return {"coding": codings, "text": entry["display"]} if codings else {"text": entry["display"]}

    def service_request(self, action: str, patient_id: str, reason: str) -> dict[str, Any]:
        """A draft ServiceRequest (echo, reflex ISH, biopsy, referral) coded per mappings/cards.yaml."""
        coded = self.wording.service_requests[action]
        return {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "subject": {"reference": f"Patient/{patient_id}"},
            "code": {
                "coding": [{"system": self.knowledge.systems[coded.system], "code": coded.code, "display": coded.display}],
                "text": coded.display,
            },
            "reasonCode": [{"text": reason}],
        }
