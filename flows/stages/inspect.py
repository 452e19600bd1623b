"""``camid inspect``: facts, pixel measurements and verdict for files (no catalog needed).

Both stages run on every readable JPEG (``--header-only`` skips the pixel stage), so a user sees
each check's measured value next to its threshold and can tune the policy. Signatures are judged
against the registry's; ``--learned`` adds those the catalog has learned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pipeline.evidence import PixelFacts
from pipeline.facts import read_facts
from pipeline.facts_codec import pixels_to_json
from pipeline.policy import Policy
from pipeline.records import ImageFacts, Verdict
from pipeline.registry import Registry
from pipeline.signature_book import EMPTY_BOOK, SignatureBook
from pipeline.verdict import judge

# the JSON Lines contract of `camid inspect --json` (more keys may follow these)
CONTRACT_KEYS = ("path", "format", "width", "height", "make", "model", "software",
                 "quality_imagemagick", "quality", "ijg_exact", "label", "accepted", "reasons",
                 "error")
EXTRA_KEYS = ("datetime_original", "orientation", "exif_width", "exif_height", "has_exif",
              "has_makernote", "xmp_creator_tool", "xmp_history_agents", "has_camera_raw",
              "has_photoshop_irb", "photoshop_iptc_only", "has_adobe_app14", "has_eoi", "corrupt",
              "coding", "subsampling", "scan_bytes", "scan_bpp", "scan_byte_variety",
              "scan_bad_markers", "scans", "restart_interval", "restart_markers", "restart_checked",
              "restart_expected", "restart_out_of_order", "trailer_bytes", "serial")
# then objects: the measured value behind each reason, the flags, the signature, the pixel stage
STRUCTURED_KEYS = ("details", "flags", "signature", "pixels")


@dataclass(frozen=True, slots=True)
class Inspection:
    path: str
    facts: ImageFacts
    verdict: Verdict
    pixels: PixelFacts | None = None


def inspect_files(paths: Iterable[str], registry: Registry, policy: Policy,
                  book: SignatureBook = EMPTY_BOOK) -> Iterator[Inspection]:
    for path in paths:
        facts = read_facts(path)
        pixels = None
        if policy.pixel_checks and facts.format == "jpeg" and facts.error is None and facts.has_eoi:
            from pipeline.pixels import read_pixels

            pixels = read_pixels(path, facts)
        yield Inspection(path, facts, judge(facts, registry, policy, book, pixels), pixels)


def inspection_to_json(item: Inspection) -> str:
    facts, verdict = item.facts, item.verdict
    doc: dict[str, object] = {"path": item.path}
    for key in CONTRACT_KEYS[1:10] + EXTRA_KEYS:
        value = getattr(facts, key)
        doc[key] = list(value) if isinstance(value, tuple) else value
    doc["label"] = verdict.label
    doc["accepted"] = verdict.accepted
    doc["reasons"] = [r.value for r in verdict.reasons]
    doc["error"] = facts.error
    ordered = {k: doc[k] for k in CONTRACT_KEYS}
    ordered.update({k: doc[k] for k in EXTRA_KEYS})
    ordered["details"] = {r.value: d for r, d in zip(verdict.reasons, verdict.details, strict=True)}
    ordered["flags"] = list(verdict.flags)
    signature = facts.signature
    ordered["signature"] = None if signature is None else {"id": signature.id, **signature.parts()}
    ordered["pixels"] = None if item.pixels is None else pixels_to_json(item.pixels)
    return json.dumps(ordered, ensure_ascii=False)
