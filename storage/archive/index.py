"""The metadata rows of the archive (tables ``archives``, ``archive_seals``, ``archive_parties``).

Listings page by keyset on the ULID primary key: ``id < :cursor ORDER BY id DESC LIMIT n``
on the ``(uscc, id)``, ``(uscc, document_type, id)`` and ``(uscc, reference, id)`` indexes.
Time ranges are id ranges (a ULID starts with its millisecond time), so they use the same
indexes.  A seal-kind filter is a semi-join on ``archive_seals``, reached through its primary
key from the archive row or through ``(uscc, kind, archive_id)`` from the other side.
A party's listing (its documents as sealer or party) walks ``archive_parties`` by
``(uscc, archive_id)`` and joins each row by its primary key.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, exists, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from seals.errors import EnterpriseNotFound, ErrorKind, EsealError
from seals.kinds import SealKind
from seals.vocab import DocumentFormat

from ..db import WRITE, translate_errors
from ..tables import ArchivePartyRow, ArchiveRow, ArchiveSealRow, ArchiveVersionRow, EnterpriseRow
from . import versions
from .errors import ArchiveExists, InvalidArchiveQuery
from .model import (
    ArchiveQuery,
    ArchiveRecord,
    ArchiveStatus,
    Party,
    PartyRole,
    SealUse,
    id_bounds,
    is_archive_id,
)
from .versions import ArchiveVersion

__all__ = ["ArchiveIndex", "KeyRow", "RowGroup"]

log = logging.getLogger("eseal.archive")

P = ParamSpec("P")
R = TypeVar("R")

#: the most rows one listing page may ask for
MAX_PAGE = 1000


def _db(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translate_errors():
            return method(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class KeyRow:
    """What ``archive check`` needs of a row."""

    key: str
    id: str
    version_id: str | None
    sha256: str
    size: int
    status: ArchiveStatus
    #: 1 for the ``archives`` row, N for a later version's row
    version: int = 1


def _outage(exc: BaseException) -> bool:
    """The database is down or busy (not a row's own fault)."""
    return isinstance(exc, EsealError) and exc.kind is ErrorKind.UNAVAILABLE


#: the most rows one group commit takes
GROUP_LIMIT = 32


@dataclass(eq=False)
class _Waiting:
    """A row waiting for a group commit, and what became of it."""

    record: ArchiveRecord
    also: Callable[[Session, str], None] | None
    finished: bool = False
    error: BaseException | None = None


@dataclass
class RowGroup:
    """Archive rows kept for one commit (:meth:`ArchiveIndex.grouped`)."""

    rows: list[_Waiting] = field(default_factory=list)


class ArchiveIndex:
    """Archive rows in the metadata database (migrated to head).  Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)
        #: this thread's group of rows (:meth:`grouped`)
        self._local = threading.local()
        #: concurrent inserts commit together (:meth:`insert`); the server turns it on
        self.group_commit = False
        self._turn = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._leading = False

    # -- writing ---------------------------------------------------------------------------

    @_db
    def require_enterprise(self, uscc: str, others: Sequence[str] = ()) -> frozenset[str]:
        """Raise ``enterprise_not_found`` unless ``uscc`` is registered; return which of
        ``others`` are (one query)."""
        with self._read.begin() as session:
            if not others:
                if session.get(EnterpriseRow, uscc) is None:
                    raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
                return frozenset()
            found = set(
                session.scalars(
                    select(EnterpriseRow.uscc).where(EnterpriseRow.uscc.in_([uscc, *others]))
                )
            )
            if uscc not in found:
                raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
            return frozenset(found & set(others))

    @contextmanager
    def grouped(self) -> Iterator[RowGroup]:
        """Group commit for this thread: while the block runs, :meth:`insert` keeps each row
        (and its ``also``) in the group instead of committing it; :meth:`commit_group` then
        writes them all in one transaction (one write lock, one commit).  Whoever groups must
        treat a row as stored only once :meth:`commit_group` says so (the batch workers)."""
        group = RowGroup()
        self._local.group = group
        try:
            yield group
        finally:
            self._local.group = None

    def commit_group(self, group: RowGroup) -> list[bool]:
        """Commit the rows kept in ``group``, in order, in one transaction; if that fails for
        a row's own reason, each on its own (an outage fails them all at once).  Which rows
        are stored (the same order)."""
        self._commit_rows(group.rows)
        for w in group.rows:
            if w.error is not None:
                log.warning(
                    "archive row %s not stored: %s", w.record.id, getattr(w.error, "code", w.error)
                )
        return [w.error is None for w in group.rows]

    def insert(
        self, record: ArchiveRecord, also: Callable[[Session, str], None] | None = None
    ) -> None:
        """Insert the row; ``also(session, archive_id)`` writes more in the same transaction
        (e.g. the audit entries of the seal use).  In a :meth:`grouped` block the row is
        kept for :meth:`commit_group`.

        With :attr:`group_commit` on, rows that threads of this process insert at the same
        time commit together: the first thread to find no commit running takes every row
        waiting (up to :data:`GROUP_LIMIT`, in arrival order, so the audit chain keeps that
        order) and commits them in one transaction while later ones queue for the next; each
        caller returns only once its own row is committed, or raises what its row alone
        raised (a failed group is retried row by row)."""
        group: RowGroup | None = getattr(self._local, "group", None)
        if group is not None:
            group.rows.append(_Waiting(record, also))
            return
        if not self.group_commit:
            self._insert_alone(record, also)
            return
        me = _Waiting(record, also)
        with self._turn:
            self._waiting.append(me)
        while True:
            with self._turn:
                while not me.finished and self._leading:
                    self._turn.wait()
                if me.finished:
                    break
                self._leading = True
                rows = self._waiting[:GROUP_LIMIT]
                del self._waiting[:GROUP_LIMIT]
            try:
                self._commit_waiting(rows)
            finally:
                with self._turn:
                    self._leading = False
                    self._turn.notify_all()
        if me.error is not None:
            raise me.error

    def _commit_waiting(self, rows: list[_Waiting]) -> None:
        try:
            self._commit_rows(rows)
        except BaseException as exc:  # the leader interrupted: no row waits forever
            for w in rows:
                if not w.finished:
                    w.error, w.finished = exc, True
            raise

    def _commit_rows(self, rows: list[_Waiting]) -> None:
        if len(rows) > 1:
            try:
                with translate_errors(), self._write.begin() as session:
                    for w in rows:
                        self._insert_rows(session, w.record, w.also)
            except Exception as exc:
                if _outage(exc):  # one by one would only wait for the outage again
                    for w in rows:
                        w.error, w.finished = exc, True
                    return
                log.info("a group of %d archive rows is committed one by one: %s", len(rows), exc)
            else:
                for w in rows:
                    w.finished = True
                return
        for w in rows:
            try:
                self._insert_alone(w.record, w.also)
            except BaseException as exc:  # the caller's own error, raised in its thread
                w.error = exc
            w.finished = True

    @_db
    def _insert_alone(
        self, record: ArchiveRecord, also: Callable[[Session, str], None] | None
    ) -> None:
        try:
            with self._write.begin() as session:
                self._insert_rows(session, record, also)
        except IntegrityError as err:
            if self.exists(record.id):
                raise ArchiveExists(f"archive id {record.id} is taken") from err
            with self._read.begin() as session:
                if session.get(EnterpriseRow, record.uscc) is None:
                    raise EnterpriseNotFound(
                        f"no enterprise with USCC {record.uscc} is registered"
                    ) from err
            raise

    @staticmethod
    def _insert_rows(
        session: Session, record: ArchiveRecord, also: Callable[[Session, str], None] | None
    ) -> None:
        session.add(_row(record))
        session.flush()  # the parent first: seal rows refer to it
        session.add_all(
            ArchiveSealRow(
                archive_id=record.id,
                position=i,
                uscc=record.uscc,
                kind=use.kind.value,
                serial=format(use.serial, "x"),
            )
            for i, use in enumerate(record.seals)
        )
        session.add_all(
            ArchivePartyRow(archive_id=record.id, uscc=party.uscc, role=party.role.value)
            for party in _parties_of(record)
        )
        session.flush()
        if also is not None:
            also(session, record.id)

    @_db
    def set_status(self, archive_id: str, status: ArchiveStatus, version: int = 1) -> None:
        with self._write.begin() as session:
            if version > 1:
                session.execute(
                    update(ArchiveVersionRow)
                    .where(
                        ArchiveVersionRow.archive_id == archive_id,
                        ArchiveVersionRow.version == version,
                    )
                    .values(status=status.value)
                )
                return
            session.execute(
                update(ArchiveRow).where(ArchiveRow.id == archive_id).values(status=status.value)
            )

    @_db
    def insert_version(
        self, version: ArchiveVersion, also: Callable[[Session, str], None] | None = None
    ) -> None:
        """Insert a later version's row; ``also`` writes more in its transaction (the audit
        entry).  ``archive_exists`` if that version number was taken meanwhile."""
        try:
            with self._write.begin() as session:
                session.add(versions.row_of(version))
                if also is not None:
                    session.flush()
                    also(session, version.archive_id)
        except IntegrityError as err:
            raise ArchiveExists(
                f"version {version.version} of {version.archive_id} exists already"
            ) from err

    @_db
    def versions(self, archive_id: str) -> list[ArchiveVersion]:
        """The later versions (2, 3, ...) of a document."""
        with self._read.begin() as session:
            return versions.versions_of(session, archive_id)

    @_db
    def get_version(self, archive_id: str, version: int) -> ArchiveRecord | None:
        """The record with the file fields of ``version`` (1: as sealed); None if either
        does not exist."""
        if not is_archive_id(archive_id):
            return None
        with self._read.begin() as session:
            row = session.get(ArchiveRow, archive_id)
            if row is None:
                return None
            record = self._records(session, [row])[0]
            if version == 1:
                return record
            later = session.get(ArchiveVersionRow, (archive_id, version))
            return versions.applied(later, record) if later is not None else None

    @staticmethod
    def _latest(session: Session, records: list[ArchiveRecord]) -> list[ArchiveRecord]:
        """Each record with the file fields of its latest version."""
        latest = versions.latest_versions(session, [r.id for r in records])
        return [latest[r.id].applied_to(r) if r.id in latest else r for r in records]

    # -- reading ---------------------------------------------------------------------------

    @_db
    def get(self, archive_id: str) -> ArchiveRecord | None:
        if not is_archive_id(archive_id):
            return None
        with self._read.begin() as session:
            row = session.get(ArchiveRow, archive_id)
            if row is None:
                return None
            return self._latest(session, self._records(session, [row]))[0]

    @_db
    def get_many(self, archive_ids: Sequence[str]) -> dict[str, ArchiveRecord]:
        """The records of ``archive_ids`` (at most :data:`MAX_PAGE`) by id, read together;
        ids with no record are left out."""
        ids = sorted({i for i in archive_ids if is_archive_id(i)})
        if len(ids) > MAX_PAGE:
            raise ValueError(f"at most {MAX_PAGE} records at a time")
        if not ids:
            return {}
        with self._read.begin() as session:
            rows = session.scalars(select(ArchiveRow).where(ArchiveRow.id.in_(ids))).all()
            return {r.id: r for r in self._latest(session, self._records(session, rows))}

    @_db
    def exists(self, archive_id: str) -> bool:
        with self._read.begin() as session:
            return session.get(ArchiveRow, archive_id) is not None

    @_db
    def key_referenced(self, key: str) -> bool:
        with self._read.begin() as session:
            stmt = select(exists().where(ArchiveRow.object_key == key))
            if session.scalar(stmt):
                return True
            stmt = select(exists().where(ArchiveVersionRow.object_key == key))
            return bool(session.scalar(stmt))

    @_db
    def page(
        self,
        query: ArchiveQuery,
        *,
        limit: int,
        after: str | None = None,
        newest_first: bool = True,
    ) -> list[ArchiveRecord]:
        """Up to ``limit`` records past ``after`` (an archive id) in id order."""
        stmt = self.page_statement(query, limit=limit, after=after, newest_first=newest_first)
        with self._read.begin() as session:
            if self.engine.dialect.name == "postgresql":
                # psycopg prepares a statement after a few runs, and PostgreSQL may then settle
                # on a generic plan that cannot see the cursor or the seal kind; for a common
                # kind deep in a million rows that plan takes a second instead of a millisecond
                session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            rows = list(session.scalars(stmt))
            return self._latest(session, self._records(session, rows))

    @staticmethod
    def page_statement(
        query: ArchiveQuery,
        *,
        limit: int,
        after: str | None = None,
        newest_first: bool = True,
    ) -> Select[Any]:
        """The SELECT of one page (for :meth:`page`, and for looking at its plan)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArchiveQuery(f"a page holds 1 to {MAX_PAGE} records")
        if after is not None and not is_archive_id(after):
            raise InvalidArchiveQuery("the cursor is not one this server gave out")
        stmt = _select(query, after=after, newest_first=newest_first)
        # by party: walk the party's (uscc, archive_id) index in order, join the rows
        column = ArchivePartyRow.archive_id if query.party is not None else ArchiveRow.id
        order = column.desc() if newest_first else column.asc()
        return stmt.order_by(order).limit(limit)

    def iter_records(
        self, query: ArchiveQuery, *, newest_first: bool = False, batch: int = 500
    ) -> Iterator[ArchiveRecord]:
        """Every matching record, fetched ``batch`` at a time (one short transaction each)."""
        after: str | None = None
        while True:
            records = self.page(query, limit=batch, after=after, newest_first=newest_first)
            yield from records
            if len(records) < batch:
                return
            after = records[-1].id

    def iter_keys(self, batch: int = 2000) -> Iterator[KeyRow]:
        """Every row, in bytewise order of object key (keyset paging on the unique key)."""
        after: str | None = None
        while True:
            rows = self._key_batch(after, batch)
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].key

    @_db
    def _key_batch(self, after: str | None, batch: int) -> list[KeyRow]:
        # originals and later versions (migration 0006), merged in key order
        first = select(
            ArchiveRow.object_key,
            ArchiveRow.id,
            ArchiveRow.version_id,
            ArchiveRow.sha256,
            ArchiveRow.size,
            ArchiveRow.status,
            literal(1).label("version"),
        )
        later = select(
            ArchiveVersionRow.object_key,
            ArchiveVersionRow.archive_id,
            ArchiveVersionRow.version_id,
            ArchiveVersionRow.sha256,
            ArchiveVersionRow.size,
            ArchiveVersionRow.status,
            ArchiveVersionRow.version,
        )
        if after is not None:
            first = first.where(ArchiveRow.object_key > after)
            later = later.where(ArchiveVersionRow.object_key > after)
        first = first.order_by(ArchiveRow.object_key).limit(batch)
        later = later.order_by(ArchiveVersionRow.object_key).limit(batch)
        with self._read.begin() as session:
            rows = [
                KeyRow(key, id_, version_id, sha, size, ArchiveStatus(status), int(version))
                for query in (first, later)
                for key, id_, version_id, sha, size, status, version in session.execute(query)
            ]
        # both tables' keys sort bytewise ("C" collation on PostgreSQL), so Python's str
        # order is the store's listing order; a batch ends where either table's batch ends
        rows.sort(key=lambda r: r.key.encode())
        ends = [
            max(k.key.encode() for k in part)
            for part in ([r for r in rows if r.version == 1], [r for r in rows if r.version > 1])
            if len(part) == batch
        ]
        if ends:
            limit = min(ends)
            rows = [r for r in rows if r.key.encode() <= limit]
        return rows

    def _records(self, session: Session, rows: Sequence[ArchiveRow]) -> list[ArchiveRecord]:
        if not rows:
            return []
        seals: dict[str, list[SealUse]] = {row.id: [] for row in rows}
        stmt = (
            select(ArchiveSealRow.archive_id, ArchiveSealRow.kind, ArchiveSealRow.serial)
            .where(ArchiveSealRow.archive_id.in_(list(seals)))
            .order_by(ArchiveSealRow.archive_id, ArchiveSealRow.position)
        )
        for archive_id, kind, serial in session.execute(stmt):
            seals[archive_id].append(SealUse(SealKind(kind), int(serial, 16)))
        parties: dict[str, list[Party]] = {row.id: [] for row in rows}
        party_stmt = (
            select(ArchivePartyRow.archive_id, ArchivePartyRow.uscc, ArchivePartyRow.role)
            .where(ArchivePartyRow.archive_id.in_(list(parties)))
            .order_by(ArchivePartyRow.archive_id, ArchivePartyRow.uscc)
        )
        for archive_id, uscc, role in session.execute(party_stmt):
            parties[archive_id].append(Party(uscc, PartyRole(role)))
        return [_record(row, tuple(seals[row.id]), _sealer_first(parties[row.id])) for row in rows]


