"""Host pauses: a host that asked every client to wait (429/503 with Retry-After) until a time.

A downloader records the pause with the results of the batch that met it, and every downloader
reads the pauses that have not ended when it starts (and as it renews its leases), so a
restarted or a second downloader defers that host's URLs at once instead of asking it again.
One row per host and port; a later pause extends it, an ended one is pruned on the next write.
``HostPauses`` is the part of ``db.catalog.Catalog`` that answers with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, case, delete, select

from db.models import HostPauseRow
from db.sqlkit import insert_for
from pipeline.records import HostPause

_P = HostPauseRow


def record_host_pauses(conn: Connection, pauses: Sequence[HostPause]) -> None:
    """Upsert each host's pause, keeping the later end; drop pauses that have ended."""
    if not pauses:
        return
    latest: dict[tuple[str, int], datetime] = {}
    for p in pauses:
        key = (p.host, p.port or 0)
        latest[key] = max(latest.get(key, p.until), p.until)
    conn.execute(delete(_P).where(_P.until < datetime.now(UTC)))
    stmt = insert_for(conn, _P.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["host", "port"],
        set_={"until": case((_P.__table__.c.until > stmt.excluded.until, _P.__table__.c.until),
                            else_=stmt.excluded.until)})
    conn.execute(stmt, [{"host": h, "port": port, "until": until}
                        for (h, port), until in latest.items()])


def active_host_pauses(conn: Connection, now: datetime) -> list[HostPause]:
    rows = conn.execute(select(_P.host, _P.port, _P.until).where(_P.until > now))
    return [HostPause(host, port or None, _utc(until)) for host, port, until in rows]


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; camid only ever writes UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class HostPauses:
    """The catalog's record of hosts that asked to be left alone for a while."""

    engine: Engine

    def host_pauses(self, now: datetime) -> list[HostPause]:
        """Pauses that have not ended at ``now``."""
        with self.engine.connect() as conn:
            return active_host_pauses(conn, now)

    def record_host_pauses(self, pauses: Sequence[HostPause]) -> None:
        with self.engine.begin() as conn:
            record_host_pauses(conn, pauses)
