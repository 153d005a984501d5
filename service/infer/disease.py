"""Breast cancer diagnosis, distant metastatic sites and the metastatic date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from service.domain import CancerCondition


@dataclass(frozen=True)
class DiseaseExtent:
    """Whether the patient has breast cancer, whether it is metastatic, where and since when."""

    breast_cancer: bool
    metastatic: bool
    sites: tuple[str, ...] = ()
    metastatic_date: date | None = None


def disease_extent(conditions: list[CancerCondition]) -> DiseaseExtent:
    """Distant disease = a metastasis condition or a stage IV statement; sites sorted and unique."""
    breast_cancer = any(c.role == "primary" for c in conditions)
    distant = [c for c in conditions if c.role in ("metastasis", "stage-iv")]
    sites = tuple(sorted({c.site for c in distant if c.role == "metastasis" and c.site}))
    dates = [c.on for c in distant if c.on is not None]
    return DiseaseExtent(
        breast_cancer=breast_cancer,
        metastatic=bool(distant),
        sites=sites,
        metastatic_date=min(dates) if dates else None,
    )
