"""The dataset card in a real browser: headless Chromium loads it with no console error, no
uncaught exception, and every image decoded (``naturalWidth`` > 0 in the DOM).

Chromium is Debian's ``chromium`` package (``make chromium``, which ``make test`` runs first). A
bare ``pytest`` without it skips; under ``make test`` (``CAMID_REQUIRE_CHROMIUM=1``) it fails
instead. ``CAMID_SCREENSHOT_DIR`` keeps the screenshots for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flows.stages.report import write_dataset_card
from tests import cardworld
from tests.chromium import chromium_binary, load_page, require_chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    found = chromium_binary()
    if found is None:
        if require_chromium():
            pytest.fail("Chromium is required here (make chromium installs Debian's chromium)")
        pytest.skip("no Chromium (apt-get install chromium, or make chromium)")
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_card_renders_in_chromium_with_its_images(chromium: str, tmp_path: Path, sqlite_url: str,
                                                      policy) -> None:
    world = cardworld.build(tmp_path, sqlite_url, policy, accepted_per_camera=40)
    try:
        cards = {"dataset": write_dataset_card(world.catalog, world.data, world.registry, "card"),
                 "catalog": write_dataset_card(world.catalog, world.data, world.registry, None)}
    finally:
        world.catalog.close()
    keep = os.environ.get("CAMID_SCREENSHOT_DIR")
    for kind, card in cards.items():
        page = load_page(card.path)
        shot = tmp_path / f"report-{kind}.png"
        shot.write_bytes(page.screenshot)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)
        assert page.errors == [], page.errors
        assert page.console == [], page.console  # not even a warning
        assert page.title.startswith("camid ")
        assert len(page.images) >= card.thumbnails > 40, page.images[:3]
        broken = [i for i in page.images if not (i["complete"] and i["naturalWidth"] > 0)]
        assert broken == []
        assert all(i["src"].startswith("data:image/jpeg;base64,") for i in page.images)
        for heading in ("Cameras", "Rejections", "Split", "Provenance", "Distribution and licences"):
            assert heading in page.text
        assert "quality 80 < 95" in page.text  # a measured value, as the reader sees it
        assert page.screenshot.startswith(b"\x89PNG") and len(page.screenshot) > 20_000
