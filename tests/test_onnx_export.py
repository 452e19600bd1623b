"""`camid export-model RUN_DIR --onnx FILE`: the ONNX file computes what camid computes.

A tiny trained run (resnet18, 32 px input) with a calibration (temperature 2) is exported through
the CLI and run with ONNX Runtime on uint8 batches of two sizes, neither of them the size the
export traced with; logits, calibrated probabilities and features must match camid's own
(``training.inference.logits_and_features``). ``make test`` installs the onnx extra and sets
``CAMID_REQUIRE_ONNX=1``, so there a missing package fails the run; a bare ``pytest`` elsewhere
skips the cases that need it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from flows.cli import main
from tests.train_data import make_dataset
from training.calibration import Calibration, write_calibration
from training.config import TrainConfig
from training.evidence import CropLayout

CLASSES = ["Cam-A", "Cam-B", "Cam-C"]
TEMPERATURE = 2.0
SIZES = ((2, 32, 32), (1, 48, 64))  # batch, height, width: the export traced 2 x 32 x 32
EXTRA = ("onnx", "onnxruntime", "onnxscript")  # pyproject's onnx extra


@pytest.fixture(scope="module")
def ort() -> ModuleType:
    """onnxruntime, after checking the whole extra is here (or failing where it must be)."""
    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        message = f"the onnx extra is not installed ({', '.join(missing)} missing)"
        if os.environ.get("CAMID_REQUIRE_ONNX") == "1":
            pytest.fail(f"ONNX is required here: {message}")
        pytest.skip(message)
    import onnxruntime

    return onnxruntime


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4-step resnet18 run with a calibration.json of temperature 2."""
    from training.trainer import train

    work = tmp_path_factory.mktemp("onnx")
    run = work / "run"
    train(TrainConfig(manifest=str(make_dataset(work)), run_dir=str(run), arch="resnet18", pretrained=False,
                      crop=64, input_size=32, batch_size=8, steps=4, checkpoint_every=4, log_every=4,
                      val_every=0, workers=0, threads=1, cache_dir=str(work / "cache")))
    write_calibration(run, Calibration(
        temperature=TEMPERATURE, layout=CropLayout(size=32), open_set_method="energy", threshold=-1.5,
        false_alarm=0.05, thresholds={"max_probability": -0.4, "energy": -1.5, "prototype": 3.0},
        prototypes=[[0.1] * 512 for _ in CLASSES], val_images=6))
    return run


@pytest.fixture(scope="module")
def exported(ort: ModuleType, run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the ONNX file, the command's stdout) of ``camid export-model`` on the run."""
    out_dir = tmp_path_factory.mktemp("exported")
    target = out_dir / "model.onnx"
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(out_dir / "data"), "export-model", str(run_dir), "--onnx", str(target)])
    assert exit_info.value.code == 0, stderr.getvalue()
    assert [p.name for p in out_dir.iterdir()] == ["model.onnx"]  # no temporary file left beside it
    return target, stdout.getvalue()


@pytest.mark.slow  # a training run and an export
def test_export_prints_one_line_of_what_it_wrote(exported) -> None:
    target, stdout = exported
    assert stdout.count("\n") == 1 and stdout.startswith(f"wrote {target}: resnet18, 3 classes")
    assert "Cam-A, Cam-B, Cam-C" in stdout and "temperature 2," in stdout
    assert "open-set threshold -1.5 (energy" in stdout


@pytest.mark.slow  # a training run and an export
def test_onnx_runtime_matches_torch_on_two_input_sizes(ort, exported, run_dir) -> None:
    from training.inference import load_run, logits_and_features

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(exported[0]), options, providers=["CPUExecutionProvider"])
    (image,) = session.get_inputs()
    assert (image.name, image.type) == ("image", "tensor(uint8)")
    assert image.shape == ["batch", "height", "width", 3]
    assert [o.name for o in session.get_outputs()] == ["logits", "probabilities", "features"]
    loaded = load_run(run_dir, "cpu")
    rng = np.random.default_rng(7)
    for n, height, width in SIZES:
        batch = rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)
        logits, probabilities, features = session.run(None, {"image": batch})
        want_logits, want_features = logits_and_features(loaded, list(batch))
        scaled = want_logits / TEMPERATURE
        want_probabilities = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        want_probabilities /= want_probabilities.sum(axis=1, keepdims=True)
        for name, got, want in (("logits", logits, want_logits), ("probabilities", probabilities,
                                want_probabilities), ("features", features, want_features)):
            assert got.shape == want.shape, name
            assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max()), (name, height, width)


@pytest.mark.slow  # a training run and an export
def test_metadata_carries_classes_calibration_and_decoder(ort, exported) -> None:
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["camid.format"] == "camid-onnx/1"
    assert json.loads(meta["camid.classes"]) == CLASSES
    assert meta["camid.arch"] == "resnet18" and meta["camid.input_size"] == "32"
    assert json.loads(meta["camid.temperature"]) == TEMPERATURE
    calibration = json.loads(meta["camid.calibration"])
    assert calibration["temperature"] == TEMPERATURE and calibration["open_set_method"] == "energy"
    assert calibration["layout"]["size"] == 32 and len(calibration["prototypes"]) == 3
    assert meta["camid.decoder"] == "libjpeg-turbo through OpenCV, EXIF orientation not applied"
    assert "uint8 N x H x W x 3 RGB" in meta["camid.input"]


def test_a_directory_that_is_not_a_run_is_a_clear_error(ort, tmp_path: Path, capsys) -> None:
    target = tmp_path / "model.onnx"
    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tmp_path / "data"), "export-model", str(tmp_path), "--onnx", str(target)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err == f"camid: error: {tmp_path}: no config.json (not a camid run directory)\n"
    assert not target.exists()


def test_a_missing_extra_says_how_to_install_it(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("training.onnx_export.NEEDED", ("onnx", "camid_no_such_package"))
    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tmp_path / "data"), "export-model", str(tmp_path), "--onnx",
              str(tmp_path / "model.onnx")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("camid: error: ONNX export needs camid_no_such_package")
    assert err.endswith("install the onnx extra: pip install 'camid[onnx]'\n")
