"""The verification report of DESIGN.md 3 on documents sealed by eseal, and ``eseal verify``.

Attacks are in test_attacks.py; here: what a genuine document's report says at every level,
``expect_uscc``, unsigned and non-PDF input, the CLI's exit codes, and what revocation and
license changes after (or before) signing do to the verdict.  The last test mutates the bytes
of a sealed PDF at random: the verifier must answer with a report or an :class:`EsealError`,
and never say valid when a signed byte changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, PdfTimeStamper
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from api.container import Container, build
from api.settings import Settings
from helpers import USCC, license_data
from keystore.errors import EsealError
from pdfs import simple_pdf
from seals.codes import ProblemCode
from seals.errors import LicenseNotActive, SealNotActive
from seals.kinds import SealKind
from seals.license import LicenseStatus, parse_license
from seals.vocab import SignatureType
from signer.core import InvalidPdf
from signer.levels import PadesLevel
from signer.report import SignatureReport, VerificationReport
from signer.service import SealingOptions, SealOrder
from signer.verify import Verifier

ROOT = Path(__file__).resolve().parents[2]
TWO_SEALS = (SealKind.CONTRACT, SealKind.LEGAL_REP)
OTHER_USCC = "91110000600037341L"  # valid, not registered

SIGNATURE_KEYS = {
    "field",
    "type",
    "integrity",
    "intact",
    "trusted",
    "revoked",
    "signing_time",
    "timestamp",
    "level",
    "coverage",
    "modifications",
    "seal",
    "enterprise",
    "problems",
    "valid",
}


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> Iterator[Container]:
    """One eseal instance for the tests that change no seal or license state."""
    data = tmp_path_factory.mktemp("verify") / "data"
    shutil.copytree(_initialised_template, data)
    c = build(Settings(data_dir=data, public_url="http://127.0.0.1:8000"))
    c.seals.register(parse_license(license_data()))
    yield c
    c.close()


@pytest.fixture
def sealing(container: Container) -> Container:
    container.seals.register(parse_license(license_data()))
    return container


async def seal(
    c: Container, pdf: bytes, level: PadesLevel, kinds: tuple[SealKind, ...] = TWO_SEALS
) -> bytes:
    out, used = await c.sealing.seal(
        USCC, pdf, SealingOptions(seals=[SealOrder(k) for k in kinds], level=level)
    )
    assert [s.kind for s in used] == list(kinds)
    return out


@pytest_asyncio.fixture(scope="module")
async def sealed(lab: Container) -> dict[PadesLevel, bytes]:
    """A two-page contract with the contract seal and the legal representative's seal."""
    return {level: await seal(lab, simple_pdf(2), level) for level in PadesLevel}


def seal_entries(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in report["signatures"] if e["type"] == "signature"]


def codes(report: dict[str, Any]) -> set[str]:
    out = {p["code"] for p in report["problems"]}
    for e in report["signatures"]:
        out |= {p["code"] for p in e["problems"]}
    return out


async def past_the_timestamp(entry: dict[str, Any] | list[dict[str, Any]]) -> None:
    """Wait until the timestamp's second and its 1 s accuracy are over, so that a status
    change made now is provably after the signature (after every one, given a list)."""
    entries = entry if isinstance(entry, list) else [entry]
    stamped = max(datetime.fromisoformat(e["timestamp"]["time"]) for e in entries)
    past = stamped + timedelta(seconds=1.05)
    # a condition on the wall clock the revocation is dated by, not a fixed pause: on a slow
    # machine the moment may be over already; asyncio sleeps by the monotonic clock, so
    # look at the wall clock again after each sleep
    while (left := (past - datetime.now(UTC)).total_seconds()) > 0:
        await asyncio.sleep(left)


# -- genuine documents ------------------------------------------------------------------------


