"""SM2 with SM3: keys in the soft store, signatures, the SM2 PKI, and OpenSSL 3 as the judge.

Every signature made here is checked by OpenSSL (``openssl pkeyutl`` / ``openssl verify`` with
the distinguishing id ``1234567812345678``); Bouncy Castle checks the same kinds of objects in
``tests/interop/test_sm2_bouncy_castle.py``.

OpenSSL 3.0 (Debian 12) uses an *empty* user id unless told otherwise, and ``openssl verify
-vfyopt distid:...`` sets it on the target certificate only: so the chain is checked one link
at a time (the CA against the root, then the leaf with the CA as a partial-chain anchor), and
the CRL signature (``openssl crl -verify`` has no way to pass the id) with ``pkeyutl`` over the
CRL's TBS bytes.
"""

from __future__ import annotations

import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import algos as asn1_algos
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from helpers import require_tool
from keystore import sm2
from keystore.base import KeyAlgorithm
from keystore.errors import MasterKeyError
from keystore.masterkey import MasterKey
from keystore.pki import RevokedCert, SealSubject
from keystore.sm2_pki import (
    Sm2Pki,
    check_certificate_key,
    verify_certificate_signature,
    verify_crl_signature,
)
from keystore.soft import SoftKeyStore

DISTID = "distid:1234567812345678"
USCC = "91110108551385082Q"
MASTER = bytes(range(32))
MESSAGE = "合同第一页的签名数据 / signed attributes".encode()


def _openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=check)


def _store(tmp_path: Path, key: bytes = MASTER) -> SoftKeyStore:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(key))
    store.initialise()
    return store


def _pem(kind: str, der: bytes) -> bytes:
    return bytes(asn1_pem.armor(kind, der))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _openssl_verifies(
    tmp_path: Path, spki_der: bytes, message: bytes, signature: bytes, distid: str = DISTID
) -> subprocess.CompletedProcess[str]:
    pub = _write(tmp_path / "pub.pem", _pem("PUBLIC KEY", spki_der))
    msg = _write(tmp_path / "msg.bin", message)
    sig = _write(tmp_path / "sig.bin", signature)
    return _openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pub,
        "-rawin",
        "-in",
        msg,
        "-sigfile",
        sig,
        "-digest",
        "sm3",
        "-pkeyopt",
        distid,
        check=False,
    )


# -- keys and signatures -------------------------------------------------------------------


