"""The hourly Flickr API budget counts calls at the times they were made (a sliding window over
the catalog's stamps), not every call of a recent run as if made just now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from db import Catalog
from db.models import ApiCallRow
from flows.stages.sources import flickr_budget
from pipeline.records import ScrapeTally


def _age_calls(catalog: Catalog, minutes: float) -> None:
    """Time travel: the calls stamped so far were made ``minutes`` ago."""
    with catalog.engine.begin() as conn:
        conn.execute(update(ApiCallRow).values(at=datetime.now(UTC) - timedelta(minutes=minutes)))


def test_calls_leave_the_window_an_hour_after_they_were_made(catalog_url: str) -> None:
    """3,000 calls 50 minutes ago and 500 now, of one long run: the 101st call of a new run
    waits the 10 minutes until the old ones age out (not an hour from the run's last save)."""
    clock, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    with Catalog.open(catalog_url) as catalog:
        run = catalog.start_scrape_run("flickr")
        catalog.save_scrape_run(run, ScrapeTally(api_calls=3000, found=10))
        _age_calls(catalog, 50)
        catalog.save_scrape_run(run, ScrapeTally(api_calls=3500, found=20), finished=True)
        assert catalog.api_calls_since("flickr", datetime.now(UTC) - timedelta(hours=1)) == 3500
        budget = flickr_budget(catalog, 3600, clock=lambda: clock[0], sleep=sleep)
    for _ in range(101):
        budget.wait()
    assert slept == [pytest.approx(600, abs=5)]


def test_old_call_stamps_are_pruned(sqlite_url: str) -> None:
    with Catalog.open(sqlite_url) as catalog:
        run = catalog.start_scrape_run("flickr")
        catalog.save_scrape_run(run, ScrapeTally(api_calls=10))
        _age_calls(catalog, 3 * 24 * 60)
        catalog.save_scrape_run(run, ScrapeTally(api_calls=12))
        times = catalog.api_call_times("flickr", datetime.now(UTC) - timedelta(days=30))
    assert [n for _, n in times] == [2]
