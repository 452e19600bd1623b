"""`camid evaluate`: the 2018 challenge protocol on the validation split, and robustness curves.

Per class, a seeded half of the validation images is scored unaltered and the other half after
exactly one of the eight challenge operations (assigned in turn, so each is used about equally).
score = 0.7 x accuracy(unaltered) + 0.3 x accuracy(altered). Scores average the softmax over
test-time views (corner and centre crops x D4) when TTA is on. The robustness curves (the seed
paper's Fig. 1) score every validation image at each value of one alteration at a time.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import CamidError
from pipeline.manifest import read_manifest
from pipeline.records import Tick
from training import plots
from training.alterations import CHALLENGE_OPS, UNALTERED, Alteration, altered_crop, tta_views
from training.config import EvalConfig
from training.data import split_of
from training.imageio import decode_rgb
from training.inference import LoadedModel, averaged, load_run
from training.rundir import atomic_write_text

WEIGHT_UNALTERED = 0.7


@dataclass(frozen=True, slots=True)
class Scored:
    """One scored crop: which image, which alteration, the prediction and its loss."""

    index: int
    label: int
    op: Alteration
    predicted: int
    loss: float


@dataclass(frozen=True, slots=True)
class CurvePoint:
    family: str
    value: float
    accuracy: float
    loss: float
    n: int


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What ``metrics.json`` holds."""

    weighted_accuracy: float
    accuracy_unaltered: float
    accuracy_altered: float
    loss: float
    n_images: int
    per_class: dict[str, dict[str, float | int | None]]
    per_operation: dict[str, dict[str, float | int | None]]  # accuracy is None with no images
    confusion: list[list[int]]
    classes: list[str]
    curves: list[CurvePoint]
    crop_size: int
    tta: bool
    tta_d4: bool
    finished_model: bool


def protocol(labels: tuple[int, ...], seed: int) -> dict[int, Alteration]:
    """Image index -> its alteration: per class a seeded half unaltered, the rest one op each, in turn."""
    rng = np.random.default_rng(seed)
    ops = [CHALLENGE_OPS[i] for i in rng.permutation(len(CHALLENGE_OPS))]
    plan, turn = {}, 0
    for label in sorted(set(labels)):
        members = [i for i, lab in enumerate(labels) if lab == label]
        order = [members[i] for i in rng.permutation(len(members))]
        for position, index in enumerate(order):
            altered = position >= math.ceil(len(order) / 2)
            plan[index] = ops[turn % len(ops)] if altered else UNALTERED
            turn += altered
    return plan


def curve_variants(cfg: EvalConfig) -> list[tuple[str, float, Alteration, int]]:
    """(family, value, alteration, crop size) for every point of the robustness curves."""
    out = [("jpeg_quality", float(q), Alteration("jpeg", q), cfg.crop_size) for q in cfg.jpeg_qualities]
    out += [("gamma", g, Alteration("gamma", g), cfg.crop_size) for g in cfg.gammas]
    out += [("resize", f, Alteration("resize", f), cfg.crop_size) for f in cfg.resize_factors]
    out += [("crop_size", float(c), UNALTERED, c) for c in cfg.crop_sizes]
    return out


def evaluate(run_dir: str | Path, cfg: EvalConfig, tick: Tick | None = None) -> EvalResult:
    """Score the run on its validation split; write metrics.json and the figures into the run dir."""
    loaded = load_run(run_dir, cfg.device)
    manifest = read_manifest(cfg.manifest or loaded.info.manifest)
    if tuple(manifest.classes) != loaded.info.classes:
        raise CamidError(f"{manifest.directory}: its classes differ from the model's "
                         f"{list(loaded.info.classes)}")
    val = split_of(manifest, "val")
    plan = protocol(val.labels, cfg.seed)
    if not any(op is not UNALTERED for op in plan.values()):
        raise CamidError("the protocol needs at least 2 validation images in some class (half are altered)")
    variants = curve_variants(cfg) if cfg.curves else []
    scored, sums = [], {(f, v): [0.0, 0.0, 0] for f, v, _, _ in variants}
    for index, image in enumerate(val.images):
        pixels, label = decode_rgb(image.path), val.labels[index]
        crop = altered_crop(pixels, plan[index], cfg.crop_size, loaded.info.grid)
        probs = _score(loaded, crop, cfg, cfg.tta)
        scored.append(Scored(index, label, plan[index], int(probs.argmax()), _loss(probs, label)))
        for family, value, op, size in variants:
            if size <= min(pixels.shape[:2]):
                p = _score(loaded, altered_crop(pixels, op, size, loaded.info.grid), cfg, cfg.curve_tta)
                acc = sums[family, value]
                acc[0], acc[1], acc[2] = acc[0] + (p.argmax() == label), acc[1] + _loss(p, label), acc[2] + 1
        if tick:
            tick("evaluate", index + 1, len(val.images))
    curves = [CurvePoint(f, v, c / n, loss / n, int(n)) for (f, v), (c, loss, n) in sums.items() if n]
    result = summarise(scored, loaded, cfg, curves)
    write_results(Path(run_dir), result)
    return result


