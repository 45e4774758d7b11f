"""PAdES B-B with SM2: pyHanko signs through signer.sm2_cms, and three implementations check it.

pyHanko's own validator (with :data:`signer.sm2_cms.SIGNATURE_VALIDATOR` registered in its
validation context), Bouncy Castle (``SmCheck cms``: byte range, SM3 digest, SM2 signature,
signing-certificate-v2, PKIX chain) and OpenSSL (SM3 of the byte range, the SM2 signature over
the signed attributes with the default user id) must agree on a sealed file, and all must
reject it once a byte changes.
"""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import algos, cms
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from interop.smcheck import SmCheck, compile_smcheck
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.sig_validate import SignatureValidationContext

from api.container import Container
from helpers import license_data, require_tool
from keystore import sm2
from keystore.base import KeyAlgorithm
from keystore.masterkey import MasterKey
from keystore.pki import SealSubject
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from signer.levels import PadesLevel
from signer.service import SealingOptions, SealOrder
from signer.sm2_cms import SIGNATURE_VALIDATOR, Sm2CmsSigner
from signer.verify import Verifier

USCC = "91110108551385082Q"
PAGE_TEXT = b"Contract page"


@dataclass(frozen=True)
class Sm2Seal:
    store: SoftKeyStore
    pki: Sm2Pki
    key_ref: str
    certificate: asn1_x509.Certificate
    root_pem: Path

    def signer(self) -> Sm2CmsSigner:
        return Sm2CmsSigner(self.store.sm2_signer(self.key_ref), self.certificate, self.pki.chain())


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> Sm2Seal:
    """An SM2 hierarchy and a contract seal of it, issued through the soft key store."""
    tmp = tmp_path_factory.mktemp("sm2-pades")
    store = SoftKeyStore(tmp / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    pki = Sm2Pki(store, tmp / "pki-sm2", "https://eseal.example.cn")
    pki.create()
    ref = store.generate(USCC, "contract", KeyAlgorithm.SM2)
    now = datetime.now(UTC)
    cert = pki.issue_seal_certificate(
        store.public_key(ref),
        SealSubject("北京测试科技有限公司", USCC, "合同专用章"),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=365),
    )
    root_pem = tmp / "root.pem"
    root_pem.write_bytes(asn1_pem.armor("CERTIFICATE", pki.certificate("root").dump()))
    return Sm2Seal(store, pki, ref, cert, root_pem)


@pytest.fixture(scope="module")
def bouncy_castle(tmp_path_factory: pytest.TempPathFactory) -> SmCheck:
    return compile_smcheck(tmp_path_factory.mktemp("smcheck"))


async def _seal_pdf(signer: Sm2CmsSigner, **meta: object) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(simple_pdf(text=PAGE_TEXT.decode())))
    pdf_signer = PdfSigner(
        PdfSignatureMetadata(field_name="Seal1", subfilter=SigSeedSubFilter.PADES, **meta),  # type: ignore[arg-type]
        signer,
    )
    out = await pdf_signer.async_sign_pdf(writer)
    return bytes(out.getvalue())


@pytest.fixture(scope="module")
async def sealed(seal: Sm2Seal) -> bytes:
    return await _seal_pdf(seal.signer())


async def _pyhanko_status(pdf: bytes, root: asn1_x509.Certificate) -> PdfSignatureStatus:
    context = ValidationContext(
        trust_roots=[root],
        signature_validator=SIGNATURE_VALIDATOR,
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    embedded = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    return await async_validate_pdf_signature(embedded, signer_validation_context=context)


def _signed_data(pdf: bytes) -> cms.SignedData:
    return PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0].signed_data


def _byte_range(pdf: bytes) -> tuple[int, int, int, int]:
    found = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    a, b, c, d = (int(v) for v in found[-1])
    return a, b, c, d


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _flip_in_page_text(pdf: bytes) -> bytes:
    changed = bytearray(pdf)
    changed[pdf.index(PAGE_TEXT)] ^= 0x01  # "Contract" -> "Bontract", inside the byte range
    return bytes(changed)


