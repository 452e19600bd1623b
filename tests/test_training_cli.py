"""`camid train`, `evaluate` and `predict` end to end on a tiny dataset, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main
from tests.train_data import camera_image, make_dataset, save_jpeg
from training.predict import Prediction, Ranked, describe

CAMID = Path(sys.executable).with_name("camid")
TINY = ("--arch", "resnet18", "--crop", "64", "--input-size", "32", "--batch-size", "8", "--workers", "1",
        "--threads", "1")


def camid(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMID_")}
    env.update(OMP_NUM_THREADS="1", TORCH_HOME=str(cwd / "torch-home"), NO_ALBUMENTATIONS_UPDATE="1")
    return subprocess.run([str(CAMID), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """(work dir, run dir, the train process) of one small run with default run and cache dirs."""
    work = tmp_path_factory.mktemp("cli")
    dataset = make_dataset(work, heldout=3)
    out = camid("--data-dir", "data", "train", str(dataset), *TINY, "--steps", "16",
                "--checkpoint-every", "8", "--log-every", "4", "--val-every", "8", cwd=work)
    assert out.returncode == 0, out.stderr
    return work, work / "data" / "runs" / "tiny-resnet18-s0", out


@pytest.mark.slow  # a training run (the module's `trained`)
def test_train_writes_a_complete_run_directory(trained) -> None:
    work, run, out = trained
    assert "random init" in out.stderr  # no ImageNet file in the (empty) hub cache: said, not downloaded
    assert "trained 16 steps" in out.stdout
    names = {p.name for p in run.iterdir()}
    assert names == {"config.json", "run.json", "checkpoint.pt", "model.pt", "metrics.csv", "training.png",
                     "best.pt", "last.pt", "selection.json"}
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("step,epoch,lr,train_loss,train_acc,val_loss,val_acc")
    assert lines[0].endswith(",val_score")
    cells = [line.split(",") for line in lines[1:]]
    scores = {int(c[0]): float(c[-1]) for c in cells if c[-1]}
    assert set(scores) == {8, 16}  # validated steps carry the challenge score
    selection = json.loads((run / "selection.json").read_text())
    best = max(scores, key=lambda step: (scores[step], -step))
    assert selection["selected_step"] == best and selection["val_score"] == scores[best]
    import torch

    handed_out, best_file = torch.load(run / "model.pt"), torch.load(run / "best.pt")
    assert torch.equal(handed_out["fc.weight"], best_file["model"]["fc.weight"])
    assert [line.split(",")[0] for line in lines[1:]] == ["4", "8", "12", "16"]
    info = json.loads((run / "run.json").read_text())
    assert info["classes"] == ["Cam-A", "Cam-B", "Cam-C"]
    assert info["cameras"] == {"Cam-A": ["apple iphone 6"], "Cam-B": ["sony nex-7"],
                               "Cam-C": ["motorola nexus 6"]}
    config = json.loads((run / "config.json").read_text())
    assert config["steps"] == 16 and config["lr"] == 0.001 and config["crop"] == 64
    assert len(list((work / "data" / "cache" / "pixels" / "v1").rglob("*.npy"))) == 18


@pytest.mark.slow  # a training run (the module's `trained`)
def test_train_again_on_a_finished_run_changes_nothing(trained, capsys, monkeypatch) -> None:
    work, run, _ = trained
    monkeypatch.chdir(work)
    monkeypatch.setenv("TORCH_HOME", str(work / "torch-home"))
    before = (run / "model.pt").read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", "data", "train", str(work / "dataset"), "--arch", "resnet18"])
    assert exit_info.value.code == 0
    out = capsys.readouterr()
    assert "already trained" in out.out and "random init" not in out.err
    assert (run / "model.pt").read_bytes() == before


@pytest.mark.slow  # a training run (the module's `trained`)
def test_evaluate_reports_the_challenge_score_and_curves(trained) -> None:
    work, run, _ = trained
    out = camid("evaluate", str(run), "--crop-size", "64", "--jpeg-qualities", "70,95", "--gammas", "0.8,1.2",
                "--resize-factors", "0.5,2", "--crop-sizes", "32,64", "--json", cwd=work)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # the document alone: the progress went to stderr
    assert "evaluate: 6/6\n" in out.stderr  # plain lines: stderr is a pipe here
    for key in ("weighted_accuracy", "accuracy_unaltered", "accuracy_altered", "per_class", "per_operation"):
        assert key in doc
    weighted = 0.7 * doc["accuracy_unaltered"] + 0.3 * doc["accuracy_altered"]
    assert doc["weighted_accuracy"] == pytest.approx(weighted)
    assert doc["n_images"] == 6 and doc["per_operation"]["unaltered"]["n"] == 3
    assert set(doc["per_class"]) == {"Cam-A", "Cam-B", "Cam-C"} and doc["tta"] is True
    assert sum(map(sum, doc["confusion"])) == 6
    families = {line.split(",")[0] for line in (run / "robustness.csv").read_text().splitlines()[1:]}
    assert families == {"jpeg_quality", "gamma", "resize", "crop_size", "grid_phase"}
    # this dataset has no test split: validation is scored and the document says so
    assert doc["split"] == "val" and "no test split" in doc["split_note"]
    low, high = doc["ci95"]["weighted_accuracy"]
    assert low <= doc["weighted_accuracy"] <= high
    assert all("ci95" in row for row in doc["per_operation"].values())
    assert 0.0 <= doc["baseline"]["weighted_accuracy"] <= 1.0 and "centroid" in doc["baseline"]["method"]
    assert doc["prior_corrected"]["weighted_accuracy"] >= 0.0
    for name in ("metrics.json", "confusion.png", "robustness.png", "reliability.png"):
        assert (run / name).stat().st_size > 1000
    forensic = doc["forensic"]  # whole images of the scored split, the held-out Cam-D as unknown
    assert forensic["split"] == "val" and forensic["n_images"] == 6 and forensic["n_heldout"] == 3
    assert forensic["heldout_cameras"] == ["Cam-D"] and forensic["layout"]["size"] == 64
    assert set(forensic["open_set"]) == {"prototype", "mahalanobis", "max_probability", "energy"}
    assert 0.0 <= forensic["open_set_auroc"] <= 1.0 and forensic["temperature"] > 0
    assert 0.0 <= forensic["ece_after"] <= 1.0 and forensic["exif"]["n_forged"] == 12
    calibration = json.loads((run / "calibration.json").read_text())
    assert calibration["temperature"] == forensic["temperature"] and calibration["layout"]["size"] == 64
    assert calibration["measured"]["exif"] == forensic["exif"]


@pytest.mark.slow  # a training run (the module's `trained`), calibrated by the evaluate test above
def test_predict_gives_calibrated_open_set_verdicts_as_json_lines(trained) -> None:
    work, run, _ = trained
    if not (run / "calibration.json").exists():  # run alone: calibrate first, as a user would
        assert camid("evaluate", str(run), "--crop-size", "64", "--no-curves", cwd=work).returncode == 0
    stranger = work / "stranger.jpg"
    save_jpeg(camera_image(0, 99), stranger, "Canon", "EOS 5D")
    not_image = work / "notes.jpg"
    not_image.write_text("hello")
    images = [str(work / "dataset" / "images" / "Cam-B-4.jpg"), str(stranger), str(not_image)]
    out = camid("predict", *images, "--model", str(run), "--json", "--heatmap", "maps", cwd=work)
    assert out.returncode == 1  # one file was unreadable: said per file, and in the exit status
    known, unknown, broken = (json.loads(line) for line in out.stdout.splitlines())
    for key in ("path", "top", "unknown", "unknown_score", "exif_label", "pixels_agree", "likelihood_ratio",
                "crops"):
        assert key in known
    assert len(known["top"]) == 3 and abs(sum(t["probability"] for t in known["top"]) - 1) < 1e-3
    assert known["calibrated"] is True and isinstance(known["unknown"], bool)
    assert len(known["crops"]) == 4 and {c["size"] for c in known["crops"]} == {64}  # calibrated layout
    assert known["exif_camera"] == "SONY NEX-7" and known["exif_label"] == "Cam-B"
    assert known["pixels_agree"] == (known["likelihood_ratio"] >= 1.0) and known["likelihood_ratio"] > 0
    assert unknown["exif_camera"] == "Canon EOS 5D"
    assert unknown["exif_label"] is None and unknown["pixels_agree"] is None
    assert unknown["likelihood_ratio"] is None
    assert "not a decodable image" in broken["error"]
    line = describe(Prediction(**{**known, "top": tuple(Ranked(**t) for t in known["top"])}))
    assert "EXIF says SONY NEX-7 (Cam-B): the pixels" in line and "4 crops" in line
    assert sorted(p.name for p in (work / "maps").iterdir()) == ["000-Cam-B-4.png", "001-stranger.png"]
    tta = camid("predict", images[0], "--model", str(run), "--json", "--tta", cwd=work)
    assert tta.returncode == 0 and len(json.loads(tta.stdout)["crops"]) == 5  # four corners + centre
    assert "differs from the calibrated one" in tta.stderr


@pytest.mark.slow  # a training run (the module's `trained`)
def test_predict_without_calibration_says_so(trained, tmp_path: Path) -> None:
    import shutil

    work, run, _ = trained
    bare = tmp_path / "bare-run"
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("calibration.json"))
    out = camid("predict", str(work / "dataset" / "images" / "Cam-A-0.jpg"), "--model", str(bare), cwd=work)
    assert out.returncode == 0, out.stderr
    assert "no calibration.json" in out.stderr and "not calibrated" in out.stdout


def test_cli_module_stays_light() -> None:
    code = "import sys, flows.cli; assert not {'torch', 'albumentations', 'cv2'} & set(sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@pytest.mark.slow  # a training run (the module's `trained`)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "nowhere"), "no manifest.json"),
        (("train", "{dataset}", "--steps", "5", "--epochs", "2"), "give --steps or --epochs, not both"),
        (("train", "{dataset}", "--crop", "60"), "multiples of the grid 8"),
        (("train", "{dataset}", "--run-dir", "{run}", "--lr", "0.1"), "holds a run with other settings"),
        (("train", "{dataset}", "--arch", "densenet9000", "--run-dir", "fresh"), "unknown --arch"),
        (("evaluate", "nowhere"), "no such run directory"),
        (("predict", "x.jpg", "--model", "{dataset}"), "no config.json"),
    ],
)
def test_user_mistakes_are_one_line_errors(trained, args, message, capsys, monkeypatch) -> None:
    work, run, _ = trained
    monkeypatch.chdir(work)
    monkeypatch.setenv("CAMID_DATA_DIR", str(work / "data"))
    filled = [a.format(dataset=work / "dataset", run=run) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(filled)
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("camid: error: ") and message in lines[0], lines
