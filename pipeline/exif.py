"""EXIF from a JPEG's APP1 payload: exifread decodes the tags, a small bounded walk guards it.

exifread copes with IFD loops but spends seconds on an IFD that declares tens of thousands of
entries past the end of the data, and (without its slow ``details`` mode) does not say whether a
MakerNote is present. The walk here checks the IFD0 and EXIF IFD entry counts against the payload
(an APP1 segment is at most 64 KB, so the work is bounded) and notes the MakerNote tag, before
exifread is allowed near the bytes.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import exifread

EXIF_PREFIX = b"Exif\x00\x00"
TAG_EXIF_IFD = 0x8769
TAG_MAKERNOTE = 0x927C

logging.getLogger("exifread").setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class ExifFields:
    """The EXIF values curation needs; strings stripped, None where absent."""

    make: str | None = None
    model: str | None = None
    software: str | None = None
    datetime_original: str | None = None
    orientation: int | None = None
    exif_width: int | None = None
    exif_height: int | None = None
    has_makernote: bool = False


class ExifError(Exception):
    """The EXIF block is structurally unusable (the file may still be a fine JPEG otherwise)."""


def read_exif(app1_payload: bytes) -> ExifFields:
    """Decode an ``Exif\\0\\0`` APP1 payload; raise ``ExifError`` when its structure is broken."""
    tiff = app1_payload[len(EXIF_PREFIX):]
    has_makernote = _walk(tiff)
    try:
        # stop after ExifImageLength: GPS, interoperability and thumbnail IFDs are not needed
        tags = exifread.process_file(io.BytesIO(tiff), details=False, extract_thumbnail=False,
                                     stop_tag="ExifImageLength")
    except Exception as exc:  # exifread raises many types on malformed data
        raise ExifError(f"EXIF unreadable: {type(exc).__name__}") from None
    return ExifFields(
        make=_text(tags.get("Image Make")),
        model=_text(tags.get("Image Model")),
        software=_text(tags.get("Image Software")),
        datetime_original=_text(tags.get("EXIF DateTimeOriginal")),
        orientation=_number(tags.get("Image Orientation")),
        exif_width=_number(tags.get("EXIF ExifImageWidth")),
        exif_height=_number(tags.get("EXIF ExifImageLength")),
        has_makernote=has_makernote,
    )


def _walk(tiff: bytes) -> bool:
    """Validate IFD0 and the EXIF IFD; return whether the EXIF IFD has a MakerNote entry."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ExifError("EXIF block has no TIFF header")
    order = "little" if tiff[:2] == b"II" else "big"
    ifd0 = _entries(tiff, int.from_bytes(tiff[4:8], order), order)
    pointer = ifd0.get(TAG_EXIF_IFD)
    if pointer is None or pointer[0] not in (4, 13) or pointer[1] != 1:
        return False  # no EXIF IFD, or a malformed pointer that exifread will not follow either
    note = _entries(tiff, pointer[2], order).get(TAG_MAKERNOTE)
    if note is None or note[1] == 0:
        return False
    start = note[2] if note[1] > 4 else None
    data = tiff[start:start + note[1]] if start is not None else b"\x01"
    return len(data) == note[1] and data.strip(b"\x00 ") != b""  # a stub of zeros is no MakerNote


def _entries(tiff: bytes, offset: int, order: str) -> dict[int, tuple[int, int, int]]:
    """Tag -> (type, count, value/offset field) of one IFD, after checking it lies inside the data."""
    if offset < 8 or offset + 2 > len(tiff):
        raise ExifError(f"EXIF IFD offset {offset} outside the block")
    count = int.from_bytes(tiff[offset:offset + 2], order)
    end = offset + 2 + 12 * count
    if end > len(tiff):
        raise ExifError(f"EXIF IFD declares {count} entries, more than the block holds")
    entries = {}
    for pos in range(offset + 2, end, 12):
        tag = int.from_bytes(tiff[pos:pos + 2], order)
        entries[tag] = (int.from_bytes(tiff[pos + 2:pos + 4], order),
                        int.from_bytes(tiff[pos + 4:pos + 8], order),
                        int.from_bytes(tiff[pos + 8:pos + 12], order))
    return entries


def _text(tag: object) -> str | None:
    if tag is None:
        return None
    value = getattr(tag, "values", tag)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = str(value).replace("\x00", " ").strip()
    return text or None


def _number(tag: object) -> int | None:
    values = getattr(tag, "values", None)
    if isinstance(values, list) and values and isinstance(values[0], int):
        return values[0]
    return None
