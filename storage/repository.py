"""The SQL implementation of :class:`seals.ports.EnterpriseRepository`.

Every writing method raises the registry's revision (``registry_revision``, migration 0008)
as the last statement of its transaction: after the audit log's lock, so writers take their
locks in one order.  Before it, the webhook events of the change go to the outbox
(:func:`storage.outbox.emit_audited`, from the same audit entries).
:meth:`SqlEnterpriseRepository.revision` reads the revision.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from seals.audit import AuditEvent
from seals.errors import EnterpriseExists, EnterpriseNotFound
from seals.kinds import SealKind
from seals.license import License, LicenseStatus, StatusChange
from seals.model import Enterprise, ImageSource, RevocationReason, Seal, SealStatus

from .audit import append_events
from .db import WRITE, StorageUnavailable, translate_errors
from .feed import FeedKind, append_changes, seal_key
from .outbox import emit_audited
from .tables import EnterpriseRow, RegistryRevisionRow, SealRow, StatusChangeRow

if TYPE_CHECKING:
    from seals.ports import EnterpriseRepository

__all__ = ["SqlEnterpriseRepository"]

P = ParamSpec("P")
R = TypeVar("R")

_KIND_ORDER = {kind: i for i, kind in enumerate(SealKind)}


def _storage_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Database outages inside ``method`` surface as :class:`storage.db.StorageUnavailable`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translate_errors():
            return method(*args, **kwargs)

    return wrapper


class SqlEnterpriseRepository:
    """Enterprises and seals in a SQL database (SQLite or PostgreSQL) migrated to head.

    Every public method is one transaction.  Thread-safe: sessions are per call.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._read.begin() as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write.begin() as session:
            yield session

    # -- enterprises -------------------------------------------------------------------

    @_storage_errors
    def register(
        self, enterprise: Enterprise, seals: list[Seal], audit: Sequence[AuditEvent] = ()
    ) -> None:
        uscc = enterprise.uscc
        _check_owner(uscc, seals)
        try:
            with self._writing() as session:
                if self._precheck_exists(session, uscc):
                    raise EnterpriseExists(f"enterprise {uscc} is already registered")
                session.add(_enterprise_row(enterprise))
                session.flush()  # the parent row first: seals and history refer to it
                session.add_all(_history_row(uscc, change) for change in enterprise.history)
                session.add_all(_new_seal_row(seal) for seal in seals)
                session.flush()
                append_events(session, audit)
                emit_audited(session, audit)  # the webhooks' outbox
                _bump_revision(session, [(FeedKind.LICENSE, uscc), *_seal_changes(seals)])
        except IntegrityError as err:
            # a concurrent registration of the same USCC won the race after our check
            if self._exists(uscc):
                raise EnterpriseExists(f"enterprise {uscc} is already registered") from err
            raise

    def _precheck_exists(self, session: Session, uscc: str) -> bool:
        return session.get(EnterpriseRow, uscc) is not None

    def _exists(self, uscc: str) -> bool:
        with self._reading() as session:
            return session.get(EnterpriseRow, uscc) is not None

    @_storage_errors
    def get_enterprise(self, uscc: str) -> Enterprise | None:
        with self._reading() as session:
            row = session.get(EnterpriseRow, uscc)
            if row is None:
                return None
            return _to_enterprise(row, _history(session, uscc))

    @_storage_errors
    def license_status(self, uscc: str) -> LicenseStatus | None:
        with self._reading() as session:
            status = session.scalar(select(EnterpriseRow.status).where(EnterpriseRow.uscc == uscc))
        return LicenseStatus(status) if status is not None else None

    @_storage_errors
    def change_status(
        self, uscc: str, change: StatusChange, seals: list[Seal], audit: Sequence[AuditEvent] = ()
    ) -> Enterprise:
        _check_owner(uscc, seals)
        with self._writing() as session:
            row = session.get(EnterpriseRow, uscc, with_for_update=True)
            if row is None:
                raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
            session.add(_history_row(uscc, change))
            row.status = change.status.value
            _upsert_seals(session, seals)
            session.flush()
            append_events(session, audit)
            emit_audited(session, audit)  # the webhooks' outbox
            _bump_revision(session, [(FeedKind.LICENSE, uscc), *_seal_changes(seals)])
            return _to_enterprise(row, _history(session, uscc))

    # -- seals ---------------------------------------------------------------------------

    @_storage_errors
    def current_seals(self, uscc: str) -> list[Seal]:
        latest = (
            select(SealRow.kind, func.max(SealRow.version).label("version"))
            .where(SealRow.uscc == uscc)
            .group_by(SealRow.kind)
            .subquery()
        )
        stmt = select(SealRow).join(
            latest,
            and_(
                SealRow.uscc == uscc,
                SealRow.kind == latest.c.kind,
                SealRow.version == latest.c.version,
            ),
        )
        with self._reading() as session:
            seals = [_to_seal(row) for row in session.scalars(stmt)]
        return sorted(seals, key=lambda s: _KIND_ORDER[s.kind])

    @_storage_errors
    def seal(self, uscc: str, kind: SealKind) -> Seal | None:
        stmt = (
            select(SealRow)
            .where(SealRow.uscc == uscc, SealRow.kind == kind.value)
            .order_by(SealRow.version.desc())
            .limit(1)
        )
        with self._reading() as session:
            row = session.scalars(stmt).first()
            return _to_seal(row) if row is not None else None

    @_storage_errors
    def seal_by_serial(self, serial: int) -> Seal | None:
        if serial <= 0:
            return None
        with self._reading() as session:
            row = session.scalars(select(SealRow).where(SealRow.serial == _hex(serial))).first()
            return _to_seal(row) if row is not None else None

    @_storage_errors
    def seal_by_sm2_serial(self, serial: int) -> Seal | None:
        """The seal version whose SM2 certificate has this serial."""
        if serial <= 0:
            return None
        with self._reading() as session:
            row = session.scalars(select(SealRow).where(SealRow.sm2_serial == _hex(serial))).first()
            return _to_seal(row) if row is not None else None

    @_storage_errors
    def save_seals(self, seals: list[Seal], audit: Sequence[AuditEvent] = ()) -> None:
        with self._writing() as session:
            _upsert_seals(session, seals)
            session.flush()
            append_events(session, audit)
            emit_audited(session, audit)  # the webhooks' outbox
            _bump_revision(session, _seal_changes(seals))

    @_storage_errors
    def revision(self) -> int:
        """The registry's revision: one primary-key read.

        Read on every look-up of the seal cache (:mod:`seals.registry_cache`), so it is read on
        a pooled connection directly, as one statement (the ORM session and SQLite's explicit
        ``BEGIN``/``COMMIT`` cost about 30 times the read itself).  A single ``SELECT`` sees
        one committed state on either database; on PostgreSQL the pool ends its implicit
        transaction when the connection is returned."""
        dbapi = self._engine.dialect.loaded_dbapi
        try:
            raw = self._engine.raw_connection()
        except (dbapi.OperationalError, dbapi.InterfaceError) as err:
            raise StorageUnavailable(
                "the metadata database is not available; try again later"
            ) from err
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(_REVISION_SQL)
                found = cursor.fetchone()
            finally:
                cursor.close()
        except (dbapi.OperationalError, dbapi.InterfaceError) as err:
            raw.invalidate(err)  # not back into the pool: it may be broken
            raise StorageUnavailable(
                "the metadata database is not available; try again later"
            ) from err
        finally:
            raw.close()
        return int(found[0]) if found else 0

    @_storage_errors
    def revoked_seals(self) -> list[Seal]:
        stmt = (
            select(SealRow)
            .where(SealRow.status.in_([SealStatus.REVOKED.value, SealStatus.SUSPENDED.value]))
            .order_by(SealRow.id)
        )
        with self._reading() as session:
            return [_to_seal(row) for row in session.scalars(stmt)]


