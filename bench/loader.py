"""Benchmark: training crops per second per core, naive loader against camid's, on 12 MP JPEGs.

Writes (or reuses) a few 4000x3000 camera-like JPEGs (quality 95, 4:2:0: a smooth scene, texture
and sensor-like noise, which encode to ~5 MB like a phone's file). Both loaders run the same
recipe in one process on one thread (so the rate is per core): a grid-aligned 960x960 crop ->
D4 -> gamma -> JPEG 70-90 -> 480x480 crop, over the same class-balanced sample keys.

- naive: decode the whole JPEG (libjpeg-turbo through OpenCV, the fastest full decode measured
  here), then crop;
- camid: the path ``--data-path auto`` takes at the paper's scale (80,000 photos, 2.9 TB decoded):
  lossless JPEG tiles (``training.tilestore``), cut once per dataset (the cost is printed), a
  crop decoding only the tiles it overlaps;
- the pixel cache (what auto takes for a small dataset), for reference on its own line.

``disk_bytes_per_jpeg_byte`` is the tile store's bytes over the JPEGs'. Before timing, it checks
that every path gives the same pixels for the same keys, and raw crops equal the full decode's.

    .venv/bin/python bench/loader.py [--images 6] [--naive-crops 30] [--camid-crops 300] [--dir bench-data]

Ends with one line: ``bench loader: naive_crops_per_s_per_core=... camid_crops_per_s_per_core=...
disk_bytes_per_jpeg_byte=... ratio=...``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import torch
from PIL import Image

from training.config import TrainConfig
from training.data import BalancedBatches, LabelledImages, TrainCrops
from training.pixelcache import DirectSource, PixelCache, SourceImage
from training.tilestore import TileStore

WIDTH, HEIGHT = 4000, 3000


def camera_like(seed: int) -> np.ndarray:
    """A 12 MP scene: large smooth shapes, fine texture, edges, and per-pixel sensor-like noise."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (HEIGHT // 40 + 1, WIDTH // 40 + 1, 3), dtype=np.uint8)
    scene = np.asarray(Image.fromarray(low).resize((WIDTH, HEIGHT), Image.BICUBIC), dtype=np.float32)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    scene += (18 * np.sin(xx / rng.uniform(5, 40)) * np.cos(yy / rng.uniform(5, 40)))[..., None]
    scene += rng.normal(0, 5, scene.shape).astype(np.float32)
    return np.clip(scene, 0, 255).astype(np.uint8)


def make_images(directory: Path, count: int) -> list[SourceImage]:
    directory.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(count):
        path = directory / f"camera-{i}.jpg"
        if not path.exists():
            Image.fromarray(camera_like(i)).save(path, quality=95, subsampling=2)
        images.append(SourceImage(hashlib.sha256(path.read_bytes()).hexdigest(), path))
    return images


def rate(dataset: TrainCrops, keys: list[tuple[int, int]]) -> float:
    """Crops per second delivered by ``dataset`` for ``keys`` (after one warm-up crop)."""
    dataset[keys[0]]
    started = time.perf_counter()
    for key in keys:
        dataset[key]
    return len(keys) / (time.perf_counter() - started)


def sample_keys(cfg: TrainConfig, count: int, n_images: int) -> list[tuple[int, int]]:
    sampler = BalancedBatches(list(range(n_images)), cfg)
    keys: list[tuple[int, int]] = []
    step = 0
    while len(keys) < count:
        keys += sampler.keys(step, 0)
        step += 1
    return keys[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--naive-crops", type=int, default=30)
    parser.add_argument("--camid-crops", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=Path("bench-data"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    images = make_images(args.dir / "loader" / "jpeg", args.images)
    jpeg_bytes = sum(im.path.stat().st_size for im in images)
    cache, cache_s = built(PixelCache(args.dir / "loader" / "cache"), images)
    # no decoded-tile reuse between crops: at 80,000 images two crops of one photo rarely meet
    tiles, tiles_s = built(TileStore(args.dir / "loader" / "cache", decoded_tiles=0), images)
    tile_bytes = sum(tiles.entry(im.sha256).stat().st_size for im in images)
    cache_bytes = sum(cache.entry(im.sha256).stat().st_size for im in images)
    cfg = TrainConfig(manifest="-", run_dir="-", steps=10**6, workers=0)
    split = _split(images)
    naive = TrainCrops(split, DirectSource(), cfg)
    fast, cached = TrainCrops(split, tiles, cfg), TrainCrops(split, cache, cfg)
    _check_identical(images, {"tiles": tiles, "cache": cache}, naive, [fast, cached],
                     sample_keys(cfg, 4, len(images)))
    naive_rate = rate(naive, sample_keys(cfg, args.naive_crops, len(images)))
    camid_rate = rate(fast, sample_keys(cfg, args.camid_crops, len(images)))
    cache_rate = rate(cached, sample_keys(cfg, args.camid_crops, len(images)))
    print(f"tile store: cut once per dataset at {tiles_s:.3f} s/image (one core), "
          f"{tile_bytes / jpeg_bytes:.2f}x the JPEG bytes")
    print(f"pixel cache (the small-dataset default): {cache_rate:.2f} crops/s/core, built at {cache_s:.3f} "
          f"s/image, {cache_bytes / jpeg_bytes:.2f}x the JPEG bytes")
    print(f"bench loader: naive_crops_per_s_per_core={naive_rate:.2f} "
          f"camid_crops_per_s_per_core={camid_rate:.2f} "
          f"disk_bytes_per_jpeg_byte={tile_bytes / jpeg_bytes:.3f} ratio={camid_rate / naive_rate:.1f}")


def built(store: PixelCache | TileStore, images: list[SourceImage]) -> tuple[Any, float]:
    """The store with every entry rebuilt (the build is part of the honest account), s/image."""
    for image in images:
        store.entry(image.sha256).unlink(missing_ok=True)
    started = time.perf_counter()
    store.ensure(images, workers=1)
    return store, (time.perf_counter() - started) / len(images)


def _split(images: list[SourceImage]) -> LabelledImages:
    """One class per image: the balanced sampler then visits every image equally."""
    return LabelledImages(tuple(images), tuple(range(len(images))))


def _check_identical(images: list[SourceImage], stores: dict[str, Any], naive: TrainCrops,
                     others: list[TrainCrops], keys: list[tuple[int, int]]) -> None:
    """Same keys, same output on every path; a raw crop of each store equals the full decode's."""
    for key in keys:
        for other in others:
            if not torch.equal(naive[key][0], other[key][0]):
                raise SystemExit(f"bench loader: loaders disagree for key {key}")
    full = DirectSource().pixels(images[0])
    for name, store in stores.items():
        stored = store.pixels(images[0])
        for y, x in ((0, 0), (8, 16), (HEIGHT - 960, WIDTH - 960), (1000, 2040)):
            if not np.array_equal(stored[y:y + 960, x:x + 960], full[y:y + 960, x:x + 960]):
                raise SystemExit(f"bench loader: {name} crop at {(y, x)} differs from the full decode")
    print(f"pixels: identical for {len(keys)} augmented crops and 4 raw crops per store "
          "(incl. the far corner)")


if __name__ == "__main__":
    main()
