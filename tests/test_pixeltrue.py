"""Pixel-true originals, end to end: real and demo-world originals and their altered copies.

Every original of ``../shared/realworld`` that is a camera original (``REAL_ORIGINALS``) and the
demo's simulated originals, each with every kind of copy in ``tests.forgeries``, judged by the
header and pixel stages of the default policy (``tests.pixeltrue``). The same run prints the
false-accept/false-reject table in ``bench/pixeltrue.py``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from pipeline.policy import load_policy
from pipeline.records import Reason
from tests.forgeries import KINDS
from tests.pixeltrue import (
    EXPECTED_REJECTED_ORIGINALS,
    NOT_PIXEL_TRUE,
    REAL_ORIGINALS,
    Outcome,
    evaluate,
    load_demo,
    load_real,
)

# kinds no copy of which may get through: every kind whose pixels are not the camera's. The last
# two through were pastes into a quality-77 file without a thumbnail (kodak-dc210), which the
# noise-deficit test now catches: without it this fails for `splice` and `transplant_splice`.
ALWAYS_CAUGHT = tuple(kind.name for kind in KINDS if not kind.camera_pixels)
BENIGN = ("resave", "transplant_resave", "metadata_edit")
# the `real` and `demo` fixtures judge 600 copies (a minute on the 2-core machine): a longer guard
pytestmark = pytest.mark.timeout(600)


def _by_kind(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    kinds: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        kinds[outcome.kind].append(outcome)
    return kinds


@pytest.fixture(scope="module")
def real(request) -> dict[str, list[Outcome]]:
    root = request.getfixturevalue("realworld")
    return _by_kind(list(evaluate(load_real(root), load_policy())))


@pytest.fixture(scope="module")
def demo() -> dict[str, list[Outcome]]:
    return _by_kind(list(evaluate(load_demo(3), load_policy())))


@pytest.fixture(scope="module")
def realworld():  # type: ignore[no-untyped-def]
    from tests.conftest import REALWORLD

    if not (REALWORLD / "reference.csv").exists():
        pytest.skip("../shared/realworld is not present")
    return REALWORLD


@pytest.mark.slow  # the module's `real`/`demo`: 600 copies judged
def test_real_originals_stay_accepted(real: dict[str, list[Outcome]]) -> None:
    originals = real["original"]
    assert len(originals) == len(REAL_ORIGINALS)
    rejected = {o.name: {*o.header, *o.pixels} for o in originals if not o.accepted}
    assert set(rejected) == set(EXPECTED_REJECTED_ORIGINALS), rejected
    for name, reason in EXPECTED_REJECTED_ORIGINALS.items():
        assert reason in rejected[name]
    assert sum(o.accepted for o in originals) / len(originals) >= 0.95


def test_damaged_real_files_are_not_originals(realworld: Path) -> None:
    from pipeline.facts import read_facts
    from tests import forgeries
    from tests.pixeltrue import registry_for

    for name, (reason, _why) in NOT_PIXEL_TRUE.items():
        orig = forgeries.load_original(realworld / "jpg" / name, name)
        facts = read_facts(realworld / "jpg" / name)
        from pipeline.pixels import measure
        from pipeline.verdict import judge

        verdict = judge(facts, registry_for(orig, orig.data), load_policy(), pixels=measure(orig.data, facts))
        assert reason in verdict.reasons, (name, verdict.reasons)


@pytest.mark.slow  # the module's `real`/`demo`: 600 copies judged
@pytest.mark.parametrize("kind", ALWAYS_CAUGHT)
def test_no_copy_of_these_kinds_gets_through(real: dict[str, list[Outcome]], demo: dict[str, list[Outcome]],
                                             kind: str) -> None:
    outcomes = real[kind] + demo[kind]
    assert outcomes and [o.name for o in outcomes if o.accepted] == []


def test_every_altered_kind_is_held_to_no_false_accept() -> None:
    assert {"splice", "transplant_splice", "copy_move", "blur", "resample"} <= set(ALWAYS_CAUGHT)
    assert not {"resave", "transplant_resave", "metadata_edit"} & set(ALWAYS_CAUGHT)


@pytest.mark.slow  # the module's `real`/`demo`: 600 copies judged
def test_no_altered_demo_copy_gets_through(demo: dict[str, list[Outcome]]) -> None:
    """Every demo camera's thumbnails are learned from its other files (tests.pixeltrue), which
    catches the pastes into smooth scenes the policy's own thumbnail threshold lets through."""
    through = [(kind, o.name) for kind, outcomes in demo.items() if kind != "original"
               for o in outcomes if o.accepted and not o.camera_pixels]
    assert through == []


@pytest.mark.slow  # the module's `real`/`demo`: 600 copies judged
@pytest.mark.parametrize("kind", BENIGN)
def test_copies_with_the_cameras_pixels_stay_accepted(real: dict[str, list[Outcome]],
                                                      demo: dict[str, list[Outcome]], kind: str) -> None:
    outcomes = [o for o in real[kind] + demo[kind] if o.name not in EXPECTED_REJECTED_ORIGINALS]
    assert outcomes and [o.name for o in outcomes if not o.accepted] == []
    if kind == "resave":  # Pillow rewrote the cameras' containers: a fact, not a rejection
        assert all("resaved" in o.flags for o in outcomes if not o.name.startswith("demo/"))


@pytest.mark.slow  # the module's `real`/`demo`: 600 copies judged
def test_demo_originals_stay_accepted(demo: dict[str, list[Outcome]]) -> None:
    from flows.demo.cameras import CAMERAS

    assert len(demo["original"]) == 3 * len(CAMERAS) and all(o.accepted for o in demo["original"])


@pytest.mark.slow  # the module's `real`/`demo`: 600 copies judged
def test_header_and_pixel_stages_split_the_work(real: dict[str, list[Outcome]]) -> None:
    """The header stage alone rejects a copy only when its header gives it away."""
    assert all(o.header for o in real["subsampling"])  # other sampling: foreign_encoder
    assert all(Reason.EMPTY_SCAN in o.header for o in real["no_scan"])
    assert not any(o.header for o in real["transplant_resample"])  # the camera's own header...
    assert all(Reason.RESAMPLED in o.pixels for o in real["transplant_resample"])  # ...not its pixels
