"""The registry cache against the real registry (SQLite): an answer is never served once the
registry changed after it was read, even when the change commits while it is being read."""

from __future__ import annotations

from api.container import Container
from helpers import USCC, license_data
from seals.kinds import SealKind
from seals.license import LicenseStatus, parse_license
from seals.registry_cache import RegistryCache
from seals.service import SealService


def _registered(container: Container) -> SealService:
    container.seals.register(parse_license(license_data()))
    return container.seals


def test_a_change_committed_while_an_answer_is_read_is_seen_by_the_next_look_up(
    container: Container,
) -> None:
    seals = _registered(container)
    repo = seals._repo  # the registry the service reads
    cache = RegistryCache(repo.revision)

    def read_while_another_process_suspends() -> LicenseStatus | None:
        status = repo.license_status(USCC)
        seals.change_status(USCC, LicenseStatus.SUSPENDED, "停业")  # commits meanwhile
        return status

    first = cache.get(("license", USCC), read_while_another_process_suspends)
    assert first is LicenseStatus.ACTIVE  # as it was when the look-up began
    assert cache.get(("license", USCC), lambda: repo.license_status(USCC)) is (
        LicenseStatus.SUSPENDED
    )


def test_answers_are_kept_until_the_registry_changes(container: Container) -> None:
    seals = _registered(container)
    repo = seals._repo
    cache = RegistryCache(repo.revision)
    for _ in range(3):
        seal = cache.get(("seal", USCC, "contract"), lambda: repo.seal(USCC, SealKind.CONTRACT))
    assert (cache.loads, cache.hits) == (1, 2)
    assert seal is not None
    seals.suspend_seal(USCC, SealKind.CONTRACT, "休假")
    again = cache.get(("seal", USCC, "contract"), lambda: repo.seal(USCC, SealKind.CONTRACT))
    assert again is not None and again.status.value == "suspended"
    assert cache.loads == 2


def test_the_least_recently_used_answer_goes_first_when_full(container: Container) -> None:
    seals = _registered(container)
    cache = RegistryCache(seals.revision, max_entries=2)
    for key in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" comes
        cache.get(key, key.upper)
    assert cache.loads == 3
    assert cache.get("a", lambda: "reloaded") == "A"
    assert cache.get("b", lambda: "reloaded") == "reloaded"
