"""The rows of ``camid stats``' queries, folded into ``CatalogStats``: plain Python, no SQLAlchemy.

Shared by the two ways the queries run (``db.stats`` through SQLAlchemy, ``db.stats_sqlite``
through the standard library's sqlite3), so both answer with the same records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline.catalog_stats import (
    CatalogStats,
    FailureCount,
    ReasonCount,
    SourceApiCalls,
    StatusCount,
    ValueCount,
)
from pipeline.records import CandidateStatus, FailureReason

Rows = Iterable[Sequence[Any]]


def stats_from_rows(rows: Mapping[str, Rows]) -> CatalogStats:
    """``rows`` holds each query's rows under its name in ``db.stats.queries``."""
    return CatalogStats(
        statuses=tuple(StatusCount(cam, src, CandidateStatus(st), n) for cam, src, st, n in rows["statuses"]),
        reasons=reason_counts(rows["reasons"]),
        quality=tuple(ValueCount(str(q), n) for q, n in rows["quality"]),
        sizes=tuple(ValueCount(f"{w}x{h}", n) for w, h, n in rows["sizes"]),
        licences=tuple(ValueCount(lic or "(unknown)", n) for lic, n in rows["licences"]),
        api_calls=tuple(SourceApiCalls(src, int(calls or 0), runs) for src, calls, runs in rows["api_calls"]),
        skips=reason_counts(rows["skips"]),
        failures=tuple(FailureCount(cam, src, code or FailureReason.OTHER.value, bool(gave_up), n)
                       for cam, src, code, gave_up, n in rows["failures"]),
    )


def reason_counts(rows: Rows) -> tuple[ReasonCount, ...]:
    """Single reasons from the comma-joined combinations the query counted."""
    counts: Counter[tuple[str | None, str, str]] = Counter()
    for camera, source, reasons, n in rows:
        for reason in (reasons or "unrecorded").split(","):
            counts[(camera, source, reason)] += n
    ordered = sorted(counts.items(), key=lambda kv: (kv[0][0] or "", kv[0][1], kv[0][2]))
    return tuple(ReasonCount(cam, src, reason, n) for (cam, src, reason), n in ordered)
