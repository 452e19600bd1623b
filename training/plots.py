"""PNG figures of a run: training curves, the confusion matrix, robustness curves.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend state), so a
figure can be written from any process, with or without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from training.rundir import MetricRow


def _save(fig: Figure, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    tmp.replace(path)


def training_curves(rows: Sequence[MetricRow], path: Path) -> None:
    """Loss and accuracy against step, training window means and validation points."""
    fig = Figure(figsize=(10, 4))
    loss_ax, acc_ax = fig.subplots(1, 2)
    steps = [r.step for r in rows]
    val = [r for r in rows if r.val_loss is not None]
    loss_ax.plot(steps, [r.train_loss for r in rows], label="train")
    acc_ax.plot(steps, [r.train_acc for r in rows], label="train")
    if val:
        loss_ax.plot([r.step for r in val], [r.val_loss for r in val], "o-", label="validation")
        acc_ax.plot([r.step for r in val], [r.val_acc for r in val], "o-", label="validation")
    for ax, name in ((loss_ax, "cross-entropy loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix (true class per row) with the counts written in."""
    size = max(4.0, 0.6 * len(classes) + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    totals = matrix.sum(axis=1, keepdims=True).clip(min=1)
    ax.imshow(matrix / totals, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=60, ha="right")
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count / totals[i, 0] > 0.5 else "black")
    _save(fig, path)


def robustness_curves(curves: Mapping[str, Sequence[tuple[float, float, float]]], path: Path) -> None:
    """Accuracy (top row) and loss (bottom row) against each alteration's parameter (Fig. 1)."""
    names = list(curves)
    fig = Figure(figsize=(4 * max(1, len(names)), 7))
    axes = np.asarray(fig.subplots(2, max(1, len(names)), squeeze=False))
    for col, name in enumerate(names):
        points = sorted(curves[name])
        xs = [p[0] for p in points]
        axes[0, col].plot(xs, [p[1] for p in points], "o-")
        axes[1, col].plot(xs, [p[2] for p in points], "o-", color="tab:red")
        axes[0, col].set_title(name)
        axes[1, col].set_xlabel(name)
        axes[0, col].set_ylim(0, 1.02)
        for row in (0, 1):
            axes[row, col].grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy")
    axes[1, 0].set_ylabel("cross-entropy loss")
    _save(fig, path)
