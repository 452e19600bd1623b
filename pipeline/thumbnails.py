"""Small previews of stored files for the dataset card, from a reduced decode.

A JPEG is never decoded whole for a preview: Pillow's ``draft`` asks libjpeg for a DCT-scaled
decode (1/2, 1/4 or 1/8 of the size, the smallest that still covers the preview), so a 12 MP
file costs about what a 0.2 MP one does. A damaged JPEG that Pillow refuses (truncated, a
corrupt scan) is decoded by libjpeg-turbo through simplejpeg, leniently and DCT-scaled too, so a
``truncated`` rejection still shows what arrived. Other formats are decoded only when small. A
file that cannot or must not be decoded has no preview (None); the card says so instead.
"""

from __future__ import annotations

import io
import os

import simplejpeg
from PIL import Image, ImageOps

from pipeline.dedup import MAX_DECODE_PIXELS  # one decompression-bomb bound for every decode

THUMB_PX = 160  # the longer side of a preview
THUMB_QUALITY = 72
MAX_OTHER_PIXELS = 16_000_000  # a PNG (or any non-JPEG) is decoded whole: only when this small
MAX_FILE_BYTES = 64 * 1024 * 1024  # a damaged JPEG is read into memory for its lenient decode


def thumbnail(path: str | os.PathLike[str], size: int = THUMB_PX) -> bytes | None:
    """A JPEG preview whose longer side is at most ``size`` pixels, or None."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > MAX_DECODE_PIXELS:
                return None
            if im.format == "JPEG":
                im.draft("RGB", (size, size))  # libjpeg's DCT scaling: the reduced decode
            elif width * height > MAX_OTHER_PIXELS:
                return None
            im.thumbnail((size, size))
            return _encode(ImageOps.exif_transpose(im))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return _lenient_jpeg(path, size)


def _lenient_jpeg(path: str | os.PathLike[str], size: int) -> bytes | None:
    """What libjpeg makes of a damaged JPEG (warnings allowed), DCT-scaled; None if nothing."""
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        with open(path, "rb") as fh:
            data = fh.read()
        if not data.startswith(b"\xff\xd8"):  # simplejpeg.is_jpeg refuses truncated files
            return None
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        if width * height > MAX_DECODE_PIXELS:
            return None
        scale = max(1, max(width, height) // size)
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=False, fastdct=True,
                                        min_width=max(1, width // scale), min_height=max(1, height // scale))
        im = Image.fromarray(pixels)
        im.thumbnail((size, size))
        return _encode(im)
    except (OSError, ValueError):
        return None


def _encode(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return buf.getvalue()
