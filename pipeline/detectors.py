"""Pixel-level detectors: pure functions of a decoded luma plane (and the file's tables).

Those that work on the 8x8 DCT blocks of the file's own grid are in ``pipeline.dct_detectors``.
Each returns one number the policy compares with a threshold; ``bench/pixeltrue.py`` measures
their false-accept and false-reject rates on real originals and altered copies. Sources:

- ``flat_fraction``: blocks without any variation where a camera has noise (decoded gray frames).
- ``thumbnail_mismatch``: the EXIF thumbnail against the downscaled image after matching tone
  (a content edit with the EXIF copied over; Kee & Farid's header work lists the thumbnail too).
- ``resampling_score``: the cyclic correlation an interpolation leaves between neighbouring
  samples of a second-derivative residual, at half the sampling rate (Popescu & Farid, "Exposing
  digital forgeries by detecting traces of resampling", IEEE TSP 2005; Kirchner, "Fast and
  reliable resampling detection by spectral analysis of fixed linear predictor residue", 2008).
- ``copy_move_score``: share of the image whose coarse blocks reappear, at one shift, elsewhere
  (Fridrich, Soukal & Lukas, "Detection of copy-move forgery in digital images", 2003).
- ``edge_blur_score``: how much wider the edges of the softest region are than the image's
  typical edge, from the ratio of gradient maxima before and after a known re-blur (Zhuo & Sim,
  "Defocus map estimation from a single image", Pattern Recognition 2011).
- ``noise_excess_score``: how much noisier the noisiest region is than the image's typical noise,
  read only in blocks whose residual is white (noise, not texture): a patch from a noisier
  camera (noise inconsistency; Mahdian & Saic, "Using noise inconsistencies for blind image
  forensics", Image and Vision Computing 2009).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

cv2.setNumThreads(1)  # measured per core; the curate flow parallelises over files, not inside one

EDGE_TILE = 16  # px: one gradient maximum per tile
EDGE_WINDOW = 8  # tiles: the region whose edges are compared with the image's (128 px)
EDGE_MIN_GRADIENT = 3.0  # grey levels per px: weaker maxima are noise, not edges
EDGE_MIN_SHARE = 0.35  # of a window's tiles that must hold an edge for the window to count
NOISE_WINDOW = 24  # 8x8 blocks: the region whose noise is compared with the image's (192 px)
NOISE_MIN_SHARE = 0.3  # of a window's blocks that must be noise-like for the window to count


def flat_fraction(luma: np.ndarray, rows: int = 24) -> float:
    """Share of 8x8 blocks (on up to ``rows`` block rows) that are perfectly flat, clipped ones aside."""
    blocks = _block_rows(luma, rows)
    high, low = blocks.max(axis=(1, 3)), blocks.min(axis=(1, 3))
    usable = (low > 8) & (high < 247)
    if not usable.any():
        return 0.0
    return float(((high == low) & usable).sum() / usable.sum())


def _block_rows(luma: np.ndarray, rows: int) -> np.ndarray:
    h, w = luma.shape[0] // 8, luma.shape[1] // 8
    picked = np.linspace(0, h - 1, min(rows, h)).astype(int) if h else np.zeros(0, int)
    strips = luma[:h * 8, :w * 8].reshape(h, 8, w, 8)
    picked_rows: np.ndarray = strips[picked]
    return picked_rows


def thumbnail_mismatch(image: np.ndarray, thumb: np.ndarray) -> tuple[float, float] | None:
    """(mean, worst-region excess) |difference| in grey levels between thumbnail and image.

    ``image`` may be any downscaled copy of the luma plane at least the thumbnail's size. Both
    are aligned first (the camera's downscaler is not ours: a gain/offset fit and the best of
    nine half-pixel shifts) and low-passed (sigma 1 thumbnail pixel), so the camera's own
    sharpening and resampling differences fade and what remains is content that differs. The
    excess is the worst window's mean difference above the median window. None when the
    thumbnail cannot be the image's (another aspect once letterbox bars are removed).
    """
    thumb = _unletterbox(thumb.astype(np.float32))
    th, tw = thumb.shape
    if th < 16 or tw < 16 or abs(th / tw - image.shape[0] / image.shape[1]) > 0.03:
        return None
    small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)
    target = cv2.GaussianBlur(thumb, (0, 0), 1.0)
    best: tuple[float, np.ndarray] | None = None
    for sy in (-0.5, 0.0, 0.5):
        for sx in (-0.5, 0.0, 0.5):
            moved = cv2.warpAffine(small, np.array([[1, 0, sx], [0, 1, sy]], np.float32), (tw, th),
                                   borderMode=cv2.BORDER_REFLECT)
            gain, offset = _tone_fit(moved, thumb)
            diff = np.abs(target - cv2.GaussianBlur(gain * moved + offset, (0, 0), 1.0))
            score = float(diff[4:-4, 4:-4].mean())
            if best is None or score < best[0]:
                best = (score, diff)
    assert best is not None
    window = max(4, min(th, tw) // 12)
    local = cv2.blur(best[1], (window, window))[window:-window, window:-window]
    return best[0], float(local.max() - np.median(local)) if local.size else 0.0


def _tone_fit(source: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Least-squares gain and offset taking ``source`` to ``target`` (1, 0 when degenerate)."""
    s, t = source.ravel(), target.ravel()
    var = float(s.var())
    if var < 1e-6:
        return 1.0, float(t.mean() - s.mean())
    gain = float(((s - s.mean()) * (t - t.mean())).mean() / var)
    return gain, float(t.mean() - gain * s.mean())


