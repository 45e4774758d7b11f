"""SesCheck, Bouncy Castle's own GB/T 38540 seals, signatures and OFD sealing, checked here.

Before eseal's verifier trusts what SesCheck makes (and before SesCheck judges what eseal
makes), it is checked against things that are not itself: keys from OpenSSL and from eseal's
SM2 key code, certificates from eseal's SM2 PKI, OpenSSL verifying the maker's and the
signer's SM2 signatures over the DER it wrote, eseal's SM2 TSA stamping its signature values,
and packages from ``tests/ofds.py`` inspected as XML here.  The program and its wrapper are
``SesCheck.java``, ``Ses.java``, ``SesOfd.java`` and ``sescheck.py`` beside this file.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from defusedxml import ElementTree
from interop.sescheck import SesCheck, SesCheckRefused, Tsa, compile_sescheck
from PIL import Image

from helpers import require_tool
from keystore import sm2
from keystore.masterkey import MasterKey
from keystore.pki import InternalPki, SealSubject
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore
from keystore.tsa import Sm2TsaKey, TimeStampAuthority, TimeStampResp
from ofds import NS, simple_ofd, unzip_ofd, zip_ofd
from seals.codes import ProblemCode
from seals.esl import check_maker_signature, lists_signer, make_seseal, parse_seseal
from seals.vocab import ReferenceStatus
from signer.errors import RequestRefused
from signer.ofd import AtPoint, next_signature_path, seal_ofd, verify_ofd
from signer.ses import make_ses_signature, verify_ses_signature

pytestmark = pytest.mark.slow

URL = "https://eseal.example.cn"
USCC = "91110108551385082Q"
ENTERPRISE = "北京测试科技有限公司"
DISTID = "distid:1234567812345678"
Q = {"ofd": NS}


@pytest.fixture(scope="session")
def ses_check(tmp_path_factory: pytest.TempPathFactory) -> SesCheck:
    return compile_sescheck(tmp_path_factory.mktemp("sescheck"))


@dataclass(frozen=True)
class Material:
    """Keys, certificates and a picture for making seals and signatures."""

    dir: Path
    pki: Sm2Pki
    now: datetime
    maker_key: Path
    maker_cert: Path
    #: made by OpenSSL (genpkey -algorithm SM2), certified by eseal's SM2 seal CA
    signer_key: Path
    signer_cert: Path
    #: a second signer, on no seal's certList
    other_key: Path
    other_cert: Path
    tsa: Tsa
    picture: Path

    def seal(self, ses: SesCheck, file: str = "contract.esl", **options: object) -> Path:
        """A seal by the test maker listing the signer, valid from a day ago for a year."""
        settings: dict[str, object] = {
            "maker_key": self.maker_key,
            "maker_cert": self.maker_cert,
            "signer_certs": [self.signer_cert],
            "picture": self.picture,
            "name": f"{ENTERPRISE}合同专用章",
            "seal_type": 2,
            "es_id": f"{USCC}-contract-1",
            "width": 40,
            "height": 40,
            "valid_start": self.now - timedelta(days=1),
            "valid_end": self.now + timedelta(days=365),
            "create_date": self.now - timedelta(minutes=5),
            **options,
        }
        ses.make_seal(self.dir / file, **settings)
        return self.dir / file


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def _cert_pem(path: Path, cert: asn1_x509.Certificate) -> Path:
    path.write_bytes(asn1_pem.armor("CERTIFICATE", cert.dump()))
    return path


def _key_pem(path: Path, key: sm2.Sm2PrivateKey) -> Path:
    path.write_bytes(asn1_pem.armor("PRIVATE KEY", key.to_pkcs8()))
    return path


def _openssl_key(path: Path) -> asn1_keys.PublicKeyInfo:
    """An SM2 key made by OpenSSL at ``path``; its public key."""
    assert _openssl("genpkey", "-algorithm", "SM2", "-out", path).returncode == 0
    spki = _openssl("pkey", "-in", path, "-pubout", "-outform", "PEM").stdout.encode()
    return asn1_keys.PublicKeyInfo.load(asn1_pem.unarmor(spki)[2])


def _self_signed_tsa(key: sm2.Sm2PrivateKey, now: datetime) -> asn1_x509.Certificate:
    name = asn1_x509.Name.build({"country_name": "CN", "common_name": "SesCheck test SM2 TSA"})
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": 0x5E5,
            "signature": {"algorithm": "sm2_sm3"},
            "issuer": name,
            "subject": name,
            "subject_public_key_info": key.public.spki(),
            "validity": {
                "not_before": asn1_x509.Time(name="utc_time", value=now - timedelta(days=1)),
                "not_after": asn1_x509.Time(name="utc_time", value=now + timedelta(days=30)),
            },
            "extensions": [
                {"extn_id": "extended_key_usage", "critical": True, "extn_value": ["time_stamping"]}
            ],
        }
    )
    return asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sm2_sm3"},
            "signature_value": key.sign(tbs.dump()),
        }
    )


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    base = tmp_path_factory.mktemp("ses-material")
    store = SoftKeyStore(base / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    pki = Sm2Pki(store, base / "sm2", URL)
    pki.ensure()
    now = datetime.now(UTC).replace(microsecond=0)

    def issue(spki: asn1_keys.PublicKeyInfo, title: str) -> asn1_x509.Certificate:
        return pki.issue_seal_certificate(
            spki,
            SealSubject(ENTERPRISE, USCC, title),
            not_before=now - timedelta(days=2),
            not_after=now + timedelta(days=400),
        )

    maker = sm2.Sm2PrivateKey.generate()
    other = sm2.Sm2PrivateKey.generate()
    tsa = sm2.Sm2PrivateKey.generate()
    signer_spki = _openssl_key(base / "signer.pem")
    picture = io.BytesIO()
    Image.new("RGBA", (118, 118), (230, 0, 18, 255)).save(picture, "PNG")
    (base / "seal.png").write_bytes(picture.getvalue())
    return Material(
        dir=base,
        pki=pki,
        now=now,
        maker_key=_key_pem(base / "maker.pem", maker),
        maker_cert=_cert_pem(base / "maker.crt", issue(maker.public.spki(), "制章者")),
        signer_key=base / "signer.pem",
        signer_cert=_cert_pem(base / "signer.crt", issue(signer_spki, "合同专用章")),
        other_key=_key_pem(base / "other.pem", other),
        other_cert=_cert_pem(base / "other.crt", issue(other.public.spki(), "财务专用章")),
        tsa=Tsa(
            _key_pem(base / "tsa.pem", tsa),
            _cert_pem(base / "tsa.crt", _self_signed_tsa(tsa, now)),
        ),
        picture=base / "seal.png",
    )


@pytest.fixture
def work(tmp_path: Path, material: Material) -> Iterator[Material]:
    """The material, writing its seals into this test's directory."""
    yield Material(**{**material.__dict__, "dir": tmp_path})


