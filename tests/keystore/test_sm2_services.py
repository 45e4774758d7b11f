"""The SM2 PKI as a service: made once (at init or on an older data dir's start), crash-safe.

OCSP answers signed with SM2 and the SM2 time-stamping authority are checked further down
and, by Bouncy Castle and OpenSSL, in ``tests/interop/test_sm2_tsp.py``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from keystore.base import KeyAlgorithm
from keystore.errors import MasterKeyError
from keystore.masterkey import MasterKey
from keystore.sm2_pki import ROLES, SCOPE, Sm2Pki, verify_certificate_signature
from keystore.soft import SoftKeyStore

MASTER = bytes(range(32))
URL = "https://eseal.example.cn"


def _store(tmp_path: Path, key: bytes = MASTER) -> SoftKeyStore:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(key))
    store.initialise()
    return store


def _pem_files(directory: Path) -> dict[str, bytes]:
    return {role: (directory / f"{role}.pem").read_bytes() for role in ROLES}


def test_ensure_creates_once_then_loads_the_same_pki(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = Sm2Pki(store, tmp_path / "pki" / "sm2", URL)
    assert first.ensure() is True
    made = _pem_files(tmp_path / "pki" / "sm2")

    # a restart: a new store object and a new PKI object over the same directories
    again = Sm2Pki(_store(tmp_path), tmp_path / "pki" / "sm2", URL)
    assert again.ensure() is False
    assert _pem_files(tmp_path / "pki" / "sm2") == made
    assert again.certificate("tsa").dump() == first.certificate("tsa").dump()
    # the loaded keys are the certified ones: the seal CA still signs what the root accepts
    verify_certificate_signature(again.certificate("ocsp"), again.certificate("issuing"))
    assert again.service_signer("ocsp").public_key.spki_der() == \
        again.certificate("ocsp")["tbs_certificate"]["subject_public_key_info"].dump()


def test_ensure_after_a_crash_before_the_manifest_starts_over(tmp_path: Path) -> None:
    store = _store(tmp_path)
    directory = tmp_path / "sm2"
    # an interrupted creation: two keys made and a PEM written, no sm2-pki.json
    store.generate(SCOPE, "root", KeyAlgorithm.SM2)
    store.generate(SCOPE, "issuing", KeyAlgorithm.SM2)
    directory.mkdir()
    (directory / "root.pem").write_bytes(b"half a certificate")

    pki = Sm2Pki(store, directory, URL)
    assert not pki.exists
    assert pki.ensure() is True
    manifest = json.loads((directory / "sm2-pki.json").read_text())
    assert sorted(manifest["keys"]) == sorted(ROLES)
    assert (directory / "root.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    verify_certificate_signature(pki.certificate("issuing"), pki.certificate("root"))
    assert not list(directory.glob(".*.tmp"))
    # and a restart loads what was made
    assert Sm2Pki(_store(tmp_path), directory, URL).ensure() is False


def test_ensure_from_two_threads_makes_one_pki(tmp_path: Path) -> None:
    _store(tmp_path)
    results: list[bool] = []
    errors: list[BaseException] = []

    def start() -> None:  # as two server processes starting at once: own store objects
        try:
            store = SoftKeyStore(tmp_path / "keys", MasterKey(MASTER))
            results.append(Sm2Pki(store, tmp_path / "sm2", URL).ensure())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [False, True]


def test_ensure_with_the_wrong_master_key_fails_and_keeps_the_pki(tmp_path: Path) -> None:
    directory = tmp_path / "sm2"
    Sm2Pki(_store(tmp_path), directory, URL).ensure()
    made = _pem_files(directory)
    wrong = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(32)))
    with pytest.raises(MasterKeyError):
        Sm2Pki(wrong, directory, URL).ensure()
    assert _pem_files(directory) == made
