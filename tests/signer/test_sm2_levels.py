"""Sealing with a seal's SM2 key through the signer layer, at B-B, B-T, B-LT and B-LTA.

``SealingOptions(algorithm=sm2)`` signs with the seal's SM2 key: CMS with SM3 and
SM2-with-SM3, the signature timestamp from the SM2 TSA (SM3 imprint, SM2 policy, SM2-signed),
at B-LT the SM2 chain, the SM2 TSA's chain, OCSP answers of the SM2 responder and the SM2
root's CRL, at B-LTA an SM2 document timestamp.  Independent checks:

* eseal's verifier: valid, ``algorithm`` sm2, the timestamp, the level; B-LT offline with no
  responder and no socket opened;
* pyHanko's validator with :data:`signer.sm2_cms.SIGNATURE_VALIDATOR`, hard-fail on the
  document's own validation data, and its EN 319 102-1 LTA validation of the B-LTA file;
* Bouncy Castle: the seal's CMS (``SmCheck cms``), the signature and document timestamp
  tokens (``TspCheck tsp``);
* OpenSSL: SM3 of the signature value is the token's imprint, and the token's SM2 signature
  over its signed attributes verifies with the default user id;
* poppler's ``pdfsig`` reads the file and names the seal, and says it cannot check SM2.

The objects are wired here as the container is to wire them (:func:`sm2_sealing`).
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, tsp
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from interop.smcheck import SmCheck, compile_smcheck
from interop.tspcheck import TspCheck, compile_tspcheck
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager

from api.container import Container, build
from api.settings import Settings
from helpers import USCC, license_data, require_tool
from keystore import sm2
from keystore.base import KeyAlgorithm
from keystore.errors import ErrorKind, EsealError
from keystore.tsa import SM2_TSA_POLICY, TimeStampResp
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from seals.model import RevocationReason
from signer.core import DocumentSigner
from signer.extension import last_timestamp
from signer.levels import PadesLevel
from signer.revocation import InternalRevocation, Sm2Revocation
from signer.service import SealingOptions, SealingService, SealOrder
from signer.sm2_cms import SIGNATURE_VALIDATOR
from signer.sm2_signers import Sm2SealSigners
from signer.sm2_timestamp import sm2_timestamper
from signer.verify import Verifier

SM2 = KeyAlgorithm.SM2
LEVELS = list(PadesLevel)
SM2_TSA_NAME = "Common Name: eseal SM2 TSA, Organization: eseal, Country: CN"


# -- wiring (what api/container.py is to do) -------------------------------------------------


@dataclass
class Sm2World:
    c: Container
    revocation: InternalRevocation
    signer: DocumentSigner
    sealing: SealingService
    pems: Path

    def pem(self, role: str) -> Path:
        return self.pems / f"{role}.pem"

    async def seal(self, level: PadesLevel) -> bytes:
        out, _ = await self.sealing.seal(
            USCC,
            simple_pdf(pages=2),
            SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=level, algorithm=SM2),
        )
        return out


def sm2_sealing(c: Container) -> tuple[InternalRevocation, DocumentSigner, SealingService]:
    """The revocation source, document signer and sealing service of a container, with SM2."""
    revocation = InternalRevocation(
        c.pki,
        c.seals.certificate_status,
        revoked=c.seals.revoked_certificates,
        sm2=Sm2Revocation(
            c.sm2_pki, c.seals.sm2_certificate_status, revoked=c.seals.sm2_revoked_certificates
        ),
    )
    signer = DocumentSigner(
        revocation,
        c.tsa.timestamper(),
        tsa_certificates=[c.tsa.certificate],
        sm2_timestamper=sm2_timestamper(c.tsa),
        sm2_tsa_certificates=[c.sm2_pki.certificate("tsa")],
    )
    sealing = SealingService(
        c.seals, signer, sm2_signers=Sm2SealSigners(c.soft_keys, c.sm2_pki.chain())
    )
    return revocation, signer, sealing


def _world(c: Container, pems: Path) -> Sm2World:
    c.seals.register(parse_license(license_data()))
    pems.mkdir(exist_ok=True)
    for role in ("root", "issuing", "tsa"):
        (pems / f"{role}.pem").write_bytes(
            asn1_pem.armor("CERTIFICATE", c.sm2_pki.certificate(role).dump())
        )
    return Sm2World(c, *sm2_sealing(c), pems)


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> Iterator[Sm2World]:
    """One enterprise, sealed at every level once; the tests read, they do not revoke."""
    data = tmp_path_factory.mktemp("sm2-levels") / "data"
    shutil.copytree(_initialised_template, data)
    c = build(Settings(data_dir=data, public_url="http://127.0.0.1:8000"))
    yield _world(c, data.parent / "pems")
    c.close()


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Sm2World:
    """A world of its own, for tests that revoke."""
    return _world(container, tmp_path / "pems")


@pytest.fixture(scope="module")
async def sealed(shared: Sm2World) -> dict[PadesLevel, bytes]:
    return {level: await shared.seal(level) for level in LEVELS}


@pytest.fixture(scope="module")
def bouncy_castle(tmp_path_factory: pytest.TempPathFactory) -> SmCheck:
    return compile_smcheck(tmp_path_factory.mktemp("smcheck"))


# -- reading the files -------------------------------------------------------------------------


def _reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf))


def _seal_signature(pdf: bytes) -> Any:
    (sig,) = _reader(pdf).embedded_regular_signatures
    return sig


def _signature_token(pdf: bytes) -> cms.ContentInfo:
    info = _seal_signature(pdf).signer_info
    (token,) = [
        a["values"][0]
        for a in info["unsigned_attrs"]
        if a["type"].native == "signature_time_stamp_token"
    ]
    return token


async def _past_the_timestamp(pdf: bytes) -> None:
    """Wait until a status change made now is provably after the seal's timestamp: past its
    second, its 1 s accuracy, and the second a revocation time is recorded in (a condition
    on the wall clock the revocation is dated by, not a fixed pause)."""
    token = _signature_token(pdf)["content"]
    stamped = token["encap_content_info"]["content"].parsed["gen_time"].native
    past = stamped + timedelta(seconds=2.05)
    while (left := (past - datetime.now(UTC)).total_seconds()) > 0:
        await asyncio.sleep(left)


def _covered(pdf: bytes, sig: Any) -> bytes:
    a, b, c, d = (int(v) for v in sig.byte_range)
    return pdf[a : a + b] + pdf[c : c + d]


def _revision_of(pdf: bytes, sig: Any) -> bytes:
    """The file as it was when ``sig`` was made (its byte range ends the revision)."""
    _, _, c, d = (int(v) for v in sig.byte_range)
    return pdf[: c + d]


def _dss(pdf: bytes) -> tuple[list[asn1_ocsp.OCSPResponse], list[asn1_crl.CertificateList]]:
    dss = _reader(pdf).root["/DSS"]
    ocsps = [asn1_ocsp.OCSPResponse.load(r.get_object().data) for r in dss.get("/OCSPs", [])]
    crls = [asn1_crl.CertificateList.load(r.get_object().data) for r in dss.get("/CRLs", [])]
    return ocsps, crls


def _basic(response: asn1_ocsp.OCSPResponse) -> asn1_ocsp.BasicOCSPResponse:
    basic: asn1_ocsp.BasicOCSPResponse = response["response_bytes"]["response"].parsed
    return basic


def _content_info(signed_data: cms.SignedData) -> cms.ContentInfo:
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


def _token_file(path: Path, token: cms.ContentInfo) -> Path:
    """A granted RFC 3161 response around ``token``, as TspCheck reads them."""
    path.write_bytes(
        TimeStampResp(
            {"status": tsp.PKIStatusInfo({"status": "granted"}), "time_stamp_token": token}
        ).dump()
    )
    return path


# -- eseal's verifier ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS, ids=[lv.value for lv in LEVELS])
async def test_eseal_verifier_says_valid_sm2_at_every_level(
    shared: Sm2World, sealed: dict[PadesLevel, bytes], level: PadesLevel
) -> None:
    report = await shared.c.verifier.verify(sealed[level], USCC)
    assert report["valid"], report
    assert report["problems"] == [] and report["notices"] == []
    seal, *stamps = report["signatures"]
    assert seal["type"] == "signature" and seal["algorithm"] == "sm2"
    assert seal["level"] == level.value
    assert (seal["integrity"], seal["trusted"]) == ("ok", True)
    assert seal["enterprise"]["uscc"] == USCC and seal["seal"]["kind"] == "contract"
    sm2_cert = shared.c.seals.seal(USCC, SealKind.CONTRACT).sm2_serial
    assert seal["certificate"]["serial"] == format(sm2_cert, "x")
    if level is PadesLevel.B_B:
        assert seal["timestamp"] is None and seal["time_source"] == "claimed"
    else:
        assert seal["timestamp"]["valid"] and seal["timestamp"]["tsa"] == SM2_TSA_NAME
        assert seal["time_source"] == "timestamp"
    if level is PadesLevel.B_LTA:
        (stamp,) = stamps
        assert stamp["type"] == "document_timestamp" and stamp["valid"]
        assert stamp["algorithm"] == "sm2" and stamp["timestamp"]["tsa"] == SM2_TSA_NAME
    else:
        assert stamps == []


class _Sockets:
    """Connections and name look-ups made while :attr:`watching` (a process audit hook,
    installed once: hooks cannot be removed, so this one records only while watching)."""

    def __init__(self) -> None:
        self.watching = False
        self.seen: list[tuple[str, Any]] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.watching and event in ("socket.connect", "socket.getaddrinfo"):
            self.seen.append((event, args))


@pytest.fixture(scope="module")
def sockets() -> _Sockets:
    return _Sockets()


async def test_b_lt_validates_offline_with_no_responder(
    shared: Sm2World, sealed: dict[PadesLevel, bytes], sockets: _Sockets
) -> None:
    """A verifier with no in-process responder and fetching off, watched for sockets: the
    document's own validation data makes it B-LT and valid."""
    c = shared.c
    offline = Verifier(
        c.seals,
        c.revocation.root,
        c.pki.chain()[0],
        extra_roots=[c.sm2_pki.certificate("root")],
        allow_fetching=False,
        sm2_issuing=c.sm2_pki.certificate("issuing"),
    )
    sockets.watching = True
    try:
        reports = [await offline.verify(sealed[lv]) for lv in (PadesLevel.B_LT, PadesLevel.B_LTA)]
    finally:
        sockets.watching = False
    assert sockets.seen == []
    for report, level in zip(reports, ("B-LT", "B-LTA"), strict=True):
        assert report["valid"], report
        assert report["signatures"][0]["level"] == level


