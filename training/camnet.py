"""camnet: a small forensic CNN for camera-model identification that holds up on unseen devices.

A camera model is told by the traces of its processing (demosaicing, denoising or sharpening,
tone, JPEG), not by what the photo shows; an ImageNet-style network with a strided 7x7 stem first
learns content and, on small crops, throws the pixel-level traces away in its first downsampling.
So camnet:

- starts with a *constrained convolution* (Bayar & Stamm, "Constrained convolutional neural
  networks: a new approach towards general purpose image manipulation detection", IEEE TIFS 2018):
  each 5x5 kernel is a prediction-error filter (centre -1, the other taps sum to 1), so the layer
  sees the residual of each pixel from its neighbours and not the scene. It runs per colour
  channel (grouped), so the next layer can still compare the channels' residuals (colour rendering
  and demosaicing are per channel traces). The constraint is restored after every optimiser step
  by :meth:`CamNet.constrain`, which the trainer calls when a model has it;
- keeps full resolution through its first block (no early stride), then halves the resolution
  per block with average pooling (which keeps the energy of a noise-like signal, where max pooling
  keeps its outliers);
- ends in global average pooling, so it runs on any input size (training crops, the larger
  evaluation crop) and averages the evidence of every position.

There are no ImageNet weights for it: ``build_model("camnet", n, pretrained=True)`` starts from
random init like any forensic network does.
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_WIDTHS = (32, 64, 128, 128)


class ConstrainedConv(nn.Conv2d):
    """A grouped 5x5 convolution whose kernels stay prediction-error filters (see the module)."""

    def __init__(self, channels: int = 3, per_channel: int = 4, kernel: int = 5) -> None:
        super().__init__(channels, channels * per_channel, kernel, padding=kernel // 2, groups=channels,
                         bias=False)
        self.constrain()

    @torch.no_grad()
    def constrain(self) -> None:
        """Project the kernels back: centre tap -1, the other taps rescaled to sum to 1."""
        w = self.weight
        c = w.shape[-1] // 2
        w[:, :, c, c] = 0.0
        total = w.sum(dim=(2, 3), keepdim=True)
        total = torch.where(total.abs() < 1e-6, torch.full_like(total, 1e-6), total)
        w.div_(total)
        w[:, :, c, c] = -1.0


def _block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU layers: the receptive field grows without a stride."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CamNet(nn.Module):
    """Constrained residual stem, conv-BN-ReLU blocks halving the resolution, GAP, a linear head."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = DEFAULT_WIDTHS, per_channel: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.stem = ConstrainedConv(3, per_channel)
        layers: list[nn.Module] = [nn.BatchNorm2d(3 * per_channel)]
        cin = 3 * per_channel
        for i, width in enumerate(widths):
            if i:
                layers.append(nn.AvgPool2d(2))
            layers.append(_block(cin, width))
            cin = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem(x))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))

    def constrain(self) -> None:
        """Restore the stem's constraint; call after every ``optimizer.step()`` (the trainer does)."""
        self.stem.constrain()
