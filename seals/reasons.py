"""Revocation reason codes and key-compromise times, as a caller gives them and as a
lifecycle step takes them.

:class:`seals.service.SealService` takes a code and a time as objects or as the strings the
HTTP routes and the CLI were given; each refusal is a 422 with its own code
(``invalid_reason_code``, ``invalid_compromised_at``) and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import DomainError
from .model import RevocationReason, Seal

__all__ = [
    "REISSUE_CODES",
    "REVOKE_CODES",
    "SUSPEND_CODES",
    "aware",
    "checked_code",
    "compromise_time",
    "parse_compromise_time",
    "parse_reason_code",
]

#: Which codes each lifecycle step takes (its default is the service's).
REVOKE_CODES = frozenset(RevocationReason) - {RevocationReason.CERTIFICATE_HOLD}
SUSPEND_CODES = frozenset({RevocationReason.CERTIFICATE_HOLD})
REISSUE_CODES = frozenset({RevocationReason.SUPERSEDED, RevocationReason.KEY_COMPROMISE})


def parse_reason_code(value: str) -> RevocationReason:
    """A reason code from its name (``key_compromise`` ...); 422 ``invalid_reason_code``."""
    try:
        return RevocationReason(value.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in RevocationReason)
        raise DomainError(
            f"unknown reason code {value[:40]!r}; one of: {known}", code="invalid_reason_code"
        ) from None


def parse_compromise_time(value: str) -> datetime:
    """An ISO 8601 time with a UTC offset (``2025-03-01T08:00:00+08:00``, or ``Z``)."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DomainError(
            f"compromised_at {value[:40]!r} is not an ISO 8601 time "
            "(e.g. 2025-03-01T08:00:00+08:00)",
            code="invalid_compromised_at",
        ) from None
    return aware(when)


def aware(when: datetime) -> datetime:
    """``when`` in UTC; a time without a zone is refused rather than guessed."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise DomainError(
            "compromised_at needs a time zone (e.g. +08:00 or Z)", code="invalid_compromised_at"
        )
    return when.astimezone(UTC)


def checked_code(
    code: RevocationReason | str | None,
    allowed: frozenset[RevocationReason],
    default: RevocationReason,
    what: str,
) -> RevocationReason:
    """``code`` (or ``default``) if ``what`` (a lifecycle step) takes it."""
    if code is None:
        return default
    checked = code if isinstance(code, RevocationReason) else parse_reason_code(code)
    if checked not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        hint = " (suspend the seal instead)" if checked is RevocationReason.CERTIFICATE_HOLD else ""
        raise DomainError(
            f"{what} takes the reason code {names}, not {checked.value}{hint}",
            code="invalid_reason_code",
        )
    return checked


def compromise_time(
    code: RevocationReason, value: datetime | str | None, seal: Seal, now: datetime
) -> datetime | None:
    """When a key compromise counts from: given or now, in whole seconds (as the CRL and
    OCSP carry it), not before the certificate's validity and not in the future."""
    if code is not RevocationReason.KEY_COMPROMISE:
        if value is not None:
            raise DomainError(
                "compromised_at goes with the reason code key_compromise only",
                code="invalid_compromised_at",
            )
        return None
    if value is None:
        when = now
    else:
        when = parse_compromise_time(value) if isinstance(value, str) else aware(value)
    when = when.replace(microsecond=0)
    if when > now:
        raise DomainError(
            f"compromised_at {when.isoformat()} is in the future", code="invalid_compromised_at"
        )
    if when < seal.not_before:
        raise DomainError(
            f"compromised_at {when.isoformat()} is before the certificate was valid "
            f"({seal.not_before.isoformat()})",
            code="invalid_compromised_at",
        )
    return when
