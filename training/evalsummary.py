"""What ``camid evaluate`` reports: the challenge score with its intervals, per class and operation.

Every accuracy comes with a bootstrap 95% interval (``training.bootstrap``), the split it was
measured on is named, and beside the network's numbers sit the trivial baseline's and the
class-prior-corrected ones, so a reader sees what the network adds and how much a balanced-test
assumption would change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.alterations import CHALLENGE_OPS, UNALTERED, Alteration
from training.bootstrap import accuracy_intervals, balanced_predictions, plain_interval
from training.config import EvalConfig
from training.protocol import weighted_score


@dataclass(frozen=True, slots=True)
class Scored:
    """One scored crop: which image, which alteration, the prediction and its loss."""

    index: int
    label: int
    op: Alteration
    predicted: int
    loss: float
    probs: tuple[float, ...] = ()
    baseline: int | None = None  # the trace-feature baseline's prediction of the same crop


@dataclass(frozen=True, slots=True)
class CurvePoint:
    family: str
    value: float
    accuracy: float
    loss: float
    n: int
    ci95: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EvalContext:
    """How the scored split came about (not computed from the scores)."""

    split: str = "val"
    split_note: str | None = None
    test_devices_unseen: bool | None = None
    finished_model: bool = True


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What ``metrics.json`` holds."""

    weighted_accuracy: float
    accuracy_unaltered: float
    accuracy_altered: float
    loss: float
    n_images: int
    per_class: dict[str, dict[str, Any]]
    per_operation: dict[str, dict[str, Any]]  # accuracy is None with no images
    confusion: list[list[int]]
    classes: list[str]
    curves: list[CurvePoint]
    crop_size: int
    tta: bool
    tta_d4: bool
    finished_model: bool
    split: str = "val"
    split_note: str | None = None
    test_devices_unseen: bool | None = None
    ci95: dict[str, list[float]] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None
    prior_corrected: dict[str, Any] | None = None
    forensic: dict[str, Any] | None = None  # whole-image calibration and open set (training.forensic_eval)


def _accuracy(items: list[Scored]) -> float | None:
    return sum(s.predicted == s.label for s in items) / len(items) if items else None


def _with_ci(items: list[Scored], cfg: EvalConfig, **extra: Any) -> dict[str, Any]:
    return {"accuracy": _accuracy(items), "n": len(items), **extra,
            "ci95": plain_interval([s.predicted == s.label for s in items], cfg.bootstrap, cfg.seed)}


def summarise(scored: list[Scored], classes: list[str], cfg: EvalConfig, curves: list[CurvePoint],
              context: EvalContext | None = None) -> EvalResult:
    """The challenge score, per-class and per-operation accuracy, intervals and the confusion matrix."""
    context = context or EvalContext()
    unaltered = [s for s in scored if s.op is UNALTERED]
    altered = [s for s in scored if s.op is not UNALTERED]
    acc_u, acc_a = _accuracy(unaltered) or 0.0, _accuracy(altered) or 0.0
    per_class = {}
    for label, name in enumerate(classes):
        mine = [s for s in scored if s.label == label]
        per_class[name] = _with_ci(
            mine, cfg, accuracy_unaltered=_accuracy([s for s in mine if s.op is UNALTERED]),
            accuracy_altered=_accuracy([s for s in mine if s.op is not UNALTERED]))
    per_op = {op.name: _with_ci(mine, cfg) for op in (UNALTERED, *CHALLENGE_OPS)
              if (mine := [s for s in scored if s.op == op])}
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    for s in scored:
        confusion[s.label, s.predicted] += 1
    return EvalResult(
        weighted_accuracy=weighted_score([s.predicted == s.label for s in scored],
                                         [s.op is not UNALTERED for s in scored]),
        accuracy_unaltered=acc_u, accuracy_altered=acc_a, loss=sum(s.loss for s in scored) / len(scored),
        n_images=len(scored), per_class=per_class, per_operation=per_op, confusion=confusion.tolist(),
        classes=classes, curves=curves, crop_size=cfg.crop_size, tta=cfg.tta, tta_d4=cfg.tta and cfg.tta_d4,
        finished_model=context.finished_model, split=context.split, split_note=context.split_note,
        test_devices_unseen=context.test_devices_unseen, ci95=_intervals(scored, cfg),
        baseline=_baseline(scored, cfg), prior_corrected=_prior_corrected(scored, cfg))


def _intervals(scored: list[Scored], cfg: EvalConfig,
               predicted: list[int] | None = None) -> dict[str, list[float]]:
    guesses = predicted if predicted is not None else [s.predicted for s in scored]
    return accuracy_intervals([g == s.label for g, s in zip(guesses, scored, strict=True)],
                              [s.op is not UNALTERED for s in scored], [s.label for s in scored],
                              cfg.bootstrap, cfg.seed)


def _scores_of(scored: list[Scored], guesses: list[int], cfg: EvalConfig) -> dict[str, Any]:
    hits = [g == s.label for g, s in zip(guesses, scored, strict=True)]
    alt = [s.op is not UNALTERED for s in scored]
    u = [h for h, a in zip(hits, alt, strict=True) if not a]
    a_ = [h for h, a in zip(hits, alt, strict=True) if a]
    return {"weighted_accuracy": weighted_score(hits, alt),
            "accuracy_unaltered": sum(u) / len(u) if u else None,
            "accuracy_altered": sum(a_) / len(a_) if a_ else None,
            "ci95": _intervals(scored, cfg, guesses)}


def _baseline(scored: list[Scored], cfg: EvalConfig) -> dict[str, Any] | None:
    if not scored or any(s.baseline is None for s in scored):
        return None
    method = "nearest class centroid on 23 standardised trace features (training.baseline)"
    return {"method": method, **_scores_of(scored, [int(s.baseline or 0) for s in scored], cfg)}


def _prior_corrected(scored: list[Scored], cfg: EvalConfig) -> dict[str, Any] | None:
    if not scored or any(not s.probs for s in scored):
        return None
    guesses = [int(g) for g in balanced_predictions(np.array([s.probs for s in scored]))]
    return {"method": "Sinkhorn balancing of the probabilities to equal class totals (assumes a "
                      "balanced test split)", **_scores_of(scored, guesses, cfg)}


def loss_of(probs: np.ndarray, label: int) -> float:
    return float(-math.log(max(float(probs[label]), 1e-12)))
