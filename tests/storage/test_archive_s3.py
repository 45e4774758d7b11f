"""The archive on a real S3 server (SeaweedFS ``weed mini``), rows on SQLite.

Covers what S3 adds to the local store: versioning, object lock with default retention,
object metadata, version-pinned reads, presigned URLs, orphans kept by retention, and the
server going away in the middle of a run.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import urllib3
from archive_helpers import USCC_A, Clock, count_rows, pdf, put
from minio import Minio
from minio.error import S3Error
from sqlalchemy import Engine
from urllib3.exceptions import ConnectTimeoutError, ReadTimeoutError

from keystore.errors import ErrorKind
from storage.archive import (
    MANIFEST_FORMAT,
    Archive,
    ArchiveCorrupt,
    ArchiveExists,
    ArchiveMisconfigured,
    ArchiveQuery,
    ArchiveRecord,
    ArchiveStatus,
    ArchiveUnavailable,
    PresignUnsupported,
    S3Config,
    S3ObjectStore,
    VerifiedReader,
)
from storage.archive.s3 import ORPHAN_TAG
from storage.db import StorageUnavailable
from storage.tables import ArchiveRow

if TYPE_CHECKING:
    from s3_fixtures import WeedServer

ACCESS_KEY = "eseal-test-access"  # as in s3_fixtures
SECRET_KEY = "eseal-test-secret-0123456789abcdef"

pytest_plugins = ["archive_fixtures", "s3_fixtures"]
pytestmark = [pytest.mark.s3, pytest.mark.slow]

NO_GRACE = timedelta(0)

Factory = Callable[..., Archive]


def _config(server: WeedServer, bucket: str, **kw: Any) -> S3Config:
    values: dict[str, Any] = dict(
        endpoint=server.endpoint,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        bucket=bucket,
        secure=False,
        connect_timeout=2.0,
        read_timeout=10.0,
        retries=1,
    )
    values.update(kw)
    return S3Config(**values)


def _config_of(archive: Archive, **kw: Any) -> S3Config:
    store = archive.store
    assert isinstance(store, S3ObjectStore)
    return replace(store.config, **kw)


def _bucket() -> str:
    from s3_fixtures import new_bucket_name

    return new_bucket_name()


@pytest.fixture
def make(sqlite_engine: Engine, s3_server: WeedServer) -> Factory:
    """``make(**S3Config fields)``: an archive on a new bucket of the shared server."""

    def factory(**kw: Any) -> Archive:
        kw.setdefault("bucket", _bucket())
        store = S3ObjectStore(_config(s3_server, **kw))
        store.start()
        return Archive(sqlite_engine, store, clock=Clock(datetime.now(UTC)))

    return factory


@pytest.fixture
def s3(make: Factory) -> Archive:
    return make()


def _raw(archive: Archive) -> tuple[Minio, str]:
    store = archive.store
    assert isinstance(store, S3ObjectStore)
    return store.client, store.bucket


# -- bucket set-up -------------------------------------------------------------------------


def test_start_creates_versioned_bucket(s3: Archive, s3_server: WeedServer) -> None:
    client, bucket = _raw(s3)
    assert client.bucket_exists(bucket)
    assert client.get_bucket_versioning(bucket).status == "Enabled"
    assert s3.describe() == {
        "backend": "s3",
        "bucket": bucket,
        "versioning": True,
        "object_lock": None,
    }
    again = S3ObjectStore(_config(s3_server, bucket))
    again.start()  # an existing bucket is fine
    assert again.versioned


@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_object_lock_with_default_retention(make: Factory, mode: str) -> None:
    archive = make(retention_days=3, retention_mode=mode)
    client, bucket = _raw(archive)
    lock = client.get_object_lock_config(bucket)
    assert (lock.mode, lock.duration, lock.duration_unit) == (mode, 3, "Days")
    assert archive.describe()["object_lock"] == {"mode": mode, "days": 3, "unit": "Days"}

    record = put(archive)
    store = archive.store
    assert isinstance(store, S3ObjectStore)
    retention = store.retention(record.object_key, record.version_id)
    assert retention is not None
    assert retention[0] == mode
    expected = datetime.now(UTC) + timedelta(days=3)
    assert abs(retention[1] - expected) < timedelta(minutes=5)

    # neither deleting nor overwriting the archived version is possible before then
    with pytest.raises(S3Error) as info:
        client.remove_object(bucket, record.object_key, version_id=record.version_id)
    assert info.value.code == "AccessDenied"
    client.put_object(bucket, record.object_key, io.BytesIO(b"forged"), 6)
    assert archive.read(record.id) == pdf()  # the recorded version, unchanged


def test_retention_added_to_an_existing_bucket(make: Factory) -> None:
    """SeaweedFS, like AWS, takes object lock on an existing bucket once it is versioned."""
    plain = make()
    _, bucket = _raw(plain)
    locked = make(bucket=bucket, retention_days=2)
    record = put(locked)
    store = locked.store
    assert isinstance(store, S3ObjectStore)
    retention = store.retention(record.object_key, record.version_id)
    assert retention is not None and retention[0] == "GOVERNANCE"


def test_retention_refused_by_the_store_stops_start_up(make: Factory) -> None:
    """MinIO refuses object lock on a bucket created without it: eseal must not start."""
    plain = make()
    client, bucket = _raw(plain)

    class NoLateLock(Minio):
        def set_object_lock_config(self, *args: Any, **kwargs: Any) -> None:
            raise S3Error(
                "InvalidBucketState",
                "Object Lock configuration cannot be enabled on existing buckets",
                bucket,
                None,
                None,
                None,
                bucket_name=bucket,
            )

    refusing = NoLateLock(
        client._base_url.host,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        secure=False,
        region="us-east-1",
    )
    config = _config_of(plain, retention_days=30)
    with pytest.raises(ArchiveMisconfigured, match="object lock") as info:
        S3ObjectStore(config, client=refusing).start()
    assert info.value.code == "archive_misconfigured"


def test_wrong_credentials_are_unavailable(s3_server: WeedServer) -> None:
    store = S3ObjectStore(_config(s3_server, _bucket(), secret_key="wrong-secret-key-0000"))
    with pytest.raises(ArchiveUnavailable) as info:
        store.start()
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert "wrong-secret" not in info.value.detail


# -- writing and reading -------------------------------------------------------------------


def test_put_records_version_and_object_metadata(s3: Archive, sqlite_engine: Engine) -> None:
    data = pdf(300_000, seed=5)
    record = put(s3, data, seed=5, reference="FP-2024-0007", document_type="invoice")
    assert record.version_id
    assert record.object_key.startswith(f"{USCC_A}/") and record.object_key.endswith(
        f"/{record.id}.pdf"
    )
    client, bucket = _raw(s3)
    head = client.stat_object(bucket, record.object_key, version_id=record.version_id)
    meta = {k.lower(): v for k, v in (head.metadata or {}).items()}
    assert meta["x-amz-meta-sha256"] == record.sha256
    assert meta["x-amz-meta-archive-id"] == record.id
    assert meta["x-amz-meta-uscc"] == USCC_A
    assert head.content_type == "application/pdf"
    assert s3.record(record.id) == record
    with s3.open(record.id) as reader:
        assert b"".join(reader.chunks(50_000)) == data
    assert count_rows(sqlite_engine) == (1, 1)


def test_overwrite_is_refused_and_history_kept(s3: Archive) -> None:
    record = put(s3, seed=1)
    with pytest.raises(ArchiveExists):
        s3.store.put(
            record.object_key,
            io.BytesIO(b"x"),
            1,
            sha256="0" * 64,
            md5="0" * 32,
            archive_id=record.id,
            uscc=USCC_A,
        )
    client, bucket = _raw(s3)
    client.put_object(bucket, record.object_key, io.BytesIO(b"written by hand"), 15)
    client.remove_object(bucket, record.object_key)  # and a delete marker on top
    assert s3.read(record.id) == pdf(seed=1)  # reads name the recorded version
    report = s3.check(grace=NO_GRACE)
    assert report.clean
    assert report.unrecorded_versions.count == 1


def test_damaged_object_is_never_served_whole(s3: Archive, sqlite_engine: Engine) -> None:
    data = pdf(200_000, seed=2)
    record = put(s3, data, seed=2)
    client, bucket = _raw(s3)
    damaged = bytearray(data)
    damaged[150_000] ^= 1
    other = client.put_object(bucket, record.object_key, io.BytesIO(bytes(damaged)), len(data))
    # the row now points at bytes that are not what was archived
    with sqlite_engine.begin() as conn:
        conn.execute(ArchiveRow.__table__.update().values(version_id=other.version_id))
    received = bytearray()
    with pytest.raises(ArchiveCorrupt), s3.open(record.id) as reader:
        for chunk in reader.chunks(8192):
            received += chunk
    assert len(received) < len(data)

    # and a row whose SHA-256 disagrees with the object's metadata fails at once
    with sqlite_engine.begin() as conn:
        conn.execute(
            ArchiveRow.__table__.update().values(version_id=record.version_id, sha256="0" * 64)
        )
    with pytest.raises(ArchiveCorrupt):
        s3.open(record.id)


def test_presigned_urls_are_opt_in(make: Factory) -> None:
    archive = make()
    record = put(archive)
    with pytest.raises(PresignUnsupported):
        archive.presigned_url(record.id)
    enabled = make(presign=True)
    record = put(enabled, seed=3)
    url = enabled.presigned_url(record.id, timedelta(minutes=2))
    assert record.version_id is not None and record.version_id in url
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == pdf(seed=3)
        assert record.filename in answer.headers["Content-Disposition"]


def test_export_from_s3(s3: Archive) -> None:
    """Each archived document is in the ZIP byte for byte, with its reports, found through
    the manifest; the reports are made from the bytes read back from S3."""
    documents = [pdf(5000 + i, seed=i) for i in range(4)]
    records = [
        put(s3, data, seed=i, reference=f"HT-{i}" if i < 3 else None)
        for i, data in enumerate(documents)
    ]  # the last without a reference

    def report_for(record: ArchiveRecord, stream: VerifiedReader) -> dict[str, Any]:
        return {"valid": True, "file": {"sha256": hashlib.sha256(stream.read()).hexdigest()}}

    def report_html(report: dict[str, Any]) -> str:
        return f"<p>{report['file']['sha256']}</p>"

    zf = zipfile.ZipFile(
        io.BytesIO(
            b"".join(
                s3.export(ArchiveQuery(uscc=USCC_A), report_for=report_for, report_html=report_html)
            )
        )
    )
    assert zf.testzip() is None
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == MANIFEST_FORMAT
    assert manifest["included"] == 4 and manifest["skipped"] == 0
    assert [f["id"] for f in manifest["files"]] == [r.id for r in records]
    stems = ["HT-0", "HT-1", "HT-2", "document"]
    for entry, record, stem, data in zip(manifest["files"], records, stems, documents, strict=True):
        assert entry["path"] == f"{stem}-{record.id}.pdf"
        assert zf.read(entry["path"]) == data
        assert json.loads(zf.read(entry["report"])) == {
            "valid": True,
            "file": {"sha256": hashlib.sha256(data).hexdigest()},
        }
        assert zf.read(entry["report_html"]).decode() == f"<p>{record.sha256}</p>"
        assert entry["verdict"]["valid"] is True
    assert len(zf.namelist()) == 4 * 3 + 1  # documents, reports, pages, the manifest


# -- orphans and check ---------------------------------------------------------------------


def _orphan_key(archive: Archive) -> str:
    return f"{USCC_A}/2024/03/01HV{int(time.time() * 1000) % 10**22:022d}.pdf"


def test_row_failure_removes_the_object(
    s3: Archive, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise StorageUnavailable("the metadata database is not available; try again later")

    monkeypatch.setattr(s3.index, "insert", down)
    with pytest.raises(StorageUnavailable):
        put(s3)
    assert count_rows(sqlite_engine) == (0, 0)
    assert list(s3.store.list()) == []  # the version itself is gone, not just hidden
    monkeypatch.undo()
    assert s3.check(grace=NO_GRACE).clean


def test_row_failure_under_retention_quarantines(
    make: Factory, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make(retention_days=1)

    def down(*args: object, **kwargs: object) -> None:
        raise StorageUnavailable("the metadata database is not available; try again later")

    monkeypatch.setattr(archive.index, "insert", down)
    with pytest.raises(StorageUnavailable):
        put(archive)
    monkeypatch.undo()
    (orphan,) = list(archive.store.list())  # retention keeps it ...
    client, bucket = _raw(archive)
    tags = client.get_object_tags(bucket, orphan.key, version_id=orphan.version_id)
    assert tags is not None and tags[ORPHAN_TAG] == "true"  # ... marked as an orphan
    report = archive.check(grace=NO_GRACE)
    assert report.clean and report.quarantined == 1


def test_check_finds_and_repairs(make: Factory) -> None:
    archive = make()
    kept = put(archive, seed=1)
    lost = put(archive, seed=2)
    client, bucket = _raw(archive)
    client.remove_object(bucket, lost.object_key, version_id=lost.version_id)
    orphan = _orphan_key(archive)
    client.put_object(bucket, orphan, io.BytesIO(b"%PDF orphan"), 11)
    client.put_object(bucket, "notes/readme.txt", io.BytesIO(b"not ours"), 8)

    report = archive.check(grace=NO_GRACE)
    assert [f.archive_id for f in report.missing.items] == [lost.id]
    assert [f.key for f in report.orphans.items] == [orphan]
    assert report.verified == 1 and report.rows == 2
    young = archive.check()  # default grace: the fresh orphan may be a write in flight
    assert young.orphans.count == 0 and young.in_flight == 1

    repaired = archive.check(repair=True, grace=NO_GRACE)
    assert repaired.orphans.items[0].action == "removed"
    assert archive.record(lost.id).status is ArchiveStatus.MISSING
    assert client.stat_object(bucket, "notes/readme.txt").size == 8  # foreign: untouched
    after = archive.check(sample=1, grace=NO_GRACE)
    assert after.orphans.count == 0 and after.missing.count == 1 and after.verified == 1
    assert archive.read(kept.id) == pdf(seed=1)


def test_orphans_under_retention_are_quarantined(make: Factory) -> None:
    archive = make(retention_days=1, retention_mode="COMPLIANCE")
    client, bucket = _raw(archive)
    orphan = _orphan_key(archive)
    client.put_object(bucket, orphan, io.BytesIO(b"%PDF orphan"), 11)
    repaired = archive.check(repair=True, grace=NO_GRACE)
    assert repaired.orphans.items[0].action == "quarantined"
    assert repaired.unresolved == 0
    assert archive.check(grace=NO_GRACE).clean


# -- the server goes away ------------------------------------------------------------------


def _own(server: WeedServer, engine: Engine) -> Archive:
    store = S3ObjectStore(_config(server, _bucket()))
    store.start()
    return Archive(engine, store, clock=Clock(datetime.now(UTC)))


def _count_connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection urllib3 opens from now on (host, port): the real ones, counted."""
    opened: list[tuple[str, int]] = []
    new_conn = urllib3.connection.HTTPConnection._new_conn

    def counting(self: urllib3.connection.HTTPConnection) -> Any:
        opened.append((self.host, self.port or 0))
        return new_conn(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "_new_conn", counting)
    return opened


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what caused it, through ``raise from``, context and urllib3's reasons."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
    return [c for c in seen if isinstance(c, BaseException)]


