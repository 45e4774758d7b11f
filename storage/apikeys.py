"""API keys: tokens shown once, stored as SHA-256 of their secret, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from seals.audit import AuditEvent

from .access_tables import ApiKeyRow
from .audit import append_events
from .db import WRITE, translate_errors
from .feed import FeedKind
from .repository import _bump_revision

__all__ = ["ApiKey", "ApiKeyStore", "parse_token"]

PREFIX = "esk"
#: roles whose keys act for one enterprise (``api.auth.Role``; storage does not import api)
_BOUND_ROLES = ("enterprise", "approver")


@dataclass(frozen=True)
class ApiKey:
    id: str
    role: str
    uscc: str | None
    name: str
    created_at: datetime
    access_form: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "uscc": self.uscc,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "access_form": self.access_form,
        }


def parse_token(token: str) -> tuple[str, str] | None:
    """``esk_<id>_<secret>`` → (id, secret), or None if it is not of that form."""
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.id, row.role, row.uscc, row.name, row.created_at, row.access_form)


class ApiKeyStore:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)

    def create(
        self,
        *,
        role: str,
        uscc: str | None,
        name: str,
        actor: str,
        access_form: dict[str, Any] | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its token (the only time the token exists outside the caller).

        Enterprise and approver keys belong to one enterprise (``uscc``); the other roles to
        none."""
        if (role in _BOUND_ROLES) != (uscc is not None):
            raise ValueError(f"{', '.join(_BOUND_ROLES)} keys need a uscc, and only they take one")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32).replace("_", "")
        now = datetime.now(UTC)
        row = ApiKeyRow(
            id=key_id,
            secret_sha256=_digest(secret),
            role=role,
            uscc=uscc,
            name=name,
            access_form=access_form,
            created_at=now,
            revoked_at=None,
        )
        with translate_errors(), self._write.begin() as session:
            session.add(row)
            session.flush()
            append_events(
                session,
                [
                    AuditEvent(
                        "apikey.create",
                        actor,
                        uscc=uscc,
                        detail={"key_id": key_id, "role": role, "name": name},
                    )
                ],
                now,
            )
        return _key(row), f"{PREFIX}_{key_id}_{secret}"

    def authenticate(self, token: str) -> ApiKey | None:
        parsed = parse_token(token)
        # compare against a dummy when the id is unknown, so timing says nothing either way
        key_id, secret = parsed or ("", "")
        with translate_errors(), self._read.begin() as session:
            row = session.get(ApiKeyRow, key_id) if key_id else None
            expected = row.secret_sha256 if row is not None else _digest("no such key")
            ok = hmac.compare_digest(expected, _digest(secret))
            if row is None or not ok or row.revoked_at is not None:
                return None
            return _key(row)

    def get(self, key_id: str) -> ApiKey | None:
        with translate_errors(), self._read.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            return _key(row) if row is not None and row.revoked_at is None else None

    def revoke(self, key_id: str, *, actor: str) -> bool:
        now = datetime.now(UTC)
        with translate_errors(), self._write.begin() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = now
            append_events(
                session,
                [AuditEvent("apikey.revoke", actor, uscc=row.uscc, detail={"key_id": key_id})],
                now,
            )
            if row.access_form is not None:
                # a relying party's access ends at the front systems too (the registry feed)
                _bump_revision(session, [(FeedKind.ACCESS, key_id)])
            return True

    def list(self) -> list[ApiKey]:
        with translate_errors(), self._read.begin() as session:
            rows = session.scalars(
                select(ApiKeyRow)
                .where(ApiKeyRow.revoked_at.is_(None))
                .order_by(ApiKeyRow.created_at)
            )
            return [_key(r) for r in rows]
