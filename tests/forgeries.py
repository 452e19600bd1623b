"""Altered copies of camera originals: every kind of damage and edit curation must catch.

Made the way a user's tools make them, with Pillow (libjpeg), the EXIF block carried over
byte for byte: scan damage (no scan, a scan cut to 10%, zeroed, random bytes), a re-compression
with libjpeg's own tables, chroma subsampling changed, and pixel edits saved with the camera's
*own* quantization tables (a 0.5x-then-2x bicubic resample back to the native size, a copy-moved
patch, a patch spliced in from another photo, a blurred region). The ``transplant_*`` kinds go one
step further, as a careful forger would: the edited pixels are entropy-coded with the camera's
tables and then put behind the original file's own header bytes (APPn, DQT, DHT, SOF, DRI), so
the header is exactly the camera's and only the pixels can tell. Benign kinds (a re-save with the
camera's tables, a metadata-only edit) keep the camera's pixels and must stay accepted.

Nothing here is copied from ``../shared``: the copies are made on the fly from files read there.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, JpegImagePlugin

SOS, EOI, DHT, DRI, APP1 = 0xDA, b"\xff\xd9", 0xC4, 0xDD, 0xE1
SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


@dataclass(frozen=True)
class Original:
    """A camera original and what re-saving it the camera's way needs."""

    name: str
    data: bytes
    pixels: np.ndarray  # RGB uint8, as libjpeg decodes it
    qtables: tuple[tuple[int, ...], ...]
    subsampling: int  # Pillow's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0, -1 = other
    exif: bytes | None  # the APP1 payload, ``Exif\0\0`` included
    restart: int  # restart interval in MCUs (0: none)
    header_end: int  # offset of the SOS marker
    scan_start: int  # first byte of entropy-coded data
    scan_end: int  # offset of the main image's EOI


def load_original(path: str | Path, name: str | None = None) -> Original:
    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        assert isinstance(im, JpegImagePlugin.JpegImageFile)
        qtables = tuple(tuple(im.quantization[i]) for i in sorted(im.quantization))
        sampling = JpegImagePlugin.get_sampling(im)
        exif = im.info.get("exif")
        pixels = np.asarray(im.convert("RGB"))
    sos, scan_start, restart = _layout(data)
    return Original(name or Path(path).name, data, pixels, qtables, sampling, exif, restart, sos,
                    scan_start, data.index(EOI, scan_start))


def _layout(data: bytes) -> tuple[int, int, int]:
    """Offsets of SOS and of the scan data, and the restart interval (a plain segment walk)."""
    pos, restart = 2, 0
    while True:
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == DRI:
            restart = struct.unpack(">H", data[pos + 4:pos + 6])[0]
        if marker == SOS:
            return pos, pos + 2 + length, restart
        pos += 2 + length


def camera_save(orig: Original, pixels: np.ndarray, *, subsampling: int | None = None,
                quality: int | None = None) -> bytes:
    """Save pixels as the forger would: the camera's tables, subsampling, restart interval and EXIF."""
    options: dict[str, object] = {"optimize": False}
    if quality is None:
        options["qtables"] = [list(t) for t in orig.qtables]
    else:
        options["quality"] = quality
    chosen = orig.subsampling if subsampling is None else subsampling
    if chosen >= 0:
        options["subsampling"] = chosen
    if orig.exif:
        options["exif"] = orig.exif
    if orig.restart:
        options["restart_marker_blocks"] = orig.restart
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "JPEG", **options)
    return out.getvalue()


def transplant(orig: Original, pixels: np.ndarray) -> bytes | None:
    """The edited pixels coded with the camera's tables, behind the original's own header bytes.

    Only possible where the camera's Huffman tables are the standard ones libjpeg codes with
    (most cameras; not GIMP or Photoshop): otherwise the new scan could not be decoded with the
    old header, and None is returned.
    """
    fresh = camera_save(orig, pixels)
    if _dht_tables(fresh) != _dht_tables(orig.data):
        return None
    _, fresh_scan, _ = _layout(fresh)
    return orig.data[:orig.scan_start] + fresh[fresh_scan:]


def _dht_tables(data: bytes) -> dict[int, bytes]:
    pos, tables = 2, {}
    while True:
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        body = data[pos + 4:pos + 2 + length]
        if marker == DHT:
            i = 0
            while i < len(body):
                count = sum(body[i + 1:i + 17])
                tables[body[i]] = bytes(body[i + 1:i + 17 + count])
                i += 17 + count
        if marker == SOS:
            return tables
        pos += 2 + length


# ---- pixel edits ----------------------------------------------------------------------------


def patch_size(orig: Original) -> int:
    """256 pixels, or half the short side of a small image."""
    h, w = orig.pixels.shape[:2]
    return min(256, min(h, w) // 2)


def _spot(orig: Original, rng: np.random.Generator, size: int) -> tuple[int, int]:
    h, w = orig.pixels.shape[:2]
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def resampled(orig: Original, rng: np.random.Generator) -> np.ndarray:
    h, w = orig.pixels.shape[:2]
    small = Image.fromarray(orig.pixels).resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BICUBIC)
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))


def copy_moved(orig: Original, rng: np.random.Generator) -> np.ndarray:
    """A patch of the same photo pasted elsewhere, off the 8-pixel grid."""
    size = patch_size(orig)
    out = orig.pixels.copy()
    (sy, sx), (dy, dx) = _spot(orig, rng, size), _spot(orig, rng, size)
    if (sy - dy) % 8 == 0 and (sx - dx) % 8 == 0:
        dx = dx + 3 if dx + 3 + size <= out.shape[1] else dx - 3
    out[dy:dy + size, dx:dx + size] = orig.pixels[sy:sy + size, sx:sx + size]
    return out


