"""Seal key types a server may be started with."""

import pytest
from pydantic import ValidationError

from api.settings import Settings
from keystore.base import KeyAlgorithm


def test_sm2_is_refused_as_the_seal_key_type_until_pdf_signing_supports_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESEAL_KEY_ALGORITHM", "sm2")
    with pytest.raises(ValidationError, match="sm2 is not yet available"):
        Settings()


@pytest.mark.parametrize("name", ["ec-p256", "rsa-2048", "rsa-3072"])
def test_pdf_key_types_are_accepted(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("ESEAL_KEY_ALGORITHM", name)
    assert Settings().key_algorithm is KeyAlgorithm(name)
