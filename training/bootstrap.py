"""Bootstrap 95% intervals for every accuracy camid reports.

A test split of a few hundred images gives an accuracy that moves by several points from one
draw of images to another; a reader needs that spread beside the number. Images are resampled
with replacement within each class (the protocol's per-class halves stay balanced), the metric is
recomputed per resample, and the 2.5th and 97.5th percentiles bound it. Seeded: the same scores
give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.protocol import WEIGHT_UNALTERED


def resamples(labels: Sequence[int], reps: int, seed: int) -> np.ndarray:
    """``reps`` x N image indices, each row a class-stratified resample with replacement."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    parts = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        parts.append(members[rng.integers(0, len(members), size=(reps, len(members)))])
    return np.concatenate(parts, axis=1) if parts else np.zeros((reps, 0), dtype=int)


def interval(values: np.ndarray) -> list[float]:
    """The central 95% of a metric's resampled values (NaNs, from empty resamples, ignored)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return [float("nan"), float("nan")]
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def accuracy_intervals(correct: Sequence[bool], altered: Sequence[bool], labels: Sequence[int],
                       reps: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """Intervals of the weighted score and of the unaltered and altered accuracies."""
    hits, alt = np.asarray(correct, dtype=float), np.asarray(altered, dtype=bool)
    idx = resamples(labels, reps, seed)
    h, a = hits[idx], alt[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_u = (h * ~a).sum(axis=1) / (~a).sum(axis=1)
        acc_a = (h * a).sum(axis=1) / a.sum(axis=1)
    weighted = WEIGHT_UNALTERED * acc_u + (1 - WEIGHT_UNALTERED) * np.where(np.isfinite(acc_a), acc_a, acc_u)
    return {"weighted_accuracy": interval(weighted), "accuracy_unaltered": interval(acc_u),
            "accuracy_altered": interval(acc_a), "accuracy": interval(h.mean(axis=1))}


def plain_interval(correct: Sequence[bool], reps: int = 1000, seed: int = 0) -> list[float]:
    """Interval of a plain accuracy (one class, one operation, one curve point)."""
    hits = np.asarray(correct, dtype=float)
    if not hits.size:
        return [float("nan"), float("nan")]
    idx = np.random.default_rng(seed).integers(0, hits.size, size=(reps, hits.size))
    return interval(hits[idx].mean(axis=1))


def balanced_predictions(probs: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Class-prior correction for a test set known to be balanced (as the challenge's was).

    Rescales each class's column so that the columns sum equally (Sinkhorn balancing), then
    takes the argmax: a model that over-predicts one camera on new devices loses that bias.
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None)
    if p.ndim != 2 or not p.size:
        return np.zeros(0, dtype=int)
    target = p.shape[0] / p.shape[1]
    for _ in range(iterations):
        p *= target / p.sum(axis=0, keepdims=True)
        p /= p.sum(axis=1, keepdims=True)
    return np.asarray(p.argmax(axis=1))
