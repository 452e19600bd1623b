"""How a split came out, measured on its rows: what ``manifest.json`` records and the CLI says.

The split is built to keep devices apart (``pipeline.split``); this module does not take that
on trust. It counts, per split and class, the images and the distinct device keys, and checks
``test_devices_unseen`` on the rows themselves, so a manifest states what it holds, not what
the code that wrote it meant to do.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pipeline.split import Shortfall


class Placed(Protocol):
    """A row or item of a split: its class and device key (``ManifestRow``, ``ExportItem``)."""

    @property
    def label(self) -> str: ...

    @property
    def device(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class SideReport:
    """One split: images and distinct devices per class, and images with no device key."""

    images: dict[str, int]
    devices: dict[str, int]
    no_device: int

    def to_json(self) -> dict[str, object]:
        return {"images": self.images, "devices": self.devices, "no_device": self.no_device}


@dataclass(frozen=True, slots=True)
class SplitReport:
    """Every split's ``SideReport``, and whether test shares no device key with train.

    ``test_devices_unseen`` is true when no device key of a test row is a device key of a train
    row (so also for an empty test split; rows with no key are counted in ``no_device``).
    """

    sides: dict[str, SideReport]
    test_devices_unseen: bool
    shortfalls: tuple[Shortfall, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The ``split`` key of ``manifest.json`` (``test_devices_unseen`` is a key of its own)."""
        return {"per_split": {name: side.to_json() for name, side in self.sides.items()},
                "shortfalls": [{"split": s.split, "label": s.label, "target": s.target,
                                "taken": s.taken, "reason": s.reason} for s in self.shortfalls]}


def describe_split(splits: Mapping[str, Sequence[Placed]],
                   shortfalls: tuple[Shortfall, ...] = ()) -> SplitReport:
    """Measure ``splits`` (name -> rows; "train" and "test" are compared for device overlap)."""
    sides = {name: _side(rows) for name, rows in splits.items()}
    seen = {r.device for r in splits.get("train", ()) if r.device}
    tested = {r.device for r in splits.get("test", ()) if r.device}
    return SplitReport(sides, not seen & tested, shortfalls)


def _side(rows: Sequence[Placed]) -> SideReport:
    devices: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.device:
            devices[row.label].add(row.device)
    images = Counter(r.label for r in rows)
    return SideReport(images=dict(sorted(images.items())),
                      devices={label: len(devices[label]) for label in sorted(images)},
                      no_device=sum(1 for r in rows if not r.device))
