"""Setting a training run up: dataset, pixel cache, run directory, model, optimiser, and resume.

A run directory that already holds a checkpoint is resumed, never restarted: model, optimiser,
scheduler, sampler position, RNG states, metric rows and the half-filled logging window all come
back, so the rest of the run computes what an uninterrupted run would have. Resuming with
settings that would change that result is refused (``config.differences``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from pipeline.errors import CamidError
from pipeline.manifest import Manifest, read_manifest
from pipeline.records import Tick
from training.config import TrainConfig, config_to_json, differences, load_train_config
from training.data import LabelledImages, check_sizes, split_of
from training.datapath import Choice, choose
from training.device import use_amp, use_channels_last
from training.distributed import World, barrier
from training.models import Warn, architectures, build_model
from training.pixelcache import PixelCache, PixelSource
from training.rundir import (
    MetricRow,
    RunFiles,
    RunInfo,
    atomic_write_text,
    cameras_by_class,
    load_checkpoint,
    write_info,
)
from training.tilestore import TileStore


@dataclass
class Session:
    """The live objects of one run (mutable by nature: weights and optimiser state change)."""

    cfg: TrainConfig
    world: World
    files: RunFiles
    manifest: Manifest
    train: LabelledImages
    val: LabelledImages
    source: PixelSource
    core: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    amp: bool
    channels_last: bool
    start: int = 0
    rows: list[MetricRow] = field(default_factory=list)
    window: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    drawn: float = 0.0  # when training.png was last drawn (time.monotonic)
    pixels: str = ""  # which pixel source feeds the crops, and why (``training.datapath``)


def open_session(cfg: TrainConfig, world: World, tick: Tick | None, warn: Warn) -> Session:
    """Everything a training loop needs, resumed from the run's checkpoint when there is one."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
        cv2.setNumThreads(cfg.threads)
    if cfg.arch not in architectures():  # before any slow work: a typo should fail at once
        raise CamidError(f"unknown --arch {cfg.arch!r} (see torchvision.models.list_models())")
    manifest = read_manifest(cfg.manifest)
    files = RunFiles(Path(cfg.run_dir))
    train, val = split_of(manifest, "train"), split_of(manifest, "val")
    if not train.images:
        raise CamidError(f"{manifest.directory}: the dataset has no training images")
    check_sizes(manifest, "train", cfg.crop)
    check_sizes(manifest, "val", cfg.input_size)
    _check_resumable(files, cfg)
    pixels = _prepare_pixels(cfg, world, train, val, tick)
    if world.main:
        _write_run_files(files, cfg, world, manifest, warn, pixels.name)
    barrier(world)
    torch.manual_seed(cfg.seed)
    resuming = files.checkpoint.exists()  # weights come from the checkpoint: skip the ImageNet file
    core = build_model(cfg.arch, len(manifest.classes), cfg.pretrained and not resuming,
                       None if resuming else cfg.weights, warn)
    channels_last = use_channels_last(cfg.channels_last, world.device)
    layout = torch.channels_last if channels_last else torch.preserve_format
    core = core.to(world.device).to(memory_format=layout)
    optimizer = torch.optim.Adam(core.parameters(), lr=cfg.lr)
    session = Session(cfg, world, files, manifest, train, val, pixels.source, core, optimizer,
                      make_scheduler(cfg, optimizer), use_amp(cfg.amp, world.device), channels_last,
                      pixels=pixels.why)
    if resuming:
        restore(session, load_checkpoint(files.checkpoint))
    return session


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer) -> Any:
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    if cfg.schedule == "cyclic":  # triangles between lr/10 and lr, each peak half the last
        half = max(1, (cfg.cycle_steps or max(2, cfg.steps // 4)) // 2)
        return torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=cfg.lr / 10, max_lr=cfg.lr,
                                                 step_size_up=half, mode="triangular2", cycle_momentum=False)
    return None


def _check_resumable(files: RunFiles, cfg: TrainConfig) -> None:
    if not files.config.exists():
        return
    diffs = differences(load_train_config(files.root), cfg)
    if diffs:
        raise CamidError(f"{files.root} holds a run with other settings ({'; '.join(diffs[:3])}): "
                         "resume it with the same options, or give another --run-dir")


def _prepare_pixels(cfg: TrainConfig, world: World, train: LabelledImages, val: LabelledImages,
                    tick: Tick | None) -> Choice:
    """Choose the pixel source, build this rank's share of its entries; all wait for all shares."""
    images = list(train.images + val.images)
    choice = choose(cfg.data_path, cfg.cache_dir, images)
    if isinstance(choice.source, PixelCache | TileStore):
        choice.source.ensure(images[world.rank::world.size], workers=max(1, cfg.workers), tick=tick)
        barrier(world)
    return choice


def _write_run_files(files: RunFiles, cfg: TrainConfig, world: World, manifest: Manifest,
                     warn: Warn, data_path: str) -> None:
    files.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(files.config, config_to_json(cfg))
    cameras = cameras_by_class(manifest)
    if not any(cameras.values()):
        warn(f"{manifest.directory}: the manifest names no EXIF cameras ({manifest.format}; camid "
             "exports them since camid-manifest/2): `camid predict` will not check EXIF against "
             "this model; export the dataset again to have it")
    write_info(files, RunInfo(
        arch=cfg.arch, classes=manifest.classes, cameras=cameras,
        dataset=manifest.name, manifest=str(manifest.directory), rows_sha256=manifest.rows_sha256,
        input_size=cfg.input_size, grid=cfg.grid, world_size=world.size, device=world.device.type,
        amp=use_amp(cfg.amp, world.device), channels_last=use_channels_last(cfg.channels_last, world.device),
        data_path=data_path))


def checkpoint_state(s: Session, step: int) -> dict[str, Any]:
    """Everything that decides the rest of the run, on the CPU."""
    cuda = s.world.device.type == "cuda"
    return {
        "step": step, "world_size": s.world.size,
        "model": s.core.state_dict(), "optimizer": s.optimizer.state_dict(),
        "scheduler": s.scheduler.state_dict() if s.scheduler is not None else None,
        "sampler": {"seed": s.cfg.seed, "next_step": step},
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state(s.world.device) if cuda else None},
        "window": list(s.window), "rows": [vars_of(r) for r in s.rows],
    }


def restore(s: Session, state: dict[str, Any]) -> None:
    if state["world_size"] != s.world.size:
        raise CamidError(f"{s.files.checkpoint} was written by {state['world_size']} process(es); resume it "
                         f"with the same number (now {s.world.size})")
    s.core.load_state_dict(state["model"])
    s.optimizer.load_state_dict(state["optimizer"])
    if s.scheduler is not None and state["scheduler"] is not None:
        s.scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng["cuda"] is not None and s.world.device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], s.world.device)
    s.start = state["sampler"]["next_step"]
    s.window = list(state["window"])
    s.rows = [MetricRow(**r) for r in state["rows"]]


def vars_of(row: MetricRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}
