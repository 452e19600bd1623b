"""Shared fixtures. Analytics and update checks are off for every test (no network here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REALWORLD = SHARED / "realworld" / "exif-samples"


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    """A fresh SQLite catalog in a temporary directory."""
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture
def realworld() -> Path:
    """The real camera JPEGs with exiftool/ImageMagick reference values (skip when absent)."""
    if not (REALWORLD / "reference.csv").exists():
        pytest.skip("../shared/realworld is not present")
    return REALWORLD
