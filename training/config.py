"""The resolved settings of a training run and of an evaluation, as frozen records.

A run directory keeps its ``TrainConfig`` as ``config.json``: that file is what makes a run
reproducible and resumable (same config + same seed => same weights), so every choice of the
recipe is a field here rather than a constant buried in the loop. The defaults reproduce the
2nd-place recipe of the 2018 challenge (DenseNet-161, 960 -> 480 crops, Adam 1e-3).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from pipeline.errors import CamidError

SCHEDULES = ("none", "plateau", "cosine", "cyclic")
# the 2018 challenge's eight test-time operations (``training.alterations.CHALLENGE_OPS`` by name)
CHALLENGE_OP_NAMES = ("jpeg_70", "jpeg_90", "resize_0.5", "resize_0.8", "resize_1.5", "resize_2.0",
                      "gamma_0.8", "gamma_1.2")
# fields that may change between a killed run and its resumption without changing its result
RESUMABLE_CHANGES = frozenset({"workers", "cache_dir", "device", "threads", "data_path"})


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that decides what a training run computes."""

    manifest: str
    run_dir: str
    steps: int
    arch: str = "densenet161"
    pretrained: bool = True
    weights: str | None = None
    crop: int = 960
    input_size: int = 480
    grid: int = 8  # crop offsets for files whose chroma subsampling is unknown; else the file's own
    off_grid: bool = False  # any crop offset (the challenge's test crops were not grid-aligned)
    ops: tuple[str, ...] = CHALLENGE_OP_NAMES
    p_ops: float = 0.5
    d4: bool = True
    batch_size: int = 16
    accumulate: int = 1
    lr: float = 1e-3
    schedule: str = "plateau"
    plateau_patience: int = 2
    plateau_factor: float = 0.5
    cycle_steps: int = 0  # cyclic schedule: steps per triangle (0: a quarter of the run)
    gamma_range: tuple[float, float] = (0.8, 1.2)
    p_gamma: float = 0.5
    jpeg_quality: tuple[int, int] = (70, 90)
    p_jpeg: float = 0.5
    checkpoint_every: int = 1000
    log_every: int = 50
    val_every: int = 1000
    seed: int = 0
    workers: int = 4
    device: str = "auto"
    amp: bool | None = None
    channels_last: bool | None = None
    cache_dir: str | None = None
    threads: int | None = None
    data_path: str = "auto"  # cache, tiles or direct: the same pixels (``training.datapath``)

    def __post_init__(self) -> None:
        _check_train(self)

    @property
    def global_batch(self) -> int:
        """Images per optimiser step on one process (batch x accumulation)."""
        return self.batch_size * self.accumulate


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """How ``camid evaluate`` measures a run (challenge protocol, TTA, robustness curves)."""

    crop_size: int = 512
    tta: bool = True
    tta_d4: bool = True
    tta_whole: bool = False  # views are the whole crop (fully convolutional models), not input-size windows
    curves: bool = True
    curve_tta: bool = False
    jpeg_qualities: tuple[int, ...] = (60, 70, 80, 90, 95, 100)
    gammas: tuple[float, ...] = (0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4)
    resize_factors: tuple[float, ...] = (0.5, 0.8, 1.0, 1.5, 2.0)
    crop_sizes: tuple[int, ...] = (64, 128, 256, 512)
    grid_phases: tuple[int, ...] = (0, 1, 2, 4, 8)  # centre crop moved this far off the block grid
    split: str = "test"  # the split scored ("test"; "val" when a dataset has no test split)
    baseline: bool = True  # the trace-feature nearest-centroid baseline, in the same run
    baseline_per_class: int = 50  # training images per class the baseline learns from
    bootstrap: int = 1000  # resamples behind every 95% interval
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"
    manifest: str | None = None
    # the forensic verdict (``training.forensic_eval``): whole images, calibration, open set
    forensic: bool = True
    evidence_crop: int = 0  # 0: crop_size
    evidence_stride: int = 0  # 0: the crop size
    evidence_max_crops: int = 16
    evidence_layout: str = "grid"
    evidence_d4: bool = False
    open_set_score: str = "mahalanobis"
    false_alarm: float = 0.05
    prototype_per_class: int = 20


