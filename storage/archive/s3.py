"""The archive in MinIO or any S3-compatible store, through the ``minio`` client.

At start-up (:meth:`S3ObjectStore.start`) the bucket is created if missing, versioning is
turned on, and when a retention is configured the bucket gets object lock with that default
retention (GOVERNANCE or COMPLIANCE), so no archived version can be deleted or overwritten
before it ends.  S3 only allows object lock on buckets created with it: an existing bucket
without it is reported as :class:`ArchiveMisconfigured`, never silently used.

Every object carries ``x-amz-meta-sha256``, ``x-amz-meta-archive-id`` and
``x-amz-meta-uscc``.  Reads name the version id recorded at write time, so a later write to
the same key (or a delete marker) cannot change what a record reads.  A write is confirmed by
a HEAD of the new version (size, SHA-256 metadata, and for single-part uploads the ETag, which
is the MD5) before the caller may commit its metadata row.

The ``minio`` client blocks: call these methods from a worker thread when on an event loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Literal

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import Tags
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.objectlockconfig import COMPLIANCE, DAYS, GOVERNANCE, ObjectLockConfig
from minio.versioningconfig import ENABLED, VersioningConfig

from .errors import (
    ArchiveExists,
    ArchiveMisconfigured,
    ArchiveNotFound,
    ArchiveUnavailable,
    PresignUnsupported,
)
from .model import media_type_of_key, parse_object_key
from .store import ObjectInfo, RawReader

__all__ = ["RetentionMode", "S3Config", "S3ObjectStore", "parse_endpoint"]

log = logging.getLogger("eseal.archive")

RetentionMode = Literal["GOVERNANCE", "COMPLIANCE"]

#: the object tag that marks an orphan which retention keeps from being removed
ORPHAN_TAG = "eseal-orphan"
_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "NoSuchObject", "NotFound", "ResourceNotFound"}
_NO_LOCK = {"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"}
#: answers to a DELETE of a version that retention protects
_RETAINED = {"AccessDenied", "ObjectLocked", "InvalidRequest", "MethodNotAllowed"}


@dataclass(frozen=True)
class S3Config:
    """Where and how to reach the S3 archive (``ESEAL_S3_*``, ``ESEAL_ARCHIVE_*``)."""

    #: ``host:port``; a URL (``https://minio:9000``) also works and then sets ``secure``
    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    bucket: str = "eseal-archive"
    #: TLS
    secure: bool = True
    #: region name used in signatures; set, it also spares a location lookup per bucket
    region: str = "us-east-1"
    #: default retention of every object version, in days; ``None``: no object lock
    retention_days: int | None = None
    retention_mode: RetentionMode = "GOVERNANCE"
    #: presigned download URLs are off unless enabled
    presign: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    #: retries of a failed connection or 5xx answer before ``archive_unavailable``
    retries: int = 2

    def __post_init__(self) -> None:
        if self.retention_days is not None and self.retention_days < 1:
            raise ValueError("retention_days must be at least 1 (or None for no object lock)")
        if self.retention_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError("retention_mode must be GOVERNANCE or COMPLIANCE")


def parse_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """``(host:port, secure)`` from ``host:port`` or an ``http(s)://`` URL."""
    for scheme, tls in (("https://", True), ("http://", False)):
        if endpoint.lower().startswith(scheme):
            rest = endpoint[len(scheme) :].rstrip("/")
            if "/" in rest:
                raise ValueError("the S3 endpoint must not have a path")
            return rest, tls
    return endpoint.rstrip("/"), secure


def _http_client(config: S3Config) -> urllib3.PoolManager:
    retry = urllib3.Retry(
        total=config.retries,
        connect=config.retries,
        read=config.retries,
        backoff_factor=0.2,
        status_forcelist=[500, 502, 503, 504],
        # minio raises its own errors from the final answer
        raise_on_status=False,
    )
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
        maxsize=16,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=retry,
    )


@contextlib.contextmanager
def _s3_errors(action: str) -> Iterator[None]:
    """Outages and refusals of the store as :class:`ArchiveUnavailable`."""
    try:
        yield
    except S3Error as err:
        raise ArchiveUnavailable(f"the archive store refused to {action} ({err.code})") from err
    except (ServerError, InvalidResponseError, MinioException) as err:
        raise ArchiveUnavailable(f"the archive store failed to {action}; try again later") from err
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise ArchiveUnavailable(
            f"the archive store cannot be reached to {action}; try again later"
        ) from err