@pytest.mark.parametrize("level", list(PadesLevel), ids=lambda lv: lv.value)
async def test_report_of_a_document_with_two_seals(
    lab: Container, sealed: dict[PadesLevel, bytes], level: PadesLevel
) -> None:
    pdf = sealed[level]
    report = await lab.verifier.verify(pdf, USCC)
    assert report["valid"] is True, report
    assert report["expect_uscc"] == USCC
    assert report["problems"] == []
    assert report["file"] == {
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "size": len(pdf),
        "pages": 2,
    }
    seals = seal_entries(report)
    assert len(seals) == 2
    records = {s.kind.value: s for s in lab.seals.seals(USCC)}
    enterprise = lab.seals.enterprise(USCC)
    for i, (entry, kind) in enumerate(zip(seals, TWO_SEALS, strict=True)):
        last = i == len(seals) - 1
        assert entry.keys() >= SIGNATURE_KEYS
        assert entry["valid"] is True and entry["problems"] == []
        assert entry["integrity"] == "ok" and entry["intact"] and entry["trusted"]
        assert entry["level"] == level.value
        # the last seal covers the whole file unless validation data or a document
        # timestamp came after it
        whole = last and level in (PadesLevel.B_B, PadesLevel.B_T)
        assert entry["coverage"] == ("entire_file" if whole else "earlier_revision")
        assert entry["modifications"] == ("none" if last else "later_signatures")
        record = records[kind.value]
        assert entry["seal"] == {
            "kind": kind.value,
            "label": record.label,
            "image_sha256": record.image_sha256,
            "version": 1,
        }
        assert entry["certificate"]["serial"] == format(record.serial, "x")
        assert entry["revoked"] == {
            "revoked": False,
            "at": None,
            "reason": None,
            "at_signing": False,
        }
        assert entry["enterprise"] | {"uscc_source": None, "certificate_name": None} == {
            "uscc": USCC,
            "uscc_source": None,
            "certificate_name": None,
            "name": enterprise.license.name,
            "license_status_now": "active",
            "license_status_at_signing": "active",
            "matches_registry": True,
        }
        assert entry["enterprise"]["uscc_source"] == "extension"
        assert entry["signing_time"] is not None
        if level is PadesLevel.B_B:
            assert entry["timestamp"] is None and entry["time_source"] == "claimed"
        else:
            ts = entry["timestamp"]
            assert ts["valid"] is True and "eseal TSA" in ts["tsa"]
            assert datetime.fromisoformat(ts["time"]) <= datetime.now(UTC)
            assert entry["time_source"] == "timestamp"
    doc_ts = [e for e in report["signatures"] if e["type"] == "document_timestamp"]
    assert len(doc_ts) == (1 if level is PadesLevel.B_LTA else 0)
    for entry in doc_ts:
        assert entry["valid"] and entry["timestamp"]["valid"]
        assert "eseal TSA" in entry["timestamp"]["tsa"]
    # document order: the timestamp comes last
    assert report["signatures"][: len(seals)] == seals


@pytest.mark.slow
async def test_extension_raises_the_level(lab: Container, sealed: dict[PadesLevel, bytes]) -> None:
    signer = lab.sealing.document_signer
    for target in (PadesLevel.B_LT, PadesLevel.B_LTA):
        extended = await signer.extend(sealed[PadesLevel.B_T], target)
        report = await lab.verifier.verify(extended)
        assert report["valid"], report
        assert {e["level"] for e in seal_entries(report)} == {target.value}


async def test_a_document_timestamp_alone_is_no_seal(lab: Container) -> None:
    """B-LTA's document timestamp on an unsealed file: a timestamp, but nobody sealed it."""
    w = IncrementalPdfFileWriter(io.BytesIO(simple_pdf(1)), strict=False)
    out = io.BytesIO()
    await PdfTimeStamper(lab.tsa.timestamper()).async_timestamp_pdf(w, "sha256", output=out)
    report = await lab.verifier.verify(out.getvalue())
    assert report["valid"] is False
    assert [e["type"] for e in report["signatures"]] == ["document_timestamp"]
    assert report["signatures"][0]["valid"] is True
    assert "no_seals" in codes(report)


async def test_expect_uscc(lab: Container, sealed: dict[PadesLevel, bytes]) -> None:
    pdf = sealed[PadesLevel.B_T]
    assert (await lab.verifier.verify(pdf, USCC))["valid"] is True
    assert (await lab.verifier.verify(pdf))["valid"] is True
    report = await lab.verifier.verify(pdf, OTHER_USCC)
    assert report["valid"] is False and report["expect_uscc"] == OTHER_USCC
    assert [p["code"] for p in report["problems"]] == ["expected_enterprise_missing"]
    assert all(e["valid"] for e in report["signatures"])  # the seals themselves are fine


