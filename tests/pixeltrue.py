"""The pixel-true evaluation: real and demo-world originals, their altered copies, both stages.

Shared by ``tests/test_pixeltrue.py`` (which asserts the goals) and ``bench/pixeltrue.py``
(which prints the false-accept and false-reject table for the README). Each original is a camera
of its own: registered at its own size, its own firmware Software, a minimum quality of 1 (the
real files are 56-96; quality is not what is measured here), and its own encoder signature as the
one the catalog would have learned from many uploaders. Copies are judged against that. A demo
camera's thumbnail agreement is learned as the catalog would learn it, from twelve other files of
the same simulated camera (four devices, four uploaders), never from the file judged; a real
original is the only file of its camera here, so nothing is learned for it and the policy's own
thumbnail threshold applies.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.evidence import PixelFacts, ThumbnailSample
from pipeline.facts import facts_from_bytes
from pipeline.pixels import measure
from pipeline.policy import Policy
from pipeline.records import Reason
from pipeline.registry_load import build_registry
from pipeline.signature_book import EMPTY_BOOK, SignatureBook
from pipeline.thumbnail_book import learn_under_policy
from pipeline.verdict import judge
from tests import forgeries

# The real camera originals in ../shared/realworld/exif-samples: files with a camera Make/Model,
# at a size the camera writes, no editor in Software/XMP, an EXIF size equal to the real one. Left
# out, and why: the top-level samples and exif-org's kodak-dc240, olympus-c960, ricoh-rdc5300,
# sony-d700 and fujifilm-finepix40i were downscaled (their EXIF records twice their size or they
# say GIMP); 11-tests and 32-lens_data likewise; 28-hex_value, 30-type_error, 33-type_error and
# 87_OSError were edited (Windows Photo Gallery, Photoshop, GIMP, Camera Raw); 35-empty is 2164x1626,
# not an EX-Z750 size, with optimised Huffman tables (a re-save); 67-0_length_string is 4032x2012,
# not a Galaxy S7 size (cropped); 45-gps_ifd is a Gran Turismo 5 screenshot; the rest have no camera.
REAL_ORIGINALS = (
    "exif-org/canon-ixus.jpg", "exif-org/fujifilm-dx10.jpg", "exif-org/fujifilm-mx1700.jpg",
    "exif-org/kodak-dc210.jpg", "exif-org/sanyo-vpcg250.jpg", "exif-org/sanyo-vpcsx550.jpg",
    "exif-org/sony-cybershot.jpg",
    *(f"gps/DSCN00{n}.jpg" for n in (10, 12, 21, 25, 27, 29, 38, 40, 42)),
    "hdr/canon_hdr_NO.jpg", "hdr/canon_hdr_YES.jpg", "hdr/iphone_hdr_NO.jpg", "hdr/iphone_hdr_YES.jpg",
    "mobile/HMD_Nokia_8.3_5G.jpg", "mobile/jolla.jpg",
    "tests/22-canon_tags.jpg", "tests/36-memory_error.jpg", "tests/42_IndexError.jpg",
)
# Real camera files that camid now rejects although they passed the header checks before, and
# why they are not originals whose pixels are the camera's own (asserted in the tests).
NOT_PIXEL_TRUE = {
    "corrupted.jpg": (Reason.CORRUPT, "its scan is damaged: 16,383 fill bytes and a stray marker "
                      "inside the entropy-coded data, and libjpeg stops with 'premature end of data "
                      "segment' (the sample collection names it corrupted)"),
}
# Originals whose pixels the detectors read as interpolated, and why: the Jolla phone's 3264x2448
# output correlates neighbouring pixels as a 2x upscale does (0.21; other originals at most 0.035):
# its pipeline interpolates (an 8 MP frame from a smaller readout), so its pixels are not sensor
# samples either. It is the one real original rejected, and counted as such.
EXPECTED_REJECTED_ORIGINALS = {"mobile/jolla.jpg": Reason.RESAMPLED}


@dataclass(frozen=True)
class Outcome:
    """How one file fared: which stage rejected it, for which reasons."""

    kind: str  # "original" or a forgeries.Kind name
    name: str
    camera_pixels: bool  # True: must be accepted (originals and benign copies)
    header: tuple[Reason, ...]
    pixels: tuple[Reason, ...]
    flags: tuple[str, ...]
    seconds: float
    measured: PixelFacts | None = None

    @property
    def accepted(self) -> bool:
        return not self.header and not self.pixels


def registry_for(orig: forgeries.Original, data: bytes):  # type: ignore[no-untyped-def]
    """A registry of one camera: this file's make, model, size, firmware and signature."""
    facts = facts_from_bytes(data)
    entry = {"name": orig.name, "makes": [facts.make], "models": [_glob_literal(facts.model or "")],
             "sizes": [f"{facts.width}x{facts.height}"], "min_quality": 1,
             "firmware_software": [f"^{re.escape(facts.software)}$"] if facts.software else [],
             "encoder": {"signatures": [facts.signature.id]} if facts.signature else {}}
    return build_registry([("pixeltrue", {"cameras": {"cam": entry}})])


