"""A run killed with SIGKILL and resumed by `camid train` ends exactly where an uninterrupted run does."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.train_data import make_dataset
from training.config import TrainConfig
from training.trainer import train

CAMID = Path(sys.executable).with_name("camid")
STEPS, EVERY = 40, 5
SETTINGS = {"arch": "shufflenet_v2_x0_5", "crop": 64, "input_size": 32, "batch_size": 8, "steps": STEPS,
            "checkpoint_every": EVERY, "log_every": EVERY, "val_every": 10, "seed": 3}


def cli_args(dataset: Path, run_dir: Path) -> list[str]:
    """The killed run reads lossless JPEG tiles; the reference the pixel cache: same crops, so the
    same weights (the tile store's pixels are the full decode's, and resuming replays the keys)."""
    options = [f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()]
    return [str(CAMID), "--data-dir", str(run_dir.parent / "data"), "train", str(dataset), *options,
            "--no-pretrained", "--workers", "1", "--threads", "1", "--run-dir", str(run_dir),
            "--data-path", "tiles"]


def results(run_dir: Path) -> tuple[dict[str, torch.Tensor], list[list[str]]]:
    """Final weights, and the metric rows without the wall-clock columns."""
    weights = torch.load(run_dir / "model.pt", weights_only=True)
    with open(run_dir / "metrics.csv") as fh:
        rows = [row[:7] for row in csv.reader(fh)]
    return weights, rows


@pytest.mark.slow  # two training runs, one killed
def test_killed_run_resumes_to_the_same_weights_and_metrics(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_HOME": str(tmp_path / "torch-home")}
    reference = tmp_path / "uninterrupted"
    train(TrainConfig(manifest=str(dataset), run_dir=str(reference), pretrained=False, workers=0, threads=1,
                      cache_dir=str(tmp_path / "data" / "cache"), **SETTINGS))

    killed = tmp_path / "killed"
    proc = subprocess.Popen(cli_args(dataset, killed), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the camid process and its loader worker: all started here
    proc.wait()
    assert not (killed / "model.pt").exists(), "the kill came too late: the run had finished"
    stopped_at = torch.load(killed / "checkpoint.pt", weights_only=False)["step"]
    assert EVERY <= stopped_at < STEPS

    out = subprocess.run(cli_args(dataset, killed), env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"resuming {killed} from step {stopped_at}" in out.stdout
    assert "training pixels: lossless JPEG tiles" in out.stdout
    assert list((tmp_path / "data" / "cache" / "pixels" / "tiles-v1").rglob("*.tiles"))

    (want_weights, want_rows), (got_weights, got_rows) = results(reference), results(killed)
    assert got_rows == want_rows and len(got_rows) == 1 + STEPS // EVERY
    assert want_weights.keys() == got_weights.keys()
    for name, tensor in want_weights.items():
        assert torch.equal(tensor, got_weights[name]), name
