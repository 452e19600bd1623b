"""The encoder signature of a JPEG: how the file was written, part by part (no decode).

After Kee, Johnson & Farid, "Digital image authentication from JPEG headers" (IEEE TIFS 2011):
camera firmware and editing software each write JPEG headers their own way, and the way survives
everything but a rewrite. A signature has eight parts, each a short readable string:

- ``markers``: the header's segment sequence (APPn with their identifiers, a JFIF before the Exif
  or not, how DQT and DHT tables are split into segments, DRI, COM);
- ``tables``: the quantization tables (``ijg:95`` when they are libjpeg's own at that quality);
- ``huffman``: ``standard`` (ITU-T T.81 Annex K, what most cameras use) or an optimised set;
- ``coding``: baseline, progressive..., sample precision, restart interval;
- ``sampling``: chroma subsampling, component sampling factors and their table assignment;
- ``exif``: byte order and the order of the IFDs in the EXIF block;
- ``thumbnail``: the EXIF thumbnail's size and tables, or none;
- ``makernote``: none, or whether its offsets still land inside it.

The signature's ``id`` joins a 6-hex digest per part, so two signatures can be compared part by
part from their ids alone (``differing_parts``), which is how the catalog stores and counts them.
``tables`` and ``sampling`` decide the pixels; the other parts are the container, which metadata
tools and lossless transcoders rewrite without touching a pixel.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import cache

from pipeline.evidence import EncoderSignature
from pipeline.jpeg_segments import JpegStructureError, Segment, read_header
from pipeline.jpeg_tables import (
    DHT,
    DQT,
    DRI,
    SOF_MARKERS,
    Frame,
    HuffmanTable,
    TableError,
    dht_ids,
    dqt_layout,
    parse_frame,
    parse_quant_tables,
)

PARTS = tuple(EncoderSignature.__dataclass_fields__)
PIXEL_PARTS = frozenset({"tables", "sampling"})
APP_NAMES = ((b"Exif\x00", "Exif"), (b"JFIF\x00", "JFIF"), (b"JFXX\x00", "JFXX"),
             (b"http://ns.adobe.com/xap/1.0/\x00", "XMP"), (b"http://ns.adobe.com/xmp/extension/", "XMPext"),
             (b"ICC_PROFILE\x00", "ICC"), (b"MPF\x00", "MPF"), (b"Photoshop 3.0\x00", "Photoshop"),
             (b"Adobe", "Adobe"), (b"Ducky", "Ducky"))
_PRINTABLE = re.compile(rb"[^A-Za-z0-9_ .-]")


def differing_parts(a: str, b: str) -> tuple[str, ...]:
    """Names of the parts in which two signature ids differ."""
    return tuple(name for name, x, y in zip(PARTS, a.split("-"), b.split("-"), strict=True) if x != y)


def marker_sequence(segments: Sequence[Segment]) -> str:
    """``APP1:Exif APP2:MPF DQT:0,1 SOF0 DHT:00,10,01,11 SOS``: the segments as an encoder wrote them."""
    tokens, dqt = [], iter(dqt_layout(segments))
    for seg in segments:
        m = seg.marker
        if 0xE0 <= m <= 0xEF:
            tokens.append(f"APP{m - 0xE0}:{app_name(seg.payload)}")
        elif m == DQT:
            tokens.append("DQT:" + ",".join(map(str, next(dqt))))
        elif m == DHT:
            tokens.append("DHT:" + ",".join(f"{b >> 4}{b & 15}" for b in dht_ids(seg.payload)))
        elif m in SOF_MARKERS:
            tokens.append(f"SOF{m - 0xC0}")
        else:
            tokens.append({DRI: "DRI", 0xFE: "COM", 0xDA: "SOS"}.get(m, f"{m:02X}"))
    return " ".join(tokens)


def app_name(payload: bytes) -> str:
    for prefix, name in APP_NAMES:
        if payload.startswith(prefix):
            return name
    return _PRINTABLE.sub(b"", payload[:12].split(b"\x00", 1)[0]).decode("ascii") or "-"


def tables_part(tables: Sequence[Sequence[int]], ijg_quality: int | None,
                frame: Frame | None = None) -> str:
    """The quantization each component gets (``ijg:95`` for libjpeg's own tables at 95).

    With a frame, the tables are taken per component through the frame's table ids, so a
    camera's duplicate third table and a re-save that writes it once quantize alike and read
    alike; what differs is how the pixels were quantized, nothing else.
    """
    if ijg_quality is not None:
        return f"ijg:{ijg_quality}"
    if frame is not None and all(c.table < len(tables) for c in frame.components):
        tables = [tables[c.table] for c in frame.components]
    return "sha:" + hashlib.sha1(repr(tuple(map(tuple, tables))).encode()).hexdigest()[:12]


def huffman_part(dhts: Sequence[Sequence[HuffmanTable]]) -> str:
    tables = [t for segment in dhts for t in segment]
    if not tables:
        return "none"
    standard = standard_huffman()
    if all((t.counts, t.symbols) in standard[t.cls] for t in tables):
        return "standard"
    blob = b"".join(bytes((t.cls, t.id)) + t.counts + t.symbols for t in tables)
    return "custom:" + hashlib.sha1(blob).hexdigest()[:8]


# T.81 Annex K.3-K.6 as (class, code-length counts, symbols), hex: DC luminance, DC chrominance,
# AC luminance, AC chrominance. Written out so the header stage needs no image library; a test
# checks them against the tables libjpeg itself writes.
_ANNEX_K = (
    (0, "00010501010101010100000000000000", "000102030405060708090a0b"),
    (0, "00030101010101010101010000000000", "000102030405060708090a0b"),
    (
        1,
        "0002010303020403050504040000017d",
        "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a"
        "25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a"
        "838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9ca"
        "d2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa",
    ),
    (
        1,
        "00020102040403040705040400010277",
        "000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f117"
        "18191a262728292a35363738393a434445464748494a535455565758595a636465666768696a737475767778"
        "797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7"
        "c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa",
    ),
)


@cache
def standard_huffman() -> dict[int, frozenset[tuple[bytes, bytes]]]:
    """The T.81 Annex K tables by class (DC 0, AC 1): what libjpeg writes when not optimising."""
    found: dict[int, set[tuple[bytes, bytes]]] = {0: set(), 1: set()}
    for cls, counts, symbols in _ANNEX_K:
        found[cls].add((bytes.fromhex(counts), bytes.fromhex(symbols)))
    return {cls: frozenset(pairs) for cls, pairs in found.items()}


def coding_part(frame: Frame, restart: int) -> str:
    return f"{frame.coding} {frame.precision}bit dri={restart}"


def sampling_part(frame: Frame) -> str:
    """Chroma subsampling and each component's sampling factors (``4:2:0 1:2x2,2:1x1,3:1x1``)."""
    comps = ",".join(f"{c.id}:{c.h}x{c.v}" for c in frame.components)
    return f"{frame.subsampling} {comps}"


def thumbnail_part(thumbnail: bytes | None) -> str:
    """``160x120:ab12cd`` (size and tables of a JPEG thumbnail), ``other`` or ``none``."""
    if thumbnail is None:
        return "none"
    try:
        segments = read_header(thumbnail).segments
        frame, tables = parse_frame(segments), parse_quant_tables(segments)
    except (JpegStructureError, TableError):
        return "other"
    return f"{frame.width}x{frame.height}:{tables_part(tables, None)[4:10]}"
