"""The archive on a local directory.

Tests about rows run on SQLite and PostgreSQL (``archive``); tests about the directory itself
run on SQLite only (``local``).
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from archive_helpers import (
    T0,
    USCC_A,
    USCC_B,
    Clock,
    count_rows,
    pdf,
    put,
    sha256,
)
from sqlalchemy import Engine

from keystore.errors import ErrorKind
from seals.errors import EnterpriseNotFound, InvalidUSCC
from seals.kinds import SealKind
from storage.archive import (
    Archive,
    ArchiveCorrupt,
    ArchiveError,
    ArchiveExists,
    ArchiveNotFound,
    ArchiveStatus,
    ArchiveUnavailable,
    LocalObjectStore,
    ObjectInfo,
    PresignUnsupported,
    SealUse,
    open_archive,
)
from storage.archive.commands import check_command
from storage.db import StorageUnavailable

pytest_plugins = ["archive_fixtures"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def archive(db: Engine, root: Path) -> Archive:
    return Archive(db, _started(root), clock=Clock())


@pytest.fixture
def local(sqlite_engine: Engine, root: Path) -> Archive:
    return Archive(sqlite_engine, _started(root), clock=Clock())


def _started(root: Path) -> LocalObjectStore:
    store = LocalObjectStore(root)
    store.start()
    return store


def _writable(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)


# -- writing -------------------------------------------------------------------------------


def test_put_stores_file_and_row(archive: Archive, root: Path, db: Engine) -> None:
    data = pdf(5000, seed=1)
    record = put(
        archive,
        data,
        kinds=[SealKind.CONTRACT, SealKind.LEGAL_REP, SealKind.CONTRACT],
        reference="HT-2024-001",
        seed=1,
    )
    assert len(record.id) == 26 and record.id.isalnum()
    assert record.created_at == T0  # the ULID carries the archive time
    assert record.object_key == f"{USCC_A}/2024/03/{record.id}.pdf"
    assert record.sha256 == sha256(data) and record.size == 5000
    assert record.version_id is None
    assert record.kinds == (SealKind.CONTRACT, SealKind.LEGAL_REP)
    path = root / record.object_key
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list((root / ".tmp").iterdir()) == []  # the temporary file is gone

    again = archive.record(record.id)
    assert again == record
    assert [s.serial for s in again.seals] == [0x4010, 0x4011, 0x4012]
    assert again.timestamp_time == T0
    assert count_rows(db) == (1, 3)
    assert archive.exists(record.id)


def test_object_key_month_is_china_time(sqlite_engine: Engine, root: Path) -> None:
    # 2024-03-31 16:30 UTC is already April 1st in Beijing
    local = Archive(sqlite_engine, _started(root), clock=Clock(T0.replace(day=31, hour=16)))
    record = put(local)
    assert record.object_key.startswith(f"{USCC_A}/2024/04/")


def test_put_accepts_a_seekable_file(local: Archive) -> None:
    data = pdf(300_000, seed=2)
    stream = io.BytesIO(b"junk" + data)
    stream.seek(4)  # archived from where the stream stands
    record = local.put(
        stream,
        uscc=USCC_A,
        seals=[SealUse(SealKind.OFFICIAL, 7)],
        level="B-LTA",
        document_type="other",
    )
    assert local.read(record.id) == data


def test_local_store_refuses_overwrite(local: Archive, root: Path) -> None:
    record = put(local)
    with pytest.raises(ArchiveExists) as info:
        local.store.put(
            record.object_key,
            io.BytesIO(b"other"),
            5,
            sha256="0" * 64,
            md5="0" * 32,
            archive_id=record.id,
            uscc=USCC_A,
        )
    assert info.value.code == "archive_exists"
    assert info.value.kind is ErrorKind.CONFLICT
    assert local.read(record.id) == pdf()
    assert list((root / ".tmp").iterdir()) == []


def test_bad_input_writes_nothing(archive: Archive, db: Engine, root: Path) -> None:
    with pytest.raises(InvalidUSCC):
        put(archive, uscc="91110000600037341N")
    with pytest.raises(EnterpriseNotFound):  # valid, but not registered
        put(archive, uscc="91110108551385082Q")
    with pytest.raises(ValueError, match="level"):
        put(archive, level="B-X")
    with pytest.raises(ValueError, match="document type"):
        put(archive, document_type="receipt")
    with pytest.raises(ValueError, match="seal"):
        archive.put(b"x", uscc=USCC_A, seals=[], level="B-T", document_type="other")
    assert count_rows(db) == (0, 0)
    assert list(archive.store.list()) == []


def test_row_failure_removes_the_object(
    archive: Archive, db: Engine, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise StorageUnavailable("the metadata database is not available; try again later")

    monkeypatch.setattr(archive.index, "insert", down)
    with pytest.raises(StorageUnavailable):
        put(archive)
    assert count_rows(db) == (0, 0)
    assert list(archive.store.list()) == []  # no orphan left behind
    monkeypatch.undo()
    assert archive.check(grace=timedelta(0)).clean


def test_unknown_record(archive: Archive) -> None:
    for missing in ("01HZZZZZZZZZZZZZZZZZZZZZZZ", "not-an-id"):
        with pytest.raises(ArchiveNotFound) as info:
            archive.record(missing)
        assert info.value.kind is ErrorKind.NOT_FOUND
        assert not archive.exists(missing)


def test_presigned_urls_need_s3(local: Archive) -> None:
    record = put(local)
    with pytest.raises(PresignUnsupported):
        local.presigned_url(record.id)


# -- reading: SHA-256 checked as it streams ------------------------------------------------


def test_stream_in_chunks(local: Archive) -> None:
    data = pdf(200_000, seed=3)
    record = put(local, data)
    with local.open(record.id) as reader:
        chunks = list(reader.chunks(10_000))
        assert reader.verified
    assert b"".join(chunks) == data
    assert max(map(len, chunks)) <= 10_000


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_damaged_file_is_never_served_whole(local: Archive, root: Path, damage: str) -> None:
    data = pdf(150_000, seed=4)
    record = put(local, data)
    path = root / record.object_key
    _writable(path)
    if damage == "flip":
        damaged = bytearray(data)
        damaged[100_000] ^= 1
        path.write_bytes(bytes(damaged))
    elif damage == "truncate":
        path.write_bytes(data[:-10])
    else:
        path.write_bytes(data + b"%%EOF\n")
    received = bytearray()
    with pytest.raises(ArchiveCorrupt) as info, local.open(record.id) as reader:
        for chunk in reader.chunks(4096):
            received += chunk
    assert info.value.code == "archive_corrupt"
    assert len(received) < len(data)  # the end was held back
    with pytest.raises(ArchiveCorrupt):
        local.read(record.id)


def test_row_whose_file_vanished_reads_as_corrupt(local: Archive, root: Path) -> None:
    record = put(local)
    (root / record.object_key).unlink()
    with pytest.raises(ArchiveCorrupt, match="missing"):
        local.read(record.id)


# -- check ---------------------------------------------------------------------------------


def test_check_clean_and_sample(archive: Archive) -> None:
    for i in range(6):
        put(archive, seed=i)
    report = archive.check()
    assert report.clean and report.rows == 6 and report.objects == 6 and report.verified == 6
    sampled = archive.check(sample=2)
    assert sampled.clean and sampled.verified == 2
    assert archive.check(sample=0).verified == 0


def test_check_finds_and_repairs(archive: Archive, root: Path) -> None:
    kept = put(archive, seed=1)
    lost = put(archive, seed=2)
    damaged = put(archive, seed=3)
    (root / lost.object_key).unlink()
    _writable(root / damaged.object_key)
    (root / damaged.object_key).write_bytes(pdf(seed=99))  # same size, other bytes
    orphan_key = f"{USCC_B}/2024/03/01HV0000000000000000000000.pdf"
    (root / orphan_key).parent.mkdir(parents=True)
    (root / orphan_key).write_bytes(b"%PDF-1.7 left by a failed write")
    (root / f"{USCC_B}/2024/03/README.txt").write_text("not an archive object")
    old = (T0 - timedelta(days=1)).timestamp()
    os.utime(root / orphan_key, (old, old))
    stale = root / ".tmp" / "01HV0000000000000000000000.abc.part"
    stale.write_bytes(b"partial")
    os.utime(stale, (old, old))

    # T0 is long ago for the real files: a grace period relative to "now" of the clock
    report = archive.check(grace=timedelta(0))
    assert not report.clean
    assert [f.archive_id for f in report.missing.items] == [lost.id]
    assert [f.archive_id for f in report.corrupt.items] == [damaged.id]
    assert [f.key for f in report.orphans.items] == [orphan_key]
    assert report.stale_temporaries == 1
    assert all(f.action is None for f in report.orphans.items)  # no repair asked
    assert archive.record(lost.id).status is ArchiveStatus.OK

    repaired = archive.check(repair=True, grace=timedelta(0))
    assert repaired.orphans.items[0].action == "removed"
    assert repaired.missing.items[0].action == "marked missing"
    assert repaired.corrupt.items[0].action == "marked corrupt"
    assert not (root / orphan_key).exists() and not stale.exists()
    assert (root / f"{USCC_B}/2024/03/README.txt").exists()  # foreign files are not touched
    assert archive.record(lost.id).status is ArchiveStatus.MISSING
    assert archive.record(damaged.id).status is ArchiveStatus.CORRUPT
    with pytest.raises(ArchiveCorrupt, match="marked corrupt"):
        archive.read(damaged.id)
    assert archive.read(kept.id) == pdf(seed=1)

    # marking is not fixing: both stay problems until the files come back
    again = archive.check(grace=timedelta(0))
    assert again.orphans.count == 0 and again.missing.count == 1 and again.corrupt.count == 1
    assert again.unresolved == 2

    (root / damaged.object_key).write_bytes(pdf(seed=3))  # restored from a backup
    restored = archive.check(repair=True, grace=timedelta(0))
    assert [f.archive_id for f in restored.recovered.items] == [damaged.id]
    assert archive.read(damaged.id) == pdf(seed=3)


def test_check_leaves_young_orphans_alone(local: Archive, root: Path) -> None:
    key = f"{USCC_A}/2024/03/01HV0000000000000000000001.pdf"
    (root / key).parent.mkdir(parents=True)
    (root / key).write_bytes(b"a write in flight")
    report = Archive(local.index.engine, local.store).check(repair=True)
    assert report.clean and report.in_flight == 1
    assert (root / key).exists()


def test_delete_is_for_orphans_only(local: Archive, root: Path) -> None:
    record = put(local)
    with pytest.raises(ArchiveExists):
        local.delete(record.object_key)
    assert (root / record.object_key).exists()
    key = f"{USCC_A}/2024/03/01HV0000000000000000000002.pdf"
    (root / key).write_bytes(b"orphan")
    assert local.delete(key) == "removed"
    assert not (root / key).exists()


def test_check_command_output_and_exit_code(local: Archive, root: Path) -> None:
    record = put(local)
    out = io.StringIO()
    assert check_command(local, out, sample=1) == 0
    assert '"clean": true' in out.getvalue()
    (root / record.object_key).unlink()
    assert check_command(local, io.StringIO(), repair=True) == 1


def test_open_archive_creates_directory(sqlite_engine: Engine, root: Path) -> None:
    archive = open_archive(sqlite_engine, local_dir=root)
    assert (root / ".tmp").is_dir()
    archive.ping()
    assert archive.describe() == {"backend": "local", "versioning": False, "object_lock": None}


def test_check_refuses_a_store_that_lists_out_of_order(local: Archive, root: Path) -> None:
    put(local, seed=1)
    put(local, seed=2)
    listing = list(local.store.list())

    class Unordered(LocalObjectStore):
        def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
            return iter(listing[::-1])

    archive = Archive(local.index.engine, Unordered(root))
    with pytest.raises(ArchiveError) as info:
        archive.check()
    assert info.value.code == "archive_listing_unordered"


def test_put_needs_bytes_or_a_seekable_file(local: Archive) -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def tell(self) -> int:
            raise OSError("not seekable")

    pipe: Any = Pipe()
    with pytest.raises(TypeError):
        local.put(
            pipe,
            uscc=USCC_A,
            seals=[SealUse(SealKind.OFFICIAL, 1)],
            level="B-T",
            document_type="other",
        )


@pytest.mark.parametrize("spot", [".tmp", "."])
def test_a_file_where_a_directory_should_be_is_unavailable_not_a_crash(
    local: Archive, root: Path, sqlite_engine: Engine, spot: str
) -> None:
    """A regular file where the archive directory (or its ``.tmp``) should be: the write fails
    as ``archive_unavailable`` (503, retry later), not as the ``NotADirectoryError`` that
    removing the temporary file raises there (which the API answered with a 500)."""
    os.rmdir(root / ".tmp")
    if spot == ".":
        os.rmdir(root)
    (root / spot).write_bytes(b"not a directory")
    with pytest.raises(ArchiveUnavailable) as info:
        put(local)
    assert info.value.code == "archive_unavailable"
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert "Not a directory" in str(info.value)
    assert count_rows(sqlite_engine) == (0, 0)
