"""The challenge protocol's pieces: which crops are altered, how, and how the score is made."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.train_data import camera_image
from training.alterations import CHALLENGE_OPS, UNALTERED, Alteration, altered_crop, centre_crop, tta_views
from training.config import EvalConfig
from training.evalsummary import Scored, summarise
from training.protocol import protocol


def test_half_of_each_class_is_altered_by_exactly_one_op_in_turn() -> None:
    labels = tuple([0] * 20 + [1] * 20 + [2] * 8)
    plan = protocol(labels, seed=3)
    assert plan == protocol(labels, seed=3) and plan != protocol(labels, seed=4)
    for label in (0, 1, 2):
        ops = [plan[i] for i, lab in enumerate(labels) if lab == label]
        assert sum(op is UNALTERED for op in ops) == len(ops) // 2
    used = Counter(op for op in plan.values() if op is not UNALTERED)
    assert set(used) == set(CHALLENGE_OPS) and max(used.values()) - min(used.values()) <= 1


def test_alterations_keep_the_crop_size_and_change_what_they_should() -> None:
    image = camera_image(0, 5, (400, 300))
    plain = altered_crop(image, UNALTERED, 64)
    assert np.array_equal(plain, image[112:176, 168:232])  # centre, rounded down onto the 8-grid
    for op in CHALLENGE_OPS:
        out = altered_crop(image, op, 64)
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8, op
        assert not np.array_equal(out, plain), op
    assert altered_crop(image, Alteration("gamma", 1.2), 64).mean() < plain.mean()
    up = altered_crop(image, Alteration("resize", 2.0), 64)
    assert np.abs(up[::2, ::2].astype(int) - image[128:160, 184:216]).mean() < 12  # a 2x zoom of the centre


def test_tta_views_are_corners_and_centre_times_d4() -> None:
    crop = centre_crop(camera_image(1, 2, (80, 80)), 64, 8)
    views = tta_views(crop, 48, corners=True, d4=True)
    assert len(views) == 40 and all(v.shape == (48, 48, 3) for v in views)
    assert len({v.tobytes() for v in views}) == 40
    assert len(tta_views(crop, 48, corners=False, d4=True)) == 8
    assert [v.shape for v in tta_views(crop, 64, corners=True, d4=False)] == [(64, 64, 3)]


def test_score_is_weighted_seven_to_three() -> None:
    jpeg = CHALLENGE_OPS[0]
    scored = [Scored(0, 0, UNALTERED, 0, 0.1), Scored(1, 1, UNALTERED, 1, 0.1),
              Scored(2, 0, jpeg, 1, 2.0), Scored(3, 1, jpeg, 1, 0.2)]
    result = summarise(scored, ["a", "b"], EvalConfig(), [])
    assert result.accuracy_unaltered == 1.0 and result.accuracy_altered == 0.5
    assert result.weighted_accuracy == pytest.approx(0.7 * 1.0 + 0.3 * 0.5)
    assert {k: (v["accuracy"], v["n"]) for k, v in result.per_operation.items()} == {
        "unaltered": (1.0, 2), "jpeg_70": (0.5, 2)}
    assert result.per_operation["unaltered"]["ci95"] == [1.0, 1.0]
    assert result.per_class["a"]["accuracy_altered"] == 0.0
    assert result.confusion == [[1, 1], [0, 2]]
