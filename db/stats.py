"""Aggregate queries behind ``camid stats``: the one place they are written.

Each figure is one GROUP BY that an index covers, so the whole report stays well under a second
on a catalog of a million candidates (``bench/stats.py`` measures it). Nothing is loaded row by
row into Python. ``Stats`` is the part of ``db.catalog.Catalog`` that answers with them;
``db.stats_sqlite`` runs these same queries, compiled for SQLite, without importing SQLAlchemy
(the start-up of ``camid stats``), and a test keeps its copy equal to them.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, Select, desc, func, select
from sqlalchemy.dialects import sqlite

from db.models import CandidateRow, ImageRow, ScrapeRunRow
from db.stats_rows import stats_from_rows
from pipeline.catalog_stats import CatalogStats
from pipeline.records import CandidateStatus

TOP_SIZES = 20


class Stats:
    """``camid stats``'s figures, computed by the database."""

    engine: Engine

    def stats(self) -> CatalogStats:
        """Counts per camera, source and status; rejection reasons; quality, size and licences."""
        with self.engine.connect() as conn:
            return catalog_stats(conn)


def catalog_stats(conn: Connection) -> CatalogStats:
    return stats_from_rows({name: conn.execute(query).all() for name, query in queries().items()})


def queries() -> dict[str, Select]:
    """Every figure's query, by the name ``db.stats_rows`` reads its rows under."""
    c, i, r = CandidateRow, ImageRow, ScrapeRunRow
    n = func.count().label("n")
    gave_up = c.next_attempt_at.is_(None).label("gave_up")
    return {
        "statuses": select(c.camera, c.source, c.status, func.count())
        .group_by(c.camera, c.source, c.status)
        .order_by(c.camera, c.source, c.status),
        # rejections by reason, from the reasons copied onto each rejected candidate: the covering
        # index (status, camera, source, reasons) yields a few hundred reason combinations, split
        # into single reasons in Python; joining verdict_reasons costs a lookup per rejected file
        "reasons": select(c.camera, c.source, c.reasons, func.count())
        .where(c.status == CandidateStatus.REJECTED.value)
        .group_by(c.camera, c.source, c.reasons),
        # why candidates were ruled out before download: a skipped row keeps its code in reasons
        "skips": select(c.camera, c.source, c.reasons, func.count())
        .where(c.status == CandidateStatus.SKIPPED.value)
        .group_by(c.camera, c.source, c.reasons),
        # failed downloads by code, those that will be retried (a next attempt) apart from those
        # given up (none), from the covering index (status, camera, source, error_code, next_attempt_at)
        "failures": select(c.camera, c.source, c.error_code, gave_up, func.count())
        .where(c.status == CandidateStatus.FAILED.value)
        .group_by(c.camera, c.source, c.error_code, gave_up)
        .order_by(c.camera, c.source, c.error_code, gave_up),
        "quality": select(i.quality, func.count())
        .where(i.quality.is_not(None))
        .group_by(i.quality)
        .order_by(i.quality),
        "sizes": select(i.width, i.height, n)
        .where(i.width.is_not(None), i.height.is_not(None))
        .group_by(i.width, i.height)
        .order_by(desc(n), i.width, i.height)
        .limit(TOP_SIZES),
        "licences": select(c.licence, n)
        .group_by(c.licence)
        .order_by(desc(n), c.licence),
        # API calls spent by each source's scrape runs (one row per run: a tiny table)
        "api_calls": select(r.source, func.sum(r.api_calls), func.count())
        .group_by(r.source)
        .order_by(r.source),
    }


def sqlite_sql() -> dict[str, str]:
    """The queries as SQLite text with their values inlined, whitespace collapsed (no value here
    holds any): what ``db.stats_sqlite`` keeps."""
    dialect = sqlite.dialect()
    return {name: " ".join(str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                           .split())
            for name, query in queries().items()}
