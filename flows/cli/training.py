"""`camid train`, `evaluate`, `predict` and `export-model`: the training stage's commands.

torch, torchvision and albumentations are imported inside the command functions, so the rest of
the CLI starts fast. ``camid train`` on a run directory that holds a checkpoint resumes it: the
options not given on the command line take the run's saved values, the ones given must agree.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from flows.cli.context import settings_of
from flows.stages.configs import DEFAULT_EPOCHS, DEFAULT_WORKERS
from training.config import CHALLENGE_OP_NAMES


def _main_rank() -> bool:
    return os.environ.get("RANK", "0") == "0"


@click.command()
@click.argument("manifest_dir", type=click.Path(file_okay=False))
@click.option("--arch", default="densenet161", show_default=True,
              help="torchvision architecture (densenet121 or resnet18 for small machines).")
@click.option("--pretrained/--no-pretrained", default=True, show_default=True,
              help="Start from ImageNet weights (--weights or the torch hub cache; never downloaded).")
@click.option("--weights", type=click.Path(dir_okay=False),
              help="ImageNet weights file (torchvision format).")
@click.option("--crop", type=int, default=960, show_default=True, help="First random crop (loader).")
@click.option("--input-size", type=int, default=480, show_default=True, help="Final crop fed to the network.")
@click.option("--grid", type=int, default=8, show_default=True,
              help="Crop offsets for files of unknown subsampling (else 16 for 4:2:0, 8 for 4:4:4).")
@click.option("--off-grid", is_flag=True, help="Any crop offset (not on the file's block grid).")
@click.option("--ops", default=",".join(CHALLENGE_OP_NAMES), show_default=True,
              help="Challenge operations sampled in training (comma-separated; 'none' for none).")
@click.option("--p-ops", type=float, default=0.5, show_default=True,
              help="Probability that a crop goes through one of --ops.")
@click.option("--d4/--no-d4", default=True, show_default=True, help="Random rotations and flips.")
@click.option("--gamma-range", default="0.8,1.2", show_default=True, help="Gamma augmentation LOW,HIGH.")
@click.option("--p-gamma", type=float, default=0.5, show_default=True, help="Probability of the gamma step.")
@click.option("--jpeg-quality", default="70,90", show_default=True, help="JPEG re-compression LOW,HIGH.")
@click.option("--p-jpeg", type=float, default=0.5, show_default=True, help="Probability of the JPEG step.")
@click.option("--steps", type=int, help="Optimiser steps [default: from --epochs].")
@click.option("--epochs", type=float,
              help=f"Nominal epochs (images / global batch) [default {DEFAULT_EPOCHS}].")
@click.option("--batch-size", type=int, default=16, show_default=True,
              help="Crops per process per micro-batch.")
@click.option("--accumulate", type=int, default=1, show_default=True, help="Micro-batches per step.")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--schedule", type=click.Choice(["none", "plateau", "cosine", "cyclic"]), default="plateau",
              show_default=True, help="plateau: on validation loss; cyclic: triangular, halving.")
@click.option("--cycle-steps", type=int, default=0, show_default=True,
              help="Steps per cyclic triangle (0: a quarter of the run).")
@click.option("--checkpoint-every", type=int, default=1000, show_default=True)
@click.option("--log-every", type=int, default=50, show_default=True)
@click.option("--val-every", type=int, default=1000, show_default=True, help="0: no validation.")
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="[default: <data-dir>/runs/<dataset>-<arch>-s<seed>]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=int, default=DEFAULT_WORKERS, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--amp/--no-amp", default=None, help="bf16 autocast [default: on a GPU only].")
@click.option("--channels-last/--no-channels-last", default=None, help="[default: on a GPU only]")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="[default: <data-dir>/cache/pixels]")
@click.option("--no-cache", is_flag=True, help="Decode every crop from its JPEG (slow; no disk needed).")
@click.option("--data-path", type=click.Choice(["auto", "cache", "tiles", "direct"]), default="auto",
              show_default=True,
              help="Where crops come from: the pixel cache (fastest, ~7.8x the JPEGs on disk), lossless JPEG "
                   "tiles (~1.3x), or a full decode per crop; auto picks by dataset size and free disk.")
@click.option("--threads", type=int, help="torch/OpenCV threads in the main process.")
@click.pass_context
def train(ctx: click.Context, manifest_dir: str, **options: Any) -> None:
    """Train a classifier on a dataset manifest (resumes RUN_DIR when it holds a checkpoint)."""
    cfg = _train_config(ctx, Path(manifest_dir), options)  # user mistakes fail here, before torch loads
    from flows.progress import progress_ticker
    from training.trainer import train as run_train

    if _main_rank():
        click.echo(f"run dir: {cfg.run_dir} ({cfg.arch}, {cfg.steps} steps)")
        with progress_ticker() as tick:
            result = run_train(cfg, tick=tick, log=click.echo)
    else:
        result = run_train(cfg)
    last = result.last
    if _main_rank() and last is not None:
        val = f", validation accuracy {last.val_acc:.4f}" if last.val_acc is not None else ""
        click.echo(f"trained {result.steps} steps: train loss {last.train_loss:.4f}, "
                   f"train accuracy {last.train_acc:.4f}{val}")


def _train_config(ctx: click.Context, manifest_dir: Path, options: dict[str, Any]) -> Any:
    """The options the user gave (not click's defaults), resolved by the one training resolver."""
    from flows.stages.configs import train_config

    given = {k: v for k, v in options.items()
             if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
    return train_config(manifest_dir, settings_of(ctx).data_dir, given)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--manifest", "manifest_dir", type=click.Path(file_okay=False),
              help="Dataset to evaluate on [default: the one the run was trained on].")
@click.option("--crop-size", type=int, default=512, show_default=True, help="Centre crop of the protocol.")
@click.option("--tta/--no-tta", default=True, show_default=True, help="Corner + centre crops, averaged.")
@click.option("--tta-d4/--no-tta-d4", default=True, show_default=True,
              help="x 8 rotations/flips (with --tta).")
@click.option("--tta-whole", is_flag=True,
              help="Views are the whole crop x D4 (fully convolutional models such as camnet).")
@click.option("--curves/--no-curves", default=True, show_default=True, help="Robustness curves (Fig. 1).")
@click.option("--curve-tta/--no-curve-tta", default=False, show_default=True)
@click.option("--jpeg-qualities", default="60,70,80,90,95,100", show_default=True)
@click.option("--gammas", default="0.6,0.8,0.9,1.0,1.1,1.2,1.4", show_default=True)
@click.option("--resize-factors", default="0.5,0.8,1.0,1.5,2.0", show_default=True)
@click.option("--crop-sizes", default="64,128,256,512", show_default=True)
@click.option("--grid-phases", default="0,1,2,4,8", show_default=True,
              help="Robustness curve: the centre crop moved this many pixels off the block grid.")
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True,
              help="Split to score (test: devices unseen in training; val chose the checkpoint).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Score the trace-feature nearest-centroid baseline on the same crops.")