# -- what the files carry -----------------------------------------------------------------------


def test_the_seal_and_its_timestamps_are_sm2_throughout(
    shared: Sm2World, sealed: dict[PadesLevel, bytes]
) -> None:
    seal_serial = shared.c.seals.seal(USCC, SealKind.CONTRACT).sm2_serial
    for level in LEVELS:
        sig = _seal_signature(sealed[level])
        info = sig.signer_info
        assert info["digest_algorithm"]["algorithm"].dotted == sm2.OID_SM3
        assert info["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
        assert sig.signer_cert.serial_number == seal_serial
        if level is PadesLevel.B_B:
            assert info["unsigned_attrs"].native is None
            continue
        token = _signature_token(sealed[level])["content"]
        tst_info = token["encap_content_info"]["content"].parsed
        imprint = tst_info["message_imprint"]
        # the imprint is SM3 of the signature value, under the SM2 policy, signed with SM2
        assert imprint["hash_algorithm"]["algorithm"].dotted == sm2.OID_SM3
        assert imprint["hashed_message"].native == sm2.sm3(info["signature"].native)
        assert tst_info["policy"].dotted == SM2_TSA_POLICY
        assert token["signer_infos"][0]["signature_algorithm"]["algorithm"].dotted == (
            sm2.OID_SM2_WITH_SM3
        )
    stamp = _reader(sealed[PadesLevel.B_LTA]).embedded_timestamp_signatures[0]
    tst_info = stamp.signed_data["encap_content_info"]["content"].parsed
    assert tst_info["message_imprint"]["hash_algorithm"]["algorithm"].dotted == sm2.OID_SM3
    assert tst_info["policy"].dotted == SM2_TSA_POLICY


@pytest.mark.parametrize("level", [PadesLevel.B_LT, PadesLevel.B_LTA], ids=["B-LT", "B-LTA"])
def test_long_term_data_is_the_sm2_hierarchys_alone(
    shared: Sm2World, sealed: dict[PadesLevel, bytes], level: PadesLevel
) -> None:
    """The seal's and the SM2 TSA's status from the SM2 responder, signed by the SM2 seal CA;
    the SM2 root's CRL for the seal CA; nothing of the ECDSA hierarchy."""
    sm2_pki = shared.c.sm2_pki
    ocsps, crls = _dss(sealed[level])
    seal_serial = shared.c.seals.seal(USCC, SealKind.CONTRACT).sm2_serial
    answered = set()
    for response in ocsps:
        basic = _basic(response)
        assert basic["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
        assert basic["certs"][0].dump() == sm2_pki.certificate("issuing").dump()
        for single in basic["tbs_response_data"]["responses"]:
            assert single["cert_status"].name == "good"
            answered.add(single["cert_id"]["serial_number"].native)
    assert answered == {seal_serial, sm2_pki.certificate("tsa").serial_number}
    assert [c.issuer.dump() for c in crls] == [sm2_pki.certificate("root").subject.dump()]
    assert crls[0]["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3


# -- pyHanko -----------------------------------------------------------------------------------


def _dss_context(reader: PdfFileReader, root: asn1_x509.Certificate) -> ValidationContext:
    """Only the SM2 root and what the document carries: hard-fail, nothing fetched."""
    return DocumentSecurityStore.read_dss(reader).as_validation_context(
        {
            "trust_roots": [root],
            "allow_fetching": False,
            "revocation_mode": "hard-fail",
            "signature_validator": SIGNATURE_VALIDATOR,
        }
    )


@pytest.mark.parametrize("level", [PadesLevel.B_LT, PadesLevel.B_LTA], ids=["B-LT", "B-LTA"])
async def test_pyhanko_validates_the_long_term_file_on_its_own_data(
    shared: Sm2World, sealed: dict[PadesLevel, bytes], level: PadesLevel
) -> None:
    root = shared.c.sm2_pki.certificate("root")
    reader = _reader(sealed[level])
    context = _dss_context(reader, root)
    status = await async_validate_pdf_signature(
        reader.embedded_regular_signatures[0], context, context
    )
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.md_algorithm == "sm3" and status.bottom_line
    ts = status.timestamp_validity
    assert ts is not None and (ts.intact, ts.valid, ts.trusted) == (True, True, True)
    assert ts.md_algorithm == "sm3"
    for stamp in reader.embedded_timestamp_signatures:
        stamp_status = await async_validate_pdf_timestamp(stamp, _dss_context(reader, root))
        assert (stamp_status.intact, stamp_status.valid, stamp_status.trusted) == (
            True,
            True,
            True,
        )


async def test_pyhanko_needs_revocation_data_a_b_t_file_does_not_carry(
    shared: Sm2World, sealed: dict[PadesLevel, bytes]
) -> None:
    """The contrast: hard-fail and offline, a B-T file's seal is not trusted (no SM2 OCSP
    answer anywhere), the B-LT one above is."""
    reader = _reader(sealed[PadesLevel.B_T])
    context = ValidationContext(
        trust_roots=[shared.c.sm2_pki.certificate("root")],
        allow_fetching=False,
        revocation_mode="hard-fail",
        signature_validator=SIGNATURE_VALIDATOR,
        ocsps=[],  # what the file carries: nothing
        crls=[],
    )
    status = await async_validate_pdf_signature(
        reader.embedded_regular_signatures[0], context, context
    )
    assert (status.intact, status.valid, status.trusted) == (True, True, False)


def test_pyhanko_ades_lta_validation_passes_the_b_lta_file(
    shared: Sm2World, sealed: dict[PadesLevel, bytes]
) -> None:
    """pyHanko's EN 319 102-1 LTA validation, revocation data required, local only."""
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[shared.c.sm2_pki.certificate("root")]),
        revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
        signature_validator=SIGNATURE_VALIDATOR,
    )
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )
    sig = _reader(sealed[PadesLevel.B_LTA]).embedded_regular_signatures[0]
    result = asyncio.run(ades_lta_validation(sig, spec))
    assert result.api_status is not None and result.api_status.bottom_line
    assert result.ades_subindic.status.name == "PASSED", result.ades_subindic
    assert result.signature_timestamp_status is not None
    assert result.signature_timestamp_status.ades_subindic.status.name == "PASSED"


