"""Alembic migrations of the metadata database (run them with :func:`storage.db.migrate`)."""
