"""Reading camera JPEGs for training: exact pixels, never the EXIF Orientation, grid-aligned crops.

Camera-model traces live in the sensor's colour-filter pattern and the camera's own JPEG grid, so
everything here keeps pixels where the camera put them: the Orientation tag is never applied
(rotating moves the CFA grid), and crop offsets are multiples of the grid (8 by default). The
reference decoder is libjpeg-turbo through OpenCV (islow IDCT, fancy upsampling); Pillow and
torchvision decode camera JPEGs to the same values (a test checks), OpenCV is the fastest of them.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.errors import CamidError


class Pixels(Protocol):
    """An image as loaders use it: ``.shape`` (H, W, 3) and 2-D slicing to a uint8 array (a decoded
    array, a memory map of the pixel cache, or a tile store's lazily decoded image)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: Any, /) -> Any: ...


_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
TAG_MAKE, TAG_MODEL = 0x010F, 0x0110


def decode_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """The whole image as H x W x 3 uint8 RGB, exactly as stored (no orientation applied)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise CamidError(f"{path}: unreadable: {exc.strerror or exc}") from None
    bgr = cv2.imdecode(data, _FLAGS) if data.size else None
    if bgr is None:
        raise CamidError(f"{path}: not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of the stored pixels, from the header only."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError) as exc:
        raise CamidError(f"{path}: not a readable image: {exc}") from None


def exif_camera(path: str | os.PathLike[str]) -> tuple[str, str] | None:
    """The file's own EXIF (Make, Model), stripped, or None when it names no camera."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return None
    make, model = (_text(exif.get(tag)) for tag in (TAG_MAKE, TAG_MODEL))
    return (make, model) if model else None


def jpeg_subsampling(path: str | os.PathLike[str]) -> str | None:
    """The JPEG's chroma subsampling ("4:2:0", "4:2:2", "4:4:4") from its header, None otherwise."""
    from PIL import JpegImagePlugin

    try:
        with Image.open(path) as im:
            sampling = JpegImagePlugin.get_sampling(im) if im.format == "JPEG" else -1
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return None
    return {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(sampling)


def camera_key(make: str, model: str) -> str:
    """One comparable string per camera: case and spacing differences between files do not count."""
    return " ".join(f"{make} {model}".lower().split())


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return str(value).replace("\x00", "").strip() if value is not None else ""


def centre_offset(length: int, size: int, grid: int) -> int:
    """Offset of a centred window of ``size`` in ``length``, rounded down onto the grid."""
    return max(0, (length - size) // 2 // grid * grid)


def grid_offset(rng: np.random.Generator, length: int, size: int, grid: int) -> int:
    """A uniformly random offset that is a multiple of ``grid`` and keeps the window inside."""
    return int(rng.integers(0, (length - size) // grid + 1)) * grid


