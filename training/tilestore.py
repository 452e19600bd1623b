"""Training crops at the paper's scale: each JPEG cut once into lossless tiles, a crop decodes a few.

The pixel cache (``training.pixelcache``) keeps every image decoded, 7.8x its JPEG on disk: 2.9 TB
for the seed paper's 80,000 photos. A full decode per crop costs ~100 ms of a core for pixels it
mostly throws away. The tile store sits between them:

- **Cut once, losslessly.** libjpeg-turbo's transform (``tjTransform`` with a crop, through
  PyTurboJPEG over Debian's ``libturbojpeg0``) copies the DCT coefficients of a region into a
  JPEG of its own: no decode, no re-quantisation. Each tile *owns* a ``TILE`` x ``TILE`` square of
  the image and carries one iMCU (8 or 16 pixels, the file's own) of its neighbours around it.
- **Decode only what a crop needs.** A crop decodes the tiles it overlaps (with the reference
  decoder, OpenCV's libjpeg-turbo, ``imageio.decode_rgb``'s) and keeps each tile's owned part.
  Every pixel then equals the full decode's: blocks decode independently, and chroma upsampling
  ("fancy", a triangle filter one chroma sample wide) reaches at most two pixels past a block,
  well inside the margin. Tests check this pixel for pixel on every subsampling.
- **About 1.2-1.3x the JPEG's bytes** (the margins, and each tile's own tables), one file per image.

A file libjpeg-turbo cannot transform is stored whole as a single tile, so it still reads right,
at the full decode's price. Entries are written beside their target and renamed: a killed build
leaves no half file, and a restarted one rebuilds only what is missing.
"""

from __future__ import annotations

import json
import os
import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.errors import CamidError
from training.pixelcache import EntryStore, SourceImage

STORE_VERSION = "tiles-v1"
MAGIC = b"CAMIDTL1"
TILE = 256  # owned side: a multiple of every iMCU size (8, 16, 32)
# iMCU (height, width) per TurboJPEG subsampling: 4:4:4, 4:2:2, 4:2:0, grey, 4:4:0, 4:1:1
IMCU = {0: (8, 8), 1: (8, 16), 2: (16, 16), 3: (8, 8), 4: (16, 8), 5: (8, 32)}
_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
DECODED_TILES = 24  # per process: neighbouring crops of one image share tiles


def turbojpeg_available() -> bool:
    """Whether the lossless transform can run here (PyTurboJPEG and libturbojpeg both present)."""
    try:
        _turbo()
    except CamidError:
        return False
    return True


def _turbo() -> Any:
    try:
        from turbojpeg import TurboJPEG  # type: ignore[import-untyped]

        return TurboJPEG()
    except (ImportError, OSError, RuntimeError) as exc:
        raise CamidError(f"the tile store needs libjpeg-turbo's TurboJPEG library ({exc}): install Debian's "
                         "libturbojpeg0, or train from the pixel cache (--data-path cache)") from None


@dataclass(frozen=True, slots=True)
class Tile:
    """One stored tile: the region its JPEG covers, and where its bytes are in the entry."""

    y: int
    x: int
    height: int
    width: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Layout:
    """An entry's header: the image size, the owned side, and the tiles row by row."""

    height: int
    width: int
    tile: int
    tiles: tuple[Tile, ...]
    data_start: int

    @property
    def columns(self) -> int:
        return 1 if len(self.tiles) == 1 else -(-self.width // self.tile)


Region = tuple[int, int, int, int]  # x, y, width, height (TurboJPEG's order)


def plan_tiles(height: int, width: int, imcu: tuple[int, int], tile: int = TILE) -> list[Region]:
    """(x, y, w, h) of each tile's JPEG, row by row: the owned square plus one iMCU around it."""
    my, mx = imcu
    out = []
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            y0, x0 = max(0, y - my), max(0, x - mx)
            out.append((x0, y0, min(width, x + tile + mx) - x0, min(height, y + tile + my) - y0))
    return out


def cut(data: bytes, tile: int = TILE) -> tuple[int, int, list[Region], list[bytes]]:
    """(height, width, regions, tile JPEGs) of one JPEG; a file that cannot be cut is one tile."""
    turbo = _turbo()
    try:
        width, height, sampling, _ = turbo.decode_header(data)
        regions = plan_tiles(height, width, IMCU.get(sampling, (16, 16)), tile)
        return height, width, regions, turbo.crop_multiple(data, regions, copynone=True)
    except (OSError, ValueError) as exc:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _FLAGS)
        if pixels is None:
            raise CamidError(f"not a decodable JPEG ({exc})") from None
        height, width = pixels.shape[:2]
        return height, width, [(0, 0, width, height)], [data]


def encode_entry(height: int, width: int, regions: Sequence[Region], blobs: Sequence[bytes],
                 tile: int = TILE) -> bytes:
    """MAGIC, a little-endian header length, the JSON header, then the tile JPEGs back to back."""
    tiles, offset = [], 0
    for (x, y, w, h), blob in zip(regions, blobs, strict=True):
        tiles.append([y, x, h, w, offset, len(blob)])
        offset += len(blob)
    header = json.dumps({"height": height, "width": width, "tile": tile, "tiles": tiles}).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(blobs)


