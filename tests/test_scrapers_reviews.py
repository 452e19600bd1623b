"""Review galleries against a loopback site: robots.txt, spacing, allowed hosts, both shapes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from db import Catalog
from flows.stages.acquire import scrape
from pipeline.registry_load import load_registry
from scrapers.base import SourceError, user_agent
from scrapers.http import Etiquette, PoliteClient
from scrapers.reviews import DPREVIEW, GSMARENA, ReviewsSource
from tests.fakes.cli import camid
from tests.fakes.images import camera_jpeg
from tests.fakes.reviews import FakeReviews
from tests.fakes.server import Loopback

REGISTRY = load_registry(None)
CAMERAS = [REGISTRY.get(c) for c in ("iPhone-6", "Sony-NEX-7", "HTC-1-M7")]


def site_images() -> dict[str, bytes]:
    paths = ["/dp/11/a.jpg", "/dp/11/b.jpg", "/dp/12/a.jpg", "/dp/12/b.jpg",
             "/imgroot/htc-one/camera/s1.jpg", "/imgroot/htc-one/camera/s2.jpg"]
    return {p: camera_jpeg(800 + i) for i, p in enumerate(paths)}


def reviews(server: Loopback, min_interval: float = 1.0) -> ReviewsSource:
    client = PoliteClient(user_agent("tests@camid.example"), Etiquette(min_interval=min_interval))
    return ReviewsSource(client, [DPREVIEW.at(server.base), GSMARENA.at(server.base)])


def test_both_gallery_shapes_politely_and_only_where_allowed(catalog_url: str) -> None:
    # 0.2 s: long enough that a loaded machine's arrival jitter (tens of ms) cannot look hurried
    fake = FakeReviews(site_images(), crawl_delay=0.2)
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        src = reviews(server)  # 1 s by default, but robots.txt asks for 0.2 s: that wins
        report = scrape(catalog, src, CAMERAS)
        gaps = server.meter.gaps(server.host)
    assert fake.too_soon == 0 and min(gaps) >= 0.1  # 0.2 s asked; half of it, as the fake judges
    assert report.added == 6
    with Catalog.open(catalog_url) as catalog, catalog.engine.connect() as conn:
        rows = dict(conn.exec_driver_sql("SELECT url, camera FROM candidates").all())
    paths = {u.split(server.base, 1)[-1]: cam for u, cam in rows.items()}
    assert paths == {"/dp/11/a.jpg": "iPhone-6", "/dp/11/b.jpg": "iPhone-6",
                     "/dp/12/a.jpg": "Sony-NEX-7", "/dp/12/b.jpg": "Sony-NEX-7",
                     "/imgroot/htc-one/camera/s1.jpg": "HTC-1-M7",
                     "/imgroot/htc-one/camera/s2.jpg": "HTC-1-M7"}
    assert not any("elsewhere" in p or "private" in p for p in fake.pages)
    assert "/sample-galleries/data/get-gallery?galleryId=13&isMobile=false" not in fake.pages
    assert src.refused >= 4  # two off-site links, two robots-disallowed images
    assert report.api_calls == len(fake.pages)


def test_default_spacing_without_robots_rules() -> None:
    fake = FakeReviews(site_images(), robots_status=404, crawl_delay=0.0)
    with Loopback(fake.app()) as server:
        src = reviews(server, min_interval=0.3)
        t0 = time.monotonic()
        found = list(src.find([REGISTRY.get("HTC-1-M7")]))
        elapsed = time.monotonic() - t0
    assert len(found) == 3 and len(fake.pages) == 5  # no robots rules: /private/ is allowed too
    # 0.3 s asked; server-side arrival jitters on a loaded machine, an unspaced client is ~1 ms apart
    assert elapsed >= 0.3 * 3 and min(server.meter.gaps(server.host)[1:]) >= 0.2


def test_a_failing_robots_txt_forbids_everything_and_fails_the_site() -> None:
    fake = FakeReviews(site_images(), robots_status=503)
    with Loopback(fake.app()) as server:
        client = PoliteClient(user_agent(None), Etiquette(min_interval=0.0, retries=0))
        src = ReviewsSource(client, [DPREVIEW.at(server.base)])
        with pytest.raises(SourceError) as err:
            list(src.find(CAMERAS))
        assert fake.pages == ["/robots.txt"]  # nothing else was asked
    assert str(err.value) == ("reviews: every site failed (dpreview: its robots.txt could not be "
                              f"read (GET {server.base}/robots.txt failed: HTTP 503))")
    assert err.value.retryable  # a 503 may pass later


def test_one_failing_site_leaves_the_others_and_is_told() -> None:
    fake = FakeReviews(site_images(), crawl_delay=0.0, gone={"/reviews.php3"})
    told: list[str] = []
    with Loopback(fake.app()) as server:
        client = PoliteClient(user_agent(None), Etiquette(min_interval=0.0))
        src = ReviewsSource(client, [DPREVIEW.at(server.base), GSMARENA.at(server.base)],
                            notice=told.append)
        found = list(src.find(CAMERAS))
    assert len(found) == 4  # dpreview's
    assert told == [f"reviews: gsmarena failed, its galleries are left out: GET "
                    f"{server.base}/reviews.php3 failed: HTTP 404"]


def test_cli_fails_when_every_site_failed(tmp_path: Path) -> None:
    fake = FakeReviews(site_images(), crawl_delay=0.0, gone={"/sample-galleries", "/reviews.php3"})
    with Loopback(fake.app()) as server:
        out = camid("scrape", "reviews", "--endpoint", server.base, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.splitlines() == [
        f"camid: error: reviews: every site failed (dpreview: GET {server.base}/sample-galleries "
        f"failed: HTTP 404; gsmarena: GET {server.base}/reviews.php3 failed: HTTP 404)"]


def test_cli_scrapes_one_site(tmp_path: Path) -> None:
    fake = FakeReviews(site_images(), crawl_delay=0.02)
    with Loopback(fake.app()) as server:
        out = camid("scrape", "reviews", "--site", "dpreview", "--camera", "iPhone-6",
                    "--endpoint", server.base, cwd=tmp_path)
    assert out.returncode == 0 and "2 new candidate(s)" in out.stdout, out.stderr
