"""Candidates and the scrape runs that find them: what scrapers add, and what became of each.

``Candidates`` is the part of ``db.catalog.Catalog`` that owns the candidates table's identity
(one row per source + source id, inserted once however often a scraper re-finds it) and the
scrape-run bookkeeping (API calls spent, for budgets and ``camid stats``). The download state on
the same rows belongs to ``db.download_queue``.

Each save of a run's tally also stamps the calls it spent since the previous save in
``api_calls``: hourly budgets count those times in a sliding window (a call is remembered for an
hour from when it was saved, never from the end of its run), and rows older than a day go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from db.models import ApiCallRow, CandidateRow, ScrapeRunRow
from db.sqlkit import insert_for
from pipeline.batching import batched
from pipeline.records import Candidate, CandidateKey, CandidateOutcome, CandidateStatus, ScrapeTally

BATCH = 5_000
KEEP_CALLS = timedelta(days=1)  # call times older than this serve no budget window


class Candidates:
    """Adding and looking up candidates; starting and saving scrape runs."""

    engine: Engine

    def add_candidates(self, candidates: Iterable[Candidate]) -> int:
        """Insert candidates not seen before (by source + source id); return how many were new.

        Uses the database's own ``ON CONFLICT DO NOTHING`` so concurrent scrapers and re-runs
        never duplicate or overwrite a candidate's download state.
        """
        table = CandidateRow.__table__
        inserted = 0
        with self.engine.begin() as conn:
            stmt = insert_for(conn, table).on_conflict_do_nothing(index_elements=["source", "source_id"])
            stmt = stmt.returning(table.c.id)
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

    def start_scrape_run(self, source: str) -> int:
        with self.engine.begin() as conn:
            stmt = insert(ScrapeRunRow).returning(ScrapeRunRow.id)
            return conn.execute(stmt, {"source": source}).scalar_one()

    def save_scrape_run(self, run_id: int, tally: ScrapeTally, finished: bool = False) -> None:
        """Save a run's tally as it goes (a crash loses little); ``finished`` stamps its end."""
        values: dict[str, Any] = {"api_calls": tally.api_calls, "found": tally.found,
                                  "added": tally.added, "skipped": tally.skipped, "error": tally.error}
        now = datetime.now(UTC)
        if finished:
            values["finished_at"] = now
        with self.engine.begin() as conn:
            before = conn.execute(select(ScrapeRunRow.source, ScrapeRunRow.api_calls)
                                  .where(ScrapeRunRow.id == run_id)).one()
            conn.execute(update(ScrapeRunRow).where(ScrapeRunRow.id == run_id).values(**values))
            _stamp_calls(conn, before.source, tally.api_calls - before.api_calls, now)

    def api_calls_since(self, source: str, since: datetime) -> int:
        """API calls saved since ``since``, wherever their runs began or ended."""
        return sum(n for _, n in self.api_call_times(source, since))

    def api_call_times(self, source: str, since: datetime) -> list[tuple[datetime, int]]:
        """(when saved, how many) for the API calls saved since ``since``, oldest first."""
        a = ApiCallRow
        stmt = (select(a.at, a.calls).where(a.source == source, a.at >= since)
                .order_by(a.at))
        with self.engine.connect() as conn:
            return [(at if at.tzinfo else at.replace(tzinfo=UTC), n) for at, n in conn.execute(stmt)]


def _stamp_calls(conn: Connection, source: str, calls: int, now: datetime) -> None:
    """Record ``calls`` new API calls of ``source`` at ``now``; forget those older than a day."""
    if calls <= 0:
        return
    conn.execute(insert(ApiCallRow), {"source": source, "at": now, "calls": calls})
    conn.execute(delete(ApiCallRow).where(ApiCallRow.source == source,
                                          ApiCallRow.at < now - KEEP_CALLS))


_CANDIDATE_COLUMNS = tuple(getattr(CandidateRow, f) for f in Candidate.__dataclass_fields__)


def _key_filter(key: CandidateKey) -> tuple[Any, Any]:
    return CandidateRow.source == key.source, CandidateRow.source_id == key.source_id
