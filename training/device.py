"""What training, evaluation and prediction share: devices, input preparation, mixed precision.

Loaders hand over uint8 H x W x 3 batches (a quarter of the bytes of float32, and NHWC is already
the channels-last layout); conversion to normalised floats happens on the device.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from pipeline.errors import CamidError

MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics: the pretrained weights expect them
STD = (0.229, 0.224, 0.225)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` is the GPU when there is one; a GPU asked for but absent is a user error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CamidError(f"--device {name}: no CUDA GPU is available here (use --device cpu)")
    if name == "cuda":
        return torch.device("cuda", local_rank)
    try:
        return torch.device(name)
    except RuntimeError:
        raise CamidError(f"--device {name!r} is not a torch device (cpu, cuda, cuda:1...)") from None


def prepare(batch: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 N x H x W x 3 -> normalised float N x 3 x H x W on ``device``."""
    x = batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager[object]:
    """bf16 autocast on a GPU (no loss scaling needed); nothing on the CPU unless asked."""
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def use_amp(setting: bool | None, device: torch.device) -> bool:
    return device.type == "cuda" if setting is None else setting


def use_channels_last(setting: bool | None, device: torch.device) -> bool:
    return device.type == "cuda" if setting is None else setting
