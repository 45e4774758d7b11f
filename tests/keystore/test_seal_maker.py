"""The platform's seal maker (制章者): the SM2 key and certificate that sign every SESeal.

``Sm2Pki`` makes it with the rest of the SM2 PKI, and for a data dir made before it existed at
the next start (``ensure``).  It hands out a signer, never the key, with the certificate that
goes into ``SESeal.cert`` and the chain that makes it trusted.  OpenSSL checks the chain one
link at a time with the default user id (see tests/keystore/test_sm2.py for why), and the
maker's signature; Bouncy Castle does the same in ``tests/interop/test_sm2_rotation_bc.py``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import threading
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509

from helpers import require_tool
from keystore import sm2
from keystore.base import KeyAlgorithm
from keystore.errors import KeystoreError
from keystore.masterkey import MasterKey
from keystore.sm2_ocsp import ocsp_response
from keystore.sm2_pki import ROLES, SCOPE, SealMaker, Sm2Pki, verify_certificate_signature
from keystore.soft import SoftKeyStore

MASTER = bytes(range(32))
URL = "https://eseal.example.cn"
DISTID = "distid:1234567812345678"
#: what a seal maker signs: DER of an SES_SealInfo (any bytes will do for the signature)
SEAL_INFO = "SES_SealInfo: ES v4, 合同专用章, certList, picture".encode()


def _store(tmp_path: Path) -> SoftKeyStore:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(MASTER))
    store.initialise()
    return store


def _pki(tmp_path: Path) -> Sm2Pki:
    pki = Sm2Pki(_store(tmp_path), tmp_path / "sm2", URL)
    pki.ensure()
    return pki


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def _pem(path: Path, cert: asn1_x509.Certificate) -> Path:
    path.write_bytes(asn1_pem.armor("CERTIFICATE", cert.dump()))
    return path


def _make_it_an_old_data_dir(tmp_path: Path) -> dict[str, bytes]:
    """What a data dir made before the seal maker holds: four keys, four certificates."""
    directory = tmp_path / "sm2"
    manifest = json.loads((directory / "sm2-pki.json").read_text())
    del manifest["keys"]["maker"]
    (directory / "sm2-pki.json").write_text(json.dumps(manifest, indent=2))
    (directory / "maker.pem").unlink()
    (tmp_path / "keys" / SCOPE / "maker.key").unlink()
    return {role: (directory / f"{role}.pem").read_bytes() for role in ROLES if role != "maker"}


def test_a_new_pki_has_a_seal_maker_signer_certificate_and_chain(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    maker = pki.seal_maker()
    assert isinstance(maker, SealMaker)
    # a signer, a certificate and a chain: nothing else, and no key among them
    assert [f.name for f in dataclasses.fields(maker)] == ["signer", "certificate", "chain"]
    assert type(maker.signer) is sm2.Sm2Signer
    assert not [name for name in vars(maker.signer) if not name.startswith("_Sm2Signer__")]
    cert = maker.certificate
    assert cert.dump() == pki.certificate("maker").dump()
    assert [c.dump() for c in maker.chain] == [
        pki.certificate("issuing").dump(),
        pki.certificate("root").dump(),
    ]
    assert maker.signer.public_key == sm2.Sm2PublicKey.from_spki(cert.public_key)

    # what it signs verifies under the certificate's key, with the default user id
    signature = maker.signer.sign(SEAL_INFO)
    sm2.Sm2PublicKey.from_spki(cert.public_key).verify(signature, SEAL_INFO)
    # issued by the SM2 seal CA, SM2-with-SM3, a leaf
    verify_certificate_signature(cert, pki.certificate("issuing"))
    assert cert.issuer == pki.certificate("issuing").subject
    assert cert.subject.native == {
        "country_name": "CN",
        "organization_name": "eseal",
        "common_name": "eseal SM2 Seal Maker",
    }
    assert cert["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    assert not cert.ca and cert.basic_constraints_value["ca"].native is False


def test_key_usage_fits_signing_seals(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    cert = pki.certificate("maker")
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert "key_usage" in cert.critical_extensions
    assert cert.extended_key_usage_value is None  # no EKU: nothing narrows where it is used
    assert {"key_cert_sign", "crl_sign"}.isdisjoint(cert.key_usage_value.native)
    # revocation is where the seal CA publishes it for seal certificates
    assert cert.crl_distribution_points[0]["distribution_point"].native == [
        f"{URL}/v1/pki/crl?algorithm=sm2"
    ]
    assert cert.ocsp_urls == [f"{URL}/v1/pki/ocsp?algorithm=sm2"]
    text = _openssl("x509", "-in", _pem(tmp_path / "maker.pem", cert), "-noout", "-text").stdout
    assert "X509v3 Key Usage: critical\n                Digital Signature, Non Repudiation" in text
    assert "Extended Key Usage" not in text
    assert "Signature Algorithm: SM2-with-SM3" in text


def test_openssl_verifies_the_seal_maker_chain_and_signature(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    root = _pem(tmp_path / "root.pem", pki.certificate("root"))
    issuing = _pem(tmp_path / "issuing.pem", pki.certificate("issuing"))
    maker = tmp_path / "sm2" / "maker.pem"
    for *options, target in (
        ("-CAfile", root, issuing),
        ("-partial_chain", "-CAfile", issuing, maker),
    ):
        done = _openssl("verify", *options, "-vfyopt", DISTID, target)
        assert done.returncode == 0 and done.stdout.strip().endswith("OK"), (
            done.stdout + done.stderr
        )
    # the seal maker's certificate under the root directly is not a chain
    done = _openssl("verify", "-partial_chain", "-CAfile", root, "-vfyopt", DISTID, maker)
    assert done.returncode != 0

    (tmp_path / "pub.der").write_bytes(pki.certificate("maker").public_key.dump())
    (tmp_path / "msg.bin").write_bytes(SEAL_INFO)
    (tmp_path / "msg.sig").write_bytes(pki.seal_maker().signer.sign(SEAL_INFO))
    verify = (
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        tmp_path / "pub.der",
        "-rawin",
        "-digest",
        "sm3",
        "-in",
        tmp_path / "msg.bin",
        "-sigfile",
        tmp_path / "msg.sig",
        "-pkeyopt",
    )
    assert "Signature Verified Successfully" in _openssl(*verify, DISTID).stdout
    assert "Signature Verified Successfully" not in _openssl(*verify, "distid:ALICE").stdout


def test_an_older_data_dir_gets_its_seal_maker_at_start_up(tmp_path: Path) -> None:
    _pki(tmp_path)
    kept = _make_it_an_old_data_dir(tmp_path)

    # loaded without ensure (as before the upgrade): no seal maker, a clear error
    old = Sm2Pki(_store(tmp_path), tmp_path / "sm2", URL)
    old.load()
    with pytest.raises(KeystoreError) as raised:
        old.seal_maker()
    assert raised.value.code == "seal_maker_missing"

    upgraded = Sm2Pki(_store(tmp_path), tmp_path / "sm2", URL)
    assert upgraded.ensure() is False  # the PKI existed: nothing else is made anew
    maker = upgraded.seal_maker()
    verify_certificate_signature(maker.certificate, upgraded.certificate("issuing"))
    assert maker.signer.public_key == sm2.Sm2PublicKey.from_spki(maker.certificate.public_key)
    directory = tmp_path / "sm2"
    assert {role: (directory / f"{role}.pem").read_bytes() for role in kept} == kept
    assert (directory / "maker.pem").exists()
    # a second start finds it and makes no other
    again = _pki(tmp_path)
    assert again.seal_maker().certificate.dump() == maker.certificate.dump()


def test_an_upgrade_interrupted_after_the_key_is_made_starts_over(tmp_path: Path) -> None:
    store = _store(tmp_path)
    Sm2Pki(store, tmp_path / "sm2", URL).ensure()
    _make_it_an_old_data_dir(tmp_path)
    # the interrupted upgrade made its key and nothing else
    orphan = store.generate(SCOPE, "maker", KeyAlgorithm.SM2)
    orphan_key = store.sm2_signer(orphan).public_key
    pki = _pki(tmp_path)
    maker = pki.seal_maker()
    assert maker.signer.public_key == sm2.Sm2PublicKey.from_spki(maker.certificate.public_key)
    assert maker.signer.public_key != orphan_key


def test_two_processes_upgrading_at_once_make_one_seal_maker(tmp_path: Path) -> None:
    _pki(tmp_path)
    _make_it_an_old_data_dir(tmp_path)
    made: list[bytes] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            made.append(_pki(tmp_path).seal_maker().certificate.dump())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(made)) == 1


def test_the_ocsp_responder_vouches_for_the_seal_maker_before_and_after_rotation(
    tmp_path: Path,
) -> None:
    pki = _pki(tmp_path)
    first = pki.certificate("maker")
    second = pki.rotate("maker")
    assert second.subject == first.subject and second.serial_number != first.serial_number
    assert pki.seal_maker().certificate.dump() == second.dump()
    assert [c.dump() for c in pki.retired("maker")] == [first.dump()]
    # a restarted server signs SESeals with the new key
    restarted = _pki(tmp_path)
    assert restarted.seal_maker().signer.public_key == sm2.Sm2PublicKey.from_spki(second.public_key)
    ca = pki.certificate("issuing")
    key = bytes(ca["tbs_certificate"]["subject_public_key_info"]["public_key"])
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [
                    {
                        "req_cert": {
                            "hash_algorithm": {"algorithm": "sm3"},
                            "issuer_name_hash": sm2.sm3(ca.subject.dump()),
                            "issuer_key_hash": sm2.sm3(key),
                            "serial_number": cert.serial_number,
                        }
                    }
                    for cert in (first, second)
                ]
            }
        }
    )
    basic = asn1_ocsp.OCSPResponse.load(ocsp_response(restarted, request.dump(), lambda s: None))[
        "response_bytes"
    ]["response"].parsed
    assert [r["cert_status"].name for r in basic["tbs_response_data"]["responses"]] == [
        "good",
        "good",
    ]
