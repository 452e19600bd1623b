"""The download queue: per-URL state on the candidates table (attempts, last error, next attempt).

A downloader *claims* due candidates with a lease (``claimed_by``, ``claimed_until``) so two
downloaders never fetch the same URL and a crashed one's rows come back: when the lease ends, or
at once when the caller knows the claimer's process is gone (``release_claims``). Results are
written as they arrive: a success through ``Catalog.record_downloads``, a failure with its next
attempt time (none for a permanent one), a skip with its reason.

SQLite serialises writers (the engine sets a busy timeout), so a claim is one ``UPDATE ...
RETURNING`` over a sub-select; on PostgreSQL the sub-select takes ``FOR UPDATE SKIP LOCKED`` so
concurrent claimers pass each other instead of queueing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, func, or_, select, update

from db.models import CandidateRow, ScrapeRunRow
from pipeline.records import (
    CandidateKey,
    CandidateSkip,
    CandidateStatus,
    DownloadDeferral,
    DownloadFailure,
    DownloadTask,
    ScrapeTally,
)

_C = CandidateRow
_PENDING, _FAILED = CandidateStatus.PENDING.value, CandidateStatus.FAILED.value
_WAITING = (_PENDING, _FAILED)
# (an IN list cannot be used in executemany statements)
_IS_WAITING = or_(_C.status == _PENDING, _C.status == _FAILED)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; camid only ever writes UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def claim_due(conn: Connection, claimer: str, now: datetime, lease_until: datetime,
              limit: int) -> list[DownloadTask]:
    """Lease up to ``limit`` due candidates: pending ones first, then failed ones whose time came."""
    free = or_(_C.claimed_until.is_(None), _C.claimed_until < now)
    pending, retry = _due(now)
    tasks: list[DownloadTask] = []
    for due in (pending, retry):
        if len(tasks) >= limit:
            break
        # no ORDER BY: the (status, next_attempt_at) index yields rows in a stable order, no sort
        ids = skip_locked(conn, select(_C.id).where(due, free).limit(limit - len(tasks)))
        stmt = (update(_C).where(_C.id.in_(ids.scalar_subquery()))
                .values(claimed_by=claimer, claimed_until=lease_until)
                .returning(_C.source, _C.source_id, _C.url, _C.expected_sha1, _C.expected_bytes,
                           _C.attempts))
        tasks += [DownloadTask(CandidateKey(src, sid), url, sha1, size, attempts)
                  for src, sid, url, sha1, size, attempts in conn.execute(stmt)]
    return tasks


def skip_locked(conn: Connection, ids: Select[Any]) -> Select[Any]:
    """On PostgreSQL, lock the selected rows and pass over rows another claimer holds.

    Without it, concurrent claimers would queue on the same first rows; READ COMMITTED then
    re-checks the lease condition on each row it locks, so no row is claimed twice. SQLite has
    one writer at a time (the busy timeout makes the others wait), so plain selection is safe.
    """
    return ids.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" else ids


def _due(now: datetime) -> tuple[Any, Any]:
    """Pending rows not deferred, and failed rows whose next attempt has come (index-friendly)."""
    pending = and_(_C.status == _PENDING,
                   or_(_C.next_attempt_at.is_(None), _C.next_attempt_at <= now))
    retry = and_(_C.status == _FAILED, _C.next_attempt_at.is_not(None), _C.next_attempt_at <= now)
    return pending, retry


def due_count(conn: Connection, now: datetime) -> int:
    """How many candidates a downloader could claim now (for the progress bar's total)."""
    free = or_(_C.claimed_until.is_(None), _C.claimed_until < now)
    stmt = select(func.count()).select_from(_C).where(or_(*_due(now)), free)
    return conn.execute(stmt).scalar_one()


def next_retry_at(conn: Connection) -> datetime | None:
    """The earliest time a waiting candidate becomes due again (None: nothing is scheduled)."""
    stmt = select(func.min(_C.next_attempt_at)).where(_IS_WAITING, _C.next_attempt_at.is_not(None))
    return as_utc(conn.execute(stmt).scalar())


def live_claimers(conn: Connection, now: datetime) -> list[str]:
    """Claimers whose leases have not ended (the caller decides which of them are dead)."""
    stmt = (select(_C.claimed_by).distinct()
            .where(_C.claimed_by.is_not(None), _C.claimed_until >= now, _C.status.in_(_WAITING)))
    return [c for (c,) in conn.execute(stmt)]


def renew_claims(conn: Connection, claimer: str, until: datetime) -> int:
    """Extend every lease ``claimer`` still holds on a waiting candidate (work in progress)."""
    stmt = (update(_C).where(_C.claimed_by == claimer, _IS_WAITING)
            .values(claimed_until=until))
    return conn.execute(stmt).rowcount


def release_claims(conn: Connection, claimer: str) -> int:
    """End every lease of ``claimer`` (its process is gone, or it is shutting down cleanly)."""
    stmt = (update(_C).where(_C.claimed_by == claimer)
            .values(claimed_by=None, claimed_until=None))
    return conn.execute(stmt).rowcount


def record_failures(conn: Connection, failures: Sequence[DownloadFailure]) -> None:
    """Count the attempt and remember the error and when to try again (never, if permanent)."""
    if failures:
        conn.execute(_FAIL, [{**_key_params(f.key), "v_error": f.error[:2000],
                              "v_next": f.retry_at} for f in failures])


def record_deferrals(conn: Connection, deferrals: Sequence[DownloadDeferral]) -> None:
    """Postpone candidates without counting an attempt (their host asked everyone to wait)."""
    if deferrals:
        conn.execute(_DEFER, [{**_key_params(d.key), "v_error": d.reason[:2000],
                               "v_next": d.retry_at} for d in deferrals])


def record_skips(conn: Connection, skips: Sequence[CandidateSkip]) -> None:
    """Rule candidates out with a reason; a candidate already downloaded keeps its state."""
    if skips:
        conn.execute(_SKIP, [{**_key_params(s.key), "v_reason": s.reason.value,
                              "v_detail": s.detail} for s in skips])


# ---- scrape runs ------------------------------------------------------------------------------


def start_scrape_run(conn: Connection, source: str) -> int:
    table = ScrapeRunRow.__table__
    return conn.execute(table.insert().returning(table.c.id), {"source": source}).scalar_one()


def save_scrape_run(conn: Connection, run_id: int, tally: ScrapeTally, finished: bool) -> None:
    values: dict[str, Any] = {"api_calls": tally.api_calls, "found": tally.found,
                              "added": tally.added, "skipped": tally.skipped, "error": tally.error}
    if finished:
        values["finished_at"] = datetime.now(UTC)
    conn.execute(update(ScrapeRunRow).where(ScrapeRunRow.id == run_id).values(**values))


def api_calls_since(conn: Connection, source: str, since: datetime) -> int:
    """API calls of runs active since ``since`` (a run that straddles it counts whole: safe side)."""
    stmt = (select(func.coalesce(func.sum(ScrapeRunRow.api_calls), 0))
            .where(ScrapeRunRow.source == source, ScrapeRunRow.updated_at >= since))
    return conn.execute(stmt).scalar_one()


def _key_params(key: CandidateKey) -> dict[str, str]:
    return {"k_source": key.source, "k_source_id": key.source_id}


_KEY = (_C.source == bindparam("k_source"), _C.source_id == bindparam("k_source_id"))

_FAIL = (
    update(_C)
    .where(*_KEY, _IS_WAITING)
    .values(status=_FAILED, attempts=_C.attempts + 1, last_error=bindparam("v_error"),
            next_attempt_at=bindparam("v_next"), claimed_by=None, claimed_until=None)
)

_DEFER = (
    update(_C)
    .where(*_KEY, _IS_WAITING)
    .values(last_error=bindparam("v_error"), next_attempt_at=bindparam("v_next"), claimed_by=None,
            claimed_until=None)
)

_SKIP = (
    update(_C)
    .where(*_KEY, _IS_WAITING)
    .values(status=CandidateStatus.SKIPPED.value, reasons=bindparam("v_reason"),
            last_error=bindparam("v_detail"), next_attempt_at=None, claimed_by=None,
            claimed_until=None)
)
