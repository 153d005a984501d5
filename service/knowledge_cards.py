"""The old path of ``service.knowledge.cards``, kept while ``service/render.py`` still imports it from here.

Delete this module once render imports ``service.knowledge.cards``.
"""

from service.knowledge.cards import (
    ORDER_CHECK_TOPIC,
    SUMMARY_TOPIC,
    AlertWording,
    CardWording,
    CardWordingError,
    OverrideReason,
    ServiceRequestCode,
    Topic,
    TrialSearch,
    WordingVariant,
    card_wording,
)

__all__ = [
    "ORDER_CHECK_TOPIC",
    "SUMMARY_TOPIC",
    "AlertWording",
    "CardWording",
    "CardWordingError",
    "OverrideReason",
    "ServiceRequestCode",
    "Topic",
    "TrialSearch",
    "WordingVariant",
    "card_wording",
]
