"""The archive of sealed documents: an object store (a local directory or S3/MinIO) plus
metadata rows in the database, kept in step by the order of writes and by ``check``.

Entry points: :func:`archive_from_settings` / :func:`open_archive` build an :class:`Archive`;
its methods ``put``, ``record``, ``open``/``read``, ``exists``, ``list``, ``presigned_url``,
``check``, ``export``/``export_to`` and ``delete`` (orphans only) all block: run them off the
event loop.
"""

from .check import CheckReport, Finding
from .config import archive_from_settings, open_archive, s3_config_from_settings
from .errors import (
    ArchiveCorrupt,
    ArchiveError,
    ArchiveExists,
    ArchiveMisconfigured,
    ArchiveNotFound,
    ArchiveNotRenewable,
    ArchiveUnavailable,
    InvalidArchiveQuery,
    PresignUnsupported,
)
from .export import MANIFEST_FORMAT, ExportSummary, ReportFor
from .local import LocalObjectStore
from .model import (
    CHINA_TIME,
    DOCUMENT_TYPES,
    EXTENSIONS,
    FORMATS,
    LEVELS,
    MEDIA_TYPES,
    NATIONAL_LEVELS,
    ArchivePage,
    ArchiveQuery,
    ArchiveRecord,
    ArchiveStatus,
    SealUse,
    day_range,
)
from .s3 import S3Config, S3ObjectStore
from .service import Archive
from .store import ObjectInfo, ObjectStore, VerifiedReader

__all__ = [
    "CHINA_TIME",
    "DOCUMENT_TYPES",
    "EXTENSIONS",
    "FORMATS",
    "LEVELS",
    "MANIFEST_FORMAT",
    "MEDIA_TYPES",
    "NATIONAL_LEVELS",
    "Archive",
    "ArchiveCorrupt",
    "ArchiveError",
    "ArchiveExists",
    "ArchiveMisconfigured",
    "ArchiveNotFound",
    "ArchiveNotRenewable",
    "ArchivePage",
    "ArchiveQuery",
    "ArchiveRecord",
    "ArchiveStatus",
    "ArchiveUnavailable",
    "CheckReport",
    "ExportSummary",
    "Finding",
    "InvalidArchiveQuery",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "PresignUnsupported",
    "ReportFor",
    "S3Config",
    "S3ObjectStore",
    "SealUse",
    "VerifiedReader",
    "archive_from_settings",
    "day_range",
    "open_archive",
    "s3_config_from_settings",
]
