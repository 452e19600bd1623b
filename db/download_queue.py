"""The download queue: per-URL state on the candidates table (attempts, last error, next attempt).

A downloader *claims* due candidates with a lease (``claimed_by``, ``claimed_until``) so two
downloaders never fetch the same URL and a crashed one's rows come back: when the lease ends, or
at once when the caller knows the claimer's process is gone (``release_claims``). Results are
written as they arrive: a success through ``record_downloads`` (the file stored once per
content, its candidate linked to it), a failure with its next attempt time (none for a permanent
one), its code and how many attempts in a row ended with that code (for caps per reason), a skip
with its reason. ``requeue_failed`` gives given-up candidates fresh attempts (``camid download
--retry-failed``). ``DownloadQueue`` is the part of ``db.catalog.Catalog`` that owns all of this.

SQLite serialises writers (the engine sets a busy timeout), so a claim is one ``UPDATE ...
RETURNING`` over a sub-select; on PostgreSQL the sub-select takes ``FOR UPDATE SKIP LOCKED`` so
concurrent claimers pass each other instead of queueing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, func, or_, select, update

from db.host_pauses import record_host_pauses
from db.models import CandidateRow, ImageRow
from db.sqlkit import image_ids, insert_for, skip_locked
from pipeline.records import (
    CandidateKey,
    CandidateSkip,
    CandidateStatus,
    Download,
    DownloadDeferral,
    DownloadFailure,
    DownloadTask,
    HostPause,
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
                           _C.attempts, _C.error_code, _C.error_streak))
        tasks += [DownloadTask(CandidateKey(src, sid), url, sha1, size, attempts, code, streak or 0)
                  for src, sid, url, sha1, size, attempts, code, streak in conn.execute(stmt)]
    return tasks


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
    return [c for (c,) in conn.execute(stmt) if c is not None]


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
    """Count the attempt (unless it was not the URL's doing) and remember the error, its code,
    how many attempts in a row ended with that code, and when to try again (never, if permanent)."""
    if failures:
        conn.execute(_FAIL, [{**_key_params(f.key), "v_error": f.error[:2000],
                              "v_next": f.retry_at, "v_code": f.code.value,
                              "v_count": int(f.counted)} for f in failures])


def requeue_failed(conn: Connection, codes: Sequence[str] | None) -> int:
    """Make candidates that were given up (failed, no next attempt) pending again, with fresh
    attempts; only those whose last failure has one of ``codes`` when given (exact match)."""
    gave_up = and_(_C.status == _FAILED, _C.next_attempt_at.is_(None))
    if codes is not None:
        gave_up = and_(gave_up, _C.error_code.in_(list(codes)))
    stmt = (update(_C).where(gave_up)
            .values(status=_PENDING, attempts=0, error_streak=0, claimed_by=None, claimed_until=None))
    return conn.execute(stmt).rowcount


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


def record_downloads(conn: Connection, downloads: Sequence[Download]) -> dict[str, int]:
    """Store each verified file once per content, link its candidate (ending its lease); ids."""
    new_images = {d.sha256: {"sha256": d.sha256, "path": d.path, "bytes": d.bytes}
                  for d in downloads}
    if new_images:
        conn.execute(insert_for(conn, ImageRow.__table__)
                     .on_conflict_do_nothing(index_elements=["sha256"]), list(new_images.values()))
    ids = image_ids(conn, list(new_images))
    links = [{**_key_params(d.key), "v_image": ids[d.sha256]} for d in downloads]
    if links:
        conn.execute(_LINK_DOWNLOAD, links)
    return ids


class DownloadQueue:
    """The catalog's download queue: claims, downloads, failures, deferrals and skips."""

    engine: Engine

    def claim_downloads(self, claimer: str, now: datetime, lease_until: datetime,
                        limit: int) -> list[DownloadTask]:
        with self.engine.begin() as conn:
            return claim_due(conn, claimer, now, lease_until, limit)

    def due_count(self, now: datetime) -> int:
        with self.engine.connect() as conn:
            return due_count(conn, now)

    def next_retry_at(self) -> datetime | None:
        with self.engine.connect() as conn:
            return next_retry_at(conn)

    def live_claimers(self, now: datetime) -> list[str]:
        with self.engine.connect() as conn:
            return live_claimers(conn, now)

    def renew_claims(self, claimer: str, until: datetime) -> int:
        with self.engine.begin() as conn:
            return renew_claims(conn, claimer, until)

    def release_claims(self, claimer: str) -> int:
        with self.engine.begin() as conn:
            return release_claims(conn, claimer)

    def requeue_failed(self, codes: Sequence[str] | None = None) -> int:
        """Re-queue given-up candidates (all, or those whose last failure code is in ``codes``)."""
        with self.engine.begin() as conn:
            return requeue_failed(conn, codes)

    def record_download(self, download: Download) -> int:
        """Store a verified file once per content and link the candidate to it; returns image id."""
        return self.record_downloads([download])[download.sha256]

    def record_downloads(self, downloads: Sequence[Download]) -> dict[str, int]:
        """Batch form of ``record_download``: one transaction; returns image id per sha256."""
        with self.engine.begin() as conn:
            return record_downloads(conn, downloads)

    def record_fetch_results(self, downloads: Sequence[Download], failures: Sequence[DownloadFailure],
                             skips: Sequence[CandidateSkip],
                             deferrals: Sequence[DownloadDeferral] = (),
                             pauses: Sequence[HostPause] = ()) -> None:
        """Write a batch of downloader results: files linked, failures scheduled, skips noted,
        and the pauses hosts asked for (in the same transaction as the failures they caused).

        Linking a file ends its candidate's lease; failures, skips and deferrals end theirs too.
        """
        if downloads:
            self.record_downloads(downloads)
        if failures or skips or deferrals or pauses:
            with self.engine.begin() as conn:
                record_failures(conn, failures)
                record_skips(conn, skips)
                record_deferrals(conn, deferrals)
                record_host_pauses(conn, pauses)


def _key_params(key: CandidateKey) -> dict[str, str]:
    return {"k_source": key.source, "k_source_id": key.source_id}


_KEY = (_C.source == bindparam("k_source"), _C.source_id == bindparam("k_source_id"))

_FAIL = (
    update(_C)
    .where(*_KEY, _IS_WAITING)
    .values(status=_FAILED, attempts=_C.attempts + bindparam("v_count"),
            last_error=bindparam("v_error"), error_code=bindparam("v_code"),
            # SET reads the row as it was: the streak grows while the code stays the same
            error_streak=case((_C.error_code == bindparam("v_code"), _C.error_streak + 1), else_=1),
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

_LINK_DOWNLOAD = (
    update(_C)
    .where(*_KEY)
    .values(image_id=bindparam("v_image"), status=CandidateStatus.DOWNLOADED.value,
            attempts=_C.attempts + 1, last_error=None, error_code=None, error_streak=0,
            next_attempt_at=None, claimed_by=None, claimed_until=None)
)
