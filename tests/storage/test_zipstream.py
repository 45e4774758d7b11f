"""The batch result's ZIP writer: what zipfile (and so any reader) finds in what it writes.

Members deflated ahead on the pool's threads, members streamed in the writing thread (a large
one, or one given as pieces), names beyond ASCII, and the ZIP64 end records a very large ZIP
needs (their limits lowered here, so that a small ZIP takes them).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from storage.archive import zipstream
from storage.archive.export import zip_time
from storage.archive.zipstream import Member, ParallelZip

MOMENT = datetime(2026, 3, 2, 8, 0, 2, tzinfo=UTC)  # DOS time counts in 2 s steps


def _member(name: str, data: bytes, *, whole: bool = True) -> Member:
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    return Member(name, MOMENT, len(data), (lambda: data) if whole else None, chunks)


def _written(members: list[Member]) -> bytes:
    with ThreadPoolExecutor(2) as pool:
        out = ParallelZip(pool, flush_at=4096)
        chunks = [*out.write(members), *out.close()]
    return b"".join(chunks)


def _files() -> dict[str, bytes]:
    return {
        "HT-001.pdf": b"%PDF-1.7\n" + b"contract " * 300,
        "合同/HT-002.pdf": os.urandom(20_000),  # does not deflate
        "empty.txt": b"",
        "results.json": b'{"files": []}\n' * 50,
    }


def _check(data: bytes, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None  # every CRC right
        assert zf.namelist() == list(files)
        for info in zf.infolist():
            assert zf.read(info) == files[info.filename]
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.date_time == zip_time(MOMENT)
            assert info.external_attr >> 16 == 0o100444


def test_members_ahead_and_streamed_read_back_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files()
    monkeypatch.setattr(zipstream, "PARALLEL_MAX", 10_000)  # the 20 kB one streams
    monkeypatch.setattr(zipstream, "AHEAD_BYTES", 3_000)  # few held ahead at a time
    members = [_member(n, d, whole=n != "results.json") for n, d in files.items()]
    _check(_written(members), files)


def test_many_members_and_far_offsets_take_zip64_records(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"{i}.pdf": b"%PDF " + bytes([i]) * i for i in range(40)} | _files()
    monkeypatch.setattr(zipstream, "_COUNT_LIMIT", 10)
    monkeypatch.setattr(zipstream, "_OFFSET_LIMIT", 500)
    data = _written([_member(n, d) for n, d in files.items()])
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # the ZIP64 end and its locator
    _check(data, files)
