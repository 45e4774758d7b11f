"""The metadata database (SQLAlchemy 2, SQLite or PostgreSQL, Alembic migrations)."""

from .db import StorageUnavailable, make_engine, migrate
from .repository import SqlEnterpriseRepository

__all__ = ["SqlEnterpriseRepository", "StorageUnavailable", "make_engine", "migrate"]
