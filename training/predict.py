"""`camid predict`: which camera model took an image, how sure, is it a known one, does the EXIF agree?

EXIF is easy to edit; pixels carry the sensor's and the camera's own processing traces. Each
image is cut into grid-aligned crops (``training.evidence``), the crops' log-probabilities are
averaged, and the run's ``calibration.json`` (written by ``camid evaluate``) turns that into:

- ``top``: calibrated probabilities (temperature scaling on the validation split);
- ``unknown`` / ``unknown_score``: the open-set score and whether it is above the threshold
  chosen for a stated false-alarm rate on known cameras;
- ``exif_label`` / ``pixels_agree`` / ``likelihood_ratio``: when the EXIF names a camera the run
  was trained on, the evidence for it against the other classes (equal priors) and whether that
  supports it (ratio >= the calibration's threshold, 1 by default).

Without ``calibration.json`` the probabilities are the raw softmax (temperature 1) and no image
is called unknown; the output says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import CamidError
from training import forensic as fx
from training.augment import grid_of
from training.calibration import Calibration, read_calibration
from training.evidence import CropBox, CropLayout, image_evidence, spread
from training.imageio import camera_key, decode_rgb, exif_camera, jpeg_subsampling
from training.inference import LoadedModel, load_run

Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Ranked:
    label: str
    probability: float


@dataclass(frozen=True, slots=True)
class CropVote:
    """One crop's own top class, where it lies in the image."""

    x: int
    y: int
    size: int
    label: str
    probability: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """The verdict on one image (``error`` set, and nothing else, for an unreadable file)."""

    path: str
    top: tuple[Ranked, ...] = ()
    unknown: bool | None = None  # None: the run is not calibrated for the open set
    unknown_score: float | None = None
    exif_camera: str | None = None
    exif_label: str | None = None
    pixels_agree: bool | None = None
    likelihood_ratio: float | None = None
    crops: tuple[CropVote, ...] = ()
    spread: dict[str, float] = field(default_factory=dict)
    calibrated: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Predictor:
    """A loaded run with the layout and calibration its verdicts use."""

    loaded: LoadedModel
    layout: CropLayout
    calibration: Calibration | None

    @property
    def temperature(self) -> float:
        return self.calibration.temperature if self.calibration else 1.0


def predictor(run_dir: str | Path, layout: dict[str, Any] | None = None, device: str = "auto",
              warn: Warn | None = None) -> Predictor:
    """The run's model and calibration; ``layout`` overrides parts of the calibrated crop layout."""
    loaded, calibration = load_run(run_dir, device), read_calibration(Path(run_dir))
    base = calibration.layout if calibration else CropLayout(size=max(loaded.info.input_size, 512))
    chosen = replace(base, **(layout or {}))
    if warn and calibration is None:
        warn(f"{run_dir}: no calibration.json (run `camid evaluate` first): probabilities are the raw "
             "softmax and no image is called unknown")
    elif warn and calibration and chosen != calibration.layout:
        warn(f"the crop layout differs from the calibrated one ({calibration.layout}): the temperature and "
             "the unknown threshold were fitted for that one")
    return Predictor(loaded, chosen, calibration)


def predict(run_dir: str | Path, paths: Sequence[str], top: int = 3, layout: dict[str, Any] | None = None,
            device: str = "auto", warn: Warn | None = None,
            heatmaps: Path | None = None) -> tuple[Prediction, ...]:
    """Verdicts for each path; an unreadable file gets a Prediction with ``error`` set.

    With ``heatmaps`` a PNG per image of its crops' own votes goes there (``NN-STEM.png``).
    """
    chosen = predictor(run_dir, layout, device, warn)
    if heatmaps:
        heatmaps.mkdir(parents=True, exist_ok=True)
    out = []
    for index, path in enumerate(paths):
        try:
            verdict, pixels = predict_one(chosen, path, top)
        except CamidError as exc:
            out.append(Prediction(str(path), error=str(exc)))
            continue
        if heatmaps:
            target = heatmaps / f"{index:03d}-{Path(path).stem}.png"
            write_heatmap(verdict, pixels, chosen.loaded.info.classes, target)
        out.append(verdict)
    return tuple(out)


