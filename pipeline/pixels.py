"""The pixel stage: one luma decode per file, every pixel detector on it, and the perceptual hash.

The reference decoder is libjpeg-turbo (through simplejpeg, which reports libjpeg's warnings
instead of hiding them as Pillow does): "premature end of data segment" or "corrupt JPEG data"
are findings, not noise. Only the luminance plane is decoded, at full resolution (about 40% less
time than an RGB decode: no chroma upsampling or colour conversion); the 1/8-scale image the
perceptual hash needs comes from the same plane, so files the header stage accepted are decoded
once in all, plus a 1/8-scale colour decode (mostly entropy decoding) whose block colours tell the
stability and noise-deficit tests which blocks have a clipped channel. The measured values are
returned as ``PixelFacts``; ``pipeline.pixel_checks`` turns them into findings under the policy.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

import imagehash
import numpy as np
import simplejpeg
from PIL import Image

from pipeline import dct_detectors, detectors, noise_level, stability
from pipeline.dedup import MAX_DECODE_PIXELS  # one decompression-bomb bound for every decode
from pipeline.evidence import PixelFacts
from pipeline.records import ImageFacts

DECODER = f"libjpeg-turbo via simplejpeg {simplejpeg.__version__}, luma, ISLOW IDCT"
PIXEL_VERSION = 6  # bump when a detector changes what it measures, so curate measures again
# copy-move matching (the costliest detector: 60 ms of a 12 MP file) runs on every file up to
# this size (under 25 ms each) and, above it, only where the thumbnail does not already vouch for
# the whole frame: no thumbnail, or one region of it differing by CLEAN_THUMBNAIL or more. A patch
# moved over content like its own leaves the thumbnail clean, so the shortcut misses it.
ALWAYS_COPY_MOVE_PIXELS = 4_000_000
CLEAN_THUMBNAIL = 8.0


def read_pixels(path: str | os.PathLike[str], facts: ImageFacts) -> PixelFacts:
    """Measure one file; never raises for a bad file (a failure is a fact)."""
    started = time.perf_counter()
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as err:
        return PixelFacts(DECODER, decode_warning=f"cannot read file: {err.strerror or err}")
    result = measure(data, facts)
    return _with_time(result, started)


def measure(data: bytes, facts: ImageFacts) -> PixelFacts:
    """Decode ``data`` (a JPEG whose header facts are ``facts``) and run every detector."""
    if (facts.width or 0) * (facts.height or 0) > MAX_DECODE_PIXELS:
        return PixelFacts(DECODER, notes=("not decoded: declared size above the decode limit",))
    luma, warning = decode_luma(data)
    if luma is None:
        return PixelFacts(DECODER, decode_warning=warning)
    notes: list[str] = []
    eighth = detectors.downscaled(luma, 8)
    thumb = _thumbnail(data, facts, luma, eighth, notes)
    table = facts.quant_tables[0] if facts.quant_tables else None
    smoothing = None if table is None else dct_detectors.smoothing_score(luma, table, facts.quality)
    recompression = None if table is None else dct_detectors.recompression_score(luma, table)
    colour = colour_eighth(data)  # block colours: which blocks have a clipped channel
    stable = None if table is None else stability.stability_excess(luma, table, colour)
    copy_move = None
    if thumb is None or thumb[1] >= CLEAN_THUMBNAIL or luma.size <= ALWAYS_COPY_MOVE_PIXELS:
        copy_move = detectors.copy_move_score(luma)
    else:  # a region pasted at any size that matters would show in a thumbnail this close
        notes.append(f"copy-move matching skipped: the thumbnail matches the image everywhere "
                     f"(worst region {thumb[1]:.1f} < {CLEAN_THUMBNAIL:g} grey levels)")
    return PixelFacts(
        DECODER,
        decode_warning=warning,
        flat_fraction=round(detectors.flat_fraction(luma), 4),
        thumbnail_error=None if thumb is None else round(thumb[0], 3),
        thumbnail_local=None if thumb is None else round(thumb[1], 3),
        resampling=round(detectors.resampling_score(luma), 4),
        smoothing=None if smoothing is None else round(smoothing, 4),
        edge_blur=round(detectors.edge_blur_score(luma), 4),
        noise_excess=round(detectors.noise_excess_score(luma), 4),
        noise_deficit=round(noise_level.noise_deficit_score(luma, colour), 4),
        stability=None if stable is None else round(stable, 4),
        copy_move=None if copy_move is None else round(copy_move, 4),
        recompression=None if recompression is None else round(recompression, 4),
        notes=tuple(notes),
        phash=phash_of(eighth),
    )


def decode_luma(data: bytes) -> tuple[np.ndarray | None, str | None]:
    """The luminance plane and libjpeg's first warning (a warning still yields the pixels)."""
    try:
        return simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True)[..., 0], None
    except ValueError as strict_error:
        warning = str(strict_error)
    try:
        return simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=False)[..., 0], warning
    except ValueError as error:
        return None, str(error)


def colour_eighth(data: bytes) -> np.ndarray | None:
    """The 1/8-scale RGB decode (one pixel per 8x8 block; mostly entropy decoding, 20 to 30 ms
    per 12 MP); None for a greyscale file or where it fails (the luma decode already reported)."""
    try:
        height, width, colour, _ = simplejpeg.decode_jpeg_header(data)
        if colour == "Gray":
            return None
        rgb: np.ndarray = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=False,
                                                 min_height=(height + 7) // 8, min_width=(width + 7) // 8)
    except ValueError:
        return None
    return rgb


def phash_of(eighth: np.ndarray) -> str:
    """64-bit pHash of the 1/8-scale luma (what the reduced decode used to give the hash)."""
    return str(imagehash.phash(Image.fromarray(eighth, "L")))


def _thumbnail(data: bytes, facts: ImageFacts, luma: np.ndarray, eighth: np.ndarray,
               notes: list[str]) -> tuple[float, float] | None:
    if facts.thumbnail_offset is None or not facts.thumbnail_length:
        notes.append("no JPEG thumbnail in the EXIF")
        return None
    blob = data[facts.thumbnail_offset:facts.thumbnail_offset + facts.thumbnail_length]
    thumb, warning = decode_luma(blob)
    if thumb is None:
        notes.append(f"thumbnail not decodable: {warning}")
        return None
    # the 1/8-scale image when it is still twice the thumbnail's size (cheap), else the full plane
    image = eighth if eighth.shape[1] >= 2 * thumb.shape[1] else luma
    result = detectors.thumbnail_mismatch(image, thumb)
    if result is None:
        notes.append(f"thumbnail {thumb.shape[1]}x{thumb.shape[0]} has another aspect than the image")
    return result


def _with_time(facts: PixelFacts, started: float) -> PixelFacts:
    return replace(facts, elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
