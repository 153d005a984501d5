"""Patient facts as dated markdown bullets: receptors, metastatic sites, lines of therapy, LVEF, liver tests, lung,
heart, pregnancy."""

from __future__ import annotations

from collections.abc import Iterable

from service.domain import UNDATED, Finding, Pregnancy
from service.engine import Evaluation
from service.render.base import RendererBase
from service.render.text import day, points


class PatientFacts(RendererBase):
    """The facts a card rests on, named by the wording (cards.yaml ``facts``) or by an order check's kind."""

    def _facts(self, evaluation: Evaluation, names: Iterable[str]) -> list[str]:
        """Markdown bullets of the patient facts named (receptors, sites, lines, lvef, liver), dated."""
        bullets: list[str] = []
        for name in names:
            bullets += getattr(self, f"_facts_{name}")(evaluation)
        return bullets

    def _facts_receptors(self, evaluation: Evaluation) -> list[str]:
        receptors = evaluation.receptors
        her2_bits = [f"HER2 **{receptors.her2}**"]
        if receptors.her2_ihc is not None:
            her2_bits.append(f"IHC {receptors.her2_ihc}+" if receptors.her2_ihc else "IHC 0")
        if receptors.ish_group is not None:
            her2_bits.append(f"ISH group {receptors.ish_group}")
        listed = receptors.coded  # statuses coded on the problem list (ICD-10-CM Z17), no laboratory result
        if "her2" in listed:
            her2_bits.append(f"(problem list, {receptors.her2_date.isoformat()})" if receptors.her2_date else "(problem list)")
        elif receptors.her2_date:
            her2_bits.append("(date unknown)" if receptors.her2_date == UNDATED else f"({receptors.her2_date.isoformat()})")
        if receptors.her2_earlier_positive is not None:
            her2_bits.append(f"(HER2-positive on {day(receptors.her2_earlier_positive)}: the most recent result decides)")
        er_word = "low positive" if self.knowledge.receptors.er_low_positive(receptors.er, receptors.er_percent) else receptors.er
        er = f"ER {er_word or 'unknown'}" + (f" ({receptors.er_percent:g}%)" if receptors.er_percent is not None else "")
        pr = f"PR {receptors.pr or 'unknown'}" + (f" ({receptors.pr_percent:g}%)" if receptors.pr_percent is not None else "")
        er, pr = (f"{er} (problem list)" if "er" in listed else er), (f"{pr} (problem list)" if "pr" in listed else pr)
        hormone = f"**{receptors.hormone_receptor}**" + (" (problem list)" if "hormone" in listed else "")
        tested = "ER and PR tested together" if receptors.hormone_combined else f"{er}, {pr}"
        if receptors.hormone_earlier_positive is not None:
            tested += f" (ER or PR positive on {day(receptors.hormone_earlier_positive)}: the most recent results decide)"
        return ["- " + " ".join(her2_bits), f"- Hormone receptor {hormone}: {tested}"]

    def _facts_deceased(self, evaluation: Evaluation) -> list[str]:
        on = evaluation.record.deceased_on
        return [f"- Died on {on.isoformat()} (Patient.deceasedDateTime)" if on else "- Deceased (Patient record)"]

    def _facts_sites(self, evaluation: Evaluation) -> list[str]:
        extent = evaluation.extent
        if not extent.metastatic:
            return ["- No distant metastasis recorded"]
        since = f" since {extent.metastatic_date.isoformat()}" if extent.metastatic_date else ""
        return [f"- Metastatic{since}: {', '.join(extent.sites) or 'sites not coded'}"]

    def _facts_lines(self, evaluation: Evaluation) -> list[str]:
        history = evaluation.history
        bullets = []
        for line in history.lines:
            end = f"to {line.end.isoformat()} ({line.end_reason})" if line.end else "ongoing"
            flag = ", progressed" if line.progressed and line.end is None else ""
            start = "from a date no record gives," if evaluation.undated_current else f"from {line.start.isoformat()}"
            bullets.append(f"- Line {line.number}: {self.agents_text(line.agents)}, {start} {end}{flag}")
        if history.adjuvant_agents:
            end = history.adjuvant_end.isoformat() if history.adjuvant_end else "?"
            bullets.append(f"- (Neo)adjuvant HER2 therapy: {self.agents_text(set(history.adjuvant_agents))}, last given {end}")
        if not bullets:
            bullets.append("- No metastatic line of therapy recorded")
        return bullets

    def _facts_lvef(self, evaluation: Evaluation) -> list[str]:
        safety = evaluation.safety
        latest = safety.lvef_latest
        if latest is None:
            return ["- No ejection fraction (LVEF) recorded"]
        fall = f", {points(safety.lvef_fall)} below baseline" if safety.lvef_fall and safety.lvef_fall > 0 else ""
        readings = (lab for lab in evaluation.record.labs if lab.kind == "lvef" and lab.on < latest.on)
        earlier = sorted(readings, key=lambda lab: lab.on)
        trend = ", ".join(f"{lab.value:g}% {day(lab.on)}" for lab in earlier[-3:])
        return [
            f"- LVEF {latest.value:g}% on {day(latest.on)}{fall} (lower limit {safety.lvef_lower_limit:g}%)"
            + (f"; earlier {trend}" if trend else "")
        ]

    def _facts_liver(self, evaluation: Evaluation) -> list[str]:
        liver = evaluation.safety.liver
        if liver.latest is None:
            return ["- No liver tests recorded"]
        labs = []
        if liver.bilirubin is not None:
            labs.append(f"bilirubin {liver.bilirubin:.2g} mg/dL ({liver.bilirubin_x or 0:.2g} x ULN)")
        for name, value, times in (("AST", liver.ast, liver.ast_x), ("ALT", liver.alt, liver.alt_x)):
            if value is not None:
                labs.append(f"{name} {value:g} U/L" + (f" ({times:.2g} x ULN)" if times is not None else ""))
        return [f"- Liver tests {day(liver.latest)}: {', '.join(labs) or 'see chart'}"]

    def finding_when(self, found: Finding) -> str:
        """When and how a finding's Condition stands ("since 2026-03-02, active", "2025-01-10, not active"),
        or which drug was stopped for it and when ("trastuzumab deruxtecan (T-DXd) stopped for it 2026-05-15")."""
        on = found.on.isoformat() if found.on else "date unknown"
        if found.stopped:
            return f"{self.agents_text(found.stopped)} stopped for it {on}"
        if found.active:
            return f"since {on}, active" if found.on else "active, date unknown"
        return f"{on}, not active"

    def _facts_finding(self, evaluation: Evaluation, kind: str) -> list[str]:
        """Only when the record names the finding (safety.yaml lung, heart)."""
        found, _ = evaluation.safety.finding(kind)
        if found is None:
            return []
        return [f"- {self.findings[kind].names.name} on record ({self.finding_when(found)})"]

    def _facts_lung(self, evaluation: Evaluation) -> list[str]:
        """Only when the record names interstitial lung disease or pneumonitis (safety.yaml lung)."""
        return self._facts_finding(evaluation, "lung")

    def _facts_heart(self, evaluation: Evaluation) -> list[str]:
        """Only when the record names heart failure or cardiomyopathy (safety.yaml heart)."""
        return self._facts_finding(evaluation, "heart")

    @staticmethod
    def pregnancy_when(found: Pregnancy) -> str:
        """When a current pregnancy was recorded: "since 2026-03-02", or "date unknown"."""
        return f"since {found.on.isoformat()}" if found.on else "date unknown"

    def _facts_pregnancy(self, evaluation: Evaluation) -> list[str]:
        """Only when a current pregnancy is on record (safety.yaml pregnancy)."""
        found = evaluation.safety.pregnancy
        if found is None:
            return []
        return [f"- Pregnancy on record ({self.pregnancy_when(found)})"]

    ORDER_FACTS = {
        "progressed": ["lines"],
        "toxicity": ["lines"],
        "cardiac": ["lvef", "lines"],
        "hepatic": ["liver", "sites"],
        "her2-status": ["receptors"],
        "hr-status": ["receptors"],
        "early-relapse": ["lines"],
        "low-lvef": ["lvef", "lines"],
        "no-recent-lvef": ["lvef", "lines"],
        "overdue-lvef": ["lvef", "lines"],
        "lung": ["lung", "lines"],
        "heart": ["heart", "lvef", "lines"],
        "pregnancy": ["pregnancy", "lines"],
        "not-an-option": ["receptors", "lines"],
        "off-label": ["receptors", "lines"],
        "premedication": ["receptors", "lines"],
        "deceased": ["deceased"],
    }

    def order_facts(self, evaluation: Evaluation, issue: str) -> list[str]:
        """The patient facts an order-check card of kind ``issue`` rests on."""
        return self._facts(evaluation, self.ORDER_FACTS[issue])