def test_soft_store_key_signs_and_openssl_verifies_with_the_default_user_id(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ref = store.generate("91110108551385082Q", "contract-sm2", KeyAlgorithm.SM2)
    signer = store.sm2_signer(ref)
    signature = signer.sign(MESSAGE)
    spki = store.public_key(ref)
    assert sm2.is_sm2_spki(spki)
    sm2.Sm2PublicKey.from_spki(spki).verify(signature, MESSAGE)

    ok = _openssl_verifies(tmp_path, spki.dump(), MESSAGE, signature)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Signature Verified Successfully" in ok.stdout
    # the id is part of what is signed: another id does not verify
    other = _openssl_verifies(tmp_path, spki.dump(), MESSAGE, signature, "distid:1234567812345679")
    assert other.returncode != 0
    # two signatures of the same message differ: the nonce is fresh each time
    assert signer.sign(MESSAGE) != signature


def test_key_is_encrypted_at_rest_and_survives_a_restart(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ref = store.generate("scope", "seal", KeyAlgorithm.SM2)
    spki = store.public_key(ref).dump()
    key_file = tmp_path / "keys" / "scope" / "seal.key"
    data = key_file.read_bytes()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert not sm2.is_sm2_pkcs8(data) and b"PRIVATE KEY" not in data
    loaded = store._load(ref)
    assert isinstance(loaded, sm2.Sm2PrivateKey) and loaded._d not in data

    again = SoftKeyStore(tmp_path / "keys", MasterKey(MASTER))
    assert again.public_key(ref).dump() == spki
    signature = again.sm2_signer(ref).sign(MESSAGE)
    assert _openssl_verifies(tmp_path, spki, MESSAGE, signature).returncode == 0

    wrong = SoftKeyStore(tmp_path / "keys", MasterKey(secrets.token_bytes(32)))
    with pytest.raises(MasterKeyError):
        wrong.sm2_signer(ref)


def test_sm2_key_is_not_handed_to_other_algorithms(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sm2_ref = store.generate("scope", "sm2", KeyAlgorithm.SM2)
    ec_ref = store.generate("scope", "ec", KeyAlgorithm.EC_P256)
    with pytest.raises(Exception) as raised:
        store.private_key_for_pki(sm2_ref)
    assert getattr(raised.value, "code", None) == "key_is_sm2"
    with pytest.raises(Exception) as raised:
        store.sm2_signer(ec_ref)
    assert getattr(raised.value, "code", None) == "key_not_sm2"


def test_signatures_made_by_openssl_verify_here_only_with_the_default_user_id(
    tmp_path: Path,
) -> None:
    key = tmp_path / "key.pem"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", key)
    spki = _openssl("pkey", "-in", key, "-pubout", "-outform", "DER", "-out", tmp_path / "pub.der")
    assert spki.returncode == 0
    public = sm2.Sm2PublicKey.from_spki((tmp_path / "pub.der").read_bytes())
    msg = _write(tmp_path / "m.bin", MESSAGE)

    def openssl_sign(distid: str) -> bytes:
        out = tmp_path / "s.bin"
        _openssl(
            "pkeyutl",
            "-sign",
            "-inkey",
            key,
            "-rawin",
            "-in",
            msg,
            "-digest",
            "sm3",
            "-pkeyopt",
            distid,
            "-out",
            out,
        )
        return out.read_bytes()

    public.verify(openssl_sign(DISTID), MESSAGE)
    with pytest.raises(sm2.Sm2Error) as raised:
        public.verify(openssl_sign("distid:ALICE123@YAHOO.COM"), MESSAGE)
    assert raised.value.code == "sm2_signature_invalid"
    # and the same key's PKCS#8 (as OpenSSL writes it) loads and signs for OpenSSL
    der = _openssl(
        "pkcs8", "-topk8", "-nocrypt", "-in", key, "-outform", "DER", "-out", tmp_path / "k.der"
    )
    assert der.returncode == 0
    loaded = sm2.Sm2PrivateKey.from_pkcs8((tmp_path / "k.der").read_bytes())
    assert loaded.public == public
    assert (
        _openssl_verifies(tmp_path, public.spki_der(), MESSAGE, loaded.sign(MESSAGE)).returncode
        == 0
    )


def test_bad_input_each_gets_its_own_code() -> None:
    key = sm2.Sm2PrivateKey.generate()
    signature = key.sign(MESSAGE)
    public = key.public

    def code(action) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises(sm2.Sm2Error) as raised:
            action()
        return raised.value.code

    # point not on the curve, in a SubjectPublicKeyInfo as a peer would send it
    off_curve = bytearray(public.point)
    off_curve[-1] ^= 1
    spki = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters("named", sm2.NAME_CURVE),
            },
            "public_key": bytes(off_curve),
        }
    )
    assert code(lambda: sm2.Sm2PublicKey.from_spki(spki.dump())) == "sm2_point_not_on_curve"
    # an SM2 key asked to work with SHA-256
    assert code(lambda: key.sign(MESSAGE, digest_algorithm="sha256")) == "sm2_digest_not_sm3"
    assert (
        code(lambda: public.verify(signature, MESSAGE, digest_algorithm="sha256"))
        == "sm2_digest_not_sm3"
    )
    # another message, another key
    assert code(lambda: public.verify(signature, MESSAGE + b"!")) == "sm2_signature_invalid"
    other = sm2.Sm2PrivateKey.generate().public
    assert code(lambda: other.verify(signature, MESSAGE)) == "sm2_signature_invalid"
    # a signature made with another user id
    assert (
        code(lambda: public.verify(key.sign(MESSAGE, user_id=b"ALICE123@YAHOO.COM"), MESSAGE))
        == "sm2_signature_invalid"
    )
    # not DER, trailing bytes, BER long-form length, r = 0
    _, s = sm2.parse_signature(signature)
    ber = b"\x30\x81" + bytes([len(signature) - 2]) + signature[2:]
    zero = asn1_algos.DSASignature({"r": 0, "s": s}).dump()
    for bad in (b"", signature + b"\x00", ber, zero, signature[:-1]):
        assert code(lambda bad=bad: public.verify(bad, MESSAGE)) == "sm2_signature_malformed"
    # a P-256 key is not an SM2 key
    p256 = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters("named", "secp256r1"),
            },
            "public_key": public.point,
        }
    )
    assert code(lambda: sm2.Sm2PublicKey.from_spki(p256)) == "sm2_key_invalid"


