"""Several downloader and curator processes on one catalog: every row handled once, on both DBs."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from db import Catalog
from db.migrate import HEAD, current_revision
from flows.stages.curate import read_facts_claimed
from pipeline.facts import READER_VERSION
from tests import pgserver
from tests.claimwork import READER, opener, run_claimers, seed_candidates, seed_images, start_together

ROWS = 1200


@pytest.mark.slow  # four claimer processes, 1,200 rows
@pytest.mark.parametrize("kind", ["downloads", "facts"])
def test_concurrent_processes_handle_every_row_exactly_once(catalog_url: str, tmp_path: Path,
                                                            kind: str) -> None:
    (seed_candidates if kind == "downloads" else seed_images)(catalog_url, ROWS)
    run = run_claimers(catalog_url, kind, workers=4, batch=7, out=tmp_path)

    everything = [key for handled in run.handled for key in handled]
    assert len(everything) == ROWS, "every row handled"
    assert len(set(everything)) == ROWS, "no row handled twice"
    assert sum(1 for handled in run.handled if handled) >= 2, "the work was shared"
    with Catalog.open(catalog_url) as catalog, catalog.engine.connect() as conn:
        if kind == "downloads":
            left = conn.execute(text("SELECT count(*) FROM candidates WHERE status != 'downloaded' "
                                     "OR claimed_by IS NOT NULL")).scalar_one()
        else:
            left = conn.execute(text("SELECT count(*) FROM images WHERE reader_version IS NULL "
                                     "OR claimed_by IS NOT NULL")).scalar_one()
    assert left == 0, "the catalog agrees, and no lease is left behind"


def test_a_held_image_lease_is_skipped_until_it_ends(catalog_url: str) -> None:
    seed_images(catalog_url, 5)
    now = datetime.now(UTC)
    with Catalog.open(catalog_url) as catalog:
        first = catalog.claim_fact_reading("a", now, now + timedelta(minutes=5), READER, 3)
        second = catalog.claim_fact_reading("b", now, now + timedelta(minutes=5), READER, 10)
        assert len(first) == 3 and len(second) == 2
        assert not {i.sha256 for i in first} & {i.sha256 for i in second}
        assert catalog.claim_fact_reading("c", now, now + timedelta(minutes=5), READER, 10) == []
        later = now + timedelta(minutes=6)  # both leases ended: a crashed curator's rows return
        assert len(catalog.claim_fact_reading("c", later, later + timedelta(minutes=5), READER, 10)) == 5


def test_curate_takes_back_the_images_of_a_killed_curator_at_once(catalog_url: str,
                                                                   tmp_path: Path) -> None:
    """A curator killed mid-batch (its pid gone) must not leave files unread until its lease ends."""
    seed_images(catalog_url, 4)
    dead = f"{socket.gethostname()}:{2**22 + 12345}"  # above Linux's pid_max: never a live process
    now = datetime.now(UTC)
    with Catalog.open(catalog_url) as catalog:
        assert len(catalog.claim_fact_reading(dead, now, now + timedelta(hours=1), READER, 10)) == 4
        read = read_facts_claimed(catalog, tmp_path)  # the files are missing: facts say so
        assert read == 4
        assert catalog.count_images_needing_facts(READER_VERSION) == 0
        assert catalog.live_image_claimers(now) == []


@pytest.mark.slow  # four processes, each importing SQLAlchemy and migrating
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_workers_starting_at_once_on_a_new_catalog_migrate_it_once(backend: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    if backend == "postgresql":
        url = pgserver.create_database(request.getfixturevalue("postgres_template"), "fresh_race")
    else:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    start_together(opener, [(url,)] * 4)
    with Catalog.open(url) as catalog:
        assert current_revision(catalog.engine) == HEAD
