"""Errors of the archive, under the one root :class:`keystore.errors.EsealError`.

Details name no host, bucket, path or driver message: the original exception stays attached
as ``__cause__`` for the logs.
"""

from __future__ import annotations

from seals.errors import ErrorKind, EsealError

__all__ = [
    "ArchiveCorrupt",
    "ArchiveError",
    "ArchiveExists",
    "ArchiveMisconfigured",
    "ArchiveNotFound",
    "ArchiveNotRenewable",
    "ArchiveUnavailable",
    "InvalidArchiveQuery",
    "PresignUnsupported",
]


class ArchiveError(EsealError):
    code = "archive_error"
    kind = ErrorKind.INTERNAL
    title = "Archive error"


class ArchiveUnavailable(ArchiveError):
    """The object store cannot be reached or refuses to work; retry later."""

    code = "archive_unavailable"
    kind = ErrorKind.UNAVAILABLE
    title = "Archive unavailable"


class ArchiveCorrupt(ArchiveError):
    """A stored document is not what was archived: its SHA-256 or size differs, or it is gone.

    Raised while streaming, before the last bytes are handed out, so a reader never receives a
    complete file that is wrong.
    """

    code = "archive_corrupt"
    kind = ErrorKind.INTERNAL
    title = "Archived document damaged"


class ArchiveNotFound(ArchiveError):
    code = "archive_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "Archived document not found"


class ArchiveExists(ArchiveError):
    """An object with this key (or a row with this archive id) exists; archives never overwrite."""

    code = "archive_exists"
    kind = ErrorKind.CONFLICT
    title = "Archived document exists"


class ArchiveMisconfigured(ArchiveError):
    """The store cannot give what the settings ask for (e.g. object lock on an old bucket)."""

    code = "archive_misconfigured"
    kind = ErrorKind.UNAVAILABLE
    title = "Archive misconfigured"


class InvalidArchiveQuery(ArchiveError):
    """A filter or cursor of a listing is malformed."""

    code = "invalid_archive_query"
    kind = ErrorKind.INVALID
    title = "Invalid archive query"


class PresignUnsupported(ArchiveError):
    """Presigned download URLs exist only when the archive is on S3 and they are enabled."""

    code = "archive_presign_unsupported"
    kind = ErrorKind.CONFLICT
    title = "Presigned URLs not available"


class ArchiveNotRenewable(ArchiveError):
    """Only a PDF gets later versions: renewal and extension add PAdES validation data and
    document timestamps, which an OFD or a bare ``SES_Signature`` has no place for."""

    code = "archive_not_renewable"
    kind = ErrorKind.CONFLICT
    title = "Archived document cannot be renewed"