def _fields(der: bytes) -> core.Sequence:
    return core.Sequence.load(der)


def _bits(value: core.Asn1Value) -> bytes:
    assert isinstance(value, core.BitString) and value.contents[0] == 0
    return bytes(value.contents[1:])


def _openssl_verifies(tmp: Path, cert: Path, message: bytes, signature: bytes) -> bool:
    """OpenSSL's verdict on an SM2 signature (default user id) by ``cert``'s key."""
    pub = _openssl("x509", "-in", cert, "-pubkey", "-noout").stdout
    (tmp / "pub.pem").write_text(pub)
    (tmp / "msg.bin").write_bytes(message)
    (tmp / "msg.sig").write_bytes(signature)
    done = _openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        tmp / "pub.pem",
        "-rawin",
        "-digest",
        "sm3",
        "-in",
        tmp / "msg.bin",
        "-sigfile",
        tmp / "msg.sig",
        "-pkeyopt",
        DISTID,
    )
    return "Signature Verified Successfully" in done.stdout


# -- seals ------------------------------------------------------------------------------------


def test_a_v4_seal_bouncy_castle_makes_is_what_openssl_and_eseal_verify(
    ses_check: SesCheck, work: Material
) -> None:
    seal = work.seal(ses_check)
    report = ses_check.verify_seal(seal)
    assert report["valid"] is True and report["maker_signature_ok"] is True
    assert (report["version"], report["es_id"], report["type"], report["name"]) == (
        4,
        f"{USCC}-contract-1",
        2,
        f"{ENTERPRISE}合同专用章",
    )
    assert report["cert_count"] == 1 and report["der"] is True
    assert report["cert_list"][0]["subject"].startswith("2.5.4.97=")  # organizationIdentifier
    assert report["valid_start"] == (work.now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert report["picture"]["type"] == "png" and report["picture"]["width"] == 40
    assert report["timestamp_present"] is False and report["timestamp"] is None
    assert f"CN={ENTERPRISE}·制章者" in report["maker"]["subject"]

    # the maker's signature is over DER(eSealInfo), as OpenSSL and eseal's SM2 code see it
    fields = _fields(seal.read_bytes())
    assert len(fields) == 4 and fields[2].dotted == sm2.OID_SM2_WITH_SM3
    info, signature = fields[0].dump(), _bits(fields[3])
    assert _openssl_verifies(work.dir, work.maker_cert, info, signature)
    maker = asn1_x509.Certificate.load(asn1_pem.unarmor(work.maker_cert.read_bytes())[2])
    sm2.Sm2PublicKey.from_spki(maker.public_key).verify(signature, info)
    assert bytes(fields[1].contents) == maker.dump()  # cert: the maker's, DER in an OCTET STRING
    header = _fields(info)[0]
    assert [header[0].native, header[1].native] == ["ES", 4]

    # one changed byte of the picture: the maker's signature no longer holds
    der = bytearray(seal.read_bytes())
    der[der.index(b"IDAT") + 8] ^= 0x01
    seal.write_bytes(bytes(der))
    report = ses_check.verify_seal(seal)
    assert report["maker_signature_ok"] is False and report["valid"] is False


def test_a_seal_listing_certificate_digests_names_its_signer(
    ses_check: SesCheck, work: Material
) -> None:
    seal = work.seal(ses_check, cert_list_type=2, signer_certs=[work.signer_cert, work.other_cert])
    report = ses_check.verify_seal(seal)
    assert report["valid"] is True and report["cert_list_type"] == 2
    cert = asn1_x509.Certificate.load(asn1_pem.unarmor(work.signer_cert.read_bytes())[2])
    assert report["cert_list"][0] == {"type": "SM3", "value": sm2.sm3(cert.dump()).hex()}
    data = work.dir / "data.bin"
    data.write_bytes(b"contract")
    ses_check.make_signature(
        work.dir / "sig.dat", seal=seal, key=work.signer_key, cert=work.signer_cert, data=data
    )
    assert ses_check.verify_signature(work.dir / "sig.dat", data=data)["signer_in_cert_list"]


def test_malformed_seals_are_refused_not_guessed(ses_check: SesCheck, work: Material) -> None:
    seal = work.seal(ses_check)
    good = seal.read_bytes()
    for name, bad in {
        "header id": good.replace(b"\x16\x02ES", b"\x16\x02EX", 1),
        "version 6": good.replace(b"\x16\x02ES\x02\x01\x04", b"\x16\x02ES\x02\x01\x06", 1),
        "truncated": good[:-1],
        "trailing bytes": good + b"\x00",
    }.items():
        seal.write_bytes(bad)
        with pytest.raises(SesCheckRefused) as refused:
            ses_check.verify_seal(seal)
        assert refused.value.error, name
    # a timestamp belongs in a version 5 seal only
    seal.write_bytes(good)
    (work.dir / "token.der").write_bytes(b"\x30\x00")
    with pytest.raises(SesCheckRefused, match="version 4"):
        ses_check.add_timestamp(seal, work.dir / "v4ts.esl", work.dir / "token.der")


# -- signatures -------------------------------------------------------------------------------


def test_a_signature_by_an_openssl_key_verifies_in_bouncy_castle_and_openssl(
    ses_check: SesCheck, work: Material
) -> None:
    seal = work.seal(ses_check)
    data = work.dir / "contract.pdf"
    data.write_bytes("买卖合同 %PDF-1.7 whatever bytes".encode())
    made = ses_check.make_signature(
        work.dir / "sig.dat",
        seal=seal,
        key=work.signer_key,
        cert=work.signer_cert,
        data=data,
        property_info="contract.pdf",
        time=work.now,
    )
    report = ses_check.verify_signature(work.dir / "sig.dat", data=data)
    assert report["valid"] is True
    for check in (
        "seal_maker_signature_ok",
        "seal_valid_at_signing",
        "signer_in_cert_list",
        "signer_cert_valid_at_signing",
        "signer_signature_ok",
        "data_hash_ok",
        "version_matches_seal",
        "der",
    ):
        assert report[check] is True, check
    assert report["version"] == 4 and report["property_info"] == "contract.pdf"
    assert report["time_info"] == work.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert report["seal"]["es_id"] == f"{USCC}-contract-1"
    digest = _openssl("dgst", "-sm3", "-r", data).stdout.split()[0]
    assert report["data_hash"] == made["data_hash"] == digest

    # OpenSSL: the signer's SM2 signature is over DER(toSign), the seal inside is the file's
    fields = _fields((work.dir / "sig.dat").read_bytes())
    assert len(fields) == 4 and fields[2].dotted == sm2.OID_SM2_WITH_SM3
    to_sign = fields[0]
    assert to_sign[0].native == 4 and to_sign[1].dump() == seal.read_bytes()
    assert _openssl_verifies(work.dir, work.signer_cert, to_sign.dump(), _bits(fields[3]))
    assert _bits(fields[3]).hex() == made["signature_value"]
    # without the data, the hash is not judged
    assert ses_check.verify_signature(work.dir / "sig.dat")["data_hash_ok"] is None


def test_what_a_verifier_must_catch_bouncy_castle_catches(
    ses_check: SesCheck, work: Material
) -> None:
    seal = work.seal(ses_check)
    data = work.dir / "data.bin"
    data.write_bytes(b"the contract, page one")

    def sign(name: str, **options: object) -> Path:
        settings: dict[str, object] = {
            "seal": seal,
            "key": work.signer_key,
            "cert": work.signer_cert,
            "data": data,
            **options,
        }
        ses_check.make_signature(work.dir / name, **settings)
        return work.dir / name

    # one changed byte of the data
    good = sign("good.dat")
    other = work.dir / "other.bin"
    other.write_bytes(b"the contract, page One")
    report = ses_check.verify_signature(good, data=other)
    assert report["data_hash_ok"] is False and report["valid"] is False
    assert report["signer_signature_ok"] is True

    # a signer the seal does not list
    report = ses_check.verify_signature(
        sign("stranger.dat", key=work.other_key, cert=work.other_cert), data=data
    )
    assert report["signer_in_cert_list"] is False and report["signer_signature_ok"] is True
    assert report["valid"] is False

    # a seal that expired before the signing time
    expired = work.seal(
        ses_check,
        "expired.esl",
        valid_start=work.now - timedelta(days=30),
        valid_end=work.now - timedelta(days=1),
        create_date=work.now - timedelta(days=30),
    )
    report = ses_check.verify_signature(sign("late.dat", seal=expired), data=data)
    assert report["seal_valid_at_signing"] is False and report["valid"] is False
    assert report["seal"]["within_validity_now"] is False

    # a version 5 signature around a version 4 seal
    report = ses_check.verify_signature(sign("v5.dat", version=5), data=data)
    assert report["version_matches_seal"] is False and report["valid"] is False

    # one flipped bit in the signer's signature value (the last byte of s)
    der = bytearray(good.read_bytes())
    der[-1] ^= 0x01
    good.write_bytes(bytes(der))
    report = ses_check.verify_signature(good, data=data)
    assert report["signer_signature_ok"] is False and report["valid"] is False


# -- timestamps -------------------------------------------------------------------------------


def test_version_5_seals_and_signatures_carry_bouncy_castle_timestamps(
    ses_check: SesCheck, work: Material
) -> None:
    seal = work.seal(ses_check, version=5, tsa=work.tsa)
    report = ses_check.verify_seal(seal)
    assert report["version"] == 5 and report["valid"] is True
    token = report["timestamp"]
    assert token["imprint_alg"] == "1.2.156.10197.1.401"
    assert token["imprint_ok"] is token["signature_ok"] is token["ok"] is True
    assert len(_fields(seal.read_bytes())) == 5  # timeStamp [0] after signedValue

    data = work.dir / "data.bin"
    data.write_bytes(b"a v5 contract")
    ses_check.make_signature(
        work.dir / "sig.dat",
        seal=seal,
        key=work.signer_key,
        cert=work.signer_cert,
        data=data,
        tsa=work.tsa,
    )
    report = ses_check.verify_signature(work.dir / "sig.dat", data=data)
    assert report["version"] == 5 and report["valid"] is True
    assert report["timestamp"]["ok"] is True and report["seal"]["timestamp"]["ok"] is True

    # a version 4 seal has no place for one
    with pytest.raises(SesCheckRefused, match="version 4"):
        work.seal(ses_check, "v4.esl", tsa=work.tsa)


async def test_an_eseal_tsa_token_over_the_signature_value_is_accepted(
    ses_check: SesCheck, work: Material, tmp_path: Path
) -> None:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(bytes(range(32))))
    ecdsa = InternalPki(store, tmp_path / "pki", URL)
    ecdsa.create()
    pki = work.pki
    authority = TimeStampAuthority(
        ecdsa.tsa_signer(),
        ecdsa.tsa_signer().signing_cert,
        ecdsa.chain(),
        sm2=Sm2TsaKey(pki.service_signer("tsa"), pki.certificate("tsa"), pki.chain()),
    )

    async def stamp(value: bytes, path: Path) -> Path:
        request = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sm3"},
                    "hashed_message": sm2.sm3(value),
                },
                "nonce": 0x5E5,
                "cert_req": True,
            }
        )
        path.write_bytes(await authority.respond(request.dump()))
        return path

    seal = work.seal(ses_check, version=5)
    value = bytes.fromhex(ses_check.verify_seal(seal)["signed_value"])
    ses_check.add_timestamp(seal, tmp_path / "stamped.esl", await stamp(value, tmp_path / "a.tsr"))
    token = ses_check.verify_seal(tmp_path / "stamped.esl")["timestamp"]
    assert token["imprint_ok"] is token["signature_ok"] is True
    assert token["tsa"].endswith("CN=eseal SM2 TSA") or "TSA" in token["tsa"]

    data = tmp_path / "data.bin"
    data.write_bytes(b"stamped by eseal")
    made = ses_check.make_signature(
        tmp_path / "sig.dat", seal=seal, key=work.signer_key, cert=work.signer_cert, data=data
    )
    tsr = await stamp(bytes.fromhex(made["signature_value"]), tmp_path / "b.tsr")
    assert ses_check.add_timestamp(tmp_path / "sig.dat", tmp_path / "ts.dat", tsr) == {
        "kind": "signature"
    }
    report = ses_check.verify_signature(tmp_path / "ts.dat", data=data)
    assert report["timestamp"]["ok"] is True and report["valid"] is True

    # a token over something else than this signature value
    ses_check.add_timestamp(tmp_path / "sig.dat", tmp_path / "wrong.dat", tmp_path / "a.tsr")
    report = ses_check.verify_signature(tmp_path / "wrong.dat", data=data)
    assert report["timestamp"]["imprint_ok"] is False and report["valid"] is False
    assert report["timestamp"]["signature_ok"] is True