def decode_layout(head: bytes) -> Layout:
    """The header of an entry from its first bytes (enough of them: see ``TileStore._layout``)."""
    if head[:8] != MAGIC:
        raise ValueError("not a camid tile entry")
    (size,) = struct.unpack("<I", head[8:12])
    doc = json.loads(head[12:12 + size])
    tiles = tuple(Tile(*t) for t in doc["tiles"])
    return Layout(doc["height"], doc["width"], doc["tile"], tiles, 12 + size)


class TileStore(EntryStore):
    """Lossless JPEG tiles on disk, one entry per image (keyed by SHA-256, like the pixel cache)."""

    suffix = ".tiles"
    stage = "tile store"
    fsync = True

    def __init__(self, root: str | os.PathLike[str], decoded_tiles: int = DECODED_TILES) -> None:
        self.root = Path(root) / STORE_VERSION
        self.decoded_tiles = decoded_tiles
        self._layouts: dict[str, Layout] = {}
        self._decoded: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def add(self, image: SourceImage) -> int:
        """Cut one image into its entry; returns the bytes written."""
        try:
            data = image.path.read_bytes()
        except OSError as exc:
            raise CamidError(f"{image.path}: unreadable: {exc.strerror or exc}") from None
        try:
            blob = encode_entry(*cut(data))
        except CamidError as exc:
            raise CamidError(f"{image.path}: {exc}") from None
        self._publish(image.sha256, lambda fh: fh.write(blob))
        return len(blob)

    def pixels(self, image: SourceImage) -> TiledImage:
        """The image as an array-like: ``.shape``, and slicing decodes only the tiles it needs."""
        return TiledImage(self, image)

    def layout(self, image: SourceImage) -> Layout:
        layout = self._layouts.get(image.sha256)
        if layout is None:
            if not self.entry(image.sha256).exists():
                self.add(image)  # a missing entry is rebuilt from the JPEG
            layout = self._read_layout(self.entry(image.sha256))
            self._layouts[image.sha256] = layout
        return layout

    @staticmethod
    def _read_layout(path: Path) -> Layout:
        with open(path, "rb") as fh:
            head = fh.read(12)
            (size,) = struct.unpack("<I", head[8:12]) if len(head) == 12 else (0,)
            try:
                return decode_layout(head + fh.read(size))
            except (ValueError, KeyError, TypeError) as exc:
                raise CamidError(f"{path}: damaged tile entry ({exc}): delete it to rebuild") from None

    def tile_pixels(self, image: SourceImage, index: int) -> np.ndarray:
        """One tile decoded (RGB), from a small per-process cache of recent tiles."""
        key = (image.sha256, index)
        hit = self._decoded.get(key)
        if hit is not None:
            self._decoded.move_to_end(key)
            return hit
        layout = self.layout(image)
        tile = layout.tiles[index]
        with open(self.entry(image.sha256), "rb") as fh:
            fh.seek(layout.data_start + tile.offset)
            data = np.frombuffer(fh.read(tile.length), np.uint8)
        bgr = cv2.imdecode(data, _FLAGS)
        if bgr is None or bgr.shape[:2] != (tile.height, tile.width):
            raise CamidError(f"{self.entry(image.sha256)}: tile {index} does not decode: delete the entry "
                             "to rebuild it")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self._decoded[key] = rgb
        if len(self._decoded) > self.decoded_tiles:
            self._decoded.popitem(last=False)
        return rgb


class TiledImage:
    """A stored image that decodes on slicing: ``image[y0:y1, x0:x1]`` -> an H x W x 3 uint8 array."""

    def __init__(self, store: TileStore, image: SourceImage) -> None:
        self.store, self.image = store, image
        self.layout = store.layout(image)
        self.shape = (self.layout.height, self.layout.width, 3)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = key[0], key[1]
        if not isinstance(rows, slice) or not isinstance(cols, slice) or {rows.step, cols.step} - {None, 1}:
            raise TypeError("a tiled image takes [y0:y1, x0:x1] slices with step 1")
        y0, y1, _ = rows.indices(self.layout.height)
        x0, x1, _ = cols.indices(self.layout.width)
        out = np.empty((max(0, y1 - y0), max(0, x1 - x0), 3), np.uint8)
        if out.size == 0:
            return out
        if len(self.layout.tiles) == 1:  # stored whole: no owned squares
            return self.store.tile_pixels(self.image, 0)[y0:y1, x0:x1].copy()
        side = self.layout.tile
        for r in range(y0 // side, (y1 - 1) // side + 1):
            for c in range(x0 // side, (x1 - 1) // side + 1):
                self._paste(out, r * self.layout.columns + c, (y0, y1, x0, x1), (r * side, c * side))
        return out

    def _paste(self, out: np.ndarray, index: int, want: tuple[int, int, int, int],
               owned: tuple[int, int]) -> None:
        """Copy the part of tile ``index``'s owned square that falls in ``want`` into ``out``."""
        y0, y1, x0, x1 = want
        tile, side = self.layout.tiles[index], self.layout.tile
        top, left = max(y0, owned[0]), max(x0, owned[1])
        bottom, right = min(y1, owned[0] + side), min(x1, owned[1] + side)
        pixels = self.store.tile_pixels(self.image, index)
        out[top - y0:bottom - y0, left - x0:right - x0] = pixels[top - tile.y:bottom - tile.y,
                                                                 left - tile.x:right - tile.x]
