"""`camid train`: the training loop (Adam, cross-entropy, accumulation, bf16, DDP, checkpoints).

One step = ``accumulate`` micro-batches of ``batch_size`` crops per process, then one optimiser
step; the loss is averaged over the micro-batches so the gradient does not depend on how a
global batch is split. Metrics are logged every ``log_every`` steps (means over the window,
summed over processes), validation every ``val_every`` steps on the unaltered centre crops, and a
checkpoint is written every ``checkpoint_every`` steps and at the end. Only rank 0 writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from training import plots
from training.config import TrainConfig
from training.data import CentreCrops, LabelledImages, train_loader, worker_init
from training.device import autocast, prepare
from training.distributed import World, barrier, join, leave, same_on_all, share_buffers, sum_all
from training.models import Warn, logits_of, stderr_warning
from training.protocol import protocol, score_of_counts
from training.rundir import MetricRow, atomic_save, atomic_write_text, metrics_to_csv
from training.selection import finish_weights, keep_if_best
from training.session import Session, Tick, checkpoint_state, open_session

Log = Callable[[str], None]
PLOT_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a finished (or already finished) run reports."""

    run_dir: Path
    steps: int
    resumed_from: int | None
    last: MetricRow | None
    seconds: float


def train(cfg: TrainConfig, tick: Tick | None = None, log: Log | None = None,
          warn: Warn = stderr_warning) -> TrainResult:
    """Train (or resume) the run ``cfg`` describes; joins a torchrun job when launched by one."""
    world = join(cfg.device)
    try:
        main = world.main
        session = open_session(cfg, world, tick if main else None, warn if main else _quiet)
        if log and main:
            log(f"training pixels: {session.pixels}")
        if session.start and log and main:
            log(f"{cfg.run_dir} is already trained ({cfg.steps} steps)" if session.start >= cfg.steps
                else f"resuming {cfg.run_dir} from step {session.start} of {cfg.steps}")
        started = time.perf_counter()
        _loop(session, tick if main else None)
        return TrainResult(session.files.root, cfg.steps, session.start or None,
                           session.rows[-1] if session.rows else None, time.perf_counter() - started)
    finally:
        leave(world)


def _quiet(_: str) -> None:
    return None


def _loop(s: Session, tick: Tick | None) -> None:
    cfg, world = s.cfg, s.world
    if s.start >= cfg.steps:
        return
    model = _wrap(s.core, world)
    batches = iter(train_loader(s.train, s.source, cfg, world.rank, s.start, world.device.type == "cuda"))
    clock = [time.perf_counter(), time.perf_counter()]  # run start, last log
    for step in range(s.start, cfg.steps):
        _step(s, model, batches)
        done = step + 1
        if tick:
            tick("training", done, cfg.steps)
        if done % cfg.log_every == 0 or _val_due(cfg, done) or done == cfg.steps:
            _log(s, done, clock)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            _checkpoint(s, done)
    if world.main:
        finish_weights(s.files, s.core.state_dict(), s.rows)
    barrier(world)


def _wrap(core: nn.Module, world: World) -> nn.Module:
    if world.size <= 1:
        return core
    ids = [world.device.index] if world.device.type == "cuda" else None
    return DistributedDataParallel(core, device_ids=ids)


