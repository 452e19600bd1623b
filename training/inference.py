"""Loading a trained model from its run directory and turning crops into class probabilities.

A run directory is self-sufficient: ``config.json`` names the architecture, ``run.json`` the
classes, ``model.pt`` holds the weights (``checkpoint.pt`` stands in for an unfinished run).
No ImageNet file is needed to rebuild the network, since every weight comes from the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.errors import CamidError
from training.config import TrainConfig, load_train_config
from training.device import autocast, prepare, resolve_device, use_amp, use_channels_last
from training.models import build_model, final_linear
from training.rundir import RunFiles, RunInfo, load_checkpoint, read_info


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A run's network in eval mode on its device, with what is needed to use it."""

    model: nn.Module
    config: TrainConfig
    info: RunInfo
    device: torch.device
    amp: bool
    channels_last: bool
    finished: bool


def load_run(run_dir: str | Path, device: str = "auto") -> LoadedModel:
    """The trained network of ``run_dir`` (final weights, else the latest checkpoint)."""
    root = Path(run_dir)
    if not root.is_dir():
        raise CamidError(f"{root}: no such run directory")
    cfg, info, files = load_train_config(root), read_info(root), RunFiles(root)
    if files.model.exists():
        state, finished = torch.load(files.model, map_location="cpu", weights_only=True), True
    elif files.checkpoint.exists():
        state, finished = load_checkpoint(files.checkpoint)["model"], False
    else:
        raise CamidError(f"{root}: no model.pt or checkpoint.pt yet (has training started?)")
    model = build_model(cfg.arch, len(info.classes), pretrained=False)
    model.load_state_dict(state)
    dev = resolve_device(device)
    channels_last = use_channels_last(cfg.channels_last, dev)
    model = model.to(dev).to(memory_format=torch.channels_last if channels_last else torch.preserve_format)
    return LoadedModel(model.eval(), cfg, info, dev, use_amp(cfg.amp, dev), channels_last, finished)


@torch.no_grad()
def probabilities(loaded: LoadedModel, views: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """Softmax probabilities (views x classes) of same-sized uint8 H x W x 3 views."""
    out = []
    for start in range(0, len(views), batch_size):
        batch = torch.from_numpy(np.stack(views[start:start + batch_size]))
        with autocast(loaded.device, loaded.amp):
            logits = loaded.model(prepare(batch, loaded.device, loaded.channels_last))
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier head: the network's last ``nn.Linear`` (its input is the image feature)."""
    found = final_linear(model)
    if found is None:
        raise CamidError(f"{type(model).__name__} has no final linear classifier")
    return found[1]


@torch.no_grad()
def logits_and_features(loaded: LoadedModel, views: Sequence[np.ndarray],
                        batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Raw logits (views x classes) and the classifier's input features (views x dimension).

    The features are read with a hook on the head, so any architecture whose last layer is a
    linear classifier (camnet, ResNets, DenseNets...) gives them without being rebuilt.
    """
    captured: list[torch.Tensor] = []
    hook = last_linear(loaded.model).register_forward_pre_hook(
        lambda _m, args: captured.append(args[0].detach().float().flatten(1).cpu()))
    logits = []
    try:
        for start in range(0, len(views), batch_size):
            batch = torch.from_numpy(np.stack(views[start:start + batch_size]))
            with autocast(loaded.device, loaded.amp):
                out = loaded.model(prepare(batch, loaded.device, loaded.channels_last))
            logits.append(out.float().cpu())
    finally:
        hook.remove()
    return (torch.cat(logits).numpy().astype(np.float64), torch.cat(captured).numpy().astype(np.float64))


def averaged(loaded: LoadedModel, views: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """Mean probabilities over test-time views (one vector of classes)."""
    return probabilities(loaded, views, batch_size).mean(axis=0)
