"""Where training crops come from: a pixel cache built once per dataset, or a full decode per crop.

Decoding a 12-megapixel JPEG costs about 100 ms per core and a training crop needs only a tenth of
its pixels, so a loader that decodes per crop spends ~90% of its time on pixels it throws away.
``PixelCache`` decodes every image once (with the reference decoder, ``imageio.decode_rgb``) and
keeps the result as an uncompressed ``.npy`` file; a crop is then a memory-mapped slice: no
decode, no resampling, no re-encoding, so every pixel is the value a crop of the full decode has.

The price is disk: 3 bytes per pixel (36 MB for 12 MP, about 7x the JPEG). Lossless compression
was measured and rejected: PNG/zlib decode at ~120-220 MB/s, which gives back most of the gain.
Entries are keyed by the file's SHA-256 (from the manifest), so datasets sharing images share
entries, and are written beside their target and renamed, so a killed build leaves no half file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from pipeline.errors import CamidError
from pipeline.records import Tick
from training.imageio import Pixels, decode_rgb, image_size

CACHE_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class SourceImage:
    """One image a loader can crop from: its content hash, where the JPEG is, its chroma subsampling
    (which decides its block grid; None when the manifest does not say)."""

    sha256: str
    path: Path
    subsampling: str | None = None
    width: int | None = None  # from the manifest, when it says
    height: int | None = None


class PixelSource(Protocol):
    """Something that hands out an image as an array-like (``.shape`` and slicing)."""

    def pixels(self, image: SourceImage) -> Pixels: ...


class DirectSource:
    """The naive path: decode the whole JPEG for every crop."""

    def pixels(self, image: SourceImage) -> np.ndarray:
        return decode_rgb(image.path)


def decoded_bytes(images: Sequence[SourceImage]) -> int:
    """What the pixel cache holds for these images: 3 bytes per pixel, one entry per SHA-256; sizes
    from the manifest, else from the file's header."""
    total = 0
    for image in {im.sha256: im for im in images}.values():
        if image.width and image.height:
            total += image.width * image.height * 3
        else:
            width, height = image_size(image.path)
            total += width * height * 3
    return total


class EntryStore:
    """One file per image under ``root``, keyed by its SHA-256, built once per dataset.

    Entries are written beside their target and renamed, so a killed build leaves no half entry
    and a restarted one builds only what is missing. Subclasses say what an entry holds.
    """

    root: Path
    suffix = ""
    stage = ""  # the progress line's name
    fsync = False

    def entry(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}{self.suffix}"

    def add(self, image: SourceImage) -> int:
        raise NotImplementedError

    def missing(self, images: Sequence[SourceImage]) -> list[SourceImage]:
        unique = {im.sha256: im for im in images}
        return [im for sha, im in unique.items() if not self.entry(sha).exists()]

    def ensure(self, images: Sequence[SourceImage], workers: int = 1, tick: Tick | None = None) -> int:
        """Build every missing entry (threads: OpenCV's decode and TurboJPEG release the GIL).
        Returns how many."""
        todo = self.missing(images)
        if not todo:
            return 0
        self._check_space(todo)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for done, _ in enumerate(pool.map(self.add, todo), start=1):
                if tick:
                    tick(self.stage, done, len(todo))
        return len(todo)

    def _check_space(self, todo: Sequence[SourceImage]) -> None:
        """Fail before writing anything when the entries cannot fit (a subclass that can tell)."""

    def _publish(self, sha256: str, write: Callable[[BinaryIO], object]) -> None:
        """Write an entry beside its target with ``write``, then rename it into place."""
        target = self.entry(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            write(fh)
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)


class PixelCache(EntryStore):
    """Decoded pixels on disk, one memory-mappable ``.npy`` per image."""

    suffix = ".npy"
    stage = "pixel cache"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root) / CACHE_VERSION

    def pixels(self, image: SourceImage) -> np.ndarray:
        """A read-only memory map of the image (slicing it reads only the crop's rows)."""
        try:
            return np.load(self.entry(image.sha256), mmap_mode="r")
        except (OSError, ValueError):
            self.add(image)  # missing or damaged entry: rebuild it from the JPEG
            return np.load(self.entry(image.sha256), mmap_mode="r")

    def add(self, image: SourceImage) -> int:
        """Decode one image into the cache; returns the bytes written."""
        rgb = decode_rgb(image.path)
        self._publish(image.sha256, lambda fh: np.save(fh, rgb, allow_pickle=False))
        return rgb.nbytes

    def _check_space(self, todo: Sequence[SourceImage]) -> None:
        """Fail before writing anything when the entries cannot fit on the cache's disk."""
        need = decoded_bytes(todo) + 128 * len(todo)
        self.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.root).free
        if need > free * 0.95:
            raise CamidError(f"pixel cache needs {need / 1e9:.1f} GB for {len(todo)} images but "
                             f"{self.root} has {free / 1e9:.1f} GB free: use --cache-dir elsewhere "
                             "or --no-cache (slower: a full decode per crop)")
