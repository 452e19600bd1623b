"""The catalog: every candidate, download, verdict and export, behind typed methods.

All of camid's SQL lives in ``db/``. Callers hand in and get back ``pipeline.records``
dataclasses; ORM rows never escape. Every write is idempotent (re-running a stage never
duplicates a row) because stages are resumed after crashes and re-run by schedulers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, bindparam, exc, func, select, update

from db import curation_queries as curation
from db import queue
from db import stats as stats_queries
from db.catalog_curation import CurationMethods
from db.catalog_queue import QueueMethods
from db.connection import make_engine
from db.migrate import upgrade
from db.models import CandidateRow, ImageRow
from pipeline.batching import batched
from pipeline.errors import ConfigError
from pipeline.records import (
    Candidate,
    CandidateKey,
    CandidateOutcome,
    CandidateSkip,
    CandidateStatus,
    CatalogStats,
    Download,
    DownloadDeferral,
    DownloadFailure,
)

BATCH = 5_000


class Catalog(QueueMethods, CurationMethods):
    """A handle on one catalog database (SQLite file or any SQLAlchemy URL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Catalog:
        """Open (creating if needed) and migrate the catalog at ``url`` to the newest schema."""
        engine = make_engine(url)
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ConfigError(f"catalog dialect {engine.dialect.name!r} is not supported "
                              "(use sqlite:/// or postgresql+psycopg://)")
        try:
            upgrade(engine)
        except exc.OperationalError as err:
            safe = engine.url.render_as_string(hide_password=True)
            detail = " ".join(str(err.orig).split())  # libpq's messages span lines
            raise ConfigError(f"cannot open catalog {safe}: {detail}") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- candidates --------------------------------------------------------------------------

    def add_candidates(self, candidates: Iterable[Candidate]) -> int:
        """Insert candidates not seen before (by source + source id); return how many were new.

        Uses the database's own ``ON CONFLICT DO NOTHING`` so concurrent scrapers and re-runs
        never duplicate or overwrite a candidate's download state.
        """
        table = CandidateRow.__table__
        stmt = self._insert(table).on_conflict_do_nothing(index_elements=["source", "source_id"])
        stmt = stmt.returning(table.c.id)
        inserted = 0
        with self.engine.begin() as conn:
            for batch in batched((asdict(c) for c in candidates), BATCH):
                inserted += len(conn.execute(stmt, batch).all())
        return inserted

    def candidate_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(CandidateRow)).scalar_one()

    def get_candidate(self, key: CandidateKey) -> Candidate | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_CANDIDATE_COLUMNS).where(*_key_filter(key))).first()
        return Candidate(**row._asdict()) if row else None

    def candidate_status(self, key: CandidateKey) -> CandidateStatus | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(CandidateRow.status).where(*_key_filter(key))).scalar()
        return CandidateStatus(value) if value else None

    def outcomes(self, source: str) -> list[CandidateOutcome]:
        """Every candidate of ``source`` with its status and recorded reasons (skips and verdicts)."""
        c = CandidateRow
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.source, c.source_id, c.url, c.status, c.reasons, c.last_error)
                                .where(c.source == source).order_by(c.id)).all()
        return [CandidateOutcome(src, sid, url, CandidateStatus(st),
                                 tuple(x for x in (r or "").split(",") if x), err)
                for src, sid, url, st, r, err in rows]

    # ---- downloads and verdicts ----------------------------------------------------------------

    def record_download(self, download: Download) -> int:
        """Store a verified file once per content and link the candidate to it; returns image id."""
        return self.record_downloads([download])[download.sha256]

    def record_downloads(self, downloads: Sequence[Download]) -> dict[str, int]:
        """Batch form of ``record_download``: one transaction; returns image id per sha256."""
        images = ImageRow.__table__
        new_images = {d.sha256: {"sha256": d.sha256, "path": d.path, "bytes": d.bytes}
                      for d in downloads}
        with self.engine.begin() as conn:
            if new_images:
                conn.execute(self._insert(images).on_conflict_do_nothing(index_elements=["sha256"]),
                             list(new_images.values()))
            ids = curation.image_ids(conn, list(new_images))
            links = [{"k_source": d.key.source, "k_source_id": d.key.source_id,
                      "v_image": ids[d.sha256]} for d in downloads]
            if links:
                conn.execute(_LINK_DOWNLOAD, links)
        return ids

    # ---- statistics ----------------------------------------------------------------------------

    def stats(self) -> CatalogStats:
        """Counts per camera, source and status; rejection reasons; quality, size and licences."""
        with self.engine.connect() as conn:
            return stats_queries.catalog_stats(conn)

    # ---- download results -----------------------------------------------------------------------

    def record_fetch_results(self, downloads: Sequence[Download], failures: Sequence[DownloadFailure],
                             skips: Sequence[CandidateSkip],
                             deferrals: Sequence[DownloadDeferral] = ()) -> None:
        """Write a batch of downloader results: files linked, failures scheduled, skips noted.

        Linking a file ends its candidate's lease; failures, skips and deferrals end theirs too.
        """
        if downloads:
            self.record_downloads(downloads)
        if failures or skips or deferrals:
            with self.engine.begin() as conn:
                queue.record_failures(conn, failures)
                queue.record_skips(conn, skips)
                queue.record_deferrals(conn, deferrals)

    # ---- helpers -------------------------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL both do)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)


_CANDIDATE_COLUMNS = tuple(getattr(CandidateRow, f) for f in Candidate.__dataclass_fields__)


def _key_filter(key: CandidateKey) -> tuple[Any, Any]:
    return CandidateRow.source == key.source, CandidateRow.source_id == key.source_id


_LINK_DOWNLOAD = (
    update(CandidateRow)
    .where(CandidateRow.source == bindparam("k_source"),
           CandidateRow.source_id == bindparam("k_source_id"))
    .values(image_id=bindparam("v_image"), status=CandidateStatus.DOWNLOADED.value,
            attempts=CandidateRow.attempts + 1, last_error=None, next_attempt_at=None,
            claimed_by=None, claimed_until=None)
)


