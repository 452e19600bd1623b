"""``camid demo``: the whole pipeline on a generated camera world served on loopback.

The demo brings its own world (no keys, no internet) and then runs the same code a real run
uses: the Wikimedia scraper and the downloader talk HTTP to the loopback Commons server, curation
judges the downloaded files, export writes a manifest, training and the challenge-protocol
evaluation run on it. Only the sizes are small, so it finishes on two CPU cores.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from db import Catalog
from flows.demo.cameras import CAMERAS, HELD_OUT
from flows.demo.report import DecoyOutcome, DemoSummary, write_report, write_summary
from flows.demo.server import CommonsFake, file_url
from flows.demo.world import DemoFile, build_world, registry_toml
from flows.progress import Tick
from flows.stages.acquire import download, scrape
from flows.stages.curate import curate, export
from flows.stages.report import write_dataset_card
from flows.stages.sources import make_source
from pipeline.errors import CamidError
from pipeline.policy import load_policy
from pipeline.registry_load import load_registry

if TYPE_CHECKING:  # heavy: imported by the stages that need them
    from scrapers.download import DownloaderConfig
    from training.evalsummary import EvalResult

MARKER = ".camid-demo"
CONTACT = "camid-demo@localhost"


@dataclass(frozen=True, slots=True)
class DemoSize:
    """How big a demo run is: the world, the split, the training and the evaluation."""

    per_camera: int
    val_per_class: int  # one simulated device's images: validation and test each take one device
    steps: int
    batch_size: int
    crop: int
    input_size: int
    eval_crop: int
    tta: bool
    arch: str = "camnet"
    lr: float = 2e-3
    val_every: int = 100
    p_ops: float = 0.5
    curves: bool = True
    evidence_crops: int = 8  # crops per image of the forensic evaluation (calibration, open set)
    prototypes: int = 10  # training images per class behind the class prototypes


QUICK = DemoSize(per_camera=40, val_per_class=10, steps=300, batch_size=32, crop=144, input_size=64,
                 eval_crop=128, tta=False, lr=3e-3, val_every=50, p_ops=0.5, curves=False, evidence_crops=4)
FULL = DemoSize(per_camera=100, val_per_class=25, steps=1500, batch_size=32, crop=144, input_size=64,
                eval_crop=128, tta=True, lr=2e-3, val_every=100, p_ops=0.8, curves=True)


def run_demo(root: Path, quick: bool, tick: Tick, say: Callable[[str], None]) -> DemoSummary:
    """Generate, serve, scrape, download, curate, export, train, evaluate; write the report."""
    size = QUICK if quick else FULL
    _fresh(root)
    stages: dict[str, float] = {}
    started = time.perf_counter()
    with _stage(stages, "generate", say):
        world = build_world(size.per_camera)
        (root / "demo-registry.toml").write_text(registry_toml())
        registry = load_registry(root / "demo-registry.toml")
    with CommonsFake(world) as server, Catalog.open(f"sqlite:///{root / 'catalog.db'}") as catalog:
        say(f"loopback Commons API at {server.endpoint}: {len(world)} files in {len(CAMERAS)} categories")
        with _stage(stages, "scrape", say):
            source = make_source("wikimedia", catalog, registry, endpoint=server.endpoint, contact=CONTACT)
            scrape(catalog, source, [registry.get(c.id) for c in CAMERAS])
        with _stage(stages, "download", say):
            download(catalog, _downloader(root), tick=tick, horizon=0.0)
        with _stage(stages, "curate", say):
            curate(catalog, root, registry, load_policy(), tick)
        with _stage(stages, "export", say):
            dataset = export(catalog, root, "demo", registry, seed=0, per_class=size.val_per_class,
                             fraction=None, test_per_class=size.val_per_class, hold_out=HELD_OUT).directory
            write_dataset_card(catalog, root, registry, "demo")  # datasets/demo/report.html
        outcomes = {o.url: o for o in catalog.outcomes("wikimedia")}
        decoys = _decoys(world, outcomes, server)
        rejected = Counter(r for o in outcomes.values() if o.status.value in ("rejected", "skipped")
                           for r in o.reasons)
        rejected.update("download_failed" for o in outcomes.values() if o.status.value == "failed")
        accepted = sum(o.status.value == "accepted" for o in outcomes.values())
    with _stage(stages, "train", say):
        run_dir = _train(dataset, root / "runs" / "demo", size, tick)
    with _stage(stages, "evaluate", say):
        metrics = _evaluate(run_dir, size, tick)
    summary = DemoSummary(accepted, dict(rejected), metrics.weighted_accuracy, metrics.accuracy_unaltered,
                          metrics.accuracy_altered, time.perf_counter() - started, root, dataset, run_dir,
                          decoys, stages, len(metrics.classes), metrics.split,
                          metrics.ci95.get("weighted_accuracy", ()),
                          metrics.baseline["weighted_accuracy"] if metrics.baseline else None,
                          metrics.test_devices_unseen, metrics.forensic)
    write_summary(summary)
    write_report(summary, sorted(run_dir.glob("*.png")))
    return summary


def _fresh(root: Path) -> None:
    """Start from an empty demo directory; never wipe a directory the demo did not create."""
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise CamidError(f"{root} exists and is not a camid demo directory: choose another --data-dir")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("created by camid demo; deleted and rebuilt by the next `camid demo`\n")


@contextmanager
def _stage(stages: dict[str, float], name: str, say: Callable[[str], None]) -> Iterator[None]:
    say(f"[{name}]")
    started = time.perf_counter()
    yield
    stages[name] = time.perf_counter() - started


def _downloader(root: Path) -> DownloaderConfig:
    from flows.stages.configs import downloader_config

    return downloader_config(root, concurrency=8, contact=CONTACT, timeout=30.0, backoff=0.5,
                             loopback_unlimited=True, fsync=False)


def _decoys(world: list[DemoFile], outcomes: dict, server: CommonsFake) -> list[DecoyOutcome]:
    base = server.endpoint.rsplit("/w/", 1)[0]
    found = []
    for f in world:
        if f.expected_reasons:
            o = outcomes.get(file_url(base, f.name))
            found.append(DecoyOutcome(f.name, f.expected_reasons, o.status.value if o else "not found",
                                      o.reasons if o else (), o.last_error if o else None))
    return found


def _train(dataset: Path, run_dir: Path, size: DemoSize, tick: Tick) -> Path:
    from flows.stages.configs import train_config
    from training.trainer import train

    cfg = train_config(dataset, run_dir.parent, {
        "run_dir": str(run_dir), "steps": size.steps, "arch": size.arch, "pretrained": False,
        "crop": size.crop, "input_size": size.input_size, "batch_size": size.batch_size, "lr": size.lr,
        "p_ops": size.p_ops, "p_gamma": 0.0, "p_jpeg": 0.0,  # the challenge's own gamma and JPEG only
        "schedule": "cosine", "checkpoint_every": size.steps, "log_every": size.val_every,
        "val_every": size.val_every, "workers": 0, "seed": 0, "device": "cpu",
        "cache_dir": str(run_dir.parent / "pixel-cache")})
    return train(cfg, tick=tick, warn=lambda _msg: None).run_dir


def _evaluate(run_dir: Path, size: DemoSize, tick: Tick) -> EvalResult:
    from flows.stages.configs import eval_config
    from training.evaluate import evaluate

    crops = tuple(c for c in (32, 64, 128, 192) if c <= size.eval_crop)
    cfg = eval_config({"crop_size": size.eval_crop, "tta": size.tta, "tta_whole": True, "curves": size.curves,
                       "crop_sizes": crops, "device": "cpu", "evidence_max_crops": size.evidence_crops,
                       "prototype_per_class": size.prototypes})
    return evaluate(run_dir, cfg, tick)
