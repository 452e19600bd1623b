"""The forensic part of ``camid evaluate``: fit the calibration, then measure what it claims.

On whole images (the crop layout ``predict`` uses), never on the challenge's altered centre
crops: the question is how a verdict on a file behaves.

1. Prototypes: the mean feature of up to ``prototype_per_class`` training images per class.
2. Validation: the temperature, and each open-set score's threshold at ``false_alarm``.
3. The scored split (test; validation only when there is none): accuracy, expected calibration
   error before and after scaling, the false-alarm rate the threshold really gives, and the EXIF
   check's error rates (each image's own camera as a true claim, every other class as a forged
   one: a claim is supported when the likelihood ratio is at least 1).
4. ``heldout.csv`` (cameras exported with ``--hold-out``): AUROC of each open-set score against
   the scored split's known-camera images, and the share of held-out images called unknown.

The results go to ``metrics.json`` (``forensic``), ``calibration.json`` (fit and error rates)
and ``reliability.png``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.manifest import Manifest
from pipeline.records import ManifestRow, Tick
from training import calibration as cal
from training import forensic as fx
from training import plots
from training.config import EvalConfig
from training.evidence import CropLayout
from training.inference import LoadedModel


def layout_of(cfg: EvalConfig) -> CropLayout:
    return CropLayout(cfg.evidence_crop or cfg.crop_size, cfg.evidence_stride, cfg.evidence_max_crops,
                      cfg.evidence_layout, cfg.evidence_d4)


def forensic_evaluate(loaded: LoadedModel, manifest: Manifest, split: str, run_dir: Path, cfg: EvalConfig,
                      tick: Tick | None = None) -> dict[str, Any]:
    """Fit ``calibration.json`` on validation, measure it on ``split`` and the held-out cameras."""
    layout, classes = layout_of(cfg), list(manifest.classes)

    def evidence(name: str, rows: Sequence[ManifestRow]) -> list[fx.ImageEvidence]:
        return cal.evidence_of(loaded, manifest, rows, layout, cfg.batch_size,
                               (lambda done, total: tick(f"forensic {name}", done, total)) if tick else None)

    sample = _per_class_sample(manifest.train, classes, cfg.prototype_per_class, cfg.seed)
    prototype_images = evidence("prototypes", sample)
    prototypes, whitening = cal.prototypes_of(prototype_images, _labels(sample, classes), len(classes))
    fitted = cal.fit(evidence("val", manifest.val), _labels(manifest.val, classes), prototypes, layout,
                     cfg.open_set_score, cfg.false_alarm, whitening)
    rows = getattr(manifest, split)
    known, labels = evidence(split, rows), _labels(rows, classes)
    heldout = evidence("heldout", manifest.heldout) if manifest.heldout else []
    result = measure(fitted, known, labels, heldout, cfg.bootstrap)
    result.update(split=split, n_images=len(rows), n_heldout=len(heldout),
                  heldout_cameras=sorted({r.label for r in manifest.heldout}), layout=_layout_json(layout),
                  prototype_images=len(sample))
    cal.write_calibration(run_dir, cal.with_measured(fitted, {k: result[k] for k in
                          ("split", "n_images", "accuracy", "ece_before", "ece_after", "exif", "open_set",
                           "open_set_auroc", "false_alarm_measured", "heldout_cameras")}))
    before = fx.calibrated(np.array([e.score for e in known]), 1.0) if known else np.zeros((0, len(classes)))
    after = fx.calibrated(np.array([e.score for e in known]), fitted.temperature) if known else before
    plots.reliability_diagram(fx.reliability(before, labels), fx.reliability(after, labels),
                              result["ece_before"], result["ece_after"], run_dir / "reliability.png")
    return result


def measure(fitted: cal.Calibration, known: Sequence[fx.ImageEvidence], labels: Sequence[int],
            heldout: Sequence[fx.ImageEvidence], resamples: int = 1000) -> dict[str, Any]:
    """What the fitted calibration gives on known-camera images and on held-out cameras."""
    scores = np.array([e.score for e in known])
    before, after = fx.calibrated(scores, 1.0), fx.calibrated(scores, fitted.temperature)
    open_set = {}
    for method, threshold in fitted.thresholds.items():
        k = [fitted.unknown_score(e, method) for e in known]
        u = [fitted.unknown_score(e, method) for e in heldout]
        open_set[method] = {"auroc": fx.auroc(k, u), "auroc_ci95": fx.auroc_interval(k, u, resamples),
                            "threshold": threshold,
                            "false_alarm": fx.flagged_share(k, threshold),
                            "detection_rate": fx.flagged_share(u, threshold)}
    chosen = open_set[fitted.open_set_method]
    hits = after.argmax(1) == np.asarray(labels)
    return {"temperature": fitted.temperature, "accuracy": float(hits.mean()) if len(hits) else None,
            "ece_before": fx.expected_calibration_error(before, labels),
            "ece_after": fx.expected_calibration_error(after, labels),
            "nll_before": fx.nll(scores, labels, 1.0),
            "nll_after": fx.nll(scores, labels, fitted.temperature),
            "open_set_score": fitted.open_set_method, "open_set": open_set,
            "open_set_auroc": chosen["auroc"], "open_set_auroc_ci95": chosen["auroc_ci95"],
            "false_alarm_target": fitted.false_alarm,
            "false_alarm_measured": chosen["false_alarm"], "unknown_detection_rate": chosen["detection_rate"],
            "exif": exif_rates(after, labels, fitted.exif_threshold)}


def exif_rates(probs: np.ndarray, labels: Sequence[int], threshold: float) -> dict[str, Any]:
    """Error rates of "the pixels support the EXIF's camera" (likelihood ratio >= ``threshold``).

    A true claim names the image's own class; a forged claim each other class, in turn.
    """
    genuine = [fx.likelihood_ratio(p, y) for p, y in zip(probs, labels, strict=True)]
    forged = [fx.likelihood_ratio(p, c) for p, y in zip(probs, labels, strict=True)
              for c in range(probs.shape[1]) if c != y]
    return {"threshold": threshold, "n_genuine": len(genuine), "n_forged": len(forged),
            "false_disagree": float(np.mean([r < threshold for r in genuine])) if genuine else None,
            "false_agree": float(np.mean([r >= threshold for r in forged])) if forged else None}


def _labels(rows: Sequence[ManifestRow], classes: list[str]) -> list[int]:
    return [classes.index(r.label) for r in rows]


def _per_class_sample(rows: Sequence[ManifestRow], classes: list[str], per_class: int,
                      seed: int) -> list[ManifestRow]:
    rng = np.random.default_rng(seed)
    out: list[ManifestRow] = []
    for name in classes:
        mine = [r for r in rows if r.label == name]
        out.extend(mine[int(i)] for i in sorted(rng.permutation(len(mine))[:per_class]))
    return out


def _layout_json(layout: CropLayout) -> dict[str, Any]:
    return {"size": layout.size, "stride": layout.stride or layout.size, "max_crops": layout.max_crops,
            "layout": layout.layout, "d4": layout.d4}
