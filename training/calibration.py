"""``calibration.json``: what turns a network's crop scores into a forensic verdict.

Fitted on the validation split (devices training never saw, which also chose the checkpoint) by
``camid evaluate``; read by ``camid predict`` and ``camid export-model``. It holds the crop layout
the fit used (a temperature is only valid for the evidence it was fitted on, so ``predict``
reuses it), the temperature, the class prototypes in feature space (mean feature of training
images) and the shrunk within-class covariance of their crops (low-rank, ``forensic.Whitening``),
the open-set score chosen and every score's threshold for the stated false-alarm rate, and the
EXIF likelihood-ratio threshold with its error rates as measured on the test split.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import CamidError
from pipeline.manifest import Manifest
from pipeline.records import ManifestRow
from training.augment import grid_of
from training.evidence import CropLayout, image_evidence
from training.forensic import (
    OPEN_SET_SCORES,
    ImageEvidence,
    Whitening,
    fit_temperature,
    fit_whitening,
    open_set_score,
    threshold_for,
)
from training.imageio import decode_rgb
from training.inference import LoadedModel
from training.rundir import atomic_write_text

FORMAT = "camid-calibration/1"
FILE = "calibration.json"
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Calibration:
    """The fitted forensic settings of one run."""

    temperature: float
    layout: CropLayout
    open_set_method: str
    threshold: float  # an image whose open-set score is above it is ``unknown``
    false_alarm: float  # the share of validation images of known cameras flagged, as asked
    thresholds: dict[str, float]  # every method's threshold at the same false-alarm rate
    prototypes: list[list[float]]  # classes x feature dimension
    val_images: int
    # the shrunk within-class feature covariance (``forensic.Whitening``), for ``mahalanobis``
    whitening_basis: list[list[float]] = field(default_factory=list)
    whitening_variances: list[float] = field(default_factory=list)
    whitening_residual: float = 1.0
    exif_threshold: float = 1.0  # EXIF camera supported when the likelihood ratio is at least this
    measured: dict[str, Any] = field(default_factory=dict)  # error rates on the test split
    format: str = FORMAT

    @property
    def prototype_array(self) -> np.ndarray:
        return np.asarray(self.prototypes, dtype=np.float64)

    def unknown_score(self, evidence: ImageEvidence, method: str | None = None) -> float:
        method = method or self.open_set_method
        return open_set_score(method, evidence, self.temperature, self.prototype_array, self.whitening)

    @property
    def whitening(self) -> Whitening | None:
        if not self.whitening_variances:
            return None
        return Whitening(np.asarray(self.whitening_basis, dtype=np.float64),
                         np.asarray(self.whitening_variances, dtype=np.float64), self.whitening_residual)


def path_of(run_dir: Path) -> Path:
    return Path(run_dir) / FILE


def write_calibration(run_dir: Path, calibration: Calibration) -> None:
    atomic_write_text(path_of(run_dir), json.dumps(asdict(calibration), indent=2, sort_keys=True) + "\n")


def read_calibration(run_dir: Path) -> Calibration | None:
    """The run's calibration, or None when ``camid evaluate`` has not fitted one yet."""
    path = path_of(run_dir)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CamidError(f"{path}: unreadable: {exc}") from None
    if doc.get("format") != FORMAT:
        raise CamidError(f"{path}: unsupported calibration format {doc.get('format')!r}")
    try:
        return Calibration(**{**doc, "layout": CropLayout(**doc["layout"])})
    except (TypeError, KeyError) as exc:
        raise CamidError(f"{path}: unreadable: {exc}") from None


def with_measured(calibration: Calibration, measured: dict[str, Any]) -> Calibration:
    return replace(calibration, measured=measured)


def evidence_of(loaded: LoadedModel, manifest: Manifest, rows: Sequence[ManifestRow], layout: CropLayout,
                batch_size: int = 16, progress: Progress | None = None) -> list[ImageEvidence]:
    """Whole-image evidence of each manifest row, in order."""
    out = []
    for index, row in enumerate(rows):
        pixels = decode_rgb(manifest.image_path(row))
        grid = grid_of(row.subsampling, loaded.config.grid)
        out.append(image_evidence(loaded, pixels, layout, grid, batch_size)[0])
        if progress:
            progress(index + 1, len(rows))
    return out


def prototypes_of(evidence: Sequence[ImageEvidence], labels: Sequence[int],
                  classes: int) -> tuple[np.ndarray, Whitening]:
    """Each class's mean image feature (a zero row for a class without images), and the shrunk
    covariance of the crops' features around their class's prototype (crops: more samples than
    images, for the same decoding)."""
    features = np.array([e.feature for e in evidence])
    rows = np.array([features[np.asarray(labels) == c].mean(axis=0) if c in labels
                     else np.zeros(features.shape[1]) for c in range(classes)])
    centred = np.concatenate([e.crop_features - rows[y] for e, y in zip(evidence, labels, strict=True)])
    return rows, fit_whitening(centred)


def _compact(values: np.ndarray) -> Any:
    """Nested lists rounded to 7 significant digits (float32's precision): half the JSON, and the
    thresholds are computed from the rounded values, so a reloaded calibration scores the same."""
    return np.vectorize(lambda v: float(f"{v:.7g}"), otypes=[float])(values).tolist() if values.size \
        else values.tolist()


def fit(val: Sequence[ImageEvidence], val_labels: Sequence[int], prototypes: np.ndarray, layout: CropLayout,
        method: str, false_alarm: float, whitening: Whitening) -> Calibration:
    """Temperature on validation, then each open-set score's threshold for ``false_alarm``."""
    if method not in OPEN_SET_SCORES:
        raise CamidError(f"--open-set-score must be one of {', '.join(OPEN_SET_SCORES)}, not {method!r}")
    if not 0.0 < false_alarm < 1.0:
        raise CamidError(f"--false-alarm must be between 0 and 1 (got {false_alarm})")
    if not val:
        raise CamidError("calibration needs validation images: the dataset's val split is empty "
                         "(or evaluate with --no-forensic)")
    temperature = fit_temperature(np.array([e.score for e in val]), val_labels)
    partial = Calibration(temperature, layout, method, 0.0, false_alarm, {}, _compact(prototypes), len(val),
                          _compact(whitening.basis), _compact(whitening.variances), whitening.residual)
    thresholds = {m: threshold_for([partial.unknown_score(e, m) for e in val], false_alarm)
                  for m in OPEN_SET_SCORES}
    return replace(partial, threshold=thresholds[method], thresholds=thresholds)
