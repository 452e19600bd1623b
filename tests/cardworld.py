"""A catalog of a few hundred small files for the dataset card tests: two cameras, every kind of
rejection the header stage gives, uploaders whose names need escaping."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from db import Catalog
from flows.stages.curate import curate, export
from pipeline.registry import Registry
from pipeline.registry_load import load_registry
from tests.test_curation import REGISTRY, add_downloaded

HOSTILE = "<script>alert('x')</script> & co"


@dataclass(frozen=True)
class CardWorld:
    registry: Registry
    data: Path
    catalog: Catalog
    accepted: int
    files: int


def photo(make: str, model: str, size: tuple[int, int], seed: int, quality: int = 97,
          software: str | None = None) -> bytes:
    """A small JPEG with a smooth, seed-coloured picture (so thumbnails show something) and EXIF."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(40, 200, 3)
    pixels = np.stack([base[c] + 50 * np.sin(xx / (5 + c) + seed) + 40 * np.cos(yy / 7 + c)
                       for c in range(3)], axis=-1)
    pixels += rng.normal(0, 6, pixels.shape)
    im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    if software:
        exif[0x0131] = software
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


def build(tmp: Path, catalog_url: str, policy, accepted_per_camera: int = 120) -> CardWorld:
    """``accepted_per_camera`` originals of each camera plus 60 rejected files, curated and
    exported as dataset ``card`` (train/val)."""
    reg_path = tmp / "cams.toml"
    reg_path.write_text(REGISTRY)
    registry = load_registry(reg_path)
    data = tmp / "data"
    scratch = tmp / "scratch"
    scratch.mkdir()
    catalog = Catalog.open(catalog_url)
    rng = random.Random(7)
    n = 0

    def add(content: bytes, author: str, camera: str, source: str = "flickr") -> None:
        nonlocal n
        n += 1
        add_downloaded(catalog, data, scratch, f"f{n}", content, author, camera, source)

    for i in range(accepted_per_camera):
        author = HOSTILE if i % 8 == 0 else f"user{rng.randrange(40)}"  # among the top uploaders
        add(photo("Acme", "A1", (64, 48), 1000 + i, software="A1 v1.0"), author, "Cam-A",
            rng.choice(["flickr", "wikimedia"]))
        add(photo("Bolt", "B2", (48, 64), 2000 + i), f"user{rng.randrange(40)}", "Cam-B")
    for i in range(12):
        add(photo("Acme", "A1", (64, 48), 3000 + i, quality=80), f"lowq{i}", "Cam-A")
        add(photo("Acme", "A1", (80, 60), 3100 + i), f"size{i}", "Cam-A")
        add(photo("Bolt", "B2", (48, 64), 3200 + i, software="GIMP 2.10"), f"gimp{i}", "Cam-B")
        add(photo("Canon", "EOS", (64, 48), 3300 + i), f"canon{i}", "Cam-B")
        add(photo("Acme", "A1", (64, 48), 3400 + i)[:-300], f"cut{i}", "Cam-A")
    curate(catalog, data, registry, policy)
    export(catalog, data, "card", registry, seed=1, per_class=20, fraction=None)
    return CardWorld(registry, data, catalog, 2 * accepted_per_camera, n)
