"""``camid export-model``: a trained run as one ONNX file that tools outside camid can run.

A forensic lab's own software (C++, C#, a browser) rarely runs PyTorch, but ONNX Runtime runs
everywhere. The exported graph takes what camid itself feeds its network, uint8 N x H x W x 3 RGB
views as stored in the file, and does camid's normalisation inside, so no caller can get the
mean/std or the channel order wrong. It gives the raw ``logits``, the calibrated ``probabilities``
(softmax of logits / temperature, with the temperature ``camid evaluate`` fitted) and the
``features`` (the classifier's input, the space the open-set prototypes live in). Batch, height
and width are dynamic: every camid network is fully convolutional with global pooling, so one
file serves the training crop, the larger evaluation crop and whole-image grids alike.

The file carries what a caller needs to use it right (``camid.*`` metadata): the classes in
output order, the decoder the pixels must come from, the calibration (crop layout, temperature,
open-set method, thresholds and prototypes), so the file alone reproduces camid's verdict.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from pipeline.errors import CamidError
from training.calibration import Calibration, read_calibration
from training.device import MEAN, STD, prepare
from training.inference import LoadedModel, load_run
from training.models import swap_final_linear

if TYPE_CHECKING:
    import onnx

FORMAT = "camid-onnx/1"
OUTPUTS = ("logits", "probabilities", "features")
DECODER = "libjpeg-turbo through OpenCV, EXIF orientation not applied"
INPUT = ("image: uint8 N x H x W x 3 RGB, pixels as the file stores them (any N, H, W the network "
         "accepts); scaled by 1/255 and normalised with the ImageNet mean/std inside the graph")
OUTPUT = ("logits: N x classes; probabilities: softmax(logits / temperature); features: N x D, the "
          "input of the final linear classifier (the space of the calibration's prototypes)")
INSTALL = "install the onnx extra: pip install 'camid[onnx]'"
NEEDED = ("onnx", "onnxscript")  # onnxscript: torch's (torch.export-based) ONNX exporter builds with it


class ExportedNet(nn.Module):
    """A camid network as one graph: stored uint8 pixels in; logits, probabilities and features out.

    The head is split off so the features are a real output of the graph (a hook, as
    ``logits_and_features`` uses, cannot be exported); the network itself is deep-copied, so the
    loaded model is left as it was.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        self.body = copy.deepcopy(model)
        self.head = _detach_head(self.body)
        self.temperature = float(temperature)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = (image.permute(0, 3, 1, 2).float() / 255 - self.mean) / self.std  # as training.device.prepare
        features = self.body(x).flatten(1)
        logits = self.head(features)
        return logits, torch.softmax(logits / self.temperature, dim=1), features


def _detach_head(body: nn.Module) -> nn.Linear:
    """Replace ``body``'s last ``nn.Linear`` with ``nn.Identity`` (in place) and return the linear,
    so ``body`` ends in the feature that ``logits_and_features`` reads with its hook."""
    return swap_final_linear(body, lambda _head: nn.Identity())


def _require_exporter() -> None:
    """ONNX export is an optional extra: say how to get it rather than fail on an import."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise CamidError(f"ONNX export needs {' and '.join(missing)}, not installed here: {INSTALL}")


def export_onnx(run_dir: Path, target: Path) -> Path:
    """Write ``run_dir``'s model to ``target`` as ONNX with camid's metadata; returns ``target``.

    The file is written beside the target and renamed into place, so an interrupted export never
    leaves a truncated model where a tool would load it.
    """
    _require_exporter()
    import onnx

    loaded = load_run(run_dir, "cpu")
    calibration = read_calibration(Path(run_dir))
    net = ExportedNet(loaded.model, calibration.temperature if calibration else 1.0).eval()
    example = torch.randint(0, 256, (2, loaded.info.input_size, loaded.info.input_size, 3),
                            dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    _check_logits(loaded, net, example)
    proto = _trace(net, example, loaded.config.arch)
    onnx.helper.set_model_props(proto, metadata(loaded, calibration))
    onnx.checker.check_model(proto)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(proto.SerializeToString())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


@torch.no_grad()
def _check_logits(loaded: LoadedModel, net: ExportedNet, example: torch.Tensor) -> None:
    """The split network must give the network's own logits: one whose last linear layer is not
    its last step (something after the head) would export features and logits that camid never
    computes."""
    want = loaded.model(prepare(example, loaded.device, loaded.channels_last)).float()
    got = net(example)[0]
    if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise CamidError(f"{loaded.config.arch}: the network does more after its last linear layer; "
                         "its features cannot be exported")


def _trace(net: ExportedNet, example: torch.Tensor, arch: str) -> onnx.ModelProto:
    """torch.export-based ONNX export (``dynamo=True``) with batch, height and width dynamic.

    The TorchScript exporter still exists in torch 2.14 but is deprecated (a warning on every
    call, on its way out with TorchScript); torch.export is the maintained path and keeps the
    symbolic dimensions named in the graph (``batch``, ``height``, ``width``).
    """
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("height"), 2: torch.export.Dim("width")}
    try:
        program = torch.onnx.export(net, (example,), input_names=["image"], output_names=list(OUTPUTS),
                                    dynamic_shapes={"image": dims}, dynamo=True, external_data=False,
                                    verbose=False)
    except RuntimeError as exc:  # torch.export's and the ONNX translation's errors are RuntimeErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CamidError(f"{arch}: ONNX export failed: {first}") from exc
    if program is None:  # only the TorchScript path returns None
        raise CamidError(f"{arch}: ONNX export returned no program")
    return program.model_proto


def metadata(loaded: LoadedModel, calibration: Calibration | None) -> dict[str, str]:
    """The ``camid.*`` metadata: what a tool needs to feed the graph and read its outputs."""
    return {
        "camid.format": FORMAT,
        "camid.classes": json.dumps(list(loaded.info.classes)),
        "camid.arch": loaded.config.arch,
        "camid.input_size": str(loaded.info.input_size),
        "camid.temperature": json.dumps(calibration.temperature if calibration else 1.0),
        "camid.calibration": json.dumps(asdict(calibration), sort_keys=True) if calibration else "null",
        "camid.decoder": DECODER,
        "camid.input": INPUT,
        "camid.outputs": OUTPUT,
    }


def read_metadata(path: Path) -> dict[str, str]:
    """The ``camid.*`` metadata of an exported file (the weights are not loaded)."""
    _require_exporter()
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props if p.key.startswith("camid.")}


def describe(path: Path) -> str:
    """One line on what an export wrote: classes, temperature, open-set threshold."""
    meta = read_metadata(path)
    classes = json.loads(meta["camid.classes"])
    calibration = json.loads(meta["camid.calibration"])
    if calibration is None:
        fitted = "uncalibrated (temperature 1.0, no open-set threshold; `camid evaluate` fits them)"
    else:
        fitted = (f"temperature {calibration['temperature']:.4g}, open-set threshold "
                  f"{calibration['threshold']:.4g} ({calibration['open_set_method']}, false alarm "
                  f"{calibration['false_alarm']:g})")
    return f"wrote {path}: {meta['camid.arch']}, {len(classes)} classes ({', '.join(classes)}), {fitted}"