def _flip_in_signature(pdf: bytes) -> bytes:
    """One hex digit of the SM2 signature value in /Contents changed: the CMS still parses,
    the message digest still matches, the signature over the attributes does not."""
    value = bytes(_signed_data(pdf)["signer_infos"][0]["signature"].native).hex().upper()
    a, b, c, _ = _byte_range(pdf)
    at = pdf.index(value.encode(), a + b, c) + len(value) // 2
    changed = bytearray(pdf)
    changed[at] = ord("1") if changed[at] != ord("1") else ord("2")
    return bytes(changed)


# -- what the CMS says ---------------------------------------------------------------------


def test_cms_is_sm3_digest_sm2_with_sm3_signature_and_sm3_signing_certificate(
    seal: Sm2Seal, sealed: bytes
) -> None:
    reader = PdfFileReader(io.BytesIO(sealed))
    embedded = reader.embedded_signatures[0]
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    signed_data = embedded.signed_data
    info = signed_data["signer_infos"][0]
    assert [d["algorithm"].dotted for d in signed_data["digest_algorithms"]] == [sm2.OID_SM3]
    assert info["digest_algorithm"]["algorithm"].dotted == sm2.OID_SM3
    assert info["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    assert info["signature_algorithm"]["parameters"].native is None
    attrs = {a["type"].native: a["values"][0] for a in info["signed_attrs"]}
    # PAdES B-B: no signing-time attribute, a signing-certificate-v2 that names our certificate
    # by its SM3 hash, and a message digest that is SM3 of the byte range
    assert "signing_time" not in attrs
    cert_id = attrs["signing_certificate_v2"]["certs"][0]
    assert cert_id["hash_algorithm"]["algorithm"].dotted == sm2.OID_SM3
    assert cert_id["cert_hash"].native == sm2.sm3(seal.certificate.dump())
    a, b, c, d = _byte_range(sealed)
    assert attrs["message_digest"].native == sm2.sm3(sealed[a : a + b], sealed[c : c + d])
    # the chain travels in the CMS: seal certificate, seal CA, root
    carried = {cert.chosen.sha256 for cert in signed_data["certificates"]}
    assert carried == {seal.certificate.sha256, *(c.sha256 for c in seal.pki.chain())}
    # and the signature is the seal key's over the signed attributes
    sm2.Sm2PublicKey.from_spki(seal.certificate.public_key).verify(
        info["signature"].native, info["signed_attrs"].untag().dump()
    )


# -- pyHanko's validator with SM2 registered -----------------------------------------------


async def test_pyhanko_with_sm2_registered_says_intact_valid_trusted(
    seal: Sm2Seal, sealed: bytes
) -> None:
    status = await _pyhanko_status(sealed, seal.pki.certificate("root"))
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.md_algorithm == "sm3"
    assert status.signing_cert.sha256 == seal.certificate.sha256
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.bottom_line


async def test_pyhanko_rejects_a_changed_byte_and_a_changed_signature(
    seal: Sm2Seal, sealed: bytes
) -> None:
    root = seal.pki.certificate("root")
    status = await _pyhanko_status(_flip_in_page_text(sealed), root)
    assert status.intact is False and not status.bottom_line
    status = await _pyhanko_status(_flip_in_signature(sealed), root)
    assert status.intact is True and status.valid is False and not status.bottom_line


async def test_pyhanko_does_not_trust_the_seal_under_another_sm2_root(
    tmp_path: Path, sealed: bytes
) -> None:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    other = Sm2Pki(store, tmp_path / "other", "https://other.example.cn", organisation="other")
    other.create()
    status = await _pyhanko_status(sealed, other.certificate("root"))
    assert (status.intact, status.valid, status.trusted) == (True, True, False)


# -- Bouncy Castle -------------------------------------------------------------------------


@pytest.mark.slow
def test_bouncy_castle_verifies_the_cms_of_the_sealed_pdf(
    tmp_path: Path, seal: Sm2Seal, sealed: bytes, bouncy_castle: SmCheck
) -> None:
    done = bouncy_castle("cms", _write(tmp_path / "sealed.pdf", sealed), seal.root_pem)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == (
        "cms OK: SM3WITHSM2, digest SM3, 3 certificates to CN=eseal SM2 Root CA,O=eseal,C=CN"
    )


@pytest.mark.slow
def test_bouncy_castle_rejects_a_changed_byte_a_changed_signature_and_another_root(
    tmp_path: Path, seal: Sm2Seal, sealed: bytes, bouncy_castle: SmCheck
) -> None:
    done = bouncy_castle(
        "cms", _write(tmp_path / "t.pdf", _flip_in_page_text(sealed)), seal.root_pem
    )
    assert done.returncode == 1
    assert "message-digest attribute value does not match" in done.stdout
    done = bouncy_castle(
        "cms", _write(tmp_path / "s.pdf", _flip_in_signature(sealed)), seal.root_pem
    )
    assert done.returncode == 1, done.stdout
    assert "the SM2 signature over the signed attributes does not verify" in done.stdout
    store = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    other = Sm2Pki(store, tmp_path / "other", "https://other.example.cn", organisation="other")
    other.create()
    other_root = _write(
        tmp_path / "other-root.pem", asn1_pem.armor("CERTIFICATE", other.certificate("root").dump())
    )
    done = bouncy_castle("cms", _write(tmp_path / "sealed.pdf", sealed), other_root)
    assert done.returncode == 1 and "CertPathBuilderException" in done.stdout, done.stdout


# -- OpenSSL -------------------------------------------------------------------------------


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def test_openssl_agrees_on_the_sm3_digest_and_the_sm2_signature(
    tmp_path: Path, seal: Sm2Seal, sealed: bytes
) -> None:
    """``openssl cms -verify`` cannot check these (it uses an empty SM2 id and takes none;
    README, National cryptography): the digest and the signature are checked one by one."""
    require_tool("openssl")
    info = _signed_data(sealed)["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in info["signed_attrs"]}
    a, b, c, d = _byte_range(sealed)
    covered = _write(tmp_path / "covered.bin", sealed[a : a + b] + sealed[c : c + d])
    done = _openssl("dgst", "-sm3", "-r", covered)
    assert done.stdout.split()[0] == attrs["message_digest"].native.hex()
    signed_attrs = _write(tmp_path / "attrs.der", info["signed_attrs"].untag().dump())
    signature = _write(tmp_path / "sig.der", info["signature"].native)
    pub = _write(
        tmp_path / "pub.pem", asn1_pem.armor("PUBLIC KEY", seal.certificate.public_key.dump())
    )
    verify = (
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pub,
        "-rawin",
        "-digest",
        "sm3",
        "-in",
        signed_attrs,
        "-sigfile",
        signature,
    )
    done = _openssl(*verify, "-pkeyopt", "distid:1234567812345678")
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout
    # with another id it does not verify: the default id is what we signed with
    done = _openssl(*verify, "-pkeyopt", "distid:ALICE123@YAHOO.COM")
    assert done.returncode != 0


# -- refusals ------------------------------------------------------------------------------


async def test_an_sm2_seal_refuses_another_digest(seal: Sm2Seal) -> None:
    with pytest.raises(SigningError, match="sm3"):
        await _seal_pdf(seal.signer(), md_algorithm="sha256")
    with pytest.raises(sm2.Sm2Error) as raised:
        await seal.signer().async_sign_raw(b"attributes", "sha256")
    assert raised.value.code == "sm2_digest_not_sm3"


def test_a_certificate_of_another_key_is_refused(seal: Sm2Seal) -> None:
    other = seal.store.generate(USCC, "other", KeyAlgorithm.SM2)
    with pytest.raises(sm2.Sm2Error) as raised:
        Sm2CmsSigner(seal.store.sm2_signer(other), seal.certificate, seal.pki.chain())
    assert raised.value.code == "certificate_key_mismatch"


# -- the validator on its own --------------------------------------------------------------


def test_validator_checks_sm2_strictly_and_passes_others_to_pyhanko(seal: Sm2Seal) -> None:
    message = b"signed attributes"
    sm2_key = seal.certificate.public_key
    sm2_sig = seal.store.sm2_signer(seal.key_ref).sign(message)
    sm2_with_sm3 = algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3"})
    sm2_1 = algos.SignedDigestAlgorithm({"algorithm": "sm2"})  # GB/T 35275: digest in context
    sm3_context = SignatureValidationContext(contextual_md_algorithm="sm3")
    SIGNATURE_VALIDATOR.validate_signature(sm2_sig, message, sm2_key, sm2_with_sm3)
    SIGNATURE_VALIDATOR.validate_signature(sm2_sig, message, sm2_key, sm2_1, sm3_context)
    refused = [
        (sm2_sig, message + b"!", sm2_key, sm2_with_sm3, sm3_context),
        (
            sm2_sig,
            message,
            sm2_key,
            sm2_1,
            SignatureValidationContext(contextual_md_algorithm="sha256"),
        ),
        (
            sm2_sig,
            message,
            sm2_key,
            algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            sm3_context,
        ),
        (
            sm2_sig,
            sm2.sm3(message),
            sm2_key,
            sm2_with_sm3,
            SignatureValidationContext(contextual_md_algorithm="sm3", prehashed=True),
        ),
    ]
    # an ECDSA key is checked by pyHanko as before, and an SM2 mechanism does not fit it
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_sig = ec_key.sign(message, ec.ECDSA(hashes.SHA256()))
    ec_info = asn1_keys.PublicKeyInfo.load(
        ec_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    sha256_ecdsa = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    SIGNATURE_VALIDATOR.validate_signature(ec_sig, message, ec_info, sha256_ecdsa)
    refused += [
        (ec_sig, message + b"!", ec_info, sha256_ecdsa, sm3_context),
        (ec_sig, message, ec_info, sm2_with_sm3, sm3_context),
    ]
    for signature, data, key, mechanism, context in refused:
        with pytest.raises(InvalidSignature):
            SIGNATURE_VALIDATOR.validate_signature(signature, data, key, mechanism, context)


# -- eseal's verifier ----------------------------------------------------------------------


async def test_eseal_verifier_validates_an_sm2_seal_and_names_the_algorithm(
    container: Container,
) -> None:
    """With the SM2 root among its anchors the verifier checks the SM2 signature and chain
    (before this it could not read the key: 'malformed_signature') and says ``algorithm``."""
    store, sm2_pki = container.soft_keys, container.sm2_pki
    ref = store.generate(USCC, "sm2-contract", KeyAlgorithm.SM2)
    now = datetime.now(UTC)
    cert = sm2_pki.issue_seal_certificate(
        store.public_key(ref),
        SealSubject("北京测试科技有限公司", USCC, "合同专用章"),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=365),
    )
    pdf = await _seal_pdf(Sm2CmsSigner(store.sm2_signer(ref), cert, sm2_pki.chain()))
    verifier = Verifier(
        container.seals,
        container.revocation.root,
        container.pki.chain()[0],
        extra_roots=[sm2_pki.certificate("root")],
    )
    (entry,) = (await verifier.verify(pdf))["signatures"]
    assert entry["algorithm"] == "sm2"
    assert (entry["integrity"], entry["intact"], entry["trusted"]) == ("ok", True, True), entry
    assert entry["level"] == "B-B"
    # a changed byte is broken for the verifier as well
    (entry,) = (await verifier.verify(_flip_in_page_text(pdf)))["signatures"]
    assert entry["integrity"] == "broken" and entry["intact"] is False
    # and ECDSA seals keep their name
    (entry,) = (await container.verifier.verify(await _ecdsa_sealed(container)))["signatures"]
    assert entry["algorithm"] == "ec-p256" and entry["trusted"] is True


async def _ecdsa_sealed(c: Container) -> bytes:
    c.seals.register(parse_license(license_data()))
    out, _ = await c.sealing.seal(
        USCC,
        simple_pdf(),
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_B),
    )
    return out
