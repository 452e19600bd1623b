"""The architecture's dependency rule, enforced by reading every module's imports (ast).

pipeline is the pure core; scrapers and db build on it; training reads only the manifest format;
flows composes everything. A new import across these lines fails here, not in review.
"""

from __future__ import annotations

import ast
import re
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


# ---- inside flows: the stage drivers are one room, the CLI, Prefect and the demo its doors -------

DOORS = ("flows.cli", "flows.prefect_flows", "flows.prefect_tasks", "flows.dask_fanout", "flows.demo",
         "flows.artifacts")
STAGES_FORBIDDEN = {"click", "prefect", "prefect_dask", "rich", *DOORS}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_violations(source: str) -> list[str]:
    """What a stage driver may not import: a door, or a door's framework."""
    return sorted(n for n in imported_modules(source)
                  if any(n == f or n.startswith(f + ".") for f in STAGES_FORBIDDEN))


@pytest.mark.parametrize("path", sorted((REPO / "flows" / "stages").glob("*.py")),
                         ids=lambda p: p.name)
def test_stage_drivers_know_no_door(path: Path) -> None:
    assert stage_violations(path.read_text()) == []


@pytest.mark.parametrize(("source", "expected"), [
    ("import click", ["click"]),
    ("def f():\n    from flows.cli.context import settings_of", ["flows.cli.context",
                                                                "flows.cli.context.settings_of"]),
    ("from flows.prefect_tasks import download_task", ["flows.prefect_tasks",
                                                       "flows.prefect_tasks.download_task"]),
    ("from flows.stages.configs import train_config", []),
])
def test_the_stage_rule_catches_violations(source: str, expected: list[str]) -> None:
    assert stage_violations(source) == expected


def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (at the top or inside functions)."""
    files = {module_name(path): path for _, path in package_files()}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for imported in imported_modules(path.read_text()):
            while imported and imported not in files:  # ``from a.b import c``: c may be a name
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_import_cycle_between_project_modules() -> None:
    # a package's __init__ re-exporting its own modules is not a cycle between modules
    graph = {m: {t for t in ts if not (m.startswith(t + ".") and t in PACKAGES)}
             for m, ts in import_graph().items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_readme_layout_map_names_real_files() -> None:
    """Every file the README's architecture map names exists (the map is kept true)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    named, folder = [], ""
    for cell in (c.strip() for line in section.splitlines() if line.startswith("|") for c in line.split("|")):
        for token in re.findall(r"`([\w./]+\.(?:py|toml))`", cell):
            if "/" in token:
                folder = token.rsplit("/", 1)[0]
                named.append(token)
            elif folder:  # a bare name continues the folder named before it in the same cell
                named.append(f"{folder}/{token}")
        folder = ""
    stages = [f"flows/stages/{n}" for n in re.findall(r"^\| [^|]+ \| `?([a-z_]+\.py)`", section, re.M)]
    missing = [n for n in named + stages if not (REPO / n).is_file()]
    assert len(named) > 20 and missing == []