_REVISION_SQL = f"SELECT revision FROM {RegistryRevisionRow.__tablename__} WHERE id = 1"


def _bump_revision(session: Session, changes: Iterable[tuple[FeedKind, str]] = ()) -> None:
    """Raise the registry's revision in the caller's transaction (the row is made by the
    migration; a database missing it is one that was never migrated, and fails here), then
    append ``changes`` to the registry's feed (:mod:`storage.feed`) under the row's lock."""
    done = session.execute(
        update(RegistryRevisionRow)
        .where(RegistryRevisionRow.id == 1)
        .values(revision=RegistryRevisionRow.revision + 1)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RuntimeError("the registry_revision row is missing: migrate the database")
    append_changes(session, changes)


def _seal_changes(seals: Iterable[Seal]) -> list[tuple[FeedKind, str]]:
    return [(FeedKind.SEAL, seal_key(s.uscc, s.kind.value, s.version)) for s in seals]


# -- mapping ---------------------------------------------------------------------------


def _hex(serial: int) -> str:
    return format(serial, "x")


def _check_owner(uscc: str, seals: Iterable[Seal]) -> None:
    for seal in seals:
        if seal.uscc != uscc:
            raise ValueError(f"seal of {seal.uscc} given with enterprise {uscc}")


def _history(session: Session, uscc: str) -> list[StatusChangeRow]:
    stmt = (
        select(StatusChangeRow)
        .where(StatusChangeRow.uscc == uscc)
        .order_by(StatusChangeRow.at, StatusChangeRow.id)
    )
    return list(session.scalars(stmt))


def _enterprise_row(enterprise: Enterprise) -> EnterpriseRow:
    lic = enterprise.license
    return EnterpriseRow(
        uscc=lic.uscc,
        name=lic.name,
        type=lic.type,
        legal_representative=lic.legal_representative,
        face=lic.model_dump(mode="json"),
        status=enterprise.status.value,
        registered_at=enterprise.registered_at,
    )


def _history_row(uscc: str, change: StatusChange) -> StatusChangeRow:
    return StatusChangeRow(
        uscc=uscc, status=change.status.value, at=change.at, reason=change.reason
    )


def _to_enterprise(row: EnterpriseRow, history: list[StatusChangeRow]) -> Enterprise:
    return Enterprise(
        license=License.model_validate(row.face),
        status=LicenseStatus(row.status),
        history=tuple(
            StatusChange(status=LicenseStatus(h.status), at=h.at, reason=h.reason) for h in history
        ),
        registered_at=row.registered_at,
    )


def _seal_values(seal: Seal) -> dict[str, Any]:
    return {
        "uscc": seal.uscc,
        "kind": seal.kind.value,
        "version": seal.version,
        "status": seal.status.value,
        "key_ref": seal.key_ref,
        "key_algorithm": seal.key_algorithm,
        "serial": _hex(seal.serial),
        "certificate_pem": seal.certificate_pem,
        "chain_pem": seal.chain_pem,
        "not_before": seal.not_before,
        "not_after": seal.not_after,
        "image_png": seal.image_png,
        "image_sha256": seal.image_sha256,
        "image_source": seal.image_source.value,
        "created_at": seal.created_at,
        "status_changed_at": seal.status_changed_at,
        "status_reason": seal.status_reason,
        "reason_code": seal.reason_code.value if seal.reason_code else None,
        "compromised_at": seal.compromised_at,
        "sm2_key_ref": seal.sm2_key_ref,
        "sm2_serial": _hex(seal.sm2_serial) if seal.sm2_serial is not None else None,
        "sm2_certificate_pem": seal.sm2_certificate_pem,
        "esl": seal.esl,
        "esl_id": seal.esl_id,
        "esl_version": seal.esl_version,
    }


def _new_seal_row(seal: Seal) -> SealRow:
    if seal.serial <= 0:
        raise ValueError(f"certificate serial must be positive, got {seal.serial}")
    return SealRow(**_seal_values(seal))


def _upsert_seals(session: Session, seals: list[Seal]) -> None:
    """Insert each seal version, or update the row with the same (uscc, kind, version).

    Two writers inserting the same new version at once is a real conflict (two re-issues
    racing); the loser gets the IntegrityError rather than silently overwriting the winner.
    """
    for seal in seals:
        row = session.scalars(
            select(SealRow)
            .where(
                SealRow.uscc == seal.uscc,
                SealRow.kind == seal.kind.value,
                SealRow.version == seal.version,
            )
            .with_for_update()
        ).first()
        if row is None:
            session.add(_new_seal_row(seal))
        else:
            for name, value in _seal_values(seal).items():
                setattr(row, name, value)
        # one at a time, so that a later seal in the list sees an earlier one's row
        session.flush()


def _to_seal(row: SealRow) -> Seal:
    return Seal(
        uscc=row.uscc,
        kind=SealKind(row.kind),
        version=row.version,
        status=SealStatus(row.status),
        key_ref=row.key_ref,
        key_algorithm=row.key_algorithm,
        serial=int(row.serial, 16),
        certificate_pem=row.certificate_pem,
        chain_pem=row.chain_pem,
        not_before=row.not_before,
        not_after=row.not_after,
        image_png=bytes(row.image_png),
        image_sha256=row.image_sha256,
        image_source=ImageSource(row.image_source),
        created_at=row.created_at,
        status_changed_at=row.status_changed_at,
        status_reason=row.status_reason,
        reason_code=RevocationReason(row.reason_code) if row.reason_code else None,
        compromised_at=row.compromised_at,
        sm2_key_ref=row.sm2_key_ref,
        sm2_serial=int(row.sm2_serial, 16) if row.sm2_serial else None,
        sm2_certificate_pem=row.sm2_certificate_pem,
        esl=bytes(row.esl) if row.esl is not None else None,
        esl_id=row.esl_id,
        esl_version=row.esl_version,
    )


if TYPE_CHECKING:

    def _conforms(engine: Engine) -> EnterpriseRepository:
        return SqlEnterpriseRepository(engine)