def _meta(headers: Any, name: str) -> str | None:
    """A user metadata value from a HEAD/GET answer (header names are case-insensitive)."""
    wanted = f"x-amz-meta-{name}"
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return None


class S3ObjectStore:
    """Objects in one bucket, keys as given."""

    name = "s3"

    def __init__(self, config: S3Config, *, client: Minio | None = None) -> None:
        endpoint, secure = parse_endpoint(config.endpoint, config.secure)
        self.config = config
        self.bucket = config.bucket
        self.client = client or Minio(
            endpoint,
            access_key=config.access_key,
            secret_key=config.secret_key,
            secure=secure,
            region=config.region,
            http_client=_http_client(config),
        )
        self._versioned = False
        self._lock: dict[str, Any] | None = None

    @property
    def versioned(self) -> bool:
        return self._versioned

    # -- start-up --------------------------------------------------------------------------

    def start(self) -> None:
        """Create the bucket if missing; turn on versioning and, if configured, object lock."""
        want_lock = self.config.retention_days is not None
        with _s3_errors("set up the archive bucket"):
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket, object_lock=want_lock)
                    log.info("archive bucket created (object lock %s)", want_lock)
                except S3Error as err:
                    # another replica created it first
                    if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            status = self.client.get_bucket_versioning(self.bucket).status
            if status != ENABLED:
                self.client.set_bucket_versioning(self.bucket, VersioningConfig(ENABLED))
                status = self.client.get_bucket_versioning(self.bucket).status
            if status != ENABLED:
                raise ArchiveMisconfigured("the archive store did not enable bucket versioning")
            self._versioned = True
            current = self._lock_config()
            if want_lock:
                self._lock = self._apply_retention(current)
            else:
                self._lock = current

    def _lock_config(self) -> dict[str, Any] | None:
        try:
            config = self.client.get_object_lock_config(self.bucket)
        except S3Error as err:
            if err.code in _NO_LOCK:
                return None
            raise
        return {"mode": config.mode, "days": config.duration, "unit": config.duration_unit}

    def _apply_retention(self, current: dict[str, Any] | None) -> dict[str, Any]:
        days = self.config.retention_days
        mode = COMPLIANCE if self.config.retention_mode == "COMPLIANCE" else GOVERNANCE
        wanted = {"mode": mode, "days": days, "unit": DAYS}
        if current == wanted:
            return current
        try:
            self.client.set_object_lock_config(self.bucket, ObjectLockConfig(mode, days, DAYS))
        except S3Error as err:
            if current is None:
                raise ArchiveMisconfigured(
                    "the archive bucket was created without object lock, which S3 can only "
                    "enable when a bucket is created; create a new bucket (ESEAL_S3_BUCKET) or "
                    f"unset ESEAL_ARCHIVE_RETENTION_DAYS ({err.code})"
                ) from err
            raise
        log.info("archive bucket default retention set to %s %s days", mode, days)
        return wanted

    # -- writing ---------------------------------------------------------------------------

    def put(
        self,
        key: str,
        data: BinaryIO,
        size: int,
        *,
        sha256: str,
        md5: str,
        archive_id: str,
        uscc: str,
    ) -> ObjectInfo:
        if self.stat(key) is not None:
            raise ArchiveExists(f"archive object {key} exists; the archive never overwrites")
        with _s3_errors("store the document"):
            result = self.client.put_object(
                self.bucket,
                key,
                data,
                size,
                content_type=media_type_of_key(key),
                metadata={"sha256": sha256, "archive-id": archive_id, "uscc": uscc},
            )
        version_id = result.version_id
        info = self.stat(key, version_id)
        etag = (result.etag or "").strip('"').lower()
        confirmed = (
            info is not None
            and info.size == size
            and info.sha256 == sha256
            and (not etag or "-" in etag or etag == md5)
        )
        if not confirmed:
            with contextlib.suppress(Exception):
                self.discard(key, version_id)
            raise ArchiveUnavailable(
                "the archive store did not confirm the document as written; try again"
            )
        assert info is not None
        return info

    def discard(self, key: str, version_id: str | None) -> str:
        with _s3_errors("remove an orphaned object"):
            try:
                self.client.remove_object(self.bucket, key, version_id=version_id)
                return "removed"
            except S3Error as err:
                if err.code in _NOT_FOUND:
                    return "removed"
                if err.code not in _RETAINED:
                    raise
        # retention keeps this version: mark it so that check stops counting it as a problem
        tags = Tags.new_object_tags()
        tags[ORPHAN_TAG] = "true"
        with _s3_errors("mark an orphaned object"):
            self.client.set_object_tags(self.bucket, key, tags, version_id=version_id)
        log.warning("orphaned archive object %s is retained; tagged %s", key, ORPHAN_TAG)
        return "quarantined"

    def is_quarantined(self, key: str, version_id: str | None) -> bool:
        with _s3_errors("read object tags"):
            try:
                tags = self.client.get_object_tags(self.bucket, key, version_id=version_id)
            except S3Error as err:
                if err.code in _NOT_FOUND:
                    return False
                raise
        return tags is not None and tags.get(ORPHAN_TAG) == "true"

    # -- reading ---------------------------------------------------------------------------

    def open(self, key: str, version_id: str | None) -> tuple[RawReader, ObjectInfo]:
        with _s3_errors("read the document"):
            try:
                response = self.client.get_object(self.bucket, key, version_id=version_id)
            except S3Error as err:
                if err.code in _NOT_FOUND:
                    raise ArchiveNotFound(f"archive object {key} does not exist") from None
                raise
        headers = response.headers
        info = ObjectInfo(
            key,
            int(headers.get("content-length", -1)),
            datetime.now(UTC),
            headers.get("x-amz-version-id") or version_id,
            _meta(headers, "sha256"),
            _meta(headers, "archive-id"),
        )
        return _Reader(response), info

    def stat(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        with _s3_errors("look up the document"):
            try:
                obj = self.client.stat_object(self.bucket, key, version_id=version_id)
            except S3Error as err:
                # HEAD answers carry no body: a missing object may come as a bare 404
                if err.code in _NOT_FOUND or (
                    err.response is not None and err.response.status == 404
                ):
                    return None
                raise
        metadata = obj.metadata or {}
        return ObjectInfo(
            key,
            int(obj.size or 0),
            obj.last_modified or datetime.now(UTC),
            obj.version_id,
            _meta(metadata, "sha256"),
            _meta(metadata, "archive-id"),
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every version of every object with eseal's key layout (delete markers skipped)."""
        with _s3_errors("list the archive"):
            for obj in self.client.list_objects(
                self.bucket,
                prefix=prefix or None,
                recursive=True,
                include_version=self._versioned,
            ):
                name = obj.object_name or ""
                if obj.is_delete_marker or parse_object_key(name) is None:
                    continue
                yield ObjectInfo(
                    name,
                    int(obj.size or 0),
                    obj.last_modified or datetime.now(UTC),
                    obj.version_id if obj.version_id not in (None, "null") else None,
                )

    def presigned_url(
        self, key: str, version_id: str | None, expires: timedelta, filename: str
    ) -> str:
        if not self.config.presign:
            raise PresignUnsupported("presigned download URLs are disabled (ESEAL_ARCHIVE_PRESIGN)")
        with _s3_errors("sign a download URL"):
            return self.client.presigned_get_object(
                self.bucket,
                key,
                expires=expires,
                version_id=version_id,
                response_headers={
                    "response-content-type": media_type_of_key(key),
                    "response-content-disposition": f'attachment; filename="{filename}"',
                },
            )

    def ping(self) -> None:
        with _s3_errors("answer"):
            if not self.client.bucket_exists(self.bucket):
                raise ArchiveUnavailable("the archive bucket does not exist")

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "bucket": self.bucket,
            "versioning": self._versioned,
            "object_lock": self._lock,
        }

    def retention(self, key: str, version_id: str | None) -> tuple[str, datetime] | None:
        """The retention mode and end of one object version, if it has one."""
        with _s3_errors("read the retention"):
            try:
                ret = self.client.get_object_retention(self.bucket, key, version_id=version_id)
            except S3Error as err:
                if err.code in _NOT_FOUND | _NO_LOCK:
                    return None
                raise
        if ret is None or ret.retain_until_date is None:
            return None
        return str(ret.mode), ret.retain_until_date


class _Reader:
    """The body of a GET; connection failures mid-stream are ``archive_unavailable``."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = (
                self._response.read() if size is None or size < 0 else self._response.read(size)
            )
            return data
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise ArchiveUnavailable(
                "the connection to the archive store broke while reading; try again"
            ) from err

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._response.close()
            self._response.release_conn()
