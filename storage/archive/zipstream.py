"""A ZIP written as a stream whose members are deflated on several threads at once.

:mod:`zipfile` deflates each member in the thread that writes it, so a ZIP of many documents
uses one core however many the machine has.  :class:`ParallelZip` takes the members as
*jobs* that give their bytes (a document read from the archive, its SHA-256 checked on the
way): the jobs of the next small members run in a thread pool (reading, hashing and
deflating release the GIL), while the stream writes the members before them in order.  A
member larger than :data:`PARALLEL_MAX` is read and deflated in the writing thread as it
streams, so memory stays bounded: at most :data:`AHEAD_BYTES` of members are held ahead.

The ZIP is what :mod:`zipfile` writes: deflated members, UTF-8 names, read-only regular files
dated in China time (:func:`storage.archive.export.zip_entry`), ZIP64 records only where an
offset or a count needs them.  A member deflated ahead carries its CRC and sizes in its local
header; a streamed one in a data descriptor after its data, as zipfile does on a stream.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from .export import zip_time

__all__ = ["AHEAD_BYTES", "PARALLEL_MAX", "Member", "ParallelZip"]

#: members up to this size are deflated ahead, in the pool
PARALLEL_MAX = 4 * 1024 * 1024
#: bytes of members (uncompressed) read and deflated ahead of the stream at most
AHEAD_BYTES = 16 * 1024 * 1024
#: the deflate level of the members (zipfile's 1: the fastest)
LEVEL = 1

#: a member's sizes (members are documents within the upload limit: no ZIP64 for them)
_SIZE_LIMIT = 0xFFFFFFFF
#: offsets and sizes of the directory beyond this, or more members than the count limit,
#: take ZIP64 records
_OFFSET_LIMIT = 0xFFFFFFFF
_COUNT_LIMIT = 0xFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_DESCRIPTOR = struct.Struct("<IIII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_UTF8 = 0x800
_DESCRIBED = 0x08
_DEFLATED = 8
_READ_ONLY = 0o100444 << 16


@dataclass(frozen=True)
class Member:
    """A member to write: its name, its date and, when it is run, its bytes.

    ``read`` gives the whole member, run ahead in the pool when ``size`` (uncompressed) is at
    most :data:`PARALLEL_MAX`; else, or without ``read``, ``chunks`` gives it piece by piece
    as it streams."""

    name: str
    moment: datetime
    size: int
    read: Callable[[], bytes] | None
    chunks: Callable[[], Iterator[bytes]]


@dataclass
class _Entry:
    name: bytes
    time: int
    date: int
    flags: int
    crc: int
    compressed: int
    size: int
    offset: int


def _dos(moment: datetime) -> tuple[int, int]:
    y, mo, d, h, mi, s = zip_time(moment)
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


def _deflated(data: bytes) -> tuple[int, bytes]:
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return zlib.crc32(data), packer.compress(data) + packer.flush()


def _deflated_read(read: Callable[[], bytes]) -> tuple[int, bytes]:
    return _deflated(read())


class ParallelZip:
    """Writes members in order to a stream of byte chunks (``yield from zip.write(...)``)."""

    def __init__(self, pool: ThreadPoolExecutor, *, flush_at: int = 256 * 1024) -> None:
        self._pool = pool
        self._flush_at = flush_at
        self._entries: list[_Entry] = []
        self._offset = 0
        self._parts: list[bytes] = []
        self._buffered = 0

    # -- the stream -----------------------------------------------------------------------

    def _put(self, data: bytes) -> None:
        self._parts.append(data)
        self._buffered += len(data)
        self._offset += len(data)

    def _take(self, at_least: int) -> Iterator[bytes]:
        if self._buffered and self._buffered >= at_least:
            out = b"".join(self._parts)
            self._parts.clear()
            self._buffered = 0
            yield out

    # -- members --------------------------------------------------------------------------

    def write(self, members: Iterable[Member]) -> Iterator[bytes]:
        """Write ``members`` in order, the small ones deflated ahead in the pool."""
        ahead: deque[tuple[Member, Future[tuple[int, bytes]] | None]] = deque()
        held = 0
        source = iter(members)
        exhausted = False
        while True:
            while not exhausted and held < AHEAD_BYTES:
                member = next(source, None)
                if member is None:
                    exhausted = True
                    break
                if member.read is not None and member.size <= PARALLEL_MAX:
                    ahead.append((member, self._pool.submit(_deflated_read, member.read)))
                    held += member.size
                else:
                    ahead.append((member, None))
                    break  # written in this thread: what comes after it waits for it
            if not ahead:
                return
            member, pending = ahead.popleft()
            if pending is None:
                yield from self._streamed(member)
            else:
                held -= member.size
                crc, data = pending.result()
                self._whole(member, crc, data)
            yield from self._take(self._flush_at)

    def _whole(self, member: Member, crc: int, data: bytes) -> None:
        name = member.name.encode()
        time, date = _dos(member.moment)
        size = member.size
        entry = _Entry(name, time, date, _UTF8, crc, len(data), size, self._offset)
        if len(data) >= _SIZE_LIMIT or size >= _SIZE_LIMIT:
            raise ValueError("a member deflated ahead is smaller than 4 GiB")
        self._put(
            _LOCAL.pack(
                0x04034B50, 20, _UTF8, _DEFLATED, time, date, crc, len(data), size, len(name), 0
            )
            + name
        )
        self._put(data)
        self._entries.append(entry)

    def _streamed(self, member: Member) -> Iterator[bytes]:
        name = member.name.encode()
        time, date = _dos(member.moment)
        flags = _UTF8 | _DESCRIBED
        entry = _Entry(name, time, date, flags, 0, 0, 0, self._offset)
        self._put(_LOCAL.pack(0x04034B50, 20, flags, _DEFLATED, time, date, 0, 0, 0, len(name), 0))
        self._put(name)
        packer = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        crc = size = compressed = 0
        for chunk in member.chunks():
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            out = packer.compress(chunk)
            compressed += len(out)
            self._put(out)
            yield from self._take(self._flush_at)
        out = packer.flush()
        compressed += len(out)
        self._put(out)
        if size >= _SIZE_LIMIT or compressed >= _SIZE_LIMIT:
            raise ValueError("a streamed member is smaller than 4 GiB")
        self._put(_DESCRIPTOR.pack(0x08074B50, crc, compressed, size))
        entry.crc, entry.compressed, entry.size = crc, compressed, size
        self._entries.append(entry)

    # -- the end --------------------------------------------------------------------------

    def close(self) -> Iterator[bytes]:
        """The central directory and the end records."""
        start = self._offset
        for e in self._entries:
            extra = b""
            offset = e.offset
            if offset >= _OFFSET_LIMIT:
                extra = struct.pack("<HHQ", 1, 8, offset)
                offset = 0xFFFFFFFF
            version = 45 if extra else 20
            self._put(
                _CENTRAL.pack(
                    0x02014B50,
                    (3 << 8) | version,
                    version,
                    e.flags,
                    _DEFLATED,
                    e.time,
                    e.date,
                    e.crc,
                    e.compressed,
                    e.size,
                    len(e.name),
                    len(extra),
                    0,
                    0,
                    0,
                    _READ_ONLY,
                    offset,
                )
                + e.name
                + extra
            )
            yield from self._take(self._flush_at)
        count, size = len(self._entries), self._offset - start
        if count >= _COUNT_LIMIT or start >= _OFFSET_LIMIT or size >= _OFFSET_LIMIT:
            end64 = self._offset
            self._put(_END64.pack(0x06064B50, 44, 45, 45, 0, 0, count, count, size, start))
            self._put(_LOCATOR64.pack(0x07064B50, 0, end64, 1))
            count = 0xFFFF if count >= _COUNT_LIMIT else count
            size = 0xFFFFFFFF if size >= _OFFSET_LIMIT else size
            start = 0xFFFFFFFF if start >= _OFFSET_LIMIT else start
        self._put(_END.pack(0x06054B50, 0, 0, count, count, size, start, 0))
        yield from self._take(0)
