"""Facts about one file from a single pass over its header (no pixel decode).

The pass: walk the JPEG segments (bounded, see ``jpeg_segments``), let Pillow parse the
normalised header for the pixel size and quantization tables, let exifread decode the EXIF APP1,
scan the other APP segments for edit traces, estimate the quality from the tables, and read the
tail for the EOI marker. Nothing here raises on a bad file: every failure becomes a fact
(``format``, ``error``, ``corrupt``...) for the verdict to turn into reasons.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

from PIL import JpegImagePlugin

from pipeline.appsegments import edit_traces, exif_payload
from pipeline.exif import ExifError, read_exif
from pipeline.facts_codec import READER_VERSION, facts_from_json, facts_hash, facts_to_json
from pipeline.jpeg_segments import JpegHeader, JpegStructureError, read_header
from pipeline.quality import estimate_quality, tables_from_pillow
from pipeline.records import ImageFacts

# Pillow parses the EXIF block while opening (for the DPI) and warns about every malformed one:
# the EXIF is judged by ``pipeline.exif``, so on hostile files these would only be noise on stderr
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")


def read_facts(path: str | os.PathLike[str]) -> ImageFacts:
    """Everything curation needs to know about ``path``; never raises for a bad file."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            header = read_header(fh, size)
    except JpegStructureError as err:
        fmt = "jpeg" if err.kind != "not_jpeg" else err.format
        return ImageFacts(format=fmt, error=str(err), truncated=err.kind == "truncated")
    except OSError as err:
        return ImageFacts(format=None, error=f"cannot read file: {err.strerror or err}")
    return facts_from_header(header)


def facts_from_header(header: JpegHeader) -> ImageFacts:
    """Assemble facts from a walked header (split out so tests can feed crafted headers).

    Fields are gathered in one dict and the record is built once: this runs a thousand times a
    second, and rebuilding frozen dataclasses step by step cost a third of the time.
    """
    found: dict[str, Any] = {"format": "jpeg", "has_eoi": header.has_eoi, "truncated": not header.has_eoi}
    if header.extraneous_bytes:
        found["corrupt"] = f"{header.extraneous_bytes} extraneous bytes between markers"
    try:
        im = JpegImagePlugin.JpegImageFile(io.BytesIO(header.normalised))
    except Exception as exc:  # Pillow signals bad headers with several exception types
        return ImageFacts(**found, error=f"JPEG header unreadable: {exc}")
    found["width"], found["height"] = im.size
    try:
        found["quant_tables"] = tables_from_pillow(im.quantization or {})
    except ValueError as exc:  # e.g. table ids with gaps: the quality stays unknown
        found.setdefault("corrupt", f"quantization tables: {exc}")
    quality = estimate_quality(found.get("quant_tables", ()))
    found.update(quality_imagemagick=quality.imagemagick, quality=quality.corrected,
                 ijg_exact=quality.ijg_exact)
    found.update(_fields(edit_traces(header.segments)))
    payload = exif_payload(header.segments)
    if payload is not None:
        try:
            found.update(_fields(read_exif(payload)), has_exif=True)
        except ExifError as exc:
            found.setdefault("corrupt", str(exc))
    return ImageFacts(**found)


__all__ = ["READER_VERSION", "facts_from_header", "facts_from_json", "facts_hash", "facts_to_json",
           "read_facts"]


def _fields(record: Any) -> dict[str, Any]:
    """A flat dataclass as a dict, without ``asdict``'s deep copies."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}
