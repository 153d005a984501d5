"""Read the knowledge files of ``mappings/``, check each against its schema, then check and compile them.

``load_knowledge`` is the one entry point, called once at start-up. A file that does not match its
schema stops the service with a message naming the file and the field (``KnowledgeError``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from service.knowledge.base import Knowledge, KnowledgeError
from service.knowledge.checks import check_references, source_ids_used
from service.knowledge.compile import compile_knowledge

KNOWLEDGE_FILES = (
    "sources",
    "codes",
    "receptors",
    "drugs",
    "regimens",
    "lines",
    "options",
    "safety",
    "alerts",
    "services",
    "cards",
)


def default_mappings_dir() -> Path:
    """The knowledge shipped with the package: ``service.mappings`` through importlib.resources.

    The wheel carries the repository's ``mappings/`` as the package data ``service.mappings``
    (pyproject.toml maps it). A checkout (an editable install included, whose finder does not map the
    folder) reads ``mappings/`` beside the ``service`` package: the source of truth itself.
    """
    try:
        # A folder without __init__.py is a namespace package: files() may give a MultiplexedPath, whose
        # files are real paths; the folder is the parent of one of them.
        marker = resources.files("service.mappings").joinpath("sources.yaml")
    except ModuleNotFoundError:
        marker = None
    if isinstance(marker, Path) and marker.is_file():
        return marker.parent
    return Path(__file__).resolve().parent.parent.parent / "mappings"


def load_knowledge(mappings_dir: Path | str | None = None) -> Knowledge:
    """Read, validate and compile every knowledge file; raise ``KnowledgeError`` naming the problem."""
    folder = Path(mappings_dir) if mappings_dir else default_mappings_dir()
    raw: dict[str, dict[str, Any]] = {}
    for name in KNOWLEDGE_FILES:
        raw[name] = _load_checked(folder, name)
    knowledge = Knowledge(raw=raw)
    check_references(knowledge)
    compile_knowledge(knowledge)
    knowledge.terminology = _load_terminology(folder, knowledge)
    return knowledge


def _load_terminology(folder: Path, knowledge: Knowledge) -> Any:
    """The read layer's value sets: terminology.yaml checked here like every file, compiled by service/read/terminology.py."""
    from service.read.terminology import TerminologyError, compile_terminology  # the read layer imports this package

    document = _load_checked(folder, "terminology")
    known_sources = set(knowledge.sources)
    for source_id in source_ids_used(document):
        if source_id not in known_sources:
            raise KnowledgeError(f"{folder / 'terminology.yaml'}: source '{source_id}' is not in sources.yaml")
    try:
        return compile_terminology(document, set(knowledge.raw["codes"]["observations"]))
    except TerminologyError as exc:
        raise KnowledgeError(f"{folder / 'terminology.yaml'}: {exc}") from exc


def _load_checked(folder: Path, name: str) -> dict[str, Any]:
    path = folder / f"{name}.yaml"
    schema_path = folder / "schemas" / f"{name}.schema.json"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise KnowledgeError(f"{path}: cannot be read: {exc}") from exc
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(top level)"
        raise KnowledgeError(f"{path}: field {where}: {first.message}")
    return document
