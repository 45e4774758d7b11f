"""Seal key types a server may be started with."""

import pytest
from pydantic import ValidationError

from api.settings import Settings
from keystore.base import KeyAlgorithm


def test_sm2_is_not_an_international_key_type_and_says_where_sm2_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESEAL_KEY_ALGORITHM", "sm2")
    with pytest.raises(ValidationError, match="ESEAL_PDF_SIGN_ALGORITHM=sm2"):
        Settings()


def test_the_pdf_signing_key_defaults_to_the_international_one_and_may_be_sm2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ESEAL_SEAL_ALGORITHMS", "ESEAL_KEY_ALGORITHM", "ESEAL_PDF_SIGN_ALGORITHM"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().pdf_sign_algorithm is None
    monkeypatch.setenv("ESEAL_PDF_SIGN_ALGORITHM", "sm2")
    assert Settings().pdf_sign_algorithm is KeyAlgorithm.SM2
    # a key the seals do not have is refused at start-up, not at the first sealing
    monkeypatch.setenv("ESEAL_SEAL_ALGORITHMS", "ec-p256")
    with pytest.raises(ValidationError, match="not among the seals' keys"):
        Settings()
    monkeypatch.setenv("ESEAL_SEAL_ALGORITHMS", "sm2,ec-p256")
    monkeypatch.setenv("ESEAL_PDF_SIGN_ALGORITHM", "rsa-2048")
    with pytest.raises(ValidationError, match="not among the seals' keys"):
        Settings()


@pytest.mark.parametrize("name", ["ec-p256", "rsa-2048", "rsa-3072"])
def test_pdf_key_types_are_accepted(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("ESEAL_KEY_ALGORITHM", name)
    assert Settings().key_algorithm is KeyAlgorithm(name)


def test_seal_algorithms_default_to_sm2_beside_ecdsa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESEAL_SEAL_ALGORITHMS", raising=False)
    monkeypatch.delenv("ESEAL_KEY_ALGORITHM", raising=False)
    s = Settings()
    assert s.seal_algorithms == "sm2,ec-p256" and s.sm2_seals
    assert s.key_algorithm is KeyAlgorithm.EC_P256


@pytest.mark.parametrize(
    ("seal", "key", "algorithms", "key_type"),
    [
        (" EC-P256 ", None, "ec-p256", KeyAlgorithm.EC_P256),  # no SM2 certificates
        ("sm2,rsa-2048", None, "sm2,rsa-2048", KeyAlgorithm.RSA_2048),  # the list decides
        (None, "rsa-3072", "sm2,rsa-3072", KeyAlgorithm.RSA_3072),  # the key type decides
        ("rsa-2048,sm2,sm2", "rsa-2048", "rsa-2048,sm2", KeyAlgorithm.RSA_2048),
    ],
)
def test_seal_algorithms_and_the_key_type_agree(
    monkeypatch: pytest.MonkeyPatch,
    seal: str | None,
    key: str | None,
    algorithms: str,
    key_type: KeyAlgorithm,
) -> None:
    for name, value in (("ESEAL_SEAL_ALGORITHMS", seal), ("ESEAL_KEY_ALGORITHM", key)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    s = Settings()
    assert (s.seal_algorithms, s.key_algorithm) == (algorithms, key_type)
    assert s.sm2_seals is ("sm2" in algorithms)


@pytest.mark.parametrize(
    ("seal", "key", "message"),
    [
        ("sm2", None, "exactly one international key type"),
        ("sm2,ec-p256,rsa-2048", None, "exactly one international key type"),
        ("sm2,ed25519", None, "unknown seal algorithm"),
        ("sm2,ec-p256", "rsa-2048", "ESEAL_SEAL_ALGORITHMS names ec-p256"),
    ],
)
def test_bad_seal_algorithms_are_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, seal: str, key: str | None, message: str
) -> None:
    monkeypatch.setenv("ESEAL_SEAL_ALGORITHMS", seal)
    if key is None:
        monkeypatch.delenv("ESEAL_KEY_ALGORITHM", raising=False)
    else:
        monkeypatch.setenv("ESEAL_KEY_ALGORITHM", key)
    with pytest.raises(ValidationError, match=message):
        Settings()
