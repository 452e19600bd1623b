"""`make clean` removes build outputs and caches, never a user's data (run on a copy of the tree)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

CODE = ("pipeline", "scrapers", "db", "flows", "training", "tests", "bench")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_keeps_the_data_directories(tmp_path: Path) -> None:
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    built = [".venv/bin/python", ".pytest_cache/v/x", ".mypy_cache/3.11/x", ".ruff_cache/x",
             "camid.egg-info/PKG-INFO", *(f"{d}/__pycache__/m.pyc" for d in CODE)]
    kept = ["camid-data/catalog.db", "camid-data/images/ab/cd/x.jpg", "bench-data/stats-1000.db",
            "pipeline/errors.py"]
    for name in built + kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    out = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [n for n in built if (tmp_path / n).exists()] == []
    assert [n for n in kept if not (tmp_path / n).exists()] == []
