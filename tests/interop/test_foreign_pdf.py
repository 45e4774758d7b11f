"""PDFs other signers made, as eseal's verifier judges them (``POST /v1/verify``).

endesive signs in a subprocess (tests/interop/endesive_sign.py); pyHanko is used directly;
qpdf rewrites files.  The signers' keys come from a small foreign PKI made here; a container
whose trust bundle (``ESEAL_TRUST_BUNDLE``) holds that root trusts them, another does not.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore
from trusting import container_trusting

from api.container import Container
from helpers import require_tool
from pdfs import simple_pdf

HERE = Path(__file__).resolve().parent
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: the extension Chinese CAs put the USCC in (DESIGN.md 1)
OID_USCC = "1.2.156.10260.4.1.4"


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Foreign Signers"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


@dataclass(frozen=True)
class Foreign:
    """A root and one signer under it, as PEM files and pyHanko's signer."""

    key: Path
    cert: Path
    root: Path
    signer: SimpleSigner


def foreign_pki(where: Path, kind: str, uscc_extension: bytes | None = None) -> Foreign:
    """``uscc_extension``: the DER value of the Chinese CAs' ``1.2.156.10260.4.1.4``
    extension to put in the signer's certificate, as another CA encodes it."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Foreign Root"))
        .issuer_name(_name("Foreign Root"))
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ec"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Foreign Signer {kind}"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
    )
    if uscc_extension is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(OID_USCC), uscc_extension),
            critical=False,
        )
    cert = builder.sign(root_key, hashes.SHA256())
    where.mkdir(parents=True, exist_ok=True)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (where / "key.pem").write_bytes(pkcs8)
    (where / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (where / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))

    def der(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    signer = SimpleSigner(
        der(cert),
        asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
        SimpleCertificateStore.from_certs([der(root)]),
    )
    return Foreign(where / "key.pem", where / "cert.pem", where / "root.pem", signer)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Foreign]:
    base = tmp_path_factory.mktemp("foreign-pki")
    return {kind: foreign_pki(base / kind, kind) for kind in ("ec", "rsa")}


@pytest.fixture(scope="module")
def trusting(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path, pki: dict[str, Foreign]
) -> Iterator[Container]:
    """eseal with the foreign roots in its trust bundle."""
    where = tmp_path_factory.mktemp("trusting")
    bundle = where / "bundle.pem"
    bundle.write_bytes(b"".join(f.root.read_bytes() for f in pki.values()))
    yield from container_trusting(_initialised_template, where, bundle)


@pytest.fixture(scope="module")
def plain(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> Iterator[Container]:
    """eseal with its own trust only."""
    yield from container_trusting(_initialised_template, tmp_path_factory.mktemp("plain"), None)


def classic_pdf(tmp_path: Path, pages: int = 1) -> bytes:
    """A plain PDF with a classic cross-reference table (endesive cannot append to a file
    whose last section is a cross-reference stream)."""
    require_tool("qpdf")
    (tmp_path / "plain.pdf").write_bytes(simple_pdf(pages))
    subprocess.run(
        ["qpdf", "--object-streams=disable", str(tmp_path / "plain.pdf"), str(tmp_path / "c.pdf")],
        check=True,
    )
    return (tmp_path / "c.pdf").read_bytes()


def endesive_sign(tmp_path: Path, pdf: bytes, who: Foreign, field: str) -> bytes:
    source, target = tmp_path / f"in-{field}.pdf", tmp_path / f"out-{field}.pdf"
    source.write_bytes(pdf)
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "endesive_sign.py"),
            str(source),
            str(target),
            str(who.key),
            str(who.cert),
            str(who.root),
            field,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return target.read_bytes()


async def pyhanko_sign(pdf: bytes, who: Foreign, field: str, **meta: Any) -> bytes:
    out = io.BytesIO()
    await signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name=field, **meta),
        who.signer,
        new_field_spec=SigFieldSpec(field, on_page=0, box=(50, 600, 150, 650)),
    ).async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), output=out)
    return out.getvalue()


def codes(entry: dict[str, Any]) -> list[str]:
    return [p["code"] for p in entry["problems"]]


# -- endesive -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ec", "rsa"])
async def test_an_endesive_signature_is_intact_and_trusted_through_the_bundle(
    tmp_path: Path, pki: dict[str, Foreign], trusting: Container, plain: Container, kind: str
) -> None:
    """endesive labels an ECDSA signature ``rsaEncryption`` (signer/cms_quirks.py): it is
    still the key's signature over the document, so it is intact, and trusted exactly when
    its root is in the trust bundle."""
    pdf = endesive_sign(tmp_path, classic_pdf(tmp_path), pki[kind], "Signature1")
    (entry,) = (await trusting.verifier.verify(pdf))["signatures"]
    assert entry["integrity"] == "ok" and entry["intact"] is True, entry
    assert entry["trusted"] is True
    assert entry["coverage"] == "entire_file" and entry["modifications"] == "none"
    assert entry["algorithm"] == ("ec-p256" if kind == "ec" else "rsa-2048")
    # a foreign certificate names no enterprise: not valid, for that reason only
    assert codes(entry) == ["no_uscc"]

    (entry,) = (await plain.verifier.verify(pdf))["signatures"]
    assert entry["intact"] is True and entry["trusted"] is False
    assert "untrusted_certificate" in codes(entry)


@pytest.mark.slow
async def test_a_changed_endesive_signature_stays_broken(
    tmp_path: Path, pki: dict[str, Foreign], trusting: Container
) -> None:
    """The leniency reads the label, not the value: a flipped byte of the ECDSA value, or of
    the signed document, still breaks the signature."""
    pdf = endesive_sign(tmp_path, classic_pdf(tmp_path), pki["ec"], "Signature1")
    at = pdf.index(b"595")  # the page's width, in the signed bytes
    page_changed = pdf[:at] + b"596" + pdf[at + 3 :]
    # the signature value ends the SignerInfo: the last non-zero digit of /Contents is its
    contents = re.search(rb"/Contents\s*<([0-9a-fA-F]+)>", pdf)
    assert contents is not None
    last = contents.start(1) + len(contents.group(1).rstrip(b"0")) - 1
    flipped = b"1" if pdf[last : last + 1] != b"1" else b"2"
    value_changed = pdf[:last] + flipped + pdf[last + 1 :]
    for changed in (page_changed, value_changed):
        (entry,) = (await trusting.verifier.verify(changed))["signatures"]
        assert entry["integrity"] == "broken" and entry["intact"] is False, entry
        assert entry["valid"] is False


@pytest.mark.slow
async def test_endesive_signs_after_pyhanko_and_after_itself(
    tmp_path: Path, pki: dict[str, Foreign], trusting: Container
) -> None:
    """A signature added by endesive to a pyHanko-signed file, and two endesive signatures:
    every one intact and trusted; the earlier ones changed only by later signatures."""
    first = await pyhanko_sign(classic_pdf(tmp_path), pki["rsa"], "PyHanko")
    both = endesive_sign(tmp_path, first, pki["ec"], "Endesive1")
    three = endesive_sign(tmp_path, both, pki["rsa"], "Endesive2")
    report = await trusting.verifier.verify(three)
    entries = report["signatures"]
    assert [e["field"] for e in entries] == ["PyHanko", "Endesive1", "Endesive2"]
    for entry in entries:
        assert entry["integrity"] == "ok" and entry["trusted"] is True, entry
        assert codes(entry) == ["no_uscc"]
    assert [e["modifications"] for e in entries] == [
        "later_signatures",
        "later_signatures",
        "none",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("value", "uscc"),
    [
        (b"\x13\x12" + b"91110108551385082Q", "91110108551385082Q"),  # PrintableString
        (b"\x04\x12" + b"91110108551385082Q", "91110108551385082Q"),  # OCTET STRING
        (b"\x09\x03\x80\x00\x01", None),  # a REAL: no text at all
        (b"\x02\x01\x05", None),  # an INTEGER
    ],
    ids=["printable", "octets", "real", "integer"],
)
async def test_a_uscc_extension_of_any_encoding_gives_a_report(
    tmp_path: Path, trusting: Container, value: bytes, uscc: str | None
) -> None:
    """Another CA's USCC extension is read when it holds text in any string type, and
    ignored (``no_uscc``) when it holds none; the report is given either way."""
    who = foreign_pki(tmp_path / "ca", "ec", uscc_extension=value)
    pdf = await pyhanko_sign(simple_pdf(1), who, "Signer")
    (entry,) = (await trusting.verifier.verify(pdf))["signatures"]
    assert entry["intact"] is True
    assert entry["enterprise"]["uscc"] == uscc
    if uscc is None:
        assert "no_uscc" in codes(entry)


@pytest.mark.slow
@pytest.mark.parametrize("how", [["--object-streams=generate"], ["--linearize"], ["--qdf"]])
async def test_a_signed_file_qpdf_rewrote_is_reported_rewritten(
    pki: dict[str, Foreign], trusting: Container, tmp_path: Path, how: list[str]
) -> None:
    """qpdf re-saves the whole file: every byte may move, so the signature no longer covers
    the document it sits in, and the report says the file was rewritten."""
    require_tool("qpdf")
    signed = await pyhanko_sign(simple_pdf(1), pki["ec"], "Signer")
    (tmp_path / "signed.pdf").write_bytes(signed)
    subprocess.run(
        ["qpdf", *how, str(tmp_path / "signed.pdf"), str(tmp_path / "out.pdf")], check=False
    )
    report = await trusting.verifier.verify((tmp_path / "out.pdf").read_bytes())
    (entry,) = report["signatures"]
    assert report["valid"] is False
    assert entry["integrity"] == "broken" and entry["intact"] is False
    assert codes(entry) == ["byte_range_invalid"]
    assert "rewritten after signing" in entry["problems"][0]["message"]
