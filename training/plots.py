"""PNG figures of a run: training curves, the confusion matrix, robustness curves, reliability.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend state), so a
figure can be written from any process, with or without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

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


Bin = tuple[float, float, int]  # mean confidence, accuracy, count


def reliability_diagram(before: Sequence[Bin], after: Sequence[Bin], ece_before: float, ece_after: float,
                        path: Path) -> None:
    """Accuracy against confidence per bin, before and after temperature scaling (diagonal: ideal)."""
    fig = Figure(figsize=(10, 4.5))
    axes = fig.subplots(1, 2)
    for ax, bins, title in ((axes[0], before, f"uncalibrated: ECE {ece_before:.3f}"),
                            (axes[1], after, f"temperature-scaled: ECE {ece_after:.3f}")):
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        if bins:
            sizes = np.array([b[2] for b in bins], dtype=float)
            ax.scatter([b[0] for b in bins], [b[1] for b in bins], s=20 + 200 * sizes / sizes.max(),
                       label="bins (area: images)")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence (top probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    _save(fig, path)


Vote = tuple[int, int, int, int, float]  # x, y, size, class index, probability


def crop_heatmap(pixels: np.ndarray, votes: Sequence[Vote], classes: Sequence[str], path: Path,
                 title: str) -> None:
    """The photo with each crop tinted by its own top class (opacity: that class's probability).

    ``votes`` are (x, y, size, class index, probability) in stored pixels.
    """
    height, width = pixels.shape[:2]
    fig = Figure(figsize=(10, 10 * height / max(width, 1) + 1))
    ax = fig.subplots()
    step = max(1, max(height, width) // 1600)  # a preview, not the full 12 MP
    ax.imshow(pixels[::step, ::step], extent=(0, width, height, 0))
    colours = [cm_colour(i) for i in range(len(classes))]
    for x, y, size, label, probability in votes:
        ax.add_patch(Rectangle((x, y), size, size, facecolor=colours[label], alpha=0.15 + 0.45 * probability))
        ax.add_patch(Rectangle((x + 2, y + 2), size - 4, size - 4, fill=False, edgecolor=colours[label],
                               linewidth=2))
        box = {"facecolor": "black", "alpha": 0.5, "pad": 1, "linewidth": 0}
        ax.text(x + size / 2, y + size / 2, f"{classes[label]}\n{probability:.2f}", ha="center", va="center",
                fontsize=7, color="white", bbox=box)
    handles = [Rectangle((0, 0), 1, 1, facecolor=colours[i]) for i in range(len(classes))]
    ax.legend(handles, classes, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=min(5, len(classes)),
              fontsize=8)
    ax.set_title(title)
    ax.set_axis_off()
    _save(fig, path)


def cm_colour(index: int) -> tuple[float, float, float, float]:
    """A distinct colour per class (tab10, then tab20)."""
    from matplotlib import colormaps

    red, green, blue, alpha = colormaps["tab10" if index < 10 else "tab20"](index % 20)
    return (float(red), float(green), float(blue), float(alpha))
