"""A bounded walk over a JPEG file's marker segments, up to the start of the first scan.

Curation must judge hostile files (zero bytes, truncation anywhere, megabytes of fill bytes,
garbage after SOI, absurd declared sizes) in bounded time and memory, and fast on honest ones. The
walker works on a buffer (the file memory-mapped, or bytes), never looks further than
``MAX_HEADER`` bytes for the header, and skips fill bytes and garbage with C-level searches
(``bytes.find``, a compiled regex) instead of byte loops. What follows the header, the
entropy-coded scan and whatever trails it, is ``pipeline.scan``'s job.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from typing import TypeAlias

MAX_HEADER = 16 * 1024 * 1024
MAX_SEGMENTS = 4096
STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length
SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
NOT_FILL = re.compile(rb"[^\xff]")  # the first byte that is not a 0xFF fill byte

MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
)


# what the walkers read: a file's bytes, or the file memory-mapped (both slice to bytes, have
# ``find`` and are searched by compiled byte patterns directly)
Buffer: TypeAlias = bytes | mmap.mmap


class JpegStructureError(Exception):
    """The file cannot be read as a JPEG header; ``kind`` is 'not_jpeg', 'truncated' or 'corrupt'."""

    def __init__(self, kind: str, message: str, format: str = "jpeg") -> None:
        super().__init__(message)
        self.kind = kind
        self.format = format


@dataclass(frozen=True, slots=True)
class Segment:
    """One marker segment: the marker byte (0xE1 for APP1...), where its FF is, its payload."""

    marker: int
    offset: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class JpegHeader:
    """The segments before the first scan (SOS included) and where the scan's data begins."""

    segments: tuple[Segment, ...]
    sos_offset: int
    scan_start: int
    file_size: int
    extraneous_bytes: int


def sniff_format(head: bytes) -> str | None:
    """The real format from the first bytes (a PNG named .jpg is not a JPEG)."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "heif" if head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif") else "isobmff"
    return None


def read_header(buf: Buffer, file_size: int | None = None) -> JpegHeader:
    """Walk the segments of a JPEG from SOI to SOS; raise ``JpegStructureError`` if impossible."""
    size = len(buf) if file_size is None else file_size
    head = buf[:16]
    if len(head) < 3 or head[:2] != b"\xff\xd8":
        if head and b"\xff\xd8\xff".startswith(head):  # 1 or 2 bytes of a JPEG
            raise JpegStructureError("truncated", "file ends inside the start-of-image marker")
        what = sniff_format(head) or ("empty" if not head else "unknown")
        raise JpegStructureError("not_jpeg", f"not a JPEG (format: {what})", what)
    segments: list[Segment] = []
    pos, extraneous = 2, 0
    while True:
        ff = _find_ff(buf, pos, size)
        extraneous += ff - pos
        mpos = _skip_fill(buf, ff, size)
        marker = buf[mpos:mpos + 1][0]
        pos = mpos + 1
        if marker == 0x00 or marker in STANDALONE or marker == SOI:
            extraneous += 2  # stuffed or stray markers have no place in a header
            continue
        if marker == EOI:
            raise JpegStructureError("corrupt", "end of image before any scan (no image data)")
        length = int.from_bytes(_need(buf, pos, 2, size, "a segment length"), "big")
        if length < 2:
            raise JpegStructureError("corrupt", f"segment 0xFF{marker:02X} has invalid length {length}")
        payload = _need(buf, pos + 2, length - 2, size, f"segment 0xFF{marker:02X}")
        segments.append(Segment(marker, mpos - 1, payload))
        if len(segments) > MAX_SEGMENTS:
            raise JpegStructureError("corrupt", f"more than {MAX_SEGMENTS} header segments")
        pos += length
        if marker == SOS:
            return JpegHeader(tuple(segments), mpos - 1, pos, size, extraneous)


def _limit_error(end: int, size: int, where: str) -> JpegStructureError:
    if end > MAX_HEADER and size > MAX_HEADER:
        return JpegStructureError("corrupt", f"JPEG header larger than {MAX_HEADER // 2**20} MB")
    return JpegStructureError("truncated", f"file ends inside {where}")


def _need(buf: Buffer, start: int, count: int, size: int, what: str) -> bytes:
    """``count`` bytes at ``start``, within the file and the header limit."""
    end = start + count
    if end > MAX_HEADER or end > size:
        raise _limit_error(end, size, what)
    return buf[start:end]


def _find_ff(buf: Buffer, pos: int, size: int) -> int:
    """The next 0xFF at or after ``pos`` within the header limit."""
    hit = buf.find(b"\xff", pos, min(size, MAX_HEADER))
    if hit < 0:
        raise _no_start_of_scan(size)
    return hit


def _skip_fill(buf: Buffer, ff: int, size: int) -> int:
    """Position of the marker byte after a run of 0xFF fill bytes starting at ``ff``."""
    end = min(size, MAX_HEADER)
    found = NOT_FILL.search(buf, ff, end)
    if found is None:
        raise _no_start_of_scan(size)
    return found.start()


def _no_start_of_scan(size: int) -> JpegStructureError:
    """The header runs to the end of the file, or past the header limit, without an SOS."""
    return _limit_error(MAX_HEADER + 1 if size > MAX_HEADER else size + 1, size,
                        "the JPEG header (no start of scan)")
