"""Login challenges (认证登录): made by a relying party, confirmed once, verified once.

Every change that must happen at most once is one conditional ``UPDATE`` (confirm: while
pending and unexpired; verify: while not yet verified), so two requests racing for the same
challenge or assertion see exactly one success, on SQLite and on PostgreSQL alike.  The
confirmation writes its audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Delete, Engine, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from seals.assertions import ChallengeState, NonceReused
from seals.audit import AuditEvent

from .audit import append_events
from .db import WRITE, translate_errors
from .tables import LoginChallengeRow

__all__ = ["RETENTION", "Challenge", "ChallengeStore"]

#: how long a challenge's row stays after it (and its assertion) stopped counting: the nonce
#: stays taken that long, and the relying party can still read why its login failed
RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class Challenge:
    id: str
    #: the relying party's API key id (the assertion's audience)
    relying_party: str
    nonce: str
    purpose: str
    #: the JWS alg asked for (``seals.assertions.AssertionAlgorithm``); None: the default
    algorithm: str | None
    #: only this enterprise may confirm; None: any enterprise
    expect_uscc: str | None
    created_at: datetime
    expires_at: datetime
    uscc: str | None = None
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    assertion: str | None = None
    assertion_expires_at: datetime | None = None
    verified_at: datetime | None = None

    def state(self, now: datetime) -> ChallengeState:
        if self.verified_at is not None:
            return ChallengeState.USED
        if self.assertion is not None and self.assertion_expires_at is not None:
            if now < self.assertion_expires_at:
                return ChallengeState.CONFIRMED
            return ChallengeState.EXPIRED
        return ChallengeState.PENDING if now < self.expires_at else ChallengeState.EXPIRED


def _challenge(row: LoginChallengeRow) -> Challenge:
    return Challenge(
        id=row.id,
        relying_party=row.relying_party,
        nonce=row.nonce,
        purpose=row.purpose,
        algorithm=row.algorithm,
        expect_uscc=row.expect_uscc,
        created_at=row.created_at,
        expires_at=row.expires_at,
        uscc=row.uscc,
        confirmed_by=row.confirmed_by,
        confirmed_at=row.confirmed_at,
        assertion=row.assertion,
        assertion_expires_at=row.assertion_expires_at,
        verified_at=row.verified_at,
    )


def _stale(before: datetime) -> Delete:
    """The challenges that stopped counting (and whose assertion did) before ``before``."""
    return delete(LoginChallengeRow).where(
        LoginChallengeRow.expires_at < before,
        or_(
            LoginChallengeRow.assertion_expires_at.is_(None),
            LoginChallengeRow.assertion_expires_at < before,
        ),
    )


class ChallengeStore:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    def create(self, challenge: Challenge) -> Challenge:
        """Store a new pending challenge; 409 ``nonce_reused`` if its relying party used the
        nonce before.  Rows that stopped counting more than :data:`RETENTION` ago go first."""
        reused = NonceReused(
            "this nonce was used for an earlier challenge; make a new random nonce per login"
        )
        try:
            with translate_errors(), self._write.begin() as session:
                session.execute(_stale(challenge.created_at - RETENTION))
                taken = session.scalar(
                    select(
                        exists().where(
                            LoginChallengeRow.relying_party == challenge.relying_party,
                            LoginChallengeRow.nonce == challenge.nonce,
                        )
                    )
                )
                if taken:
                    raise reused
                session.add(
                    LoginChallengeRow(
                        id=challenge.id,
                        relying_party=challenge.relying_party,
                        nonce=challenge.nonce,
                        purpose=challenge.purpose,
                        algorithm=challenge.algorithm,
                        expect_uscc=challenge.expect_uscc,
                        status=ChallengeState.PENDING.value,
                        created_at=challenge.created_at,
                        expires_at=challenge.expires_at,
                    )
                )
        except IntegrityError:  # another request took the nonce between the check and here
            raise reused from None
        return challenge

    def get(self, challenge_id: str) -> Challenge | None:
        with translate_errors(), self._read.begin() as session:
            row = session.get(LoginChallengeRow, challenge_id)
            return _challenge(row) if row is not None else None

    def confirm(
        self,
        challenge_id: str,
        *,
        uscc: str,
        key_id: str,
        assertion: str,
        assertion_expires_at: datetime,
        now: datetime,
        events: Iterable[AuditEvent] = (),
    ) -> bool:
        """Record the confirmation and its assertion if the challenge is still pending and
        unexpired (False otherwise: another request confirmed it, or its time ran out), with
        ``events`` in the same transaction."""
        with translate_errors(), self._write.begin() as session:
            result = session.execute(
                update(LoginChallengeRow)
                .where(
                    LoginChallengeRow.id == challenge_id,
                    LoginChallengeRow.status == ChallengeState.PENDING.value,
                    LoginChallengeRow.expires_at > now,
                )
                .values(
                    status=ChallengeState.CONFIRMED.value,
                    uscc=uscc,
                    confirmed_by=key_id,
                    confirmed_at=now,
                    assertion=assertion,
                    assertion_expires_at=assertion_expires_at,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            append_events(session, events, now)
            return True

    def mark_verified(self, challenge_id: str, relying_party: str, now: datetime) -> bool:
        """Record the online verification of the challenge's assertion: True the first time,
        False if it was verified before (a replay)."""
        with translate_errors(), self._write.begin() as session:
            result = session.execute(
                update(LoginChallengeRow)
                .where(
                    LoginChallengeRow.id == challenge_id,
                    LoginChallengeRow.relying_party == relying_party,
                    LoginChallengeRow.status == ChallengeState.CONFIRMED.value,
                    LoginChallengeRow.verified_at.is_(None),
                )
                .values(verified_at=now)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def purge(self, before: datetime) -> int:
        """Delete the challenges that stopped counting before ``before``; how many."""
        with translate_errors(), self._write.begin() as session:
            result = session.execute(_stale(before))
            return int(result.rowcount)  # type: ignore[attr-defined]
