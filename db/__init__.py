"""The catalog: SQLAlchemy 2.0 models, Alembic migrations, and the only SQL in camid.

``Catalog`` is imported on first use, not with the package: ``db.stats_sqlite`` answers
``camid stats`` without SQLAlchemy, and importing ``db`` must not pull it in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from db.catalog import Catalog

__all__ = ["Catalog"]


def __getattr__(name: str) -> object:
    if name == "Catalog":
        from db.catalog import Catalog

        return Catalog
    raise AttributeError(f"module 'db' has no attribute {name!r}")
