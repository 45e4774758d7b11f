"""The metadata database (SQLAlchemy 2, SQLite or PostgreSQL, Alembic migrations)."""

from . import (  # noqa: F401 - the feed's and a front's tables (issue 19)
    access_tables,
    feed,
    filings,
    replica,
)
from .db import StorageUnavailable, make_engine, migrate
from .repository import SqlEnterpriseRepository

__all__ = ["SqlEnterpriseRepository", "StorageUnavailable", "make_engine", "migrate"]
