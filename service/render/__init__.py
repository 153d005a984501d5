"""Render stage: an ``Evaluation`` -> CDS Hooks 2.0 cards (wording from mappings/cards.yaml); formats only.

One module per part of a response, each a layer of ``CardRenderer``:

- ``text``: points, ordinals, patient text made safe for markdown, summaries clipped;
- ``prune``: dropping the empty values CDS Hooks forbids;
- ``base``: the render context, card uuids, sources and links, drug names;
- ``facts``: the patient facts a card rests on;
- ``suggestions``: regimen suggestions and the draft FHIR resources they create;
- ``alerts``: alert cards and the data-problems card;
- ``summary``: the summary card and its assessment extension;
- ``cards``: ``CardRenderer``, which puts the cards of one response in order.
"""

from service.render.base import CARD_NAMESPACE, RenderContext
from service.render.cards import INDICATOR_RANK, SUMMARY_BUILT_CLEAN, CardRenderer
from service.render.prune import prune, prune_except
from service.render.summary import ASSESSMENT_KEY
from service.render.text import ORDINALS, SUMMARY_LIMIT, clip, ordinal, points, safe_text

__all__ = [
    "ASSESSMENT_KEY",
    "CARD_NAMESPACE",
    "INDICATOR_RANK",
    "ORDINALS",
    "SUMMARY_BUILT_CLEAN",
    "SUMMARY_LIMIT",
    "CardRenderer",
    "RenderContext",
    "clip",
    "ordinal",
    "points",
    "prune",
    "prune_except",
    "safe_text",
]
