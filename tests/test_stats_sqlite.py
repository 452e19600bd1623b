"""`camid stats` without SQLAlchemy: the same queries through sqlite3, the same answer, light start-up."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db import Catalog
from db.stats import sqlite_sql
from db.stats_sqlite import SQL, quick_stats, read_stats, sqlite_file
from pipeline.catalog_stats import CatalogStats
from pipeline.records import (
    Candidate,
    CandidateKey,
    CandidateSkip,
    Download,
    DownloadFailure,
    FailureReason,
    Reason,
    ScrapeTally,
    Verdict,
)
from tests.conftest import REPO


def test_the_kept_sql_is_the_queries_compiled_for_sqlite() -> None:
    assert sqlite_sql() == SQL, "paste db.stats.sqlite_sql() into db/stats_sqlite.py's SQL"


def _filled(url: str) -> None:
    with Catalog.open(url) as catalog:
        catalog.add_candidates([Candidate(source="flickr", source_id=str(i), url=f"https://x.test/{i}.jpg",
                                          camera="iPhone-6" if i % 2 else None,
                                          licence="CC BY 2.0" if i % 3 else None) for i in range(9)])
        for i, reasons in ((0, ()), (1, (Reason.LOW_QUALITY,)),
                           (2, (Reason.LOW_QUALITY, Reason.NON_NATIVE_SIZE)), (3, None)):
            sha = f"{i:064x}"
            catalog.record_download(Download(CandidateKey("flickr", str(i)), sha, "p", 1))
            if reasons is not None:
                catalog.record_verdict(sha, Verdict(not reasons, "iPhone-6" if not reasons else None,
                                                    reasons, "p", "r"))
        later = datetime.now(UTC) + timedelta(hours=1)
        catalog.record_fetch_results([], [
            DownloadFailure(CandidateKey("flickr", "4"), "HTTP 404", None, FailureReason.HTTP_ERROR),
            DownloadFailure(CandidateKey("flickr", "5"), "timed out", later, FailureReason.TIMEOUT),
            DownloadFailure(CandidateKey("flickr", "6"), "timed out", later, FailureReason.TIMEOUT)],
            [CandidateSkip(CandidateKey("flickr", "7"), Reason.NON_NATIVE_SIZE, "o_dims 10x10")])
        run = catalog.start_scrape_run("flickr")
        catalog.save_scrape_run(run, ScrapeTally(api_calls=7, found=9, added=9), finished=True)
        with catalog.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE images SET quality = 90 + id % 2, width = 3264, height = 2448")


def _same(a: CatalogStats, b: CatalogStats) -> bool:
    return dataclasses.replace(a, generated_at=b.generated_at) == b


def test_sqlite3_answers_as_the_catalog_does(sqlite_url: str) -> None:
    _filled(sqlite_url)
    path = sqlite_file(sqlite_url)
    assert path is not None
    quick = quick_stats(path)
    with Catalog.open(sqlite_url) as catalog:
        full = catalog.stats()
    assert quick is not None and _same(quick, full)
    assert {r.reason for r in full.reasons} == {"low_quality", "non_native_size"}
    assert full.quality and full.sizes and full.api_calls  # every figure has rows to compare
    assert sorted((f.camera or "", f.reason, f.gave_up, f.count) for f in full.failures) == [
        ("", "http_error", True, 1), ("", "timeout", False, 1), ("iPhone-6", "timeout", False, 1)]
    assert [(r.reason, r.count) for r in full.skips] == [("non_native_size", 1)]


def test_what_sqlite3_cannot_answer_goes_through_the_catalog(tmp_path: Path) -> None:
    missing = tmp_path / "new" / "catalog.db"
    assert quick_stats(missing) is None and not missing.exists()  # never creates an empty file
    assert read_stats(f"sqlite:///{missing}").statuses == ()  # the Catalog creates and migrates it
    assert quick_stats(missing) is not None
    with sqlite3.connect(missing) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert quick_stats(missing) is None  # an older schema: the Catalog migrates it first
    (tmp_path / "junk.db").write_text("not a database")
    assert quick_stats(tmp_path / "junk.db") is None


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///camid-data/catalog.db", "camid-data/catalog.db"),
    ("sqlite:////abs/catalog.db", "/abs/catalog.db"),
    ("sqlite+pysqlite:///c.db", "c.db"),
    ("sqlite:///c.db?timeout=5", None),  # driver options: only SQLAlchemy reads them
    ("sqlite:///:memory:", None),
    ("sqlite://", None),
    ("postgresql+psycopg://camid@db/camid", None),
])
def test_which_urls_are_plain_sqlite_files(url: str, path: str | None) -> None:
    assert sqlite_file(url) == (Path(path) if path else None)


HEAVY = ("sqlalchemy", "alembic", "rich", "prefect", "numpy", "PIL", "torch", "requests", "aiohttp")
PROBE = f"""
import sys
from flows.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("EXIT", code, "IMPORTED", sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r})),
      file=sys.stderr)
"""


@pytest.mark.parametrize("args", [("--help",), ("cameras", "--json"), ("stats", "--json")])
def test_light_commands_import_nothing_heavy(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    _filled(url)  # at head: stats needs no migration
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMID_")}
    env.update(PYTHONPATH=str(REPO), CAMID_CATALOG=url)
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert "EXIT 0 IMPORTED []" in out.stderr and out.stdout.strip(), out.stderr
