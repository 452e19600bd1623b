"""Aggregate queries behind ``camid stats``.

Each figure is one GROUP BY that an index covers, so the whole report stays well under a second
on a catalog of a million candidates (``bench/stats.py`` measures it). Nothing is loaded row by
row into Python. ``Stats`` is the part of ``db.catalog.Catalog`` that answers with them.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Connection, Engine, desc, func, select

from db.models import CandidateRow, ImageRow, ScrapeRunRow
from pipeline.records import (
    CandidateStatus,
    CatalogStats,
    ReasonCount,
    SourceApiCalls,
    StatusCount,
    ValueCount,
)

TOP_SIZES = 20


class Stats:
    """``camid stats``'s figures, computed by the database."""

    engine: Engine

    def stats(self) -> CatalogStats:
        """Counts per camera, source and status; rejection reasons; quality, size and licences."""
        with self.engine.connect() as conn:
            return catalog_stats(conn)


def catalog_stats(conn: Connection) -> CatalogStats:
    return CatalogStats(
        statuses=status_counts(conn),
        reasons=reason_counts(conn),
        quality=quality_histogram(conn),
        sizes=size_counts(conn),
        licences=licence_counts(conn),
        api_calls=api_calls_per_source(conn),
    )


def status_counts(conn: Connection) -> tuple[StatusCount, ...]:
    c = CandidateRow
    rows = conn.execute(
        select(c.camera, c.source, c.status, func.count())
        .group_by(c.camera, c.source, c.status)
        .order_by(c.camera, c.source, c.status)
    )
    return tuple(StatusCount(cam, src, CandidateStatus(st), n) for cam, src, st, n in rows)


def reason_counts(conn: Connection) -> tuple[ReasonCount, ...]:
    """Rejections by reason, from the reasons copied onto each rejected candidate.

    The covering index (status, camera, source, reasons) yields a few hundred reason
    combinations, split into single reasons here; joining verdict_reasons instead costs a
    b-tree lookup per rejected file.
    """
    c = CandidateRow
    rows = conn.execute(
        select(c.camera, c.source, c.reasons, func.count())
        .where(c.status == CandidateStatus.REJECTED.value)
        .group_by(c.camera, c.source, c.reasons)
    )
    counts: Counter[tuple[str | None, str, str]] = Counter()
    for camera, source, reasons, n in rows:
        for reason in (reasons or "unrecorded").split(","):
            counts[(camera, source, reason)] += n
    ordered = sorted(counts.items(), key=lambda kv: (kv[0][0] or "", kv[0][1], kv[0][2]))
    return tuple(ReasonCount(cam, src, reason, n) for (cam, src, reason), n in ordered)


def quality_histogram(conn: Connection) -> tuple[ValueCount, ...]:
    rows = conn.execute(
        select(ImageRow.quality, func.count())
        .where(ImageRow.quality.is_not(None))
        .group_by(ImageRow.quality)
        .order_by(ImageRow.quality)
    )
    return tuple(ValueCount(str(q), n) for q, n in rows)


def size_counts(conn: Connection) -> tuple[ValueCount, ...]:
    n = func.count().label("n")
    rows = conn.execute(
        select(ImageRow.width, ImageRow.height, n)
        .where(ImageRow.width.is_not(None), ImageRow.height.is_not(None))
        .group_by(ImageRow.width, ImageRow.height)
        .order_by(desc(n), ImageRow.width, ImageRow.height)
        .limit(TOP_SIZES)
    )
    return tuple(ValueCount(f"{w}x{h}", count) for w, h, count in rows)


def licence_counts(conn: Connection) -> tuple[ValueCount, ...]:
    n = func.count().label("n")
    rows = conn.execute(
        select(CandidateRow.licence, n)
        .group_by(CandidateRow.licence)
        .order_by(desc(n), CandidateRow.licence)
    )
    return tuple(ValueCount(lic or "(unknown)", count) for lic, count in rows)


def api_calls_per_source(conn: Connection) -> tuple[SourceApiCalls, ...]:
    """API calls spent by each source's scrape runs (one row per run: a tiny table)."""
    r = ScrapeRunRow
    rows = conn.execute(select(r.source, func.sum(r.api_calls), func.count())
                        .group_by(r.source).order_by(r.source))
    return tuple(SourceApiCalls(src, int(calls or 0), runs) for src, calls, runs in rows)
