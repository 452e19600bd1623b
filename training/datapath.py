"""Which pixel source feeds training: the choice by dataset size and free disk, said out loud.

- ``cache``: every image decoded once into the pixel cache (``training.pixelcache``): the fastest
  crops (a memory-mapped slice), at 3 bytes per pixel on disk (about 7.8x a camera JPEG).
- ``tiles``: every JPEG cut once into lossless tiles (``training.tilestore``): about 1.2-1.3x the
  JPEG's bytes, a crop decodes the few tiles it overlaps.
- ``direct``: a full decode per crop (no disk; the naive path).

``auto`` (the default) takes the cache while the decoded dataset is at most ``CACHE_LIMIT`` bytes
and a quarter of the cache disk's free space, else the tiles (when libjpeg-turbo's TurboJPEG is
installed; else the cache if it fits at all, else direct). All three give the same pixels.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import CamidError
from training.pixelcache import DirectSource, PixelCache, PixelSource, SourceImage, decoded_bytes
from training.tilestore import TileStore, turbojpeg_available

DATA_PATHS = ("auto", "cache", "tiles", "direct")
CACHE_LIMIT = 50 * 10**9  # decoded bytes above which auto prefers the tiles


@dataclass(frozen=True, slots=True)
class Choice:
    """The source chosen, its name, and why (printed when training starts)."""

    source: PixelSource
    name: str
    why: str


def choose(data_path: str, cache_dir: str | None, images: Sequence[SourceImage]) -> Choice:
    """The pixel source for ``data_path`` (see the module's docstring for ``auto``)."""
    if data_path not in DATA_PATHS:
        raise CamidError(f"--data-path must be one of {', '.join(DATA_PATHS)}, not {data_path!r}")
    if cache_dir is None or data_path == "direct":
        return Choice(DirectSource(), "direct", "a full decode per crop (no cache directory)"
                      if cache_dir is None else "a full decode per crop, as asked")
    if data_path == "cache":
        return Choice(PixelCache(cache_dir), "cache", "the pixel cache, as asked")
    if data_path == "tiles":
        if not turbojpeg_available():
            raise CamidError("--data-path tiles needs libjpeg-turbo's TurboJPEG library: install Debian's "
                             "libturbojpeg0 (make setup does), or use --data-path cache")
        return Choice(TileStore(cache_dir), "tiles", "lossless JPEG tiles, as asked")
    need = decoded_bytes(images)
    root = Path(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    fits = f"{need / 1e9:.1f} GB decoded, {free / 1e9:.0f} GB free"
    if need <= min(CACHE_LIMIT, free / 4):
        return Choice(PixelCache(cache_dir), "cache", f"the pixel cache ({fits}: small enough)")
    if turbojpeg_available():
        return Choice(TileStore(cache_dir), "tiles", f"lossless JPEG tiles ({fits}: too big for the cache)")
    if need <= free * 0.9:
        return Choice(PixelCache(cache_dir), "cache", f"the pixel cache ({fits}; TurboJPEG is missing, "
                      "so no tiles: install libturbojpeg0 to save disk)")
    return Choice(DirectSource(), "direct", f"a full decode per crop ({fits}, and no TurboJPEG for tiles)")
