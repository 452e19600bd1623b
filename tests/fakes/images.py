"""Real JPEG bytes for the fakes: Pillow-encoded, with EXIF Make/Model/Software, made on the fly."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image

TAG_MAKE, TAG_MODEL, TAG_SOFTWARE = 0x010F, 0x0110, 0x0131


@cache
def camera_jpeg(seed: int = 0, make: str | None = "Apple", model: str | None = "iPhone 6",
                size: tuple[int, int] = (48, 32), software: str | None = None, quality: int = 95) -> bytes:
    """A small noisy JPEG (distinct per seed) with the given EXIF camera."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    exif = Image.Exif()
    for tag, value in ((TAG_MAKE, make), (TAG_MODEL, model), (TAG_SOFTWARE, software)):
        if value is not None:
            exif[tag] = value
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def realistic_jpeg(seed: int, size: tuple[int, int] = (4032, 3024), quality: int = 92) -> bytes:
    """A camera-sized JPEG of a few MB: smooth gradients with mild noise (like a photo, not noise)."""
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 200, y / h * 200, (x + y) / (w + h) * 255], axis=-1)
    noise = rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[TAG_MAKE], exif[TAG_MODEL] = "LGE", "Nexus 5X"
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def variant(jpeg: bytes, index: int) -> bytes:
    """The same picture with a distinct COM segment after SOI: new bytes, new hash, still a JPEG."""
    comment = f"camid-bench-{index}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]