# -- Bouncy Castle -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS, ids=[lv.value for lv in LEVELS])
def test_bouncy_castle_verifies_the_seals_cms(
    shared: Sm2World,
    sealed: dict[PadesLevel, bytes],
    bouncy_castle: SmCheck,
    level: PadesLevel,
    tmp_path: Path,
) -> None:
    """Byte range, SM3 digest, SM2 signature, signing-certificate-v2 and the chain to the SM2
    root, on the revision the seal signed (later revisions add the DSS and timestamps)."""
    pdf = sealed[level]
    revision = tmp_path / "revision.pdf"
    revision.write_bytes(_revision_of(pdf, _seal_signature(pdf)))
    done = bouncy_castle("cms", revision, shared.pem("root"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == (
        "cms OK: SM3WITHSM2, digest SM3, 3 certificates to CN=eseal SM2 Root CA,O=eseal,C=CN"
    )


@pytest.fixture(scope="module")
def tsp_check(tmp_path_factory: pytest.TempPathFactory) -> TspCheck:
    return compile_tspcheck(tmp_path_factory.mktemp("tspcheck"))


@pytest.mark.slow
def test_bouncy_castle_validates_the_signature_and_document_timestamps(
    shared: Sm2World, sealed: dict[PadesLevel, bytes], tsp_check: TspCheck, tmp_path: Path
) -> None:
    """Each token: SM2 signature, ESSCertIDv2 (SM3), the SM2 TSA's chain to the SM2 root,
    and its imprint the SM3 of what it stamps (the seal's signature value, the document)."""
    pdf = sealed[PadesLevel.B_LTA]
    chain = (shared.pem("tsa"), shared.pem("issuing"), shared.pem("root"))
    token = _signature_token(pdf)
    signature = tmp_path / "signature.bin"
    signature.write_bytes(_seal_signature(pdf).signer_info["signature"].native)
    done = tsp_check("tsp", _token_file(tmp_path / "sig.tsr", token), signature, *chain)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(
        "token OK: digest 1.2.156.10197.1.401, signature 1.2.156.10197.1.501"
    ), done.stdout
    stamp = _reader(pdf).embedded_timestamp_signatures[0]
    document = tmp_path / "document.bin"
    document.write_bytes(_covered(pdf, stamp))
    done = tsp_check(
        "tsp", _token_file(tmp_path / "doc.tsr", _content_info(stamp.signed_data)), document, *chain
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("token OK: digest 1.2.156.10197.1.401"), done.stdout
    # the wrong data: refused
    done = tsp_check("tsp", tmp_path / "sig.tsr", document, *chain)
    assert done.returncode == 1 and "not the SM3 digest" in done.stdout


# -- OpenSSL ----------------------------------------------------------------------------------


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def test_openssl_checks_the_signature_timestamp(
    shared: Sm2World, sealed: dict[PadesLevel, bytes], tmp_path: Path
) -> None:
    """SM3 of the seal's signature value is the imprint (``openssl dgst -sm3``), and the SM2
    TSA's signature over the token's signed attributes verifies with the default user id
    (``openssl pkeyutl -verify -pkeyopt distid:1234567812345678``), not with another."""
    pdf = sealed[PadesLevel.B_T]
    token = _signature_token(pdf)["content"]
    (tmp_path / "value.bin").write_bytes(_seal_signature(pdf).signer_info["signature"].native)
    digest = _openssl("dgst", "-sm3", "-r", tmp_path / "value.bin")
    imprint = token["encap_content_info"]["content"].parsed["message_imprint"]["hashed_message"]
    assert digest.stdout.split()[0] == imprint.native.hex()
    info = token["signer_infos"][0]
    (tmp_path / "attrs.der").write_bytes(info["signed_attrs"].untag().dump())
    (tmp_path / "attrs.sig").write_bytes(info["signature"].native)
    (tmp_path / "tsa.der").write_bytes(shared.c.sm2_pki.certificate("tsa").public_key.dump())
    verify = (
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        tmp_path / "tsa.der",
        "-rawin",
        "-digest",
        "sm3",
        "-in",
        tmp_path / "attrs.der",
        "-sigfile",
        tmp_path / "attrs.sig",
    )
    done = _openssl(*verify, "-pkeyopt", "distid:1234567812345678")
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stderr
    done = _openssl(*verify, "-pkeyopt", "distid:ALICE123@YAHOO.COM")
    assert done.returncode != 0


# -- poppler --------------------------------------------------------------------------------------


def test_pdfsig_reads_the_sm2_seal_and_says_it_cannot_check_it(
    shared: Sm2World, sealed: dict[PadesLevel, bytes], tmp_path: Path
) -> None:
    """poppler (NSS) parses the signature and names the seal, but knows neither SM3 nor SM2:
    "Unrecognized Hash ID", hash algorithm "unknown", "Unknown Validation Failure"; the SM2
    document timestamp it lists unverified."""
    require_tool("pdfsig")
    path = tmp_path / "lta.pdf"
    path.write_bytes(sealed[PadesLevel.B_LTA])
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    name = shared.c.seals.find_enterprise(USCC).license.name  # type: ignore[union-attr]
    assert re.search(r"Signature Field Name: eseal-contract-[0-9a-f]{8}", out), out
    assert f"Signer Certificate Common Name: {name}·合同专用章" in out
    assert "Signature Type: ETSI.CAdES.detached" in out
    assert "Signing Hash Algorithm: unknown" in out and "Unrecognized Hash ID" in out
    assert "Signature Validation: Unknown Validation Failure." in out
    assert "Signer Certificate Common Name: eseal SM2 TSA" in out
    assert "Signature is Valid" not in out


# -- extension, renewal, revocation ---------------------------------------------------------------


async def test_an_sm2_b_t_file_extends_to_b_lta_and_renews_with_sm2_stamps(
    shared: Sm2World, sealed: dict[PadesLevel, bytes]
) -> None:
    """Document timestamps over an SM2-sealed file are SM2 (SM3 imprint, SM2 TSA): the first
    follows the seal, a renewal the last document timestamp."""
    extended = await shared.signer.extend(sealed[PadesLevel.B_T], PadesLevel.B_LTA)
    renewed = await shared.signer.extender.renew(extended)
    report = await shared.c.verifier.verify(renewed, USCC)
    assert report["valid"], report
    seal, *stamps = report["signatures"]
    assert seal["level"] == "B-LTA" and seal["algorithm"] == "sm2"
    assert [(s["type"], s["algorithm"], s["valid"]) for s in stamps] == [
        ("document_timestamp", "sm2", True)
    ] * 2
    reader = _reader(renewed)
    for stamp in reader.embedded_timestamp_signatures:
        info = stamp.signed_data["encap_content_info"]["content"].parsed
        assert info["message_imprint"]["hash_algorithm"]["algorithm"].dotted == sm2.OID_SM3
    last = last_timestamp(renewed)
    assert last is not None and last.document and last.tsa == SM2_TSA_NAME


async def test_an_ecdsa_seal_gets_what_it_got_before(shared: Sm2World) -> None:
    """Through the same SM2-capable services, the default (the international key) at B-LTA:
    SHA-256 and ECDSA, the ECDSA TSA's timestamps, ECDSA OCSP answers and the ECDSA root's
    CRL; nothing of the SM2 hierarchy."""
    pdf, _ = await shared.sealing.seal(
        USCC,
        simple_pdf(),
        SealingOptions(seals=[SealOrder(SealKind.INVOICE)], level=PadesLevel.B_LTA),
    )
    report = await shared.c.verifier.verify(pdf, USCC)
    assert report["valid"], report
    assert [(s["type"], s["algorithm"]) for s in report["signatures"]] == [
        ("signature", "ec-p256"),
        ("document_timestamp", "ec-p256"),
    ]
    reader = _reader(pdf)
    for sig in reader.embedded_signatures:
        assert sig.signer_info["digest_algorithm"]["algorithm"].native == "sha256"
        assert sig.signer_info["signature_algorithm"]["algorithm"].native in (
            "sha256_ecdsa",
            "ecdsa",
        )
    ocsps, crls = _dss(pdf)
    assert {_basic(r)["signature_algorithm"]["algorithm"].native for r in ocsps} == {"sha256_ecdsa"}
    assert [c.issuer.dump() for c in crls] == [shared.revocation.root.subject.dump()]


async def test_an_ecdsa_seal_then_an_sm2_seal_both_long_term(shared: Sm2World) -> None:
    """One document, sealed B-LT with the ECDSA key, then B-LT with the SM2 key of another
    seal: each signature has its own hierarchy's validation data, both validate offline."""
    first, _ = await shared.sealing.seal(
        USCC,
        simple_pdf(),
        SealingOptions(seals=[SealOrder(SealKind.OFFICIAL)], level=PadesLevel.B_LT),
    )
    both, _ = await shared.sealing.seal(
        USCC,
        first,
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_LT, algorithm=SM2),
    )
    report = await shared.c.verifier.verify(both, USCC)
    assert report["valid"], report
    assert [(s["algorithm"], s["level"]) for s in report["signatures"]] == [
        ("ec-p256", "B-LT"),
        ("sm2", "B-LT"),
    ]
    ocsps, crls = _dss(both)
    algorithms = {_basic(r)["signature_algorithm"]["algorithm"].native for r in ocsps}
    assert algorithms == {"sha256_ecdsa", "sm2_sm3"}
    assert {c.issuer.dump() for c in crls} == {
        shared.revocation.root.subject.dump(),
        shared.c.sm2_pki.certificate("root").subject.dump(),
    }


async def test_a_revoked_sm2_seal_is_shown_revoked_since_signing_and_extends_with_its_crl(
    world: Sm2World,
) -> None:
    """Sealed B-T with SM2, then the seal revoked (key compromise, after the timestamp): the
    file stays valid with the notice; extension embeds the SM2 seal CA's CRL listing the SM2
    certificate, and the extended file validates at the time of its timestamp."""
    pdf = await world.seal(PadesLevel.B_T)
    seal = world.c.seals.seal(USCC, SealKind.CONTRACT)
    await _past_the_timestamp(pdf)
    world.c.seals.revoke_seal(
        USCC, SealKind.CONTRACT, "test", code=RevocationReason.KEY_COMPROMISE, actor="test"
    )
    world.revocation.forget(seal.serial)
    extended, found = await world.signer.extender.extend_reporting(pdf, PadesLevel.B_LTA)
    assert [(r.serial, r.reason) for r in found] == [(seal.sm2_serial, "key_compromise")]
    _, crls = _dss(extended)
    issuing = world.c.sm2_pki.certificate("issuing")
    (seal_ca_crl,) = [c for c in crls if c.issuer == issuing.subject]
    listed = {
        e["user_certificate"].native for e in seal_ca_crl["tbs_cert_list"]["revoked_certificates"]
    }
    assert seal.sm2_serial in listed
    for document in (pdf, extended):
        report = await world.c.verifier.verify(document, USCC)
        assert report["valid"], report
        entry = report["signatures"][0]
        assert entry["revoked"]["revoked"] and not entry["revoked"]["at_signing"]
        (notice,) = report["notices"]
        assert notice["code"] == "seal_revoked_since_signing"
        assert notice["reason"] == "key_compromise" and notice["seal"]["kind"] == "contract"
    assert report["signatures"][0]["validated_at"] is not None


async def test_the_notice_names_the_serial_of_the_certificate_that_signed(
    world: Sm2World,
) -> None:
    pdf = await world.seal(PadesLevel.B_T)
    seal = world.c.seals.seal(USCC, SealKind.CONTRACT)
    await _past_the_timestamp(pdf)
    world.c.seals.revoke_seal(
        USCC, SealKind.CONTRACT, "test", code=RevocationReason.SUPERSEDED, actor="test"
    )
    (notice,) = (await world.c.verifier.verify(pdf))["notices"]
    assert notice["seal"]["serial"] == format(seal.sm2_serial, "x")


async def test_a_revoked_sm2_seal_without_timestamp_cannot_be_extended(world: Sm2World) -> None:
    pdf = await world.seal(PadesLevel.B_B)
    world.c.seals.revoke_seal(
        USCC, SealKind.CONTRACT, "test", code=RevocationReason.SUPERSEDED, actor="test"
    )
    world.revocation.forget_all()
    with pytest.raises(EsealError) as refused:
        await world.signer.extend(pdf, PadesLevel.B_LT)
    assert refused.value.code == "extend_refused"
    sm2_serial = world.c.seals.seal(USCC, SealKind.CONTRACT).sm2_serial
    assert f"certificate {sm2_serial:x}" in refused.value.detail


# -- refusals -----------------------------------------------------------------------------------


async def test_a_seal_issued_without_sm2_is_refused_before_any_work(settings: Settings) -> None:
    """ESEAL_SEAL_ALGORITHMS=ec-p256: the seals have no SM2 key.  Asked for SM2, sealing is
    refused with ``algorithm_not_available`` (409) before the document is read; another
    international algorithm than the seal's is refused the same way."""
    c = build(settings.model_copy(update={"seal_algorithms": "ec-p256"}))
    try:
        c.seals.register(parse_license(license_data()))
        _, _, sealing = sm2_sealing(c)
        for algorithm, says in ((SM2, "has no SM2 key"), (KeyAlgorithm.RSA_2048, "not rsa-2048")):
            with pytest.raises(EsealError) as refused:
                await sealing.seal(
                    USCC,
                    b"not even a PDF",
                    SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], algorithm=algorithm),
                )
            assert refused.value.code == "algorithm_not_available"
            assert refused.value.kind is ErrorKind.CONFLICT
            assert says in refused.value.detail
        # the international key by name is the default's
        out, _ = await sealing.seal(
            USCC,
            simple_pdf(),
            SealingOptions(
                seals=[SealOrder(SealKind.CONTRACT)],
                level=PadesLevel.B_B,
                algorithm=KeyAlgorithm.EC_P256,
            ),
        )
        (entry,) = (await c.verifier.verify(out))["signatures"]
        assert entry["algorithm"] == "ec-p256" and entry["level"] == "B-B"
    finally:
        c.close()


