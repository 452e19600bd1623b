"""Best-checkpoint selection: the weights a run hands out are its best validation step's.

Validation (the challenge protocol on the validation split, never the test split) scores every
``val_every`` steps; the step with the highest weighted score (the earliest on ties) wins, and
its weights are kept in ``best.pt`` as soon as it is seen. The choice is a function of the metric
rows alone, which the checkpoint carries, so a resumed run makes the same choice: a ``best.pt``
written after the checkpoint it resumes from is simply rewritten when that step comes again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import torch

from training.rundir import MetricRow, RunFiles, atomic_save, atomic_write_text


def best_row(rows: Sequence[MetricRow]) -> MetricRow | None:
    """The validated row with the highest score; the earliest of equals."""
    scored = [r for r in rows if r.val_score is not None]
    return max(scored, key=lambda r: (r.val_score, -r.step)) if scored else None


def keep_if_best(files: RunFiles, state: dict[str, Any], rows: Sequence[MetricRow]) -> None:
    """Save ``state`` as ``best.pt`` when the newest row is the best one so far."""
    if rows and rows[-1].val_score is not None and best_row(rows) is rows[-1]:
        atomic_save(files.best, {"step": rows[-1].step, "score": rows[-1].val_score, "model": state})


def finish_weights(files: RunFiles, last: dict[str, Any], rows: Sequence[MetricRow]) -> None:
    """Write ``last.pt``, ``model.pt`` (the best step's weights) and ``selection.json``."""
    atomic_save(files.last, last)
    best, chosen = best_row(rows), last
    saved = torch.load(files.best, map_location="cpu", weights_only=True) if files.best.exists() else None
    if best is not None and saved is not None and saved["step"] == best.step:
        chosen = saved["model"]
    step = best.step if chosen is not last and best is not None else (rows[-1].step if rows else 0)
    doc = {"selected_step": step, "rule": "best validation weighted score (challenge protocol)"
           if chosen is not last else "last step (no validation score)",
           "val_score": best.val_score if chosen is not last and best is not None else None,
           "last_step": rows[-1].step if rows else 0}
    atomic_save(files.model, chosen)
    atomic_write_text(files.selection, json.dumps(doc, indent=2, sort_keys=True) + "\n")
