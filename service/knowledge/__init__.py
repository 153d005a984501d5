"""Load the knowledge files of ``mappings/``, check each against its schema, compile lookup tables.

Everything clinical the service knows is here, read once at start-up. A file that does not match its
schema stops the service with a message naming the file and the field (``KnowledgeError``).

One module per step: ``load`` (read each file and check it against its schema; ``load_knowledge`` is the
entry point), ``checks`` (the cross-file references), ``compile`` (the lookup tables and typed models),
``base`` (the ``Knowledge`` the stages read), ``drugs`` (drug names in free text), and the typed, frozen
models themselves: ``models`` (regimens, options, label tables, receptor and alert rules) and ``cards``
(card wording).
"""

from service.knowledge.base import Knowledge, KnowledgeError, NamePattern
from service.knowledge.cards import CardWording
from service.knowledge.drugs import agents_from_misspelt_name, agents_from_name, normalise_name, refine_agents, scan_agents
from service.knowledge.load import KNOWLEDGE_FILES, default_mappings_dir, load_knowledge
from service.knowledge.models import AlertRules, Eligibility, OptionRule, ReceptorRules, Regimen, SafetyTables

__all__ = [
    "KNOWLEDGE_FILES",
    "Knowledge",
    "KnowledgeError",
    "NamePattern",
    "agents_from_misspelt_name",
    "agents_from_name",
    "default_mappings_dir",
    "load_knowledge",
    "normalise_name",
    "refine_agents",
    "scan_agents",
    # The typed models, re-exported.
    "AlertRules",
    "CardWording",
    "Eligibility",
    "OptionRule",
    "ReceptorRules",
    "Regimen",
    "SafetyTables",
]
