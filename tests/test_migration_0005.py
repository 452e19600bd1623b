"""Migration 0005 on a catalog that already holds failures and scrape runs (not an empty one)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import text

from db import Catalog
from db.connection import make_engine
from db.migrate import HEAD, alembic_config, current_revision


def test_old_failures_and_scrape_runs_carry_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
        conn.execute(text("INSERT INTO candidates (source, source_id, url, status, attempts, created_at, "
                          "updated_at) VALUES ('dir', 'a', 'http://x.test/a', 'failed', 6, "
                          "'2026-12-01 00:00:00', '2026-12-01 00:00:00')"))
        conn.execute(text("INSERT INTO scrape_runs (source, api_calls, found, added, skipped, started_at, "
                          "updated_at) VALUES ('flickr', 40, 0, 0, 0, '2026-12-01 00:00:00', "
                          "'2026-12-01 00:10:00')"))
    engine.dispose()
    with Catalog.open(url) as catalog:
        assert current_revision(catalog.engine) == HEAD
        with catalog.engine.connect() as conn:
            code = conn.execute(text("SELECT error_code, error_streak FROM candidates")).one()
        assert tuple(code) == ("other", 0)
        assert catalog.requeue_failed(["other"]) == 1  # given up before codes existed: re-queueable
        calls = catalog.api_call_times("flickr", datetime(2026, 11, 30, tzinfo=UTC))
    assert calls == [(datetime(2026, 12, 1, 0, 10, tzinfo=UTC), 40)]  # stamped at the run's last save