async def test_without_sm2_signers_the_service_refuses_sm2(shared: Sm2World) -> None:
    plain = SealingService(shared.c.seals, shared.signer)
    with pytest.raises(EsealError) as refused:
        await plain.seal(
            USCC,
            simple_pdf(),
            SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], algorithm=SM2),
        )
    assert refused.value.code == "algorithm_not_available"


async def test_an_sm2_seal_above_b_b_needs_the_sm2_tsa(shared: Sm2World) -> None:
    """No SM2 timestamper configured: B-T with SM2 is ``tsa_unavailable``, never an ECDSA
    token on an SM2 seal; B-B still works."""
    no_tsa = DocumentSigner(
        shared.revocation, shared.c.tsa.timestamper(), tsa_certificates=[shared.c.tsa.certificate]
    )
    sealing = SealingService(
        shared.c.seals,
        no_tsa,
        sm2_signers=Sm2SealSigners(shared.c.soft_keys, shared.c.sm2_pki.chain()),
    )
    options = SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], algorithm=SM2)
    with pytest.raises(EsealError) as refused:
        await sealing.seal(USCC, simple_pdf(), options)
    assert refused.value.code == "tsa_unavailable"
    out, _ = await sealing.seal(
        USCC,
        simple_pdf(),
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], algorithm=SM2, level=PadesLevel.B_B),
    )
    assert (await shared.c.verifier.verify(out))["valid"]


