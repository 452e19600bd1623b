"""``camid signatures``: each camera's encoder signatures, as the catalog learned them.

For every signature of every camera: which firmware (Software) wrote it, in how many files
from how many independent uploaders, whether that made it the camera's own (``established``),
and its parts in words, so a user can see what was learned and pin or veto it in the registry
(``[cameras.ID.encoder] signatures = [...]``). Only files at a native size and the camera's
minimum quality count, as in the learning itself. Each camera's learned thumbnail agreement
(``pipeline.thumbnail_book``) comes with them: the median, the limit it gives, files, uploaders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from db import Catalog
from flows.stages.learning import learn_book
from pipeline.policy import Policy
from pipeline.registry import Registry
from pipeline.signature_book import SignatureBook
from pipeline.thumbnail_book import LearnedThumbnail


@dataclass
class SignatureRow:
    camera: str
    id: str
    established: bool = False
    registry: bool = False
    files: int = 0
    uploaders: int = 0
    firmware: list[dict[str, object]] = field(default_factory=list)
    parts: dict[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "established": self.established, "in_registry": self.registry,
                "files": self.files, "uploaders": self.uploaders, "firmware": self.firmware,
                "parts": self.parts}


def signature_rows(catalog: Catalog, registry: Registry, policy: Policy, camera: str | None = None,
                   book: SignatureBook | None = None) -> list[SignatureRow]:
    """Every learned or declared signature, one row per camera and signature, best first."""
    book = book or learn_book(catalog, registry, policy)
    rows: dict[tuple[str, str], SignatureRow] = {}
    for entry in book.entries:
        row = rows.setdefault((entry.label, entry.signature), SignatureRow(entry.label, entry.signature))
        row.established |= entry.established
        row.files += entry.files
        row.uploaders = max(row.uploaders, entry.uploaders)
        row.firmware.append({"software": entry.firmware, "files": entry.files, "uploaders": entry.uploaders,
                             "established": entry.established})
    for cam in registry.cameras:
        for sig in cam.encoder.signatures:
            rows.setdefault((cam.id, sig), SignatureRow(cam.id, sig)).registry = True
    chosen = [r for r in rows.values() if camera is None or r.camera == camera]
    examples = catalog.signature_examples(sorted({r.id for r in chosen}))
    for row in chosen:
        example = examples.get(row.id)
        row.parts = example.parts() if example else None
    order = {cid: i for i, cid in enumerate(registry.ids)}
    return sorted(chosen, key=lambda r: (order.get(r.camera, len(order)), not (r.established or r.registry),
                                         -r.uploaders, -r.files, r.id))


def rows_to_json(rows: list[SignatureRow], policy: Policy,
                 thumbnails: Mapping[str, LearnedThumbnail] | None = None) -> dict[str, object]:
    """The command's JSON: per camera its signatures and learned thumbnail agreement (or null)."""
    cameras: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        cameras[row.camera].append(row.to_json())
    learned = thumbnails or {}
    return {"min_uploaders": int(policy.threshold("encoder.min_uploaders")),
            "cameras": [{"camera": cam, "signatures": sigs,
                         "thumbnail": _thumbnail_json(learned.get(cam))} for cam, sigs in cameras.items()]}


def _thumbnail_json(learned: LearnedThumbnail | None) -> dict[str, object] | None:
    if learned is None:
        return None
    doc = asdict(learned)
    doc.pop("label")
    return doc


def thumbnail_lines(thumbnails: Mapping[str, LearnedThumbnail], camera: str | None = None) -> list[str]:
    """One readable line per camera whose thumbnail agreement has been learned."""
    return [f"{t.label}: thumbnails differ from the image by a median {t.median:g} grey levels "
            f"({t.files} files, {t.uploaders} uploaders): limit {t.limit:g}"
            for t in thumbnails.values() if camera is None or t.label == camera]
