"""What every card is made of: the render context, card uuids, sources and links, drug names.

``RendererBase`` holds the state ``CardRenderer`` builds once from the knowledge (``render/cards.py``)
and the helpers the summary, alert and data cards and the suggestions share.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

from service.engine import Evaluation
from service.knowledge import Knowledge
from service.knowledge.cards import CardWording, FindingNames
from service.knowledge.models import FindingRule


@dataclass(frozen=True)
class FindingWording:
    """One finding label rules are about (safety.yaml lung, heart): those rules, and how cards name it
    (cards.yaml <kind>_on_treatment)."""

    rules: tuple[FindingRule, ...]  # each label's agents and words
    names: FindingNames


CARD_NAMESPACE = uuid.UUID("6f1f3d1e-7f0a-4a55-9b0e-2f5c3c2b8a11")


@dataclass
class RenderContext:
    """What the renderer needs beyond the evaluation."""

    hook_instance: str
    patient_id: str
    notes: list[str] = field(default_factory=list)  # data problems found while gathering
    base_url: str | None = None  # the service's public base URL: card icons are served from it
    issued_keys: dict[str, str] = field(default_factory=dict)  # every uuid made -> its key (issued-card records)

    @cached_property
    def _uuid_prefix(self) -> Any:
        """SHA-1 over the card namespace and this response's ``hookInstance|patientId|``: every card uuid starts so."""
        return hashlib.sha1(CARD_NAMESPACE.bytes + f"{self.hook_instance}|{self.patient_id}|".encode(), usedforsecurity=False)

    def card_uuid(self, key: str) -> str:
        """``uuid5(CARD_NAMESPACE, "hookInstance|patientId|key")``, from the response's hashed prefix.

        The same text as ``str(uuid.uuid5(...))`` (tests/test_rules_speed_render.py compares them): a response
        makes one uuid per card and suggestion, and building each through ``uuid.UUID`` had cost a tenth
        of rendering a small patient's cards (issue 16).
        """
        digest = self._uuid_prefix.copy()
        digest.update(key.encode())
        raw = bytearray(digest.digest()[:16])
        raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
        raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
        text = raw.hex()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class RendererBase:
    """The renderer's state (set by ``CardRenderer.__init__``) and the helpers every kind of card uses."""

    knowledge: Knowledge
    wording: CardWording
    drafts_to_prune: frozenset[str]  # agents whose draft orders are pruned where made (render/suggestions.py)
    findings: dict[str, FindingWording]  # "lung", "heart": safety.yaml lung and heart rules and how cards name them
    pregnancy_rule: FindingRule | None  # safety.yaml pregnancy: its agents and the label's words
    endocrine_agents: frozenset[str]  # drugs.yaml class endocrine
    noted_agents: dict[str, frozenset[str]]  # regimen id -> the agents and partner choices its option notes can be about
    displays: dict[str, str]  # agent -> its display name (drugs.yaml)
    links: dict[str, dict[str, str] | None]  # source id -> its card link, or None when it has no url

    # -- helpers ------------------------------------------------------------------------------
    def card_uuid(self, context: RenderContext, key: str) -> str:
        made = context.card_uuid(key)
        context.issued_keys[made] = key  # the route records each card's kind and rule from it, outside the JSON
        return made

    def icon_url(self, context: RenderContext | None) -> str | None:
        """The absolute URL of the card icon, when the service knows its public base URL."""
        if context is None or not context.base_url:
            return None
        return context.base_url.rstrip("/") + self.wording.icon_path

    def source_of(self, source_id: str, topic: str, context: RenderContext | None = None) -> dict[str, Any]:
        """``card.source``: the guideline or label the card rests on, the service icon and the card's topic."""
        source = self.knowledge.source(source_id)
        coded = self.wording.topics[topic]
        return {
            "label": source["label"],
            "url": source.get("url"),
            "icon": self.icon_url(context),
            "topic": {"system": self.wording.topic_system, "code": coded.code, "display": coded.display},
        }

    def source_link(self, source_id: str) -> dict[str, str] | None:
        """A card link to a source (guideline, label), labelled by its short name (a copy of the one made at start-up)."""
        link = self.links[source_id]
        return dict(link) if link is not None else None

    def _link_to(self, source_id: str) -> dict[str, str] | None:
        source = self.knowledge.source(source_id)
        if not source.get("url"):
            return None
        label = source.get("short") or source["label"]
        return {"label": str(label)[:80], "url": source["url"], "type": "absolute"}

    def label_links(self, agents: Iterable[str]) -> list[dict[str, str]]:
        """Links to the US prescribing information of each agent that has one in drugs.yaml."""
        links = []
        for agent in sorted(agents):
            source_id = self.knowledge.drugs["agents"][agent].get("label_source")
            link = self.source_link(source_id) if source_id else None
            if link:
                links.append(link)
        return links

    def trial_search_link(self, evaluation: Evaluation) -> dict[str, str]:
        """ClinicalTrials.gov prefilled for HER2-positive MBC, recruiting, narrowed by sites that change eligibility."""
        search = self.wording.trial_search
        url = str(self.knowledge.source(search.source)["url"])
        terms = [term for site, term in search.terms_by_site if site in evaluation.extent.sites]
        if terms:
            url += "&term=" + quote(" OR ".join(terms))
        return {"label": search.label, "url": url, "type": "absolute"}

    def override_reasons(self) -> list[dict[str, str]]:
        system = self.wording.override_reason_system
        return [{"system": system, "code": r.code, "display": r.display} for r in self.wording.override_reasons]

    def agents_text(self, agents: Iterable[str]) -> str:
        return " + ".join(self.displays[agent] for agent in sorted(agents))

    @staticmethod
    def _unique_links(links: list[dict[str, str] | None]) -> list[dict[str, str]]:
        seen: set[str] = set()
        kept = []
        for link in links:
            if link and link["url"] not in seen:
                seen.add(link["url"])
                kept.append(link)
        return kept

    def _display(self, agent: str) -> str:
        return self.displays[agent]
