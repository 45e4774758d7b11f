"""A front system's services (前置系统, issue 19): a replica, verifiers over it, no keys.

``eseal serve --mode front`` builds this instead of :class:`api.container.Container`: a
database of its own (the centre's tables, filled from the centre's signed feed by
:mod:`api.front_sync`), API keys of the departments it serves, and verifiers whose trust
anchors are the centre's CA certificates as the feed carried them.  Nothing here opens a key
store, and no sealing service exists: the front app has no route that could reach one.

Revocation: a front answers no OCSP and fetches nothing; whether a seal was revoked when it
signed is the replicated seal record's (status, time, reason), as on the centre, where the
registry decides too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from sqlalchemy.engine import Engine

from keystore.errors import ErrorKind, EsealError
from seals.authority import AuthoritySeals
from seals.permits import PermitService
from seals.registry_reader import RegistryReader
from signer.national import NationalVerifier
from signer.national_trust import NationalTrust
from signer.verify import Verifier
from storage.apikeys import ApiKeyStore
from storage.db import make_engine, migrate
from storage.filings import FilingOutbox
from storage.permits import SqlPermitRepository
from storage.replica import Replica, ReplicaState
from storage.repository import SqlEnterpriseRepository

from .deadline import Deadline
from .freshness import stamp
from .observability import Metrics
from .settings import Settings

__all__ = ["FrontContainer", "RegistryNotReplicated", "build_front"]

#: seconds a front process keeps the replica's state before reading it again
STATE_TTL = 1.0


class RegistryNotReplicated(EsealError):
    """The front has not received the centre's registry yet."""

    code = "registry_not_replicated"
    kind = ErrorKind.UNAVAILABLE
    title = "Registry not replicated yet"

    def __init__(self) -> None:
        super().__init__(
            "this front system has not received the centre's registry yet; try again shortly"
        )


@dataclass
class FrontContainer:
    settings: Settings
    engine: Engine
    replica: Replica
    registry: RegistryReader
    api_keys: ApiKeyStore
    filings: FilingOutbox
    permits: PermitService
    deadline: Deadline
    metrics: Metrics = field(default_factory=Metrics)
    #: the feed's refusals since start (the latest first): what the status route shows
    refusals: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _built_for: Any = None
    _verifiers: tuple[Verifier, NationalVerifier] | None = None
    _state: tuple[float, ReplicaState] | None = None

    def state(self) -> ReplicaState:
        """The replica's state, read at most once per :data:`STATE_TTL` seconds (every
        verification asks; this process's pulls and those of the other workers write it)."""
        now = time.monotonic()
        cached = self._state
        if cached is not None and now - cached[0] < STATE_TTL:
            return cached[1]
        state = self.replica.state()
        self._state = (now, state)
        return state

    def forget_state(self) -> None:
        self._state = None

    def verifiers(self) -> tuple[Verifier, NationalVerifier]:
        """The verifiers over the replica, made again when the centre's CA certificates
        change; :class:`RegistryNotReplicated` before the first batch."""
        pki = self.state().pki
        if not pki:
            raise RegistryNotReplicated()
        key = (pki.get("root"), pki.get("issuing"), tuple(pki.get("authority", ())))
        with self._lock:
            if self._verifiers is None or self._built_for != key:
                self._verifiers = _verifiers(self, pki)
                self._built_for = key
            return self._verifiers

    def freshness(self, report: dict[str, Any]) -> dict[str, Any]:
        """``report`` with ``registry_as_of`` and the staleness verdict (api.freshness)."""
        return stamp(
            report,
            self.state().confirmed_at,
            now=datetime.now(UTC),
            max_age=timedelta(seconds=self.settings.registry_max_age),
        )

    def refused(self, reason: str) -> None:
        self.refusals.insert(0, {"at": datetime.now(UTC).isoformat(), "reason": reason})
        del self.refusals[20:]

    def close(self) -> None:
        self.engine.dispose()


def _certs(text: str | Sequence[str]) -> list[asn1_x509.Certificate]:
    texts = [text] if isinstance(text, str) else list(text)
    return [
        asn1_x509.Certificate.load(der)
        for t in texts
        for _, _, der in pem.unarmor(t.encode(), multiple=True)
    ]


def _verifiers(c: FrontContainer, pki: dict[str, Any]) -> tuple[Verifier, NationalVerifier]:
    from .container import trust_bundle

    root, issuing = _certs(pki["root"])[0], _certs(pki["issuing"])[0]
    sm2_root, sm2_issuing = _certs(pki["sm2_root"])[0], _certs(pki["sm2_issuing"])[0]
    bundle = trust_bundle(c.settings)
    verifier = Verifier(
        c.registry,
        root,
        issuing,
        extra_roots=[*bundle, sm2_root],
        allow_fetching=c.settings.verify_fetch,
        revocation=None,
        sm2_issuing=sm2_issuing,
        authority=AuthoritySeals(_certs(pki.get("authority", []))),
        permits=c.permits,
    )
    national = NationalVerifier(
        verifier,
        NationalTrust(
            [sm2_root, *bundle],
            [sm2_issuing],
            responder=None,
            allow_fetching=c.settings.verify_fetch,
        ),
    )
    return verifier, national


def initialise_front(settings: Settings) -> None:
    """A front's data dir and database: no master key, no PKI, no key store."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.db_url)


class FrontMisconfigured(EsealError):
    code = "front_misconfigured"
    kind = ErrorKind.INTERNAL
    title = "Front system not configured"


def build_front(settings: Settings) -> FrontContainer:
    if not settings.upstream_url or settings.upstream_token is None:
        raise FrontMisconfigured(
            "a front system needs ESEAL_UPSTREAM_URL (or serve --upstream) and "
            "ESEAL_UPSTREAM_TOKEN: a verifier key of the centre registered with the front's "
            "access form (front_system true)"
        )
    initialise_front(settings)
    engine = make_engine(settings.db_url)
    migrate(engine)
    registry = RegistryReader(SqlEnterpriseRepository(engine))
    permits = PermitService(SqlPermitRepository(engine), registry.find_enterprise)
    return FrontContainer(
        settings,
        engine,
        Replica(engine),
        registry,
        ApiKeyStore(engine),
        FilingOutbox(engine),
        permits,
        Deadline(settings.document_cpu_seconds, settings.document_wall_seconds),
    )
