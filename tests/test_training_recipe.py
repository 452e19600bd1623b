"""The training recipe's pieces: planned crops with the challenge's operations on the file's block
grid, the baseline, bootstrap intervals, prior correction and best-checkpoint selection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.errors import CamidError
from tests.train_data import camera_image
from training.alterations import CHALLENGE_OPS, UNALTERED, Alteration, by_name, gamma, jpeg
from training.augment import RESIZE_MARGIN, apply_plan, grid_of, plan_sample
from training.baseline import FEATURES, fit, trace_features
from training.bootstrap import accuracy_intervals, balanced_predictions, plain_interval
from training.config import CHALLENGE_OP_NAMES, TrainConfig
from training.rundir import MetricRow, RunFiles
from training.selection import best_row, finish_weights, keep_if_best


def cfg(**changes: object) -> TrainConfig:
    base = {"manifest": "-", "run_dir": "-", "steps": 10, "crop": 192, "input_size": 64, "workers": 0}
    return TrainConfig(**{**base, **changes})


def plans(config: TrainConfig, grid: tuple[int, int] = (16, 16), n: int = 400,
          size: tuple[int, int] = (300, 400)) -> list:
    return [plan_sample(np.random.default_rng(seed), size[0], size[1], grid, config) for seed in range(n)]


def test_config_names_the_eight_challenge_operations() -> None:
    assert tuple(op.name for op in CHALLENGE_OPS) == CHALLENGE_OP_NAMES
    assert [by_name(n) for n in CHALLENGE_OP_NAMES] == list(CHALLENGE_OPS)
    assert cfg().ops == CHALLENGE_OP_NAMES and cfg().p_ops == 0.5 and cfg().d4


@pytest.mark.parametrize("name", ["blur_3", "jpeg_0", "jpeg_101", "resize_-1", "resize_x", "gamma"])
def test_unknown_operations_are_refused(name: str) -> None:
    with pytest.raises(CamidError, match="--ops"):
        cfg(ops=(name,))


def test_a_resize_that_cannot_find_its_region_in_the_crop_is_refused() -> None:
    with pytest.raises(CamidError, match=r"resize_0\.5"):
        cfg(crop=96, input_size=64)
    assert cfg(crop=96, input_size=64, ops=("resize_2.0", "jpeg_70")).crop == 96


@pytest.mark.parametrize(("subsampling", "off_grid", "grid"), [
    ("4:2:0", False, (16, 16)), ("4:4:4", False, (8, 8)), ("4:2:2", False, (8, 16)),
    ("4:4:0", False, (16, 8)), ("4:2:0 1:2x2,2:1x1,3:1x1", False, (16, 16)), (None, False, (8, 8)),
    ("3:1:1", False, (8, 8)), ("4:2:0", True, (1, 1)),
])
def test_block_grid_comes_from_the_sampling_factors(subsampling, off_grid, grid) -> None:
    assert grid_of(subsampling, 8, off_grid) == grid


@pytest.mark.parametrize(("grid", "steps"), [((16, 16), {16}), ((8, 8), {8, 16}), ((8, 16), {8, 16}),
                                             ((1, 1), None)])
def test_crop_offsets_sit_on_the_files_grid(grid, steps) -> None:
    found = plans(cfg(p_ops=0.0), grid)
    assert all(p.y % grid[0] == 0 and p.x % grid[1] == 0 for p in found)
    if steps is None:  # off the grid: odd offsets occur
        assert any(p.y % 2 or p.x % 2 for p in found)
    else:  # every multiple of the grid is reachable, not only multiples of 16
        assert {min(16, np.gcd.reduce([p.y for p in found if p.y]))} <= steps


def test_half_the_crops_take_one_operation_each_used_equally() -> None:
    found = plans(cfg(), n=4000)
    ops = Counter(p.op for p in found)
    assert 0.46 < ops[UNALTERED] / len(found) < 0.54
    altered = [ops[op] for op in CHALLENGE_OPS]
    assert min(altered) > 0.7 * max(altered) and len(ops) == 9
    assert all(p.op is UNALTERED for p in plans(cfg(p_ops=0.0)))
    assert {p.op for p in plans(cfg(ops=("jpeg_90",), p_ops=1.0))} == {Alteration("jpeg", 90)}


@pytest.mark.parametrize("op", CHALLENGE_OPS, ids=lambda op: op.name)
def test_each_operation_reads_only_the_region_it_needs(op: Alteration) -> None:
    config = cfg(ops=(op.name,), p_ops=1.0)
    for plan in plans(config, n=50):
        want = 64 if op.kind != "resize" else min(int(np.ceil(64 / op.value)) + 2 * RESIZE_MARGIN, 192)
        assert plan.side == want and plan.op == op
        assert plan.y + plan.side <= 300 and plan.x + plan.side <= 400


@pytest.mark.parametrize("op", [*CHALLENGE_OPS, UNALTERED], ids=lambda op: op.name)
def test_planned_crops_have_the_input_size_and_follow_the_operation(op: Alteration) -> None:
    image = camera_image(0, 5, (400, 300))
    config = cfg(ops=(op.name,) if op is not UNALTERED else (), p_ops=1.0, d4=False, p_gamma=0.0, p_jpeg=0.0)
    plan = plan_sample(np.random.default_rng(3), 300, 400, (16, 16), config)
    region = image[plan.y:plan.y + plan.side, plan.x:plan.x + plan.side]
    out = apply_plan(region, plan, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    if op.kind == "none":
        assert np.array_equal(out, region[:64, :64])
    elif op.kind == "jpeg":
        assert np.array_equal(out, jpeg(region[:64, :64], int(op.value)))
    elif op.kind == "gamma":  # the evaluation's own rounding
        assert np.array_equal(out, gamma(region[:64, :64], op.value))
    elif op.value == 2.0:  # a 2x zoom: every other pixel is close to the source's
        src = region[plan.out_y // 2:plan.out_y // 2 + 32, plan.out_x // 2:plan.out_x // 2 + 32]
        assert np.abs(out[::2, ::2].astype(int) - src).mean() < 12


def test_d4_and_continuous_steps_follow_the_plan_and_can_be_switched_off() -> None:
    assert {(p.turns, p.flip) for p in plans(cfg(d4=False))} == {(0, False)}
    assert len({(p.turns, p.flip) for p in plans(cfg())}) == 8
    image = camera_image(1, 2, (64, 64))
    plan = plan_sample(np.random.default_rng(5), 64, 64, (8, 8), cfg(p_ops=0.0, p_gamma=1.0, p_jpeg=0.0))
    want = gamma(np.ascontiguousarray(np.rot90(image, plan.turns)[:, ::-1] if plan.flip
                                      else np.rot90(image, plan.turns)), plan.gamma or 0)
    assert np.array_equal(apply_plan(image, plan, 64), want)


def test_plans_depend_on_the_seed_alone() -> None:
    a, b = plans(cfg(), n=50), plans(cfg(), n=50)
    assert a == b and len(set(a)) > 40


# ---- baseline, intervals, prior correction --------------------------------------------------------


def test_trace_features_tell_a_smooth_camera_from_a_sharp_one() -> None:
    import cv2

    rng = np.random.default_rng(0)

    def shot(sharp: bool) -> np.ndarray:
        base = cv2.GaussianBlur(rng.uniform(0, 255, (96, 96, 3)).astype(np.float32), (0, 0), 3)
        noisy = base + rng.normal(0, 4, base.shape)
        out = noisy + 1.5 * (noisy - cv2.blur(noisy, (3, 3))) if sharp else cv2.blur(noisy, (3, 3))
        return np.clip(out, 0, 255).astype(np.uint8)

    feats = [trace_features(shot(k == 1)) for k in (0, 1) for _ in range(10)]
    assert feats[0].shape == (FEATURES,)
    model = fit(feats, [0] * 10 + [1] * 10, 2)
    guesses = [model.predict(trace_features(shot(k == 1))) for k in (0, 1) for _ in range(5)]
    assert guesses == [0] * 5 + [1] * 5


def test_intervals_bound_the_score_and_shrink_with_more_images() -> None:
    rng = np.random.default_rng(1)
    def ci(n: int) -> list[float]:
        hits = rng.random(n) < 0.8
        out = accuracy_intervals(hits, [i % 2 == 1 for i in range(n)], [i % 4 for i in range(n)])
        return out["weighted_accuracy"]

    small, big = ci(40), ci(4000)
    assert small[0] < 0.8 < small[1] and big[0] < 0.8 < big[1]
    assert big[1] - big[0] < (small[1] - small[0]) / 4
    half = [True, False] * 5
    assert plain_interval([True] * 10) == [1.0, 1.0]
    assert plain_interval(half, seed=3) == plain_interval(half, seed=3)


def test_prior_correction_removes_a_bias_towards_one_class() -> None:
    # two balanced classes; the model leans to class 0: class-1 images get only 0.45 for class 1
    probs = np.array([[0.9, 0.1]] * 10 + [[0.55, 0.45]] * 10)
    assert list(probs.argmax(axis=1)) == [0] * 20
    assert list(balanced_predictions(probs)) == [0] * 10 + [1] * 10


# ---- best-checkpoint selection --------------------------------------------------------------------


def row(step: int, score: float | None) -> MetricRow:
    return MetricRow(step, 0.0, 1e-3, 1.0, 0.5, None if score is None else 1.0, score, 1.0, 1.0, score)


def test_the_best_validation_step_is_kept_and_handed_out(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    rows: list[MetricRow] = []
    for step, score in ((10, 0.5), (20, None), (30, 0.8), (40, 0.8), (50, 0.6)):
        rows.append(row(step, score))
        keep_if_best(files, {"w": torch.tensor([float(step)])}, rows)
    assert best_row(rows) is rows[2]  # the earliest of equal scores
    finish_weights(files, {"w": torch.tensor([50.0])}, rows)
    assert torch.load(files.model)["w"].item() == 30.0 and torch.load(files.last)["w"].item() == 50.0
    assert '"selected_step": 30' in files.selection.read_text()


def test_without_validation_the_last_weights_are_handed_out(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    finish_weights(files, {"w": torch.tensor([7.0])}, [row(10, None)])
    assert torch.load(files.model)["w"].item() == 7.0 and '"selected_step": 10' in files.selection.read_text()


def test_a_best_file_from_a_lost_future_is_not_trusted(tmp_path: Path) -> None:
    """A kill after best.pt but before the checkpoint: the resumed rows do not reach its step."""
    files = RunFiles(tmp_path)
    keep_if_best(files, {"w": torch.tensor([99.0])}, [row(90, 0.99)])
    finish_weights(files, {"w": torch.tensor([40.0])}, [row(40, 0.7)])
    assert torch.load(files.model)["w"].item() == 40.0
