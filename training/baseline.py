"""The trivial baseline a CNN must beat: nearest class centroid on hand-made trace features.

A forensic reader wants to know what the network adds over simple statistics of the traces
cameras leave, measured in the same run on the same crops. The features are the classic ones:
noise-residual strength per channel and its share on each site of the 2x2 colour-filter lattice
(demosaicing leaves interpolated sites smoother than measured ones), cross-channel residual
correlation, 8x8 blockiness (JPEG), sharpness against noise, and colour rendering (saturation).
Features are standardised on the training crops; a crop goes to the nearest class mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

FEATURES = 23


@dataclass(frozen=True, slots=True)
class Centroids:
    """Per-class means of standardised features, with the standardisation."""

    mean: np.ndarray
    scale: np.ndarray
    centres: np.ndarray  # classes x FEATURES

    def predict(self, features: np.ndarray) -> int:
        z = (features - self.mean) / self.scale
        return int(np.argmin(((self.centres - z) ** 2).sum(axis=1)))


def trace_features(rgb: np.ndarray) -> np.ndarray:
    """``FEATURES`` numbers describing a crop's processing traces, not its content."""
    img = rgb.astype(np.float32)
    residual = img - cv2.blur(img, (3, 3), borderType=cv2.BORDER_REFLECT)
    out: list[float] = []
    for c in range(3):
        r = residual[..., c]
        energy = [float(np.mean(r[dy::2, dx::2] ** 2)) for dy in (0, 1) for dx in (0, 1)]
        total = sum(energy) + 1e-6
        out.append(float(np.log(total / 4 + 1e-6)))
        out.extend(e / total for e in energy)
    flat = residual.reshape(-1, 3)
    corr = np.corrcoef(flat.T) if flat.std(axis=0).min() > 0 else np.eye(3)
    out.extend((float(corr[0, 1]), float(corr[1, 2]), float(corr[0, 2])))
    out.append(_blockiness(img.mean(axis=2)))
    lap = cv2.Laplacian(img.mean(axis=2), cv2.CV_32F)
    out.append(float(np.log(np.mean(lap ** 2) + 1e-6) - np.log(np.mean(residual ** 2) + 1e-6)))
    hi, lo = img.max(axis=2), img.min(axis=2)
    out.append(float(np.mean((hi - lo) / (hi + 1.0))))
    out.append(float(np.mean(img) / 255.0))
    out.append(float(np.std(img) / 255.0))
    return np.asarray(out, dtype=np.float64)


def _blockiness(grey: np.ndarray) -> float:
    """Mean jump across 8-pixel block boundaries over the mean jump elsewhere (JPEG's grid)."""
    dx = np.abs(np.diff(grey, axis=1))
    on = dx[:, 7::8].mean() if dx.shape[1] > 8 else 0.0
    return float(on / (dx.mean() + 1e-6))


def fit(features: Sequence[np.ndarray], labels: Sequence[int], classes: int) -> Centroids:
    """Centroids of the training crops' standardised features (a class with no crop sits far away)."""
    x = np.stack(features)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    y = np.asarray(labels)
    centres = np.stack([z[y == c].mean(axis=0) if (y == c).any() else np.full(x.shape[1], 1e6)
                        for c in range(classes)])
    return Centroids(mean, scale, centres)