# -- OFD --------------------------------------------------------------------------------------


def _xml(data: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(data)


def _seal_ofd(
    ses_check: SesCheck, work: Material, src: bytes, seal: Path, name: str, **options: object
) -> tuple[Path, dict[str, Any]]:
    (work.dir / f"{name}.in.ofd").write_bytes(src)
    settings: dict[str, object] = {
        "seal": seal,
        "key": work.signer_key,
        "cert": work.signer_cert,
        "page": 1,
        "x": 120.0,
        "y": 200.5,
        "w": 40.0,
        "h": 40.0,
        **options,
    }
    answer = ses_check.sign_ofd(
        work.dir / f"{name}.in.ofd",
        work.dir / f"{name}.ofd",
        **settings,
    )
    return work.dir / f"{name}.ofd", answer


def test_sealing_an_ofd_lays_it_out_as_ofdrw_does(ses_check: SesCheck, work: Material) -> None:
    seal = work.seal(ses_check)
    original = unzip_ofd(simple_ofd(2))
    ofd, answer = _seal_ofd(ses_check, work, zip_ofd(original), seal, "sealed", page=2)
    files = unzip_ofd(ofd.read_bytes())
    sign_dir = "Doc_0/Signs/Sign_0"
    assert list(files) == [
        *original,
        "Doc_0/Signs/Signatures.xml",
        f"{sign_dir}/Seal.esl",
        f"{sign_dir}/Signature.xml",
        f"{sign_dir}/SignedValue.dat",
    ]
    # OFD.xml registers the signature list; every other original file is unchanged
    body = _xml(files["OFD.xml"]).find("ofd:DocBody", Q)
    assert body is not None
    assert body.findtext("ofd:Signatures", namespaces=Q) == "/Doc_0/Signs/Signatures.xml"
    assert all(files[name] == original[name] for name in original if name != "OFD.xml")

    listed = _xml(files["Doc_0/Signs/Signatures.xml"])
    assert listed.findtext("ofd:MaxSignId", namespaces=Q) == "s002"
    assert [s.attrib for s in listed.findall("ofd:Signature", Q)] == [
        {"ID": "s001", "Type": "Seal", "BaseLoc": f"/{sign_dir}/Signature.xml"}
    ]

    signature = _xml(files[f"{sign_dir}/Signature.xml"])
    info = signature.find("ofd:SignedInfo", Q)
    assert info is not None
    assert info.findtext("ofd:SignatureMethod", namespaces=Q) == "1.2.156.10197.1.501"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", info.findtext("ofd:SignatureDateTime", namespaces=Q)
    )
    provider = info.find("ofd:Provider", Q)
    assert provider is not None and provider.get("ProviderName") == "eseal-interop-bc"
    references = info.find("ofd:References", Q)
    assert references is not None and references.get("CheckMethod") == "SM3"
    checked = {
        r.get("FileRef"): base64.b64decode(r.findtext("ofd:CheckValue", namespaces=Q))
        for r in references.findall("ofd:Reference", Q)
    }
    # every file but the list and this signature's own outputs, each by its SM3
    assert list(checked) == [f"/{name}" for name in [*original, f"{sign_dir}/Seal.esl"]]
    assert all(checked[f"/{name}"] == sm2.sm3(files[name]) for name in original)
    page_2 = _xml(files["Doc_0/Document.xml"]).findall("ofd:Pages/ofd:Page", Q)[1].get("ID")
    assert [a.attrib for a in info.findall("ofd:StampAnnot", Q)] == [
        {"ID": "s002", "PageRef": page_2, "Boundary": "120 200.5 40 40"}
    ]
    assert info.findtext("ofd:Seal/ofd:BaseLoc", namespaces=Q) == f"/{sign_dir}/Seal.esl"
    assert signature.findtext("ofd:SignedValue", namespaces=Q) == f"/{sign_dir}/SignedValue.dat"
    assert files[f"{sign_dir}/Seal.esl"] == seal.read_bytes()
    assert answer["page_ref"] == page_2 and answer["signature_id"] == "s001"

    # SignedValue.dat: an SES_Signature over the bytes of Signature.xml
    (work.dir / "sv.dat").write_bytes(files[f"{sign_dir}/SignedValue.dat"])
    (work.dir / "sig.xml").write_bytes(files[f"{sign_dir}/Signature.xml"])
    signed = ses_check.verify_signature(work.dir / "sv.dat", data=work.dir / "sig.xml")
    assert signed["valid"] is True and signed["property_info"] == f"/{sign_dir}/Signature.xml"

    report = ses_check.verify_ofd(ofd)
    assert report["valid"] is True and len(report["signatures"]) == 1
    one = report["signatures"][0]
    assert one["references"] == {"ok": list(checked), "changed": [], "missing": []}
    assert one["not_covered"] == [] and one["seal_matches"] is True
    assert one["stamp_annots"][0]["page_exists"] is True


