"""The catalog's work-queue methods: download claims, curator claims and scrape runs.

A mixin of ``db.catalog.Catalog``, kept apart so each module stays small. Claims are leases
(claimer id, end time): several downloaders or curators, in one process or on many machines,
share one catalog and never take the same row twice (see ``db.queue.skip_locked``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from db import curation_queries as curation
from db import queue
from pipeline.records import DownloadTask, ScrapeTally, StoredImage


class QueueMethods:
    """Claims and scrape-run bookkeeping; ``engine`` is the catalog's."""

    engine: Engine

    # ---- download claims and scrape runs (db/queue.py) -------------------------------------------

    def claim_downloads(self, claimer: str, now: datetime, lease_until: datetime,
                        limit: int) -> list[DownloadTask]:
        with self.engine.begin() as conn:
            return queue.claim_due(conn, claimer, now, lease_until, limit)

    def due_count(self, now: datetime) -> int:
        with self.engine.connect() as conn:
            return queue.due_count(conn, now)

    def next_retry_at(self) -> datetime | None:
        with self.engine.connect() as conn:
            return queue.next_retry_at(conn)

    def live_claimers(self, now: datetime) -> list[str]:
        with self.engine.connect() as conn:
            return queue.live_claimers(conn, now)

    def renew_claims(self, claimer: str, until: datetime) -> int:
        with self.engine.begin() as conn:
            return queue.renew_claims(conn, claimer, until)

    def release_claims(self, claimer: str) -> int:
        with self.engine.begin() as conn:
            return queue.release_claims(conn, claimer)

    def start_scrape_run(self, source: str) -> int:
        with self.engine.begin() as conn:
            return queue.start_scrape_run(conn, source)

    def save_scrape_run(self, run_id: int, tally: ScrapeTally, finished: bool = False) -> None:
        with self.engine.begin() as conn:
            queue.save_scrape_run(conn, run_id, tally, finished)

    def api_calls_since(self, source: str, since: datetime) -> int:
        with self.engine.connect() as conn:
            return queue.api_calls_since(conn, source, since)

    # ---- curator claims (db/curation_queries.py) -------------------------------------------------------

    def claim_fact_reading(self, claimer: str, now: datetime, lease_until: datetime,
                           reader_version: int, limit: int) -> list[StoredImage]:
        """Lease up to ``limit`` stored images whose facts are missing or stale."""
        with self.engine.begin() as conn:
            return curation.claim_images_needing_facts(conn, claimer, now, lease_until,
                                                       reader_version, limit)

    def live_image_claimers(self, now: datetime) -> list[str]:
        with self.engine.connect() as conn:
            return curation.live_image_claimers(conn, now)

    def release_image_claims(self, claimer: str) -> int:
        with self.engine.begin() as conn:
            return curation.release_image_claims(conn, claimer)
