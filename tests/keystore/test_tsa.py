"""The built-in RFC 3161 TSA: checked against OpenSSL's `ts` tool and pyHanko's validators."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from asn1crypto import algos, cms, core, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import find_unique_cms_attribute
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from keystore.errors import ErrorKind, EsealError
from keystore.tsa import DEFAULT_TSA_POLICY, TimeStampAuthority, TimeStampResp, TsaUnavailable

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl command not installed")

# ---------------------------------------------------------------------------------------------
# a throwaway PKI: root CA -> issuing CA -> TSA certificate (and a seal certificate for PAdES)
# ---------------------------------------------------------------------------------------------

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _new_key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eseal test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _issue(
    subject: str,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    *,
    ca: bool,
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
    non_repudiation: bool = False,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=non_repudiation,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: PrivateKey) -> keys.PrivateKeyInfo:
    return keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass
class Pki:
    kind: str
    root: x509.Certificate
    ca: x509.Certificate
    tsa_cert: x509.Certificate
    tsa_key: PrivateKey
    seal_cert: x509.Certificate
    seal_key: PrivateKey

    def simple_signer(self, cert: x509.Certificate, key: PrivateKey) -> signers.SimpleSigner:
        return signers.SimpleSigner(
            signing_cert=_asn1_cert(cert),
            signing_key=_asn1_key(key),
            cert_registry=SimpleCertificateStore.from_certs(
                [_asn1_cert(self.ca), _asn1_cert(self.root)]
            ),
        )

    def tsa(self, **kwargs: object) -> TimeStampAuthority:
        return TimeStampAuthority(
            self.simple_signer(self.tsa_cert, self.tsa_key),
            _asn1_cert(self.tsa_cert),
            [_asn1_cert(self.ca), _asn1_cert(self.root)],
            **kwargs,  # type: ignore[arg-type]
        )

    def validation_context(self) -> ValidationContext:
        return ValidationContext(
            trust_roots=[_asn1_cert(self.root)],
            other_certs=[_asn1_cert(self.ca)],
            allow_fetching=False,
            revocation_mode="soft-fail",
        )


@pytest.fixture(scope="module", params=["ec", "rsa"])
def pki(request: pytest.FixtureRequest) -> Pki:
    root_key = _new_key("ec")
    root = _issue("eseal test root", root_key, None, root_key, ca=True)
    ca_key = _new_key("ec")
    ca = _issue("eseal test issuing CA", ca_key, root, root_key, ca=True)
    tsa_key = _new_key(request.param)
    tsa_cert = _issue(
        f"eseal test TSA ({request.param})",
        tsa_key,
        ca,
        ca_key,
        ca=False,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    seal_key = _new_key("ec")
    seal_cert = _issue("eseal test seal", seal_key, ca, ca_key, ca=False, non_repudiation=True)
    return Pki(request.param, root, ca, tsa_cert, tsa_key, seal_cert, seal_key)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _request(
    data: bytes = b"hello",
    *,
    algorithm: str = "sha256",
    digest: bytes | None = None,
    nonce: int | None = 0x1234_5678_9ABC_DEF0,
    policy: str | None = None,
    cert_req: bool = True,
    extensions: list[dict[str, object]] | None = None,
) -> bytes:
    if digest is None:
        digest = hashlib.new(algorithm, data).digest()
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": algorithm},
            "hashed_message": digest,
        },
        "cert_req": cert_req,
    }
    if policy is not None:
        fields["req_policy"] = policy
    if nonce is not None:
        fields["nonce"] = nonce
    if extensions is not None:
        fields["extensions"] = extensions
    return tsp.TimeStampReq(fields).dump()


def _granted(response_der: bytes) -> tuple[tsp.TimeStampResp, cms.SignedData, tsp.TSTInfo]:
    resp = tsp.TimeStampResp.load(response_der)
    assert resp["status"]["status"].native == "granted", resp["status"].native
    signed_data = resp["time_stamp_token"]["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    return resp, signed_data, tst_info


def _rejected(response_der: bytes) -> set[str]:
    # asn1crypto's own TimeStampResp cannot read a response without a token
    resp = TimeStampResp.load(response_der, strict=True)
    status = resp["status"]
    assert status["status"].native == "rejection"
    assert resp["time_stamp_token"].native is None
    assert status["status_string"].native
    return set(status["fail_info"].native)


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )


# ---------------------------------------------------------------------------------------------
# OpenSSL interoperability
# ---------------------------------------------------------------------------------------------


@needs_openssl
async def test_openssl_query_reply_verify(pki: Pki, tmp_path: Path) -> None:
    data = tmp_path / "contract.txt"
    data.write_bytes("一份合同 / a contract\n".encode() * 10)
    query = tmp_path / "q.tsq"
    proc = _openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    assert proc.returncode == 0, proc.stderr

    reply_der = await pki.tsa().respond(query.read_bytes())
    reply = tmp_path / "r.tsr"
    reply.write_bytes(reply_der)
    _, _, tst_info = _granted(reply_der)
    request = tsp.TimeStampReq.load(query.read_bytes())

    text = _openssl("ts", "-reply", "-in", reply, "-text")
    assert text.returncode == 0, text.stderr
    assert "Status: Granted." in text.stdout
    assert f"Policy OID: {DEFAULT_TSA_POLICY}" in text.stdout
    serial = tst_info["serial_number"].native
    # openssl prints whole bytes, so a leading zero nibble may appear: compare the numbers
    assert int(re.search(r"Serial number: 0x([0-9A-F]+)", text.stdout)[1], 16) == serial
    nonce = request["nonce"].native
    assert nonce is not None
    assert int(re.search(r"Nonce: 0x([0-9A-F]+)", text.stdout)[1], 16) == nonce
    assert "Ordering: no" in text.stdout
    assert "Accuracy: 0x01 seconds" in text.stdout
    assert f"eseal test TSA ({pki.kind})" in text.stdout

    root = tmp_path / "root.pem"
    root.write_bytes(_pem(pki.root))
    untrusted = tmp_path / "tsa_and_chain.pem"
    untrusted.write_bytes(_pem(pki.tsa_cert, pki.ca))
    verify = _openssl(
        "ts", "-verify", "-data", data, "-in", reply, "-CAfile", root, "-untrusted", untrusted
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Verification: OK" in verify.stdout.splitlines()

    # and OpenSSL does notice when the data is not what was stamped
    other = tmp_path / "other.txt"
    other.write_bytes(b"something else")
    bad = _openssl(
        "ts", "-verify", "-data", other, "-in", reply, "-CAfile", root, "-untrusted", untrusted
    )
    assert bad.returncode != 0
    assert "Verification: OK" not in bad.stdout


@needs_openssl
async def test_openssl_without_cert_req_gets_no_certificates(pki: Pki, tmp_path: Path) -> None:
    data = tmp_path / "invoice.txt"
    data.write_bytes(b"invoice 42\n")
    query = tmp_path / "q.tsq"
    proc = _openssl("ts", "-query", "-data", data, "-sha512", "-out", query)
    assert proc.returncode == 0, proc.stderr

    reply_der = await pki.tsa().respond(query.read_bytes())
    _, signed_data, tst_info = _granted(reply_der)
    assert not signed_data["certificates"].native
    assert tst_info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha512"

    reply = tmp_path / "r.tsr"
    reply.write_bytes(reply_der)
    root = tmp_path / "root.pem"
    root.write_bytes(_pem(pki.root))
    untrusted = tmp_path / "tsa_and_chain.pem"
    untrusted.write_bytes(_pem(pki.tsa_cert, pki.ca))
    verify = _openssl(
        "ts", "-verify", "-data", data, "-in", reply, "-CAfile", root, "-untrusted", untrusted
    )
    assert "Verification: OK" in verify.stdout.splitlines(), verify.stdout + verify.stderr


# ---------------------------------------------------------------------------------------------
# token contents
# ---------------------------------------------------------------------------------------------


async def test_token_contents(pki: Pki) -> None:
    fixed = datetime(2025, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
    serials = iter([0xE5EA1_0001])
    tsa = pki.tsa(clock=lambda: fixed, serial_source=lambda: next(serials))
    digest = hashlib.sha256(b"contract").digest()
    resp, signed_data, tst_info = _granted(await tsa.respond(_request(digest=digest, nonce=77)))

    assert resp["time_stamp_token"]["content_type"].native == "signed_data"
    assert signed_data["version"].native == "v3"
    assert signed_data["encap_content_info"]["content_type"].native == "tst_info"
    assert tst_info["version"].native == "v1"
    assert tst_info["policy"].dotted == DEFAULT_TSA_POLICY
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    assert tst_info["serial_number"].native == 0xE5EA1_0001
    assert tst_info["gen_time"].native == fixed.replace(microsecond=0)
    assert tst_info["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert tst_info["ordering"].native is False
    assert tst_info["nonce"].native == 77
    assert tst_info["tsa"].chosen == _asn1_cert(pki.tsa_cert).subject

    certs = [c.chosen.dump() for c in signed_data["certificates"]]
    assert _asn1_cert(pki.tsa_cert).dump() in certs
    assert _asn1_cert(pki.ca).dump() in certs

    (signer_info,) = signed_data["signer_infos"]
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attrs["content_type"].native == "tst_info"
    assert attrs["message_digest"].native == hashlib.sha256(tst_info.dump()).digest()
    assert attrs["signing_time"].native == fixed.replace(microsecond=0)
    (ess_cert_id,) = attrs["signing_certificate_v2"]["certs"]
    assert ess_cert_id["hash_algorithm"]["algorithm"].native == "sha256"
    tsa_der = pki.tsa_cert.public_bytes(serialization.Encoding.DER)
    assert ess_cert_id["cert_hash"].native == hashlib.sha256(tsa_der).digest()
    expected_sig = "ecdsa" if pki.kind == "ec" else "rsassa_pkcs1v15"
    assert signer_info["signature_algorithm"].signature_algo == expected_sig


async def test_accuracy_in_millis_and_omitted(pki: Pki) -> None:
    fixed = datetime(2025, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
    tsa = pki.tsa(accuracy=timedelta(milliseconds=250), clock=lambda: fixed)
    _, _, tst_info = _granted(await tsa.respond(_request()))
    assert tst_info["accuracy"].native == {"seconds": None, "millis": 250, "micros": None}
    # a sub-second accuracy keeps the fraction, encoded without trailing zeros
    assert tst_info["gen_time"].native == fixed
    assert tst_info["gen_time"].contents == b"20250304050607.89Z"
    _, _, tst_info = _granted(await pki.tsa(accuracy=None).respond(_request()))
    assert tst_info["accuracy"].native is None


async def test_nonce_is_echoed_and_optional(pki: Pki) -> None:
    tsa = pki.tsa()
    big_nonce = 2**150 + 12345
    _, _, tst_info = _granted(await tsa.respond(_request(nonce=big_nonce)))
    assert tst_info["nonce"].native == big_nonce
    _, _, tst_info = _granted(await tsa.respond(_request(nonce=None)))
    assert tst_info["nonce"].native is None


async def test_serials_differ(pki: Pki) -> None:
    tsa = pki.tsa()
    request = _request()
    serials = {_granted(await tsa.respond(request))[2]["serial_number"].native for _ in range(2)}
    assert len(serials) == 2
    assert all(0 < s < 2**128 for s in serials)


async def test_policy(pki: Pki) -> None:
    tsa = pki.tsa()
    _, _, tst_info = _granted(await tsa.respond(_request(policy=DEFAULT_TSA_POLICY)))
    assert tst_info["policy"].dotted == DEFAULT_TSA_POLICY
    assert _rejected(await tsa.respond(_request(policy="1.2.3.4.5"))) == {"unaccepted_policy"}

    own = pki.tsa(policy="1.2.156.1.2.3")
    _, _, tst_info = _granted(await own.respond(_request(policy="1.2.156.1.2.3")))
    assert tst_info["policy"].dotted == "1.2.156.1.2.3"


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a time-stamp request",
        b"\x30\x03\x02\x01\x01",  # a SEQUENCE missing the imprint
        b"\x30\x80\x00\x00",
        b"\xff" * 64,
    ],
)
async def test_garbage_is_rejected_with_bad_data_format(pki: Pki, garbage: bytes) -> None:
    assert _rejected(await pki.tsa().respond(garbage)) == {"bad_data_format"}


async def test_truncated_or_padded_request_is_rejected(pki: Pki) -> None:
    request = _request()
    tsa = pki.tsa()
    assert _rejected(await tsa.respond(request[:-3])) == {"bad_data_format"}
    assert _rejected(await tsa.respond(request + b"\x00\x00")) == {"bad_data_format"}


async def test_wrong_version_is_rejected(pki: Pki) -> None:
    req = tsp.TimeStampReq.load(_request())
    req["version"] = 2
    assert _rejected(await pki.tsa().respond(req.dump())) == {"bad_data_format"}


@pytest.mark.parametrize(
    "algorithm,digest",
    [
        ("sha1", hashlib.sha1(b"x").digest()),
        ("md5", hashlib.md5(b"x").digest()),
        ("sha224", hashlib.sha224(b"x").digest()),
        ("1.2.3.4.5.6", b"\x00" * 32),
    ],
)
async def test_weak_or_unknown_hash_is_rejected_with_bad_alg(
    pki: Pki, algorithm: str, digest: bytes
) -> None:
    assert _rejected(await pki.tsa().respond(_request(algorithm=algorithm, digest=digest))) == {
        "bad_alg"
    }


@pytest.mark.parametrize(
    "algorithm,length",
    [("sha256", 32), ("sha384", 48), ("sha512", 64), ("sha3_256", 32), ("1.2.156.10197.1.401", 32)],
)
async def test_accepted_hashes_and_imprint_length(pki: Pki, algorithm: str, length: int) -> None:
    tsa = pki.tsa()
    digest = bytes(range(length))
    _, _, tst_info = _granted(await tsa.respond(_request(algorithm=algorithm, digest=digest)))
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    assert tst_info["message_imprint"]["hash_algorithm"]["algorithm"].dotted == (
        algos.DigestAlgorithmId(algorithm).dotted
    )
    for wrong in (digest[:-1], digest + b"\x00", b""):
        rejected = await tsa.respond(_request(algorithm=algorithm, digest=wrong))
        assert _rejected(rejected) == {"bad_data_format"}


class _LooseAlgorithm(core.Sequence):
    _fields: ClassVar = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _LooseImprint(core.Sequence):
    _fields: ClassVar = [("hash_algorithm", _LooseAlgorithm), ("hashed_message", core.OctetString)]


class _LooseRequest(core.Sequence):
    _fields: ClassVar = [("version", core.Integer), ("message_imprint", _LooseImprint)]


@pytest.mark.parametrize(
    "algorithm,failure",
    [
        # asn1crypto itself insists on NULL parameters for SHA-2, so this cannot even be read
        ("sha256", "bad_data_format"),
        ("sha3_256", "bad_alg"),
    ],
)
async def test_hash_parameters_other_than_null_are_rejected(
    pki: Pki, algorithm: str, failure: str
) -> None:
    imprint = {
        "hash_algorithm": {
            "algorithm": algos.DigestAlgorithmId(algorithm).dotted,
            "parameters": core.Integer(1),
        },
        "hashed_message": bytes(32),
    }
    request = _LooseRequest({"version": 1, "message_imprint": imprint}).dump()
    assert _rejected(await pki.tsa().respond(request)) == {failure}


async def test_request_extensions_are_rejected(pki: Pki) -> None:
    extension = {"extn_id": "1.2.3.4", "critical": False, "extn_value": b"\x05\x00"}
    rejected = await pki.tsa().respond(_request(extensions=[extension]))
    assert _rejected(rejected) == {"unaccepted_extensions"}


# ---------------------------------------------------------------------------------------------
# failures of the TSA itself, and construction checks
# ---------------------------------------------------------------------------------------------


class _BrokenSigner(signers.SimpleSigner):
    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        raise RuntimeError("token removed")


async def test_a_tsa_that_cannot_sign_raises_tsa_unavailable(pki: Pki) -> None:
    healthy = pki.simple_signer(pki.tsa_cert, pki.tsa_key)
    broken = _BrokenSigner(
        signing_cert=healthy.signing_cert,
        signing_key=healthy.signing_key,
        cert_registry=healthy.cert_registry,
    )
    tsa = TimeStampAuthority(broken, _asn1_cert(pki.tsa_cert), [_asn1_cert(pki.ca)])
    with pytest.raises(TsaUnavailable) as caught:
        await tsa.respond(_request())
    assert isinstance(caught.value, EsealError)
    assert caught.value.code == "tsa_unavailable"
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    # a bad request still gets its rejection without touching the key
    assert _rejected(await tsa.respond(b"junk")) == {"bad_data_format"}
    # and pyHanko sees the error, not a bogus token
    with pytest.raises(TsaUnavailable):
        await tsa.timestamper().async_timestamp(hashlib.sha256(b"x").digest(), "sha256")


def test_constructor_checks_the_certificate(pki: Pki) -> None:
    signer = pki.simple_signer(pki.tsa_cert, pki.tsa_key)
    with pytest.raises(ValueError, match="bound to the TSA certificate"):
        TimeStampAuthority(signer, _asn1_cert(pki.seal_cert))

    ca_key = _new_key("ec")
    ca = _issue("other CA", ca_key, None, ca_key, ca=True)
    key = _new_key("ec")
    for eku, critical in (([], True), ([ExtendedKeyUsageOID.TIME_STAMPING], False)):
        cert = _issue("not a TSA", key, ca, ca_key, ca=False, eku=eku, eku_critical=critical)
        with pytest.raises(ValueError, match="extended key usage"):
            TimeStampAuthority(pki.simple_signer(cert, key), _asn1_cert(cert))


# ---------------------------------------------------------------------------------------------
# pyHanko: the in-process time stamper
# ---------------------------------------------------------------------------------------------


async def test_timestamper_token_validates_with_pyhanko(pki: Pki) -> None:
    tsa = pki.tsa()
    digest = hashlib.sha256(b"the signature value").digest()
    token = await tsa.timestamper().async_timestamp(digest, "sha256")

    status_kwargs = await validate_tst_signed_data(
        token["content"], pki.validation_context(), lambda _algo: digest
    )
    status = TimestampSignatureStatus(**status_kwargs)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.signing_cert.dump() == _asn1_cert(pki.tsa_cert).dump()

    # a different digest does not validate
    other = hashlib.sha256(b"something else").digest()
    wrong = await validate_tst_signed_data(
        token["content"], pki.validation_context(), lambda _algo: other
    )
    assert not TimestampSignatureStatus(**wrong).intact


async def test_timestamper_surfaces_rejections(pki: Pki) -> None:
    stamper = pki.tsa().timestamper()
    with pytest.raises(TimestampRequestError, match="bad_alg"):
        await stamper.async_timestamp(hashlib.sha1(b"x").digest(), "sha1")


def _small_pdf() -> bytes:
    writer = PdfFileWriter()
    content = generic.StreamObject(stream_data=b"1 0 0 rg 72 700 144 72 re f")
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)]
            ),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),
            generic.pdf_name("/Contents"): writer.add_object(content),
        }
    )
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_pades_b_t_with_our_timestamps(pki: Pki) -> None:
    tsa = pki.tsa()
    seal_signer = pki.simple_signer(pki.seal_cert, pki.seal_key)
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Sig1", subfilter=SigSeedSubFilter.PADES),
        signer=seal_signer,
        timestamper=tsa.timestamper(),
    )
    out = await pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(_small_pdf())))
    signed = out.getvalue()

    reader = PdfFileReader(io.BytesIO(signed))
    (embedded,) = reader.embedded_signatures
    vc = pki.validation_context()
    status = await async_validate_pdf_signature(
        embedded, signer_validation_context=vc, ts_validation_context=vc
    )
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.bottom_line
    ts = status.timestamp_validity
    assert ts is not None
    assert ts.intact and ts.valid and ts.trusted
    assert ts.signing_cert.dump() == _asn1_cert(pki.tsa_cert).dump()
    assert abs(ts.timestamp - datetime.now(UTC)) < timedelta(minutes=5)
    token = find_unique_cms_attribute(
        embedded.signer_info["unsigned_attrs"], "signature_time_stamp_token"
    )
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert tst_info["policy"].dotted == DEFAULT_TSA_POLICY
