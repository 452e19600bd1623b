"""EXIF from a JPEG's APP1 payload: the tags curation needs, and how the block is laid out.

A bounded walk of the TIFF structure inside the APP1 segment (at most 64 KB, so the work is
bounded): IFD0 and the EXIF IFD give Make, Model, Software, DateTimeOriginal, Orientation, the
EXIF-recorded size and the body serial number (which device took the photo, so a test split can
hold devices training never saw); every IFD's position gives the layout an encoder leaves (which
IFDs, in which order, which byte order, the thumbnail, whether the MakerNote's offsets still land
inside it), which is part of the encoder signature (``pipeline.signature``).

Only IFD0 and the EXIF IFD are judged: a broken one is a ``corrupt`` fact (the file may still be
a fine JPEG). The GPS, interoperability and thumbnail IFDs are located, never followed further,
and a broken one only shows in the layout. Every pointer is checked against the block before it
is used, and a tag that appears twice counts once (the last, as exiftool and exifread read it),
so a block full of pointers costs one lookup, not thousands of walks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pipeline.makernote import TYPE_SIZE, ByteOrder, makernote_offsets, tiff_byte_order

EXIF_PREFIX = b"Exif\x00\x00"
TAG_EXIF_IFD, TAG_GPS_IFD, TAG_INTEROP_IFD = 0x8769, 0x8825, 0xA005
TAG_MAKERNOTE = 0x927C
TAG_MAKE, TAG_MODEL, TAG_ORIENTATION, TAG_SOFTWARE = 0x010F, 0x0110, 0x0112, 0x0131
TAG_DATETIME_ORIGINAL, TAG_EXIF_WIDTH, TAG_EXIF_HEIGHT = 0x9003, 0xA002, 0xA003
TAG_THUMB_OFFSET, TAG_THUMB_LENGTH = 0x0201, 0x0202
# BodySerialNumber (EXIF 2.3, in the EXIF IFD); CameraSerialNumber (DNG's tag, which some
# cameras also write into a JPEG's IFD0 or EXIF IFD) is the fallback
TAG_BODY_SERIAL, TAG_CAMERA_SERIAL = 0xA431, 0xC62F


@dataclass(frozen=True, slots=True)
class ExifLayout:
    """How the EXIF block is built: an encoder habit, rewritten by most software that saves EXIF."""

    structure: str  # byte order, IFD0 offset, the IFDs present ordered by position: "II@8 0<exif<1"
    thumbnail_offset: int | None  # within the TIFF block
    thumbnail_length: int | None
    makernote: str  # "none", "inside", "outside" or "opaque" (see pipeline.makernote)


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
    serial: str | None = None


class ExifError(Exception):
    """The EXIF block is structurally unusable (the file may still be a fine JPEG otherwise)."""


@dataclass(frozen=True, slots=True)
class _Ifd:
    """One IFD: tag -> (type, count, value/offset field, position of the field); where it ends."""

    offset: int
    entries: dict[int, tuple[int, int, int, int]]
    end: int


class _Tiff:
    def __init__(self, data: bytes) -> None:
        order = tiff_byte_order(data) if len(data) >= 8 else None
        if order is None:
            raise ExifError("EXIF block has no TIFF header")
        self.data = data
        self.order: ByteOrder = order
        self._entry = struct.Struct("<HHII" if self.order == "little" else ">HHII")

    def read_int(self, pos: int, size: int) -> int:
        return int.from_bytes(self.data[pos:pos + size], self.order)

    def ifd(self, offset: int) -> _Ifd:
        """The entries of the IFD at ``offset``, after checking they lie inside the block."""
        if offset < 8 or offset + 2 > len(self.data):
            raise ExifError(f"EXIF IFD offset {offset} outside the block")
        count = self.read_int(offset, 2)
        end = offset + 2 + 12 * count
        if end > len(self.data):
            raise ExifError(f"EXIF IFD declares {count} entries, more than the block holds")
        unpack, data = self._entry.unpack_from, self.data
        entries = {}
        for pos in range(offset + 2, end, 12):
            tag, kind, number, field = unpack(data, pos)
            entries[tag] = (kind, number, field, pos + 8)
        return _Ifd(offset, entries, end)

    def value_bytes(self, entry: tuple[int, int, int, int], cap: int | None = None) -> bytes:
        """An entry's raw value (inline or at its offset), cut at the block's end."""
        kind, count, field, field_pos = entry
        size = TYPE_SIZE.get(kind, 1) * count
        if size <= 4:
            return self.data[field_pos:field_pos + size]
        end = field + size if cap is None else field + min(size, cap)
        return self.data[field:end] if field < len(self.data) else b""

    def text(self, ifd: _Ifd, tag: int) -> str | None:
        entry = ifd.entries.get(tag)
        if entry is None or entry[0] not in (1, 2, 7):
            return None
        raw = self.value_bytes(entry, cap=4096).split(b"\x00", 1)[0]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        return text.strip() or None

    def number(self, ifd: _Ifd, tag: int) -> int | None:
        entry = ifd.entries.get(tag)
        if entry is None or entry[0] not in (3, 4) or entry[1] < 1:
            return None
        size = TYPE_SIZE[entry[0]]
        raw = self.value_bytes(entry)
        return int.from_bytes(raw[:size], self.order) if len(raw) == size * entry[1] else None

    def pointer(self, ifd: _Ifd, tag: int) -> int | None:
        entry = ifd.entries.get(tag)
        return entry[2] if entry is not None and entry[0] in (4, 13) and entry[1] == 1 else None


def read_exif(app1_payload: bytes) -> tuple[ExifFields, ExifLayout]:
    """Decode an ``Exif\\0\\0`` APP1 payload; raise ``ExifError`` when its structure is broken."""
    tiff = _Tiff(app1_payload[len(EXIF_PREFIX):])
    ifd0_offset = tiff.read_int(4, 4)
    ifd0 = tiff.ifd(ifd0_offset)
    exif_offset = tiff.pointer(ifd0, TAG_EXIF_IFD)
    if exif_offset == ifd0_offset:
        raise ExifError("EXIF IFD pointer loops back to IFD0")
    exif = tiff.ifd(exif_offset) if exif_offset is not None else _Ifd(0, {}, 0)
    note = exif.entries.get(TAG_MAKERNOTE)
    has_note = note is not None and _makernote_present(tiff, note)
    fields = ExifFields(
        make=tiff.text(ifd0, TAG_MAKE), model=tiff.text(ifd0, TAG_MODEL),
        software=tiff.text(ifd0, TAG_SOFTWARE), datetime_original=tiff.text(exif, TAG_DATETIME_ORIGINAL),
        orientation=tiff.number(ifd0, TAG_ORIENTATION), exif_width=tiff.number(exif, TAG_EXIF_WIDTH),
        exif_height=tiff.number(exif, TAG_EXIF_HEIGHT), has_makernote=has_note,
        serial=_serial(tiff, ifd0, exif))
    return fields, _layout(tiff, ifd0, exif, note if has_note else None)


def _serial(tiff: _Tiff, ifd0: _Ifd, exif: _Ifd) -> str | None:
    """The body serial number as written (BodySerialNumber first, then CameraSerialNumber).

    Reported raw, placeholders such as "0000" included: the facts say what the file holds, and
    ``pipeline.export_rows.device_key`` decides which values name a device.
    """
    return (tiff.text(exif, TAG_BODY_SERIAL) or tiff.text(ifd0, TAG_CAMERA_SERIAL)
            or tiff.text(exif, TAG_CAMERA_SERIAL))


def _makernote_present(tiff: _Tiff, note: tuple[int, int, int, int]) -> bool:
    """A MakerNote that fits in the block and is not just zeros or spaces."""
    if note[1] == 0:
        return False
    data = tiff.value_bytes(note) if note[1] > 4 else b"\x01"
    return len(data) == note[1] and data.strip(b"\x00 ") != b""


def _layout(tiff: _Tiff, ifd0: _Ifd, exif: _Ifd, note: tuple[int, int, int, int] | None) -> ExifLayout:
    found = {"0": ifd0.offset}
    if exif.entries or exif.offset:
        found["exif"] = exif.offset
    for name, parent, tag in (("gps", ifd0, TAG_GPS_IFD), ("interop", exif, TAG_INTEROP_IFD)):
        offset = tiff.pointer(parent, tag)
        if offset is not None:
            found[name] = offset if _valid_ifd(tiff, offset) else -1
    thumb_offset = thumb_length = None
    next_ifd = tiff.read_int(ifd0.end, 4) if ifd0.end + 4 <= len(tiff.data) else 0
    if next_ifd:
        found["1"] = next_ifd if _valid_ifd(tiff, next_ifd) else -1
        if found["1"] > 0:
            ifd1 = tiff.ifd(next_ifd)
            thumb_offset = tiff.number(ifd1, TAG_THUMB_OFFSET)
            thumb_length = tiff.number(ifd1, TAG_THUMB_LENGTH)
    if note is not None:
        found["makernote"] = note[2] if note[1] > 4 else note[3]
    order = " ".join(f"{name}" if pos >= 0 else f"{name}!" for name, pos in
                     sorted(found.items(), key=lambda item: (item[1] < 0, item[1])))
    head = f"{'II' if tiff.order == 'little' else 'MM'}@{ifd0.offset}"
    makernote = "none" if note is None else makernote_offsets(tiff.data, note[2], note[1], tiff.order)
    return ExifLayout(f"{head} {order}", thumb_offset, thumb_length, makernote)


def _valid_ifd(tiff: _Tiff, offset: int) -> bool:
    """The IFD at ``offset`` lies inside the block, entries and all (they are not read)."""
    if offset < 8 or offset + 2 > len(tiff.data):
        return False
    return offset + 2 + 12 * tiff.read_int(offset, 2) <= len(tiff.data)
