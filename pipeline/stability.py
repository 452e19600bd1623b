"""Recompression stability: a region re-coded once less than the rest of the image.

A forger who edits a camera JPEG and saves it with the camera's own tables compresses the untouched
part a second time on the same grid, while a pasted, moved or retouched region is quantized for
the first time. JPEG coding converges: a block that has been through decode and re-encode once
changes far less often under one more round trip than a freshly quantized block (Huang, Huang &
Shi, "Detecting double JPEG compression with the same quantization matrix", IEEE TIFS 5(4), 2010,
count the coefficients that change between successive recompressions, for a whole image). Here
the count is read per 8x8 block and compared region by region:

- observed: which of the file's blocks change when its luma is re-coded once more with its own
  luminance table (libjpeg's accurate integer DCT, as Pillow and most editors save);
- expected: which blocks change on a round trip after a *fresh* quantization of the same content,
  made on the grid shifted by 4 px (a shifted grid has no history, so this calibrates how unstable
  this content is at this table, as Fridrich's calibration does with a cropped image);
- per 192 px region, log2 of observed over expected, minus the image's median. An original is
  quantized once everywhere, so the ratio is even; in an edited re-save the edited region stands
  out by about log2(1/p), p being the share of blocks a round trip leaves unstable.

Blocks with a colour channel at or near clipping are left out: a round trip through RGB keeps
changing them whatever their history (a benign re-save then reads as edited there). The colour
comes from a 1/8-scale decode (one pixel per block: the block's mean colour), widened by the
block's luma range. Coarse tables (below about quality 85) leave too few changing blocks to
measure; the score is then None.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import simplejpeg
from PIL import Image

STABILITY_WINDOW = 24  # 8x8 blocks: the region compared with the image (192 px)
MIN_EXPECTED_SHARE = 0.2  # of a region's blocks that must change on a fresh round trip to count
MIN_EXPECTED_RATE = 0.05  # of the image's blocks; below it the table is too coarse to measure
EXPECTED_STEP = 2  # the calibration reads every second block row and column (a quarter the cost)
CLIP_HIGH, CLIP_LOW = 250, 5  # a colour channel this close to the ends may clip in a round trip


def stability_excess(luma: np.ndarray, luma_table: tuple[int, ...],
                     colour_eighth: np.ndarray | None) -> float | None:
    """log2 excess of the least stable region's block changes over the calibrated expectation.

    ``colour_eighth``: the 1/8-scale RGB decode (one pixel per block), or None for a grey image.
    """
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    if h < 8 * STABILITY_WINDOW or w < 8 * STABILITY_WINDOW:
        return None
    if len(luma_table) != 64 or not all(1 <= step <= 255 for step in luma_table):
        return None  # a 16-bit or broken table: baseline re-coding cannot reproduce it
    expected = _fresh_changes(luma[4:, 4:], luma_table)
    if expected.mean() < MIN_EXPECTED_RATE:
        return None
    plane = np.ascontiguousarray(luma[:h, :w])
    observed = _block_changed(plane, _round_trip(plane, luma_table))
    rows, cols = min(observed.shape[0], expected.shape[0]), min(observed.shape[1], expected.shape[1])
    keep = ~_clipped(plane, colour_eighth)[:rows, :cols]
    return _worst_ratio(observed[:rows, :cols] & keep, expected[:rows, :cols] & keep)


def _fresh_changes(plane: np.ndarray, table: tuple[int, ...]) -> np.ndarray:
    """Per block (every ``EXPECTED_STEP``-th, repeated to the full grid): whether a fresh
    quantization of ``plane`` changes on one more round trip."""
    step = EXPECTED_STEP
    rows, cols = plane.shape[0] // (8 * step), plane.shape[1] // (8 * step)
    blocks = plane[:rows * 8 * step, :cols * 8 * step].reshape(rows * step, 8, cols * step, 8)
    sample = np.ascontiguousarray(blocks[::step, :, ::step, :].reshape(rows * 8, cols * 8))
    fresh = _round_trip(sample, table)
    changed = _block_changed(fresh, _round_trip(fresh, table))
    return np.repeat(np.repeat(changed, step, axis=0), step, axis=1)


def _round_trip(plane: np.ndarray, table: tuple[int, ...]) -> np.ndarray:
    """``plane`` coded as a baseline greyscale JPEG with ``table`` (libjpeg, as Pillow saves) and
    decoded again (libjpeg-turbo, accurate IDCT). JPEG blocks are coded independently, so any
    mosaic of blocks round-trips as its blocks would in place."""
    out = io.BytesIO()
    Image.fromarray(plane, "L").save(out, "JPEG", qtables=[list(table)], optimize=False)
    decoded: np.ndarray = simplejpeg.decode_jpeg(out.getvalue(), colorspace="GRAY")[..., 0]
    return decoded


def _block_changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per 8x8 block: whether any pixel differs (the block mean of a 0/255 mask above 0)."""
    rows, cols = a.shape[0] // 8, a.shape[1] // 8
    differs = cv2.compare(a[:rows * 8, :cols * 8], b[:rows * 8, :cols * 8], cv2.CMP_NE)
    changed: np.ndarray = cv2.resize(differs, (cols, rows), interpolation=cv2.INTER_AREA) > 0
    return changed


