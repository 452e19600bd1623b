"""The curate and export stages: catalog in, verdicts and dataset manifests out.

Thin composition over ``pipeline`` (facts, verdicts, dedup, splits, manifests) and ``db`` (the
catalog). Work is done in batches and committed batch by batch, so a killed ``camid curate``
resumes where it stopped: files already read are not read again, verdicts already current are
not recomputed.

An export writes only into a dataset directory of its own making (``flows.stages.datasets``):
a new one, or with ``replace`` one an earlier export made; and only once every stored file it
lists is there with the content its SHA-256 names, so a dataset never lists a file that is gone.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from db import Catalog
from flows.progress import Tick
from flows.stages.datasets import check_stored, claim_dataset_dir, mark_dataset_dir
from flows.stages.imagefolder import write_imagefolder
from flows.stages.learning import learn_book
from flows.stages.workers import claimer_id, dead_local_claimers
from pipeline.batching import batched
from pipeline.dedup import cluster_near_duplicates, perceptual_hash
from pipeline.errors import CamidError
from pipeline.export_rows import export_item, manifest_row
from pipeline.facts import READER_VERSION, facts_hash, read_facts
from pipeline.manifest import atomic_write, write_manifest
from pipeline.policy import Policy
from pipeline.records import (
    ExportItem,
    FactsUpdate,
    Judgement,
    ManifestRow,
    PerceptualHash,
    PixelUpdate,
)
from pipeline.registry import Registry
from pipeline.signature_book import EMPTY_BOOK, SignatureBook
from pipeline.split import Shortfall, check_targets, split_items
from pipeline.split_report import describe_split
from pipeline.storage import resolve
from pipeline.verdict import judge

BATCH = 500
PIXEL_BATCH = 50  # files decoded per commit: a killed run loses at most this many measurements
LEASE_S = 600.0  # a batch takes about a second; the lease only matters after a crash
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CurateReport:
    read: int
    judged: int
    accepted: int
    rejected: int
    hashed: int
    measured: int = 0  # files the pixel stage decoded


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What an export wrote: images per split, groups, clusters, and whether test is device-clean.

    ``test_devices_unseen`` is measured on the rows (``pipeline.split_report``); ``shortfalls``
    are the classes a held-out split got fewer of than asked (too few devices).
    """

    directory: Path
    train: int
    val: int
    groups: int
    clusters: int
    counts: dict[str, dict[str, int]]
    test: int = 0
    test_devices_unseen: bool = True
    shortfalls: tuple[Shortfall, ...] = ()
    heldout: int = 0  # images of the cameras held out of the classes (open-set evaluation)


def curate(catalog: Catalog, data_dir: Path, registry: Registry, policy: Policy,
           tick: Tick | None = None) -> CurateReport:
    """Read facts of new files, judge what changed, measure the pixels of what the header stage
    accepted and judge those again; hash accepted files for near-duplicate clusters.

    The steps are also run apart (``flows.dask_fanout``): reading and measuring on many workers,
    judging, which only looks at stored facts, once.
    """
    tick = tick or _no_tick
    read = read_facts_claimed(catalog, data_dir, tick)
    book = learn_book(catalog, registry, policy)
    outcome = judge_all(catalog, registry, policy, book, tick)
    measured = measure_pixels(catalog, data_dir, tick) if policy.pixel_checks else 0
    if measured:  # the new pixel facts may teach thumbnail limits: learn again, then judge
        book = learn_book(catalog, registry, policy)
        outcome.update(judge_all(catalog, registry, policy, book, tick))
    hashed = hash_accepted(catalog, data_dir, tick)
    accepted = sum(outcome.values())
    return CurateReport(read=read, judged=len(outcome), accepted=accepted,
                        rejected=len(outcome) - accepted, hashed=hashed, measured=measured)


def judge_all(catalog: Catalog, registry: Registry, policy: Policy, book: SignatureBook = EMPTY_BOOK,
              tick: Tick | None = None) -> dict[str, bool]:
    """Judge every image whose verdict is missing or stale; returns whether each was accepted."""
    pending = catalog.images_to_judge(policy.hash, registry.hash, book.hash)
    outcome: dict[str, bool] = {}
    for _done, batch in _progress(pending, "judging", tick or _no_tick):
        judgements = [Judgement(s.sha256, judge(s.facts, registry, policy, book, s.pixels), s.facts_hash,
                                book.hash, s.pixel_hash) for s in batch]
        catalog.record_verdicts(judgements)
        outcome.update((j.sha256, j.verdict.accepted) for j in judgements)
    return outcome


