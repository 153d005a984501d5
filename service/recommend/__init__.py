"""Recommendation stage: options by eligibility (``options``) and alerts with their values (``alerts``)."""

from service.recommend.alerts import Alert, alerts_of, describe_alert, hepatic_alert_hits
from service.recommend.options import Recommendation, Recommender, RegimenOption, WithheldRegimen, scope_of

__all__ = [
    "Alert",
    "Recommendation",
    "Recommender",
    "RegimenOption",
    "WithheldRegimen",
    "alerts_of",
    "describe_alert",
    "hepatic_alert_hits",
    "scope_of",
]