def spliced(orig: Original, rng: np.random.Generator, donor: np.ndarray) -> np.ndarray:
    """A patch of another photo (another camera) pasted in."""
    size = patch_size(orig)
    out = orig.pixels.copy()
    dy, dx = _spot(orig, rng, size)
    scale = max(1.0, size / min(donor.shape[:2]))
    if scale > 1.0:
        donor = np.asarray(Image.fromarray(donor).resize(
            (int(donor.shape[1] * scale) + 1, int(donor.shape[0] * scale) + 1)))
    sy = int(rng.integers(0, donor.shape[0] - size + 1))
    sx = int(rng.integers(0, donor.shape[1] - size + 1))
    out[dy:dy + size, dx:dx + size] = donor[sy:sy + size, sx:sx + size]
    return out


def blurred(orig: Original, rng: np.random.Generator) -> np.ndarray:
    """A region smoothed the way a retoucher hides something (Gaussian, radius 2)."""
    size = patch_size(orig)
    out = orig.pixels.copy()
    dy, dx = _spot(orig, rng, size)
    region = Image.fromarray(out[dy:dy + size, dx:dx + size]).filter(ImageFilter.GaussianBlur(2))
    out[dy:dy + size, dx:dx + size] = np.asarray(region)
    return out


# ---- scan damage and metadata edits (bytes, no re-encoding) -----------------------------------


def no_scan(orig: Original) -> bytes:
    return orig.data[:orig.scan_start] + EOI


def cut_scan(orig: Original) -> bytes:
    keep = (orig.scan_end - orig.scan_start) // 10
    scan = orig.data[orig.scan_start:orig.scan_start + keep]
    if scan.endswith(b"\xff"):
        scan = scan[:-1]
    return orig.data[:orig.scan_start] + scan + EOI


def zero_scan(orig: Original) -> bytes:
    return orig.data[:orig.scan_start] + bytes(orig.scan_end - orig.scan_start) + orig.data[orig.scan_end:]


def random_scan(orig: Original, rng: np.random.Generator) -> bytes:
    noise = rng.integers(0, 256, orig.scan_end - orig.scan_start, dtype=np.uint8).tobytes()
    return orig.data[:orig.scan_start] + noise + orig.data[orig.scan_end:]


def metadata_edit(orig: Original) -> bytes | None:
    """An EXIF date rewritten in place (same length, the year set to 2001): the scan is untouched."""
    found = _DATETIME.search(orig.data, 0, orig.header_end)
    if orig.exif is None or found is None:
        return None
    return orig.data[:found.start()] + b"2001" + orig.data[found.start() + 4:]


_DATETIME = re.compile(rb"(?:19|20)\d\d:\d\d:\d\d \d\d:\d\d:\d\d")


# ---- the kinds, table-driven --------------------------------------------------------------------

Maker = Callable[[Original, np.random.Generator, np.ndarray], "bytes | None"]


@dataclass(frozen=True)
class Kind:
    """One kind of copy: how it is made and whether its pixels are still the camera's own."""

    name: str
    make: Maker
    camera_pixels: bool  # True: benign (must stay accepted); False: must be rejected


def _other_subsampling(orig: Original) -> int:
    return 0 if orig.subsampling != 0 else 2


def recompressed(orig: Original) -> bytes | None:
    """A re-save at libjpeg's quality-95 tables; None when those are the camera's own tables
    (the copy would then be a re-save with the camera's settings, not a recompression)."""
    from pipeline.quality import IJG_CHROMINANCE, IJG_LUMINANCE, scale_ijg_table

    ijg = (scale_ijg_table(IJG_LUMINANCE, 95), scale_ijg_table(IJG_CHROMINANCE, 95))
    if orig.qtables[0] == ijg[0] and all(t == ijg[1] for t in orig.qtables[1:]):
        return None
    return camera_save(orig, orig.pixels, quality=95)


KINDS: tuple[Kind, ...] = (
    Kind("no_scan", lambda o, r, d: no_scan(o), False),
    Kind("cut_scan", lambda o, r, d: cut_scan(o), False),
    Kind("zero_scan", lambda o, r, d: zero_scan(o), False),
    Kind("random_scan", lambda o, r, d: random_scan(o, r), False),
    Kind("recompress_q95", lambda o, r, d: recompressed(o), False),
    Kind("subsampling", lambda o, r, d: camera_save(o, o.pixels, subsampling=_other_subsampling(o)), False),
    Kind("resample", lambda o, r, d: camera_save(o, resampled(o, r)), False),
    Kind("copy_move", lambda o, r, d: camera_save(o, copy_moved(o, r)), False),
    Kind("splice", lambda o, r, d: camera_save(o, spliced(o, r, d)), False),
    Kind("blur", lambda o, r, d: camera_save(o, blurred(o, r)), False),
    Kind("transplant_resample", lambda o, r, d: transplant(o, resampled(o, r)), False),
    Kind("transplant_copy_move", lambda o, r, d: transplant(o, copy_moved(o, r)), False),
    Kind("transplant_splice", lambda o, r, d: transplant(o, spliced(o, r, d)), False),
    Kind("transplant_blur", lambda o, r, d: transplant(o, blurred(o, r)), False),
    Kind("resave", lambda o, r, d: camera_save(o, o.pixels), True),
    Kind("transplant_resave", lambda o, r, d: transplant(o, o.pixels), True),
    Kind("metadata_edit", lambda o, r, d: metadata_edit(o), True),
)
