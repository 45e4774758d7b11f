"""The PKCS#11 key store against a real SoftHSM2 token."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from keystore.base import KeyAlgorithm, KeyStore
from keystore.errors import KeystoreError, KeystoreUnavailable
from keystore.pkcs11 import Pkcs11KeyStore, Pkcs11TokenSigner

pytestmark = [pytest.mark.softhsm, pytest.mark.slow]

ALGORITHMS = [KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def store(softhsm) -> Pkcs11KeyStore:
    store = Pkcs11KeyStore(softhsm.module, softhsm.token_label, softhsm.user_pin)
    store.check()
    return store


@pytest.fixture
def scope() -> str:
    return f"t{secrets.token_hex(4)}"


def _crypto_public_key(store: Pkcs11KeyStore, key_ref: str):
    return serialization.load_der_public_key(store.public_key(key_ref).dump())


def _verify(public_key, signature: bytes, data: bytes) -> None:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def _signer(store, throwaway_ca, key_ref: str) -> Pkcs11TokenSigner:
    cert = throwaway_ca.issue(store.public_key(key_ref), "测试有限公司·合同专用章")
    return store.signer(key_ref, cert, [throwaway_ca.certificate])


def _blank_pdf() -> BytesIO:
    writer = PdfFileWriter()
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)]
            ),
            generic.NameObject("/Resources"): generic.DictionaryObject(),
            generic.NameObject("/Contents"): writer.add_object(
                generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td ET")
            ),
        }
    )
    writer.insert_page(page)
    out = BytesIO()
    writer.write(out)
    out.seek(0)
    return out


def _assert_pin_hidden(error: KeystoreError, pin: str) -> None:
    assert pin not in str(error)
    assert pin not in error.detail
    assert pin not in repr(error.to_problem())


# -- key generation -----------------------------------------------------------------------


def test_store_satisfies_the_protocol(store):
    assert isinstance(store, KeyStore)
    assert store.backend == "pkcs11"


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
def test_generate_and_public_key(store, scope, algorithm):
    key_ref = store.generate(scope, "contract", algorithm)
    assert key_ref == f"pkcs11:{scope}/contract"

    info = store.public_key(key_ref)
    public = serialization.load_der_public_key(info.dump())
    if algorithm is KeyAlgorithm.EC_P256:
        assert info.algorithm == "ec"
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == "secp256r1"
    else:
        assert info.algorithm == "rsa"
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == 2048
        assert public.public_numbers().e == 65537


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
def test_private_key_is_sensitive_non_extractable_sign_only(store, scope, algorithm):
    key_ref = store.generate(scope, "official", algorithm)
    attributes = store.key_attributes(key_ref)
    assert attributes["extractable"] is False
    assert attributes["never_extractable"] is True
    assert attributes["sensitive"] is True
    assert attributes["always_sensitive"] is True
    assert attributes["token"] is True
    assert attributes["private"] is True
    assert attributes["sign"] is True
    assert attributes["decrypt"] is False
    assert attributes["unwrap"] is False
    assert attributes["derive"] is False


def test_duplicate_label_is_refused(store, scope):
    key_ref = store.generate(scope, "finance", KeyAlgorithm.EC_P256)
    before = store.public_key(key_ref).dump()
    with pytest.raises(KeystoreError) as caught:
        store.generate(scope, "finance", KeyAlgorithm.RSA_2048)
    assert caught.value.code == "key_exists"
    assert store.public_key(key_ref).dump() == before


def test_delete_destroys_both_objects_and_ignores_missing(store, scope):
    key_ref = store.generate(scope, "invoice", KeyAlgorithm.EC_P256)
    store.delete(key_ref)
    for lookup in (store.public_key, store.key_attributes):
        with pytest.raises(KeystoreError) as caught:
            lookup(key_ref)
        assert caught.value.code == "key_not_found"
    store.delete(key_ref)  # missing: fine
    store.delete(f"pkcs11:{scope}/never-existed")
    # the label is free again
    assert store.generate(scope, "invoice", KeyAlgorithm.EC_P256) == key_ref


def test_delete_scope(store, scope):
    refs = [store.generate(scope, kind, KeyAlgorithm.EC_P256) for kind in ("a", "b")]
    other = store.generate(f"{scope}x", "a", KeyAlgorithm.EC_P256)
    store.delete_scope(scope)
    for key_ref in refs:
        with pytest.raises(KeystoreError):
            store.public_key(key_ref)
    store.public_key(other)


@pytest.mark.parametrize(
    "bad", ["soft:a/b", "pkcs11:a", "pkcs11:a/b/c", "pkcs11:../b", "pkcs11:a/", "pkcs11:a/b c"]
)
def test_invalid_key_refs(store, bad):
    with pytest.raises(KeystoreError) as caught:
        store.public_key(bad)
    assert caught.value.code in {"invalid_key_ref", "invalid_key_name"}


def test_invalid_names_are_refused(store):
    with pytest.raises(KeystoreError) as caught:
        store.generate("a/b", "c", KeyAlgorithm.EC_P256)
    assert caught.value.code == "invalid_key_name"


def test_keys_persist_on_the_token(store, scope, softhsm):
    """A fresh process (a restarted server) sees the key under the same reference."""
    key_ref = store.generate(scope, "legal_rep", KeyAlgorithm.EC_P256)
    program = (
        "import sys\n"
        "from keystore.pkcs11 import Pkcs11KeyStore\n"
        "store = Pkcs11KeyStore(sys.argv[1], sys.argv[2], sys.argv[3])\n"
        "sys.stdout.write(store.public_key(sys.argv[4]).dump().hex())\n"
    )
    args = (softhsm.module, softhsm.token_label, softhsm.user_pin, key_ref)
    result = subprocess.run(
        [sys.executable, "-c", program, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == store.public_key(key_ref).dump().hex()


# -- signing ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
async def test_raw_signature_verifies(store, scope, throwaway_ca, algorithm):
    key_ref = store.generate(scope, "contract", algorithm)
    signer = _signer(store, throwaway_ca, key_ref)
    signature = await signer.async_sign_raw(b"data", "sha256")
    _verify(_crypto_public_key(store, key_ref), signature, b"data")
    # the synchronous path signs on the token too
    _verify(_crypto_public_key(store, key_ref), signer.sign_raw(b"more", "sha256"), b"more")


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.value)
async def test_signed_pdf_validates(store, scope, throwaway_ca, algorithm):
    key_ref = store.generate(scope, "official", algorithm)
    signer = _signer(store, throwaway_ca, key_ref)
    pdf_signer = PdfSigner(
        PdfSignatureMetadata(field_name="Seal1", md_algorithm="sha256", reason="测试"),
        signer=signer,
    )
    signed = await pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(_blank_pdf()))

    reader = PdfFileReader(signed)
    (embedded,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=[throwaway_ca.certificate], allow_fetching=False)
    status = await async_validate_pdf_signature(embedded, context)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.bottom_line
    assert status.signing_cert.dump() == signer.signing_cert.dump()


async def test_concurrent_signatures(store, scope, throwaway_ca):
    ec_ref = store.generate(scope, "ec", KeyAlgorithm.EC_P256)
    rsa_ref = store.generate(scope, "rsa", KeyAlgorithm.RSA_2048)
    signers = {ref: _signer(store, throwaway_ca, ref) for ref in (ec_ref, rsa_ref)}
    publics = {ref: _crypto_public_key(store, ref) for ref in signers}
    jobs = [((ec_ref, rsa_ref)[n % 2], f"document {n}".encode()) for n in range(10)]

    # ten at once on the event loop (each runs its token call in the executor)
    signatures = await asyncio.gather(
        *(signers[ref].async_sign_raw(data, "sha256") for ref, data in jobs)
    )
    for (ref, data), signature in zip(jobs, signatures, strict=True):
        _verify(publics[ref], signature, data)

    # and ten from plain threads
    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(signers[ref].sign_raw, data, "sha256") for ref, data in jobs]
        for (ref, data), future in zip(jobs, futures, strict=True):
            _verify(publics[ref], future.result(timeout=60), data)


async def test_signer_survives_a_lost_session(store, scope, throwaway_ca):
    key_ref = store.generate(scope, "contract", KeyAlgorithm.EC_P256)
    signer = _signer(store, throwaway_ca, key_ref)
    public = _crypto_public_key(store, key_ref)
    _verify(public, await signer.async_sign_raw(b"one", "sha256"), b"one")
    store._token().drop()  # as if the token had been pulled and put back
    _verify(public, await signer.async_sign_raw(b"two", "sha256"), b"two")
    store.check()


async def test_signer_of_a_deleted_key_fails_cleanly(store, scope, throwaway_ca):
    key_ref = store.generate(scope, "contract", KeyAlgorithm.EC_P256)
    signer = _signer(store, throwaway_ca, key_ref)
    await signer.async_sign_raw(b"one", "sha256")
    store.delete(key_ref)
    with pytest.raises(KeystoreError) as caught:
        await signer.async_sign_raw(b"two", "sha256")
    assert caught.value.code == "key_not_found"


def test_signer_refuses_a_certificate_for_another_key(store, scope, throwaway_ca):
    key_ref = store.generate(scope, "a", KeyAlgorithm.EC_P256)
    other_ref = store.generate(scope, "b", KeyAlgorithm.EC_P256)
    cert = throwaway_ca.issue(store.public_key(other_ref), "other")
    with pytest.raises(KeystoreError) as caught:
        store.signer(key_ref, cert, [throwaway_ca.certificate])
    assert caught.value.code == "certificate_mismatch"


def test_signer_of_a_missing_key(store, scope, throwaway_ca):
    other_ref = store.generate(scope, "b", KeyAlgorithm.EC_P256)
    cert = throwaway_ca.issue(store.public_key(other_ref), "other")
    with pytest.raises(KeystoreError) as caught:
        store.signer(f"pkcs11:{scope}/missing", cert, [])
    assert caught.value.code == "key_not_found"


# -- an unusable token --------------------------------------------------------------------


def test_wrong_pin_on_a_token_not_yet_logged_in(softhsm):
    wrong = "wrong-pin-55555"
    bad = Pkcs11KeyStore(softhsm.module, softhsm.spare_label, wrong)
    for _ in range(2):  # the second refusal comes without asking the token again
        with pytest.raises(KeystoreUnavailable) as caught:
            bad.check()
        assert caught.value.code == "keystore_unavailable"
        assert "PIN is wrong" in caught.value.detail
        _assert_pin_hidden(caught.value, wrong)
    with pytest.raises(KeystoreUnavailable):
        bad.generate("x", "y", KeyAlgorithm.EC_P256)
    # the right PIN still opens it
    Pkcs11KeyStore(softhsm.module, softhsm.spare_label, softhsm.user_pin).check()


def test_wrong_pin_on_a_token_already_logged_in(store, softhsm, scope):
    wrong = "another-wrong-pin-1"
    bad = Pkcs11KeyStore(softhsm.module, softhsm.token_label, wrong)
    with pytest.raises(KeystoreUnavailable) as caught:
        bad.check()
    _assert_pin_hidden(caught.value, wrong)
    with pytest.raises(KeystoreUnavailable) as caught:
        bad.public_key(store.generate(scope, "k", KeyAlgorithm.EC_P256))
    _assert_pin_hidden(caught.value, wrong)
    store.check()  # the good store is unaffected


def test_absent_token(softhsm):
    absent = Pkcs11KeyStore(softhsm.module, "no-such-token", softhsm.user_pin)
    with pytest.raises(KeystoreUnavailable) as caught:
        absent.check()
    assert "no-such-token" in caught.value.detail
    _assert_pin_hidden(caught.value, softhsm.user_pin)
    with pytest.raises(KeystoreUnavailable):
        absent.generate("x", "y", KeyAlgorithm.EC_P256)


def test_module_that_cannot_be_loaded(softhsm, tmp_path):
    missing = tmp_path / "libmissing-pkcs11.so"
    store = Pkcs11KeyStore(str(missing), softhsm.token_label, softhsm.user_pin)
    with pytest.raises(KeystoreUnavailable) as caught:
        store.check()
    _assert_pin_hidden(caught.value, softhsm.user_pin)


def test_repr_does_not_show_the_pin(store, softhsm):
    assert softhsm.user_pin not in repr(store)
