"""Building the archive from settings: the S3 store when an endpoint is set, else a directory.

:func:`archive_from_settings` takes any object with the archive fields of ``api.settings``
(``s3_endpoint``, ``s3_access_key``, ``s3_secret_key``, ``s3_bucket``, ``s3_secure``,
``archive_retention_days``, ``archive_retention_mode`` and optionally ``s3_region``,
``archive_presign``, ``archive_dir``), so ``storage`` need not import ``api``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from .errors import ArchiveMisconfigured
from .local import LocalObjectStore
from .s3 import S3Config, S3ObjectStore
from .service import Archive
from .store import ObjectStore

__all__ = ["archive_from_settings", "open_archive", "s3_config_from_settings"]


def open_archive(
    engine: Engine,
    *,
    local_dir: Path | None = None,
    s3: S3Config | None = None,
) -> Archive:
    """The archive on ``s3`` if given, else in ``local_dir``; the store is set up first.

    Blocking (for S3: bucket, versioning and object lock calls); run it at start-up.
    """
    store: ObjectStore
    if s3 is not None:
        s3_store = S3ObjectStore(s3)
        s3_store.start()
        store = s3_store
    elif local_dir is not None:
        local = LocalObjectStore(local_dir)
        local.start()
        store = local
    else:
        raise ValueError("give local_dir or s3")
    return Archive(engine, store)


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if callable(getter) else str(value)


def s3_config_from_settings(settings: Any) -> S3Config | None:
    """The S3 configuration of ``settings``, or ``None`` when no endpoint is set."""
    endpoint = getattr(settings, "s3_endpoint", None)
    retention_days = getattr(settings, "archive_retention_days", None)
    if not endpoint:
        if retention_days is not None:
            raise ArchiveMisconfigured(
                "ESEAL_ARCHIVE_RETENTION_DAYS needs the S3 archive (ESEAL_S3_ENDPOINT): a local "
                "directory cannot enforce retention"
            )
        return None
    access_key = _secret(getattr(settings, "s3_access_key", None))
    secret_key = _secret(getattr(settings, "s3_secret_key", None))
    if not access_key or not secret_key:
        raise ArchiveMisconfigured(
            "ESEAL_S3_ACCESS_KEY and ESEAL_S3_SECRET_KEY are required with ESEAL_S3_ENDPOINT"
        )
    mode = str(getattr(settings, "archive_retention_mode", "GOVERNANCE") or "GOVERNANCE").upper()
    if mode not in ("GOVERNANCE", "COMPLIANCE"):
        raise ArchiveMisconfigured("ESEAL_ARCHIVE_RETENTION_MODE is GOVERNANCE or COMPLIANCE")
    return S3Config(
        endpoint=str(endpoint),
        access_key=access_key,
        secret_key=secret_key,
        bucket=str(getattr(settings, "s3_bucket", None) or "eseal-archive"),
        secure=bool(getattr(settings, "s3_secure", True)),
        region=str(getattr(settings, "s3_region", None) or "us-east-1"),
        retention_days=retention_days,
        retention_mode="COMPLIANCE" if mode == "COMPLIANCE" else "GOVERNANCE",
        presign=bool(getattr(settings, "archive_presign", False)),
    )


def archive_from_settings(settings: Any, engine: Engine) -> Archive:
    """The archive as the settings say; the local default is ``<data_dir>/archive``."""
    s3 = s3_config_from_settings(settings)
    local_dir = getattr(settings, "archive_dir", None)
    if local_dir is None:
        local_dir = Path(settings.data_dir) / "archive"
    return open_archive(engine, local_dir=Path(local_dir), s3=s3)