def _score(loaded: LoadedModel, crop: np.ndarray, cfg: EvalConfig, tta: bool) -> np.ndarray:
    views = tta_views(crop, loaded.info.input_size, corners=True, d4=cfg.tta_d4) if tta else [crop]
    return averaged(loaded, views, cfg.batch_size)


def _loss(probs: np.ndarray, label: int) -> float:
    return float(-math.log(max(float(probs[label]), 1e-12)))


def _accuracy(items: list[Scored]) -> float | None:
    return sum(s.predicted == s.label for s in items) / len(items) if items else None


def summarise(scored: list[Scored], loaded: LoadedModel, cfg: EvalConfig,
              curves: list[CurvePoint]) -> EvalResult:
    """The challenge score, per-class and per-operation accuracy, and the confusion matrix."""
    classes = list(loaded.info.classes)
    unaltered = [s for s in scored if s.op is UNALTERED]
    altered = [s for s in scored if s.op is not UNALTERED]
    acc_u, acc_a = _accuracy(unaltered) or 0.0, _accuracy(altered) or 0.0
    per_class = {}
    for label, name in enumerate(classes):
        mine = [s for s in scored if s.label == label]
        per_class[name] = {"accuracy": _accuracy(mine), "n": len(mine),
                           "accuracy_unaltered": _accuracy([s for s in mine if s.op is UNALTERED]),
                           "accuracy_altered": _accuracy([s for s in mine if s.op is not UNALTERED])}
    per_op = {}
    for op in (UNALTERED, *CHALLENGE_OPS):
        mine = [s for s in scored if s.op == op]
        if mine:
            per_op[op.name] = {"accuracy": _accuracy(mine), "n": len(mine)}
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    for s in scored:
        confusion[s.label, s.predicted] += 1
    return EvalResult(
        weighted_accuracy=WEIGHT_UNALTERED * acc_u + (1 - WEIGHT_UNALTERED) * acc_a,
        accuracy_unaltered=acc_u, accuracy_altered=acc_a, loss=sum(s.loss for s in scored) / len(scored),
        n_images=len(scored), per_class=per_class, per_operation=per_op, confusion=confusion.tolist(),
        classes=classes, curves=curves, crop_size=cfg.crop_size, tta=cfg.tta, tta_d4=cfg.tta and cfg.tta_d4,
        finished_model=loaded.finished)


def write_results(run_dir: Path, result: EvalResult) -> None:
    """metrics.json, confusion.png and, with curves, robustness.csv and robustness.png."""
    atomic_write_text(run_dir / "metrics.json", json.dumps(asdict(result), indent=2, sort_keys=True) + "\n")
    title = f"weighted accuracy {result.weighted_accuracy:.3f}"
    plots.confusion_matrix(np.array(result.confusion), result.classes, run_dir / "confusion.png", title)
    if not result.curves:
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("family", "value", "accuracy", "loss", "n"))
    for p in result.curves:
        writer.writerow((p.family, p.value, p.accuracy, p.loss, p.n))
    atomic_write_text(run_dir / "robustness.csv", buf.getvalue())
    families: dict[str, list[tuple[float, float, float]]] = {}
    for p in result.curves:
        families.setdefault(p.family, []).append((p.value, p.accuracy, p.loss))
    plots.robustness_curves(families, run_dir / "robustness.png")
