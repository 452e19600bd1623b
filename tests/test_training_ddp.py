"""Multi-process training: torchrun starts two CPU processes (gloo); only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.train_data import make_dataset

BIN = Path(sys.executable).parent


@pytest.mark.slow  # a torchrun job of two training processes
def test_two_process_gloo_run_trains_and_only_rank_0_writes(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path)
    run = tmp_path / "run"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CAMID_")},
           "OMP_NUM_THREADS": "1", "TORCH_HOME": str(tmp_path / "torch-home")}
    command = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node=2", "--no-python", str(BIN / "camid"),
               "--data-dir", str(tmp_path / "data"), "train", str(dataset), "--arch", "shufflenet_v2_x0_5",
               "--no-pretrained", "--crop", "64", "--input-size", "32", "--batch-size", "4", "--steps", "6",
               "--checkpoint-every", "3", "--log-every", "3", "--val-every", "3", "--device", "cpu",
               "--workers", "0", "--threads", "1", "--run-dir", str(run)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("trained 6 steps") == 1  # rank 1 trains silently
    assert {p.name for p in run.iterdir()} == {"config.json", "run.json", "checkpoint.pt", "model.pt",
                                               "metrics.csv", "training.png", "best.pt", "last.pt",
                                               "selection.json"}
    assert json.loads((run / "run.json").read_text())["world_size"] == 2
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["3", "6"]
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["world_size"] == 2 and state["step"] == 6
    assert all(not k.startswith("module.") for k in state["model"])  # saved unwrapped: loadable alone