def _unletterbox(thumb: np.ndarray) -> np.ndarray:
    """Drop black bars a camera adds to fit another aspect into its fixed thumbnail size."""
    rows, cols = thumb.mean(axis=1), thumb.mean(axis=0)
    keep_r, keep_c = np.flatnonzero(rows > 6), np.flatnonzero(cols > 6)
    if len(keep_r) < 8 or len(keep_c) < 8:
        return thumb
    return thumb[keep_r[0]:keep_r[-1] + 1, keep_c[0]:keep_c[-1] + 1]


def resampling_score(luma: np.ndarray, lines: int = 200) -> float:
    """Cyclic correlation at half the sampling rate between neighbouring residual samples.

    ``r`` is the second difference along a line; the score is |mean(r[n] r[n+1] (-1)^n)| over
    mean(r^2), averaged over rows and columns (``lines`` of each, evenly spaced). An image
    interpolated by 2 (Pillow centres its samples, so every output pixel lies a quarter sample
    off the input grid, the two phases mirrored) correlates neighbours differently on odd and even
    pairs: real originals give at most 0.035 here, copies resampled 0.5x-then-2x 0.22 and more.
    A colour-filter demosaic alternates the residual's *variance* instead (lag 0, not lag 1),
    which this ignores, so simulated and real cameras alike stay low. The score is the larger of
    the pooled ratio and the median line's: pooled alone, one high-energy patch (a sharp photo
    pasted into an interpolated one) outweighs every other line and hides the host's pattern.
    """
    if min(luma.shape) < 16:
        return 0.0
    rows = np.linspace(0, luma.shape[0] - 1, min(luma.shape[0], lines)).astype(int)
    cols = np.linspace(0, luma.shape[1] - 1, min(luma.shape[1], lines)).astype(int)
    pooled, typical = [], []
    for picked in (luma[rows].astype(np.float32), np.take(luma, cols, axis=1).T.astype(np.float32)):
        residual = 2 * picked[:, 1:-1] - picked[:, :-2] - picked[:, 2:]
        residual = residual[:, :residual.shape[1] // 2 * 2]
        energy = (residual ** 2).mean(axis=1)
        if energy.mean() <= 1e-9:
            return 0.0
        sign = np.where(np.arange(residual.shape[1] - 1) % 2 == 0, 1.0, -1.0).astype(np.float32)
        cyclic = (residual[:, :-1] * residual[:, 1:] * sign).mean(axis=1)
        pooled.append(abs(float(cyclic.mean() / energy.mean())))
        lively = energy > 1e-9
        typical.append(abs(float(np.median(cyclic[lively] / energy[lively]))))
    return max(float(np.mean(pooled)), float(np.mean(typical)))


def downscaled(luma: np.ndarray, factor: int) -> np.ndarray:
    """``luma`` shrunk by an integer factor (box average), at least one pixel each way."""
    h, w = max(1, luma.shape[0] // factor), max(1, luma.shape[1] // factor)
    return cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA)


def copy_move_score(luma: np.ndarray, target: int = 320,
                    block: int = 8, quant: float = 4.0) -> float:
    """Share of the downscaled image whose blocks recur, all at one shift, elsewhere in it.

    The image is shrunk ``scale`` times to about ``target`` pixels on its long side (noise and
    JPEG differences average out), at two phases per axis (offsets 0 and scale/2), so a copy moved
    by an odd number of pixels still lands on a grid of its source. Every ``block``-sized window is
    described by 16 mean-free 2x2 averages, coarsely quantized and packed into one integer:
    windows with equal keys are candidate copies, and a pasted region shows as many candidates
    sharing one shift vector. Flat windows (which match everywhere) and short shifts
    (neighbouring windows) prove nothing and are left out.
    """
    scale = max(1, round(max(luma.shape) / target))
    base = luma if scale < 8 else downscaled(luma, 4)  # a 4x box average first: 16x fewer pixels
    scale = scale if scale < 8 else max(1, round(scale / 4))
    h, w = (base.shape[0] - scale) // scale, (base.shape[1] - scale) // scale
    if h < 4 * block or w < 4 * block:
        return 0.0
    offsets = (0, scale // 2) if scale > 1 else (0,)
    keys, ys, xs = [], [], []
    for oy in offsets:
        for ox in offsets:
            found = _window_keys(base[oy:oy + h * scale, ox:ox + w * scale], (w, h), block, quant)
            keys.append(found[0])
            ys.append(found[1] * scale + oy)
            xs.append(found[2] * scale + ox)
    windows = len(offsets) ** 2 * (h - block + 1) * (w - block + 1)
    shift = _dominant_shift(np.concatenate(keys), np.concatenate(ys), np.concatenate(xs), 2 * block * scale)
    return float(shift / windows)


def _window_keys(plane: np.ndarray, size: tuple[int, int], block: int,
                 quant: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed keys of the textured ``block`` windows of ``plane`` shrunk to ``size``, and where."""
    small = cv2.resize(plane, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    ny, nx = size[1] - block + 1, size[0] - block + 1
    mean = cv2.boxFilter(small, -1, (block, block), anchor=(0, 0))[:ny, :nx]
    square = cv2.boxFilter(small * small, -1, (block, block), anchor=(0, 0))[:ny, :nx]
    keep = np.flatnonzero((square - mean * mean > 9.0).ravel())  # std > 3 grey levels
    cells = cv2.boxFilter(small, -1, (2, 2), anchor=(0, 0))
    keys = np.zeros((ny, nx), np.int64)
    for bit, (dy, dx) in enumerate((dy, dx) for dy in range(0, block, 2) for dx in range(0, block, 2)):
        level = np.clip(np.rint((cells[dy:dy + ny, dx:dx + nx] - mean) / quant), -7, 8).astype(np.int64)
        keys |= (level + 7) << (4 * bit)
    return keys.ravel()[keep], keep // nx, keep % nx


def _dominant_shift(keys: np.ndarray, ys: np.ndarray, xs: np.ndarray, min_shift: int) -> int:
    """How many equal-key neighbours (in sort order) share the most common shift vector."""
    if len(keys) < 256:
        return 0
    order = np.argsort(keys)
    same = np.flatnonzero(keys[order[1:]] == keys[order[:-1]])
    if len(same) < 16:
        return 0
    a, b = order[same], order[same + 1]
    dy, dx = ys[b] - ys[a], xs[b] - xs[a]
    sign = np.where((dy < 0) | ((dy == 0) & (dx < 0)), -1, 1)
    dy, dx = dy * sign, dx * sign
    far = dy * dy + dx * dx >= min_shift ** 2
    if not far.any():
        return 0
    _, counts = np.unique(dy[far] * (4 * int(xs.max() + 1)) + dx[far], return_counts=True)
    return int(counts.max())


def edge_blur_score(luma: np.ndarray) -> float:
    """Gaussian sigma (px) by which the softest region's edges exceed the image's typical edge.

    Per 16-px tile, the strongest gradient (central differences) is compared with the strongest
    after a known re-blur (Gaussian, sigma0 = 1 px): a sharp edge loses much of its peak, a soft
    one hardly any. An edge of Gaussian width sigma keeps R = sqrt(sigma^2 + sigma0^2) / sigma of
    it, so sigma = sigma0 / sqrt(R^2 - 1) (Zhuo & Sim 2011), capped at 4 px. The score is the
    worst 8x8-tile window's mean sigma (over its tiles holding an edge) minus the image's median:
    a region blurred after capture has edges wider than the lens and demosaic give elsewhere in
    the photo. Unlike the DCT smoothing test it needs no high-frequency texture, so it covers
    soft cameras (heavy denoising, lower quality) too; a defocused background is its known false
    alarm, which the threshold keeps rare. 0 when the image has too few edges.
    """
    if min(luma.shape) < 2 * EDGE_TILE + 2:
        return 0.0
    fine = _tile_max(_gradient(luma), EDGE_TILE).astype(np.float32)
    coarse = _tile_max(_gradient(cv2.GaussianBlur(luma, (5, 5), 1.0)), EDGE_TILE).astype(np.float32)
    edges = fine > 2 * EDGE_MIN_GRADIENT  # central differences span 2 px
    # a ramp into clipped highlights or shadows is soft without any blur: such tiles do not count
    inner = luma[1:-1, 1:-1]  # the gradient planes' pixels
    edges &= (_tile_max(inner, EDGE_TILE) < 250) & (_tile_max(inner, EDGE_TILE, np.min) > 5)
    if edges.sum() < 10:
        return 0.0
    ratio = fine / np.maximum(coarse, 1.0)
    sigma = np.minimum(1.0 / np.sqrt(np.maximum(ratio * ratio - 1.0, 1.0 / 16.0)), 4.0)
    return _worst_window_excess(sigma, edges, EDGE_WINDOW, EDGE_MIN_SHARE)


def _worst_window_excess(values: np.ndarray, counted: np.ndarray, window: int, min_share: float) -> float:
    """Max over ``window``-square regions of the mean of ``values`` where ``counted``, minus the
    median of all counted values; regions with under ``min_share`` of their cells counted are
    left out (0 when none is left)."""
    size = (window, window)
    total = cv2.boxFilter(np.where(counted, values, 0.0).astype(np.float32), -1, size, normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(counted.astype(np.float32), -1, size, normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    valid = count >= min_share * window * window
    if not valid.any():
        return 0.0
    return float((total[valid] / count[valid]).max() - np.median(values[counted]))


def _gradient(plane: np.ndarray) -> np.ndarray:
    """|dx| + |dy| by central differences, uint8 (twice the gradient), one pixel smaller each side."""
    dx = cv2.absdiff(plane[1:-1, 2:], plane[1:-1, :-2])
    dy = cv2.absdiff(plane[2:, 1:-1], plane[:-2, 1:-1])
    return cv2.add(dx, dy)


def _tile_max(plane: np.ndarray, tile: int, reduce: Callable[..., np.ndarray] = np.max) -> np.ndarray:
    """Per ``tile``-square tile, the maximum (or another numpy reduction) of ``plane``."""
    h, w = plane.shape[0] // tile, plane.shape[1] // tile
    rows = reduce(plane[:h * tile, :w * tile].reshape(h, tile, w * tile), axis=1)
    out: np.ndarray = reduce(rows.reshape(h, w, tile), axis=2)
    return out


def noise_excess_score(luma: np.ndarray) -> float:
    """log2 of how much noisier the noisiest region is than the image's typical noise.

    Per 8x8 block (every second or third block row and column of a large image), the residual
    after a 3x3 mean is its fine detail, read inside the block. Where the residual is white
    (neighbouring samples anticorrelated, as noise's are once the mean is taken away), its
    level is the block's noise; correlated residuals are texture or edges and are left out, as
    are clipped blocks. The score is the worst 192 px window's mean log2 noise (over its
    noise-like blocks, at least 30% of them) minus the image's median: a patch from a camera
    with more noise, pasted into a cleaner photo, stands out even where it adds no edge or
    thumbnail difference. 0 when the image has too few noise-like blocks.
    """
    h, w = luma.shape[0] // 8, luma.shape[1] // 8
    stride = max(1, min(3, round(math.sqrt(h * w / 20_000))))
    window = NOISE_WINDOW // stride
    blocks = luma[:h * 8, :w * 8].reshape(h, 8, w, 8)[::stride, :, ::stride]
    gh, gw = blocks.shape[0], blocks.shape[2]
    if gh < window or gw < window:
        return 0.0
    plane = blocks.reshape(gh * 8, gw * 8).astype(np.float32)
    residual = (plane - cv2.blur(plane, (3, 3))).reshape(gh, 8, gw, 8)[:, 1:7, :, 1:7]
    energy = (residual * residual).mean(axis=(1, 3))
    lag = (residual[..., :-1] * residual[..., 1:]).mean(axis=(1, 3))
    noisy = (blocks.max(axis=(1, 3)) < 250) & (blocks.min(axis=(1, 3)) > 5) & (lag < 0.0)
    if noisy.sum() < 50:
        return 0.0
    level = 0.5 * np.log2(np.maximum(energy, 0.01))
    return _worst_window_excess(level, noisy, window, NOISE_MIN_SHARE)
