"""Noise-level consistency, low side: a region cleaner than the camera's own noise at its brightness.

A camera's noise is a smooth function of brightness over one frame (the noise level function:
Liu, Szeliski, Kang, Zitnick & Freeman, "Automatic estimation and removal of noise from a single
image", IEEE TPAMI 2008). A patch from a cleaner source (another camera, a brighter exposure, a
denoised or blurred region) falls below that function where it lands, even when it adds no
edge, no thumbnail difference and no compression history that survives a coarse re-save; local
noise-variance inconsistency is the classic splicing cue (Lyu, Pan & Zhang, "Exposing region
splicing forgeries with blind local noise estimation", IJCV 2014). ``noise_excess_score`` in
``pipeline.detectors`` reads the other side (a noisier patch) from white residuals, which coarse
tables erase; this test keeps what they leave:

- per 8x8 block (every block up to about 20,000, then every second or third row and column): the
  mean and the residual energy after the block's best-fit plane, so the low and mid-frequency
  noise that a quality-77 table keeps still counts; level = half log2 of that energy;
- per 192 px window: the image's noise floor at each 16-grey brightness, from blocks *outside*
  the window and a guard band of half a window around it (the 10th percentile level per
  brightness, a lower envelope across brightness so a bin with few blocks borrows from its
  neighbours), then how far the window's blocks fall below it (their 25th percentile);
- the score: the worst window's shortfall (log2). Clipped blocks, and blocks whose colour
  (the 1/8-scale decode: the block's mean colour) reaches the ends of a channel, are left out:
  saturation flattens a block's noise whatever its history.

The known false alarm is a smooth surface that is the only flat one at its brightness next to
texture at the same brightness (a painted wall by stone), which the threshold keeps rare.
"""

from __future__ import annotations

import math

import numpy as np

WINDOW = 24  # 8x8 blocks: the region compared with the rest (192 px), fewer when strided
GUARD = 0.5  # of a window: the ring around it left out of its reference
STEP = 4  # windows per window width (a quarter-window step), fewer on big images
MAX_WINDOWS = 400
TARGET_BLOCKS = 20_000  # blocks read; bigger images read every 2nd or 3rd block row and column
BIN_WIDTH = 16  # grey levels per brightness bin
LEVEL_LOW, LEVEL_STEP, LEVELS = -2.0, 0.125, 72  # the histogram of levels (log2 grey levels)
REFERENCE_PERCENTILE = 10  # of the rest's levels per brightness: the camera's noise floor there
WINDOW_PERCENTILE = 25  # of the window's shortfalls: most of a patch, not one flat block
SLOPE = 0.3  # log2 per brightness bin: how fast the floor may change with brightness
MIN_REFERENCE = 8  # blocks a brightness bin needs to give a floor
MIN_SHARE = 0.3  # of a window's blocks that must be measurable
FLOOR = 0.25  # grey levels added to every block's noise (a perfectly flat block is not -inf)
LUMA_RANGE = (16, 240)  # block means outside it are near clipping
COLOUR_RANGE = (6, 249)  # a block's mean colour outside it has a clipped channel

_YY, _XX = np.mgrid[0:8, 0:8].astype(np.float32)
_PLANE = np.stack([np.ones(64, np.float32), _XX.ravel() - 3.5, _YY.ravel() - 3.5], 1)
_RESIDUAL = (np.eye(64, dtype=np.float32) - _PLANE @ np.linalg.pinv(_PLANE)).astype(np.float32)
_BINS = 256 // BIN_WIDTH


def noise_deficit_score(luma: np.ndarray, colour: np.ndarray | None) -> float:
    """log2 by which the cleanest region falls below the image's own noise floor at its brightness.

    ``colour``: the 1/8-scale RGB decode (one pixel per block) or None for a grey image. 0 when
    the image is under one window or no window has enough measurable blocks.
    """
    blocks = _blocks(luma, colour)
    if blocks is None:
        return 0.0
    level, cell, window = blocks
    origins = _origins(cell.shape, window)
    floor = _floors(cell, origins, window)
    return _worst_shortfall(level, cell, origins, window, floor)