def test_a_second_seal_continues_the_list(ses_check: SesCheck, work: Material) -> None:
    seal = work.seal(ses_check)
    first, _ = _seal_ofd(ses_check, work, simple_ofd(1), seal, "first")
    second, answer = _seal_ofd(ses_check, work, first.read_bytes(), seal, "second", x=20.0)
    assert (answer["sign_dir"], answer["signature_id"], answer["stamp_annot_id"]) == (
        "/Doc_0/Signs/Sign_1",
        "s003",
        "s004",
    )
    files = unzip_ofd(second.read_bytes())
    listed = _xml(files["Doc_0/Signs/Signatures.xml"])
    assert listed.findtext("ofd:MaxSignId", namespaces=Q) == "s004"
    assert [s.get("ID") for s in listed.findall("ofd:Signature", Q)] == ["s001", "s003"]
    report = ses_check.verify_ofd(second)
    assert report["valid"] is True
    earlier, later = report["signatures"]
    # the first seal still holds: what came after it is the second seal's own files
    assert earlier["not_covered"] == [
        f"/Doc_0/Signs/Sign_1/{name}" for name in ("Seal.esl", "Signature.xml", "SignedValue.dat")
    ]
    assert "/Doc_0/Signs/Sign_0/SignedValue.dat" in later["references"]["ok"]
    assert "/Doc_0/Signs/Signatures.xml" not in later["references"]["ok"]


