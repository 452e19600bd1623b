"""Learning each camera's thumbnail agreement from uploaders, and the verdict it tightens."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.evidence import PixelFacts, ThumbnailSample
from pipeline.facts import facts_from_bytes
from pipeline.pixel_checks import pixel_findings
from pipeline.pixels import measure
from pipeline.policy import load_policy
from pipeline.records import Reason
from pipeline.registry_load import build_registry
from pipeline.signature_book import EMPTY_BOOK, SignatureBook
from pipeline.thumbnail_book import LearnedThumbnail, learn_thumbnails
from tests.conftest import REALWORLD

CAMERA = {"name": "Acme A1", "makes": ["Acme"], "models": ["A1"], "sizes": ["4000x3000"]}
REGISTRY = build_registry([("t", {"cameras": {"Acme-A1": CAMERA}})])
OWN, OTHER = "own-signature", "editor-signature"


def samples(values: list[float], uploaders: int, *, size: tuple[int, int] = (4000, 3000), quality: int = 96,
            signature: str = OWN, make: str = "Acme") -> list[ThumbnailSample]:
    return [ThumbnailSample(make, "A1", size[0], size[1], quality, signature, f"flickr:u{i % uploaders}", v)
            for i, v in enumerate(values)]


def learn(rows: list[ThumbnailSample],
          known: frozenset[str] = frozenset({OWN})) -> dict[str, LearnedThumbnail]:
    return learn_thumbnails(rows, REGISTRY, min_uploaders=3, min_quality=lambda camera: 95,
                            known=lambda camera: known, factor=4.0, floor=3.0, ceiling=16.0)


@pytest.mark.parametrize(("rows", "limit"), [
    (samples([0.2, 0.3, 0.4, 0.3, 0.5, 0.2], 3), 3.0),  # a tight camera: the floor
    (samples([1.0, 1.5, 2.0, 1.2, 1.4, 1.8], 3), 6.0),  # 4 x the median 1.45, in half grey levels
    (samples([5.0, 6.0, 7.0, 5.5], 4), 16.0),  # a loose camera: never above the policy's own
    (samples([0.3, 0.4, 0.3, 40.0, 50.0], 5), 3.0),  # two edited files among five move no median
    (samples([0.3] * 10, 2), None),  # two uploaders: not enough
    (samples([0.3] * 10, 5, size=(2000, 1500)), None),  # not a native size: not evidence
    (samples([0.3] * 10, 5, quality=80), None),  # under the camera's minimum quality
    (samples([0.3] * 10, 5, signature=OTHER), None),  # not one of the camera's signatures
    (samples([0.3] * 10, 5, make="Other"), None),  # no registry camera
])
def test_learning(rows: list[ThumbnailSample], limit: float | None) -> None:
    learned = learn(rows).get("Acme-A1")
    assert (learned.limit if learned else None) == limit


def test_nothing_known_of_the_signatures_yet_still_teaches() -> None:
    learned = learn(samples([0.3] * 6, 3), known=frozenset())["Acme-A1"]
    assert (learned.files, learned.uploaders, learned.median) == (6, 3, 0.3)


def test_book_hash_follows_the_learned_limits() -> None:
    limits = learn(samples([0.3] * 6, 3))
    taught = SignatureBook(thumbnails=limits)
    assert SignatureBook().hash == EMPTY_BOOK.hash != taught.hash
    looser = SignatureBook(thumbnails={"Acme-A1": dataclasses.replace(limits["Acme-A1"], limit=4.0)})
    assert looser.hash != taught.hash


@pytest.mark.parametrize(("value", "learned_limit", "rejected"), [
    (6.2, None, False),  # under the policy's 16: nothing learned, nothing to say
    (6.2, 3.0, True),  # over this camera's learned 3
    (2.0, 3.0, False),
    (17.0, None, True),  # the policy's own threshold still holds
])
def test_the_learned_limit_tightens_the_thumbnail_check(value: float, learned_limit: float | None,
                                                        rejected: bool) -> None:
    pixels = PixelFacts("test", flat_fraction=0.0, thumbnail_error=0.5, thumbnail_local=value)
    learned = None if learned_limit is None else LearnedThumbnail("Acme-A1", 0.3, learned_limit, 12, 4)
    found = [(r, t) for r, t in pixel_findings(pixels, load_policy(), learned)
             if r is Reason.THUMBNAIL_MISMATCH]
    assert bool(found) == rejected
    if found and learned is not None:
        assert "learned for this camera" in found[0][1] and "12 files from 4 uploaders" in found[0][1]


# the real sample files' cameras with more than one file: make, model, and the sizes they are at
REAL_CAMERAS = {"P6000": ("NIKON", "COOLPIX P6000", "640x480"),
                "SX60": ("Canon", "Canon PowerShot SX60 HS", "2048x1536"),
                "iPhone6": ("Apple", "iPhone 6", "3264x2448")}


def test_real_cameras_learn_limits_their_own_files_keep() -> None:
    """The real sample files of one camera model, each its own uploader (as a catalog would see
    them): no file's own thumbnail difference exceeds what its camera's files teach. The Nikon
    COOLPIX P6000's nine files differ by 5.2 to 14.2 grey levels (median 9.0: the limit stays the
    policy's 16); the two of the Canon SX60 HS by 2.1 and 2.3 (limit 9)."""
    root = REALWORLD / "jpg"
    if not root.is_dir():
        pytest.skip("../shared/realworld is not present")
    rows = []
    for i, path in enumerate(sorted(root.rglob("*.jpg"))):
        data = path.read_bytes()
        facts = facts_from_bytes(data)
        if facts.error or facts.signature is None:
            continue
        value = measure(data, facts).thumbnail_local
        if value is not None:
            rows.append(ThumbnailSample(facts.make, facts.model, facts.width, facts.height, facts.quality,
                                        facts.signature.id, f"u{i}", value))
    reg = build_registry([("t", {"cameras": {cid: {"name": model, "makes": [make], "models": [model],
                                                   "sizes": [size]}
                                             for cid, (make, model, size) in REAL_CAMERAS.items()}})])
    learned = learn_thumbnails(rows, reg, min_uploaders=2, min_quality=lambda camera: 1,
                               known=lambda camera: frozenset(), factor=4.0, floor=3.0, ceiling=16.0)
    assert learned["P6000"].files == 9 and learned["P6000"].limit == 16.0
    assert learned["SX60"].limit == 9.0 and learned["iPhone6"].limit == 16.0
    for row in rows:
        label = reg.match(row.make, row.model).label
        if label in learned:
            assert row.thumbnail_local <= learned[label].limit, row
