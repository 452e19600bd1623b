"""SQL pieces every part of the catalog shares: what differs between SQLite and PostgreSQL
(``ON CONFLICT`` inserts, ``SKIP LOCKED``), the bound-parameter limit, and the image id lookup
that downloads and verdicts both key on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Select, select

from db.models import ImageRow


def insert_for(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL both do)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def skip_locked(conn: Connection, ids: Select[Any]) -> Select[Any]:
    """On PostgreSQL, lock the selected rows and pass over rows another claimer holds.

    Without it, concurrent claimers would queue on the same first rows; READ COMMITTED then
    re-checks the lease condition on each row it locks, so no row is claimed twice. SQLite has
    one writer at a time (the busy timeout makes the others wait), so plain selection is safe.
    """
    return ids.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" else ids


def chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """Slices small enough for any database's limit on bound parameters."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def image_ids(conn: Connection, shas: Sequence[str]) -> dict[str, int]:
    """Image row id per sha256 (for the shas that are stored)."""
    ids: dict[str, int] = {}
    for chunk in chunks(list(shas)):
        rows = conn.execute(select(ImageRow.sha256, ImageRow.id).where(ImageRow.sha256.in_(chunk)))
        ids.update((sha, image_id) for sha, image_id in rows)
    return ids


def stored_json(text: str | None) -> Any:
    """A JSON column the query selected as present (NOT NULL in its WHERE clause), parsed."""
    if text is None:
        raise ValueError("a JSON column selected as present was NULL")
    return json.loads(text)
