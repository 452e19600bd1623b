"""Leak-free, stratified train/validation splits.

Two photos by one uploader share a device, a scene and a style; two near-duplicate copies share
everything. Either pair split across train and validation inflates validation accuracy, so items
are first grouped (connected components of "same uploader" and "same near-duplicate cluster"),
and whole groups go to one side. Validation takes N per class (or a fraction), never more than
half a class, filled greedily by groups in a seeded random order without overshooting any class.
The result depends only on the items and the seed.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.records import ExportItem
from pipeline.unionfind import UnionFind

MAX_VAL_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Split:
    train: tuple[ExportItem, ...]
    val: tuple[ExportItem, ...]
    groups: int


def group_ids(items: Sequence[ExportItem], clusters: Sequence[int]) -> list[int]:
    """Group per item: items sharing an uploader (per source) or a near-duplicate cluster."""
    sets = UnionFind(len(items))
    first_by_key: dict[tuple[str, str], int] = {}
    for i, item in enumerate(items):
        keys = [("cluster", str(clusters[i]))]
        if item.uploader:
            keys.append(("uploader", f"{item.source}\x00{item.uploader}"))
        for key in keys:
            sets.union(i, first_by_key.setdefault(key, i))
    return sets.roots()


def val_targets(counts: Counter[str], per_class: int | None, fraction: float | None) -> dict[str, int]:
    """How many validation items each class gets (at most half the class)."""
    targets = {}
    for label, n in counts.items():
        want = per_class if per_class is not None else round(n * (fraction or 0.0))
        targets[label] = max(0, min(want, int(n * MAX_VAL_SHARE)))
    return targets


def split_items(items: Sequence[ExportItem], clusters: Sequence[int], seed: int,
                per_class: int | None = 100, fraction: float | None = None) -> Split:
    """Assign whole groups to validation until every class has its target, the rest to train."""
    order = sorted(range(len(items)), key=lambda i: items[i].sha256)
    items = [items[i] for i in order]
    clusters = [clusters[i] for i in order]
    groups = group_ids(items, clusters)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    targets = val_targets(Counter(it.label for it in items), per_class, fraction)
    keys = sorted(members, key=lambda g: _seeded_key(seed, items[g].sha256))
    taken: Counter[str] = Counter()
    val_idx: set[int] = set()
    for g in keys:
        need = Counter(items[i].label for i in members[g])
        if all(taken[c] + n <= targets[c] for c, n in need.items()):
            taken.update(need)
            val_idx.update(members[g])
    by_label = sorted(range(len(items)), key=lambda i: (items[i].label, items[i].sha256))
    train = tuple(items[i] for i in by_label if i not in val_idx)
    val = tuple(items[i] for i in by_label if i in val_idx)
    return Split(train=train, val=val, groups=len(members))


def _seeded_key(seed: int, text: str) -> str:
    """A deterministic shuffle key (no dependence on Python's hash randomisation)."""
    return hashlib.sha256(f"{seed}\x00{text}".encode()).hexdigest()