async def test_the_typed_report(lab: Container, sealed: dict[PadesLevel, bytes]) -> None:
    """``report`` gives the model; its JSON is the dict ``verify`` gives, and the full dump has
    every key on every entry (null where it does not apply)."""
    pdf = sealed[PadesLevel.B_LTA]
    report = await lab.verifier.report(pdf, OTHER_USCC)
    assert isinstance(report, VerificationReport)
    assert report.to_json() == await lab.verifier.verify(pdf, OTHER_USCC)
    assert [p.code for p in report.problems] == [ProblemCode.EXPECTED_ENTERPRISE_MISSING]
    contract, legal_rep, stamp = report.signatures
    assert contract.type is SignatureType.SIGNATURE and contract.level is PadesLevel.B_LTA
    assert contract.seal is not None and contract.seal.kind is SealKind.CONTRACT
    assert legal_rep.seal is not None and legal_rep.seal.kind is SealKind.LEGAL_REP
    assert contract.enterprise is not None and contract.enterprise.uscc == USCC
    assert stamp.type is SignatureType.DOCUMENT_TIMESTAMP and stamp.enterprise is None
    assert "enterprise" not in report.to_json()["signatures"][2]
    for entry in report.model_dump(mode="json")["signatures"]:
        assert entry.keys() == SignatureReport.model_fields.keys()


async def test_unsigned_pdf_is_not_valid(lab: Container) -> None:
    pdf = simple_pdf(3)
    report = await lab.verifier.verify(pdf)
    assert report["valid"] is False and report["signatures"] == []
    assert [p["code"] for p in report["problems"]] == ["no_signatures"]
    assert report["file"]["pages"] == 3


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"%PDF-1.7\n", b"%PDF-1.7\ngarbage\n%%EOF", b"\x89PNG\r\n\x1a\n" + bytes(100)],
)
async def test_not_a_pdf_raises_invalid_pdf(lab: Container, data: bytes) -> None:
    with pytest.raises(InvalidPdf) as caught:
        await lab.verifier.verify(data)
    assert caught.value.code.startswith("invalid_pdf") or caught.value.code == "pdf_encrypted"


# -- the CLI ----------------------------------------------------------------------------------


