"""The three-way split: whole groups of one device, uploader or near-duplicate cluster per side."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from pipeline.errors import CamidError
from pipeline.records import ExportItem
from pipeline.split import Split, split_items, split_targets
from pipeline.split_report import describe_split


def item(n: int, label: str = "A", uploader: str | None = None, device: str | None = None,
         source: str = "flickr") -> ExportItem:
    return ExportItem(sha256=hashlib.sha256(f"{label}{n}".encode()).hexdigest(), path=f"{label}{n}.jpg",
                      label=label, source=source, uploader=uploader, licence=None, attribution_url=None,
                      phash=None, device=device)


def per_device(label: str, devices: int, photos: int) -> list[ExportItem]:
    """``devices`` cameras of one class, ``photos`` each, every photo from another uploader (so
    only the device key ties a camera's photos together)."""
    return [item(d * 100 + p, label, uploader=f"{label}-u{d}-{p}", device=f"serial:{label}{d}")
            for d in range(devices) for p in range(photos)]


def sides(split: Split) -> dict[str, tuple[ExportItem, ...]]:
    return {"train": split.train, "val": split.val, "test": split.test}


def counts(split: Split) -> dict[str, dict[str, int]]:
    return {name: dict(Counter(it.label for it in rows)) for name, rows in sides(split).items()}


def side_of(split: Split) -> dict[str, str]:
    return {it.sha256: name for name, rows in sides(split).items() for it in rows}


def no_key_in_two_sides(split: Split, key) -> bool:
    found: dict[object, set[str]] = {}
    for name, rows in sides(split).items():
        for it in rows:
            if key(it) is not None:
                found.setdefault(key(it), set()).add(name)
    return all(len(names) == 1 for names in found.values())


def singletons(items: list[ExportItem]) -> list[int]:
    return list(range(len(items)))


MIXED = (per_device("A", 9, 4) + per_device("B", 12, 3)
         + [item(900 + i, "A", uploader=f"shared{i % 3}", device=f"serial:A-x{i % 5}") for i in range(15)]
         + [item(950 + i, "B", uploader=f"solo{i}") for i in range(9)])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("options", [
    {"per_class": 6, "test_per_class": 6},
    {"per_class": None, "fraction": 0.2, "test_per_class": None, "test_fraction": 0.2},
    {"per_class": 100, "test_per_class": 100},
    {"per_class": 4, "test_per_class": 8},
], ids=["counts", "fractions", "capped", "uneven"])
def test_no_device_and_no_uploader_is_on_two_sides(seed: int, options) -> None:
    split = split_items(MIXED, singletons(MIXED), seed, **options)
    assert sorted(side_of(split)) == sorted(it.sha256 for it in MIXED)  # every item, once
    assert no_key_in_two_sides(split, lambda it: it.device)
    assert no_key_in_two_sides(split, lambda it: (it.source, it.uploader) if it.uploader else None)
    assert split.test and split.val
    assert describe_split(sides(split)).test_devices_unseen


@pytest.mark.parametrize(("items", "together"), [
    # one device, photographed by three uploaders: one group
    ([item(1, device="serial:x", uploader="a"), item(2, device="serial:x", uploader="b"),
      item(3, device="serial:x")], {0, 1, 2}),
    # no device key, one uploader: one group; the same name on another source is someone else
    ([item(1, uploader="ann"), item(2, uploader="ann"), item(3, uploader="ann", source="wikimedia")],
     {0, 1}),
    # a device links two uploaders, an uploader links two devices: one chain
    ([item(1, device="serial:x", uploader="a"), item(2, device="serial:x", uploader="b"),
      item(3, device="serial:y", uploader="b"), item(4, device="serial:y")], {0, 1, 2, 3}),
], ids=["device", "uploader-per-source", "transitive"])
def test_grouped_items_land_on_one_side(items: list[ExportItem], together: set[int]) -> None:
    fillers = [item(100 + i, uploader=f"f{i}") for i in range(30)]
    everything = items + fillers
    for seed in range(12):
        split = split_items(everything, singletons(everything), seed, per_class=4, test_per_class=4)
        where = side_of(split)
        assert len({where[everything[i].sha256] for i in together}) == 1


def test_near_duplicates_stay_together() -> None:
    items = [item(i, uploader=f"u{i}") for i in range(30)]
    clusters = [i if i >= 3 else 0 for i in range(30)]  # items 0, 1, 2: one photo, three uploads
    for seed in range(12):
        where = side_of(split_items(items, clusters, seed, per_class=4, test_per_class=4))
        assert len({where[items[i].sha256] for i in range(3)}) == 1


@pytest.mark.parametrize(("n", "options", "expected"), [
    (30, {"per_class": 5, "test_per_class": 7}, (7, 5)),
    (30, {"per_class": 100, "test_per_class": 100}, (10, 10)),  # a third each, at most
    (30, {"per_class": 100, "test_per_class": 0}, (0, 15)),  # no test split: validation's half
    (30, {"per_class": 100}, (0, 15)),
    (30, {"per_class": None, "fraction": 0.1, "test_fraction": 0.2}, (6, 3)),
    (30, {"per_class": 5, "test_fraction": 0.5}, (10, 5)),
    (2, {"per_class": 1, "test_per_class": 1}, (0, 0)),  # a third of 2 is no image
], ids=["counts", "third-cap", "no-test", "test-default", "fractions", "mixed", "tiny-class"])
def test_targets_are_met_exactly_when_groups_allow(n: int, options, expected: tuple[int, int]) -> None:
    items = [item(i, uploader=f"u{i}") for i in range(n)]  # singleton groups: targets are met
    split = split_items(items, singletons(items), 0, **options)
    assert (len(split.test), len(split.val), len(split.train)) == (*expected, n - sum(expected))
    assert split.shortfalls == ()


def test_whole_groups_never_overshoot_a_target() -> None:
    items = [item(i, uploader=f"u{i // 4}") for i in range(40)]  # ten uploaders, four photos each
    for seed in range(8):
        split = split_items(items, singletons(items), seed, per_class=6, test_per_class=6)
        assert (len(split.test), len(split.val)) == (4, 4)  # 8 would overshoot 6
        assert [(s.split, s.target, s.taken) for s in split.shortfalls] == [("test", 6, 4), ("val", 6, 4)]


def test_a_class_with_too_few_devices_stays_in_train_and_says_so() -> None:
    items = per_device("A", 12, 1) + per_device("B", 1, 12)  # B: one camera, one group of 12
    split = split_items(items, singletons(items), 3, per_class=3, test_per_class=3)
    assert counts(split)["train"]["B"] == 12 and "B" not in counts(split)["test"]
    short = {(s.split, s.label): (s.target, s.taken) for s in split.shortfalls}
    assert short == {("test", "B"): (3, 0), ("val", "B"): (3, 0)}
    assert "too few devices" in split.shortfalls[0].reason
    assert counts(split)["test"]["A"] == 3 and counts(split)["val"]["A"] == 3


def test_the_same_items_and_seed_give_the_same_split_in_any_order() -> None:
    clusters = singletons(MIXED)
    first = split_items(MIXED, clusters, 5, per_class=6, test_per_class=6)
    assert split_items(list(reversed(MIXED)), list(reversed(clusters)), 5, per_class=6,
                       test_per_class=6) == first
    assert split_items(MIXED, clusters, 6, per_class=6, test_per_class=6) != first
    for rows in sides(first).values():
        assert list(rows) == sorted(rows, key=lambda it: (it.label, it.sha256))


def test_no_test_split_is_the_two_way_split() -> None:
    split = split_items(MIXED, singletons(MIXED), 1, per_class=6)
    assert split.test == () and split == split_items(MIXED, singletons(MIXED), 1, per_class=6,
                                                      test_per_class=0)
    assert counts(split)["val"]["B"] == 6 and counts(split)["val"]["A"] <= 6


@pytest.mark.parametrize(("options", "message"), [
    ({"test_per_class": 3, "test_fraction": 0.1}, "give --test-per-class or --test-fraction, not both"),
    ({"test_per_class": -1}, "--test-per-class must be 0 or more, not -1"),
    ({"fraction": 1.5, "per_class": None}, "--val-fraction must be between 0 and 1, not 1.5"),
])
def test_impossible_targets_are_one_clear_error(options, message: str) -> None:
    with pytest.raises(CamidError) as err:
        split_items(MIXED, singletons(MIXED), 0, **options)
    assert str(err.value) == message


def test_targets_of_each_class() -> None:
    assert split_targets({"A": 9, "B": 100}, 4, None, 1 / 3) == {"A": 3, "B": 4}
    assert split_targets({"A": 9, "B": 100}, None, 0.25) == {"A": 2, "B": 25}
    assert split_targets({"A": 9}, None, None) == {"A": 0}


def test_the_report_counts_devices_and_checks_test_against_train() -> None:
    train = [item(1, "A", device="serial:1"), item(2, "A", device="serial:1"), item(3, "B")]
    test = [item(4, "A", device="serial:2"), item(5, "A", device="serial:3")]
    report = describe_split({"train": train, "val": [], "test": test})
    assert report.test_devices_unseen
    assert report.sides["train"].to_json() == {"images": {"A": 2, "B": 1}, "devices": {"A": 1, "B": 0},
                                               "no_device": 1}
    assert report.sides["test"].devices == {"A": 2}
    leaked = describe_split({"train": train, "test": [*test, item(6, "A", device="serial:1")]})
    assert not leaked.test_devices_unseen