def test_z_and_signature_agree_with_gmssl_own_z() -> None:
    """GmSSL's message-level sign computes Z itself; ours verifies it (and the reverse)."""
    import gmssl_pyx

    key = sm2.Sm2PrivateKey.generate()
    theirs = gmssl_pyx.sm2_sign(key._d, key.public.point[1:], MESSAGE, sm2.DEFAULT_USER_ID)
    key.public.verify(theirs, MESSAGE)
    assert gmssl_pyx.sm2_verify(
        key.public.point[1:], MESSAGE, key.sign(MESSAGE), sm2.DEFAULT_USER_ID
    )


def test_oids_are_registered_with_asn1crypto() -> None:
    sm2.register_oids()  # idempotent
    assert asn1_algos.SignedDigestAlgorithmId("sm2_sm3").dotted == sm2.OID_SM2_WITH_SM3
    assert asn1_algos.DigestAlgorithmId("sm3").dotted == sm2.OID_SM3
    assert asn1_keys.NamedCurve("sm2p256v1").dotted == sm2.OID_SM2_CURVE
    assert asn1_algos.SignedDigestAlgorithmId(sm2.OID_SM2_SIGN).native == "sm2"


# -- the SM2 PKI ---------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> tuple[SoftKeyStore, Sm2Pki]:
    store = _store(tmp_path)
    pki = Sm2Pki(store, tmp_path / "pki-sm2", "https://eseal.example.cn")
    pki.create()
    return store, pki


def _seal(
    store: SoftKeyStore, pki: Sm2Pki, *, label: str = "合同专用章", person: str | None = None
) -> tuple[str, asn1_x509.Certificate]:
    ref = store.generate(USCC, f"k{secrets.token_hex(3)}", KeyAlgorithm.SM2)
    now = datetime.now(UTC)
    cert = pki.issue_seal_certificate(
        store.public_key(ref),
        SealSubject("北京测试科技有限公司", USCC, label, person),
        not_before=now,
        not_after=now + timedelta(days=365),
    )
    return ref, cert


def _cert_file(tmp_path: Path, name: str, cert: asn1_x509.Certificate) -> Path:
    return _write(tmp_path / name, _pem("CERTIFICATE", cert.dump()))


