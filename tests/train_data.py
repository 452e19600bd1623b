"""A tiny synthetic camera dataset for the training tests: real JPEGs with EXIF, a real manifest.

Three "cameras" whose images differ in a low-level, learnable way (a colour cast and a periodic
pattern on the 2-pixel grid, like a colour-filter trace), each file carrying its camera's EXIF
Make/Model, written with Pillow at a camera-like quality; the manifest rows say the same (as an
export from the catalog does). Nothing is copied from ``../shared``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.manifest import write_manifest
from pipeline.records import ManifestRow

CAMERAS = (("Cam-A", "Apple", "iPhone 6"), ("Cam-B", "SONY", "NEX-7"), ("Cam-C", "motorola", "Nexus 6"))
TINT = ((40, -20, -20), (-20, 40, -20), (-20, -20, 40), (30, 30, -40))
HELD_OUT = ("Cam-D", "Canon", "EOS 5D")  # a fourth camera, kept out of the classes (heldout.csv)


def camera_image(label: int, seed: int, size: tuple[int, int] = (160, 128)) -> np.ndarray:
    """An H x W x 3 uint8 image of camera ``label``: smooth noise + tint + a 2-pixel pattern."""
    rng = np.random.default_rng(seed)
    width, height = size
    low = rng.normal(128, 40, (height // 16 + 1, width // 16 + 1, 3))
    base = np.kron(low, np.ones((16, 16, 1)))[:height, :width] + np.array(TINT[label])
    base += rng.normal(0, 4, base.shape)
    base[label % 2::2, :, label % 3] += 12
    return np.clip(base, 0, 255).astype(np.uint8)


def save_jpeg(pixels: np.ndarray, path: Path, make: str, model: str, quality: int = 95,
              subsampling: int = 2) -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=quality, subsampling=subsampling, exif=exif)


def make_dataset(root: Path, n_train: int = 4, n_val: int = 2, size: tuple[int, int] = (160, 128),
                 heldout: int = 0) -> Path:
    """Write images and a manifest under ``root``; returns the dataset directory.

    ``heldout`` images of a fourth camera go to ``heldout.csv`` (open-set evaluation).
    """
    dataset = root / "dataset"
    rows: dict[str, list[ManifestRow]] = {"train": [], "val": [], "heldout": []}
    for label, (name, make, model) in enumerate((*CAMERAS, HELD_OUT)):
        count = heldout if label == len(CAMERAS) else n_train + n_val
        for i in range(count):
            split = "heldout" if label == len(CAMERAS) else "train" if i < n_train else "val"
            path = dataset / "images" / f"{name}-{i}.jpg"
            save_jpeg(camera_image(label, 100 * label + i, size), path, make, model)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            rows[split].append(ManifestRow(path=f"images/{path.name}", sha256=sha, label=name,
                                           source="synthetic", uploader=None, licence=None,
                                           attribution_url=None, make=make, model=model,
                                           width=size[0], height=size[1], subsampling="4:2:0"))
    write_manifest(dataset, "tiny", tuple(c[0] for c in CAMERAS), tuple(rows["train"]), tuple(rows["val"]),
                   registry_hash="r" * 64, policy_hash="p" * 64, seed=0, heldout=tuple(rows["heldout"]))
    return dataset
