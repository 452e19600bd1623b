"""The training augmentation: the seed paper's recipe plus the 2018 challenge's eight operations.

Each sample is first *planned* from its own seed, then cut: with probability ``p_ops`` one of the
challenge operations (JPEG 70/90, bicubic resize 0.5/0.8/1.5/2.0, gamma 0.8/1.2), then D4
(rotations by 90/180/270 and flips), the paper's continuous gamma and JPEG ranges, and the
``input_size`` crop. The 2nd-place team resized a 960 crop and cut 480 from it; a 480 crop of a
960 crop at a random place is a 480 crop at a random place, so the plan reads only the region the
operation needs: ``input_size`` pixels unaltered, ``input_size / f`` before a resize by ``f``
(never more than ``crop``, the paper's 960). Most crops then read a quarter of the pixels.

Offsets are multiples of the file's own block grid (16 for 4:2:0, 8 for 4:4:4, per axis from the
sampling factors), so an unaltered crop keeps the camera's JPEG and colour-filter phase; a resize
destroys that phase, as it does in the challenge's test set. Gamma and JPEG are the evaluation's
own functions (``training.alterations``), so both round the same way. Randomness is
counter-based: a sample's plan depends only on its seed, so any worker makes the same crop and a
resumed run sees the same crops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from training.alterations import UNALTERED, Alteration, by_name, gamma, jpeg
from training.config import TrainConfig

Grid = tuple[int, int]  # (rows, columns) a crop offset must be a multiple of
RESIZE_MARGIN = 8  # source pixels read past a resized region where the region has room


@dataclass(frozen=True, slots=True)
class SamplePlan:
    """Everything random about one training crop, decided before any pixel is read."""

    y: int  # the source region's top-left and side
    x: int
    side: int
    op: Alteration
    out_y: int  # where the input crop starts in the (resized) region
    out_x: int
    turns: int  # D4: quarter turns, then an optional left-right flip
    flip: bool
    gamma: float | None
    quality: int | None


def grid_of(subsampling: str | None, fallback: int, off_grid: bool = False) -> Grid:
    """The block grid of a file from its chroma subsampling: 16 along a subsampled axis, else 8.

    ``4:2:0`` -> (16, 16), ``4:2:2`` -> (8, 16), ``4:4:0`` -> (16, 8), ``4:4:4`` -> (8, 8);
    unknown or unusual sampling takes ``fallback`` on both axes; ``off_grid`` allows any offset.
    """
    if off_grid:
        return (1, 1)
    known = {"4:2:0": (16, 16), "4:2:2": (8, 16), "4:4:0": (16, 8), "4:4:4": (8, 8), "4:1:1": (8, 32)}
    return known.get((subsampling or "").split(" ")[0], (fallback, fallback))


def plan_sample(rng: np.random.Generator, height: int, width: int, grid: Grid,
                cfg: TrainConfig) -> SamplePlan:
    """One sample's plan for an image of ``height`` x ``width`` with block grid ``grid``."""
    size, ops = cfg.input_size, [by_name(name) for name in cfg.ops]
    op = ops[int(rng.integers(len(ops)))] if ops and rng.random() < cfg.p_ops else UNALTERED
    side = size
    if op.kind == "resize":
        side = min(math.ceil(size / op.value) + 2 * RESIZE_MARGIN, cfg.crop, height, width)
    y, x = _offset(rng, height, side, grid[0]), _offset(rng, width, side, grid[1])
    out_y = out_x = 0
    if op.kind == "resize":
        room = max(0, round(side * op.value) - size)
        edge = min(math.ceil(2 * op.value) + 1, room // 2)  # bicubic's border replication stays out
        out_y, out_x = (int(rng.integers(edge, room - edge + 1)) for _ in range(2))
    turns, flip = (int(rng.integers(4)), bool(rng.random() < 0.5)) if cfg.d4 else (0, False)
    g = float(rng.uniform(*cfg.gamma_range)) if rng.random() < cfg.p_gamma else None
    q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)) if rng.random() < cfg.p_jpeg else None
    return SamplePlan(y, x, side, op, out_y, out_x, turns, flip, g, q)


def apply_plan(region: np.ndarray, plan: SamplePlan, size: int) -> np.ndarray:
    """The augmented ``size`` crop from the plan's source region (``side`` x ``side`` pixels)."""
    crop = _operate(region, plan, size)
    crop = np.rot90(crop, plan.turns)
    if plan.flip:
        crop = crop[:, ::-1]
    crop = np.ascontiguousarray(crop)
    if plan.gamma is not None:
        crop = gamma(crop, plan.gamma)
    if plan.quality is not None:
        crop = jpeg(crop, plan.quality)
    return crop


def _operate(region: np.ndarray, plan: SamplePlan, size: int) -> np.ndarray:
    op = plan.op
    if op.kind == "resize":
        new = max(size, round(plan.side * op.value))
        resized = cv2.resize(np.ascontiguousarray(region), (new, new), interpolation=cv2.INTER_CUBIC)
        return resized[plan.out_y:plan.out_y + size, plan.out_x:plan.out_x + size]
    crop = np.ascontiguousarray(region[:size, :size])
    if op.kind == "jpeg":
        return jpeg(crop, int(op.value))
    if op.kind == "gamma":
        return gamma(crop, op.value)
    return crop


def _offset(rng: np.random.Generator, length: int, side: int, grid: int) -> int:
    """A random multiple of ``grid`` that keeps a ``side`` window inside ``length``."""
    return int(rng.integers(0, max(0, length - side) // grid + 1)) * grid
