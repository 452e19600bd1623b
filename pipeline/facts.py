"""Facts about one file from a single pass over its bytes (no pixel decode).

The pass: memory-map the file, walk the JPEG segments (bounded, ``jpeg_segments``), parse the
frame, quantization and Huffman tables (``jpeg_tables``), decode the EXIF APP1 (``exif``), scan
the other APP segments for edit traces, estimate the quality from the tables, follow the scan to
the main image's end (``scan``) and describe how the encoder wrote it all (``signature``).
Nothing here raises on a bad file: every failure becomes a fact (``format``, ``error``,
``corrupt``...) for the verdict to turn into reasons.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

from pipeline.appsegments import edit_traces, exif_segment
from pipeline.evidence import EncoderSignature
from pipeline.exif import EXIF_PREFIX, ExifError, ExifLayout, read_exif
from pipeline.facts_codec import READER_VERSION, facts_from_json, facts_hash, facts_to_json
from pipeline.fileio import open_regular
from pipeline.jpeg_segments import Buffer, JpegHeader, JpegStructureError, read_header
from pipeline.jpeg_tables import (
    Frame,
    TableError,
    parse_frame,
    parse_huffman_tables,
    parse_quant_tables,
    restart_interval,
)
from pipeline.quality import estimate_quality
from pipeline.records import ImageFacts
from pipeline.scan import walk_scan
from pipeline.signature import (
    coding_part,
    huffman_part,
    marker_sequence,
    sampling_part,
    tables_part,
    thumbnail_part,
)


def read_facts(path: str | os.PathLike[str]) -> ImageFacts:
    """Everything curation needs to know about ``path``; never raises for a bad file."""
    try:
        with open_regular(path) as fh:  # a FIFO would block open(): refused with its kind
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return facts_from_bytes(b"")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return facts_from_bytes(mapped)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or err
        return ImageFacts(format=None, error=f"cannot read file: {reason}")


def facts_from_bytes(buf: Buffer) -> ImageFacts:
    """Facts of a file's bytes (``bytes`` or a memory map)."""
    try:
        header = read_header(buf)
    except JpegStructureError as err:
        fmt = "jpeg" if err.kind != "not_jpeg" else err.format
        return ImageFacts(format=fmt, error=str(err), truncated=err.kind == "truncated")
    return facts_from_header(buf, header)


def facts_from_header(buf: Buffer, header: JpegHeader) -> ImageFacts:
    """Assemble facts from a walked header and the bytes after it.

    Fields are gathered in one dict and the record is built once: this runs a thousand times a
    second, and rebuilding frozen dataclasses step by step cost a third of the time.
    """
    found: dict[str, Any] = {"format": "jpeg"}
    if header.extraneous_bytes:
        found["corrupt"] = f"{header.extraneous_bytes} extraneous bytes between markers"
    segments = header.segments
    try:
        frame = parse_frame(segments)
    except TableError as exc:
        return ImageFacts(**found, error=f"JPEG header unreadable: {exc}")
    restart = restart_interval(segments)
    found.update(width=frame.width, height=frame.height, coding=frame.coding,
                 subsampling=frame.subsampling, restart_interval=restart)
    _scan_facts(buf, header, frame, restart, found)
    tables_text, huffman_text = _table_facts(segments, frame, found)
    found.update(_fields(edit_traces(segments)))
    layout, thumbnail = _exif_facts(buf, segments, found)
    found["signature"] = EncoderSignature(
        markers=marker_sequence(segments), tables=tables_text, huffman=huffman_text,
        coding=coding_part(frame, restart), sampling=sampling_part(frame),
        exif=layout.structure if layout else "none", thumbnail=thumbnail_part(thumbnail),
        makernote=layout.makernote if layout else "none")
    return ImageFacts(**found)


def _scan_facts(buf: Buffer, header: JpegHeader, frame: Frame, restart: int, found: dict[str, Any]) -> None:
    expected = max(0, -(-frame.mcus() // restart) - 1) if restart else None
    scan = walk_scan(buf, header, expected)
    pixels = frame.width * frame.height
    found.update(has_eoi=scan.has_eoi, truncated=not scan.has_eoi, scan_bytes=scan.scan_bytes,
                 scan_bpp=round(8 * scan.scan_bytes / pixels, 4) if pixels else None,
                 scan_byte_variety=scan.byte_variety, scan_bad_markers=scan.bad_markers,
                 scans=scan.scans, trailer_bytes=scan.trailer_bytes if scan.has_eoi else None)
    if expected is not None and scan.scans == 1 and scan.has_eoi:
        found.update(restart_markers=scan.restart_markers, restart_checked=scan.restart_checked,
                     restart_out_of_order=scan.restart_out_of_order, restart_expected=expected)


def _table_facts(segments: Any, frame: Frame, found: dict[str, Any]) -> tuple[str, str]:
    """Quantization tables and quality estimates; the signature's tables and Huffman parts."""
    try:
        tables = parse_quant_tables(segments)
    except TableError as exc:  # e.g. table ids with gaps: the quality stays unknown
        found.setdefault("corrupt", f"quantization tables: {exc}")
        tables = ()
    quality = estimate_quality(tables)
    found.update(quant_tables=tables, quality_imagemagick=quality.imagemagick, quality=quality.corrected,
                 ijg_exact=quality.ijg_exact)
    try:
        huffman = huffman_part(parse_huffman_tables(segments))
    except TableError as exc:
        found.setdefault("corrupt", f"Huffman tables: {exc}")
        huffman = "malformed"
    return tables_part(tables, quality.ijg_quality, frame), huffman


def _exif_facts(buf: Buffer, segments: Any, found: dict[str, Any]) -> tuple[ExifLayout | None, bytes | None]:
    """EXIF values and layout; the thumbnail's bytes when the layout locates one in the block."""
    segment = exif_segment(segments)
    if segment is None:
        return None, None
    try:
        fields, layout = read_exif(segment.payload)
    except ExifError as exc:
        found.setdefault("corrupt", str(exc))
        return None, None
    found.update(_fields(fields), has_exif=True)
    if layout.thumbnail_offset is None or not layout.thumbnail_length:
        return layout, None
    start = len(EXIF_PREFIX) + layout.thumbnail_offset
    thumbnail = segment.payload[start:start + layout.thumbnail_length]
    if len(thumbnail) != layout.thumbnail_length or not thumbnail.startswith(b"\xff\xd8"):
        return layout, thumbnail or None
    found.update(thumbnail_offset=segment.offset + 4 + start, thumbnail_length=len(thumbnail))
    return layout, thumbnail


__all__ = ["READER_VERSION", "facts_from_bytes", "facts_from_header", "facts_from_json", "facts_hash",
           "facts_to_json", "read_facts"]


def _fields(record: Any) -> dict[str, Any]:
    """A flat dataclass as a dict, without ``asdict``'s deep copies."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
