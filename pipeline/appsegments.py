"""What the APPn segments say about editing: XMP, Photoshop resources (APP13), Adobe (APP14).

XMP is read with regular expressions rather than an XML parser: packets in the wild are often
malformed (ImageMagick itself chokes on some), and curation only needs a few properties. Only
real properties count as evidence: a namespace declaration alone (``xmlns:crs=...``) is not a
Camera Raw setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.jpeg_segments import Segment

APP1, APP13, APP14 = 0xE1, 0xED, 0xEE
XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_PREFIX = b"http://ns.adobe.com/xmp/extension/\x00"
PHOTOSHOP_PREFIX = b"Photoshop 3.0\x00"
IPTC_RESOURCES = frozenset({0x0404, 0x0425})  # IPTC-NAA record and its digest

# prefixes are the writer's choice (Photoshop CS2 writes xap: for xmp:), so any prefix matches
# patterns start with a literal so the scan is fast; `xmlns:crs=` alone never matches `crs:X`
_CREATOR = re.compile(rb":CreatorTool(?:\s*=\s*[\"']([^\"']*)[\"']|>([^<]*)<)")
_AGENT = re.compile(rb":softwareAgent(?:\s*=\s*[\"']([^\"']*)[\"']|>([^<]*)<)")
_CRS = re.compile(rb"crs:[A-Za-z]")


@dataclass(frozen=True, slots=True)
class EditTraces:
    """Evidence of editing software found in the APP segments."""

    xmp_creator_tool: str | None = None
    xmp_history_agents: tuple[str, ...] = ()
    has_camera_raw: bool = False
    has_photoshop_irb: bool = False
    photoshop_iptc_only: bool = False
    has_adobe_app14: bool = False


def exif_segment(segments: Iterable[Segment]) -> Segment | None:
    """The first ``Exif\\0\\0`` APP1 segment (the one readers use), if any."""
    return next((s for s in segments if s.marker == APP1 and s.payload.startswith(b"Exif\x00\x00")), None)


def edit_traces(segments: Iterable[Segment]) -> EditTraces:
    segments = tuple(segments)
    xmp = b"".join(s.payload for s in segments if s.marker == APP1
                   and s.payload.startswith((XMP_PREFIX, XMP_EXT_PREFIX)))
    resources = [rid for s in segments if s.marker == APP13 and s.payload.startswith(PHOTOSHOP_PREFIX)
                 for rid in photoshop_resource_ids(s.payload[len(PHOTOSHOP_PREFIX):])]
    has_irb = any(s.marker == APP13 and s.payload.startswith(PHOTOSHOP_PREFIX) for s in segments)
    return EditTraces(
        xmp_creator_tool=_first(_CREATOR, xmp),
        xmp_history_agents=tuple(dict.fromkeys(_all(_AGENT, xmp))),
        has_camera_raw=_CRS.search(xmp) is not None,
        has_photoshop_irb=has_irb,
        photoshop_iptc_only=has_irb and set(resources) <= IPTC_RESOURCES,
        has_adobe_app14=any(s.marker == APP14 and s.payload.startswith(b"Adobe") for s in segments),
    )


def photoshop_resource_ids(data: bytes) -> list[int]:
    """Resource ids of an image resource block (8BIM records); stops at the first malformed one."""
    ids, pos = [], 0
    while pos + 12 <= len(data) and data[pos:pos + 4] in (b"8BIM", b"PHUT", b"DCSR", b"AgHg"):
        rid = int.from_bytes(data[pos + 4:pos + 6], "big")
        name_len = data[pos + 6]
        name_end = pos + 6 + ((name_len + 2) & ~1)  # Pascal string padded to even length
        if name_end + 4 > len(data):
            break
        size = int.from_bytes(data[name_end:name_end + 4], "big")
        ids.append(rid)
        pos = name_end + 4 + size + (size & 1)
    return ids


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip()


def _first(pattern: re.Pattern[bytes], data: bytes) -> str | None:
    found = _all(pattern, data)
    return found[0] if found else None


def _all(pattern: re.Pattern[bytes], data: bytes) -> list[str]:
    values = (_decode(a or b) for a, b in pattern.findall(data))
    return [v for v in values if v]
