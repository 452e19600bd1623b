"""Due candidates by host: what the download stage checks before it starts.

Some hosts set rules for every client (Wikimedia's want a contact in the User-Agent), so a run
that cannot keep them should stop before its first request, not after a thousand refusals.
Hosts are globs (``*.wikimedia.org``) turned into ``LIKE`` patterns on the URL, on SQLite and
PostgreSQL alike; a match is a host position, so a URL naming the host only in its path or query
counts too, which at worst asks for a contact that was not needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, func, or_, select

from db.download_queue import _due
from db.models import CandidateRow

_C = CandidateRow


def like_host(glob: str) -> str:
    """A host glob as a ``LIKE`` pattern (escape ``\\``): ``*`` any text, ``?`` one character."""
    escaped = glob.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def due_on_hosts(conn: Connection, now: datetime, hosts: Sequence[str]) -> int:
    """How many due candidates have an http(s) URL on a host matching one of ``hosts``."""
    if not hosts:
        return 0
    url = func.lower(_C.url)
    on_host = or_(*(url.like(f"http%://{like_host(h)}{end}%", escape="\\")
                    for h in hosts for end in ("/", ":")))
    stmt = select(func.count()).select_from(_C).where(or_(*_due(now)), on_host)
    return conn.execute(stmt).scalar_one()


class DueHosts:
    """The catalog's part that answers "is anything due on these hosts?"."""

    engine: Engine

    def due_on_hosts(self, now: datetime, hosts: Sequence[str]) -> int:
        with self.engine.connect() as conn:
            return due_on_hosts(conn, now, hosts)
