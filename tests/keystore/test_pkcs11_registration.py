"""The whole registration on a PKCS#11 token: five seal keys made and used on SoftHSM2."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from api.container import build
from api.settings import Settings
from helpers import USCC, license_data
from keystore.errors import KeystoreUnavailable
from seals.kinds import SealKind
from seals.license import parse_license

pytestmark = pytest.mark.slow


def _settings(settings: Settings, softhsm, pin: str) -> Settings:  # type: ignore[no-untyped-def]
    return settings.model_copy(
        update={
            "keystore": "pkcs11",
            "pkcs11_module": softhsm.module,
            "pkcs11_token_label": softhsm.token_label,
            "pkcs11_pin": pin,
            # a token holds no SM2 keys: the international certificate alone (see test below)
            "seal_algorithms": "ec-p256",
        }
    )


async def test_register_and_sign_on_the_token(settings: Settings, softhsm) -> None:  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    c = build(_settings(settings, softhsm, SecretStr(softhsm.user_pin)))  # type: ignore[arg-type]
    try:
        _, seals = c.seals.register(parse_license(license_data()))
        assert all(s.key_ref.startswith("pkcs11:") for s in seals)
        # no seal key file was written by the soft store
        assert not (Path(settings.keys_dir) / USCC).exists()
        seal, signer = c.seals.signer_for(USCC, SealKind.CONTRACT)
        sig = await signer.async_sign_raw(b"contract bytes", "sha256")
        cert = x509.load_pem_x509_certificate(seal.certificate_pem.encode())
        cert.public_key().verify(sig, b"contract bytes", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,union-attr]
        for s in seals:
            c.seal_keys.delete(s.key_ref)  # leave the shared token clean
    finally:
        c.close()


def test_sm2_seals_on_a_token_are_refused_at_start_up(settings: Settings, softhsm) -> None:  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    from keystore.errors import KeystoreError

    wanted = _settings(settings, softhsm, SecretStr(softhsm.user_pin))  # type: ignore[arg-type]
    with pytest.raises(KeystoreError) as info:
        build(wanted.model_copy(update={"seal_algorithms": "sm2,ec-p256"}))
    assert info.value.code == "algorithm_not_supported_by_keystore"


def test_locked_or_absent_token_is_a_clear_error(settings: Settings, softhsm) -> None:  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    wrong = _settings(settings, softhsm, SecretStr("not-the-pin"))  # type: ignore[arg-type]
    wrong = wrong.model_copy(update={"pkcs11_token_label": softhsm.spare_label})
    with pytest.raises(KeystoreUnavailable) as info:
        build(wrong)
    assert info.value.code == "keystore_unavailable"
    assert "not-the-pin" not in info.value.detail
    absent = wrong.model_copy(update={"pkcs11_token_label": "no-such-token"})
    with pytest.raises(KeystoreUnavailable):
        build(absent)
