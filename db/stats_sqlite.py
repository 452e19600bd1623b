"""``camid stats`` on a SQLite catalog with the standard library alone: a light command's start-up.

Importing SQLAlchemy takes about a third of a second here, more than the whole answer, so for the
common case (a plain SQLite file already at the newest schema) the stats queries run through
``sqlite3``. They are not a second version of the queries: ``SQL`` is ``db.stats.queries()``
compiled for SQLite (``db.stats.sqlite_sql()``), and ``tests/test_stats_sqlite.py`` fails the
moment the two differ; ``db.stats_rows`` folds the rows for both paths. Anything else (PostgreSQL,
a URL with options, a missing or older catalog, any sqlite3 error) goes through ``Catalog.open``,
which creates, migrates and reports errors as usual.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from db.migrate import HEAD
from db.stats_rows import stats_from_rows
from pipeline.catalog_stats import CatalogStats

BUSY_S = 30.0  # as long as the catalog's own busy timeout: a writer may hold the lock a moment
SQLITE_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")

# db.stats.sqlite_sql(), kept equal to it by tests/test_stats_sqlite.py
SQL = {
    "statuses": (
        "SELECT candidates.camera, candidates.source, candidates.status, count(*) AS count_1 FROM "
        "candidates GROUP BY candidates.camera, candidates.source, candidates.status ORDER BY "
        "candidates.camera, candidates.source, candidates.status"
    ),
    "reasons": (
        "SELECT candidates.camera, candidates.source, candidates.reasons, count(*) AS count_1 FROM "
        "candidates WHERE candidates.status = 'rejected' GROUP BY candidates.camera, "
        "candidates.source, candidates.reasons"
    ),
    "skips": (
        "SELECT candidates.camera, candidates.source, candidates.reasons, count(*) AS count_1 FROM "
        "candidates WHERE candidates.status = 'skipped' GROUP BY candidates.camera, "
        "candidates.source, candidates.reasons"
    ),
    "failures": (
        "SELECT candidates.camera, candidates.source, candidates.error_code, "
        "candidates.next_attempt_at IS NULL AS gave_up, count(*) AS count_1 FROM candidates WHERE "
        "candidates.status = 'failed' GROUP BY candidates.camera, candidates.source, "
        "candidates.error_code, candidates.next_attempt_at IS NULL ORDER BY candidates.camera, "
        "candidates.source, candidates.error_code, gave_up"
    ),
    "quality": (
        "SELECT images.quality, count(*) AS count_1 FROM images WHERE images.quality IS NOT NULL "
        "GROUP BY images.quality ORDER BY images.quality"
    ),
    "sizes": (
        "SELECT images.width, images.height, count(*) AS n FROM images WHERE images.width IS NOT NULL"
        " AND images.height IS NOT NULL GROUP BY images.width, images.height ORDER BY n DESC, "
        "images.width, images.height LIMIT 20 OFFSET 0"
    ),
    "licences": (
        "SELECT candidates.licence, count(*) AS n FROM candidates GROUP BY candidates.licence ORDER "
        "BY n DESC, candidates.licence"
    ),
    "api_calls": (
        "SELECT scrape_runs.source, sum(scrape_runs.api_calls) AS sum_1, count(*) AS count_1 FROM "
        "scrape_runs GROUP BY scrape_runs.source ORDER BY scrape_runs.source"
    ),
}


def read_stats(url: str) -> CatalogStats:
    """The catalog's stats: through sqlite3 when it can answer, else through the Catalog."""
    path = sqlite_file(url)
    found = quick_stats(path) if path is not None else None
    if found is not None:
        return found
    from db.catalog import Catalog

    with Catalog.open(url) as catalog:
        return catalog.stats()


def sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite URL (no driver options), as SQLAlchemy reads it; None otherwise."""
    for prefix in SQLITE_PREFIXES:
        if url.startswith(prefix):
            rest = url[len(prefix):]
            return None if not rest or "?" in rest or rest == ":memory:" else Path(rest)
    return None


def quick_stats(path: Path) -> CatalogStats | None:
    """Stats of the SQLite catalog at ``path`` if it exists and is at ``HEAD``; None otherwise.

    One read transaction, so every figure comes from the same snapshot.
    """
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_S,
                               isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("BEGIN")
        if conn.execute("SELECT version_num FROM alembic_version").fetchone() != (HEAD,):
            return None
        return stats_from_rows({name: conn.execute(sql).fetchall() for name, sql in SQL.items()})
    except sqlite3.Error:
        return None
    finally:
        conn.close()
