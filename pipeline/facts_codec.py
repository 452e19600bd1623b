"""Facts to and from JSON, and their hash: light enough for the catalog to import on every command."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from pipeline.evidence import EncoderSignature, PixelFacts
from pipeline.records import ImageFacts

# bump when the reader changes what it reports, so `camid curate` re-reads stored files
# 2: EOI split across tail blocks, 1-2 byte JPEGs truncated, EXIF loop to IFD0 corrupt
# 3: the scan walked to the main image's EOI (trailers of any length), scan and restart facts,
#    the encoder signature, EXIF decoded by camid's own walk
# 4: the EXIF body serial number (the device key that keeps test devices out of training)
READER_VERSION = 4


def facts_hash(facts: ImageFacts) -> str:
    """A stable digest of the facts (and the reader version) for change detection."""
    doc = {"reader": READER_VERSION, **facts_to_json(facts)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def facts_to_json(facts: ImageFacts) -> dict[str, object]:
    doc = asdict(facts)
    doc["quant_tables"] = [list(t) for t in facts.quant_tables]
    doc["xmp_history_agents"] = list(facts.xmp_history_agents)
    return doc


def facts_from_json(doc: dict[str, Any]) -> ImageFacts:
    """Facts from their JSON document (keys an older reader wrote and this one lacks are left out)."""
    data = {k: v for k, v in doc.items() if k in ImageFacts.__dataclass_fields__}
    data["quant_tables"] = tuple(tuple(t) for t in data.get("quant_tables") or ())
    data["xmp_history_agents"] = tuple(data.get("xmp_history_agents") or ())
    signature = data.get("signature")
    data["signature"] = EncoderSignature(**signature) if isinstance(signature, dict) else None
    return ImageFacts(**data)


def pixels_to_json(pixels: PixelFacts) -> dict[str, object]:
    doc = asdict(pixels)
    doc["notes"] = list(pixels.notes)
    return doc


def pixels_from_json(doc: dict[str, Any]) -> PixelFacts:
    data = {k: v for k, v in doc.items() if k in PixelFacts.__dataclass_fields__}
    data["notes"] = tuple(data.get("notes") or ())
    return PixelFacts(**data)


def pixels_hash(pixels: PixelFacts) -> str:
    """Digest of the measured values (the timing aside: it changes on every run)."""
    doc = {k: v for k, v in pixels_to_json(pixels).items() if k != "elapsed_ms"}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

