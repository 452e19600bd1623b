"""The training augmentation of the seed paper, with albumentations 2.0.8.

960x960 crop (done by the loader, from the pixel cache) -> D4 (rotations by 90/180/270 and
flips) -> gamma in [0.8, 1.2] -> JPEG re-compression at quality 70-90 -> random 480x480 crop.
Every random offset is a multiple of the grid (8), so the final crop sits on the camera's JPEG
and colour-filter grids and on the grid of the re-compression. albumentations 2.x ignores 1.x
argument names with only a warning (``quality_lower``, ``gamma_limit`` as floats...), so the 2.x
names are used and a test checks the transforms really change pixels. Its JPEG step also
swaps R and B (see ``RgbImageCompression``), which is fixed here.

Randomness is counter-based: each sample gets its own seed from (run seed, step, rank, slot), so
a crop does not depend on which worker made it, and a resumed run sees the same crops.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

from training.config import TrainConfig


class RgbImageCompression(A.ImageCompression):
    """JPEG re-compression of an RGB image, as a camera or an editor would do it.

    albumentations 2.0.8 hands the array to OpenCV, which takes it for BGR: an RGB image is then
    compressed with R and B swapped in the colour transform (luma = 0.114 R + 0.587 G + 0.299 B),
    which is not the artefact a real re-save leaves. Swapping around the call fixes that.
    """

    def apply(self, img: np.ndarray, quality: int, image_type: str, **params: Any) -> np.ndarray:
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        return cv2.cvtColor(super().apply(bgr, quality, image_type, **params), cv2.COLOR_BGR2RGB)


class GridRandomCrop(A.ImageOnlyTransform):
    """A random ``size`` x ``size`` crop whose offsets are multiples of ``grid``."""

    def __init__(self, size: int, grid: int = 8, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.size, self.grid = size, grid

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, int]:
        height, width = params["shape"][:2]
        rows, cols = (height - self.size) // self.grid, (width - self.size) // self.grid
        return {"y": self.py_random.randint(0, max(rows, 0)) * self.grid,
                "x": self.py_random.randint(0, max(cols, 0)) * self.grid}

    def apply(self, img: np.ndarray, y: int = 0, x: int = 0, **params: Any) -> np.ndarray:
        return np.ascontiguousarray(img[y:y + self.size, x:x + self.size])

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("size", "grid")


def train_transform(cfg: TrainConfig) -> A.Compose:
    """D4 -> gamma -> JPEG -> grid-aligned crop, as one albumentations pipeline."""
    gamma = (cfg.gamma_range[0] * 100, cfg.gamma_range[1] * 100)  # 2.x: percent, G = value / 100
    return A.Compose([
        A.D4(p=1.0),
        A.RandomGamma(gamma_limit=gamma, p=cfg.p_gamma),
        RgbImageCompression(compression_type="jpeg", quality_range=cfg.jpeg_quality, p=cfg.p_jpeg),
        GridRandomCrop(cfg.input_size, cfg.grid),
    ], seed=cfg.seed)


def augment(transform: A.Compose, crop: np.ndarray, seed: int) -> np.ndarray:
    """One sample's augmentation, reproducible from its own seed alone."""
    transform.set_random_seed(seed)
    return transform(image=crop)["image"]