def test_tampered_ofds_are_caught(ses_check: SesCheck, work: Material) -> None:
    seal = work.seal(ses_check)
    ofd, _ = _seal_ofd(ses_check, work, simple_ofd(1), seal, "sealed")
    files = unzip_ofd(ofd.read_bytes())
    page = "Doc_0/Pages/Page_0/Content.xml"
    sign_dir = "Doc_0/Signs/Sign_0"

    def verify(changed: dict[str, bytes | None]) -> dict[str, Any]:
        altered = {k: v for k, v in {**files, **changed}.items() if v is not None}
        (work.dir / "tampered.ofd").write_bytes(zip_ofd(altered))
        report = ses_check.verify_ofd(work.dir / "tampered.ofd")
        assert report["valid"] is False
        one: dict[str, Any] = report["signatures"][0]
        return one

    one = verify({page: files[page].replace(b"100,000.00", b"900,000.00")})
    assert one["references"]["changed"] == [f"/{page}"]
    assert one["signed_value"]["valid"] is True

    one = verify({"Doc_0/PublicRes.xml": None})
    assert one["references"]["missing"] == ["/Doc_0/PublicRes.xml"]

    other = work.seal(ses_check, "other.esl", name="另一枚印章")
    one = verify({f"{sign_dir}/Seal.esl": other.read_bytes()})
    assert one["seal_matches"] is False
    assert one["references"]["changed"] == [f"/{sign_dir}/Seal.esl"]

    xml = files[f"{sign_dir}/Signature.xml"]
    one = verify({f"{sign_dir}/Signature.xml": xml.replace(b"200.5 40 40", b"10 40 40")})
    assert one["signed_value"]["data_hash_ok"] is False
    assert one["signed_value"]["signer_signature_ok"] is True


