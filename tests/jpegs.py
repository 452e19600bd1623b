"""Synthetic JPEGs for tests: real Pillow-encoded files, extra APP segments, and damage.

Nothing here is copied from ``../shared``: every file is made on the fly. ``make_jpeg`` encodes a
small noise image (or a flat grey one, which encodes fast even at a camera's native size) with
Pillow at a given quality and EXIF (built with ``PIL.Image.Exif``). The other helpers splice
segments in (XMP, Photoshop APP13, Adobe APP14, a raw EXIF block), locate segments, and damage
files (truncate, pad, fill bytes, garbage, a patched SOF size). ``build_tiff`` writes a TIFF/EXIF
block by hand, so hostile IFD structures (loops, absurd counts) can be made exactly.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
APP1, APP13, APP14 = 0xE1, 0xED, 0xEE
DQT, DHT, SOF0, SOS = 0xDB, 0xC4, 0xC0, 0xDA
TAG_MAKE, TAG_MODEL, TAG_SOFTWARE, TAG_ORIENTATION = 0x010F, 0x0110, 0x0131, 0x0112
TAG_EXIF_IFD, TAG_GPS_IFD = 0x8769, 0x8825
TAG_DATETIME_ORIGINAL, TAG_MAKERNOTE = 0x9003, 0x927C
TAG_EXIF_WIDTH, TAG_EXIF_HEIGHT = 0xA002, 0xA003
IPHONE6_SIZE = (3264, 2448)

_SAME = object()  # ``exif_size`` default: the real pixel size


def make_jpeg(
    size: tuple[int, int] = (64, 48),
    *,
    quality: int = 96,
    make: str | None = "Apple",
    model: str | None = "iPhone 6",
    software: str | None = "8.3",
    orientation: int | None = 1,
    datetime_original: str | None = "2015:06:01 12:00:00",
    exif_size: object = _SAME,
    makernote: bytes | None = None,
    exif: bool = True,
    content: str = "noise",
    seed: int = 0,
) -> bytes:
    """A real JPEG written by Pillow (libjpeg) with the given EXIF; ``exif=False`` writes none.

    ``exif_size`` is the (width, height) recorded in the EXIF IFD (default: the real size; None
    leaves it out). ``content`` is "noise" (uniform random pixels), "camera" (a smooth scene with
    sensor-like noise, what a camera original's scan has to carry; quick at native sizes) or
    "flat" (one grey: a scan with nothing in it).
    """
    image = _image(size, content, seed)
    options: dict[str, object] = {"quality": quality}
    if exif:
        options["exif"] = exif_block(
            make=make, model=model, software=software, orientation=orientation,
            datetime_original=datetime_original,
            exif_size=size if exif_size is _SAME else exif_size,  # type: ignore[arg-type]
            makernote=makernote,
        )
    out = io.BytesIO()
    image.save(out, format="JPEG", **options)
    return out.getvalue()


@cache
def native_iphone6(quality: int = 96) -> bytes:
    """An untouched-looking iPhone 6 original: 3264x2448, iOS Software, IJG tables (cached)."""
    return make_jpeg(IPHONE6_SIZE, quality=quality, content="camera")


def _image(size: tuple[int, int], content: str, seed: int) -> Image.Image:
    if content == "flat":
        return Image.new("RGB", size, (128, 128, 128))
    if content == "camera":
        return Image.fromarray(camera_pixels(size, seed), "RGB")
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


@cache
def camera_pixels(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Smooth colour gradients and blobs plus noise of about 2 grey levels (cached per size)."""
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = rng.integers(40, 216, (max(2, height // 64), max(2, width // 64), 3), dtype=np.uint8)
    scene = np.asarray(Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BILINEAR), np.int16)
    noise = rng.integers(-3, 4, (height, width, 1), dtype=np.int16)
    return np.clip(scene + noise, 0, 255).astype(np.uint8)


def exif_block(
    *,
    make: str | None = "Apple",
    model: str | None = "iPhone 6",
    software: str | None = "8.3",
    orientation: int | None = 1,
    datetime_original: str | None = "2015:06:01 12:00:00",
    exif_size: tuple[int, int] | None = None,
    makernote: bytes | None = None,
) -> bytes:
    """EXIF bytes (``Exif\\0\\0`` + TIFF) as Pillow writes them, for ``Image.save(exif=...)``."""
    exif = Image.Exif()
    for tag, value in ((TAG_MAKE, make), (TAG_MODEL, model), (TAG_SOFTWARE, software),
                       (TAG_ORIENTATION, orientation)):
        if value is not None:
            exif[tag] = value
    sub = exif.get_ifd(TAG_EXIF_IFD)
    if datetime_original is not None:
        sub[TAG_DATETIME_ORIGINAL] = datetime_original
    if exif_size is not None:
        sub[TAG_EXIF_WIDTH], sub[TAG_EXIF_HEIGHT] = exif_size
    if makernote is not None:
        sub[TAG_MAKERNOTE] = makernote
    return exif.tobytes()


# ---- segments --------------------------------------------------------------------------------


def segment(marker: int, payload: bytes) -> bytes:
    """One marker segment: FF, marker, big-endian length (payload + 2), payload."""
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("segment payload too long")
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def xmp_app1(
    creator_tool: str | None = None,
    history_agents: Sequence[str] = (),
    camera_raw: bool = False,
    *,
    element_form: bool = False,
    namespaces_only: bool = False,
) -> bytes:
    """An XMP APP1 segment with CreatorTool, xmpMM:History software agents and crs: settings.

    ``element_form`` writes CreatorTool as an element instead of an attribute;
    ``namespaces_only`` declares the crs/xmpMM namespaces without using them (not evidence).
    """
    attrs = ['xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
             'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"',
             'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"',
             'xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"']
    body = []
    if creator_tool is not None and not element_form:
        attrs.append(f'xmp:CreatorTool="{creator_tool}"')
    if camera_raw and not namespaces_only:
        attrs += ['crs:Version="9.0"', 'crs:Exposure2012="+0.35"']
    if creator_tool is not None and element_form:
        body.append(f"<xmp:CreatorTool>{creator_tool}</xmp:CreatorTool>")
    if history_agents and not namespaces_only:
        items = "".join(f'<rdf:li stEvt:action="saved" stEvt:softwareAgent="{agent}"/>'
                        for agent in history_agents)
        body.append(f"<xmpMM:History><rdf:Seq>{items}</rdf:Seq></xmpMM:History>")
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {" ".join(attrs)}>{"".join(body)}</rdf:Description>'
        "</rdf:RDF></x:xmpmeta>" + " " * 200 + '<?xpacket end="w"?>'
    )
    return segment(APP1, b"http://ns.adobe.com/xap/1.0/\x00" + packet.encode("utf-8"))


def irb_resource(resource_id: int, data: bytes, name: bytes = b"") -> bytes:
    """One 8BIM image resource: signature, id, padded Pascal name, size, padded data."""
    pascal = bytes((len(name),)) + name
    if len(pascal) % 2:
        pascal += b"\x00"
    return b"8BIM" + struct.pack(">H", resource_id) + pascal + struct.pack(">I", len(data)) + data + (
        b"\x00" if len(data) % 2 else b"")


IPTC_RECORD = b"\x1c\x02\x00\x00\x02\x00\x04" + b"\x1c\x02\x78\x00\x07caption"  # IPTC-NAA 2:00, 2:120
IPTC_ONLY = (irb_resource(0x0404, IPTC_RECORD), irb_resource(0x0425, b"\x00" * 16))
PHOTOSHOP_RESOURCES = (irb_resource(0x03ED, b"\x00\x48\x00\x00\x00\x01\x00\x01" * 2),  # resolution
                       irb_resource(0x0404, IPTC_RECORD),
                       irb_resource(0x040C, b"\x00" * 28))  # thumbnail


def photoshop_app13(resources: Iterable[bytes] = IPTC_ONLY) -> bytes:
    """A ``Photoshop 3.0`` APP13 segment holding the given 8BIM resources."""
    return segment(APP13, b"Photoshop 3.0\x00" + b"".join(resources))


def adobe_app14(transform: int = 1) -> bytes:
    """The ``Adobe`` APP14 segment Photoshop writes (DCTEncodeVersion 100, colour transform)."""
    return segment(APP14, b"Adobe" + struct.pack(">HHHB", 100, 0, 0, transform))


@dataclass(frozen=True, slots=True)
class Seg:
    """A segment found by ``segments``: marker, offset of its FF, total length with marker."""

    marker: int
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


def segments(data: bytes) -> list[Seg]:
    """The header segments of a well-formed JPEG (no fill bytes), up to and including SOS.

    A deliberately plain parser, independent of ``pipeline.jpeg_segments``, to find offsets in
    files the tests build.
    """
    assert data[:2] == SOI, "not a JPEG"
    found, pos = [], 2
    while pos + 4 <= len(data):
        assert data[pos] == 0xFF, f"no marker at {pos}"
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        found.append(Seg(marker, pos, 2 + length))
        if marker == SOS:
            break
        pos += 2 + length
    return found


def find(data: bytes, marker: int, nth: int = 0) -> Seg:
    """The ``nth`` segment with ``marker``."""
    return [s for s in segments(data) if s.marker == marker][nth]


def splice(data: bytes, *extra: bytes, after_soi: bool = False) -> bytes:
    """Insert segments after the leading APPn run (where writers put them) or right after SOI."""
    at = 2
    if not after_soi:
        for seg in segments(data):
            if not 0xE0 <= seg.marker <= 0xEF:
                break
            at = seg.end
    return data[:at] + b"".join(extra) + data[at:]


def remove(data: bytes, marker: int) -> bytes:
    """Drop every header segment with ``marker``."""
    for seg in reversed(segments(data)):
        if seg.marker == marker:
            data = data[:seg.offset] + data[seg.end:]
    return data


def with_exif_tiff(data: bytes, tiff: bytes) -> bytes:
    """Replace the file's EXIF APP1 (if any) by ``Exif\\0\\0`` + ``tiff``, right after SOI."""
    return splice(remove(data, APP1), segment(APP1, b"Exif\x00\x00" + tiff), after_soi=True)


def with_sof_size(data: bytes, width: int, height: int) -> bytes:
    """Patch the declared size in the SOF0 segment (nothing is re-encoded)."""
    sof = find(data, SOF0)
    patched = bytearray(data)
    patched[sof.offset + 5:sof.offset + 9] = struct.pack(">HH", height, width)
    return bytes(patched)


def insert_at(data: bytes, offset: int, blob: bytes) -> bytes:
    return data[:offset] + blob + data[offset:]


def truncate(data: bytes, length: int) -> bytes:
    return data[:length]


def pad(data: bytes, count: int, byte: int = 0) -> bytes:
    """``count`` bytes of ``byte`` after the end of the file (after EOI)."""
    return data + bytes((byte,)) * count


def fill_before(data: bytes, marker: int, count: int) -> bytes:
    """``count`` 0xFF fill bytes before the first segment with ``marker`` (legal per T.81 B.1.1.2).

    Once only: ``segments`` (used to find the marker) does not skip fill bytes already there.
    """
    return insert_at(data, find(data, marker).offset, b"\xff" * count)


def garbage_after_soi(data: bytes, blob: bytes = b"GARBAGE!" * 8) -> bytes:
    return insert_at(data, 2, blob)


# ---- hand-made TIFF/EXIF blocks ----------------------------------------------------------------

TYPE_BYTE, TYPE_ASCII, TYPE_SHORT, TYPE_LONG, TYPE_UNDEFINED = 1, 2, 3, 4, 7
_TYPE_SIZE = {TYPE_BYTE: 1, TYPE_ASCII: 1, TYPE_SHORT: 2, TYPE_LONG: 4, TYPE_UNDEFINED: 1}


@dataclass(frozen=True, slots=True)
class Entry:
    """One IFD entry. ``value`` is the raw value bytes (byte order already applied) or None;
    ``count`` defaults to what ``value`` holds; ``raw_field`` forces the 4-byte value/offset field."""

    tag: int
    type: int
    value: bytes | None = None
    count: int | None = None
    raw_field: int | None = None


@dataclass(frozen=True, slots=True)
class Tiff:
    data: bytes
    ifd0: int
    exif_ifd: int | None
    order: str

    def entry_offset(self, ifd: int, index: int) -> int:
        return ifd + 2 + 12 * index

    def patched(self, offset: int, value: int, size: int) -> Tiff:
        """A copy with ``size`` bytes at ``offset`` replaced by ``value`` in the block's byte order."""
        data = bytearray(self.data)
        data[offset:offset + size] = value.to_bytes(size, self.order)  # type: ignore[arg-type]
        return Tiff(bytes(data), self.ifd0, self.exif_ifd, self.order)


def ascii_entry(tag: int, text: str) -> Entry:
    return Entry(tag, TYPE_ASCII, text.encode("latin-1") + b"\x00")


def short_entry(tag: int, value: int, order: str = "little") -> Entry:
    return Entry(tag, TYPE_SHORT, value.to_bytes(2, order))  # type: ignore[arg-type]


def long_entry(tag: int, value: int, order: str = "little") -> Entry:
    return Entry(tag, TYPE_LONG, value.to_bytes(4, order))  # type: ignore[arg-type]


def camera_ifd0(make: str = "Apple", model: str = "iPhone 6", software: str = "8.3") -> list[Entry]:
    return [ascii_entry(TAG_MAKE, make), ascii_entry(TAG_MODEL, model), short_entry(TAG_ORIENTATION, 1),
            ascii_entry(TAG_SOFTWARE, software)]


def build_tiff(
    ifd0: Sequence[Entry],
    exif: Sequence[Entry] | None = None,
    *,
    big_endian: bool = False,
    ifd0_next: int = 0,
    tail: bytes = b"",
) -> Tiff:
    """A TIFF block: header, IFD0 (with an EXIF IFD pointer when ``exif`` is given), the EXIF
    IFD, then the out-of-line values, then ``tail``. Entries are written in the order given."""
    order = "big" if big_endian else "little"
    if exif is not None:
        ifd0 = [*ifd0, Entry(TAG_EXIF_IFD, TYPE_LONG, None, 1)]
    exif_at = 8 + 6 + 12 * len(ifd0)
    data_at = exif_at + (6 + 12 * len(exif) if exif is not None else 0)
    blobs = bytearray()

    def ifd(entries: Sequence[Entry], next_ifd: int) -> bytes:
        out = bytearray(len(entries).to_bytes(2, order))  # type: ignore[arg-type]
        for e in entries:
            value = e.value or b""
            count = e.count if e.count is not None else len(value) // _TYPE_SIZE.get(e.type, 1)
            if e.raw_field is not None:
                field = e.raw_field.to_bytes(4, order)  # type: ignore[arg-type]
            elif e.tag == TAG_EXIF_IFD and e.value is None:
                field = exif_at.to_bytes(4, order)  # type: ignore[arg-type]
            elif len(value) <= 4:
                field = value.ljust(4, b"\x00")
            else:
                field = (data_at + len(blobs)).to_bytes(4, order)  # type: ignore[arg-type]
                blobs.extend(value + b"\x00" * (len(value) % 2))
            out += e.tag.to_bytes(2, order) + e.type.to_bytes(2, order)  # type: ignore[arg-type]
            out += count.to_bytes(4, order) + field  # type: ignore[arg-type]
        return bytes(out + next_ifd.to_bytes(4, order))  # type: ignore[arg-type]

    head = (b"MM\x00*" if big_endian else b"II*\x00") + (8).to_bytes(4, order)  # type: ignore[arg-type]
    body = ifd(ifd0, ifd0_next) + (ifd(exif, 0) if exif is not None else b"")
    data = head + body + bytes(blobs) + tail
    return Tiff(data, 8, exif_at if exif is not None else None, order)
