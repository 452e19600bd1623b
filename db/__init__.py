"""The catalog: SQLAlchemy 2.0 models, Alembic migrations, and the only SQL in camid."""

from db.catalog import Catalog

__all__ = ["Catalog"]
