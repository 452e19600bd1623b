"""The catalog: migrations from an empty database, idempotent writes, and the stats queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect as sa_inspect

from db import Catalog
from db.migrate import HEAD, current_revision, script_head
from db.models import Base
from pipeline.errors import ConfigError
from pipeline.records import (
    Candidate,
    CandidateKey,
    CandidateStatus,
    Download,
    Reason,
    Verdict,
)
from pipeline.summary import stats_to_json
from tests import pgserver


def cand(i: int, source: str = "flickr", camera: str = "iPhone-6", licence: str = "CC BY 2.0"):
    return Candidate(source=source, source_id=str(i), url=f"https://example.test/{i}.jpg",
                     camera=camera, licence=licence, author=f"user{i % 3}")


def _check_schema_at_head(catalog: Catalog) -> None:
    assert current_revision(catalog.engine) == HEAD
    names = set(sa_inspect(catalog.engine).get_table_names())
    assert {"candidates", "images", "verdicts", "verdict_reasons", "exports",
            "alembic_version"} <= names
    with catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migration_from_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "new" / "catalog.db"  # parent directory does not exist yet
    with Catalog.open(f"sqlite:///{path}") as catalog:
        _check_schema_at_head(catalog)


def test_migration_from_an_empty_postgresql_database(postgres_template: str) -> None:
    """The same migrations build the same schema on PostgreSQL (not from the template copy)."""
    url = pgserver.create_database(postgres_template, "empty_migrated")
    with Catalog.open(url) as catalog:
        _check_schema_at_head(catalog)
    with Catalog.open(url) as catalog:  # reopening at head is a no-op
        assert current_revision(catalog.engine) == HEAD


def test_head_constant_is_the_newest_migration_script() -> None:
    assert script_head() == HEAD


def test_sqlite_pragmas_wal_and_foreign_keys(sqlite_url: str) -> None:
    with Catalog.open(sqlite_url) as catalog, catalog.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_reopening_keeps_data_and_schema(catalog_url: str) -> None:
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([cand(1)])
    with Catalog.open(catalog_url) as catalog:
        assert catalog.candidate_count() == 1
        assert current_revision(catalog.engine) == HEAD


def test_old_catalog_without_version_table_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE candidates (x INTEGER)")
    with pytest.raises(ConfigError, match="cannot open catalog"):
        Catalog.open(f"sqlite:///{path}")


def test_a_catalog_of_a_newer_camid_is_refused_and_left_alone(catalog_url: str) -> None:
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([cand(1), cand(2)])
        with catalog.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
        shown = catalog.engine.url.render_as_string(hide_password=True)
    with pytest.raises(ConfigError) as err:
        Catalog.open(catalog_url)
    assert str(err.value) == (f"cannot open catalog {shown}: revision 9999 is newer than this "
                              f"camid (newest known: {HEAD}); use the camid that wrote it, or a "
                              "newer one")
    from db.connection import make_engine

    engine = make_engine(catalog_url)
    with engine.connect() as conn:  # nothing migrated, nothing lost
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "9999"
        assert conn.exec_driver_sql("SELECT count(*) FROM candidates").scalar() == 2
    engine.dispose()


def test_an_unknown_revision_is_named_as_such(sqlite_url: str) -> None:
    with Catalog.open(sqlite_url) as catalog, catalog.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'abc123'")
    with pytest.raises(ConfigError, match=f"revision abc123 is unknown to this camid .newest known: {HEAD}"):
        Catalog.open(sqlite_url)


def test_inserts_are_idempotent(catalog_url: str) -> None:
    with Catalog.open(catalog_url) as catalog:
        assert catalog.add_candidates([cand(i) for i in range(10)]) == 10
        assert catalog.add_candidates([cand(i) for i in range(15)]) == 5
        assert catalog.add_candidates([cand(i) for i in range(15)]) == 0
        assert catalog.add_candidates([cand(1, source="wikimedia")]) == 1  # unique per source
        assert catalog.candidate_count() == 16


def test_re_adding_a_candidate_never_resets_its_state(catalog_url: str) -> None:
    key = CandidateKey("flickr", "1")
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([cand(1)])
        catalog.record_download(Download(key, "a" * 64, "images/aa/aa/x.jpg", 123))
        catalog.add_candidates([cand(1)])
        assert catalog.candidate_status(key) is CandidateStatus.DOWNLOADED
        assert catalog.get_candidate(key) == cand(1)


def test_same_image_from_two_sources_is_stored_once(catalog_url: str) -> None:
    sha = "b" * 64
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([cand(1), cand(1, source="wikimedia")])
        first = catalog.record_download(Download(CandidateKey("flickr", "1"), sha, "p", 10))
        second = catalog.record_download(Download(CandidateKey("wikimedia", "1"), sha, "p", 10))
        assert first == second
        again = catalog.record_download(Download(CandidateKey("flickr", "1"), sha, "p", 10))
        assert again == first
        with catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM images").scalar() == 1


def test_verdict_replaces_the_previous_one(catalog_url: str) -> None:
    sha = "c" * 64
    key = CandidateKey("flickr", "1")
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([cand(1)])
        catalog.record_download(Download(key, sha, "p", 10))
        rejected = Verdict(False, None, (Reason.LOW_QUALITY, Reason.EDITED_SOFTWARE), "p1", "r")
        catalog.record_verdict(sha, rejected)
        assert catalog.candidate_status(key) is CandidateStatus.REJECTED
        catalog.record_verdict(sha, Verdict(True, "iPhone-6", (), "p2", "r"))
        assert catalog.candidate_status(key) is CandidateStatus.ACCEPTED
        with catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM verdicts").scalar() == 1
            assert conn.exec_driver_sql("SELECT count(*) FROM verdict_reasons").scalar() == 0


def test_verdict_for_unknown_image_is_an_error(catalog_url: str) -> None:
    with Catalog.open(catalog_url) as catalog, pytest.raises(KeyError):
        catalog.record_verdict("d" * 64, Verdict(True, "iPhone-6", (), "p", "r"))


def test_stats_on_an_empty_catalog(catalog_url: str) -> None:
    with Catalog.open(catalog_url) as catalog:
        doc = stats_to_json(catalog.stats())
    assert doc["per_camera_source"] == []
    assert doc["totals"]["candidates"] == 0
    assert doc["quality"] == doc["sizes"] == doc["licences"] == {}


def test_stats_count_per_camera_source_and_reason(catalog_url: str) -> None:
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([cand(i) for i in range(6)])
        catalog.add_candidates([cand(i, source="wikimedia", camera="Sony-NEX-7",
                                     licence="CC BY-SA 4.0") for i in range(3)])
        for i, reasons in ((0, ()), (1, (Reason.LOW_QUALITY,)),
                           (2, (Reason.LOW_QUALITY, Reason.NON_NATIVE_SIZE)), (3, None)):
            sha = f"{i:064x}"
            catalog.record_download(Download(CandidateKey("flickr", str(i)), sha, "p", 1))
            if reasons is not None:
                catalog.record_verdict(sha, Verdict(not reasons, "iPhone-6" if not reasons else None,
                                                    reasons, "p", "r"))
        doc = stats_to_json(catalog.stats())
    lines = {(x["camera"], x["source"]): x for x in doc["per_camera_source"]}
    flickr = lines[("iPhone-6", "flickr")]
    assert flickr["candidates"] == 6
    assert flickr["pending"] == 2
    assert flickr["downloaded"] == 4
    assert flickr["awaiting_curation"] == 1
    assert flickr["accepted"] == 1
    assert flickr["rejected"] == 2
    assert flickr["rejected_by_reason"] == {"low_quality": 2, "non_native_size": 1}
    assert lines[("Sony-NEX-7", "wikimedia")]["pending"] == 3
    assert doc["totals"]["candidates"] == 9
    assert doc["licences"] == {"CC BY 2.0": 6, "CC BY-SA 4.0": 3}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a valid catalog URL"),
        ("nosuchdb://x/y", "catalog URL"),
        ("mysql://u@127.0.0.1/x", "catalog URL"),
    ],
)
def test_bad_catalog_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Catalog.open(url)