def test_server_stopped_mid_run(
    own_s3_server: WeedServer, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _own(own_s3_server, sqlite_engine)
    first = [put(archive, seed=i) for i in range(3)]
    own_s3_server.stop()

    connects = _count_connects(monkeypatch)
    with pytest.raises(ArchiveUnavailable) as info:
        put(archive, seed=10)
    # fails promptly, does not hang: the refused connection is the answer, no timeout is
    # waited for, and the store tries no more often than its configured retries allow
    causes = _causes(info.value)
    assert any(isinstance(c, ConnectionRefusedError) for c in causes), causes
    timeouts = [
        c
        for c in causes
        if isinstance(c, TimeoutError | ReadTimeoutError) or type(c) is ConnectTimeoutError
    ]  # (NewConnectionError derives from it)
    assert not timeouts, timeouts
    assert 1 <= len(connects) <= _config_of(archive).retries + 1, connects
    monkeypatch.undo()
    assert info.value.code == "archive_unavailable" and info.value.kind is ErrorKind.UNAVAILABLE
    assert info.value.to_problem()["code"] == "archive_unavailable"
    assert count_rows(sqlite_engine) == (3, 3)  # no row for the failed document
    for action in (lambda: archive.read(first[0].id), archive.check, archive.ping):
        with pytest.raises(ArchiveUnavailable):
            action()
    assert len(archive.list().records) == 3  # the metadata still answers

    own_s3_server.start()
    again = put(archive, seed=11)
    assert archive.read(again.id) == pdf(seed=11)
    assert [archive.read(r.id) for r in first] == [pdf(seed=i) for i in range(3)]
    report = archive.check(grace=NO_GRACE)
    assert report.clean, report.to_json()
    assert report.rows == report.objects == report.verified == 4


class _CrashingUpload(io.BytesIO):
    """A document whose upload crashes the server once the first part has gone through."""

    def __init__(self, data: bytes, server: WeedServer) -> None:
        super().__init__(data)
        self.server = server
        self.uploading = False
        self.reads = 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self.uploading = True  # the archive rewinds after hashing: the upload starts
        return super().seek(pos, whence)

    def read(self, size: int | None = -1) -> bytes:
        if self.uploading:
            self.reads += 1
            if self.reads == 2:
                self.server.stop(kill=True)
        return super().read(size)


def test_server_crashes_during_upload(own_s3_server: WeedServer, sqlite_engine: Engine) -> None:
    archive = _own(own_s3_server, sqlite_engine)
    before = put(archive, seed=1)
    data = pdf(11 * 1024 * 1024, seed=2)  # three parts of a multipart upload
    stream = _CrashingUpload(data, own_s3_server)
    with pytest.raises(ArchiveUnavailable):
        archive.put(stream, uscc=USCC_A, seals=before.seals, level="B-T", document_type="contract")
    assert stream.reads >= 2
    assert count_rows(sqlite_engine) == (1, 1)

    own_s3_server.start()
    report = archive.check(grace=NO_GRACE)
    assert report.clean, report.to_json()
    assert report.rows == report.objects == 1
    record = put(archive, data, seed=2)
    assert archive.read(record.id) == data
    assert archive.check(grace=NO_GRACE).clean
