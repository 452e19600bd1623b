"""Leak-free, stratified train/validation/test splits, test disjoint from training by device.

Two photos by one device share its sensor noise, the very thing a camera-model classifier must
not be allowed to memorise; two photos by one uploader share a device, a scene and a style; two
near-duplicate copies share everything. Any such pair split across sides inflates the held-out
accuracy, and the 2018 challenge tested on devices never seen in training. So items are first
grouped (connected components of "same device key", "same uploader" per source and "same
near-duplicate cluster"), and whole groups go to one side.

Test is filled first, then validation, each with whole groups taken in a seeded order, a group
only when it overshoots no class's target. Targets are N per class or a fraction of it; when a
test split is made each held-out split takes at most a third of a class, otherwise validation
at most half. A class whose groups are all bigger than its target (too few devices: one
camera's photos are one group) keeps them in train: its held-out split comes out short, and
``Split.shortfalls`` says so rather than breaking a group. The result depends only on the items
and the seed.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.errors import CamidError
from pipeline.records import ExportItem
from pipeline.unionfind import UnionFind

MAX_VAL_SHARE = 0.5  # validation's cap when no test split is made
MAX_HELD_OUT_SHARE = 1 / 3  # each held-out split's cap when test and validation are both made


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A held-out split that got fewer of a class than its target, and why it cannot get more."""

    split: str
    label: str
    target: int
    taken: int
    reason: str = "whole groups only: every group left is bigger than the split still needs (too few devices)"


@dataclass(frozen=True, slots=True)
class Split:
    """The three sides (each sorted by label, then SHA-256), how many groups, what fell short."""

    train: tuple[ExportItem, ...]
    val: tuple[ExportItem, ...]
    groups: int
    test: tuple[ExportItem, ...] = ()
    shortfalls: tuple[Shortfall, ...] = ()


@dataclass(frozen=True, slots=True)
class _Fill:
    """One held-out split's pick: its item indices, what it took per class, the groups left."""

    taken: frozenset[int]
    counts: Counter[str]
    left: tuple[int, ...]


def group_ids(items: Sequence[ExportItem], clusters: Sequence[int]) -> list[int]:
    """Group per item: items sharing a device key, an uploader (per source) or a near-duplicate
    cluster, transitively."""
    sets = UnionFind(len(items))
    first_by_key: dict[tuple[str, str], int] = {}
    for i, item in enumerate(items):
        keys = [("cluster", str(clusters[i]))]
        if item.uploader:
            keys.append(("uploader", f"{item.source}\x00{item.uploader}"))
        if item.device:
            keys.append(("device", item.device))
        for key in keys:
            sets.union(i, first_by_key.setdefault(key, i))
    return sets.roots()


def split_targets(counts: Mapping[str, int], per_class: int | None, fraction: float | None,
                  share: float = MAX_VAL_SHARE, split: str = "val") -> dict[str, int]:
    """How many items of each class one held-out split gets: N, or a fraction, capped at ``share``.

    Neither given means none. A count below 0 or a fraction outside 0..1 is a ``CamidError``.
    """
    check_targets(split, per_class, fraction)
    targets = {}
    for label, n in counts.items():
        want = per_class if per_class is not None else round(n * (fraction or 0.0))
        targets[label] = max(0, min(want, int(n * share)))
    return targets


def check_targets(split: str, per_class: int | None, fraction: float | None) -> None:
    """Refuse a target no split can have, in the words of the export's options."""
    if per_class is not None and fraction is not None:
        raise CamidError(f"give --{split}-per-class or --{split}-fraction, not both")
    if per_class is not None and per_class < 0:
        raise CamidError(f"--{split}-per-class must be 0 or more, not {per_class}")
    if fraction is not None and not 0.0 <= fraction <= 1.0:
        raise CamidError(f"--{split}-fraction must be between 0 and 1, not {fraction}")


def split_items(items: Sequence[ExportItem], clusters: Sequence[int], seed: int,
                per_class: int | None = 100, fraction: float | None = None,
                test_per_class: int | None = None, test_fraction: float | None = None) -> Split:
    """Whole groups to test until every class has its target, then to validation, the rest to
    train. No test target (both None, or 0) gives the two-way split of earlier camids."""
    order = sorted(range(len(items)), key=lambda i: items[i].sha256)
    items, clusters = [items[i] for i in order], [clusters[i] for i in order]
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(group_ids(items, clusters)):
        members[g].append(i)
    counts = Counter(it.label for it in items)
    three = bool(test_per_class) or bool(test_fraction)
    share = MAX_HELD_OUT_SHARE if three else MAX_VAL_SHARE
    test_targets = split_targets(counts, test_per_class, test_fraction, share, "test")
    val_targets = split_targets(counts, per_class, fraction, share, "val")
    groups = tuple(sorted(members, key=lambda g: _seeded_key(seed, items[g].sha256)))
    test = _fill(items, members, groups, test_targets)
    val = _fill(items, members, test.left, val_targets)
    by_label = sorted(range(len(items)), key=lambda i: (items[i].label, items[i].sha256))
    held_out = test.taken | val.taken
    return Split(train=tuple(items[i] for i in by_label if i not in held_out),
                 val=tuple(items[i] for i in by_label if i in val.taken), groups=len(members),
                 test=tuple(items[i] for i in by_label if i in test.taken),
                 shortfalls=(*_short("test", test_targets, test), *_short("val", val_targets, val)))


def _fill(items: Sequence[ExportItem], members: Mapping[int, list[int]], groups: Sequence[int],
          targets: Mapping[str, int]) -> _Fill:
    """Take, in order, every group that overshoots no class's target; hand back the rest."""
    counts: Counter[str] = Counter()
    taken: set[int] = set()
    left = []
    for g in groups:
        need = Counter(items[i].label for i in members[g])
        if all(counts[c] + n <= targets[c] for c, n in need.items()):
            counts.update(need)
            taken.update(members[g])
        else:
            left.append(g)
    return _Fill(frozenset(taken), counts, tuple(left))


def _short(split: str, targets: Mapping[str, int], fill: _Fill) -> list[Shortfall]:
    return [Shortfall(split, label, target, fill.counts[label])
            for label, target in sorted(targets.items()) if fill.counts[label] < target]


def _seeded_key(seed: int, text: str) -> str:
    """A deterministic shuffle key (no dependence on Python's hash randomisation)."""
    return hashlib.sha256(f"{seed}\x00{text}".encode()).hexdigest()