def _blocks(luma: np.ndarray, colour: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Per read block: its noise level, its histogram cell (brightness bin x level, -1 when left
    out), and the window size in read blocks; None when the image is under one window."""
    h, w = luma.shape[0] // 8, luma.shape[1] // 8
    stride = max(1, min(3, round(math.sqrt(h * w / TARGET_BLOCKS))))
    window = max(2, WINDOW // stride)
    picked = luma[:h * 8, :w * 8].reshape(h, 8, w, 8)[::stride, :, ::stride]
    rows, cols = picked.shape[0], picked.shape[2]
    if rows < window or cols < window:
        return None
    pixels = picked.transpose(0, 2, 1, 3).reshape(rows, cols, 64).astype(np.float32)
    mean = pixels.mean(axis=2)
    residual = pixels @ _RESIDUAL
    level = 0.5 * np.log2((residual * residual).mean(axis=2) + FLOOR * FLOOR)
    usable = (pixels.min(axis=2) > 5) & (pixels.max(axis=2) < 250)
    usable &= (mean >= LUMA_RANGE[0]) & (mean < LUMA_RANGE[1])
    if colour is not None:
        tint = colour[:h, :w][::stride, ::stride]
        if tint.shape[:2] == usable.shape:
            usable &= (tint.min(axis=2) >= COLOUR_RANGE[0]) & (tint.max(axis=2) <= COLOUR_RANGE[1])
    brightness = np.clip((mean // BIN_WIDTH).astype(np.int64), 0, _BINS - 1)
    bucket = np.clip(((level - LEVEL_LOW) / LEVEL_STEP).astype(np.int64), 0, LEVELS - 1)
    return level, np.where(usable, brightness * LEVELS + bucket, -1), window


def _origins(shape: tuple[int, ...], window: int) -> list[tuple[int, int]]:
    """Top-left corners of the windows compared: a quarter-window step, at most about
    ``MAX_WINDOWS``, the last row and column flush with the image's edge."""
    rows, cols = shape[0], shape[1]
    step = max(1, window // STEP, math.ceil(math.sqrt(rows * cols / MAX_WINDOWS)))
    ys, xs = list(range(0, rows - window + 1, step)), list(range(0, cols - window + 1, step))
    ys += [rows - window] if ys[-1] != rows - window else []
    xs += [cols - window] if xs[-1] != cols - window else []
    return [(y, x) for y in ys for x in xs]


def _floors(cell: np.ndarray, origins: list[tuple[int, int]], window: int) -> np.ndarray:
    """Per window and brightness bin: the noise floor of the blocks outside the window and its
    guard band (NaN where no bin within one step has ``MIN_REFERENCE`` blocks)."""
    size = _BINS * LEVELS
    whole = np.bincount(cell[cell >= 0], minlength=size)
    guard = round(GUARD * window)
    inside = np.concatenate([
        n * size + zone[zone >= 0]
        for n, zone in enumerate(cell[max(0, y - guard):y + window + guard,
                                      max(0, x - guard):x + window + guard].ravel() for y, x in origins)])
    rest = (whole[None] - np.bincount(inside, minlength=len(origins) * size).reshape(len(origins), size))
    rest = rest.reshape(len(origins), _BINS, LEVELS)
    total = rest.sum(axis=2)
    rank = np.maximum(1, np.ceil(REFERENCE_PERCENTILE / 100 * total))[..., None]
    bucket = np.argmax(np.cumsum(rest, axis=2) >= rank, axis=2)
    floor = np.where(total >= MIN_REFERENCE, LEVEL_LOW + (bucket + 0.5) * LEVEL_STEP, np.inf)
    distance = np.abs(np.arange(_BINS)[:, None] - np.arange(_BINS)[None, :])
    envelope = (floor[:, None, :] + SLOPE * distance[None]).min(axis=2)
    near = (np.isfinite(floor)[:, None, :] & (distance <= 1)[None]).any(axis=2)
    return np.where(near, envelope, np.nan)


def _worst_shortfall(level: np.ndarray, cell: np.ndarray, origins: list[tuple[int, int]],
                     window: int, floor: np.ndarray) -> float:
    """The largest ``WINDOW_PERCENTILE`` shortfall of a window's blocks below their floor."""
    cells = np.stack([cell[y:y + window, x:x + window].ravel() for y, x in origins])
    levels = np.stack([level[y:y + window, x:x + window].ravel() for y, x in origins])
    bins = np.where(cells >= 0, cells // LEVELS, 0)
    below = np.where(cells >= 0, levels - np.take_along_axis(floor, bins, axis=1), np.nan)
    counted = np.isfinite(below).sum(axis=1)
    enough = counted >= MIN_SHARE * window * window
    if not enough.any():
        return 0.0
    ordered = np.sort(np.where(np.isfinite(below[enough]), below[enough], np.inf), axis=1)
    rank = np.maximum(0, np.ceil(WINDOW_PERCENTILE / 100 * counted[enough]).astype(int) - 1)
    return float(-ordered[np.arange(len(ordered)), rank].min())
