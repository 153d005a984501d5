"""The summary card: what the service advises, the patient facts and options it rests on, and the assessment."""

from __future__ import annotations

from typing import Any

from service.engine import Evaluation
from service.knowledge.cards import SUMMARY_TOPIC
from service.recommend import Recommendation
from service.render.alerts import AlertCards
from service.render.base import RenderContext
from service.render.text import clip, ordinal

ASSESSMENT_KEY = "her2-cds-assessment"


class SummaryCard(AlertCards):
    """The first card of a patient-view response: summary, detail, regimen suggestions, links and ``extension``."""

    def _alerts_on_summary(self, evaluation: Evaluation) -> list[str]:
        """The detail of each alert folded into the summary card."""
        shown = set(self._separate_alerts(evaluation))
        texts = []
        for alert in evaluation.alerts:
            spec = self.wording.alerts[alert]
            if alert not in shown and spec.detail:
                texts.append(spec.detail.format(**self._alert_values(self._alert(alert, evaluation))))
        return texts

    def summary_card(self, evaluation: Evaluation, context: RenderContext) -> dict[str, Any]:
        recommendation = evaluation.recommendation
        guideline = self.wording.summary_source(recommendation.in_scope)
        card: dict[str, Any] = {
            "uuid": self.card_uuid(context, "summary"),
            "summary": clip(self._summary_text(evaluation)),
            "indicator": "info",
            "detail": self._summary_detail(evaluation),
            "source": self.source_of(guideline, SUMMARY_TOPIC, context),
            "extension": {ASSESSMENT_KEY: evaluation.assessment()},
        }
        suggestions = self._regimen_suggestions(evaluation, context)
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        preferred = next((o for o in recommendation.options if o.preferred), None)
        links = [self.source_link(guideline)]
        if preferred is not None:
            links += self.label_links(self.knowledge.regimen_models[preferred.regimen].agents)
        for option in recommendation.options:
            regimen = self.knowledge.regimen_models[option.regimen]
            links.append(self.source_link(option.source))
            if regimen.evidence_url:
                links.append({"label": regimen.evidence.split(":")[0][:80], "url": regimen.evidence_url, "type": "absolute"})
        if any(option.regimen == "clinical-trial" for option in recommendation.options):
            links.append(self.trial_search_link(evaluation))
        card["links"] = self._unique_links(links)
        return card

    def _summary_text(self, evaluation: Evaluation) -> str:
        templates = self.wording.summary
        recommendation = evaluation.recommendation
        history = evaluation.history
        if not recommendation.in_scope:
            return templates[recommendation.scope_reason]
        preferred = next((o for o in recommendation.options if o.preferred), None)
        preferred_title = self.knowledge.regimen_models[preferred.regimen].short if preferred else ""
        current = history.current
        regimen_now = self.agents_text(current.agents) if current else ""
        alternative = next((o for o in recommendation.options if not o.preferred and o.regimen != "clinical-trial"), None)
        if recommendation.kind == "first-line":
            key = "first-line" if preferred else "next-line-no-preferred"
            choice = alternative and self.knowledge.regimen_models[alternative.regimen].choice_note
            if preferred and choice and not evaluation.safety.visceral_crisis:  # in a crisis the choice is chemotherapy
                key = "first-line-choice"
        elif recommendation.kind == "early-relapse":
            key = "early-relapse"
        elif recommendation.kind == "maintenance":
            key = "maintenance" if preferred else "maintenance-evidence"
            regimen_now = self.agents_text(recommendation.maintained_agents)
        elif recommendation.kind == "next-line":
            if not preferred:
                key = "next-line-no-preferred"
            else:
                key = "next-line-progressed" if history.status == "progressed" else "next-line-stopped"
        else:
            key = "on-treatment"
        months = recommendation.relapse_months or 0
        lead = f"Progressed on line {history.current_number}" if history.status == "progressed" else "No preferred option"
        return templates[key].format(
            alternative=self.knowledge.regimen_models[alternative.regimen].short if alternative else "",
            preferred=preferred_title or "see options",
            regimen=regimen_now,
            ordinal=ordinal(recommendation.line or max(history.current_number, 1)),
            current=history.current_number,
            reason=(current.end_reason if current and current.end_reason else "unknown reason"),
            months=months,
            lead=lead,
        )

    def _hit_words(self, hit: Any) -> str:
        """A label rule met, in a few words (the alert card below gives the label's full text)."""
        if hit.kind == "hepatic":
            return f"liver tests ({hit.grade}), {hit.effect} (label {hit.section})"
        display = self.displays[hit.agent]
        return f"ejection fraction meets the {display} hold rule (label)"

    def _summary_detail(self, evaluation: Evaluation) -> str:
        parts = ["**Patient facts**", "", *self._facts(evaluation, self.wording.facts)]
        recommendation = evaluation.recommendation
        if not recommendation.in_scope:
            parts += ["", self.wording.scope_detail[recommendation.scope_reason]]
        elif recommendation.options:
            parts += [text for folded in self._alerts_on_summary(evaluation) for text in ("", folded)]
            parts += ["", f"**Options for line {recommendation.line}**{self._read_as(recommendation)}, preferred first", ""]
            notes = self._option_notes(evaluation)
            for index, option in enumerate(self._ranked_options(evaluation), 1):
                parts += self._option_lines(index, option)
                agents = self.noted_agents[option.regimen]
                parts += [note for rule_agents, note in notes if not rule_agents.isdisjoint(agents)]
        else:
            parts += ["", "No change of line is advised while the current line works; the cards below list safety checks."]
            parts += self._trial_additions_note(recommendation)
        if recommendation.in_scope:
            parts += self._new_site_note(evaluation)
        for withheld in recommendation.withheld:
            regimen = self.knowledge.regimen_models[withheld.regimen]
            reasons = "; ".join(self._hit_words(hit) for hit in withheld.hits)
            parts.append(f"- Not offered now: **{regimen.title}**: {reasons}.")
        parts += ["", f"Evaluated {evaluation.now.isoformat()}. Every rule cites its source (links below)."]
        return "\n".join(parts)

    def _trial_additions_note(self, recommendation: Recommendation) -> list[str]:
        """Maintenance additions with trial evidence only, named and not offered (options.yaml
        maintenance_offered_only_with_preferred)."""
        template = self.wording.trial_additions_note
        if not recommendation.trial_additions or not template:
            return []
        regimens = [self.knowledge.regimen_models[option.regimen] for option in recommendation.trial_additions]
        named = "; ".join(regimen.title + (f" ({regimen.evidence})" if regimen.evidence else "") for regimen in regimens)
        return ["", template.format(regimens=named)]

    def _new_site_note(self, evaluation: Evaluation) -> list[str]:
        """The metastases first recorded during a line that were read as its progression (lines.yaml new_site_on_line)."""
        template = self.wording.new_site_note
        if not evaluation.new_sites or not template:
            return []
        lines = evaluation.history.lines
        sites = ", ".join(
            f"{site} ({on.isoformat()}, line {max((line.number for line in lines if line.start < on), default=1)})"
            for site, on in evaluation.new_sites
        )
        days = self.knowledge.lines["new_site_on_line"]["days_after_start"]
        return ["", template.format(days=days, sites=sites)]

    def _read_as(self, recommendation: Recommendation) -> str:
        """Why the options are another line's: the HER2-directed line it starts, or an agent given earlier
        than the guideline's sequence places it (options.yaml next_line_counts_her2_lines)."""
        line = recommendation.read_as_line
        if line is None:
            return ""
        if recommendation.read_after:
            return f" (after {self.agents_text(recommendation.read_after)}: the {ordinal(line)}-line options)"
        return f" (HER2-directed line {line}: the {ordinal(line)}-line options)"

    def line_words(self, recommendation: Recommendation) -> str:
        """The line whose options are offered, in a few words: "3rd line", "2nd HER2-directed line", "line
        after trastuzumab deruxtecan (T-DXd)" (the order check's cards)."""
        line = recommendation.read_as_line
        if line is None:
            return f"{ordinal(recommendation.line or 1)} line"
        if recommendation.read_after:
            return f"line after {self.agents_text(recommendation.read_after)}"
        return f"{ordinal(line)} HER2-directed line"

    def _option_notes(self, evaluation: Evaluation) -> list[tuple[frozenset[str], str]]:
        """(the agents a label rule is about, the line naming it) for each finding on record that such a
        rule is about: interstitial lung disease (safety.yaml lung), heart failure (safety.yaml heart), a
        pregnancy (safety.yaml pregnancy)."""
        notes = []
        notes += self._finding_notes(evaluation, "lung")
        notes += self._finding_notes(evaluation, "heart")
        notes += self._er_low_notes(evaluation)
        pregnancy, rule = evaluation.safety.pregnancy, self.pregnancy_rule
        if pregnancy is not None and rule is not None:
            when = self.pregnancy_when(pregnancy)
            note = f"   - Pregnancy on record ({when}): boxed warning of embryo-fetal toxicity (pregnancy card)."
            notes.append((rule.agents, note))
        return notes

    def _er_low_notes(self, evaluation: Evaluation) -> list[tuple[frozenset[str], str]]:
        """ASCO/CAP's comment on "ER Low Positive", under each option holding endocrine therapy, when PR is not positive."""
        receptors, rules = evaluation.receptors, self.knowledge.receptors
        if receptors.pr == "positive" or not rules.er_low_positive(receptors.er, receptors.er_percent):
            return []
        return [(self.endocrine_agents, f"   - {rules.er_low_positive_note}.")]

    def _finding_notes(self, evaluation: Evaluation, kind: str) -> list[tuple[frozenset[str], str]]:
        """Each label's rule of safety.yaml ``kind`` (lung, heart), under each option holding a drug of it,
        when the finding it is about is on record."""
        found, _ = evaluation.safety.finding(kind)
        if found is None:
            return []
        wording = self.findings[kind]
        name, note = wording.names.name, wording.names.note
        line = f"   - {note}: {name[0].lower()}{name[1:]} on record ({self.finding_when(found)})."
        return [(rule.agents, f"{line} {rule.action}") for rule in wording.rules]

    def _option_lines(self, index: int, option: Any) -> list[str]:
        """One numbered option: title, guideline category, status, evidence and source (names only; links are in ``links``)."""
        regimen = self.knowledge.regimen_models[option.regimen]
        source = self.knowledge.source(option.source)
        mark = " (preferred)" if option.preferred else ""
        status = f" Status: {regimen.label_status}." if regimen.label_status else ""
        evidence = f" Evidence: {regimen.evidence}." if regimen.evidence else ""
        lines = [
            f"{index}. **{regimen.title}**{mark}. Guideline: {option.category}.{status}{evidence}"
            + f" Source: {source.get('short') or source['label']}."
        ]
        if regimen.choice_note:
            lines.append(f"   - Choosing: {regimen.choice_note}")
        if regimen.partner_choices:
            partners = ", ".join(self._display(agent) for agent in regimen.partner_choices)
            lines.append(f"   - Partner drug: clinician's choice of {partners}")
        # A dose the label adjusts keeps the preferred mark (safety.yaml keeps_preferred): said as a dose.
        lines += [
            f"   - {'Label dose' if warning.keeps_preferred else 'Not preferred'}: {self._hit_words(warning)}"
            for warning in option.warnings
        ]
        lines += [f"   - Partner choice: {self._hit_words(warning)}" for warning in option.partner_warnings]
        return lines
