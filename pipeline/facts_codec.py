"""Facts to and from JSON, and their hash: light enough for the catalog to import on every command."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from pipeline.records import ImageFacts

# bump when the reader changes what it reports, so `camid curate` re-reads stored files
READER_VERSION = 2  # 2: EOI split across tail blocks, 1-2 byte JPEGs truncated, EXIF loop to IFD0 corrupt


def facts_hash(facts: ImageFacts) -> str:
    """A stable digest of the facts (and the reader version) for change detection."""
    doc = {"reader": READER_VERSION, **facts_to_json(facts)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def facts_to_json(facts: ImageFacts) -> dict[str, object]:
    doc = asdict(facts)
    doc["quant_tables"] = [list(t) for t in facts.quant_tables]
    doc["xmp_history_agents"] = list(facts.xmp_history_agents)
    return doc


def facts_from_json(doc: dict[str, object]) -> ImageFacts:
    data = dict(doc)
    data["quant_tables"] = tuple(tuple(t) for t in data.get("quant_tables") or ())  # type: ignore[union-attr]
    data["xmp_history_agents"] = tuple(data.get("xmp_history_agents") or ())  # type: ignore[arg-type]
    return ImageFacts(**data)  # type: ignore[arg-type]