def test_openssl_verifies_every_link_of_the_sm2_chain(
    tmp_path: Path, pki: tuple[SoftKeyStore, Sm2Pki]
) -> None:
    store, ca = pki
    _, seal = _seal(store, ca)
    root = _cert_file(tmp_path, "root.pem", ca.certificate("root"))
    issuing = _cert_file(tmp_path, "issuing.pem", ca.certificate("issuing"))
    links = [
        ("-CAfile", root, issuing),
        ("-partial_chain", "-CAfile", issuing, _cert_file(tmp_path, "seal.pem", seal)),
        (
            "-partial_chain",
            "-CAfile",
            issuing,
            "-purpose",
            "timestampsign",
            _cert_file(tmp_path, "tsa.pem", ca.certificate("tsa")),
        ),
        (
            "-partial_chain",
            "-CAfile",
            issuing,
            _cert_file(tmp_path, "ocsp.pem", ca.certificate("ocsp")),
        ),
    ]
    for *options, target in links:
        done = _openssl("verify", *options, "-vfyopt", DISTID, target, check=False)
        assert done.returncode == 0 and done.stdout.strip().endswith("OK"), (
            done.stdout + done.stderr
        )
    # the root's self-signature (OpenSSL's -check_ss_sig would use the empty id)
    root_cert = ca.certificate("root")
    done = _openssl_verifies(
        tmp_path,
        root_cert.public_key.dump(),
        root_cert["tbs_certificate"].dump(),
        bytes(root_cert["signature_value"]),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # our own verifier agrees, link by link
    verify_certificate_signature(ca.certificate("root"), ca.certificate("root"))
    verify_certificate_signature(ca.certificate("issuing"), ca.certificate("root"))
    verify_certificate_signature(seal, ca.certificate("issuing"))
    # and a seal certificate checked against the wrong CA fails
    with pytest.raises(sm2.Sm2Error) as raised:
        verify_certificate_signature(seal, ca.certificate("root"))
    assert raised.value.code == "sm2_signature_invalid"


def test_seal_certificate_profile_as_openssl_reads_it(
    tmp_path: Path, pki: tuple[SoftKeyStore, Sm2Pki]
) -> None:
    store, ca = pki
    _, seal = _seal(store, ca)
    text = _openssl(
        "x509",
        "-in",
        _cert_file(tmp_path, "seal.pem", seal),
        "-noout",
        "-text",
        "-nameopt",
        "utf8,sep_comma_plus_space",
    ).stdout
    assert "Signature Algorithm: SM2-with-SM3" in text
    assert "ASN1 OID: SM2" in text and "id-ecPublicKey" in text
    assert (
        "Subject: C=CN, O=北京测试科技有限公司, OU=91110108551385082Q, "
        "title=合同专用章, CN=北京测试科技有限公司·合同专用章, "
        "organizationIdentifier=NTRCN-91110108551385082Q"
    ) in text
    assert "X509v3 Key Usage: critical\n                Digital Signature, Non Repudiation" in text
    assert "CA:FALSE" in text
    assert "1.2.156.10197.1.301" not in text  # OpenSSL knows the curve by name
    assert "1.2.156.10260.4.1.4" in text and USCC in text
    assert "URI:https://eseal.example.cn/v1/pki/crl?algorithm=sm2" in text
    assert "OCSP - URI:https://eseal.example.cn/v1/pki/ocsp?algorithm=sm2" in text
    assert "X509v3 Authority Key Identifier" in text and "X509v3 Subject Key Identifier" in text
    uscc_ext = next(
        e
        for e in seal["tbs_certificate"]["extensions"]
        if e["extn_id"].dotted == "1.2.156.10260.4.1.4"
    )
    assert uscc_ext["critical"].native is False
    assert uscc_ext["extn_value"].contents == b"\x0c\x12" + USCC.encode()  # UTF8String

    legal = _seal(store, ca, label="法定代表人", person="张三")[1]
    assert legal.subject.native["common_name"] == "张三"
    assert legal.subject.native["title"] == "法定代表人"


def test_ca_and_service_certificates(tmp_path: Path, pki: tuple[SoftKeyStore, Sm2Pki]) -> None:
    _, ca = pki
    root = ca.certificate("root")
    issuing = ca.certificate("issuing")
    assert root.ca and root.max_path_length == 1 and root.self_signed == "maybe"
    assert issuing.ca and issuing.max_path_length == 0
    assert {"key_cert_sign", "crl_sign"} <= issuing.key_usage_value.native
    tsa = ca.certificate("tsa")
    assert tsa.extended_key_usage_value.native == ["time_stamping"]
    assert "extended_key_usage" in tsa.critical_extensions
    ocsp = ca.certificate("ocsp")
    assert ocsp.extended_key_usage_value.native == ["ocsp_signing"]
    assert ocsp.ocsp_no_check_value is not None
    for cert in (root, issuing, tsa, ocsp):
        assert cert["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
        assert (
            "parameters" not in cert["signature_algorithm"]
            or cert["signature_algorithm"]["parameters"].native is None
        )
    # loaded again from disk by a second process, the same certificates and keys answer
    again = Sm2Pki(
        SoftKeyStore(tmp_path / "keys", MasterKey(MASTER)),
        tmp_path / "pki-sm2",
        "https://eseal.example.cn",
    )
    again.load()
    assert again.certificate("tsa").dump() == tsa.dump()
    signature = again.service_signer("tsa").sign(MESSAGE)
    check_certificate_key(tsa, again.service_signer("tsa").public_key)
    sm2.Sm2PublicKey.from_spki(tsa.public_key).verify(signature, MESSAGE)
    with pytest.raises(Exception) as raised:
        ca.create()
    assert getattr(raised.value, "code", None) == "pki_exists"


def test_certificate_whose_key_does_not_match_and_refused_keys(
    pki: tuple[SoftKeyStore, Sm2Pki],
) -> None:
    store, ca = pki
    ref, seal = _seal(store, ca)
    check_certificate_key(seal, store.sm2_signer(ref).public_key)
    with pytest.raises(sm2.Sm2Error) as raised:
        check_certificate_key(seal, sm2.Sm2PrivateKey.generate().public)
    assert raised.value.code == "certificate_key_mismatch"
    # the CA refuses to certify a point off the curve or a non-SM2 key
    public = store.sm2_signer(ref).public_key
    off = asn1_keys.PublicKeyInfo.load(public.spki_der())
    point = bytearray(public.point)
    point[5] ^= 0x40
    off = asn1_keys.PublicKeyInfo({"algorithm": off["algorithm"], "public_key": bytes(point)})
    subject = SealSubject("北京测试科技有限公司", USCC, "合同专用章")
    now = datetime.now(UTC)
    with pytest.raises(sm2.Sm2Error) as raised:
        ca.issue_seal_certificate(off, subject, not_before=now, not_after=now)
    assert raised.value.code == "sm2_point_not_on_curve"
    p256 = store.public_key(store.generate(USCC, "p256", KeyAlgorithm.EC_P256))
    with pytest.raises(sm2.Sm2Error) as raised:
        ca.issue_seal_certificate(p256, subject, not_before=now, not_after=now)
    assert raised.value.code == "sm2_key_invalid"


def test_certificate_signed_with_another_digest_is_refused(
    pki: tuple[SoftKeyStore, Sm2Pki],
) -> None:
    store, ca = pki
    _, seal = _seal(store, ca)
    relabelled = asn1_x509.Certificate(
        {
            "tbs_certificate": seal["tbs_certificate"],
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature_value": seal["signature_value"].native,
        }
    )
    with pytest.raises(sm2.Sm2Error) as raised:
        verify_certificate_signature(relabelled, ca.certificate("issuing"))
    assert raised.value.code == "sm2_digest_not_sm3"


def test_crl_is_signed_with_sm2_and_openssl_reads_and_verifies_it(
    tmp_path: Path, pki: tuple[SoftKeyStore, Sm2Pki]
) -> None:
    store, ca = pki
    _, seal = _seal(store, ca)
    now = datetime.now(UTC)
    der = ca.crl(
        [
            RevokedCert(
                seal.serial_number, now, x509.ReasonFlags.key_compromise, now - timedelta(hours=2)
            )
        ]
    )
    crl_file = _write(tmp_path / "crl.der", der)
    text = _openssl("crl", "-inform", "DER", "-in", crl_file, "-noout", "-text").stdout
    assert "Signature Algorithm: SM2-with-SM3" in text
    assert f"Serial Number: {seal.serial_number:X}" in text
    assert "Key Compromise" in text and "Invalidity Date" in text

    crl = asn1_crl.CertificateList.load(der)
    verify_crl_signature(crl, ca.certificate("issuing"))
    # OpenSSL checks the signature over the exact TBS bytes with the default user id
    issuing_spki = ca.certificate("issuing")["tbs_certificate"]["subject_public_key_info"]
    done = _openssl_verifies(
        tmp_path, issuing_spki.dump(), crl["tbs_cert_list"].dump(), bytes(crl["signature"])
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # a CRL with an entry removed no longer verifies
    tampered = asn1_crl.CertificateList(
        {
            "tbs_cert_list": asn1_crl.TbsCertList(
                {
                    **{
                        k: crl["tbs_cert_list"][k]
                        for k in (
                            "version",
                            "signature",
                            "issuer",
                            "this_update",
                            "next_update",
                            "crl_extensions",
                        )
                    }
                }
            ),
            "signature_algorithm": crl["signature_algorithm"],
            "signature": bytes(crl["signature"]),
        }
    )
    with pytest.raises(sm2.Sm2Error) as raised:
        verify_crl_signature(tampered, ca.certificate("issuing"))
    assert raised.value.code == "sm2_signature_invalid"
    # the root CRL (for the seal CA) is signed by the root key
    verify_crl_signature(
        asn1_crl.CertificateList.load(ca.crl([], ca="root")), ca.certificate("root")
    )


# -- PKCS#11 -------------------------------------------------------------------------------


@pytest.mark.softhsm
def test_pkcs11_store_refuses_sm2_clearly_and_makes_no_key(softhsm) -> None:  # type: ignore[no-untyped-def]
    from keystore.errors import AlgorithmNotSupportedByKeystore
    from keystore.pkcs11 import Pkcs11KeyStore

    store = Pkcs11KeyStore(softhsm.module, softhsm.token_label, softhsm.user_pin)
    scope = f"t{secrets.token_hex(4)}"
    with pytest.raises(AlgorithmNotSupportedByKeystore) as raised:
        store.generate(scope, "contract", KeyAlgorithm.SM2)
    assert raised.value.code == "algorithm_not_supported_by_keystore"
    assert raised.value.to_problem()["code"] == "algorithm_not_supported_by_keystore"
    # nothing was made in its place: the label is free for a key of a supported type
    store.generate(scope, "contract", KeyAlgorithm.EC_P256)