def _check_train(cfg: TrainConfig) -> None:
    """Refuse settings that cannot work, in one line each, before any model is built."""
    if cfg.schedule not in SCHEDULES:
        raise CamidError(f"--schedule must be one of {', '.join(SCHEDULES)}, not {cfg.schedule!r}")
    for name in ("steps", "crop", "input_size", "grid", "batch_size", "accumulate", "checkpoint_every",
                 "log_every"):
        if getattr(cfg, name) < 1:
            raise CamidError(f"{name.replace('_', '-')} must be at least 1 (got {getattr(cfg, name)})")
    if cfg.crop % cfg.grid or cfg.input_size % cfg.grid:
        raise CamidError(f"--crop {cfg.crop} and --input-size {cfg.input_size} must be multiples of "
                         f"the grid {cfg.grid} (crops stay on the colour-filter and JPEG grids)")
    if cfg.input_size > cfg.crop:
        raise CamidError(f"--input-size {cfg.input_size} is larger than --crop {cfg.crop}")
    if not 1 <= cfg.jpeg_quality[0] <= cfg.jpeg_quality[1] <= 100:
        raise CamidError(f"JPEG quality range {cfg.jpeg_quality} must be within 1..100, low first")
    if not 0 < cfg.gamma_range[0] <= cfg.gamma_range[1]:
        raise CamidError(f"gamma range {cfg.gamma_range} must be positive, low first")
    for name in ("p_ops", "p_gamma", "p_jpeg"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise CamidError(f"--{name.replace('_', '-')} must be within 0..1 (got {getattr(cfg, name)})")
    _check_ops(cfg)
    if cfg.lr <= 0:
        raise CamidError(f"--lr must be positive (got {cfg.lr})")


def _check_ops(cfg: TrainConfig) -> None:
    """Every named operation must exist, and a resize must still find its region in ``crop``."""
    from training.alterations import by_name  # OpenCV: only once a config is really built

    for name in cfg.ops:
        try:
            op = by_name(name)
        except ValueError as exc:
            raise CamidError(f"--ops: {exc}") from None
        if op.kind == "resize" and cfg.p_ops > 0 and cfg.input_size / op.value > cfg.crop:
            raise CamidError(f"--ops {name}: a {op.value}x resize needs a {cfg.input_size / op.value:.0f} px "
                             f"region for --input-size {cfg.input_size}, more than --crop {cfg.crop}")


def config_to_json(cfg: TrainConfig | EvalConfig) -> str:
    """Stable JSON (sorted keys) so two equal configs give byte-identical files."""
    return json.dumps(asdict(cfg), indent=2, sort_keys=True) + "\n"


def train_config_from_dict(doc: dict[str, Any]) -> TrainConfig:
    """Rebuild a config from ``config.json``; unknown keys are an error (a newer camid wrote it)."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(doc) - names)
    if unknown:
        raise CamidError(f"config.json has unknown settings {unknown}: written by another camid version?")
    tuples = {"gamma_range", "jpeg_quality", "ops"}
    values: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in doc.items()}
    return TrainConfig(**values)


def load_train_config(run_dir: Path) -> TrainConfig:
    """The config a run directory was trained with."""
    path = run_dir / "config.json"
    try:
        return train_config_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise CamidError(f"{run_dir}: no config.json (not a camid run directory)") from None
    except ValueError as exc:
        raise CamidError(f"{path}: unreadable: {exc}") from None


def differences(saved: TrainConfig, wanted: TrainConfig) -> list[str]:
    """Settings that differ in a way that would change a resumed run's result."""
    out = []
    for f in fields(TrainConfig):
        old, new = getattr(saved, f.name), getattr(wanted, f.name)
        if f.name not in RESUMABLE_CHANGES and old != new:
            out.append(f"{f.name}: {old!r} != {new!r}")
    return out
