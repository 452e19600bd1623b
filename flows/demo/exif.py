"""The EXIF block a simulated camera writes: IFD0, the EXIF IFD and a JPEG thumbnail in IFD1.

Written by hand (Pillow's ``Image.Exif`` has no way to store a thumbnail), in the layout
cameras use: TIFF header, IFD0, the EXIF IFD, IFD1, the values that do not fit in an entry,
then the thumbnail. The thumbnail is what the pixel stage compares the image with.
"""

from __future__ import annotations

import io
import struct
from datetime import datetime

import numpy as np
from PIL import Image

ASCII, SHORT, LONG = 2, 3, 4
THUMB_WIDTH = 160
Entry = tuple[int, int, "bytes | int"]


def thumbnail_of(pixels: np.ndarray) -> bytes:
    """A 160-pixel-wide JPEG thumbnail (quality 90), as a camera makes it from the same frame."""
    height, width = pixels.shape[:2]
    small = Image.fromarray(pixels).resize((THUMB_WIDTH, max(1, round(THUMB_WIDTH * height / width))),
                                           Image.Resampling.BOX)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=90)
    return out.getvalue()


def camera_exif(make: str, model: str, software: str, taken: datetime, size: tuple[int, int],
                thumbnail: bytes, serial: str | None = None) -> bytes:
    """``Exif\\0\\0`` + a little-endian TIFF block with the camera's tags and the thumbnail;
    ``serial`` becomes the EXIF IFD's BodySerialNumber (0xA431), which tells units of one model apart."""
    stamp = taken.strftime("%Y:%m:%d %H:%M:%S").encode() + b"\x00"
    ifd0: list[Entry] = [(0x010F, ASCII, make.encode("latin-1") + b"\x00"),
                         (0x0110, ASCII, model.encode("latin-1") + b"\x00"), (0x0112, SHORT, 1),
                         (0x0131, ASCII, software.encode("latin-1") + b"\x00"), (0x0132, ASCII, stamp),
                         (0x8769, LONG, 0)]
    exif: list[Entry] = [(0x9003, ASCII, stamp), (0xA002, LONG, size[0]), (0xA003, LONG, size[1])]
    if serial is not None:
        exif.append((0xA431, ASCII, serial.encode("ascii") + b"\x00"))
    ifd1: list[Entry] = [(0x0103, SHORT, 6), (0x0201, LONG, 0), (0x0202, LONG, len(thumbnail))]
    at_exif = 8 + _size(ifd0)
    at_ifd1 = at_exif + _size(exif)
    at_data = at_ifd1 + _size(ifd1)
    values = b"".join(_padded(v) for _, kind, v in (*ifd0, *exif)
                      if kind == ASCII and isinstance(v, bytes) and len(v) > 4)
    pointers = {0x8769: at_exif, 0x0201: at_data + len(values)}
    cursor = [at_data]
    blocks = [_ifd(ifd0, at_ifd1, pointers, cursor), _ifd(exif, 0, pointers, cursor),
              _ifd(ifd1, 0, pointers, cursor)]
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + b"".join(blocks) + values + thumbnail


def _size(entries: list[Entry]) -> int:
    return 2 + 12 * len(entries) + 4


def _padded(value: bytes) -> bytes:
    return value + (b"\x00" if len(value) % 2 else b"")


def _ifd(entries: list[Entry], next_ifd: int, pointers: dict[int, int], cursor: list[int]) -> bytes:
    """One IFD; out-of-line ASCII values are placed at ``cursor`` in the order they come."""
    out = bytearray(struct.pack("<H", len(entries)))
    for tag, kind, value in entries:
        if kind == ASCII:
            assert isinstance(value, bytes)
            if len(value) > 4:
                field = struct.pack("<I", cursor[0])
                cursor[0] += len(_padded(value))
            else:
                field = value.ljust(4, b"\x00")
            out += struct.pack("<HHI", tag, kind, len(value)) + field
        else:
            number = pointers.get(tag, value)
            field = struct.pack("<HH", number, 0) if kind == SHORT else struct.pack("<I", number)
            out += struct.pack("<HHI", tag, kind, 1) + field
    return bytes(out + struct.pack("<I", next_ifd))
