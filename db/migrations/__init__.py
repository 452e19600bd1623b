"""Alembic migrations for the catalog, applied automatically when a catalog is opened."""
