"""Bring a catalog's schema to the newest revision, on open, through Alembic.

Opening a catalog happens on every command, including the light ones (``camid stats``), so the
common case, a catalog already at ``HEAD``, is answered with one query and without importing
Alembic at all. A test keeps ``HEAD`` equal to the newest migration script. SQLAlchemy is
imported inside the functions: ``db.stats_sqlite`` reads ``HEAD`` without it.

A catalog at a revision this camid has no script for was written by a newer camid (or another
branch): it is refused with one line before anything is written, never "upgraded" through
Alembic's own error, and its data stay as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0005"  # newest revision in migrations/versions (checked by tests/test_catalog.py)


def alembic_config(connection: Connection | None = None) -> Config:
    """An in-memory Alembic config (no alembic.ini to ship or to find on disk)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def script_head() -> str | None:
    """The newest revision according to the migration scripts themselves."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or None for a database never migrated."""
    from sqlalchemy import exc, text

    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (exc.OperationalError, exc.ProgrammingError):
        return None


def upgrade(engine: Engine) -> None:
    """Apply pending migrations in one transaction; a no-op when already at head.

    Workers starting at once on a new catalog queue on a lock (PostgreSQL: an advisory lock;
    SQLite: the write lock, taken up front) and look again, so one of them migrates and the
    others find the schema at head.
    """
    found = current_revision(engine)
    if found == HEAD:
        return
    refuse_unknown(engine, found)  # before the write lock: a newer catalog is not even locked
    from alembic import command

    from db.connection import one_writer_at_a_time

    with engine.begin() as conn:
        one_writer_at_a_time(conn, "migrations")
        found = _revision(conn)
        if found == HEAD:
            return
        refuse_unknown(engine, found)
        command.upgrade(alembic_config(conn), "head")


def known_revisions() -> set[str]:
    """Every revision the migration scripts define."""
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def refuse_unknown(engine: Engine, found: str | None) -> None:
    """A ``ConfigError`` naming the catalog when its revision is none of this camid's scripts."""
    if found is None or found in known_revisions():
        return
    from pipeline.errors import ConfigError

    shown = engine.url.render_as_string(hide_password=True)
    newer = found.isdigit() and HEAD.isdigit() and int(found) > int(HEAD)
    what = "is newer than this camid" if newer else "is unknown to this camid"
    raise ConfigError(f"cannot open catalog {shown}: revision {found} {what} (newest known: "
                      f"{HEAD}); use the camid that wrote it, or a newer one")


def _revision(conn: Connection) -> str | None:
    """The recorded revision, read inside the caller's transaction (None: never migrated)."""
    from sqlalchemy import inspect, text

    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