def test_a_protected_signature_list_takes_no_further_seal(
    ses_check: SesCheck, work: Material
) -> None:
    seal = work.seal(ses_check)
    ofd, answer = _seal_ofd(ses_check, work, simple_ofd(1), seal, "closed", protect_signatures=True)
    assert "/Doc_0/Signs/Signatures.xml" in answer["references"]
    report = ses_check.verify_ofd(ofd)
    assert report["valid"] is True and report["signatures"][0]["protects_signatures_list"]
    with pytest.raises(SesCheckRefused, match="no further signature"):
        _seal_ofd(ses_check, work, ofd.read_bytes(), seal, "again")
    with pytest.raises(SesCheckRefused, match="page 3"):
        _seal_ofd(ses_check, work, simple_ofd(2), seal, "nowhere", page=3)


def test_a_version_5_ofd_seal_with_timestamps(ses_check: SesCheck, work: Material) -> None:
    seal = work.seal(ses_check, version=5, tsa=work.tsa)
    ofd, answer = _seal_ofd(ses_check, work, simple_ofd(1), seal, "v5", tsa=work.tsa)
    assert answer["version"] == 5 and answer["timestamp_present"] is True
    one = ses_check.verify_ofd(ofd)["signatures"][0]
    assert one["valid"] is True
    assert one["signed_value"]["timestamp"]["ok"] is True
    assert one["signed_value"]["seal"]["timestamp"]["ok"] is True


# -- eseal and Bouncy Castle, each judging the other ------------------------------------------


@pytest.fixture(scope="module")
def eseal_tsa(material: Material, tmp_path_factory: pytest.TempPathFactory) -> TimeStampAuthority:
    """eseal's TSA with its SM2 key (the SM2 PKI's), as the server runs it."""
    base = tmp_path_factory.mktemp("eseal-tsa")
    store = SoftKeyStore(base / "keys", MasterKey(bytes(range(32))))
    store.initialise()
    ecdsa = InternalPki(store, base / "pki", URL)
    ecdsa.create()
    pki = material.pki
    return TimeStampAuthority(
        ecdsa.tsa_signer(),
        ecdsa.tsa_signer().signing_cert,
        ecdsa.chain(),
        sm2=Sm2TsaKey(pki.service_signer("tsa"), pki.certificate("tsa"), pki.chain()),
    )


def _eseal_token(authority: TimeStampAuthority, value: bytes) -> bytes:
    """eseal's SM2 TSA token over ``value`` (imprint SM3), as a sync callable needs it."""
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sm3"},
                "hashed_message": sm2.sm3(value),
            },
            "nonce": 0x5E5,
            "cert_req": True,
        }
    )
    response = TimeStampResp.load(asyncio.run(authority.respond(request.dump())))
    return bytes(response["time_stamp_token"].dump())


def _der(pem: Path) -> bytes:
    return bytes(asn1_pem.unarmor(pem.read_bytes())[2])


def _signer(material: Material) -> sm2.Sm2PrivateKey:
    """eseal's SM2 code holding the key OpenSSL made."""
    return sm2.Sm2PrivateKey.from_pkcs8(_der(material.signer_key))


def _eseal_seal(
    material: Material, version: int, authority: TimeStampAuthority | None, **changes: object
) -> bytes:
    """A seal made by eseal's own maker (the SM2 PKI's 制章者) for the OpenSSL-made signer."""
    maker = material.pki.seal_maker()
    now = datetime.now(UTC)
    settings: dict[str, Any] = {
        "es_id": f"{USCC}-contract-{version}",
        "seal_type": 2,
        "name": f"{ENTERPRISE}合同专用章",
        "certificates": [_der(material.signer_cert)],
        "created": now,
        "valid_start": now - timedelta(hours=1),
        "valid_end": now + timedelta(days=365),
        "image_png": material.picture.read_bytes(),
        "width_mm": 40,
        "height_mm": 40,
        "maker_certificate": maker.certificate.dump(),
        "maker_sign": maker.signer.sign,
        "version": version,
        "timestamp": (lambda v: _eseal_token(authority, v)) if authority else None,
        **changes,
    }
    return make_seseal(**settings)


def _eseal_signature(
    material: Material, seal: bytes, data: bytes, authority: TimeStampAuthority | None
) -> bytes:
    return make_ses_signature(
        seal_der=seal,
        data_hash=sm2.sm3(data),
        property_info="contract.pdf",
        signer_certificate=_der(material.signer_cert),
        sign=_signer(material).sign,
        time=datetime.now(UTC),
        timestamp=(lambda v: _eseal_token(authority, v)) if authority else None,
    )


@pytest.mark.parametrize("version", [4, 5])
def test_bouncy_castle_verifies_the_seals_and_signatures_eseal_makes(
    ses_check: SesCheck, work: Material, eseal_tsa: TimeStampAuthority, version: int
) -> None:
    authority = eseal_tsa if version == 5 else None
    seal = work.dir / "eseal.esl"
    seal.write_bytes(_eseal_seal(work, version, authority))
    report = ses_check.verify_seal(seal)
    assert report["valid"] is True and report["der"] is True
    assert (report["version"], report["es_id"], report["type"], report["cert_count"]) == (
        version,
        f"{USCC}-contract-{version}",
        2,
        1,
    )
    assert report["maker_signature_ok"] is report["created_within_maker_validity"] is True
    assert "eseal SM2 Seal Maker" in report["maker"]["subject"]
    assert report["timestamp_present"] is (version == 5)
    if version == 5:
        assert report["timestamp"]["imprint_ok"] is report["timestamp"]["signature_ok"] is True

    data = work.dir / "contract.pdf"
    data.write_bytes(b"%PDF-1.7 sealed by eseal")
    signature = work.dir / "eseal.dat"
    signature.write_bytes(_eseal_signature(work, seal.read_bytes(), data.read_bytes(), authority))
    report = ses_check.verify_signature(signature, data=data)
    assert report["valid"] is True and report["version"] == version
    assert report["signer_in_cert_list"] is report["signer_signature_ok"] is True
    assert report["data_hash_ok"] is True and report["property_info"] == "contract.pdf"
    assert report["timestamp_present"] is (version == 5)
    if version == 5:
        assert report["timestamp"]["ok"] is True


