"""Write the regimen and label-safety tables of docs/clinical-rules.md from mappings/ (the data is the truth).

Usage: python scripts/clinical_tables.py [--check]. With --check, exit 1 if the document is out of date
(tests/test_clinical_tables.py runs the same comparison).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.knowledge import Knowledge, load_knowledge  # noqa: E402  (path set above for a plain script run)

DOC = ROOT / "docs" / "clinical-rules.md"
BEGIN = "<!-- tables from mappings/ (scripts/clinical_tables.py): begin -->"
END = "<!-- tables from mappings/ (scripts/clinical_tables.py): end -->"


def _eligibility(rule_eligible: dict) -> str:
    words = []
    when = dict(rule_eligible)
    setting = when.pop("setting", "treatment")
    low, high = when.pop("line_min", None), when.pop("line_max", None)
    if setting == "maintenance":
        words.append("maintenance on HER2 antibodies")
    if low is not None or high is not None:
        if low == high:
            words.append(f"line {low}")
        elif high is None:
            words.append(f"line >= {low}")
        elif low is None:
            words.append(f"line <= {high}")
        else:
            words.append(f"lines {low}-{high}")
    labels = {
        "sites_any": "sites any of",
        "hormone_receptor": "HR",
        "never_received": "never received",
        "current_line_lacks": "current line without",
        "min_prior_her2_metastatic_lines": "metastatic anti-HER2 regimens >=",
        "min_prior_her2_regimens": "anti-HER2 regimens (adjuvant counts) >=",
    }
    for key, value in when.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        words.append(f"{labels[key]} {shown}")
    return "; ".join(words) or "any line"


def _source(knowledge: Knowledge, source_id: str) -> str:
    source = knowledge.source(source_id)
    return f"{source.get('short') or source['label']}" + (" (check)" if source.get("check") else "")


def regimen_table(knowledge: Knowledge) -> list[str]:
    """Every option rule, in order: regimen, eligibility, preferred, guideline category, label status, source."""
    lines = [
        "| regimen | eligible when | preferred | guideline category | label status | source |",
        "|---|---|---|---|---|---|",
    ]
    for rule in knowledge.options["rules"]:
        regimen = knowledge.regimen_models[rule["regimen"]]
        lines.append(
            f"| `{regimen.id}` | {_eligibility(rule['eligible'])} | {'yes' if rule['preferred'] else 'no'} "
            f"| {rule['category']} | {regimen.label_status} "
            f"| {_source(knowledge, rule['source'])} |"
        )
    return lines


def _conditions(conditions: list[dict]) -> str:
    names = {
        "bilirubin_x_uln_above": "bilirubin > {} x ULN",
        "transaminase_x_uln_above": "AST/ALT > {} x ULN",
        "transaminase_x_uln_at_least": "AST/ALT >= {} x ULN",
        "alp_x_uln_above": "ALP > {} x ULN",
        "lvef_below": "LVEF < {}%",
        "lvef_at_least": "LVEF >= {}%",
        "lvef_at_most": "LVEF <= {}%",
        "fall_at_least": "fall >= {} points",
        "fall_above": "fall > {} points",
        "fall_at_most": "fall <= {} points",
        "below_lln": "below the lower limit",
    }
    return " or ".join(" and ".join(names[key].format(value) for key, value in condition.items()) for condition in conditions)


def safety_tables(knowledge: Knowledge) -> list[str]:
    """Each label's liver rows, most severe first, and each HER2 drug's LVEF rule and monitoring."""
    lines = [
        "Liver (first matching row applies; *starting* rows for a drug not yet given, *on-treatment* rows for a drug given now):",
        "",
        "| drug | row | when | setting | label action | effect on the card | section | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for agent, rule in knowledge.safety["liver"]["rules"].items():
        for row in rule["rows"]:
            effect = "withhold (not suggested)" if row.get("withhold") else ("demote/alert" if row["changes_drug"] else "none")
            if row.get("keeps_preferred") and effect == "demote/alert":
                effect = "alert (the dose; stays preferred)"
            check = " (check)" if row.get("check") or rule.get("check") else ""
            lines.append(
                f"| {agent} | {row['grade']}{check} | {_conditions(row['conditions'])} | {row.get('setting', 'any')} "
                f"| {row['action']} | {effect} | {row['section']} | {_source(knowledge, rule['source'])} |"
            )
    lines += ["", "Heart (LVEF, per drug):", "", "| drug | hold rule | action | monitoring | source |", "|---|---|---|---|---|"]
    for agent, rule in knowledge.safety["lvef"]["rules"].items():
        check = " (check)" if rule.get("check") else ""
        lines.append(
            f"| {agent} | {_conditions(rule['conditions'])}{check} | {rule['action']} | {rule.get('monitoring', '')} "
            f"| {_source(knowledge, rule['source'])} |"
        )
    return lines


def tables(knowledge: Knowledge) -> str:
    body = ["### Regimens", "", *regimen_table(knowledge), "", "### Label safety tables", "", *safety_tables(knowledge)]
    return "\n".join([BEGIN, *body, END])


def render_document(text: str, knowledge: Knowledge) -> str:
    """The document with the block between the markers replaced."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + tables(knowledge) + text[end:]


def main(argv: list[str]) -> int:
    knowledge = load_knowledge()
    text = DOC.read_text(encoding="utf-8")
    wanted = render_document(text, knowledge)
    if "--check" in argv:
        return 0 if wanted == text else 1
    DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
