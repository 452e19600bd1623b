"""Where camid keeps its data and catalog, from options, then environment, then defaults.

Resolved once at the CLI boundary into a frozen ``Settings`` so every stage (and every worker
on another machine) sees the same paths: the catalog URL and data directory are data, passed
along, never re-derived from the current directory deep inside a stage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_DATA_DIR = "camid-data"


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved locations of one camid run."""

    data_dir: Path
    catalog_url: str
    registry_path: str | None


def resolve_settings(
    data_dir: str | os.PathLike[str] | None = None,
    catalog: str | None = None,
    registry: str | os.PathLike[str] | None = None,
) -> Settings:
    """Options beat ``CAMID_DATA_DIR`` / ``CAMID_CATALOG`` / ``CAMID_REGISTRY``, which beat defaults.

    The default catalog is SQLite inside the data directory, so a data directory is a
    self-contained, movable unit (images, catalog, datasets, runs).
    """
    root = Path(data_dir or os.environ.get("CAMID_DATA_DIR") or DEFAULT_DATA_DIR)
    url = catalog or os.environ.get("CAMID_CATALOG") or f"sqlite:///{root / 'catalog.db'}"
    reg = registry or os.environ.get("CAMID_REGISTRY") or None
    return Settings(data_dir=root, catalog_url=url, registry_path=str(reg) if reg else None)


def for_workers(settings: Settings) -> Settings:
    """The same settings with absolute paths, for workers that start in another directory.

    Workers on other machines see the data only where these paths are shared (the same
    mount point everywhere); a relative SQLite path would name a different file per worker.
    """
    url = settings.catalog_url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        url = prefix + str(Path(url[len(prefix):]).resolve())
    return replace(settings, data_dir=settings.data_dir.resolve(), catalog_url=url)
