"""A bounded walk over a JPEG file's marker segments, up to the start of scan, plus its tail.

Curation must judge hostile files (zero bytes, truncation anywhere, megabytes of fill bytes,
garbage after SOI, absurd declared sizes) in bounded time and memory, and fast on honest ones. So
this walker reads the header in chunks, never more than ``MAX_HEADER`` bytes, skips fill bytes
with ``bytes.find`` instead of byte loops, and hands on a *normalised* header (SOI, the segments,
the SOS header) that Pillow can parse without ever seeing the hostile parts. A truncated scan is
invisible to header parsers, so the tail of the file is read too, to see whether the scan ends
with an EOI marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 64 * 1024
MAX_HEADER = 16 * 1024 * 1024
MAX_SEGMENTS = 4096
TAIL = 64 * 1024
MAX_PADDING_SCAN = 32 * 1024 * 1024
STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length
SOI, EOI, SOS = 0xD8, 0xD9, 0xDA

MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
)


class JpegStructureError(Exception):
    """The file cannot be read as a JPEG header; ``kind`` is 'not_jpeg', 'truncated' or 'corrupt'."""

    def __init__(self, kind: str, message: str, format: str = "jpeg") -> None:
        super().__init__(message)
        self.kind = kind
        self.format = format


@dataclass(frozen=True, slots=True)
class Segment:
    """One marker segment: the marker byte (0xE1 for APP1...) and its payload (after the length)."""

    marker: int
    offset: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class JpegHeader:
    """The segments before the first scan, a Pillow-parseable copy of them, and what the tail says."""

    segments: tuple[Segment, ...]
    normalised: bytes
    sos_offset: int
    file_size: int
    has_eoi: bool
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


class _Reader:
    """Growing in-memory window over the start of a file, capped at ``MAX_HEADER``."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buf = bytearray()
        self.eof = False

    def ensure(self, end: int) -> bool:
        """Make ``buf[:end]`` available; False if the file ends first."""
        if end > MAX_HEADER:
            raise JpegStructureError("corrupt", f"JPEG header larger than {MAX_HEADER // 2**20} MB")
        while len(self.buf) < end and not self.eof:
            data = self.fh.read(max(CHUNK, end - len(self.buf)))
            if not data:
                self.eof = True
            self.buf += data
        return len(self.buf) >= end

    def find_ff(self, pos: int) -> int:
        """Position of the next 0xFF at or after ``pos``, reading on as needed; -1 at EOF."""
        while True:
            hit = self.buf.find(b"\xff", pos)
            if hit >= 0:
                return hit
            pos = len(self.buf)
            if not self.ensure(pos + 1):
                return -1

    def skip_fill(self, pos: int) -> int:
        """Skip a run of 0xFF fill bytes; returns the position of the first non-FF byte."""
        while True:
            stripped = len(self.buf) - len(self.buf[pos:].lstrip(b"\xff"))
            if stripped < len(self.buf):
                return stripped
            if not self.ensure(len(self.buf) + 1):
                return len(self.buf)
            pos = stripped


def read_header(fh: BinaryIO, file_size: int) -> JpegHeader:
    """Walk the segments of a JPEG from SOI to SOS; raise ``JpegStructureError`` if impossible."""
    reader = _Reader(fh)
    if not reader.ensure(3) or reader.buf[:2] != b"\xff\xd8":
        if reader.buf and b"\xff\xd8\xff".startswith(reader.buf):  # 1 or 2 bytes of a JPEG
            raise JpegStructureError("truncated", "file ends inside the start-of-image marker")
        what = sniff_format(bytes(reader.buf[:16])) or ("empty" if not reader.buf else "unknown")
        raise JpegStructureError("not_jpeg", f"not a JPEG (format: {what})", what)
    segments: list[Segment] = []
    out = bytearray(b"\xff\xd8")
    pos, extraneous = 2, 0
    while True:
        ff = reader.find_ff(pos)
        if ff < 0:
            raise JpegStructureError("truncated", "file ends inside the JPEG header (no start of scan)")
        extraneous += ff - pos
        mpos = reader.skip_fill(ff)
        if not reader.ensure(mpos + 1):
            raise JpegStructureError("truncated", "file ends inside the JPEG header (no start of scan)")
        marker = reader.buf[mpos]
        pos = mpos + 1
        if marker == 0x00 or marker in STANDALONE or marker == SOI:
            extraneous += 2  # stuffed or stray markers have no place in a header
            continue
        if marker == EOI:
            raise JpegStructureError("corrupt", "end of image before any scan (no image data)")
        if not reader.ensure(pos + 2):
            raise JpegStructureError("truncated", "file ends inside a segment length")
        length = int.from_bytes(reader.buf[pos:pos + 2], "big")
        if length < 2:
            raise JpegStructureError("corrupt", f"segment 0xFF{marker:02X} has invalid length {length}")
        if not reader.ensure(pos + length):
            raise JpegStructureError("truncated", f"file ends inside segment 0xFF{marker:02X}")
        payload = bytes(reader.buf[pos + 2:pos + length])
        segments.append(Segment(marker, mpos - 1, payload))
        out += bytes((0xFF, marker)) + reader.buf[pos:pos + length]
        if len(segments) > MAX_SEGMENTS:
            raise JpegStructureError("corrupt", f"more than {MAX_SEGMENTS} header segments")
        if marker == SOS:
            return JpegHeader(tuple(segments), bytes(out), mpos - 1, file_size,
                              _ends_with_eoi(fh, file_size, pos + length), extraneous)
        pos += length


def _ends_with_eoi(fh: BinaryIO, file_size: int, scan_start: int) -> bool:
    """Does the scan end with EOI? Trailing 0x00/0xFF padding and short camera trailers are allowed.

    Entropy-coded data never contains FF D9 (0xFF is stuffed as FF 00), so an EOI found in the
    tail after the scan started really ends the image. Each block is read with the byte before
    it, so an EOI split across two blocks (FF | D9, after exactly 64 KB - 1 of padding) is seen.
    """
    end = file_size
    while end > scan_start:
        start = max(scan_start, end - TAIL)
        lead = 1 if start > scan_start else 0
        fh.seek(start - lead)
        block = fh.read(end - start + lead)
        if len(block) <= lead:
            return False
        if block[lead:].rstrip(b"\x00\xff"):
            return b"\xff\xd9" in block
        if file_size - start > MAX_PADDING_SCAN:
            return False
        end = start
    return False
