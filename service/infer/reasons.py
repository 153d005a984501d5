"""Therapy given for another cancer: medication records whose reason names another primary cancer.

A medication record says what it was given for in ``reasonReference`` (a Condition) or ``reasonCode``
(FHIR R4 MedicationRequest, MedicationStatement, MedicationAdministration). One given for another
primary cancer (a Condition read as one, ``terminology.yaml other_primary``, or an ICD-10 code of one)
is that cancer's therapy, not a line of the breast cancer's: capecitabine for a colon cancer,
carboplatin and paclitaxel for an ovarian cancer, leuprolide for a prostate cancer. An administration,
dispense or statement carries out its order (``request``, ``authorizingPrescription``, ``basedOn``) and
is given for what the order names. A record that names the breast cancer, or nothing, is the breast cancer's (*convention*,
docs/clinical-rules.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from service.domain import CancerCondition, Exposure, UnidentifiedTherapy
from service.read.medications import OTHER_INDICATION
from service.read.terminology import Terminology

_ORDER = "MedicationRequest/"


def _given_for(reasons: tuple[str, ...], other: frozenset[str], breast: frozenset[str], terminology: Terminology) -> str | None:
    """What the reasons say: "breast" when one names the breast cancer, else "other" when one names another
    cancer, else None."""
    if OTHER_INDICATION in reasons:  # a disease other than a cancer: whatever else it names (letrozole for IVF)
        return "other"
    named_other = False
    for reason in reasons:
        if reason.startswith("icd10:"):
            code = reason[6:]
            if code.startswith(terminology.breast_icd10_prefixes):
                return "breast"
            named_other = named_other or terminology.is_other_primary(code)
        elif reason in breast:
            return "breast"
        elif reason in other:
            named_other = True
    return "other" if named_other else None


def other_cancer_records(
    exposures: Iterable[Exposure],
    unidentified: Iterable[UnidentifiedTherapy],
    conditions: Iterable[CancerCondition],
    other_primaries: frozenset[str],
    terminology: Terminology,
) -> frozenset[str]:
    """The "Type/id" of the medication records given for another primary cancer (the module's rule): by
    terminology.yaml's breast primary and other_primary codes."""
    # A record with no id is passed over: its key would be every id-less record's of its type.
    records = [(f"{e.source_type}/{e.record_id}", e.reasons) for e in exposures if e.reasons and e.record_id]
    records += [(t.record, t.reasons) for t in unidentified if t.reasons and not t.record.endswith("/?")]
    if not records:
        return frozenset()
    breast = frozenset(
        f"Condition/{c.record_id}" for c in conditions if c.record_id and not (c.related and c.related in other_primaries)
    )
    said = {key: _given_for(reasons, other_primaries, breast, terminology) for key, reasons in records}
    orders = {key for key, found in said.items() if found == "other" and key.startswith(_ORDER)}
    # An order that says nothing itself is given for what the records carrying it out say, when those that
    # say something all say another disease (rituximab's order silent, its infusions "ITP": held-out b45).
    carried: dict[str, set[str | None]] = {}
    for key, reasons in records:
        if said[key] is not None:
            for reason in reasons:
                if reason.startswith(_ORDER):
                    carried.setdefault(reason, set()).add(said[key])
    orders.update(order for order, found in carried.items() if found == {"other"} and said.get(order) is None)
    return frozenset(
        key
        for key, reasons in records
        if said[key] == "other" or (said[key] is None and any(reason in orders for reason in reasons))
    ) | frozenset(order for order in orders if order not in said)