async def test_the_sm2_timestamper_refuses_an_ecdsa_token(shared: Sm2World) -> None:
    """A TSA that answers an SM2 request with an ECDSA token (here: the built-in TSA asked
    by imprint alone, with SHA-256) is refused with ``tsa_not_sm2``."""
    from signer.sm2_timestamp import Sm2TimeStamper

    by_imprint = Sm2TimeStamper(shared.c.tsa.timestamper(), policy=None)
    with pytest.raises(EsealError) as refused:
        await by_imprint.async_timestamp(b"\x00" * 32, "sha256")
    assert refused.value.code == "tsa_not_sm2"
    token = await by_imprint.async_timestamp(sm2.sm3(b"data"), sm2.NAME_SM3)
    assert token["content"]["signer_infos"][0]["signature_algorithm"]["algorithm"].dotted == (
        sm2.OID_SM2_WITH_SM3
    )


async def test_the_default_signing_key_is_the_international_one_unless_configured_sm2(
    shared: Sm2World,
) -> None:
    """``ESEAL_PDF_SIGN_ALGORITHM`` (the service's default): a request that names no
    algorithm signs with the international key, or with SM2 where SM2 is the default; a
    request that names one gets it either way."""
    signers = Sm2SealSigners(shared.c.soft_keys, shared.c.sm2_pki.chain())
    plain = SealingService(shared.c.seals, shared.signer, sm2_signers=signers)
    national = SealingService(
        shared.c.seals, shared.signer, sm2_signers=signers, default_algorithm=SM2
    )
    unnamed = SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_B)
    named = SealingOptions(
        seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_B, algorithm=KeyAlgorithm.EC_P256
    )
    for sealing, options, algorithm in (
        (plain, unnamed, "ec-p256"),
        (national, unnamed, "sm2"),
        (national, named, "ec-p256"),
    ):
        out, _ = await sealing.seal(USCC, simple_pdf(), options)
        report = await shared.c.verifier.verify(out)
        assert report["valid"] is True
        assert report["signatures"][0]["algorithm"] == algorithm