def _step(s: Session, model: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """One optimiser step over ``accumulate`` micro-batches."""
    cfg, device = s.cfg, s.world.device
    model.train()
    s.optimizer.zero_grad(set_to_none=True)
    for micro in range(cfg.accumulate):
        images, labels = next(batches)
        x, y = prepare(images, device, s.channels_last), labels.to(device, non_blocking=True)
        # DDP all-reduces gradients on the last micro-batch of a step only
        ddp = model if isinstance(model, DistributedDataParallel) else None
        with ddp.no_sync() if ddp is not None and micro < cfg.accumulate - 1 else nullcontext():
            with autocast(device, s.amp):
                logits = logits_of(model(x))
            loss = F.cross_entropy(logits.float(), y)
            (loss / cfg.accumulate).backward()
        s.window[0] += loss.item() * len(y)
        s.window[1] += (logits.argmax(1) == y).sum().item()
        s.window[2] += len(y)
    s.optimizer.step()
    constrain = getattr(s.core, "constrain", None)  # e.g. a constrained first layer's projection
    if callable(constrain):
        constrain()
    if s.cfg.schedule in ("cosine", "cyclic"):
        s.scheduler.step()


def _val_due(cfg: TrainConfig, done: int) -> bool:
    return cfg.val_every > 0 and (done % cfg.val_every == 0 or done == cfg.steps)


def _log(s: Session, done: int, clock: list[float]) -> None:
    """Close the logging window: one metrics row, validation when due, the plateau decision."""
    cfg, world = s.cfg, s.world
    loss_sum, correct, count = sum_all(world, s.window)
    s.window = [0.0, 0.0, 0.0]
    validating = cfg.val_every > 0 and bool(s.val.images)
    val = validate(s.core, s.val, s, world) if validating and _val_due(cfg, done) else None
    if cfg.schedule == "plateau" and (val or not validating):  # validation loss, else the training window's
        s.scheduler.step(same_on_all(world, val[0] if val else loss_sum / count))
    now = time.perf_counter()
    steps_per_epoch = max(1, math.ceil(len(s.train.images) / (cfg.global_batch * world.size)))
    s.rows.append(MetricRow(
        step=done, epoch=round(done / steps_per_epoch, 4), lr=s.optimizer.param_groups[0]["lr"],
        train_loss=loss_sum / count, train_acc=correct / count,
        val_loss=val[0] if val else None, val_acc=val[1] if val else None,
        images_per_s=round(count / max(now - clock[1], 1e-9), 2), elapsed_s=round(now - clock[0], 3),
        val_score=val[2] if val else None))
    clock[1] = now
    if world.main:
        keep_if_best(s.files, s.core.state_dict(), s.rows)
        atomic_write_text(s.files.metrics_csv, metrics_to_csv(s.rows))


@torch.no_grad()
def validate(core: nn.Module, split: LabelledImages, s: Session, world: World) -> tuple[float, float, float]:
    """Mean loss, accuracy and the challenge's weighted score on the validation split under the
    challenge protocol (centre crops, half of each class altered), each process taking a share."""
    share_buffers(world, core)
    plan = protocol(split.labels, s.cfg.seed)
    mine = range(world.rank, len(split.images), world.size)
    shard = LabelledImages(tuple(split.images[i] for i in mine), tuple(split.labels[i] for i in mine))
    ops = [plan[i] for i in mine]
    loader = DataLoader(CentreCrops(shard, s.source, s.cfg.input_size, s.cfg.grid, ops),
                        batch_size=s.cfg.batch_size, num_workers=min(s.cfg.workers, 2),
                        worker_init_fn=worker_init)
    core.eval()
    totals = [0.0, 0.0, 0.0, 0.0, 0.0]  # loss sum, then (correct, n) unaltered and altered
    for batch, (images, labels) in enumerate(loader):
        y = labels.to(world.device)
        with autocast(world.device, s.amp):
            logits = core(prepare(images, world.device, s.channels_last))
        right = (logits.argmax(1) == y).cpu().tolist()
        totals[0] += F.cross_entropy(logits.float(), y, reduction="sum").item()
        for k, ok in enumerate(right):
            side = 2 * (ops[batch * s.cfg.batch_size + k].kind != "none")
            totals[1 + side] += ok
            totals[2 + side] += 1
    loss_sum, u_hits, u_n, a_hits, a_n = sum_all(world, totals)
    count = max(u_n + a_n, 1)
    return loss_sum / count, (u_hits + a_hits) / count, score_of_counts(u_hits, u_n, a_hits, a_n)


def _checkpoint(s: Session, done: int) -> None:
    """Rank 0 saves; the figure is redrawn at most once a minute (drawing costs ~0.3 s) and at the end."""
    if s.world.main:
        atomic_save(s.files.checkpoint, checkpoint_state(s, done))
        if s.rows and (done == s.cfg.steps or time.monotonic() - s.drawn > PLOT_EVERY_S):
            plots.training_curves(s.rows, s.files.metrics_png)
            s.drawn = time.monotonic()
    barrier(s.world)
