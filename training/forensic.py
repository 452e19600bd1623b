"""The forensic arithmetic: aggregation, temperature scaling, calibration error, open-set scores.

Pure numpy, so every rule here is tested table-driven and used alike by ``camid evaluate`` (which
fits and measures) and ``camid predict`` (which applies).

- **Aggregation**: an image's evidence is many crops. Their log-probabilities are averaged (a
  geometric mean of the crops' distributions), and the temperature is fitted to that image-level
  score, so what ``predict`` reports is what was calibrated.
- **Temperature scaling** (Guo et al., "On calibration of modern neural networks", ICML 2017):
  one scalar T minimising the validation split's negative log-likelihood of softmax(z / T).
- **Expected calibration error**: equal-width confidence bins (15), |accuracy - confidence|
  weighted by bin share.
- **Open set**: three scores, higher = more likely a camera outside the classes: 1 - the maximum
  calibrated probability (Hendrycks & Gimpel 2017), the negative energy -T logsumexp(z / T) (Liu
  et al. 2020), and the cosine distance of the image's mean feature to the nearest class
  prototype (mean training feature), and the Mahalanobis distance to the nearest prototype
  under the features' shared within-class covariance (Lee et al., NeurIPS 2018), shrunk toward
  a scaled identity so a few hundred training crops give an invertible estimate, and kept as its
  top ``WHITENING_RANK`` eigenvectors plus one residual variance, so a 2,208-dimensional
  DenseNet feature needs 256 x 2,208 numbers rather than 2,208 squared (exact when the feature
  has at most that many dimensions). The threshold is the validation quantile that flags the
  stated share of known-camera images (the false-alarm rate).
- **EXIF check**: the likelihood ratio of the EXIF's camera against the others, under equal
  priors: p_e (K - 1) / (1 - p_e) from the calibrated posterior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OPEN_SET_SCORES = ("max_probability", "energy", "prototype", "mahalanobis")
ECE_BINS = 15
WHITENING_RANK = 256
SHRINK = 0.1  # weight of the scaled identity in the shrunk covariance
_TINY = 1e-12


@dataclass(frozen=True, slots=True)
class ImageEvidence:
    """What the crops of one image say: per-crop logits and features, and their image-level summary."""

    crop_logits: np.ndarray  # crops x classes
    crop_features: np.ndarray  # crops x feature dimension (the classifier's input)

    @property
    def score(self) -> np.ndarray:
        """The image-level score calibration acts on: the crops' mean log-probability."""
        return aggregate(self.crop_logits)

    @property
    def mean_logits(self) -> np.ndarray:
        return np.asarray(self.crop_logits, dtype=np.float64).mean(axis=0)

    @property
    def feature(self) -> np.ndarray:
        return np.asarray(self.crop_features, dtype=np.float64).mean(axis=0)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of logits (any leading shape, classes last)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def aggregate(crop_logits: np.ndarray) -> np.ndarray:
    """One image's score from its crops' logits (crops x classes): the mean log-probability."""
    return log_softmax(np.asarray(crop_logits, dtype=np.float64)).mean(axis=0)


def calibrated(score: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities from image-level scores (images x classes, or one vector) at ``temperature``."""
    return softmax(np.asarray(score, dtype=np.float64) / temperature)


def nll(scores: np.ndarray, labels: Sequence[int], temperature: float) -> float:
    """Mean negative log-likelihood of the true labels at ``temperature``."""
    logp = log_softmax(np.asarray(scores, dtype=np.float64) / temperature)
    return float(-logp[np.arange(len(labels)), np.asarray(labels)].mean())


def fit_temperature(scores: np.ndarray, labels: Sequence[int], low: float = 0.05,
                    high: float = 50.0) -> float:
    """The T minimising ``nll`` (golden-section search over log T; the NLL is unimodal in it)."""
    if len(labels) == 0:
        return 1.0
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    for _ in range(80):
        if nll(scores, labels, float(np.exp(c))) < nll(scores, labels, float(np.exp(d))):
            b, d = d, c
            c = b - ratio * (b - a)
        else:
            a, c = c, d
            d = a + ratio * (b - a)
    return float(np.exp((a + b) / 2))


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int], bins: int = ECE_BINS) -> float:
    """ECE of the top-1 confidence over ``bins`` equal-width bins (0 when there is nothing to score):
    each bin's |accuracy - mean confidence|, weighted by its share of the images."""
    points = reliability(probs, labels, bins)
    total = sum(count for _, _, count in points)
    return float(sum(count * abs(hits - confidence) for confidence, hits, count in points) / total) \
        if total else 0.0


def reliability(probs: np.ndarray, labels: Sequence[int],
                bins: int = ECE_BINS) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, count) of each non-empty bin: the reliability diagram's points."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return []
    confidence, hits = probs.max(axis=1), probs.argmax(axis=1) == np.asarray(labels)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    return [(float(confidence[index == b].mean()), float(hits[index == b].mean()), int((index == b).sum()))
            for b in range(bins) if (index == b).any()]


def cosine_distance(feature: np.ndarray, prototypes: np.ndarray) -> float:
    """1 - the largest cosine similarity between ``feature`` and any prototype row."""
    f = feature / max(float(np.linalg.norm(feature)), _TINY)
    p = prototypes / np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), _TINY)
    return float(1.0 - (p @ f).max())


