"""The registry read-only: what a verifier asks of it, and a reader over a repository.

A centre's verifier reads the registry through :class:`seals.service.SealService`; a front
system (issue 19) holds a replica of the registry and no keys, and reads it through
:class:`RegistryReader`, which can look things up and nothing else.
"""

from __future__ import annotations

from typing import Protocol

from .errors import EnterpriseNotFound, SealNotFound
from .kinds import SealKind
from .model import Enterprise, Seal
from .ports import EnterpriseRepository
from .registry_cache import RegistryCache

__all__ = ["RegistryLookup", "RegistryReader"]


class RegistryLookup(Protocol):
    """What verification asks of the registry."""

    def revision(self) -> int: ...

    def find_enterprise(self, uscc: str) -> Enterprise | None: ...

    def seal_by_serial(self, serial: int) -> Seal | None: ...

    def seal_by_sm2_serial(self, serial: int) -> Seal | None: ...

    def seal(self, uscc: str, kind: SealKind) -> Seal: ...


class RegistryReader:
    """Look-ups in a registry (cached while its revision stays the same)."""

    def __init__(self, repository: EnterpriseRepository) -> None:
        self._repo = repository
        self._cache = RegistryCache(repository.revision)

    def revision(self) -> int:
        return self._repo.revision()

    def find_enterprise(self, uscc: str) -> Enterprise | None:
        return self._cache.get(("enterprise", uscc), lambda: self._repo.get_enterprise(uscc))

    def enterprise(self, uscc: str) -> Enterprise:
        found = self.find_enterprise(uscc)
        if found is None:
            raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
        return found

    def seal_by_serial(self, serial: int) -> Seal | None:
        return self._cache.get(("serial", serial), lambda: self._repo.seal_by_serial(serial))

    def seal_by_sm2_serial(self, serial: int) -> Seal | None:
        return self._cache.get(
            ("sm2_serial", serial), lambda: self._repo.seal_by_sm2_serial(serial)
        )

    def seal(self, uscc: str, kind: SealKind) -> Seal:
        self.enterprise(uscc)
        found = self._repo.seal(uscc, kind)
        if found is None:
            raise SealNotFound(f"enterprise {uscc} has no {kind.value} seal")
        return found

    def seals(self, uscc: str) -> list[Seal]:
        self.enterprise(uscc)
        return self._repo.current_seals(uscc)