def measure_pixels(catalog: Catalog, data_dir: Path, tick: Tick | None = None, shard: int = 0,
                   shards: int = 1) -> int:
    """The pixel stage on every file that waits for it; returns how many were measured.

    Like hashing, ``shard`` of ``shards`` takes only the files whose SHA-256 falls in its share,
    so workers given distinct shards split the decoding without claims. The perceptual hash
    is computed from the same decode.
    """
    from pipeline.facts_codec import pixels_hash
    from pipeline.pixels import PIXEL_VERSION, read_pixels

    tasks = [t for t in catalog.images_needing_pixels(PIXEL_VERSION)
             if int(t.sha256[:8], 16) % shards == shard]
    for _done, batch in _progress(tasks, "checking pixels", tick or _no_tick, size=PIXEL_BATCH):
        updates = []
        for task in batch:
            pixels = read_pixels(resolve(data_dir, task.path), task.facts)
            updates.append(PixelUpdate(task.sha256, pixels, pixels_hash(pixels), PIXEL_VERSION))
        catalog.save_pixels(updates)
    return len(tasks)


def hash_accepted(catalog: Catalog, data_dir: Path, tick: Tick | None = None,
                  shard: int = 0, shards: int = 1) -> int:
    """Perceptual hashes of accepted files not hashed yet; returns how many were hashed.

    ``shard`` of ``shards`` takes only the files whose SHA-256 falls in its share, so workers
    given distinct shards split the decoding (the costly part) without claims.
    """
    unhashed = [img for img in catalog.accepted_without_phash()
                if int(img.sha256[:8], 16) % shards == shard]
    for _done, batch in _progress(unhashed, "hashing accepted files", tick or _no_tick):
        catalog.save_phashes([PerceptualHash(img.sha256, perceptual_hash(resolve(data_dir, img.path)))
                              for img in batch])
    return len(unhashed)


def read_facts_claimed(catalog: Catalog, data_dir: Path, tick: Tick | None = None,
                       worker: str | None = None, lease: float = LEASE_S) -> int:
    """Read the headers of every stored file whose facts are missing or stale; returns how many.

    Files are claimed a batch at a time, so any number of curators (processes, Dask tasks,
    machines) can run this on one catalog and no file is read twice; the facts of a batch and
    the end of its lease are one commit. Claims of dead curators on this host are released
    first, so a killed run's files are read again at once.
    """
    tick = tick or _no_tick
    claimer = claimer_id(worker)
    for dead in dead_local_claimers(catalog.live_image_claimers(datetime.now(UTC))):
        catalog.release_image_claims(dead)
    total, read = catalog.count_images_needing_facts(READER_VERSION), 0
    tick("reading headers", 0, total)
    try:
        while True:
            now = datetime.now(UTC)
            batch = catalog.claim_fact_reading(claimer, now, now + timedelta(seconds=lease),
                                               READER_VERSION, BATCH)
            if not batch:
                return read
            catalog.save_facts([_facts_update(img.sha256, resolve(data_dir, img.path))
                                for img in batch])
            read += len(batch)
            tick("reading headers", read, max(total, read))
    finally:
        catalog.release_image_claims(claimer)


def export(catalog: Catalog, data_dir: Path, name: str, registry: Registry, seed: int,
           per_class: int | None, fraction: float | None, replace: bool = False,
           test_per_class: int | None = None, test_fraction: float | None = None,
           hold_out: Sequence[str] = ()) -> ExportReport:
    """Write ``datasets/NAME/`` (train/val/test CSVs, manifest.json, ATTRIBUTION.md) from verdicts.

    Test takes devices training never sees (``pipeline.split``). When neither test option is
    given it mirrors validation's (``per_class`` or ``fraction``), so every caller gets a test
    split without asking; ``test_per_class=0`` makes none. An existing ``NAME`` is refused
    unless ``replace`` (and then only one camid made). Cameras in ``hold_out`` are not classes:
    all their accepted files go to ``heldout.csv``, for measuring open-set detection.
    """
    if not name or os.sep in name or name.startswith(".") or (os.altsep and os.altsep in name):
        raise CamidError(f"invalid dataset name {name!r}: use a plain directory name")
    if test_per_class is None and test_fraction is None:
        test_per_class, test_fraction = per_class, fraction
    check_targets("val", per_class, fraction)
    check_targets("test", test_per_class, test_fraction)
    directory = data_dir / "datasets" / name
    claim_dataset_dir(directory, replace)
    everything, policy_hash = _exportable(catalog, registry)
    check_stored(data_dir, everything)
    items, held = _hold_out(everything, hold_out, registry)
    clusters = cluster_near_duplicates([it.phash for it in items])
    split = split_items(items, clusters, seed, per_class=per_class, fraction=fraction,
                        test_per_class=test_per_class, test_fraction=test_fraction)
    mark_dataset_dir(directory)
    classes = tuple(c for c in registry.ids if any(it.label == c for it in items))
    train, val, test = (_rows(part, data_dir, directory) for part in (split.train, split.val, split.test))
    made = describe_split({"train": train, "val": val, "test": test}, split.shortfalls)
    extra = {"val_per_class": per_class, "val_fraction": fraction, "test_per_class": test_per_class,
             "test_fraction": test_fraction, "groups": split.groups,
             "near_duplicate_clusters": len(set(clusters)), "split": made.to_json(),
             "test_devices_unseen": made.test_devices_unseen, "held_out_cameras": sorted(set(hold_out))}
    written = write_manifest(directory, name, classes, train, val, registry_hash=registry.hash,
                             policy_hash=policy_hash, seed=seed, extra=extra, test=test,
                             heldout=_rows(held, data_dir, directory))
    _write_attribution(directory / "ATTRIBUTION.md", name, (*split.train, *split.val, *split.test, *held))
    write_imagefolder(directory)  # the Hugging Face imagefolder view, read back from the manifest
    catalog.record_export(name, str(directory), written.summary())
    return ExportReport(directory, len(written.train), len(written.val), split.groups, len(set(clusters)),
                        written.counts(), len(written.test), made.test_devices_unseen, split.shortfalls,
                        len(written.heldout))


