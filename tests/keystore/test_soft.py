"""The embedded key store: envelope encryption, nothing private in plaintext, one clear error."""

import base64
import os
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from keystore.base import KeyAlgorithm, KeyStore
from keystore.errors import KeystoreError, MasterKeyError
from keystore.masterkey import MasterKey, create_master_key_file, load_master_key
from keystore.soft import SoftKeyStore


def _store(tmp_path: Path, key: bytes | None = None) -> SoftKeyStore:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(key or bytes(range(32))))
    store.initialise()
    return store


def _cert_for(store: SoftKeyStore, ref: str):  # type: ignore[no-untyped-def]
    """A throwaway certificate for the key (issued by a CA made here)."""
    import datetime as dt

    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(serialization.load_der_public_key(store.public_key(ref).dump()))  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def test_is_a_keystore(tmp_path: Path) -> None:
    assert isinstance(_store(tmp_path), KeyStore)


# SM2 keys sign through SoftKeyStore.sm2_signer, not pyHanko: tests/keystore/test_sm2.py
@pytest.mark.parametrize("algorithm", [a for a in KeyAlgorithm if a is not KeyAlgorithm.SM2])
async def test_generated_key_signs_and_nothing_private_is_plaintext(
    tmp_path: Path, algorithm: KeyAlgorithm
) -> None:
    store = _store(tmp_path)
    ref = store.generate("91110000600037341L", "contract-v1", algorithm)
    signer = store.signer(ref, _cert_for(store, ref), [])
    signature = await signer.async_sign_raw(b"document digest input", "sha256")
    public = serialization.load_der_public_key(store.public_key(ref).dump())
    if algorithm is KeyAlgorithm.EC_P256:
        public.verify(signature, b"document digest input", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,union-attr]
    else:
        public.verify(signature, b"document digest input", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,union-attr]
        assert public.key_size == algorithm.rsa_bits  # type: ignore[union-attr]
    # No file of the store holds a parseable private key or the PKCS#8 header.
    for path in (tmp_path / "keys").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"PRIVATE KEY" not in data
            with pytest.raises(ValueError):
                serialization.load_der_private_key(data, password=None)
            assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_key_survives_restart_and_wrong_master_key_fails_once_clearly(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ref = store.generate("scope", "k1", KeyAlgorithm.EC_P256)
    pub = store.public_key(ref).dump()
    again = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    again.check()
    assert again.public_key(ref).dump() == pub
    wrong = SoftKeyStore(tmp_path / "keys", MasterKey(secrets.token_bytes(32)))
    with pytest.raises(MasterKeyError) as info:
        wrong.check()
    assert info.value.code == "master_key_invalid"
    with pytest.raises(MasterKeyError):
        wrong.public_key(ref)


def test_key_file_moved_to_another_name_does_not_decrypt(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ref = store.generate("scope", "a", KeyAlgorithm.EC_P256)
    store.generate("scope", "b", KeyAlgorithm.EC_P256)
    d = tmp_path / "keys" / "scope"
    os.replace(d / "a.key", d / "b.key")
    fresh = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    with pytest.raises(KeystoreError):  # a is gone; b now holds a's ciphertext
        fresh.public_key(ref)
    with pytest.raises(MasterKeyError):
        fresh.public_key("soft:scope/b")


def test_refuses_overwrite_and_bad_names(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.generate("scope", "k", KeyAlgorithm.EC_P256)
    with pytest.raises(KeystoreError) as info:
        store.generate("scope", "k", KeyAlgorithm.EC_P256)
    assert info.value.code == "key_exists"
    with pytest.raises(KeystoreError) as info:
        store.generate("../etc", "k", KeyAlgorithm.EC_P256)
    assert info.value.code == "invalid_key_name"


def test_delete_removes_the_key(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ref = store.generate("scope", "k", KeyAlgorithm.EC_P256)
    store.delete(ref)
    with pytest.raises(KeystoreError) as info:
        SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32)))).public_key(ref)
    assert info.value.code == "key_not_found"
    store.delete(ref)  # a missing key is fine


def test_master_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "master.key"
    with pytest.raises(MasterKeyError) as info:
        load_master_key(None, key_file)
    assert "eseal init" in info.value.detail
    create_master_key_file(key_file)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(FileExistsError):
        create_master_key_file(key_file)
    assert repr(load_master_key(None, key_file)) == "MasterKey(<hidden>)"
    env = base64.b64encode(b"k" * 32).decode()
    load_master_key(env, key_file)  # environment wins
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(MasterKeyError) as info:
            load_master_key(bad, key_file)
        assert bad not in info.value.detail