@dataclass(frozen=True, slots=True)
class Whitening:
    """The shrunk covariance as ``basis`` (r x d orthonormal rows), their ``variances`` and the
    one ``residual`` variance of every direction outside the basis."""

    basis: np.ndarray
    variances: np.ndarray
    residual: float


def fit_whitening(centred: np.ndarray, shrink: float = SHRINK, rank: int = WHITENING_RANK) -> Whitening:
    """From features minus their class prototype: (1 - shrink) C + shrink (tr C / d) I, low-rank."""
    centred = np.asarray(centred, dtype=np.float64)
    dim = centred.shape[1]
    cov = centred.T @ centred / max(len(centred), 1)
    floor = max(float(np.trace(cov)) / dim, _TINY)
    values, vectors = np.linalg.eigh(cov)  # ascending
    keep = min(rank, dim)
    top, rest = values[::-1][:keep], values[::-1][keep:]
    residual = (1 - shrink) * (float(rest.mean()) if len(rest) else 0.0) + shrink * floor
    return Whitening(vectors[:, ::-1][:, :keep].T, (1 - shrink) * np.clip(top, 0, None) + shrink * floor,
                     residual)


def mahalanobis_distance(feature: np.ndarray, prototypes: np.ndarray, w: Whitening) -> float:
    """Root of the smallest squared Mahalanobis distance to a prototype, per feature dimension."""
    gaps = feature[None, :] - prototypes
    along = gaps @ w.basis.T
    inside = (along**2 / w.variances[None, :]).sum(axis=1)
    outside = np.maximum((gaps**2).sum(axis=1) - (along**2).sum(axis=1), 0.0) / w.residual
    return float(np.sqrt((inside + outside).min() / feature.shape[0]))


def open_set_score(method: str, evidence: ImageEvidence, temperature: float,
                   prototypes: np.ndarray | None = None, whitening: Whitening | None = None) -> float:
    """How unlike the known cameras one image is (higher: more likely unknown), by ``method``."""
    if method == "max_probability":
        return float(1.0 - calibrated(evidence.score, temperature).max())
    if method == "energy":  # on the mean raw logits: the log-probabilities have lost their scale
        z = evidence.mean_logits / temperature
        top = float(z.max())
        return float(-temperature * (top + np.log(np.exp(z - top).sum())))
    if method == "prototype":
        if prototypes is None:
            raise ValueError("the prototype score needs the class prototypes")
        return cosine_distance(evidence.feature, prototypes)
    if method == "mahalanobis":
        if prototypes is None or whitening is None:
            raise ValueError("the mahalanobis score needs the class prototypes and the feature covariance")
        return mahalanobis_distance(evidence.feature, prototypes, whitening)
    raise ValueError(f"unknown open-set score {method!r} (one of {', '.join(OPEN_SET_SCORES)})")


def threshold_for(known_scores: Sequence[float], false_alarm: float) -> float:
    """The score above which at most ``false_alarm`` of these known-camera images lie."""
    values = np.sort(np.asarray(known_scores, dtype=np.float64))
    if len(values) == 0:
        return float("inf")
    keep = int(np.ceil((1.0 - false_alarm) * len(values))) - 1  # the highest score still called known
    return float(values[min(max(keep, 0), len(values) - 1)])


def flagged_share(scores: Sequence[float], threshold: float) -> float | None:
    """The share of scores above ``threshold`` (None for no scores)."""
    values = np.asarray(scores, dtype=np.float64)
    return float((values > threshold).mean()) if len(values) else None


def auroc(known: Sequence[float], unknown: Sequence[float]) -> float | None:
    """P(an unknown image scores above a known one), ties counting half (Mann-Whitney U)."""
    k, u = np.asarray(known, dtype=np.float64), np.asarray(unknown, dtype=np.float64)
    return _area(k, u) if len(k) and len(u) else None


def _area(k: np.ndarray, u: np.ndarray) -> float:
    above = (u[:, None] > k[None, :]).sum() + 0.5 * (u[:, None] == k[None, :]).sum()
    return float(above / (len(k) * len(u)))


def auroc_interval(known: Sequence[float], unknown: Sequence[float], resamples: int = 1000,
                   seed: int = 0) -> list[float]:
    """Bootstrap 95% interval of ``auroc``, known and unknown images resampled separately."""
    k, u = np.asarray(known, dtype=np.float64), np.asarray(unknown, dtype=np.float64)
    if len(k) == 0 or len(u) == 0 or resamples < 1:
        return []
    rng = np.random.default_rng(seed)
    areas = [_area(rng.choice(k, len(k)), rng.choice(u, len(u))) for _ in range(resamples)]
    return [float(np.percentile(areas, 2.5)), float(np.percentile(areas, 97.5))]


def likelihood_ratio(probs: np.ndarray, claimed: int) -> float:
    """Evidence for the ``claimed`` class against the others, equal priors: p (K - 1) / (1 - p)."""
    p = float(np.clip(probs[claimed], _TINY, 1.0 - _TINY))
    return p * (len(probs) - 1) / (1.0 - p)
