"""``camid inspect``: facts and verdict for files, straight from their headers (no catalog)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pipeline.facts import read_facts
from pipeline.policy import Policy
from pipeline.records import ImageFacts, Verdict
from pipeline.registry import Registry
from pipeline.verdict import judge

# the JSON Lines contract of `camid inspect --json` (more keys may follow these)
CONTRACT_KEYS = ("path", "format", "width", "height", "make", "model", "software",
                 "quality_imagemagick", "quality", "ijg_exact", "label", "accepted", "reasons",
                 "error")
EXTRA_KEYS = ("datetime_original", "orientation", "exif_width", "exif_height", "has_exif",
              "has_makernote", "xmp_creator_tool", "xmp_history_agents", "has_camera_raw",
              "has_photoshop_irb", "photoshop_iptc_only", "has_adobe_app14", "has_eoi", "corrupt")


@dataclass(frozen=True, slots=True)
class Inspection:
    path: str
    facts: ImageFacts
    verdict: Verdict


def inspect_files(paths: Iterable[str], registry: Registry, policy: Policy) -> Iterator[Inspection]:
    for path in paths:
        facts = read_facts(path)
        yield Inspection(path, facts, judge(facts, registry, policy))


def inspection_to_json(item: Inspection) -> str:
    facts, verdict = item.facts, item.verdict
    doc: dict[str, object] = {"path": item.path}
    for key in CONTRACT_KEYS[1:10] + EXTRA_KEYS:
        if key == "label":
            doc[key] = verdict.label
            continue
        value = getattr(facts, key)
        doc[key] = list(value) if isinstance(value, tuple) else value
    doc["label"] = verdict.label
    doc["accepted"] = verdict.accepted
    doc["reasons"] = [r.value for r in verdict.reasons]
    doc["error"] = facts.error
    ordered = {k: doc[k] for k in CONTRACT_KEYS}
    ordered.update({k: doc[k] for k in EXTRA_KEYS})
    return json.dumps(ordered, ensure_ascii=False)
