"""Do a MakerNote's internal offsets still land inside it? (Kee, Johnson & Farid 2011)

Most vendors write the MakerNote as a TIFF-style IFD whose out-of-line values are addressed by
offsets: some relative to the EXIF block's TIFF header (Canon, Sony, Panasonic, Samsung...), some
relative to the MakerNote itself or to a TIFF header inside it (Nikon, Fujifilm, Apple, newer
Olympus). Software that rewrites the EXIF block and moves the MakerNote without knowing its format
leaves the absolute kind pointing at the old place. So: find the vendor's IFD (by its prefix),
follow each entry whose value does not fit inline, and say whether every one lands inside the
MakerNote ("inside"), at least one does not ("outside"), or the note has no IFD to check ("opaque").
Which answer is normal is learned per camera (a signature part), so an unknown vendor layout read
the wrong way is still consistent across that camera's originals.
"""

from __future__ import annotations

from typing import Literal

ByteOrder = Literal["little", "big"]
_MARKS: dict[bytes, ByteOrder] = {b"II": "little", b"MM": "big"}

# prefix -> (offset of the IFD inside the note, offsets relative to: "note", "tiff" or "embedded")
PREFIXES: tuple[tuple[bytes, int, str], ...] = (
    (b"Nikon\x00\x02", 18, "embedded"),  # "Nikon\0" 2 bytes version, 2 spare, TIFF header at +10
    (b"Apple iOS\x00", 14, "note"),
    (b"FUJIFILM", -1, "note"),  # the IFD offset is the 4-byte little-endian value at +8
    (b"OLYMPUS\x00", 12, "note"),
    (b"OM SYSTEM\x00", 16, "note"),
    (b"PENTAX \x00", 10, "note"),
    (b"SONY DSC \x00\x00\x00", 12, "tiff"),
    (b"SONY CAM \x00\x00\x00", 12, "tiff"),
    (b"Panasonic\x00\x00\x00", 12, "tiff"),
    (b"OLYMP\x00", 8, "tiff"),
    (b"EPSON\x00", 8, "tiff"),
    (b"MINOL\x00", 8, "tiff"),
    (b"SANYO\x00", 8, "tiff"),
    (b"CASIO\x00", 8, "tiff"),
    (b"QVC\x00", 6, "tiff"),
    (b"AOC\x00", 6, "tiff"),
    (b"KDK", -2, "opaque"),
)
# bytes per value of each TIFF field type (TIFF 6.0 section 2, plus IFD = 13)
TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
MAX_ENTRIES = 512


def tiff_byte_order(header: bytes) -> ByteOrder | None:
    """The byte order a TIFF header (``II*\\0`` or ``MM\\0*``) declares; None if it is none."""
    return _MARKS.get(header[:2]) if header[:4] in (b"II*\x00", b"MM\x00*") else None


def makernote_offsets(tiff: bytes, start: int, length: int, order: ByteOrder) -> str:
    """"inside", "outside" or "opaque" for the MakerNote at ``tiff[start:start + length]``."""
    note = tiff[start:start + length]
    ifd_at, base, order = _locate(note, start, order)
    if ifd_at < 0 or ifd_at + 2 > len(note):
        return "opaque"
    count = int.from_bytes(note[ifd_at:ifd_at + 2], order)
    if not 1 <= count <= MAX_ENTRIES or ifd_at + 2 + 12 * count > len(note):
        return "opaque"
    checked = 0
    for pos in range(ifd_at + 2, ifd_at + 2 + 12 * count, 12):
        kind = int.from_bytes(note[pos + 2:pos + 4], order)
        size = TYPE_SIZE.get(kind, 0) * int.from_bytes(note[pos + 4:pos + 8], order)
        if kind not in TYPE_SIZE or size <= 4:
            continue
        where = base + int.from_bytes(note[pos + 8:pos + 12], order)
        checked += 1
        if not start <= where < start + length:  # where the value starts (some notes end short)
            return "outside"
    return "inside" if checked else "opaque"


def _locate(note: bytes, start: int, order: ByteOrder) -> tuple[int, int, ByteOrder]:
    """(IFD position in the note, base added to offsets in TIFF-block terms, byte order)."""
    for prefix, ifd_at, relative in PREFIXES:
        if not note.startswith(prefix):
            continue
        if relative == "opaque":
            return -1, 0, order
        if relative == "embedded":
            header = note[10:18]
            inner = tiff_byte_order(header)
            if inner is None:
                return -1, 0, order
            return 10 + int.from_bytes(header[4:8], inner), start + 10, inner
        if ifd_at == -1:  # Fujifilm: always little-endian, IFD offset stored at +8
            return int.from_bytes(note[8:12], "little"), start, "little"
        if relative == "note":  # a byte-order mark just before the IFD, or before a version
            mark = next((m for m in (note[ifd_at - 2:ifd_at], note[ifd_at - 4:ifd_at - 2])
                         if m in (b"II", b"MM")), None)
            order = _MARKS[mark] if mark is not None else order
        return ifd_at, start if relative == "note" else 0, order
    return 0, 0, order  # no prefix: an IFD right at the start, TIFF-relative (Canon, Samsung...)