@click.option("--bootstrap", type=int, default=1000, show_default=True,
              help="Resamples behind each 95% interval.")
@click.option("--forensic/--no-forensic", default=True, show_default=True,
              help="Fit calibration.json on validation (temperature, unknown-camera threshold) and measure "
                   "it on whole images: calibration error, open-set AUROC on heldout.csv, EXIF check.")
@click.option("--evidence-crop", type=click.IntRange(min=0), default=0,
              help="Whole-image evidence: crop side [default: --crop-size].")
@click.option("--evidence-stride", type=click.IntRange(min=0), default=0,
              help="Grid step [default: the crop].")
@click.option("--evidence-max-crops", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--evidence-layout", type=click.Choice(["grid", "corners"]), default="grid", show_default=True)
@click.option("--evidence-d4/--no-evidence-d4", default=False, show_default=True)
@click.option("--open-set-score", default="mahalanobis",
              type=click.Choice(["prototype", "mahalanobis", "max_probability", "energy"]), show_default=True,
              help="Which score decides `unknown` (all are measured).")
@click.option("--false-alarm", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              default=0.05, show_default=True,
              help="Share of known-camera validation images the unknown threshold flags.")
@click.option("--prototype-per-class", type=click.IntRange(min=1), default=20, show_default=True,
              help="Training images per class behind the class prototypes.")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Which images are altered, and how.")
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json.")
def evaluate(run_dir: str, manifest_dir: str | None, jpeg_qualities: str, gammas: str, resize_factors: str,
             crop_sizes: str, grid_phases: str, as_json: bool, **options: Any) -> None:
    """Evaluate a run with the 2018 challenge protocol and robustness curves.

    With ``--json`` stdout is the metrics document alone; the progress goes to stderr.
    """
    from flows.progress import progress_ticker
    from flows.stages.configs import eval_config
    from training.evaluate import evaluate as run_evaluate

    cfg = eval_config({"manifest": manifest_dir, "jpeg_qualities": jpeg_qualities, "gammas": gammas,
                       "resize_factors": resize_factors, "crop_sizes": crop_sizes, "grid_phases": grid_phases,
                       **options})
    if as_json:
        with progress_ticker(sys.stderr) as tick:
            run_evaluate(run_dir, cfg, tick)
        click.echo((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"), nl=False)
        return
    with progress_ticker() as tick:
        result = run_evaluate(run_dir, cfg, tick)
    low, high = result.ci95.get("weighted_accuracy", [float("nan")] * 2)
    click.echo(f"weighted accuracy {result.weighted_accuracy:.4f} (95% interval {low:.3f}-{high:.3f}; "
               f"unaltered {result.accuracy_unaltered:.4f}, altered {result.accuracy_altered:.4f}) "
               f"on {result.n_images} {result.split} images"
               + ("" if result.test_devices_unseen is None else
                  f", devices {'unseen' if result.test_devices_unseen else 'SEEN'} in training"))
    if result.split_note:
        click.echo(f"note: {result.split_note}")
    if result.baseline:
        click.echo(f"baseline (trace features, nearest centroid): {result.baseline['weighted_accuracy']:.4f}")
    for name, row in result.per_operation.items():
        click.echo(f"  {name:<12} accuracy {row['accuracy']:.4f}  n={row['n']}")
    if result.forensic:
        click.echo(forensic_line(result.forensic))
    click.echo(f"wrote {Path(run_dir) / 'metrics.json'}")


def forensic_line(f: dict[str, Any]) -> str:
    """The verdict's calibration and open-set numbers in one line."""
    auroc = f["open_set_auroc"]
    cameras = ", ".join(f["heldout_cameras"])
    held = (f"AUROC {auroc:.3f} on {f['n_heldout']} images of held-out {cameras}" if auroc is not None
            else "no held-out camera in the dataset (export --hold-out) to measure AUROC")
    return (f"whole images ({f['split']}): accuracy {f['accuracy']:.4f}, ECE {f['ece_before']:.4f} -> "
            f"{f['ece_after']:.4f} at T={f['temperature']:.3f}; unknown camera ({f['open_set_score']}): "
            f"{held}, "
            f"false alarms {f['false_alarm_measured']:.3f}; wrote calibration.json, reliability.png")


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--model", "run_dir", required=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one verdict per image.")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--layout", type=click.Choice(["grid", "corners"]),
              help="Crops: a grid over the image, or four corners + centre [default: as calibrated].")
@click.option("--crop-size", type=click.IntRange(min=8), help="Crop side [default: as calibrated].")
@click.option("--stride", type=click.IntRange(min=0),
              help="Grid step; 0 = the crop size [default: as calibrated].")
@click.option("--max-crops", type=click.IntRange(min=1), help="At most this many crops, spread evenly.")
@click.option("--d4/--no-d4", default=None, help="Each crop also in its 8 rotations/flips.")
@click.option("--tta", is_flag=True, help="The 2018 challenge preset: four corners + centre, x D4.")
@click.option("--heatmap", "heatmap_dir", type=click.Path(file_okay=False),
              help="Write a PNG per image of each crop's own prediction over the photo into this folder.")
@click.option("--device", default="auto", show_default=True)
def predict(images: tuple[str, ...], run_dir: str, as_json: bool, top: int, layout: str | None,
            crop_size: int | None, stride: int | None, max_crops: int | None, d4: bool | None, tta: bool,
            heatmap_dir: str | None, device: str) -> None:
    """Which camera model took each IMAGE, from pixels alone: calibrated probabilities, whether the
    camera is one the model knows, and whether the EXIF's camera is supported by the pixels."""
    from training.models import stderr_warning
    from training.predict import as_json as verdict_json
    from training.predict import describe
    from training.predict import predict as run_predict

    chosen = {"layout": "corners", "d4": True} if tta else {}
    given = {"layout": layout, "size": crop_size, "stride": stride, "max_crops": max_crops, "d4": d4}
    chosen.update({k: v for k, v in given.items() if v is not None})
    results = run_predict(run_dir, images, top=top, layout=chosen, device=device, warn=stderr_warning,
                          heatmaps=Path(heatmap_dir) if heatmap_dir else None)
    for p in results:
        click.echo(json.dumps(verdict_json(p), sort_keys=True) if as_json else describe(p))
    if any(p.error for p in results):
        sys.exit(1)


@click.command("export-model")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--onnx", "onnx_file", required=True, type=click.Path(dir_okay=False),
              help="ONNX file to write: uint8 N x H x W x 3 RGB in; logits, calibrated probabilities and "
                   "features out; classes and calibration in its metadata (needs camid[onnx]).")
def export_model(run_dir: str, onnx_file: str) -> None:
    """Export RUN_DIR's model for tools outside camid (ONNX Runtime and the like)."""
    from training.onnx_export import describe, export_onnx

    click.echo(describe(export_onnx(Path(run_dir), Path(onnx_file))))
