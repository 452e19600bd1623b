"""Pixel-stage detectors that work on the file's own 8x8 DCT blocks (recomputed from the luma).

Decoding gives back the quantized coefficients on the file's grid exactly enough (the DCT is
orthonormal; the decode's rounding moves a coefficient by about 0.3), so the quantization the
file went through can be read from its pixels. Sources:

- ``smoothing_score``: a region whose textured blocks kept no high-frequency coefficient through
  quantization far more often than the rest of the image: retouching blur removes the fine detail
  and the noise that a camera's own blocks keep (noise and compression consistency, as in
  ``../shared/reference/forensics.md``).
- ``recompression_score``: the gaps and bumps a first quantization with other tables leaves in
  the histograms of low-frequency DCT coefficients (Popescu & Farid, "Statistical tools for
  digital forensics", 2004), measured against the calibrated histogram of a shifted grid.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.jpeg_tables import ZIGZAG

cv2.setNumThreads(1)  # measured per core; the curate flow parallelises over files, not inside one

DCT8 = np.array([[math.sqrt((1 if u == 0 else 2) / 8) * math.cos((2 * x + 1) * u * math.pi / 16)
                  for x in range(8)] for u in range(8)], np.float32)
# the AC coefficients the recompression test reads: zigzag 1-9, as natural (row-major) indices
LOW_AC = ZIGZAG[1:10]
# the smoothing test's bands, natural indices: texture (the same zigzag 1-9; its first two alone
# are the coarse structure) and high (zigzag 15-63)
_MID = LOW_AC
_HIGH = ZIGZAG[15:]
_BAND_INDEX = np.array(_MID + _HIGH)
_BAND_BASIS = np.kron(DCT8, DCT8)[_BAND_INDEX]  # row k: the 8x8 DCT basis of coefficient k, flattened


def smoothing_score(luma: np.ndarray, luma_table: tuple[int, ...], quality: int | None = None,
                    window: int = 8) -> float:
    """How much more often than elsewhere a region's blocks lost all their fine detail.

    Per 8x8 block (on the file's grid; every second or third block row and column of large images) the
    quantized DCT coefficients are recomputed from the decoded luma and the file's own table:
    a block is *bare* when none of its 49 high-frequency coefficients (zigzag 15-63) keeps 3 grey
    levels or more after quantization (below that, at quality 97 and up, is the rounding of
    the decode). Retouching blur leaves textured blocks bare (mid-frequency contrast, nothing
    finer), and quantization cannot put fine detail back; a camera's own textured blocks keep
    some. Textured means above the image's median in zigzag 1-9, or in zigzag 1-2 alone (the
    coarse structure a blur keeps while it takes the rest). The score is the worst
    ``window``-block region's share of bare blocks among its textured ones, above the image's
    typical share. At quality 95 and up, where the camera's
    noise survives in almost every block, bare untextured regions count too (at lower quality
    a clear sky is bare in an original as well). Clipped blocks never count.
    """
    h, w = luma.shape[0] // 8, luma.shape[1] // 8
    stride = 1 if h * w <= 60_000 else (2 if h * w <= 150_000 else 3)
    if h // stride < window or w // stride < window:
        return 0.0
    blocks = luma[:h * 8, :w * 8].reshape(h, 8, w, 8)[::stride, :, ::stride].transpose(0, 2, 1, 3)
    gh, gw = blocks.shape[:2]
    flat = blocks.reshape(-1, 64).astype(np.float32)
    mean = flat.mean(axis=1).reshape(gh, gw)
    coef = (flat - 128.0) @ _BAND_BASIS.T
    steps = np.asarray(luma_table, np.float32)[_BAND_INDEX]
    kept = np.abs(np.rint(coef / steps)) * steps  # what quantization left, in grey levels
    bare = ~(kept[:, len(_MID):] >= 3.0).any(axis=1).reshape(gh, gw)
    exposed = (mean > 12) & (mean < 243)  # clipped shadows and highlights have no noise to lose
    score = 0.0
    for band in (9, 2):  # texture of zigzag 1-9, and the coarse structure blur keeps (zigzag 1-2)
        texture = kept[:, :band].sum(axis=1).reshape(gh, gw)
        textured = (texture > np.median(texture)) & exposed
        score = max(score, _worst_excess(bare & textured, textured, window))
    if quality is not None and quality >= 95:
        noisy = _worst_excess(bare & exposed, exposed, window, typical_at_most=0.1)
        score = max(score, noisy)
    return score


def _worst_excess(hits: np.ndarray, among: np.ndarray, window: int,
                  typical_at_most: float | None = None) -> float:
    """Max over ``window``-square regions of hits/among, minus the median region's share.

    With ``typical_at_most``, 0 unless the median region's share is at most that (the test only
    means something where hits are rare).
    """
    if float(among.sum()) < window * window:
        return 0.0
    h = cv2.boxFilter(hits.astype(np.float32), -1, (window, window), normalize=False)
    n = cv2.boxFilter(among.astype(np.float32), -1, (window, window), normalize=False)
    valid = n >= 0.5 * window * window
    if not valid.any():
        return 0.0
    share = h[valid] / n[valid]
    typical = float(np.median(share))
    if typical_at_most is not None and typical > typical_at_most:
        return 0.0
    return float(share.max() - typical)


def recompression_score(luma: np.ndarray, luma_table: tuple[int, ...], blocks: int = 6000,
                        span: int = 16) -> float:
    """Mass the low-frequency DCT histograms miss against their calibrated (single-compression) shape.

    On the file's 8x8 grid each coefficient was quantized by the table; a first compression with
    other tables left gaps and bumps in those histograms. The same coefficients computed on a grid
    shifted by 4 pixels see no quantization at all, so rounding them by the same steps gives the
    histogram the file would have had if compressed once (Lukáš & Fridrich, "Estimation of primary
    quantization matrix in double compressed JPEG images", 2003). The score is the share of
    that calibrated mass (values 1..``span``) missing from the real histogram, averaged over the
    four low-frequency coefficients that miss the most.
    """
    bh, bw = (luma.shape[0] - 4) // 8, (luma.shape[1] - 4) // 8
    if bh * bw < 256:
        return 0.0
    pick = np.linspace(0, bh * bw - 1, min(blocks, bh * bw)).astype(int)
    steps = np.asarray([luma_table[i] for i in LOW_AC], np.float32)
    aligned = _coefficients(luma[:bh * 8, :bw * 8], pick, bw)
    shifted = _coefficients(luma[4:4 + bh * 8, 4:4 + bw * 8], pick, bw)
    missing = []
    for column, step in enumerate(steps):
        real = _histogram(np.rint(aligned[:, column] / step), span)
        calibrated = _histogram(np.rint(shifted[:, column] / step), span)
        if calibrated[1:].sum() < 200:
            continue
        missing.append(float(np.clip(calibrated[1:] - real[1:], 0, None).sum() / calibrated[1:].sum()))
    return float(np.mean(sorted(missing)[-4:])) if missing else 0.0


def _coefficients(plane: np.ndarray, pick: np.ndarray, bw: int) -> np.ndarray:
    """The ``LOW_AC`` DCT coefficients of the picked 8x8 blocks of ``plane``."""
    grid = plane.reshape(plane.shape[0] // 8, 8, bw, 8)[pick // bw, :, pick % bw, :]
    coef = DCT8 @ (grid.astype(np.float32) - 128.0) @ DCT8.T
    return coef.reshape(len(pick), 64)[:, list(LOW_AC)]


def _histogram(values: np.ndarray, span: int) -> np.ndarray:
    mags = np.abs(values).astype(np.int64)
    return np.bincount(mags[mags <= span], minlength=span + 1).astype(np.float64)
