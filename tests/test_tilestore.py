"""The tile store (training.tilestore) gives the full decode's pixels, and the data path is chosen."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from pipeline.errors import CamidError
from tests.conftest import REPO
from training import datapath
from training.config import TrainConfig
from training.data import LabelledImages, TrainCrops
from training.imageio import decode_rgb
from training.pixelcache import DirectSource, PixelCache, SourceImage
from training.tilestore import TILE, TileStore, plan_tiles, turbojpeg_available

if not turbojpeg_available():
    if os.environ.get("CAMID_REQUIRE_TURBOJPEG"):
        pytest.fail("libjpeg-turbo's TurboJPEG is missing: `make turbojpeg` installs Debian's libturbojpeg0",
                    pytrace=False)
    pytest.skip("libturbojpeg0 is not installed here", allow_module_level=True)

REALWORLD = REPO.parent / "shared" / "realworld"


def noisy(height: int, width: int, seed: int) -> np.ndarray:
    """Camera-like content: smooth shapes and per-pixel noise (so every block and chroma sample counts)."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (height // 32 + 2, width // 32 + 2, 3), dtype=np.uint8)
    smooth = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)


def write(path: Path, pixels: np.ndarray, kind: str) -> SourceImage:
    if kind == "restart":  # restart markers every 3 MCUs (OpenCV's encoder writes them)
        _, buf = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR),
                              [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_RST_INTERVAL, 3])
        path.write_bytes(buf.tobytes())
    elif kind == "grey":
        Image.fromarray(pixels).convert("L").save(path, quality=95)
    elif kind == "png":  # not a JPEG: stored whole, still read right
        Image.fromarray(pixels).save(path.with_suffix(".png"), format="PNG")
        path.write_bytes(path.with_suffix(".png").read_bytes())
    else:
        sampling, progressive = {"444": (0, False), "422": (1, False), "420": (2, False),
                                 "420p": (2, True), "422p": (1, True)}[kind]
        Image.fromarray(pixels).save(path, quality=95, subsampling=sampling, progressive=progressive)
    return SourceImage(hashlib.sha256(path.read_bytes()).hexdigest(), path)


