"""A run directory: everything needed to resume, evaluate and use a model, and nothing else.

    config.json      the resolved TrainConfig (what decides the result)
    run.json         classes, EXIF cameras per class (from the manifest), dataset identity, how it ran
    checkpoint.pt    the latest resumable state (model, optimiser, scheduler, sampler, RNG, metrics)
    best.pt          the weights of the best validation step so far (challenge score), with its step
    model.pt         the weights to use, written when training ends: the best validation step's
                     (``selection.json`` says which), or the last step's when nothing was validated
    last.pt          the last step's weights
    metrics.csv      one row per logged step; training.png plots it
    metrics.json     `camid evaluate`'s results, with confusion.png and robustness.csv/png

Every file is written beside its target and renamed over it, so a kill at any moment leaves the
previous complete version. Loading a model needs only this directory.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from pipeline.errors import CamidError
from pipeline.manifest import Manifest, atomic_write
from training.imageio import camera_key


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Paths inside one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def info(self) -> Path:
        return self.root / "run.json"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    @property
    def model(self) -> Path:
        return self.root / "model.pt"

    @property
    def best(self) -> Path:
        return self.root / "best.pt"

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def selection(self) -> Path:
        return self.root / "selection.json"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def metrics_png(self) -> Path:
        return self.root / "training.png"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a trained model is about: its classes and the cameras their training files named."""

    arch: str
    classes: tuple[str, ...]
    cameras: dict[str, list[str]]
    dataset: str
    manifest: str
    rows_sha256: str
    input_size: int
    grid: int
    world_size: int
    device: str
    amp: bool
    channels_last: bool
    data_path: str = ""  # the pixel source training read (cache, tiles, direct; ``training.datapath``)


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One logged step. ``val_*`` are empty on steps without validation."""

    step: int
    epoch: float
    lr: float
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    images_per_s: float
    elapsed_s: float
    val_score: float | None = None  # the challenge's weighted accuracy on validation (0.7/0.3)


METRIC_COLUMNS = tuple(f.name for f in fields(MetricRow))


def atomic_write_text(path: Path, text: str) -> None:
    """The manifest format's atomic writer (write beside, fsync, rename), for run-dir files."""
    atomic_write(path, text)


def atomic_save(path: Path, obj: object) -> None:
    """torch.save beside the target, fsync, rename: a kill mid-write keeps the old checkpoint."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def cameras_by_class(manifest: Manifest) -> dict[str, list[str]]:
    """The EXIF cameras (``camera_key``) the training rows of each class name, from the manifest.

    The catalog read each file's EXIF when it judged it and the manifest carries the result, so
    training never opens its files for it. A row without a model (a dataset exported before
    manifest format 2) names no camera.
    """
    cameras: dict[str, set[str]] = {name: set() for name in manifest.classes}
    for row in manifest.train:
        if row.model and row.label in cameras:
            cameras[row.label].add(camera_key(row.make or "", row.model))
    return {name: sorted(keys) for name, keys in cameras.items()}


def write_info(files: RunFiles, info: RunInfo) -> None:
    atomic_write_text(files.info, json.dumps(asdict(info), indent=2, sort_keys=True) + "\n")


def read_info(run_dir: Path) -> RunInfo:
    path = RunFiles(run_dir).info
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["classes"] = tuple(doc["classes"])
        return RunInfo(**doc)
    except FileNotFoundError:
        raise CamidError(f"{run_dir}: no run.json (not a camid run directory)") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise CamidError(f"{path}: unreadable: {exc}") from None


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged file raises many types
        raise CamidError(f"{path}: unreadable checkpoint: {str(exc).splitlines()[0]}") from None


def metrics_to_csv(rows: Sequence[MetricRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METRIC_COLUMNS)
    for row in rows:
        writer.writerow(["" if v is None else _fmt(v) for v in (getattr(row, c) for c in METRIC_COLUMNS)])
    return buf.getvalue()


def _fmt(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)
