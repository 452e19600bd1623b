"""`camid predict`: which camera took an image, from its pixels, and does its EXIF agree?

The forensic question: EXIF is easy to edit, pixels carry the sensor's and the camera's own
processing traces. The run remembers which EXIF cameras (Make + Model) its training files of each
class carried, so a file whose EXIF names one of them can be checked against the prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import CamidError
from training.alterations import centre_crop, tta_views
from training.imageio import camera_key, decode_rgb, exif_camera
from training.inference import LoadedModel, averaged, load_run


@dataclass(frozen=True, slots=True)
class Prediction:
    """The top classes for one image, and what its EXIF says."""

    path: str
    top: tuple[tuple[str, float], ...]
    exif_camera: str | None
    exif_class: str | None
    agrees: bool | None
    error: str | None = None


def predict(run_dir: str | Path, paths: Sequence[str], top: int = 3, tta: bool = False,
            crop_size: int | None = None, device: str = "auto") -> tuple[Prediction, ...]:
    """Predictions for each path; an unreadable file gets a Prediction with ``error`` set."""
    loaded = load_run(run_dir, device)
    size = crop_size or max(loaded.info.input_size, 512)
    out = []
    for path in paths:
        try:
            out.append(_predict_one(loaded, path, top, tta, size))
        except CamidError as exc:
            out.append(Prediction(str(path), (), None, None, None, error=str(exc)))
    return tuple(out)


def _predict_one(loaded: LoadedModel, path: str, top: int, tta: bool, size: int) -> Prediction:
    crop = centre_crop(decode_rgb(path), size, loaded.info.grid)
    views = tta_views(crop, loaded.info.input_size, corners=True, d4=True) if tta else [crop]
    probs = averaged(loaded, views)
    order = probs.argsort()[::-1][:top]
    ranked = tuple((loaded.info.classes[i], round(float(probs[i]), 6)) for i in order)
    found = exif_camera(path)
    camera = " ".join(found).strip() if found else None
    exif_class = _class_of(loaded, camera_key(*found)) if found else None
    agrees = (exif_class == ranked[0][0]) if exif_class else None
    return Prediction(str(path), ranked, camera, exif_class, agrees)


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
    ranked = ", ".join(f"{name} {prob:.3f}" for name, prob in p.top)
    if p.exif_camera is None:
        verdict = "EXIF names no camera"
    elif p.exif_class is None:
        verdict = f"EXIF says {p.exif_camera}, a camera this model was not trained on"
    elif p.agrees:
        verdict = f"EXIF says {p.exif_camera} ({p.exif_class}): the pixels agree"
    else:
        verdict = f"EXIF says {p.exif_camera} ({p.exif_class}): the pixels DISAGREE"
    return f"{p.path}: {ranked} | {verdict}"