def _hold_out(items: list[ExportItem], hold_out: Sequence[str],
              registry: Registry) -> tuple[list[ExportItem], list[ExportItem]]:
    """(the items that make the classes, those of the held-out cameras)."""
    unknown = sorted(set(hold_out) - set(registry.ids))
    if unknown:
        raise CamidError(f"--hold-out {', '.join(unknown)}: not a camera of the registry")
    kept = [it for it in items if it.label not in hold_out]
    if not kept:
        raise CamidError("every accepted image belongs to a --hold-out camera: nothing is left to train on")
    return kept, [it for it in items if it.label in hold_out]


def _exportable(catalog: Catalog, registry: Registry) -> tuple[list[ExportItem], str]:
    """The accepted items and the one policy hash behind them; stale verdicts are refused."""
    items = [export_item(stored) for stored in catalog.accepted_items()]
    if not items:
        raise CamidError("no accepted images in the catalog: run `camid curate` first")
    hashes = catalog.accepted_verdict_hashes()
    policy_hashes, registry_hashes = {h for h, _ in hashes}, {r for _, r in hashes}
    if registry_hashes != {registry.hash} or len(policy_hashes) != 1:
        raise CamidError("verdicts are out of date for this registry or policy: run `camid curate`")
    return items, policy_hashes.pop()


def _facts_update(sha256: str, path: Path) -> FactsUpdate:
    facts = read_facts(path)
    return FactsUpdate(sha256, facts, facts_hash(facts), READER_VERSION)


def _rows(items: Sequence[ExportItem], data_dir: Path, directory: Path) -> tuple[ManifestRow, ...]:
    """Manifest rows, image paths relative to the dataset directory (so both can move together)."""
    return tuple(manifest_row(it, os.path.relpath(resolve(data_dir, it.path), directory)) for it in items)


def _write_attribution(path: Path, name: str, items: Sequence[ExportItem]) -> None:
    """A human-readable licence and attribution list, grouped by licence."""
    by_licence: dict[str, list[ExportItem]] = {}
    for it in sorted(items, key=lambda i: (i.licence or "", i.sha256)):
        by_licence.setdefault(it.licence or "unknown licence", []).append(it)
    counts = Counter(it.licence or "unknown licence" for it in items)
    lines = [f"# Attribution for dataset {name}", "",
             f"{len(items)} images. Each remains under its own licence, listed below.", ""]
    for licence, group in by_licence.items():
        lines += [f"## {licence} ({counts[licence]})", ""]
        lines += [f"- `{it.sha256[:16]}` ({it.label}) by {it.uploader or 'unknown author'}, "
                  f"{it.source}: {it.attribution_url or 'no source URL'}" for it in group]
        lines.append("")
    atomic_write(path, "\n".join(lines))


def _progress(items: Sequence[T], stage: str, tick: Tick, size: int = BATCH) -> Iterator[tuple[int, list[T]]]:
    done = 0
    tick(stage, 0, len(items))
    for batch in batched(items, size):
        yield done, batch
        done += len(batch)
        tick(stage, done, len(items))


def _no_tick(stage: str, done: int, total: int) -> None:
    return None
