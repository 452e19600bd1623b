"""Classifiers: any torchvision classification architecture, with a new head for the dataset's classes.

ImageNet weights come from a file the user names (``--weights``) or from the torch hub cache
(``$TORCH_HOME/hub/checkpoints``, where torchvision keeps its downloads); nothing is ever
downloaded. A file whose name carries a hash prefix (torchvision's ``densenet161-8d451a50.pth``)
is checked against its SHA-256 first: a corrupt or truncated download is an error, not a silent
random start. Without weights the model starts from random init and says so on stderr.

camid's own architectures (``camnet``, see ``training/camnet.py``) are listed beside
torchvision's; no ImageNet weights exist for them, so they always start from random init (with
``--weights`` they load a camid checkpoint's state dict of the same architecture).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from pipeline.errors import CamidError

Warn = Callable[[str], None]
HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")
_DENSENET_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def stderr_warning(message: str) -> None:
    print(f"camid: warning: {message}", file=sys.stderr, flush=True)


def _camnet(num_classes: int) -> nn.Module:
    from training.camnet import CamNet

    return CamNet(num_classes)


# camid's own architectures: built for the dataset's classes directly, never with ImageNet weights
OWN: dict[str, Callable[[int], nn.Module]] = {"camnet": _camnet}


def architectures() -> list[str]:
    """Names ``--arch`` accepts: torchvision's classification models and camid's own."""
    return sorted([*torchvision.models.list_models(module=torchvision.models), *OWN])


def build_model(arch: str, num_classes: int, pretrained: bool = True, weights: str | None = None,
                warn: Warn = stderr_warning) -> nn.Module:
    """The architecture with ImageNet weights when available, and a fresh ``num_classes`` head."""
    if arch not in architectures():
        raise CamidError(f"unknown --arch {arch!r}; torchvision has e.g. densenet161, densenet121, "
                         "resnet18, resnet50, efficientnet_b0 (see torchvision.models.list_models())")
    if arch in OWN:
        return _own_model(arch, num_classes, weights)
    model = torchvision.models.get_model(arch, weights=None)
    path = Path(weights) if weights else (hub_weights_path(arch) if pretrained else None)
    if path is not None and (weights or path.exists()):
        try:
            model.load_state_dict(load_weights(path, arch))
        except RuntimeError as exc:
            raise CamidError(f"{path}: does not fit {arch}: {str(exc).splitlines()[0]}") from None
    elif pretrained:
        warn(f"no ImageNet weights for {arch} (looked for {path}; give --weights FILE or put "
             "torchvision's file in the torch hub cache): training starts from random init")
    replace_head(model, num_classes)
    return model


def _own_model(arch: str, num_classes: int, weights: str | None) -> nn.Module:
    """One of camid's architectures: random init (there are no ImageNet weights to look for), or the
    state dict in ``weights``, which must fit it with ``num_classes`` outputs."""
    model = OWN[arch](num_classes)
    if weights:
        try:
            model.load_state_dict(load_weights(Path(weights), arch))
        except RuntimeError as exc:
            raise CamidError(f"{weights}: does not fit {arch}: {str(exc).splitlines()[0]}") from None
    return model


def hub_weights_path(arch: str) -> Path | None:
    """Where torchvision would have cached the default ImageNet weights of ``arch``."""
    try:
        url = torchvision.models.get_model_weights(arch).DEFAULT.url
    except (ValueError, AttributeError, KeyError):
        return None
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def load_weights(path: Path, arch: str) -> dict[str, torch.Tensor]:
    """A verified state dict from a torchvision-style weights file."""
    if not path.is_file():
        raise CamidError(f"{path}: no such weights file")
    verify_hash(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise CamidError(f"{path}: not a torch weights file: {str(exc).splitlines()[0]}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CamidError(f"{path}: holds no state dict")
    return _remap_densenet(state) if arch.startswith("densenet") else state


def verify_hash(path: Path) -> None:
    """Check the SHA-256 prefix a torchvision file name carries; names without one are not checked."""
    match = HASH_IN_NAME.search(path.name)
    if not match:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if not digest.hexdigest().startswith(match.group(1)):
        raise CamidError(f"{path}: checksum mismatch (SHA-256 does not start with {match.group(1)}): "
                         "the file is damaged; delete it and fetch it again")


def _remap_densenet(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's DenseNet files use the old ``norm.1`` key names; the modules use ``norm1``."""
    out = {}
    for key, value in state.items():
        match = _DENSENET_LEGACY.match(key)
        out[match.group(1) + match.group(2) if match else key] = value
    return out


def replace_head(model: nn.Module, num_classes: int) -> None:
    """Swap the last ``nn.Linear`` (the ImageNet classifier) for a fresh one with ``num_classes``."""
    swap_final_linear(model, lambda old: nn.Linear(old.in_features, num_classes))


def swap_final_linear(model: nn.Module, make: Callable[[nn.Linear], nn.Module]) -> nn.Linear:
    """Put ``make(head)`` where the network's last ``nn.Linear`` was (in place); return that linear."""
    found = final_linear(model)
    if found is None:
        raise CamidError(f"{type(model).__name__} has no final linear classifier to replace")
    name, head = found
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, make(head))
    return head


def final_linear(model: nn.Module) -> tuple[str, nn.Linear] | None:
    """The network's last ``nn.Linear`` (its classifier head) and its module path, if it has one."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def logits_of(output: object) -> torch.Tensor:
    """Some architectures (Inception, GoogLeNet) return a tuple in training mode: take the logits."""
    logits = getattr(output, "logits", output)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"the network returned {type(output).__name__}, not logits")
    return logits
