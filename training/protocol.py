"""The 2018 challenge's scoring protocol, shared by validation during training and ``camid evaluate``.

Per class, a seeded half of the images is scored unaltered and the other half after exactly one
of the eight operations (assigned in turn, so each is used about equally);
score = 0.7 x accuracy(unaltered) + 0.3 x accuracy(altered). Picking the best checkpoint on this
score (not on unaltered accuracy) is what makes the chosen model the one the challenge would rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from training.alterations import CHALLENGE_OPS, UNALTERED, Alteration

WEIGHT_UNALTERED = 0.7


def protocol(labels: Sequence[int], seed: int) -> dict[int, Alteration]:
    """Image index -> its alteration: per class a seeded half unaltered, the rest one op each, in turn."""
    rng = np.random.default_rng(seed)
    ops = [CHALLENGE_OPS[i] for i in rng.permutation(len(CHALLENGE_OPS))]
    plan, turn = {}, 0
    for label in sorted(set(labels)):
        members = [i for i, lab in enumerate(labels) if lab == label]
        order = [members[i] for i in rng.permutation(len(members))]
        for position, index in enumerate(order):
            altered = position >= math.ceil(len(order) / 2)
            plan[index] = ops[turn % len(ops)] if altered else UNALTERED
            turn += altered
    return plan


def weighted_score(correct: Sequence[bool], altered: Sequence[bool]) -> float:
    """0.7 x accuracy on the unaltered images + 0.3 x accuracy on the altered ones.

    A side with no images counts as the other side's accuracy (a one-image class has no altered half).
    """
    hits, alt = np.asarray(correct, dtype=bool), np.asarray(altered, dtype=bool)
    return score_of_counts(float((hits & ~alt).sum()), float((~alt).sum()), float((hits & alt).sum()),
                           float(alt.sum()))


def score_of_counts(hits_unaltered: float, n_unaltered: float, hits_altered: float,
                    n_altered: float) -> float:
    """``weighted_score`` from its four counts (what processes sum before scoring)."""
    if n_unaltered + n_altered == 0:
        return 0.0
    acc_u = hits_unaltered / n_unaltered if n_unaltered else hits_altered / n_altered
    acc_a = hits_altered / n_altered if n_altered else acc_u
    return WEIGHT_UNALTERED * acc_u + (1 - WEIGHT_UNALTERED) * acc_a
