"""The dataset card's records and the choices behind it: which files it shows, what it counts.

``camid report`` reads the catalog (``db.card``) into ``CatalogCard``, adds a dataset's split
(``SplitMember``s read from its manifest) and its provenance, and ``plan_card`` decides the
bounded part: at most ``per_camera`` accepted files per camera and ``per_reason`` rejected files
per reason get a thumbnail, whatever the catalog's size, so a card of 100,000 files stays a few
megabytes and is built in seconds. Everything else on the page is counts. The page itself is
``pipeline.card_html``'s pure function of a ``CardPlan`` and the thumbnails.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.summary import SourceSummary

PER_CAMERA = 24  # accepted thumbnails per camera
PER_REASON = 8  # rejected thumbnails per reason
SPLITS = ("train", "val", "test")


@dataclass(frozen=True, slots=True)
class CardImage:
    """A stored file as the card shows it, with the first candidate that found it.

    ``claimed`` is the camera the query was about (statistics only); ``label`` the verdict's (or
    the dataset's) class; ``device`` the dataset's device id where the manifest records one.
    """

    sha256: str
    path: str
    label: str | None
    claimed: str | None
    source: str | None
    uploader: str | None
    licence: str | None
    width: int | None
    height: int | None
    quality: int | None
    bytes: int | None
    device: str | None = None


@dataclass(frozen=True, slots=True)
class RejectionExample:
    """A rejected file shown under one of its reasons, with that reason's measured value and
    every reason its verdict gave."""

    reason: str
    detail: str | None
    image: CardImage
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CatalogCard:
    """What the catalog holds for a card: the accepted files (all of them: they are counted),
    rejections counted by reason, a bounded set of rejected examples per reason, when the
    candidates were found, and the hashes behind the accepted verdicts."""

    accepted: tuple[CardImage, ...]
    rejected_files: int
    rejected_by_reason: tuple[tuple[str, int], ...]
    examples: tuple[RejectionExample, ...]
    first_found: datetime | None = None
    last_found: datetime | None = None
    verdict_hashes: tuple[tuple[str, str], ...] = ()  # (policy hash, registry hash)


@dataclass(frozen=True, slots=True)
class SplitMember:
    """One image of a dataset's split, as its manifest lists it. An uploader is one per source
    (the split groups them so): "ann" on Flickr and "ann" on Commons are two people."""

    sha256: str
    split: str
    label: str
    uploader: str | None
    device: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """What produced the card's data: hashes, seed, rows hash, camid's version, the date."""

    registry_hashes: tuple[str, ...]
    policy_hashes: tuple[str, ...]
    camid_version: str
    generated_at: str
    seed: int | None = None
    rows_sha256: str | None = None
    manifest_format: str | None = None


@dataclass(frozen=True, slots=True)
class CardInput:
    """Everything a card is made of. ``dataset`` is None for a card of the whole catalog."""

    title: str
    dataset: str | None
    cameras: tuple[tuple[str, str], ...]  # registry id, display name
    catalog: CatalogCard
    funnel: tuple[SourceSummary, ...]  # camid stats' lines: per claimed camera and source
    images: tuple[CardImage, ...]  # what the card describes: the dataset's files, or all accepted
    splits: tuple[SplitMember, ...]
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class CameraSection:
    """One class: its files, the funnel of its queries, histograms and who contributed."""

    camera: str
    name: str
    images: int
    by_source: tuple[tuple[str, int], ...]
    funnel: tuple[SourceSummary, ...]
    shown: tuple[CardImage, ...]
    sizes: tuple[tuple[str, int], ...]
    qualities: tuple[tuple[str, int], ...]
    uploaders: int
    top_uploaders: tuple[tuple[str, int], ...]
    devices: int
    licences: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ReasonSection:
    reason: str
    files: int
    shown: tuple[RejectionExample, ...]
    by_camera: tuple[tuple[str, int], ...]  # claimed camera -> rejected files with this reason


@dataclass(frozen=True, slots=True)
class SplitSide:
    """One side of the split: images per class, and the uploaders and devices it holds."""

    split: str
    per_class: tuple[tuple[str, int], ...]
    images: int
    uploaders: int
    devices: int
    shared_uploaders: int  # uploaders also found on another side (0 in a leak-free split)
    shared_devices: int


@dataclass(frozen=True, slots=True)
class CardPlan:
    """The card as the page shows it: sections with their bounded thumbnails chosen."""

    input: CardInput
    cameras: tuple[CameraSection, ...]
    reasons: tuple[ReasonSection, ...]
    sides: tuple[SplitSide, ...]
    licences: tuple[tuple[str, int], ...]
    sources: tuple[tuple[str, int], ...]
    per_camera: int
    per_reason: int
    unlabelled: int = 0  # files of the card whose label is no registry camera
    notes: tuple[str, ...] = field(default=())

    def thumbnails_needed(self) -> tuple[tuple[str, str], ...]:
        """(sha256, stored path) of every file shown, once each, in a stable order."""
        seen: dict[str, str] = {}
        for section in self.cameras:
            for img in section.shown:
                seen.setdefault(img.sha256, img.path)
        for reason in self.reasons:
            for ex in reason.shown:
                seen.setdefault(ex.image.sha256, ex.image.path)
        return tuple(seen.items())


def plan_card(card: CardInput, per_camera: int = PER_CAMERA, per_reason: int = PER_REASON) -> CardPlan:
    """Sections of the card, thumbnails bounded per camera and per reason."""
    names = dict(card.cameras)
    by_label: dict[str, list[CardImage]] = defaultdict(list)
    for img in card.images:
        by_label[img.label or "unlabelled"].append(img)
    order = [c for c, _ in card.cameras if c in by_label] + sorted(set(by_label) - set(names))
    funnel: dict[str, list[SourceSummary]] = defaultdict(list)
    for line in card.funnel:
        funnel[line.camera or "unclaimed"].append(line)
    cameras = tuple(_camera_section(c, names.get(c, c), by_label[c], funnel.get(c, []), per_camera)
                    for c in order)
    claimed_reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for line in card.funnel:
        for reason, n in line.rejected_by_reason:
            claimed_reasons[reason][line.camera or "unclaimed"] += n
    examples: dict[str, list[RejectionExample]] = defaultdict(list)
    for ex in card.catalog.examples:
        examples[ex.reason].append(ex)
    reasons = tuple(ReasonSection(r, n, tuple(examples.get(r, [])[:per_reason]),
                                  tuple(claimed_reasons[r].most_common()))
                    for r, n in sorted(card.catalog.rejected_by_reason, key=lambda kv: (-kv[1], kv[0])))
    return CardPlan(
        input=card, cameras=cameras, reasons=reasons, sides=split_sides(card.splits),
        licences=_counted(img.licence or "unknown licence" for img in card.images),
        sources=_counted(img.source or "unknown source" for img in card.images),
        per_camera=per_camera, per_reason=per_reason,
        unlabelled=sum(1 for img in card.images if img.label not in names))


def split_sides(members: Sequence[SplitMember]) -> tuple[SplitSide, ...]:
    """Per split: images per class, distinct uploaders and devices, and how many of each the
    split shares with another side."""
    present = [s for s in SPLITS if any(m.split == s for m in members)]
    present += sorted({m.split for m in members} - set(present))
    uploaders = {s: {(m.source, m.uploader) for m in members if m.split == s and m.uploader} for s in present}
    devices = {s: {m.device for m in members if m.split == s and m.device} for s in present}
    sides = []
    for s in present:
        others_up = set().union(*(uploaders[o] for o in present if o != s))
        others_dev = set().union(*(devices[o] for o in present if o != s))
        rows = [m for m in members if m.split == s]
        sides.append(SplitSide(s, tuple(sorted(Counter(m.label for m in rows).items())), len(rows),
                               len(uploaders[s]), len(devices[s]), len(uploaders[s] & others_up),
                               len(devices[s] & others_dev)))
    return tuple(sides)


def _camera_section(camera: str, name: str, images: list[CardImage], funnel: list[SourceSummary],
                    per_camera: int) -> CameraSection:
    ordered = sorted(images, key=lambda i: i.sha256)  # content hashes: a fair, stable sample
    uploaders = Counter(f"{i.uploader} ({i.source})" if i.source else i.uploader
                        for i in images if i.uploader)  # one uploader per source, as the split has it
    sizes = Counter(f"{i.width}x{i.height}" for i in images if i.width and i.height)
    qualities = Counter(str(i.quality) for i in images if i.quality is not None)
    return CameraSection(
        camera=camera, name=name, images=len(images),
        by_source=_counted(i.source or "unknown source" for i in images),
        funnel=tuple(funnel), shown=tuple(ordered[:per_camera]),
        sizes=tuple(sizes.most_common(8)),
        qualities=tuple(sorted(qualities.items(), key=lambda kv: int(kv[0]))),
        uploaders=len(uploaders), top_uploaders=tuple(uploaders.most_common(8)),
        devices=len({i.device for i in images if i.device}),
        licences=_counted(i.licence or "unknown licence" for i in images))


def _counted(values: Iterable[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))
