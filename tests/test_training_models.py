"""Model building: torchvision architectures by name, verified ImageNet weights, no downloads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from pipeline.errors import CamidError
from training.models import build_model, hub_weights_path, load_weights


def saved_weights(model: nn.Module, directory: Path, stem: str) -> Path:
    """A torchvision-style file: ``<stem>-<first 8 hex of its SHA-256>.pth``."""
    tmp = directory / "tmp.pth"
    torch.save(model.state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    return tmp.rename(directory / f"{stem}-{digest}.pth")


def test_new_head_for_the_dataset_classes() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", 3, pretrained=False)
    assert model.fc.out_features == 3
    mobile = build_model("mobilenet_v3_small", 5, pretrained=False)
    assert mobile.classifier[-1].out_features == 5
    assert mobile(torch.zeros(1, 3, 64, 64)).shape == (1, 5)


def test_unknown_architecture_is_a_user_error() -> None:
    with pytest.raises(CamidError, match="unknown --arch 'densenet9000'"):
        build_model("densenet9000", 3)


def test_weights_file_is_checked_and_loaded(tmp_path: Path) -> None:
    torch.manual_seed(1)
    imagenet = build_model("resnet18", 1000, pretrained=False)
    path = saved_weights(imagenet, tmp_path, "resnet18")
    model = build_model("resnet18", 3, weights=str(path))
    assert torch.equal(model.conv1.weight, imagenet.conv1.weight)
    assert model.fc.out_features == 3
    damaged = path.with_name("resnet18-00000000.pth")
    path.rename(damaged)
    with pytest.raises(CamidError, match="checksum mismatch"):
        build_model("resnet18", 3, weights=str(damaged))
    with pytest.raises(CamidError, match="no such weights file"):
        build_model("resnet18", 3, weights=str(tmp_path / "missing.pth"))


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    path = saved_weights(build_model("mobilenet_v3_small", 1000, pretrained=False), tmp_path, "mobile")
    with pytest.raises(CamidError, match="does not fit resnet18"):
        build_model("resnet18", 3, weights=str(path))


def test_hub_cache_is_used_and_verified_never_downloaded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    warnings: list[str] = []
    build_model("resnet18", 3, warn=warnings.append)
    assert len(warnings) == 1 and "random init" in warnings[0]
    cached = hub_weights_path("resnet18")
    assert cached == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(build_model("resnet18", 1000, pretrained=False).state_dict(), cached)  # wrong hash
    with pytest.raises(CamidError, match="checksum mismatch"):
        build_model("resnet18", 3, warn=warnings.append)


def test_densenet_legacy_key_names_are_mapped(tmp_path: Path) -> None:
    """torchvision's DenseNet files predate ``norm1`` names and ``num_batches_tracked``."""
    torch.manual_seed(2)
    reference = build_model("densenet121", 1000, pretrained=False)
    legacy = {k.replace("norm1", "norm.1").replace("conv2", "conv.2"): v
              for k, v in reference.state_dict().items() if "num_batches_tracked" not in k}
    path = tmp_path / "densenet121.pth"
    torch.save(legacy, path)
    assert "features.denseblock1.denselayer1.norm1.weight" in load_weights(path, "densenet121")
    model = build_model("densenet121", 3, weights=str(path))
    layer = model.features.denseblock1.denselayer1
    assert torch.equal(layer.conv2.weight, reference.features.denseblock1.denselayer1.conv2.weight)


def test_camnet_is_registered_and_never_looks_for_imagenet_weights(tmp_path: Path, monkeypatch) -> None:
    from training.camnet import CamNet
    from training.models import architectures

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    warnings: list[str] = []
    assert "camnet" in architectures() and "resnet18" in architectures()
    model = build_model("camnet", 6, pretrained=True, warn=warnings.append)
    assert isinstance(model, CamNet) and warnings == [] and not any(tmp_path.iterdir())
    # fully convolutional: a training crop and a larger evaluation crop give one logit per class
    assert model(torch.zeros(2, 3, 48, 48)).shape == (2, 6)
    assert model.eval()(torch.zeros(1, 3, 100, 76)).shape == (1, 6)
    path = tmp_path / "camnet.pth"
    torch.save(model.state_dict(), path)
    assert torch.equal(build_model("camnet", 6, weights=str(path)).stem.weight, model.stem.weight)
    with pytest.raises(CamidError, match="does not fit camnet"):
        build_model("camnet", 4, weights=str(path))


def test_camnet_stem_stays_a_prediction_error_filter_after_each_step() -> None:
    """Centre tap -1 and the other taps summing to 1, for every kernel, after ``constrain()``."""
    torch.manual_seed(3)
    model = build_model("camnet", 3, pretrained=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    before = model.stem.weight.detach().clone()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    centre = model.stem.weight.detach()[:, :, 2, 2]
    assert not torch.allclose(centre, torch.full_like(centre, -1.0))  # the step broke the constraint
    model.constrain()
    kernels = model.stem.weight.detach()
    assert not torch.allclose(kernels, before)  # it learnt
    assert torch.allclose(kernels[:, :, 2, 2], torch.full_like(kernels[:, :, 2, 2], -1.0))
    assert torch.allclose(kernels.sum(dim=(2, 3)), torch.zeros(kernels.shape[:2]), atol=1e-5)
    # a flat patch has no residual: the stem sees no content where the scene is smooth
    assert model.stem(torch.full((1, 3, 16, 16), 0.7))[..., 4:-4, 4:-4].abs().max() < 1e-5