@pytest.mark.parametrize("version", [4, 5])
def test_eseal_reads_and_verifies_what_bouncy_castle_makes(
    ses_check: SesCheck, work: Material, version: int
) -> None:
    tsa = work.tsa if version == 5 else None
    seal = work.seal(ses_check, version=version, tsa=tsa)
    parsed = parse_seseal(seal.read_bytes())
    assert (parsed.version, parsed.es_id, parsed.seal_type, parsed.name) == (
        version,
        f"{USCC}-contract-1",
        2,
        f"{ENTERPRISE}合同专用章",
    )
    assert parsed.certificates == (_der(work.signer_cert),)
    assert parsed.picture_data == work.picture.read_bytes()
    assert (parsed.width_mm, parsed.height_mm, parsed.vid) == (40, 40, "eseal-bc")
    assert parsed.valid_start == work.now - timedelta(days=1)
    assert parsed.maker_certificate == _der(work.maker_cert)
    assert check_maker_signature(parsed) is True
    assert (parsed.timestamp is not None) is (version == 5)

    data = work.dir / "data.bin"
    data.write_bytes("合同 第 1 页".encode())
    ses_check.make_signature(
        work.dir / "sig.dat",
        seal=seal,
        key=work.signer_key,
        cert=work.signer_cert,
        data=data,
        property_info="data.bin",
        tsa=tsa,
    )
    result = verify_ses_signature((work.dir / "sig.dat").read_bytes(), data=data.read_bytes())
    assert result.valid is True, result.problems
    assert result.version == version and result.property_info == "data.bin"
    assert (result.timestamp_time is not None) is (version == 5)

    # a certList of digests names the same signer for eseal too
    digests = parse_seseal(work.seal(ses_check, "digests.esl", cert_list_type=2).read_bytes())
    assert lists_signer(digests, _der(work.signer_cert))
    assert not lists_signer(digests, _der(work.other_cert))


def test_tampered_copies_are_caught_by_both(
    ses_check: SesCheck, work: Material, eseal_tsa: TimeStampAuthority
) -> None:
    data = work.dir / "data.bin"
    data.write_bytes(b"the contract, page one")
    changed = work.dir / "changed.bin"
    changed.write_bytes(b"the contract, page One")
    bc_seal = work.seal(ses_check)
    eseal_seal = work.dir / "eseal.esl"
    eseal_seal.write_bytes(_eseal_seal(work, 5, eseal_tsa))
    expired = work.dir / "expired.esl"
    now = datetime.now(UTC)
    expired.write_bytes(
        _eseal_seal(
            work, 4, None, valid_start=now - timedelta(days=30), valid_end=now - timedelta(days=1)
        )
    )

    def by_bc(name: str, seal: Path, **options: object) -> Path:
        settings: dict[str, Any] = {
            "seal": seal,
            "key": work.signer_key,
            "cert": work.signer_cert,
            "data": data,
            **options,
        }
        ses_check.make_signature(work.dir / name, **settings)
        return work.dir / name

    eseal_made = work.dir / "eseal.dat"
    eseal_made.write_bytes(_eseal_signature(work, eseal_seal.read_bytes(), data.read_bytes(), None))
    flipped = bytearray(by_bc("flipped.dat", bc_seal).read_bytes())
    flipped[-1] ^= 0x01
    (work.dir / "flipped.dat").write_bytes(bytes(flipped))
    cases = {
        # what, which signature, which data, SesCheck's check, eseal's problem
        "a changed byte of the data": (
            eseal_made,
            changed,
            "data_hash_ok",
            ProblemCode.DIGEST_MISMATCH,
        ),
        "a signer not on the certList": (
            by_bc("stranger.dat", eseal_seal, key=work.other_key, cert=work.other_cert),
            data,
            "signer_in_cert_list",
            ProblemCode.SIGNER_NOT_IN_SEAL,
        ),
        "an expired seal": (
            by_bc("late.dat", expired),
            data,
            "seal_valid_at_signing",
            ProblemCode.SEAL_NOT_VALID_AT_SIGNING,
        ),
        "a flipped bit of the signature": (
            work.dir / "flipped.dat",
            data,
            "signer_signature_ok",
            ProblemCode.SIGNATURE_INVALID,
        ),
    }
    for what, (signature, over, check, problem) in cases.items():
        report = ses_check.verify_signature(signature, data=over)
        assert report[check] is False and report["valid"] is False, what
        result = verify_ses_signature(signature.read_bytes(), data=over.read_bytes())
        assert result.valid is False and problem in result.problems, (what, result.problems)