def cli(lab: Container, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESEAL_DATA_DIR": str(lab.settings.data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "verify", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
async def test_cli_exit_codes_and_json(
    lab: Container, sealed: dict[PadesLevel, bytes], tmp_path: Path
) -> None:
    good = tmp_path / "good.pdf"
    good.write_bytes(sealed[PadesLevel.B_T])
    out = cli(lab, str(good), "--json", "--expect-uscc", USCC)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["valid"] is True and report["expect_uscc"] == USCC
    assert report == await lab.verifier.verify(good.read_bytes(), USCC)

    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(simple_pdf(1))
    out = cli(lab, str(unsigned))
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith("NOT VALID") and "no_signatures" in out.stdout

    out = cli(lab, str(good), "--expect-uscc", OTHER_USCC, "--json")
    assert out.returncode == 1
    assert json.loads(out.stdout)["problems"][0]["code"] == "expected_enterprise_missing"

    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"this is not a PDF")
    out = cli(lab, str(junk), "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert json.loads(out.stderr)["code"] == "invalid_pdf"


# -- revocation and license status over time --------------------------------------------------


async def test_seal_revoked_after_a_timestamped_signature_stays_valid(sealing: Container) -> None:
    c = sealing
    pdf = await seal(c, simple_pdf(1), PadesLevel.B_T)
    before = await c.verifier.verify(pdf, USCC)
    await past_the_timestamp(seal_entries(before)[0])
    c.seals.revoke_seal(USCC, SealKind.CONTRACT, "key lost")
    report = await c.verifier.verify(pdf, USCC)
    assert report["valid"] is True, report
    contract, legal_rep = seal_entries(report)
    assert contract["revoked"]["revoked"] is True and contract["revoked"]["at_signing"] is False
    assert contract["revoked"]["reason"] == "unspecified"  # the code; the text is audited
    assert contract["revoked"]["at"] > contract["timestamp"]["time"]
    assert legal_rep["revoked"]["revoked"] is False


async def test_seal_revoked_after_a_signature_without_timestamp_is_not_valid(
    sealing: Container,
) -> None:
    """B-B has only the claimed time, which cannot prove the signature predates revocation."""
    c = sealing
    pdf = await seal(c, simple_pdf(1), PadesLevel.B_B, (SealKind.OFFICIAL,))
    assert (await c.verifier.verify(pdf))["valid"] is True
    c.seals.revoke_seal(USCC, SealKind.OFFICIAL)
    report = await c.verifier.verify(pdf)
    assert report["valid"] is False
    assert "revoked_without_trusted_time" in codes(report)


async def test_license_cancelled_after_signing(sealing: Container) -> None:
    c = sealing
    pdf = await seal(c, simple_pdf(1), PadesLevel.B_LT)
    await past_the_timestamp(seal_entries(await c.verifier.verify(pdf)))
    c.seals.change_status(USCC, LicenseStatus.CANCELLED, "注销")
    report = await c.verifier.verify(pdf, USCC)
    assert report["valid"] is True, report
    for entry in seal_entries(report):
        assert entry["enterprise"]["license_status_now"] == "cancelled"
        assert entry["enterprise"]["license_status_at_signing"] == "active"
        # cancelling revokes the seals, after the signature
        assert entry["revoked"]["revoked"] is True and entry["revoked"]["at_signing"] is False


async def test_suspended_seal_or_license_cannot_sign(sealing: Container) -> None:
    """Revoked or suspended before signing: eseal refuses to sign at all (the forged,
    backdated signature of such a seal is an attack in test_attacks.py)."""
    c = sealing
    c.seals.suspend_seal(USCC, SealKind.CONTRACT)
    with pytest.raises(SealNotActive) as caught:
        await seal(c, simple_pdf(1), PadesLevel.B_T, (SealKind.CONTRACT,))
    assert caught.value.code == "seal_suspended"
    c.seals.revoke_seal(USCC, SealKind.FINANCE)
    with pytest.raises(SealNotActive):
        await seal(c, simple_pdf(1), PadesLevel.B_T, (SealKind.FINANCE,))
    c.seals.change_status(USCC, LicenseStatus.SUSPENDED, "inspection")
    with pytest.raises(LicenseNotActive):
        await seal(c, simple_pdf(1), PadesLevel.B_T, (SealKind.OFFICIAL,))


# -- robustness -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    pdf: bytes = field(repr=False)
    #: the byte ranges the last signature covers: the whole file but its /Contents
    signed: list[tuple[int, int]]


@pytest.fixture(scope="module")
def mutation_target(lab: Container, sealed: dict[PadesLevel, bytes]) -> Target:
    """The B-T document with two seals."""
    pdf = sealed[PadesLevel.B_T]
    ranges = [
        tuple(int(v) for v in m.group(1).split())
        for m in re.finditer(rb"/ByteRange\s*\[([0-9 ]+)\]", pdf)
    ]
    _, len1, start2, len2 = max(ranges, key=lambda r: r[2] + r[3])
    assert start2 + len2 == len(pdf)
    return Target(pdf, [(0, len1), (start2, start2 + len2)])


def _run(coro: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_sealed_pdf_never_crashes_and_never_passes(
    lab: Container, mutation_target: Target, data: st.DataObject
) -> None:
    pdf, signed = mutation_target.pdf, mutation_target.signed
    which = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    # mostly the signed bytes; sometimes anywhere, the unsigned /Contents included
    where = data.draw(st.sampled_from([*signed, (0, len(pdf))]))
    at = data.draw(st.integers(where[0], where[1] - 1))
    in_signed = any(lo <= at < hi for lo, hi in signed)
    if which == "flip":
        value = data.draw(st.integers(0, 255).filter(lambda b: b != pdf[at]))
        mutated = pdf[:at] + bytes([value]) + pdf[at + 1 :]
    elif which == "insert":
        mutated = pdf[:at] + data.draw(st.binary(min_size=1, max_size=8)) + pdf[at:]
    elif which == "delete":
        mutated = pdf[:at] + pdf[at + data.draw(st.integers(1, 8)) :]
    else:
        mutated = pdf[:at]
    assert mutated != pdf
    try:
        report = _run(lab.verifier.verify(mutated, USCC))
    except EsealError as exc:
        assert exc.code
        return
    if report["valid"] and in_signed:
        # only a cut at a revision boundary can be valid: an earlier version of the
        # document, really sealed, with fewer seals
        assert which == "truncate" and len(report["signatures"]) < 2, (which, at)


# -- certificates of other CAs (ESEAL_TRUST_BUNDLE) -------------------------------------------


def _foreign_ca() -> tuple[Any, Any]:
    """Another Chinese CA's root: what a relying party adds to ESEAL_TRUST_BUNDLE."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "某省数字证书认证中心"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Other CA Root"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _foreign_signer(ca: tuple[Any, Any], subject: list[tuple[Any, str]]) -> SimpleSigner:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(o, v) for o, v in subject]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def asn1(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SimpleSigner(
        asn1(cert),
        asn1_keys.PrivateKeyInfo.load(pkcs8),
        SimpleCertificateStore.from_certs([asn1(ca_cert)]),
    )


async def _sign_foreign(signer: SimpleSigner) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(simple_pdf(1)), strict=False)
    out = io.BytesIO()
    await PdfSigner(
        PdfSignatureMetadata(
            field_name="other-ca", md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES
        ),
        signer=signer,
        new_field_spec=SigFieldSpec("other-ca", box=(50, 50, 150, 150)),
    ).async_sign_pdf(w, output=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("subject", "valid", "code", "source"),
    [
        # the USCC as organizationIdentifier, the name as registered: a valid seal
        ("registered", True, None, "organization_identifier"),
        ("renamed", False, "registry_mismatch", "organization_identifier"),
        ("unregistered", False, "enterprise_not_registered", "common_name"),
        ("no_uscc", False, "no_uscc", None),
    ],
)
async def test_certificates_of_another_ca_in_the_trust_bundle(
    lab: Container, subject: str, valid: bool, code: str | None, source: str | None
) -> None:
    name = str(license_data()["name"])
    title = x509.ObjectIdentifier("2.5.4.12")
    org_id = x509.ObjectIdentifier("2.5.4.97")
    subjects = {
        "registered": [
            (NameOID.ORGANIZATION_NAME, name),
            (org_id, "NTRCN-" + USCC),
            (title, "合同专用章"),
            (NameOID.COMMON_NAME, name),
        ],
        "renamed": [
            (NameOID.ORGANIZATION_NAME, name + "（旧）"),
            (org_id, "NTRCN-" + USCC),
            (NameOID.COMMON_NAME, name),
        ],
        "unregistered": [
            (NameOID.ORGANIZATION_NAME, "某某公司"),
            (NameOID.COMMON_NAME, "某某公司@" + OTHER_USCC),
        ],
        "no_uscc": [(NameOID.ORGANIZATION_NAME, name), (NameOID.COMMON_NAME, name)],
    }
    ca = _foreign_ca()
    pdf = await _sign_foreign(_foreign_signer(ca, subjects[subject]))
    ours = await lab.verifier.verify(pdf)
    assert ours["valid"] is False and "untrusted_certificate" in codes(ours)

    root = asn1_x509.Certificate.load(ca[0].public_bytes(serialization.Encoding.DER))
    verifier = Verifier(lab.seals, lab.revocation.root, lab.pki.chain()[0], extra_roots=[root])
    report = await verifier.verify(pdf)
    (entry,) = report["signatures"]
    assert entry["trusted"] is True and entry["integrity"] == "ok"
    assert report["valid"] is valid, report
    assert entry["enterprise"]["uscc_source"] == source
    assert entry["seal"]["image_sha256"] is None  # not one of eseal's seals
    if valid:
        assert entry["problems"] == []
        assert entry["seal"]["kind"] == "contract"
        assert entry["enterprise"]["matches_registry"] is True
        assert entry["enterprise"]["license_status_at_signing"] == "active"
        assert entry["time_source"] == "claimed" and entry["level"] == "B-B"
    else:
        assert code in codes(report)


async def test_certified_document(lab: Container) -> None:
    out, _ = await lab.sealing.seal(
        USCC,
        simple_pdf(1),
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_T, certify=True),
    )
    report = await lab.verifier.verify(out, USCC)
    assert report["valid"] is True, report


async def test_certified_document_with_a_second_seal(lab: Container) -> None:
    """The first seal certifies (DocMDP: form filling and signatures allowed); the second
    seal's field is made, empty, in the certifying revision and signed afterwards."""
    out, _ = await lab.sealing.seal(
        USCC,
        simple_pdf(1),
        SealingOptions(seals=[SealOrder(k) for k in TWO_SEALS], level=PadesLevel.B_T, certify=True),
    )
    report = await lab.verifier.verify(out, USCC)
    assert "docmdp_violation" not in codes(report)
    assert report["valid"] is True, report


async def test_certify_then_cross_page_is_refused_clearly(lab: Container) -> None:
    from signer.placement import CrossPage

    with pytest.raises(EsealError) as caught:
        await lab.sealing.seal(
            USCC,
            simple_pdf(2),
            SealingOptions(
                seals=[SealOrder(SealKind.CONTRACT), SealOrder(SealKind.CONTRACT, CrossPage())],
                certify=True,
            ),
        )
    assert caught.value.code == "certify_cross_page"
