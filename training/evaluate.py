"""`camid evaluate`: the 2018 challenge protocol on the test split, with intervals and a baseline.

The scored split is the test split (devices never seen in training, where the export knew them);
a dataset without one falls back to validation and says so in ``metrics.json``, since validation
also chose the checkpoint and its score is optimistic. Per class, a seeded half of the images is
scored unaltered and the other half after exactly one of the eight challenge operations
(``training.protocol``). Scores average the softmax over test-time views (corner and centre crops
x D4) when TTA is on. The robustness curves (the seed paper's Fig. 1) score every image at each
value of one alteration at a time, plus the centre crop moved off the file's block grid
(``grid_phase``: the challenge's crops were not grid-aligned). The trace-feature baseline
(``training.baseline``) is fitted on training images and scored on the very same crops.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from pipeline.errors import CamidError
from pipeline.manifest import Manifest, read_manifest
from pipeline.records import Tick
from training import baseline as trace_baseline
from training import plots
from training.alterations import CHALLENGE_OPS, UNALTERED, Alteration, altered_crop, tta_views
from training.augment import grid_of
from training.bootstrap import plain_interval
from training.config import EvalConfig
from training.data import LabelledImages, split_of
from training.evalsummary import CurvePoint, EvalContext, EvalResult, Scored, loss_of, summarise
from training.forensic_eval import forensic_evaluate
from training.imageio import decode_rgb
from training.inference import LoadedModel, averaged, load_run
from training.protocol import protocol
from training.rundir import atomic_write_text

Variant = tuple[str, float, Alteration, int, int]  # family, value, alteration, crop size, grid phase


def curve_variants(cfg: EvalConfig) -> list[Variant]:
    """(family, value, alteration, crop size, phase) for every point of the robustness curves."""
    out: list[Variant] = [("jpeg_quality", float(q), Alteration("jpeg", q), cfg.crop_size, 0)
                          for q in cfg.jpeg_qualities]
    out += [("gamma", g, Alteration("gamma", g), cfg.crop_size, 0) for g in cfg.gammas]
    out += [("resize", f, Alteration("resize", f), cfg.crop_size, 0) for f in cfg.resize_factors]
    out += [("crop_size", float(c), UNALTERED, c, 0) for c in cfg.crop_sizes]
    out += [("grid_phase", float(p), UNALTERED, cfg.crop_size, p) for p in cfg.grid_phases]
    return out


def evaluate(run_dir: str | Path, cfg: EvalConfig, tick: Tick | None = None) -> EvalResult:
    """Score the run on its test split; write metrics.json and the figures into the run dir."""
    loaded = load_run(run_dir, cfg.device)
    manifest = read_manifest(cfg.manifest or loaded.info.manifest)
    if tuple(manifest.classes) != loaded.info.classes:
        raise CamidError(f"{manifest.directory}: its classes differ from the model's "
                         f"{list(loaded.info.classes)}")
    context, split = choose_split(manifest, cfg.split, loaded.finished)
    plan = protocol(split.labels, cfg.seed)
    if not any(op is not UNALTERED for op in plan.values()):
        raise CamidError(f"the protocol needs at least 2 {context.split} images in some class "
                         "(half are altered)")
    centroids = _fit_baseline(manifest, cfg, loaded.config.grid) if cfg.baseline else None
    variants = curve_variants(cfg) if cfg.curves else []
    scored: list[Scored] = []
    sums: dict[tuple[str, float], tuple[list[bool], list[float]]] = {(v[0], v[1]): ([], []) for v in variants}
    for index, image in enumerate(split.images):
        pixels, label = decode_rgb(image.path), split.labels[index]
        grid = grid_of(image.subsampling, loaded.config.grid)
        crop = altered_crop(pixels, plan[index], cfg.crop_size, grid)
        probs = _score(loaded, crop, cfg, cfg.tta)
        guess = centroids.predict(trace_baseline.trace_features(crop)) if centroids else None
        scored.append(Scored(index, label, plan[index], int(probs.argmax()), loss_of(probs, label),
                             tuple(float(p) for p in probs), guess))
        _curves(loaded, cfg, pixels, grid, label, variants, sums)
        if tick:
            tick("evaluate", index + 1, len(split.images))
    curves = [CurvePoint(f, v, sum(hits) / len(hits), sum(losses) / len(hits), len(hits),
                         plain_interval(hits, cfg.bootstrap, cfg.seed))
              for (f, v), (hits, losses) in sums.items() if hits]
    result = summarise(scored, list(loaded.info.classes), cfg, curves, context)
    if cfg.forensic:
        forensic = forensic_evaluate(loaded, manifest, context.split, Path(run_dir), cfg, tick)
        result = replace(result, forensic=forensic)
    write_results(Path(run_dir), result)
    return result


def choose_split(manifest: Manifest, wanted: str, finished: bool) -> tuple[EvalContext, LabelledImages]:
    """The split to score, and what a reader must know about it."""
    if wanted not in ("test", "val"):
        raise CamidError(f"--split must be test or val, not {wanted!r}")
    rows = getattr(manifest, "test", ())
    note = None
    if wanted == "test" and not rows:
        wanted, note = "val", ("the dataset has no test split (exported before camid-manifest/3, or too few "
                               "devices): scored the validation split, which also chose the checkpoint")
    train_devices = {getattr(r, "device", None) for r in manifest.train} - {None}
    scored_devices = {getattr(r, "device", None) for r in getattr(manifest, wanted)} - {None}
    unseen = not (train_devices & scored_devices) if scored_devices else None
    return EvalContext(wanted, note, unseen, finished), split_of(manifest, wanted)


def _curves(loaded: LoadedModel, cfg: EvalConfig, pixels: np.ndarray, grid: tuple[int, int], label: int,
            variants: list[Variant], sums: dict[tuple[str, float], tuple[list[bool], list[float]]]) -> None:
    for family, value, op, size, phase in variants:
        if size + phase <= min(pixels.shape[:2]):
            p = _score(loaded, altered_crop(pixels, op, size, grid, phase), cfg, cfg.curve_tta)
            sums[family, value][0].append(bool(p.argmax() == label))
            sums[family, value][1].append(loss_of(p, label))


def _score(loaded: LoadedModel, crop: np.ndarray, cfg: EvalConfig, tta: bool) -> np.ndarray:
    corners = not cfg.tta_whole  # whole: the crop itself in its 8 orientations
    views = tta_views(crop, loaded.info.input_size, corners=corners, d4=cfg.tta_d4) if tta else [crop]
    return averaged(loaded, views, cfg.batch_size)


def _fit_baseline(manifest: Manifest, cfg: EvalConfig, fallback_grid: int) -> trace_baseline.Centroids:
    """Centroids from up to ``baseline_per_class`` training images per class: each image's centre
    crop unaltered and once altered by an operation taken in turn (the test half is altered too)."""
    train = split_of(manifest, "train")
    rng = np.random.default_rng(cfg.seed)
    features, labels, turn = [], [], 0
    for label in sorted(set(train.labels)):
        members = [i for i, lab in enumerate(train.labels) if lab == label]
        for i in rng.permutation(members)[:cfg.baseline_per_class]:
            image = train.images[int(i)]
            pixels, grid = decode_rgb(image.path), grid_of(image.subsampling, fallback_grid)
            for op in (UNALTERED, CHALLENGE_OPS[turn % len(CHALLENGE_OPS)]):
                features.append(trace_baseline.trace_features(altered_crop(pixels, op, cfg.crop_size, grid)))
                labels.append(label)
            turn += 1
    return trace_baseline.fit(features, labels, len(manifest.classes))


def write_results(run_dir: Path, result: EvalResult) -> None:
    """metrics.json, confusion.png and, with curves, robustness.csv and robustness.png."""
    atomic_write_text(run_dir / "metrics.json", json.dumps(asdict(result), indent=2, sort_keys=True) + "\n")
    title = f"{result.split}: weighted accuracy {result.weighted_accuracy:.3f}"
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
