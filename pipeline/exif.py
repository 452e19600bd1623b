"""EXIF from a JPEG's APP1 payload: exifread decodes the tags, a small bounded walk guards it.

exifread copes with IFD loops but spends seconds on an IFD that declares tens of thousands of
entries past the end of the data, and (without its slow ``details`` mode) does not say whether a
MakerNote is present. The walk here checks the IFD0 and EXIF IFD entry counts against the payload
(an APP1 segment is at most 64 KB, so the work is bounded) and notes the MakerNote tag, before
exifread is allowed near the bytes.

exifread is then handed a *sanitised copy*: IFD0's next-IFD pointer is cleared and every entry of
IFD0 and the EXIF IFD that curation does not read is given field type 0, which exifread skips.
Otherwise it would follow every GPS/Interoperability pointer and every IFD in the chain, none of
them validated: a 64 KB block with thousands of GPS pointers to an IFD declaring 65535 entries
kept it busy for many minutes.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import exifread

EXIF_PREFIX = b"Exif\x00\x00"
TAG_EXIF_IFD = 0x8769
TAG_MAKERNOTE = 0x927C
# the only tags exifread gets to see: Make, Model, Orientation, Software, the EXIF IFD pointer,
# DateTimeOriginal, ExifImageWidth and ExifImageLength
NEEDED_TAGS = frozenset({0x010F, 0x0110, 0x0112, 0x0131, TAG_EXIF_IFD, 0x9003, 0xA002, 0xA003})

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
    has_makernote, tiff = _walk(tiff)
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


def _walk(tiff: bytes) -> tuple[bool, bytes]:
    """Validate IFD0 and the EXIF IFD; return whether the EXIF IFD has a MakerNote entry, and the
    sanitised copy of ``tiff`` for exifread (see the module docstring)."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ExifError("EXIF block has no TIFF header")
    order = "little" if tiff[:2] == b"II" else "big"
    clean = bytearray(tiff)
    ifd0_offset = int.from_bytes(tiff[4:8], order)
    ifd0 = _entries(tiff, ifd0_offset, order)
    if ifd0.end + 4 <= len(clean):
        clean[ifd0.end:ifd0.end + 4] = bytes(4)  # no IFD1 (thumbnail) or further IFDs
    pointer = ifd0.fields.get(TAG_EXIF_IFD)
    exif_offset = pointer[2] if pointer is not None and pointer[0] in (4, 13) and pointer[1] == 1 else None
    if exif_offset == ifd0_offset:
        raise ExifError("EXIF IFD pointer loops back to IFD0")
    # exifread keeps the last ExifOffset it reads: leave it only the one validated here
    _neutralise(clean, ifd0, order, ifd0.positions[TAG_EXIF_IFD][-1] if exif_offset is not None else None)
    if exif_offset is None:
        return False, bytes(clean)  # no EXIF IFD, or a malformed pointer exifread must not follow
    exif = _entries(tiff, exif_offset, order)
    _neutralise(clean, exif, order, None)
    note = exif.fields.get(TAG_MAKERNOTE)
    if note is None or note[1] == 0:
        return False, bytes(clean)
    start = note[2] if note[1] > 4 else None
    data = tiff[start:start + note[1]] if start is not None else b"\x01"
    return len(data) == note[1] and data.strip(b"\x00 ") != b"", bytes(clean)  # zeros: no MakerNote


@dataclass(slots=True)
class _Ifd:
    """One IFD's entries: tag -> (type, count, value/offset field) of the last entry with that
    tag, tag -> offsets of all its entries, and where the entries end (the next-IFD field)."""

    fields: dict[int, tuple[int, int, int]]
    positions: dict[int, list[int]]
    end: int


def _entries(tiff: bytes, offset: int, order: str) -> _Ifd:
    """The entries of one IFD, after checking they lie inside the data."""
    if offset < 8 or offset + 2 > len(tiff):
        raise ExifError(f"EXIF IFD offset {offset} outside the block")
    count = int.from_bytes(tiff[offset:offset + 2], order)
    end = offset + 2 + 12 * count
    if end > len(tiff):
        raise ExifError(f"EXIF IFD declares {count} entries, more than the block holds")
    ifd = _Ifd({}, {}, end)
    for pos in range(offset + 2, end, 12):
        tag = int.from_bytes(tiff[pos:pos + 2], order)
        ifd.fields[tag] = (int.from_bytes(tiff[pos + 2:pos + 4], order),
                           int.from_bytes(tiff[pos + 4:pos + 8], order),
                           int.from_bytes(tiff[pos + 8:pos + 12], order))
        ifd.positions.setdefault(tag, []).append(pos)
    return ifd


def _neutralise(clean: bytearray, ifd: _Ifd, order: str, keep_pointer: int | None) -> None:
    """Field type 0 for every entry exifread need not read (and every EXIF pointer but one)."""
    zero = (0).to_bytes(2, order)  # type: ignore[arg-type]
    for tag, positions in ifd.positions.items():
        for pos in positions:
            if tag not in NEEDED_TAGS or (tag == TAG_EXIF_IFD and pos != keep_pointer):
                clean[pos + 2:pos + 4] = zero


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
