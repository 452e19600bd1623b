"""The architecture's dependency rule, enforced by reading every module's imports (ast).

pipeline is the pure core; scrapers and db build on it; training reads only the manifest format;
flows composes everything. A new import across these lines fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("pipeline", "scrapers", "training", "db", "flows")
HEAVY = {"sqlalchemy", "alembic", "aiohttp", "requests", "flickrapi", "bs4", "prefect",
         "prefect_dask", "torch", "torchvision", "albumentations", "psycopg", "dask"}
FORBIDDEN = {
    "pipeline": HEAVY | {"scrapers", "training", "db", "flows"},
    "scrapers": {"training", "db", "flows", "prefect", "torch", "torchvision", "albumentations",
                 "sqlalchemy"},
    "db": {"scrapers", "training", "flows", "prefect", "torch", "torchvision", "albumentations",
           "aiohttp", "requests"},
    "training": {"scrapers", "db", "flows", "prefect", "sqlalchemy", "aiohttp", "requests",
                 "flickrapi", "bs4"},
    "flows": set(),
}
# training may use these pipeline modules only: the manifest format and what it is made of
TRAINING_PIPELINE_ALLOWED = {"pipeline.manifest", "pipeline.records", "pipeline.errors"}


def imported_modules(source: str) -> set[str]:
    """Absolute module names imported anywhere in ``source`` (including inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(package: str, source: str) -> list[str]:
    found = []
    for name in sorted(imported_modules(source)):
        top = name.split(".")[0]
        if top in FORBIDDEN[package] or (package == "training" and not _training_may_use(name)):
            found.append(name)
    return found


def _training_may_use(name: str) -> bool:
    """training may import pipeline's manifest modules (and names from them), nothing else of it."""
    if not name.startswith("pipeline."):
        return True
    return name in TRAINING_PIPELINE_ALLOWED or name.rsplit(".", 1)[0] in TRAINING_PIPELINE_ALLOWED


def package_files() -> list[tuple[str, Path]]:
    return [(pkg, path) for pkg in PACKAGES for path in sorted((REPO / pkg).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), package_files(),
                         ids=lambda v: str(v.relative_to(REPO)) if isinstance(v, Path) else v)
def test_imports_follow_the_dependency_direction(package: str, path: Path) -> None:
    assert violations(package, path.read_text()) == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("pipeline", "import sqlalchemy", ["sqlalchemy"]),
        ("pipeline", "def f():\n    from torch import nn", ["torch", "torch.nn"]),
        ("pipeline", "import aiohttp.web", ["aiohttp.web"]),
        ("pipeline", "from requests import get", ["requests", "requests.get"]),
        ("pipeline", "import prefect", ["prefect"]),
        ("pipeline", "from db import Catalog", ["db", "db.Catalog"]),
        ("training", "from db.catalog import Catalog", ["db.catalog", "db.catalog.Catalog"]),
        ("training", "from pipeline.registry import Registry",
         ["pipeline.registry", "pipeline.registry.Registry"]),
        ("training", "from pipeline.manifest import read_manifest", []),
        ("scrapers", "from db import Catalog", ["db", "db.Catalog"]),
        ("db", "import prefect", ["prefect"]),
        ("flows", "import prefect, torch, db", []),
    ],
)
def test_the_rule_catches_violations(package: str, source: str, expected: list[str]) -> None:
    assert violations(package, source) == expected


def test_every_package_exists_and_is_scanned() -> None:
    scanned = {pkg for pkg, _ in package_files()}
    assert scanned == set(PACKAGES)