def _glob_literal(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def evaluate(originals: list[forgeries.Original], policy: Policy, kinds: tuple[forgeries.Kind, ...]
             = forgeries.KINDS) -> Iterator[Outcome]:
    """Every original and every copy of it, judged by the header stage and the pixel stage."""
    import time

    learned_from = _demo_siblings(originals)
    for index, orig in enumerate(originals):
        registry = registry_for(orig, orig.data)
        book = _book(registry, policy, learned_from.get(_demo_camera(orig.name), []))
        donor = originals[(index + 7) % len(originals)].pixels
        yield _judged("original", orig.name, True, orig.data, registry, policy, book, time)
        for kind in kinds:
            data = kind.make(orig, np.random.default_rng([index, len(kind.name)]), donor)
            if data is not None:
                yield _judged(kind.name, orig.name, kind.camera_pixels, data, registry, policy, book, time)


def _demo_camera(name: str) -> str | None:
    return name.removeprefix("demo/").split("_")[0] if name.startswith("demo/") else None


def _demo_siblings(originals: list[forgeries.Original], count: int = 12) -> dict[str, list[ThumbnailSample]]:
    """Per demo camera present, the thumbnail samples of ``count`` files judged nowhere here."""
    cameras = {c for c in (_demo_camera(o.name) for o in originals) if c}
    if not cameras:
        return {}
    from flows.demo.world import build_world

    taken = {o.name.removeprefix("demo/") for o in originals}
    out: dict[str, list[ThumbnailSample]] = {}
    for f in build_world(len(taken) // len(cameras) + count):
        camera = _demo_camera("demo/" + f.name)
        if camera not in cameras or f.name in taken or f.expected_reasons:
            continue
        if len(out.get(camera, [])) >= count:
            continue
        facts = facts_from_bytes(f.data)
        value = measure(f.data, facts).thumbnail_local
        if value is not None and facts.signature is not None:
            out.setdefault(camera, []).append(ThumbnailSample(
                facts.make, facts.model, facts.width, facts.height, facts.quality, facts.signature.id,
                f.author, value))
    return out


def _book(registry, policy: Policy, samples: list[ThumbnailSample]) -> SignatureBook:  # type: ignore[no-untyped-def]
    if not samples:
        return EMPTY_BOOK
    thumbnails = learn_under_policy(samples, registry, policy, min_quality=lambda camera: camera.min_quality,
                                    known=lambda camera: frozenset(camera.encoder.signatures))
    return SignatureBook(thumbnails=thumbnails)


def _judged(kind, name, camera_pixels, data, registry, policy, book, time) -> Outcome:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    facts = facts_from_bytes(data)
    header_only = dataclasses.replace(policy, checks=policy.checks - policy.pixel_checks)
    header = judge(facts, registry, header_only, book)
    pixels = measure(data, facts) if facts.has_eoi and facts.error is None else None
    full = judge(facts, registry, policy, book, pixels=pixels)
    pixel_reasons = tuple(r for r in full.reasons if r not in header.reasons)
    return Outcome(kind, name, camera_pixels, header.reasons, pixel_reasons, full.flags,
                   time.perf_counter() - started, pixels)


def load_real(root: Path, names: tuple[str, ...] = REAL_ORIGINALS) -> list[forgeries.Original]:
    return [forgeries.load_original(root / "jpg" / name, name) for name in names]


def load_demo(per_camera: int = 3) -> list[forgeries.Original]:
    """Originals of the demo's simulated cameras (each camera's first files)."""
    import tempfile

    from flows.demo.world import build_world

    out = []
    with tempfile.TemporaryDirectory() as folder:
        for f in build_world(per_camera):
            if f.expected_reasons or f.name.startswith("decoy"):
                continue
            path = Path(folder) / f.name
            path.write_bytes(f.data)
            out.append(forgeries.load_original(path, f"demo/{f.name}"))
    return out
