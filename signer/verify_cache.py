"""What the verifier keeps from one document to the next, and why it can.

Two caches, both keyed by the registry's revision (:meth:`seals.service.SealService.revision`,
raised in the transaction of every change any process makes: a seal revoked, suspended or
reinstated, a license suspended, cancelled or revoked, an enterprise registered), so that
nothing read before a change is used after it:

:class:`RegistryCache`
    the registry's facts a report needs (a seal by its certificate's serial, the newest seal of
    a kind, an enterprise): read once per revision instead of five queries per signature.  A
    document reads the revision once (:meth:`RegistryCache.view`) and sees one revision's
    facts throughout.

:class:`PathCache`
    the outcome of pyHanko's certificate path validation (path building, every certificate's
    signature, revocation data and its own issuers' paths) for one certificate in one
    validation context: pyHanko's ``validate_cert_usage`` for the contexts
    :class:`signer.trust.Contexts` makes and tags (:meth:`PathCache.tag`), and for no other.
    The key is everything the outcome is a function of: the certificate, every certificate
    the context may build a path from (trust anchors, our CAs, the document's and its DSS's),
    all its revocation data (the DSS's, and our responder's fresh answers), the registry's
    revision, the key-usage rule, the revocation policy and tolerance, and for a validation
    in the past its moment.  A validation at the present is a function of the time too: an
    outcome is kept only while no instant any of those inputs names (a certificate's validity
    bounds, revocation data's ``thisUpdate``, ``nextUpdate``, revocation times, ...) lies
    between the moment it was computed at and the moment it is used at, widened by twice
    pyHanko's time tolerance on each side, and for at most a minute.  Contexts that may fetch
    revocation data from the network are never cached (what they would fetch is not an
    input here).

Nothing else changes: pyHanko still checks each document's own bytes, digests, signature
values, signed attributes and timestamps; only the path validation of a chain met before
under the same inputs is answered from memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import core
from pyhanko.sign.validation import generic_cms
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import LazyPathIterator

from keystore.asn1_shared import fully_parsed
from keystore.errors import EsealError
from seals.errors import EnterpriseNotFound, SealNotFound
from seals.kinds import SealKind
from seals.model import Enterprise, Seal
from seals.registry_reader import RegistryLookup

__all__ = ["PathCache", "RegistryCache", "RegistryView", "install"]

_MISSING = object()


# -- the registry -----------------------------------------------------------------------------


class _Generation:
    """The facts read at one revision."""

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self.facts: dict[tuple[str, Any], Any] = {}


class RegistryCache:
    """The registry's facts, kept per revision (thread-safe)."""

    def __init__(self, seals: RegistryLookup, *, max_entries: int = 4096) -> None:
        self._seals = seals
        self._max = max_entries
        self._lock = threading.Lock()
        self._current: _Generation | None = None

    def view(self) -> RegistryView:
        """The registry as of now: one read of the revision.

        A view files what it reads under the revision it saw first; what is read after a
        change committed meanwhile is newer than that revision, never older, and a later
        view of a newer revision starts afresh."""
        revision = self._seals.revision()
        with self._lock:
            current = self._current
            if current is None or revision > current.revision:
                current = self._current = _Generation(revision)
            elif revision < current.revision:  # read before a change another view saw
                current = _Generation(revision)
        return RegistryView(self, current)

    def _fetch(self, generation: _Generation, key: tuple[str, Any], read: Callable[[], Any]) -> Any:
        with self._lock:
            found = generation.facts.get(key, _MISSING)
        if found is not _MISSING:
            return found
        value = read()
        with self._lock:
            if len(generation.facts) >= self._max:
                generation.facts.clear()
            generation.facts[key] = value
        return value


class RegistryView:
    """The registry at one revision, for one document (or one signature of an OFD)."""

    def __init__(self, cache: RegistryCache, generation: _Generation) -> None:
        self._cache = cache
        self._generation = generation
        self._seals = cache._seals

    @property
    def revision(self) -> int:
        return self._generation.revision

    def _get(self, key: tuple[str, Any], read: Callable[[], Any]) -> Any:
        return self._cache._fetch(self._generation, key, read)

    def seal_by_serial(self, serial: int) -> Seal | None:
        """Any version of any seal, by the serial of its certificate."""
        found: Seal | None = self._get(
            ("serial", serial), lambda: self._seals.seal_by_serial(serial)
        )
        return found

    def seal_by_sm2_serial(self, serial: int) -> Seal | None:
        """Any version of any seal, by the serial of its SM2 certificate."""
        found: Seal | None = self._get(
            ("sm2_serial", serial), lambda: self._seals.seal_by_sm2_serial(serial)
        )
        return found

    def enterprise(self, uscc: str) -> Enterprise | None:
        found: Enterprise | None = self._get(
            ("enterprise", uscc), lambda: self._seals.find_enterprise(uscc)
        )
        return found

    def newest(self, uscc: str, kind: SealKind) -> Seal | None:
        """The newest version of the enterprise's seal of ``kind``; None if the enterprise or
        the seal is not in the registry, or the registry cannot say now (not kept)."""
        key = ("newest", (uscc, kind))
        with self._cache._lock:
            found = self._generation.facts.get(key, _MISSING)
        if found is not _MISSING:
            return found
        try:
            seal: Seal | None = self._seals.seal(uscc, kind)
        except (EnterpriseNotFound, SealNotFound):
            seal = None
        except EsealError:  # the registry did not answer: as before, no newest seal, not kept
            return None
        self._get(key, lambda: seal)
        return seal


# -- path validation --------------------------------------------------------------------------

