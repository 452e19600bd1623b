"""Opening a catalog database from any SQLAlchemy URL, with the settings camid relies on.

A damaged SQLite catalog may fail on any statement, not only on opening (a query that reaches
a bad page), so every SQLite engine turns SQLite's "malformed" and "not a database" errors,
wherever they happen, into one ``ConfigError`` line naming the file and what an integrity check
finds first (``damaged_catalog``). The check opens the file read-only: nothing is written to it.
"""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import ExceptionContext, make_url

from pipeline.errors import ConfigError

SQLITE_BUSY_MS = 30_000


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout on every connection.

    WAL lets readers (``camid stats``) run beside the one writer; the busy timeout makes a second
    writer wait instead of failing (SQLite's single-writer rule). A bad URL or missing driver is
    a ``ConfigError`` with one clear line.
    """
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        example = "sqlite:///camid-data/catalog.db"
        raise ConfigError(f"not a valid catalog URL: {url!r} (e.g. {example})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create the catalog's directory: {err}") from None
    # psycopg would prepare a statement on the server after 5 runs and keep that plan: planned
    # while a new catalog is small (a sequential scan), it stayed one as the tables grew.
    connect_args = {"prepare_threshold": None} if parsed.drivername == "postgresql+psycopg" else {}
    try:
        engine = create_engine(parsed, future=True, connect_args=connect_args)
    except (exc.NoSuchModuleError, ImportError) as err:
        raise ConfigError(f"catalog URL {parsed.render_as_string(hide_password=True)}: {err}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "handle_error", _sqlite_damage)
    return engine


def _sqlite_damage(context: ExceptionContext) -> None:
    """Raise the one-line error of a damaged or foreign file in place of SQLAlchemy's."""
    orig = context.original_exception
    name = getattr(orig, "sqlite_errorname", "") if isinstance(orig, sqlite3.DatabaseError) else ""
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) and context.engine is not None:
        url = context.engine.url
        raise ConfigError(damaged_catalog(url.render_as_string(hide_password=True),
                                          url.database or "", orig)) from None


def damaged_catalog(shown: str, path: str, error: BaseException) -> str:
    """What is wrong with the SQLite file at ``path`` (``shown`` is how the user named it)."""
    if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB":
        return f"cannot open catalog {shown}: file is not a database"
    return (f"catalog {shown} is damaged: {error}; integrity check: {first_finding(path)} (the "
            f"file is left as it is: restore a backup, or try `sqlite3 {path} .recover`)")


def first_finding(path: str) -> str:
    """The first problem ``PRAGMA quick_check`` reports, read-only; its own failure if it fails."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as err:
        return f"cannot run ({err})"
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()  # stop at the first problem
    except sqlite3.Error as err:
        return str(err)
    finally:
        conn.close()
    lines = [line.strip() for row in rows for line in str(row[0]).splitlines()]
    findings = [line for line in lines if line and not line.startswith("***")]
    return findings[0][:200] if findings else "no problem found"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def one_writer_at_a_time(conn: Connection, topic: str) -> None:
    """Serialise transactions on ``topic`` across processes until this transaction ends.

    Call it first in a transaction that checks, then writes (is the schema at head? delete a
    row, then insert under its unique key): two such transactions at once would both act on
    what they saw, and one would fail. PostgreSQL takes a transaction-scoped advisory lock on
    the topic; SQLite takes its one write lock up front (``BEGIN IMMEDIATE``, waiting up to the
    busy timeout) instead of at the first write. Either way the second waits, then looks.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        key = zlib.crc32(topic.encode()) - 2**31  # a signed 32-bit key, stable across processes
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