def write_heatmap(p: Prediction, pixels: np.ndarray, classes: Sequence[str], target: Path) -> None:
    from training.plots import crop_heatmap

    votes = [(c.x, c.y, c.size, list(classes).index(c.label), c.probability) for c in p.crops]
    best = p.top[0]
    title = f"{Path(p.path).name}: {best.label} {best.probability:.3f}"
    title += " (unknown camera?)" if p.unknown else ""
    crop_heatmap(pixels, votes, classes, target, title)


def predict_one(p: Predictor, path: str, top: int = 3) -> tuple[Prediction, np.ndarray]:
    """One image's verdict, and its pixels (for a heatmap)."""
    pixels = decode_rgb(path)
    grid = grid_of(jpeg_subsampling(path), p.loaded.config.grid)
    evidence, boxes = image_evidence(p.loaded, pixels, p.layout, grid)
    classes = p.loaded.info.classes
    probs = fx.calibrated(evidence.score, p.temperature)
    order = probs.argsort()[::-1][:top]
    found = exif_camera(path)
    camera = " ".join(found).strip() if found else None
    exif_label = _class_of(p.loaded, camera_key(*found)) if found else None
    ratio = fx.likelihood_ratio(probs, classes.index(exif_label)) if exif_label else None
    threshold = p.calibration.exif_threshold if p.calibration else 1.0
    score = p.calibration.unknown_score(evidence) if p.calibration else None
    return Prediction(
        str(path), tuple(Ranked(classes[i], round(float(probs[i]), 6)) for i in order),
        unknown=(score > p.calibration.threshold) if p.calibration and score is not None else None,
        unknown_score=score, exif_camera=camera, exif_label=exif_label,
        pixels_agree=(ratio >= threshold) if ratio is not None else None, likelihood_ratio=ratio,
        crops=_votes(evidence.crop_logits, boxes, classes), spread=spread(evidence, int(order[0])),
        calibrated=p.calibration is not None), pixels


def _votes(logits: np.ndarray, boxes: Sequence[CropBox], classes: Sequence[str]) -> tuple[CropVote, ...]:
    probs = fx.softmax(logits)
    return tuple(CropVote(b.x, b.y, b.size, classes[int(row.argmax())], round(float(row.max()), 6))
                 for b, row in zip(boxes, probs, strict=True))


def _class_of(loaded: LoadedModel, key: str) -> str | None:
    """The class whose training files carried this EXIF camera, if any did."""
    for name, keys in loaded.info.cameras.items():
        if key in keys:
            return name
    return None


def describe(p: Prediction) -> str:
    """One human line per image."""
    if p.error:
        return f"{p.path}: error: {p.error}"
    ranked = ", ".join(f"{r.label} {r.probability:.3f}" for r in p.top)
    agreeing = p.spread.get("agreeing_crops", 0.0)
    evidence = f"{len(p.crops)} crops, {agreeing:.0%} agree"
    if p.unknown is None:
        known = "not calibrated: run `camid evaluate` for the unknown-camera check"
    else:
        known = f"UNKNOWN camera? (score {p.unknown_score:.3g})" if p.unknown else \
            f"a known camera (score {p.unknown_score:.3g})"
    if p.exif_camera is None:
        verdict = "EXIF names no camera"
    elif p.exif_label is None:
        verdict = f"EXIF says {p.exif_camera}, a camera this model was not trained on"
    else:
        says = "agree" if p.pixels_agree else "DISAGREE"
        verdict = (f"EXIF says {p.exif_camera} ({p.exif_label}): the pixels {says} "
                   f"(likelihood ratio {p.likelihood_ratio:.3g})")
    return f"{p.path}: {ranked} | {evidence} | {known} | {verdict}"


def as_json(p: Prediction) -> dict[str, Any]:
    """The JSON Lines record of one verdict."""
    return asdict(p)
