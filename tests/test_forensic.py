"""The forensic arithmetic (training.forensic) and crop layouts (training.evidence), table-driven."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import CamidError
from training import forensic as fx
from training.calibration import Calibration, fit, read_calibration, write_calibration
from training.evidence import CropLayout, crop_boxes
from training.forensic_eval import exif_rates, measure


def evidence(logits: list[list[float]], features: list[list[float]] | None = None) -> fx.ImageEvidence:
    z = np.array(logits, dtype=float)
    return fx.ImageEvidence(z, np.array(features if features is not None else [[1.0, 0.0]] * len(z)))


def test_aggregate_is_the_mean_log_probability_and_ignores_each_crops_offset() -> None:
    crops = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    expected = (fx.log_softmax(crops[0]) + fx.log_softmax(crops[1])) / 2
    assert np.allclose(fx.aggregate(crops), expected)
    assert np.allclose(fx.aggregate(crops + np.array([[5.0], [-3.0]])), expected)


@pytest.mark.parametrize("true_t", [0.5, 1.0, 3.0])
def test_temperature_scaling_recovers_the_temperature_labels_were_drawn_at(true_t: float) -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(0, 4, (4000, 5))
    probs = fx.softmax(scores / true_t)
    labels = [int(rng.choice(5, p=p)) for p in probs]
    fitted = fx.fit_temperature(scores, labels)
    assert fitted == pytest.approx(true_t, rel=0.08)
    assert fx.nll(scores, labels, fitted) <= fx.nll(scores, labels, 1.0) + 1e-9


def test_temperature_scaling_lowers_the_calibration_error_of_an_overconfident_model() -> None:
    rng = np.random.default_rng(2)
    scores = rng.normal(0, 2, (3000, 4))
    labels = [int(rng.choice(4, p=p)) for p in fx.softmax(scores)]  # true temperature 1
    overconfident = 3 * scores
    t = fx.fit_temperature(overconfident, labels)
    before = fx.expected_calibration_error(fx.calibrated(overconfident, 1.0), labels)
    after = fx.expected_calibration_error(fx.calibrated(overconfident, t), labels)
    assert t == pytest.approx(3.0, rel=0.1) and after < 0.03 < before


@pytest.mark.parametrize(("probs", "labels", "ece"), [
    ([[0.9, 0.1], [0.9, 0.1]], [0, 0], 0.1),  # confident 0.9, right every time
    ([[0.9, 0.1], [0.9, 0.1]], [0, 1], 0.4),  # confident 0.9, right half the time
    ([[0.6, 0.4], [0.2, 0.8]], [0, 1], (0.4 + 0.2) / 2),  # two bins, each right
    ([], [], 0.0),
])
def test_expected_calibration_error(probs: list[list[float]], labels: list[int], ece: float) -> None:
    assert fx.expected_calibration_error(np.array(probs), labels) == pytest.approx(ece)


def test_reliability_bins_hold_confidence_accuracy_and_counts() -> None:
    bins = fx.reliability(np.array([[0.95, 0.05], [0.97, 0.03], [0.55, 0.45]]), [0, 1, 0])
    assert bins == [(0.55, 1.0, 1), (pytest.approx(0.96), 0.5, 2)]


@pytest.mark.parametrize(("known", "unknown", "area"), [
    ([0.1, 0.2], [0.8, 0.9], 1.0),
    ([0.8, 0.9], [0.1, 0.2], 0.0),
    ([0.5, 0.5], [0.5, 0.5], 0.5),
    ([0.1, 0.6], [0.5, 0.9], 0.75),
    ([], [0.5], None),
])
def test_auroc(known: list[float], unknown: list[float], area: float | None) -> None:
    assert fx.auroc(known, unknown) == area


def test_the_auroc_interval_holds_the_auroc_and_narrows_with_more_images() -> None:
    rng = np.random.default_rng(5)
    small = (rng.normal(0, 1, 20), rng.normal(1, 1, 20))
    large = (rng.normal(0, 1, 400), rng.normal(1, 1, 400))
    (lo_s, hi_s), (lo_l, hi_l) = fx.auroc_interval(*small, 300), fx.auroc_interval(*large, 300)
    assert lo_s <= fx.auroc(*small) <= hi_s and lo_l <= fx.auroc(*large) <= hi_l
    assert hi_l - lo_l < hi_s - lo_s and lo_l < 0.76 < hi_l  # the true area: Phi(1 / sqrt 2) = 0.760
    assert fx.auroc_interval([], [0.5]) == []


@pytest.mark.parametrize(("n", "false_alarm", "flagged"), [
    (100, 0.05, 0.05), (20, 0.05, 0.05), (7, 0.05, 0.0), (200, 0.10, 0.10), (1, 0.05, 0.0)])
def test_the_threshold_flags_at_most_the_false_alarm_share_of_known_images(n: int, false_alarm: float,
                                                                           flagged: float) -> None:
    scores = list(np.random.default_rng(n).permutation(n) / n)
    threshold = fx.threshold_for(scores, false_alarm)
    assert fx.flagged_share(scores, threshold) == pytest.approx(flagged)


@pytest.mark.parametrize(("probs", "claimed", "ratio"), [
    ([0.5, 0.5], 0, 1.0),
    ([0.9, 0.05, 0.05], 0, 18.0),  # 0.9 x 2 / 0.1
    ([0.9, 0.05, 0.05], 1, 0.05 * 2 / 0.95),
    ([0.1] * 10, 3, 1.0),  # uniform: no evidence either way
])
def test_likelihood_ratio_under_equal_priors(probs: list[float], claimed: int, ratio: float) -> None:
    assert fx.likelihood_ratio(np.array(probs), claimed) == pytest.approx(ratio)


def test_open_set_scores_rise_for_an_image_unlike_the_classes() -> None:
    prototypes = np.array([[1.0, 0.0], [0.0, 1.0]])
    sure = evidence([[8.0, 0.0]], [[1.0, 0.05]])
    unsure = evidence([[0.2, 0.0]], [[1.0, 1.0]])
    spread = fx.Whitening(np.eye(2), np.array([0.25, 0.25]), 1.0)  # variance 0.25 along both axes
    for method in fx.OPEN_SET_SCORES:
        high, low = (fx.open_set_score(method, e, 1.0, prototypes, spread) for e in (unsure, sure))
        assert high > low
    assert fx.open_set_score("energy", sure, 1.0) == pytest.approx(-math.log(math.exp(8) + 1))
    assert fx.open_set_score("prototype", unsure, 1.0, prototypes) == pytest.approx(1 - 1 / math.sqrt(2))
    # (1, 1) against (1, 0): one dimension off by 1 = two standard deviations of 0.5, over 2 dimensions
    assert fx.open_set_score("mahalanobis", unsure, 1.0, prototypes, spread) == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError, match="unknown open-set score"):
        fx.open_set_score("vibes", sure, 1.0, prototypes)


GRID = (16, 16)
EVERY_32 = [(0, 0), (0, 32), (0, 64), (0, 96), (32, 0), (32, 32), (32, 64), (32, 96), (64, 0), (64, 32),
            (64, 64), (64, 96)]


@pytest.mark.parametrize(("height", "width", "layout", "grid", "expected"), [
    # a 64 px grid over 160 x 128: two rows, two columns, the set centred on the 16 px grid
    (128, 160, CropLayout(size=64), GRID, [(0, 16), (0, 80), (64, 16), (64, 80)]),
    (128, 160, CropLayout(size=64, stride=32), GRID, EVERY_32),
    # a stride off the grid is rounded up onto it (24 -> 32); on an 8 px grid it stays, the set centred
    (128, 160, CropLayout(size=64, stride=24), GRID, EVERY_32),
    (112, 64, CropLayout(size=64, stride=24), (8, 8), [(0, 0), (24, 0), (48, 0)]),
    (128, 160, CropLayout(size=64, stride=32, max_crops=3), GRID, [(0, 0), (32, 64), (64, 96)]),
    (128, 160, CropLayout(size=64, layout="corners"), GRID, [(0, 0), (0, 96), (64, 0), (64, 96), (32, 48)]),
    (100, 100, CropLayout(size=64, layout="corners"), GRID, [(0, 0), (0, 32), (32, 0), (32, 32), (16, 16)]),
])
def test_crop_boxes_are_whole_and_on_the_block_grid(height: int, width: int, layout: CropLayout,
                                                    grid: tuple[int, int], expected: list) -> None:
    boxes = crop_boxes(height, width, layout, grid)
    assert [(b.y, b.x) for b in boxes] == expected
    for b in boxes:
        assert b.y % grid[0] == 0 and b.x % grid[1] == 0
        assert b.y + b.size <= height and b.x + b.size <= width


def test_an_image_smaller_than_the_crop_gets_crops_of_its_short_side_on_the_grid() -> None:
    boxes = crop_boxes(100, 200, CropLayout(size=512), GRID)
    assert [(b.y, b.x, b.size) for b in boxes] == [(0, 0, 96), (0, 96, 96)]
    with pytest.raises(CamidError, match="too small"):
        crop_boxes(6, 200, CropLayout(size=512), (1, 1))


@pytest.mark.parametrize("bad", [{"layout": "spiral"}, {"size": 4}, {"stride": -1}, {"max_crops": 0}])
def test_bad_layouts_are_refused(bad: dict) -> None:
    with pytest.raises(CamidError):
        CropLayout(**bad)


@pytest.mark.parametrize("rank", [3, 2, 1])
def test_low_rank_whitening_is_the_shrunk_covariance_exactly_up_to_its_rank(rank: int) -> None:
    rng = np.random.default_rng(4)
    centred = rng.normal(0, 1, (400, 3)) * np.array([3.0, 1.0, 0.5])
    w = fx.fit_whitening(centred, shrink=0.1, rank=rank)
    cov = centred.T @ centred / 400
    shrunk = 0.9 * cov + 0.1 * np.trace(cov) / 3 * np.eye(3)
    x, prototype = np.array([1.0, -2.0, 0.5]), np.zeros((1, 3))
    exact = math.sqrt(float(x @ np.linalg.inv(shrunk) @ x) / 3)
    got = fx.mahalanobis_distance(x, prototype, w)
    if rank == 3:
        assert got == pytest.approx(exact, rel=1e-9)
    else:  # the smaller directions share one mean variance: close, not equal
        assert got == pytest.approx(exact, rel=0.5) and w.basis.shape == (rank, 3)


def test_exif_rates_count_true_claims_refused_and_forged_claims_supported() -> None:
    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.5, 0.1]])
    rates = exif_rates(probs, [0, 0], threshold=1.0)
    # true claims: LR 18 (kept) and 0.4 x 2 / 0.6 = 1.33 (kept); forged: 0.105, 0.105, 2.0, 0.22
    assert rates["n_genuine"] == 2 and rates["n_forged"] == 4
    assert rates["false_disagree"] == 0.0 and rates["false_agree"] == 0.25


def fitted_on_two_classes() -> tuple[Calibration, list[fx.ImageEvidence], list[int], list[fx.ImageEvidence]]:
    rng = np.random.default_rng(3)
    prototypes = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

    def image(label: int | None) -> fx.ImageEvidence:
        direction = np.array([0.0, 0.0, 1.0]) if label is None else prototypes[label]
        logits = rng.normal(0, 1, (4, 2)) + (0 if label is None else 4 * (np.arange(2) == label))
        return fx.ImageEvidence(logits, direction + rng.normal(0, 0.2, (4, 3)))

    labels = [i % 2 for i in range(200)]
    val = [image(y) for y in labels]
    spread = fx.fit_whitening(np.concatenate([e.crop_features - prototypes[y]
                                              for e, y in zip(val, labels, strict=True)]))
    calibration = fit(val, labels, prototypes, CropLayout(size=64), "prototype", 0.05, spread)
    return calibration, [image(y) for y in labels], labels, [image(None) for _ in range(50)]


def test_fit_then_measure_on_fresh_images_of_the_same_kind() -> None:
    calibration, test, labels, unknown = fitted_on_two_classes()
    assert set(calibration.thresholds) == set(fx.OPEN_SET_SCORES) and calibration.val_images == 200
    result = measure(calibration, test, labels, unknown)
    assert result["open_set"]["prototype"]["auroc"] > 0.99  # a third direction in feature space
    assert result["open_set"]["mahalanobis"]["auroc"] > 0.99
    assert result["false_alarm_measured"] <= 0.12  # asked 5% on validation; fresh images near it
    assert result["unknown_detection_rate"] > 0.9
    assert result["ece_after"] <= result["ece_before"] + 0.02 and result["accuracy"] > 0.9


def test_fit_refuses_what_cannot_work() -> None:
    calibration, val, labels, _ = fitted_on_two_classes()
    prototypes, spread = calibration.prototype_array, calibration.whitening
    assert spread is not None
    with pytest.raises(CamidError, match="open-set-score"):
        fit(val, labels, prototypes, calibration.layout, "vibes", 0.05, spread)
    with pytest.raises(CamidError, match="false-alarm"):
        fit(val, labels, prototypes, calibration.layout, "energy", 1.5, spread)
    with pytest.raises(CamidError, match="val split is empty"):
        fit([], [], prototypes, calibration.layout, "energy", 0.05, spread)


def test_calibration_file_round_trip_and_damage(tmp_path: Path) -> None:
    calibration = fitted_on_two_classes()[0]
    assert read_calibration(tmp_path) is None
    write_calibration(tmp_path, calibration)
    assert read_calibration(tmp_path) == calibration
    (tmp_path / "calibration.json").write_text("{not json")
    with pytest.raises(CamidError, match="unreadable"):
        read_calibration(tmp_path)
    (tmp_path / "calibration.json").write_text('{"format": "camid-calibration/9"}')
    with pytest.raises(CamidError, match="unsupported calibration format"):
        read_calibration(tmp_path)