#: pyHanko's own routine, wrapped by :func:`install`
_ORIGINAL = generic_cms.validate_cert_usage
_TAG = "_eseal_path_scope"


@dataclass(frozen=True)
class _Scope:
    """What :class:`signer.trust.Contexts` says about a context it made."""

    cache: PathCache
    revision: int
    #: validated at the present (the moment is the clock's when the context was made)
    present: bool


@dataclass(frozen=True)
class _Entry:
    result: Any
    #: the moment the outcome was computed at
    made: datetime
    #: the moment from which it may no longer be used (a validation at the present)
    until: datetime | None


class PathCache:
    """Outcomes of path validation for the contexts of one :class:`signer.trust.Contexts`."""

    def __init__(
        self, *, max_entries: int = 512, max_age: timedelta = timedelta(seconds=60)
    ) -> None:
        self._max = max_entries
        self._max_age = max_age
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        #: (answered from memory, computed): for tests and the benchmark's profile
        self.hits = 0
        self.misses = 0

    def tag(self, context: ValidationContext, *, revision: int, present: bool) -> None:
        """Let this cache answer ``context``'s path validations (registry at ``revision``)."""
        setattr(context, _TAG, _Scope(self, revision, present))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    async def validate(
        self,
        scope: _Scope,
        cert: Any,
        context: ValidationContext,
        key_usage_settings: Any,
        paths: Any,
    ) -> Any:
        key = _key(scope, cert, context, key_usage_settings)
        moment = context.moment
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and _usable(entry, moment):
                self._entries.move_to_end(key)
                self.hits += 1
            else:
                entry = None
        if entry is not None:
            await paths.cancel()
            return entry.result
        result = await _ORIGINAL(cert, context, key_usage_settings, paths)
        with self._lock:
            self.misses += 1
        stored = self._entry(scope, cert, context, result)
        if stored is not None:
            with self._lock:
                self._entries[key] = stored
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return result

    def _entry(
        self, scope: _Scope, cert: Any, context: ValidationContext, result: Any
    ) -> _Entry | None:
        made = context.moment
        until: datetime | None = None
        if scope.present:
            margin = 2 * context.time_tolerance
            until = made + self._max_age
            for instant in _instants(cert, context):
                if made - margin <= instant <= made + margin:
                    return None  # too close to a bound: not kept
                if instant - margin > made:
                    until = min(until, instant - margin)
        _publish(result)
        return _Entry(result, made, until)


def _usable(entry: _Entry, moment: datetime) -> bool:
    if entry.until is None:
        return True  # a validation in the past: its moment is in the key
    return entry.made <= moment < entry.until


def _key(scope: _Scope, cert: Any, context: ValidationContext, kus: Any) -> tuple[Any, ...]:
    registry = frozenset(c.dump() for c in context.certificate_registry)
    revinfo = frozenset(x.dump() for x in context.crls) | frozenset(x.dump() for x in context.ocsps)
    timing = None if scope.present else (context.moment, context.best_signature_time)
    return (
        cert.dump(),
        registry,
        revinfo,
        scope.revision,
        scope.present,
        timing,
        repr(context.revinfo_policy),
        context.time_tolerance,
        _described(context.algorithm_policy),
        repr(kus),
    )


def _described(policy: Any) -> tuple[str, str]:
    """A policy object by its class and settings (its ``repr`` names its address)."""
    settings = vars(policy) if hasattr(policy, "__dict__") else {}
    described = sorted(
        (k, repr(sorted(v)) if isinstance(v, set | frozenset) else repr(v))
        for k, v in settings.items()
    )
    return type(policy).__qualname__, repr(described)


def _instants(cert: Any, context: ValidationContext) -> Iterable[datetime]:
    """Every instant the inputs of a path validation name."""
    values: list[Any] = [cert, *context.certificate_registry, *context.crls, *context.ocsps]
    for value in values:
        yield from _datetimes(value.native)


def _datetimes(native: Any) -> Iterable[datetime]:
    todo = [native]
    while todo:
        item = todo.pop()
        if isinstance(item, datetime):
            if item.tzinfo is not None:
                yield item
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            todo.extend(item)


def _publish(result: Any) -> None:
    """Parse completely what an outcome holds, before other threads read it
    (see :mod:`keystore.asn1_shared`)."""
    for path in (result.success_result, result.error_path):
        if path is None:
            continue
        for cert in path.iter_certs(include_root=True):
            fully_parsed(cert)
    details = result.revo_details
    if details is not None and isinstance(details.revocation_reason, core.Asn1Value):
        fully_parsed(details.revocation_reason)


async def _validate_cert_usage(
    cert: Any,
    validation_context: ValidationContext,
    key_usage_settings: Any,
    paths: Any,
    pkix_validation_params: Any = None,
) -> Any:
    """pyHanko's ``validate_cert_usage``, answered by the context's :class:`PathCache` when
    :class:`signer.trust.Contexts` tagged it (and nothing unusual was asked)."""
    scope: _Scope | None = getattr(validation_context, _TAG, None)
    if (
        scope is None
        or pkix_validation_params is not None
        or not isinstance(paths, LazyPathIterator)
        or validation_context.fetching_allowed
    ):
        return await _ORIGINAL(
            cert, validation_context, key_usage_settings, paths, pkix_validation_params
        )
    return await scope.cache.validate(scope, cert, validation_context, key_usage_settings, paths)


def install() -> None:
    """Route pyHanko's path validation of CMS signers through :func:`_validate_cert_usage`
    (idempotent; untagged contexts see pyHanko's own)."""
    generic_cms.validate_cert_usage = _validate_cert_usage
