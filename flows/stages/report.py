"""The report stage: a dataset card (``report.html``) for one dataset or for the whole catalog.

Reads the catalog's accepted files, rejections and a bounded set of examples (``db.card``), the
dataset's split from its manifest, makes the thumbnails the card shows from a reduced decode
(``pipeline.thumbnails``, a few threads: libjpeg releases the GIL), and writes the page
(``pipeline.card_html``) atomically. The number of thumbnails is bounded per camera and per
reason, so the card of a large catalog stays small and quick to build.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from db import Catalog
from pipeline import __version__
from pipeline.card import PER_CAMERA, PER_REASON, CardImage, CardInput, Provenance, SplitMember, plan_card
from pipeline.card_html import render_card
from pipeline.errors import CamidError
from pipeline.manifest import Manifest, atomic_write, read_manifest
from pipeline.records import ManifestRow
from pipeline.registry import Registry
from pipeline.storage import resolve
from pipeline.summary import summarise
from pipeline.thumbnails import thumbnail

REPORT = "report.html"
THUMB_THREADS = 4


@dataclass(frozen=True, slots=True)
class ReportResult:
    path: Path
    bytes: int
    images: int  # files the card describes
    thumbnails: int  # previews embedded
    seconds: float


def report_path(data_dir: Path, name: str | None) -> Path:
    """Where the card of dataset ``name`` (or, for None, of the whole catalog) is written."""
    return data_dir / "datasets" / name / REPORT if name else data_dir / REPORT


def write_dataset_card(catalog: Catalog, data_dir: Path, registry: Registry, name: str | None = None,
                 per_camera: int = PER_CAMERA, per_reason: int = PER_REASON) -> ReportResult:
    """Write the card of dataset ``name`` (``datasets/NAME/report.html``) or of the catalog."""
    started = time.perf_counter()
    manifest = _manifest(data_dir, name) if name else None
    card = catalog.card_catalog(per_reason)
    funnel = summarise(catalog.stats())
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    if manifest is not None:
        images, members = _dataset_images(manifest, card.accepted)
        provenance = Provenance(registry_hashes=(manifest.registry_hash,),
                                policy_hashes=(manifest.policy_hash,), camid_version=__version__,
                                generated_at=now, seed=manifest.seed, rows_sha256=manifest.rows_sha256,
                                manifest_format=manifest.format)
        title = f"camid dataset card: {manifest.name}"
    else:
        images, members = card.accepted, ()
        provenance = Provenance(registry_hashes=tuple(sorted({r for _, r in card.verdict_hashes})),
                                policy_hashes=tuple(sorted({p for p, _ in card.verdict_hashes})),
                                camid_version=__version__, generated_at=now)
        title = "camid catalog card"
    cameras = tuple((c.id, c.name) for c in registry.cameras)
    plan = plan_card(CardInput(title=title, dataset=name, cameras=cameras, catalog=card, funnel=funnel,
                               images=images, splits=members, provenance=provenance), per_camera, per_reason)
    wanted = plan.thumbnails_needed()
    with ThreadPoolExecutor(THUMB_THREADS) as pool:
        made = list(pool.map(lambda item: thumbnail(resolve(data_dir, item[1])), wanted))
    thumbs = {sha: data for (sha, _), data in zip(wanted, made, strict=True)}
    page = render_card(plan, thumbs)
    path = report_path(data_dir, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, page)
    except OSError as exc:
        raise CamidError(f"cannot write {path}: {exc.strerror or exc}") from None
    return ReportResult(path, len(page.encode("utf-8")), len(images), sum(1 for d in made if d),
                        time.perf_counter() - started)


def _manifest(data_dir: Path, name: str) -> Manifest:
    directory = data_dir / "datasets" / name
    if not (directory / "manifest.json").is_file():
        raise CamidError(f"no dataset {name!r} in {data_dir / 'datasets'}: run `camid export {name}` first")
    return read_manifest(directory)


def _dataset_images(manifest: Manifest, accepted: tuple[CardImage, ...]
                    ) -> tuple[tuple[CardImage, ...], tuple[SplitMember, ...]]:
    """The dataset's files as the card shows them, with the split each is on.

    The dataset's own row decides the label, uploader and licence (the catalog may have moved on
    since the export); the catalog adds what the manifest does not hold (quality, bytes, the
    camera the query asked for). A file the catalog no longer accepts is still shown, from its row.
    """
    known = {img.sha256: img for img in accepted}
    images: list[CardImage] = []
    members: list[SplitMember] = []
    for split in ("train", "val", "test"):
        rows: tuple[ManifestRow, ...] = tuple(getattr(manifest, split, ()) or ())
        for row in rows:
            device = getattr(row, "device", None) or None
            stored = known.get(row.sha256)
            base = stored or CardImage(sha256=row.sha256, path=str(manifest.image_path(row)), label=row.label,
                                       claimed=None, source=row.source, uploader=row.uploader,
                                       licence=row.licence, width=row.width, height=row.height,
                                       quality=None, bytes=None)
            images.append(replace(base, label=row.label, source=row.source, uploader=row.uploader,
                                  licence=row.licence, device=device))
            members.append(SplitMember(row.sha256, split, row.label, row.uploader, device, row.source))
    return tuple(images), tuple(members)