_BLOCK = np.ones((8, 8), np.uint8)


def _block_max(plane: np.ndarray) -> np.ndarray:
    """Per 8x8 block, the maximum: a dilation anchored at the block's corner, read every 8 px."""
    out: np.ndarray = cv2.dilate(plane, _BLOCK, anchor=(0, 0))[0:(plane.shape[0] // 8) * 8:8,
                                                                0:(plane.shape[1] // 8) * 8:8]
    return out


def _block_min(plane: np.ndarray) -> np.ndarray:
    out: np.ndarray = cv2.erode(plane, _BLOCK, anchor=(0, 0))[0:(plane.shape[0] // 8) * 8:8,
                                                               0:(plane.shape[1] // 8) * 8:8]
    return out


def _clipped(plane: np.ndarray, colour: np.ndarray | None) -> np.ndarray:
    """Blocks whose luma, or whose colour (block mean moved by the luma range), reaches clipping."""
    top = _block_max(plane).astype(np.float32)
    bottom = _block_min(plane).astype(np.float32)
    if colour is None:
        return (top >= CLIP_HIGH) | (bottom <= CLIP_LOW)
    mean = cv2.resize(plane, (top.shape[1], top.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
    if abs(colour.shape[0] - top.shape[0]) > 1 or abs(colour.shape[1] - top.shape[1]) > 1:
        colour = cv2.resize(colour, (top.shape[1], top.shape[0]), interpolation=cv2.INTER_AREA)
    rows, cols = min(top.shape[0], colour.shape[0]), min(top.shape[1], colour.shape[1])
    bad = np.ones(top.shape, bool)
    tint = colour[:rows, :cols].astype(np.float32)
    channels = (tint[..., 0], tint[..., 1], tint[..., 2])  # elementwise: a reduction over 3 is slow
    high = np.maximum(np.maximum(*channels[:2]), channels[2]) + (top - mean)[:rows, :cols]
    low = np.minimum(np.minimum(*channels[:2]), channels[2]) - (mean - bottom)[:rows, :cols]
    bad[:rows, :cols] = (high >= CLIP_HIGH) | (low <= CLIP_LOW)
    return bad


def _worst_ratio(observed: np.ndarray, expected: np.ndarray) -> float | None:
    """Max over regions of log2((observed + 1) / (expected + 1)) minus the median over regions;
    only regions where enough blocks are expected to change count."""
    seen, due = _window_sum(observed), _window_sum(expected)
    valid = due >= MIN_EXPECTED_SHARE * STABILITY_WINDOW * STABILITY_WINDOW
    if valid.sum() < 4:
        return None
    ratio = np.log2((seen[valid] + 1) / (due[valid] + 1))
    return float(ratio.max() - np.median(ratio))


def _window_sum(mask: np.ndarray) -> np.ndarray:
    """Per block, the count of set blocks in the ``STABILITY_WINDOW``-square region around it."""
    size = (STABILITY_WINDOW, STABILITY_WINDOW)
    out: np.ndarray = cv2.boxFilter(mask.astype(np.float32), -1, size, normalize=False,
                                    borderType=cv2.BORDER_CONSTANT)
    return out
