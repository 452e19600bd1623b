"""Which encoder signatures are each camera's own: declared in the registry, learned from the catalog.

The catalog learns the way Mahdian, Nedbal & Saic ("Blind verification of digital image
originality", IEEE TIFS 2013) propose for unvetted web collections: a signature is a camera's when
at least ``min_uploaders`` independent uploaders contributed files of one make, model and firmware
(Software) with it, counting only files that pass the metadata checks a camera original passes
(native size, the camera's minimum quality), so one uploader's re-saves never teach it anything.

A file is then checked against the union of its camera's known signatures (``check_encoder``):

- ``camera``: its signature is one of them;
- ``resaved``: only container parts differ from one whose pixel parts (tables, sampling) it shares:
  a metadata edit, a lossless transcode or a re-save with the camera's own settings;
- ``foreign``: no known signature has its tables and sampling: another encoder made the pixels;
- ``unknown``: nothing is known of the camera yet (too few uploaders), and no rule is broken.

Registry rules (``[cameras.ID.encoder]``) apply whatever has been learned. The book also carries
each camera's learned thumbnail agreement (``pipeline.thumbnail_book``), so that a verdict's
staleness is one hash of everything the catalog taught it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from pipeline.evidence import EncoderSignature, SignatureCount
from pipeline.registry import Camera, EncoderRules, Registry
from pipeline.signature import PARTS, PIXEL_PARTS, differing_parts
from pipeline.thumbnail_book import LearnedThumbnail

_PIXEL_INDEX = tuple(i for i, name in enumerate(PARTS) if name in PIXEL_PARTS)


@dataclass(frozen=True, slots=True)
class LearnedSignature:
    """One signature of one camera firmware, with the evidence for it."""

    label: str
    firmware: str
    signature: str
    files: int
    uploaders: int
    established: bool


@dataclass(frozen=True)
class SignatureBook:
    entries: tuple[LearnedSignature, ...] = ()
    min_uploaders: int = 3
    known_ids: dict[str, frozenset[str]] = field(default_factory=dict)
    thumbnails: dict[str, LearnedThumbnail] = field(default_factory=dict)

    @cached_property
    def hash(self) -> str:
        """Changes exactly when the established signatures or a learned thumbnail limit change
        (verdicts depend on them)."""
        doc: dict[str, object] = {label: sorted(ids) for label, ids in sorted(self.known_ids.items())}
        if self.thumbnails:  # absent when nothing is learned, so older verdicts stay current
            doc["thumbnail limits"] = {label: t.limit for label, t in sorted(self.thumbnails.items())}
        return hashlib.sha256(json.dumps(doc).encode()).hexdigest()

    def known(self, camera: Camera) -> frozenset[str]:
        return self.known_ids.get(camera.id, frozenset()) | frozenset(camera.encoder.signatures)


EMPTY_BOOK = SignatureBook()


def learn_signatures(counts: Iterable[SignatureCount], registry: Registry, min_uploaders: int,
                     min_quality: Callable[[Camera], int]) -> SignatureBook:
    """Group the catalog's signature counts by camera, firmware and signature; keep the evidence."""
    uploaders: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    files: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in counts:
        label = registry.match(row.make, row.model).label
        if label is None:
            continue
        camera = registry.get(label)
        if row.width is None or row.height is None or not camera.is_native_size(row.width, row.height):
            continue
        if row.quality is None or row.quality < min_quality(camera):
            continue
        key = (label, (row.software or "").strip(), row.signature)
        uploaders[key].add(row.uploader)
        files[key] += row.files
    entries = tuple(LearnedSignature(label, firmware, sig, files[(label, firmware, sig)], len(who),
                                     len(who) >= min_uploaders)
                    for (label, firmware, sig), who in sorted(uploaders.items()))
    known: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        if entry.established:
            known[entry.label].add(entry.signature)
    return SignatureBook(entries, min_uploaders, {k: frozenset(v) for k, v in known.items()})


@dataclass(frozen=True, slots=True)
class EncoderCheck:
    """How a file's signature relates to its camera's: status, the parts in question, in words."""

    status: str  # "camera", "resaved", "foreign" or "unknown"
    parts: tuple[str, ...] = ()
    detail: str = ""


def check_encoder(signature: EncoderSignature, camera: Camera, book: SignatureBook) -> EncoderCheck:
    """The file's signature against its camera's known signatures and registry rules."""
    container_rules, pixel_rules = rule_violations(signature, camera.encoder)
    if pixel_rules:
        return EncoderCheck("foreign", tuple(p for p, _ in pixel_rules), "; ".join(t for _, t in pixel_rules))
    known, sig = book.known(camera), signature.id
    if sig in known or not known:
        status = "resaved" if container_rules else ("camera" if known else "unknown")
        return EncoderCheck(status, tuple(p for p, _ in container_rules),
                            "; ".join(t for _, t in container_rules))
    same_pixels = [k for k in known if _pixel_key(k) == _pixel_key(sig)]
    nearest = min(same_pixels or known, key=lambda k: (len(differing_parts(sig, k)), k))
    parts = differing_parts(sig, nearest)
    status = "resaved" if same_pixels else "foreign"
    what = "container" if same_pixels else "encoding"
    detail = (f"{what} differs from {camera.id}'s {len(known)} known signature(s) in "
              f"{', '.join(parts)} (nearest {nearest})")
    return EncoderCheck(status, parts, "; ".join([detail, *(t for _, t in container_rules)]))


def _pixel_key(signature_id: str) -> tuple[str, ...]:
    digests = signature_id.split("-")
    return tuple(digests[i] for i in _PIXEL_INDEX)


def rule_violations(signature: EncoderSignature, rules: EncoderRules) -> tuple[list[tuple[str, str]],
                                                                            list[tuple[str, str]]]:
    """(container, pixel) rule breaches as (part, text): what the registry says the firmware never does."""
    container: list[tuple[str, str]] = []
    pixel: list[tuple[str, str]] = []
    if rules.jfif is False and "APP0:JFIF" in signature.markers.split():
        container.append(("markers", "a JFIF APP0 segment (the firmware writes none)"))
    if rules.progressive is False and signature.coding.startswith("progressive"):
        container.append(("coding", "progressive coding (the firmware writes baseline)"))
    if rules.huffman == "standard" and signature.huffman != "standard":
        container.append(("huffman", "optimised Huffman tables (the firmware uses the standard ones)"))
    if rules.huffman == "optimised" and signature.huffman == "standard":
        container.append(("huffman", "standard Huffman tables (the firmware optimises them)"))
    if rules.ijg_tables is False and signature.tables.startswith("ijg:"):
        pixel.append(("tables", f"libjpeg's quality-{signature.tables[4:]} tables (the firmware never "
                                "uses libjpeg's)"))
    subsampling = signature.sampling.split(" ", 1)[0]
    if rules.subsampling and subsampling not in rules.subsampling:
        pixel.append(("sampling", f"chroma subsampling {subsampling} (the firmware writes "
                                  f"{', '.join(rules.subsampling)})"))
    return container, pixel