def _sealer_first(parties: list[Party]) -> tuple[Party, ...]:
    return tuple(sorted(parties, key=lambda p: p.role is not PartyRole.SEALER))


def _parties_of(record: ArchiveRecord) -> list[Party]:
    """The party rows of a record: its sealer always, each enterprise once."""
    out = {record.uscc: Party(record.uscc, PartyRole.SEALER)}
    for party in record.parties:
        out.setdefault(party.uscc, party)
    return list(out.values())


def _id_range(column: Any, query: ArchiveQuery, after: str | None, newest_first: bool) -> list[Any]:
    """Conditions on an archive id column: the time range (as ids) and the cursor."""
    low, high = id_bounds(query.created_from, query.created_to)
    conditions = []
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column < high)
    if after is not None:
        conditions.append(column < after if newest_first else column > after)
    return conditions


def _select(
    query: ArchiveQuery, *, after: str | None = None, newest_first: bool = True
) -> Select[Any]:
    if query.party is not None:
        stmt = (
            select(ArchiveRow)
            .join(ArchivePartyRow, ArchivePartyRow.archive_id == ArchiveRow.id)
            .where(
                ArchivePartyRow.uscc == query.party,
                *_id_range(ArchivePartyRow.archive_id, query, after, newest_first),
            )
        )
        if query.role is not None:
            stmt = stmt.where(ArchivePartyRow.role == query.role.value)
    else:
        stmt = select(ArchiveRow).where(*_id_range(ArchiveRow.id, query, after, newest_first))
    if query.uscc is not None:
        stmt = stmt.where(ArchiveRow.uscc == query.uscc)
    if query.document_type is not None:
        stmt = stmt.where(ArchiveRow.document_type == query.document_type)
    if query.reference is not None:
        stmt = stmt.where(ArchiveRow.reference == query.reference)
    if query.status is not None:
        stmt = stmt.where(ArchiveRow.status == query.status.value)
    if query.format is not None:
        stmt = stmt.where(ArchiveRow.format == query.format.value)
    if query.kind is not None:
        # the id range is repeated inside: without it PostgreSQL's merge semi-join reads the
        # seal rows from the newest end down to the cursor (0.5 s deep in a million rows)
        used = select(ArchiveSealRow.archive_id).where(
            ArchiveSealRow.archive_id == ArchiveRow.id,
            ArchiveSealRow.kind == query.kind.value,
            *_id_range(ArchiveSealRow.archive_id, query, after, newest_first),
        )
        if query.uscc is not None:
            used = used.where(ArchiveSealRow.uscc == query.uscc)
        stmt = stmt.where(used.exists())
    return stmt


def _row(record: ArchiveRecord) -> ArchiveRow:
    return ArchiveRow(
        id=record.id,
        uscc=record.uscc,
        level=record.level,
        timestamp_time=record.timestamp_time,
        document_type=record.document_type,
        reference=record.reference,
        sha256=record.sha256,
        size=record.size,
        created_at=record.created_at,
        object_key=record.object_key,
        version_id=record.version_id,
        status=record.status.value,
        original_name=record.original_name,
        format=record.format.value,
    )


def _record(
    row: ArchiveRow, seals: tuple[SealUse, ...], parties: tuple[Party, ...] = ()
) -> ArchiveRecord:
    return ArchiveRecord(
        id=row.id,
        uscc=row.uscc,
        seals=seals,
        level=row.level,
        timestamp_time=row.timestamp_time,
        document_type=row.document_type,
        reference=row.reference,
        sha256=row.sha256,
        size=row.size,
        created_at=row.created_at,
        object_key=row.object_key,
        version_id=row.version_id,
        status=ArchiveStatus(row.status),
        original_name=row.original_name,
        parties=parties,
        format=DocumentFormat(row.format),
    )
