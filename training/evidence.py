"""Whole-image evidence: an image cut into grid-aligned crops, each scored by the network.

A single centre crop sees about 2% of a 12 MP photo; an examiner wants the whole frame weighed.
``CropLayout`` says how: a grid of ``size`` crops every ``stride`` pixels (at most ``max_crops``,
spread evenly when there would be more), or the 2018 challenge's four corners plus centre; each
optionally in the eight orientations of D4 (their logits averaged per crop). Every offset is a
multiple of the file's block grid (16 for 4:2:0 JPEGs), so the crops see the camera's JPEG and
colour-filter phase as training did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.errors import CamidError
from training.alterations import tta_views
from training.augment import Grid
from training.forensic import ImageEvidence, softmax
from training.inference import LoadedModel, logits_and_features

LAYOUTS = ("grid", "corners")


@dataclass(frozen=True, slots=True)
class CropLayout:
    """How one image becomes crops: what ``calibration.json`` records and ``predict`` reuses."""

    size: int = 512
    stride: int = 0  # 0: the crop size (tiles that touch, no overlap)
    max_crops: int = 64
    layout: str = "grid"  # "grid" or "corners" (four corners and the centre)
    d4: bool = False

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise CamidError(f"--layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        if self.size < 8 or self.stride < 0 or self.max_crops < 1:
            raise CamidError(f"crop layout needs --crop-size >= 8, --stride >= 0 and --max-crops >= 1 "
                             f"(got {self.size}, {self.stride}, {self.max_crops})")


@dataclass(frozen=True, slots=True)
class CropBox:
    """One crop's place in the image (top-left corner and side, in stored pixels)."""

    y: int
    x: int
    size: int


def _axis(length: int, size: int, stride: int, step: int) -> list[int]:
    """Grid-aligned offsets of windows every ``stride`` along one axis, the set centred."""
    stride = max(step, -(-stride // step) * step)  # rounded up onto the grid
    count = (length - size) // stride + 1
    spare = length - size - (count - 1) * stride
    start = spare // 2 // step * step
    return [start + k * stride for k in range(count)]


def crop_boxes(height: int, width: int, layout: CropLayout, grid: Grid) -> list[CropBox]:
    """The crops of a ``height`` x ``width`` image: whole crops only, offsets on ``grid``."""
    gy, gx = grid
    size = min(layout.size, height // gy * gy, width // gx * gx) if min(height, width) < layout.size \
        else layout.size
    if size < 8:
        raise CamidError(f"image of {width}x{height} is too small for a crop")
    if layout.layout == "corners":
        far_y, far_x = (height - size) // gy * gy, (width - size) // gx * gx
        centre = ((height - size) // 2 // gy * gy, (width - size) // 2 // gx * gx)
        places = dict.fromkeys([(0, 0), (0, far_x), (far_y, 0), (far_y, far_x), centre])
        return [CropBox(y, x, size) for y, x in places]
    stride = layout.stride or size
    ys, xs = _axis(height, size, stride, gy), _axis(width, size, stride, gx)
    boxes = [CropBox(y, x, size) for y in ys for x in xs]
    if len(boxes) > layout.max_crops:
        keep = np.unique(np.round(np.linspace(0, len(boxes) - 1, layout.max_crops)).astype(int))
        boxes = [boxes[int(i)] for i in keep]
    return boxes


def image_evidence(loaded: LoadedModel, pixels: np.ndarray, layout: CropLayout, grid: Grid,
                   batch_size: int = 16) -> tuple[ImageEvidence, list[CropBox]]:
    """Per-crop logits and features of one decoded image (D4 views averaged within a crop)."""
    boxes = crop_boxes(pixels.shape[0], pixels.shape[1], layout, grid)
    per_crop = 8 if layout.d4 else 1
    chunk = max(1, batch_size // per_crop)  # a batch's worth of views at a time, not 64 x 8 at once
    logits, features = [], []
    for start in range(0, len(boxes), chunk):
        views: list[np.ndarray] = []
        for box in boxes[start:start + chunk]:
            crop = np.ascontiguousarray(pixels[box.y:box.y + box.size, box.x:box.x + box.size])
            views.extend(tta_views(crop, box.size, corners=False, d4=True) if layout.d4 else [crop])
        z, f = logits_and_features(loaded, views, batch_size)
        logits.append(_per_crop(z, per_crop))
        features.append(_per_crop(f, per_crop))
    return ImageEvidence(np.concatenate(logits), np.concatenate(features)), boxes


def _per_crop(values: np.ndarray, per_crop: int) -> np.ndarray:
    return values.reshape(-1, per_crop, values.shape[-1]).mean(axis=1)


def spread(evidence: ImageEvidence, label: int) -> dict[str, float]:
    """How much the crops agree: the share voting for ``label`` and its probability's spread."""
    probs = softmax(evidence.crop_logits)
    votes: Sequence[bool] = list(probs.argmax(axis=1) == label)
    return {"agreeing_crops": float(np.mean(votes)), "probability_min": float(probs[:, label].min()),
            "probability_max": float(probs[:, label].max()), "probability_std": float(probs[:, label].std())}