@pytest.mark.parametrize(("kind", "height", "width"), [
    ("420", 600, 808), ("420", 601, 803), ("422", 555, 777), ("444", 300, 517), ("420p", 517, 389),
    ("422p", 480, 640), ("restart", 601, 803), ("grey", 333, 444), ("png", 300, 300), ("420", 100, 90),
])
def test_every_slice_of_a_tiled_image_is_the_full_decode(tmp_path: Path, kind: str, height: int, width: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "MAXBLOCK", 2**25)  # Pillow's progressive encoder: room for noisy scans
    image = write(tmp_path / f"{kind}.jpg", noisy(height, width, height + width), kind)
    store = TileStore(tmp_path / "store")
    store.add(image)
    full, tiled = decode_rgb(image.path), store.pixels(image)
    assert tiled.shape == full.shape
    assert np.array_equal(tiled[0:height, 0:width], full)
    rng = np.random.default_rng(1)
    for _ in range(30):
        y0, x0 = int(rng.integers(0, height)), int(rng.integers(0, width))
        y1, x1 = int(rng.integers(y0, height + 1)), int(rng.integers(x0, width + 1))
        assert np.array_equal(tiled[y0:y1, x0:x1], full[y0:y1, x0:x1]), (y0, y1, x0, x1)
    with pytest.raises(TypeError, match="slices with step 1"):
        tiled[::2, 0:4]
    tiles = len(tiled.layout.tiles)
    assert tiles == (1 if kind == "png" else -(-height // TILE) * -(-width // TILE))


def test_real_camera_files_tile_to_their_own_pixels(tmp_path: Path) -> None:
    files = sorted(p for p in REALWORLD.rglob("*.jpg") if p.is_file()) if REALWORLD.is_dir() else []
    if not files:
        pytest.skip("../shared/realworld is not here")
    store, checked = TileStore(tmp_path / "store"), 0
    for path in files:
        try:
            full = decode_rgb(path)
        except CamidError:
            continue  # not decodable at all: nothing to compare
        image = SourceImage(hashlib.sha256(path.read_bytes()).hexdigest(), path)
        store.add(image)
        h, w = full.shape[:2]
        assert np.array_equal(store.pixels(image)[0:h, 0:w], full), path.name
        checked += 1
    assert checked >= 50


@pytest.mark.parametrize(("height", "width", "imcu", "first", "count"), [
    (600, 800, (16, 16), (0, 0, 272, 272), 12),  # owned 256 + one iMCU on the far sides
    (100, 90, (8, 8), (0, 0, 90, 100), 1),
    (300, 300, (8, 16), (0, 0, 272, 264), 4),
])
def test_tiles_own_squares_with_one_imcu_of_context(height: int, width: int, imcu: tuple[int, int],
                                                    first: tuple[int, int, int, int], count: int) -> None:
    regions = plan_tiles(height, width, imcu)
    assert regions[0] == first and len(regions) == count
    for x, y, w, h in regions:
        assert x % imcu[1] == 0 and y % imcu[0] == 0  # lossless crops start on an iMCU
        assert x + w <= width and y + h <= height


def test_the_store_is_a_fraction_of_the_pixel_cache_and_survives_crashes(tmp_path: Path) -> None:
    image = write(tmp_path / "a.jpg", noisy(960, 1280, 7), "420")
    store = TileStore(tmp_path / "store")
    stale = store.entry(image.sha256).with_name(f".{image.sha256}.tiles.999.tmp")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half an entry from a killed build")
    assert store.missing([image]) == [image]  # a leftover temporary is not an entry
    assert store.ensure([image]) == 1 and store.ensure([image]) == 0
    size, jpeg = store.entry(image.sha256).stat().st_size, image.path.stat().st_size
    assert size < 1.5 * jpeg < PixelCache(tmp_path).add(image)
    store.entry(image.sha256).unlink()  # a lost entry is rebuilt on first read
    rebuilt = TileStore(tmp_path / "store").pixels(image)
    assert np.array_equal(rebuilt[0:10, 0:10], decode_rgb(image.path)[:10, :10])
    store.entry(image.sha256).write_bytes(b"CAMIDTL1\x05\x00\x00\x00{bad}")
    with pytest.raises(CamidError, match="damaged tile entry"):
        TileStore(tmp_path / "store").pixels(image)


def test_training_crops_from_tiles_equal_the_naive_path_for_the_whole_recipe(tmp_path: Path) -> None:
    images = tuple(write(tmp_path / f"c{i}.jpg", noisy(700, 900, i), "420") for i in range(2))
    split = LabelledImages(images, (0, 1))
    cfg = TrainConfig(manifest="-", run_dir="-", steps=10, crop=320, input_size=96, p_ops=1.0, workers=0)
    naive, tiled = TrainCrops(split, DirectSource(), cfg), TrainCrops(split, TileStore(tmp_path / "s"), cfg)
    for key in [(i % 2, seed) for i, seed in enumerate(range(100, 140))]:  # every op, resizes included
        assert torch.equal(naive[key][0], tiled[key][0]), key


def test_auto_takes_the_cache_for_a_small_dataset_and_tiles_for_a_big_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = [SourceImage("a" * 64, tmp_path / "x.jpg", "4:2:0", 4000, 3000)]
    small = datapath.choose("auto", str(tmp_path), images)
    assert small.name == "cache" and "small enough" in small.why
    monkeypatch.setattr(datapath, "CACHE_LIMIT", 10**6)  # as if the dataset were the paper's 2.9 TB
    big = datapath.choose("auto", str(tmp_path), images)
    assert big.name == "tiles" and isinstance(big.source, TileStore) and "too big for the cache" in big.why
    assert datapath.choose("auto", None, images).name == "direct"
    assert datapath.choose("direct", str(tmp_path), images).name == "direct"
    assert datapath.choose("tiles", str(tmp_path), images).name == "tiles"
    with pytest.raises(CamidError, match="--data-path must be one of"):
        datapath.choose("floppy", str(tmp_path), images)
    assert datapath.decoded_bytes(images + images) == 4000 * 3000 * 3  # one entry per SHA-256