def test_bouncy_castle_verifies_an_ofd_eseal_sealed_twice(
    ses_check: SesCheck, work: Material, eseal_tsa: TimeStampAuthority
) -> None:
    seal = _eseal_seal(work, 5, eseal_tsa)
    key = _signer(work)

    def sign_ses(document: bytes) -> Callable[[bytes], bytes]:
        path = next_signature_path(document)
        return lambda xml: make_ses_signature(
            seal_der=seal,
            data_hash=sm2.sm3(xml),
            property_info=path,
            signer_certificate=_der(work.signer_cert),
            sign=key.sign,
            time=datetime.now(UTC),
            timestamp=lambda v: _eseal_token(eseal_tsa, v),
        )

    document = simple_ofd(2)
    for page in (1, 2):
        document = seal_ofd(
            document,
            seal_esl=seal,
            sign_ses=sign_ses(document),
            placement=AtPoint(page, 150.0, 200.0),
            now=datetime.now(UTC),
        )
    (work.dir / "eseal.ofd").write_bytes(document)
    report = ses_check.verify_ofd(work.dir / "eseal.ofd")
    assert report["valid"] is True and report["max_sign_id"] == "s004"
    first, second = report["signatures"]
    pages = _xml(unzip_ofd(document)["Doc_0/Document.xml"]).findall("ofd:Pages/ofd:Page", Q)
    for one, page in ((first, 1), (second, 2)):
        assert one["references"]["changed"] == one["references"]["missing"] == []
        assert one["seal_matches"] is one["property_info_matches"] is True
        assert one["signed_value"]["timestamp"]["ok"] is True
        assert one["stamp_annots"][0]["page_ref"] == pages[page - 1].get("ID")
        assert one["stamp_annots"][0]["boundary"] == "130 180 40 40"
    assert "/Doc_0/Signs/Sign_0/SignedValue.dat" in second["references"]["ok"]


def test_eseal_verifies_an_ofd_bouncy_castle_sealed_twice(
    ses_check: SesCheck, work: Material
) -> None:
    v4 = work.seal(ses_check)
    v5 = work.seal(ses_check, "v5.esl", version=5, tsa=work.tsa)
    first, _ = _seal_ofd(ses_check, work, simple_ofd(2), v4, "first")
    second, _ = _seal_ofd(ses_check, work, first.read_bytes(), v5, "second", page=2, tsa=work.tsa)
    result = verify_ofd(second.read_bytes())
    assert result.valid is True, [s.problems for s in result.signatures]
    assert [s.id for s in result.signatures] == ["s001", "s003"]
    assert [s.stamps[0].page for s in result.signatures] == [1, 2]
    assert all(
        check.status is ReferenceStatus.OK for s in result.signatures for check in s.references
    )
    assert [s.ses.version for s in result.signatures] == [4, 5]
    assert result.signatures[1].ses.timestamp_time is not None
    assert result.signatures[0].signing_time is not None  # ofdrw's Beijing-time spelling

    # eseal adds its own seal after Bouncy Castle's, and Bouncy Castle still finds all valid
    eseal_seal = _eseal_seal(work, 4, None)
    key = _signer(work)
    path = next_signature_path(second.read_bytes())
    third = seal_ofd(
        second.read_bytes(),
        seal_esl=eseal_seal,
        sign_ses=lambda xml: make_ses_signature(
            seal_der=eseal_seal,
            data_hash=sm2.sm3(xml),
            property_info=path,
            signer_certificate=_der(work.signer_cert),
            sign=key.sign,
            time=datetime.now(UTC),
            timestamp=None,
        ),
        placement=AtPoint(1, 60.0, 250.0),
        now=datetime.now(UTC),
    )
    (work.dir / "third.ofd").write_bytes(third)
    report = ses_check.verify_ofd(work.dir / "third.ofd")
    assert report["valid"] is True
    assert [s["id"] for s in report["signatures"]] == ["s001", "s003", "s005"]
    assert verify_ofd(third).valid is True


def test_tampered_ofds_are_caught_by_both(ses_check: SesCheck, work: Material) -> None:
    seal = work.seal(ses_check)
    ofd, _ = _seal_ofd(ses_check, work, simple_ofd(1), seal, "sealed")
    files = unzip_ofd(ofd.read_bytes())
    page = "Doc_0/Pages/Page_0/Content.xml"
    sign_dir = "Doc_0/Signs/Sign_0"
    swapped = work.seal(ses_check, "other.esl", name="另一枚印章").read_bytes()
    signature_xml = files[f"{sign_dir}/Signature.xml"]
    cases = {
        "a changed page": ({page: files[page].replace(b"100,000.00", b"900,000.00")}, "changed"),
        "a swapped Seal.esl": ({f"{sign_dir}/Seal.esl": swapped}, "seal"),
        "an edited Signature.xml": (
            {f"{sign_dir}/Signature.xml": signature_xml.replace(b"200.5 40 40", b"10 40 40")},
            "hash",
        ),
    }
    expected = {
        "changed": ProblemCode.OFD_FILE_CHANGED,
        "seal": ProblemCode.OFD_SEAL_MISMATCH,
        "hash": ProblemCode.DIGEST_MISMATCH,
    }
    for what, (change, kind) in cases.items():
        tampered = zip_ofd({**files, **change})
        (work.dir / "tampered.ofd").write_bytes(tampered)
        one = ses_check.verify_ofd(work.dir / "tampered.ofd")["signatures"][0]
        assert one["valid"] is False, what
        if kind == "changed":
            assert one["references"]["changed"] == [f"/{page}"]
        elif kind == "seal":
            assert one["seal_matches"] is False
        else:
            assert one["signed_value"]["data_hash_ok"] is False
        codes = [p.code for p in verify_ofd(tampered).signatures[0].problems]
        assert expected[kind] in codes, (what, codes)

    # a list Bouncy Castle protected: eseal refuses to add a seal, as ofdrw would
    closed, _ = _seal_ofd(ses_check, work, simple_ofd(1), seal, "closed", protect_signatures=True)
    assert verify_ofd(closed.read_bytes()).valid is True
    eseal_seal = _eseal_seal(work, 4, None)
    with pytest.raises(RequestRefused) as refused:
        seal_ofd(
            closed.read_bytes(),
            seal_esl=eseal_seal,
            sign_ses=lambda xml: b"never called",
            placement=AtPoint(1, 100.0, 100.0),
            now=datetime.now(UTC),
        )
    assert refused.value.code == "signature_list_protected"
