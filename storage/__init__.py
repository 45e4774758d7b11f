"""The metadata database (SQLAlchemy 2, SQLite or PostgreSQL, Alembic migrations)."""

from . import access_tables  # noqa: F401 - registers the access tables on the metadata
from .db import StorageUnavailable, make_engine, migrate
from .repository import SqlEnterpriseRepository

__all__ = ["SqlEnterpriseRepository", "StorageUnavailable", "make_engine", "migrate"]
