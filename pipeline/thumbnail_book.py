"""How closely each camera's own EXIF thumbnails show its images: learned from the catalog.

The thumbnail test (``detectors.thumbnail_mismatch``) compares a file's EXIF thumbnail with its
downscaled image; a region pasted or moved after capture shows as one region that differs. How
much an untouched file's thumbnail differs depends on the camera: one firmware renders its
thumbnail from the same pipeline as the image (under 2 grey levels in the worst region), another
sharpens or tone-maps it apart (up to 14 on the real sample files). One threshold for all must
sit above the loosest camera, so an edit in a file of a tight camera passes under it.

So the catalog learns each camera's typical agreement the way it learns encoder signatures
(``pipeline.signature_book``): from files that pass the metadata checks a camera original passes
(native size, the camera's minimum quality, one of its known signatures), once at least
``min_uploaders`` independent uploaders contributed. The camera's limit is its median times
``factor``, never under ``floor`` grey levels and never over the policy's own threshold: the
median stands up to the odd edited file among those learned from, as a maximum would not.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pipeline.evidence import ThumbnailSample
from pipeline.policy import Policy
from pipeline.registry import Camera, Registry


@dataclass(frozen=True, slots=True)
class LearnedThumbnail:
    """One camera's thumbnail agreement as the catalog measured it, and the limit it gives."""

    label: str
    median: float
    limit: float
    files: int
    uploaders: int


def learn_thumbnails(samples: Iterable[ThumbnailSample], registry: Registry, *, min_uploaders: int,
                     min_quality: Callable[[Camera], int], known: Callable[[Camera], frozenset[str]],
                     factor: float, floor: float, ceiling: float) -> dict[str, LearnedThumbnail]:
    """Per camera id, its learned limit of ``thumbnail_local`` (cameras with too few uploaders: absent)."""
    values: dict[str, list[float]] = defaultdict(list)
    uploaders: dict[str, set[str]] = defaultdict(set)
    for sample in samples:
        camera = _camera_of(sample, registry)
        if camera is None or not _counts(sample, camera, min_quality(camera), known(camera)):
            continue
        values[camera.id].append(sample.thumbnail_local)
        uploaders[camera.id].add(sample.uploader)
    learned = {}
    for label, found in sorted(values.items()):
        if len(uploaders[label]) < min_uploaders:
            continue
        median = statistics.median(found)
        # in steps of half a grey level: a few more files measured then rarely change the limit,
        # and with it the book's hash that makes every verdict stale
        limit = min(ceiling, max(floor, round(factor * median * 2) / 2))
        learned[label] = LearnedThumbnail(label, round(median, 3), limit, len(found),
                                          len(uploaders[label]))
    return learned


def learn_under_policy(samples: Iterable[ThumbnailSample], registry: Registry, policy: Policy, *,
                       min_quality: Callable[[Camera], int],
                       known: Callable[[Camera], frozenset[str]]) -> dict[str, LearnedThumbnail]:
    """``learn_thumbnails`` with the policy's uploaders, factor, floor and ceiling."""
    return learn_thumbnails(samples, registry, min_uploaders=int(policy.threshold("encoder.min_uploaders")),
                            min_quality=min_quality, known=known,
                            factor=policy.threshold("pixels.learned_thumbnail_factor"),
                            floor=policy.threshold("pixels.learned_thumbnail_floor"),
                            ceiling=policy.threshold("pixels.max_thumbnail_local"))


def _camera_of(sample: ThumbnailSample, registry: Registry) -> Camera | None:
    label = registry.match(sample.make, sample.model).label
    return registry.get(label) if label else None


def _counts(sample: ThumbnailSample, camera: Camera, min_quality: int, known: frozenset[str]) -> bool:
    """Whether the file passes what a camera original passes, as far as learning needs."""
    width, height = sample.width, sample.height
    if width is None or height is None or not camera.is_native_size(width, height):
        return False
    if sample.quality is None or sample.quality < min_quality:
        return False
    return not known or sample.signature in known
