"""``calibration.json``: what turns a network's crop scores into a forensic verdict.

Fitted on the validation split (devices training never saw, which also chose the checkpoint) by
``camid evaluate``; read by ``camid predict`` and ``camid export-model``. It holds the crop layout
the fit used (a temperature is only valid for the evidence it was fitted on, so ``predict``
reuses it), the temperature, the class prototypes in feature space (mean feature of training
images), the open-set score chosen and its threshold for the stated false-alarm rate, and the
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
    fit_temperature,
    open_set_score,
    threshold_for,
    within_class_spread,
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
    feature_scale: list[float] = field(default_factory=list)  # per-dimension within-class spread
    exif_threshold: float = 1.0  # EXIF camera supported when the likelihood ratio is at least this
    measured: dict[str, Any] = field(default_factory=dict)  # error rates on the test split
    format: str = FORMAT

    @property
    def prototype_array(self) -> np.ndarray:
        return np.asarray(self.prototypes, dtype=np.float64)

    def unknown_score(self, evidence: ImageEvidence, method: str | None = None) -> float:
        method = method or self.open_set_method
        scale = np.asarray(self.feature_scale, dtype=np.float64) if self.feature_scale else None
        return open_set_score(method, evidence, self.temperature, self.prototype_array, scale)


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
                  classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class's mean image feature (a zero row for a class without images), and the features'
    pooled within-class spread per dimension."""
    features = np.array([e.feature for e in evidence])
    rows = [features[np.asarray(labels) == c].mean(axis=0) if c in labels else np.zeros(features.shape[1])
            for c in range(classes)]
    return np.array(rows), within_class_spread(features, labels)


def fit(val: Sequence[ImageEvidence], val_labels: Sequence[int], prototypes: np.ndarray, layout: CropLayout,
        method: str, false_alarm: float, scale: np.ndarray | None = None) -> Calibration:
    """Temperature on validation, then each open-set score's threshold for ``false_alarm``."""
    if method not in OPEN_SET_SCORES:
        raise CamidError(f"--open-set-score must be one of {', '.join(OPEN_SET_SCORES)}, not {method!r}")
    if not 0.0 < false_alarm < 1.0:
        raise CamidError(f"--false-alarm must be between 0 and 1 (got {false_alarm})")
    if not val:
        raise CamidError("calibration needs validation images: the dataset's val split is empty "
                         "(or evaluate with --no-forensic)")
    temperature = fit_temperature(np.array([e.score for e in val]), val_labels)
    spread = scale if scale is not None else np.ones(prototypes.shape[1])
    partial = Calibration(temperature, layout, method, 0.0, false_alarm, {}, prototypes.tolist(), len(val),
                          spread.tolist())
    thresholds = {m: threshold_for([partial.unknown_score(e, m) for e in val], false_alarm)
                  for m in OPEN_SET_SCORES}
    return replace(partial, threshold=thresholds[method], thresholds=thresholds)
