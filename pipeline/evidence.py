"""What the pixel-true checks measure: encoder signatures, pixel facts, signature counts.

Plain frozen records like those of ``pipeline.records`` (which carries them inside its own), kept
in a module of their own because ``records`` is long enough.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def part_digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:6]


@dataclass(frozen=True, slots=True)
class EncoderSignature:
    """How a JPEG was written, part by part (see ``pipeline.signature``; ``id`` joins digests)."""

    markers: str
    tables: str
    huffman: str
    coding: str
    sampling: str
    exif: str
    thumbnail: str
    makernote: str

    @property
    def id(self) -> str:
        """A 6-hex digest per part, joined: ids compare part by part (``differing_parts``)."""
        return "-".join(part_digest(getattr(self, name)) for name in self.__dataclass_fields__)

    def parts(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class PixelFacts:
    """What the pixel stage measured on one file (``pipeline.pixels``): the detectors' raw values.

    None where a detector could not run (no thumbnail, image too small...); ``notes`` says why.
    The verdict compares these with the policy's thresholds, so re-tuning needs no re-decoding.
    """

    decoder: str
    decode_warning: str | None = None
    flat_fraction: float | None = None
    thumbnail_error: float | None = None
    thumbnail_local: float | None = None
    resampling: float | None = None
    smoothing: float | None = None
    edge_blur: float | None = None
    noise_excess: float | None = None
    noise_deficit: float | None = None
    stability: float | None = None
    copy_move: float | None = None
    recompression: float | None = None
    notes: tuple[str, ...] = ()
    phash: str | None = None
    elapsed_ms: float | None = None


@dataclass(frozen=True, slots=True)
class SignatureCount:
    """How many files of one uploader share a make/model/firmware, size, quality and signature."""

    make: str | None
    model: str | None
    software: str | None
    width: int | None
    height: int | None
    quality: int | None
    signature: str
    uploader: str
    files: int


@dataclass(frozen=True, slots=True)
class ThumbnailSample:
    """One measured file's thumbnail agreement, with what learning it per camera filters on."""

    make: str | None
    model: str | None
    width: int | None
    height: int | None
    quality: int | None
    signature: str
    uploader: str
    thumbnail_local: float
