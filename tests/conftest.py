"""Shared fixtures. Analytics and update checks are off for every test (no network here)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests import pgserver

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REALWORLD = SHARED / "realworld" / "exif-samples"


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL server for the run, holding a catalog migrated to head as a template.

    ``make test`` installs the server and sets ``CAMID_REQUIRE_POSTGRES=1``, so there a missing
    server fails the run; a bare ``pytest`` elsewhere skips the PostgreSQL cases instead.
    """
    from db.catalog import Catalog

    with ExitStack() as stack:
        admin = os.environ.get("CAMID_TEST_POSTGRES_URL")
        if not admin:
            try:
                admin = stack.enter_context(pgserver.temporary_server())
            except pgserver.PostgresUnavailable as err:
                if os.environ.get("CAMID_REQUIRE_POSTGRES") == "1":
                    pytest.fail(f"PostgreSQL is required here: {err}")
                pytest.skip(f"no PostgreSQL: {err}")
        else:  # a server that outlives the run: leave it as it was found
            stack.callback(pgserver.drop_test_databases, admin)
        Catalog.open(pgserver.create_database(admin, "template")).close()
        yield admin


@pytest.fixture
def postgres_url(postgres_template: str) -> str:
    """A fresh, migrated PostgreSQL catalog (a copy of the template database)."""
    name = f"t{next(_DATABASE_NUMBERS)}"
    return pgserver.create_database(postgres_template, name, template="template")


_DATABASE_NUMBERS = itertools.count(1)


@pytest.fixture(params=BACKENDS)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh catalog, once on SQLite (a file in a temporary directory) and once on PostgreSQL."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite catalog, for what only concerns SQLite (pragmas, files on disk)."""
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(scope="session")
def registry():
    """The built-in camera registry (immutable: one for the whole run)."""
    from pipeline.registry_load import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def policy():
    """The built-in curation policy without the pixel stage: the header checks alone.

    Most verdict tests are about what the header says; tests of the pixel stage use
    ``full_policy`` (immutable: one for the whole run).
    """
    from pipeline.policy import HEADER_ONLY, load_policy

    return load_policy(overrides=HEADER_ONLY)


@pytest.fixture(scope="session")
def full_policy():
    """The built-in curation policy as `camid curate` uses it: header and pixel checks."""
    from pipeline.policy import load_policy

    return load_policy()


@pytest.fixture
def realworld() -> Path:
    """The real camera JPEGs with exiftool/ImageMagick reference values (skip when absent)."""
    if not (REALWORLD / "reference.csv").exists():
        pytest.skip("../shared/realworld is not present")
    return REALWORLD
