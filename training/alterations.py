"""The 2018 challenge's test-time alterations, and the crops they are applied to.

The challenge's test set holds 512x512 centre crops; the altered half went through exactly one
of: JPEG at quality 70 or 90, bicubic resize by 0.5, 0.8, 1.5 or 2.0, gamma 0.8 or 1.2. A resize
is applied to a centred region large enough that the centre crop of the resized image is whole
(1024 px before a 0.5 resize), as if the full image had been resized and then cropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from training.imageio import Pixels, centre_offset

KINDS = ("none", "jpeg", "resize", "gamma")


@dataclass(frozen=True, slots=True)
class Alteration:
    """One operation with its parameter (``none`` leaves the crop as the camera wrote it)."""

    kind: str
    value: float = 0.0

    @property
    def name(self) -> str:
        if self.kind == "none":
            return "unaltered"
        value = int(self.value) if self.kind == "jpeg" else self.value
        return f"{self.kind}_{value}"


UNALTERED = Alteration("none")
CHALLENGE_OPS = (
    Alteration("jpeg", 70), Alteration("jpeg", 90),
    Alteration("resize", 0.5), Alteration("resize", 0.8),
    Alteration("resize", 1.5), Alteration("resize", 2.0),
    Alteration("gamma", 0.8), Alteration("gamma", 1.2),
)


CHALLENGE_OP_NAMES = tuple(op.name for op in CHALLENGE_OPS)


def by_name(name: str) -> Alteration:
    """The alteration a name such as ``jpeg_70``, ``resize_0.5`` or ``gamma_1.2`` stands for."""
    kind, _, value = name.partition("_")
    if name == "unaltered":
        return UNALTERED
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if kind not in KINDS[1:] or number <= 0 or (kind == "jpeg" and not 1 <= number <= 100):
        raise ValueError(f"not an operation: {name!r} (e.g. jpeg_70, resize_0.5, gamma_1.2)")
    return Alteration(kind, int(number) if kind == "jpeg" else number)


def centre_crop(image: Pixels, size: int, grid: int | tuple[int, int], phase: int = 0) -> np.ndarray:
    """The grid-aligned centre ``size`` crop (the whole side when the image is smaller).

    ``grid`` is one step for both axes or (rows, columns); ``phase`` moves the window that many
    pixels down and right, off the grid (clamped inside the image).
    """
    gy, gx = (grid, grid) if isinstance(grid, int) else grid
    height, width = image.shape[:2]
    y = min(centre_offset(height, size, gy) + phase, max(0, height - size))
    x = min(centre_offset(width, size, gx) + phase, max(0, width - size))
    return np.ascontiguousarray(image[y:y + size, x:x + size])


def altered_crop(image: Pixels, op: Alteration, size: int, grid: int | tuple[int, int] = 8,
                 phase: int = 0) -> np.ndarray:
    """The centre ``size`` crop of the image after ``op`` (``phase``: see ``centre_crop``)."""
    if op.kind == "resize":
        margin = 16  # bicubic reads two pixels past the region: keep them real pixels
        region = centre_crop(image, math.ceil(size / op.value) + 2 * margin, grid, phase)
        height, width = region.shape[:2]
        new = (max(1, round(width * op.value)), max(1, round(height * op.value)))
        return centre_crop(cv2.resize(region, new, interpolation=cv2.INTER_CUBIC), size, 1)
    crop = centre_crop(image, size, grid, phase)
    if op.kind == "jpeg":
        return jpeg(crop, int(op.value))
    if op.kind == "gamma":
        return gamma(crop, op.value)
    return crop


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Round trip through libjpeg at ``quality`` (4:2:0, as cameras and most tools write)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV fails only on impossible inputs
        raise ValueError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover - a buffer OpenCV just wrote always decodes
        raise ValueError("JPEG decoding failed")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def gamma(rgb: np.ndarray, value: float) -> np.ndarray:
    """out = 255 * (in / 255) ** gamma, through a lookup table."""
    table = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** value), 0, 255).astype(np.uint8)
    return cv2.LUT(rgb, table)


def tta_views(crop: np.ndarray, input_size: int, corners: bool, d4: bool) -> list[np.ndarray]:
    """Corner and centre ``input_size`` crops, each in the 8 orientations of D4."""
    height, width = crop.shape[:2]
    if not corners or min(height, width) <= input_size:
        windows = [crop]
    else:
        ys, xs = (0, height - input_size), (0, width - input_size)
        windows = [crop[y:y + input_size, x:x + input_size] for y in ys for x in xs]
        windows.append(centre_crop(crop, input_size, 1))
    if not d4:
        return [np.ascontiguousarray(w) for w in windows]
    views: list[np.ndarray] = []
    for window in windows:
        for flipped in (window, window[:, ::-1]):
            views.extend(np.ascontiguousarray(np.rot90(flipped, k)) for k in range(4))
    return views
