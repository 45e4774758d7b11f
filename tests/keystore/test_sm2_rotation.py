"""Rotation of the SM2 TSA and OCSP responder, as the international ones rotate.

What a relying party notices: a token the TSA made before the rotation still validates (its
certificate travels in the token and stays good in OCSP, pyHanko with our SM2 validator and
OpenSSL agree), new tokens and OCSP answers carry the new certificate, and a restart, a crash
at any step or two rotations at once leave a PKI that loads.  Bouncy Castle checks the same
files in ``tests/interop/test_sm2_rotation_bc.py``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, tsp
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

import keystore.sm2_pki
from helpers import require_tool
from keystore import sm2
from keystore.masterkey import MasterKey
from keystore.pki import InternalPki
from keystore.sm2_ocsp import ocsp_response
from keystore.sm2_pki import Sm2Pki, verify_certificate_signature
from keystore.soft import SoftKeyStore
from keystore.tsa import Sm2TsaKey, TimeStampAuthority, TimeStampResp
from signer.sm2_cms import SIGNATURE_VALIDATOR

MASTER = bytes(range(32))
URL = "https://eseal.example.cn"
DISTID = "distid:1234567812345678"
DATA = "轮换前盖的时间戳 / timestamped before the rotation".encode()


def _store(tmp_path: Path) -> SoftKeyStore:
    store = SoftKeyStore(tmp_path / "keys", MasterKey(MASTER))
    store.initialise()
    return store


def _pki(tmp_path: Path) -> Sm2Pki:
    """A fresh process's view: new store and PKI objects over the same directories."""
    pki = Sm2Pki(_store(tmp_path), tmp_path / "sm2", URL)
    pki.ensure()
    return pki


def _tsa(tmp_path: Path, pki: Sm2Pki) -> TimeStampAuthority:
    """The built-in TSA as a server process builds it at start-up (api/container.py)."""
    ecdsa = InternalPki(_store(tmp_path), tmp_path / "pki", URL)
    if not ecdsa.exists:
        ecdsa.create()
    ecdsa.load()
    signer = ecdsa.tsa_signer()
    return TimeStampAuthority(
        signer,
        signer.signing_cert,
        ecdsa.chain(),
        sm2=Sm2TsaKey(pki.service_signer("tsa"), pki.certificate("tsa"), pki.chain()),
    )


async def _token(tsa: TimeStampAuthority, data: bytes = DATA) -> cms.ContentInfo:
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "cert_req": True,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sm3"},
                "hashed_message": sm2.sm3(data),
            },
        }
    )
    response = TimeStampResp.load(await tsa.respond(request.dump()))
    assert response["status"]["status"].native == "granted"
    token: cms.ContentInfo = response["time_stamp_token"]
    return token


def _signer_serial(token: cms.ContentInfo) -> int:
    return int(token["content"]["signer_infos"][0]["sid"].chosen["serial_number"].native)


def _ocsp_request(pki: Sm2Pki, *serials: int) -> bytes:
    """SHA-256 CertIDs: pyHanko matches answers to certificates with the hashes asn1crypto's
    Name knows (not SM3)."""
    ca = pki.certificate("issuing")
    key = bytes(ca["tbs_certificate"]["subject_public_key_info"]["public_key"])
    cert_id = {
        "hash_algorithm": {"algorithm": "sha256"},
        "issuer_name_hash": hashlib.sha256(ca.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha256(key).digest(),
    }
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [{"req_cert": {**cert_id, "serial_number": s}} for s in serials]
            }
        }
    )
    return bytes(request.dump())


def _statuses(response_der: bytes) -> tuple[asn1_ocsp.BasicOCSPResponse, dict[int, str]]:
    basic = asn1_ocsp.OCSPResponse.load(response_der)["response_bytes"]["response"].parsed
    answers = {
        r["cert_id"]["serial_number"].native: r["cert_status"].name
        for r in basic["tbs_response_data"]["responses"]
    }
    return basic, answers


def _never_issued(serial: int) -> None:
    return None


async def _pyhanko_validates(
    pki: Sm2Pki, token: cms.ContentInfo, data: bytes = DATA, *, answer: str = "good"
) -> TimestampSignatureStatus:
    """pyHanko's timestamp validation with our SM2 validator, revocation hard-fail: the
    token's TSA certificate must be shown good by an OCSP answer made today.

    The answer is the seal CA's own (``by_ca``): pyHanko checks a delegated responder's
    certificate without the SM2 validator (keystore/sm2_ocsp.py), so only that form passes it;
    the delegated responder's answer is checked by our code above and by Bouncy Castle."""
    response = asn1_ocsp.OCSPResponse.load(
        ocsp_response(pki, _ocsp_request(pki, _signer_serial(token)), _never_issued, by_ca=True)
    )
    basic, answers = _statuses(response.dump())
    assert answers == {_signer_serial(token): answer}
    assert basic["certs"][0].dump() == pki.certificate("issuing").dump()
    context = ValidationContext(
        trust_roots=[pki.certificate("root")],
        other_certs=[pki.certificate("issuing")],
        ocsps=[response],
        crls=[pki.crl([], ca="root")],
        revocation_mode="hard-fail",
        allow_fetching=False,
        signature_validator=SIGNATURE_VALIDATOR,
    )
    digest = sm2.sm3(data)
    status = await validate_tst_signed_data(token["content"], context, lambda _algo: digest)
    return TimestampSignatureStatus(**status)


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def _pem_file(path: Path, cert: asn1_x509.Certificate) -> Path:
    path.write_bytes(asn1_pem.armor("CERTIFICATE", cert.dump()))
    return path


# -- a token made before the rotation, and after ---------------------------------------------


async def test_token_made_before_the_rotation_still_validates(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    first_tsa = pki.certificate("tsa")
    first_ocsp = pki.certificate("ocsp")
    before = await _token(_tsa(tmp_path, pki))
    assert _signer_serial(before) == first_tsa.serial_number

    new_tsa = pki.rotate("tsa")
    new_ocsp = pki.rotate("ocsp")
    assert new_tsa.serial_number != first_tsa.serial_number
    assert new_tsa.subject == first_tsa.subject and new_ocsp.subject == first_ocsp.subject
    assert new_tsa.public_key.dump() != first_tsa.public_key.dump()
    assert [c.dump() for c in pki.retired("tsa")] == [first_tsa.dump()]
    assert [c.dump() for c in pki.retired("ocsp")] == [first_ocsp.dump()]

    # a restarted server picks up the new keys; the old certificates are still on file
    pki = _pki(tmp_path)
    assert pki.certificate("tsa").dump() == new_tsa.dump()
    assert [c.dump() for c in pki.retired("tsa")] == [first_tsa.dump()]
    after = await _token(_tsa(tmp_path, pki))
    assert _signer_serial(after) == new_tsa.serial_number
    after_info = after["content"]["signer_infos"][0]
    sm2.Sm2PublicKey.from_spki(new_tsa.public_key).verify(
        bytes(after_info["signature"]), after_info["signed_attrs"].untag().dump()
    )
    with pytest.raises(sm2.Sm2Error):  # not by the retired key
        sm2.Sm2PublicKey.from_spki(first_tsa.public_key).verify(
            bytes(after_info["signature"]), after_info["signed_attrs"].untag().dump()
        )

    # the responder, now the new one, answers good for the old and the new TSA certificate
    basic, answers = _statuses(
        ocsp_response(
            pki,
            _ocsp_request(pki, first_tsa.serial_number, new_tsa.serial_number, 0x51),
            _never_issued,
        )
    )
    assert answers == {
        first_tsa.serial_number: "good",
        new_tsa.serial_number: "good",
        0x51: "unknown",
    }
    assert basic["certs"][0].dump() == new_ocsp.dump()
    sm2.Sm2PublicKey.from_spki(new_ocsp.public_key).verify(
        bytes(basic["signature"]), basic["tbs_response_data"].dump()
    )

    # pyHanko, with our SM2 signature validator, hard-fail revocation: both tokens valid,
    # each by its own certificate
    for token, cert in ((before, first_tsa), (after, new_tsa)):
        status = await _pyhanko_validates(pki, token)
        assert (status.intact, status.valid, status.trusted) == (True, True, True)
        assert status.signing_cert.dump() == cert.dump()
    # ... a token does not validate over other data
    wrong = await _pyhanko_validates(pki, before, DATA + b".")
    assert not wrong.intact
    # ... and the answer about the retired certificate is what keeps the old token trusted:
    # a responder that forgot it ("unknown") would leave it untrusted
    forgetful = Sm2Pki(_store(tmp_path), tmp_path / "sm2", URL)
    forgetful.load()
    forgetful.internal_serials = lambda: {new_tsa.serial_number}  # type: ignore[method-assign]
    status = await _pyhanko_validates(forgetful, before, answer="unknown")
    assert status.intact and not status.trusted


async def test_openssl_checks_the_old_token_with_the_retired_certificate(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    before = await _token(_tsa(tmp_path, pki))
    old = pki.certificate("tsa")
    pki.rotate("tsa")
    directory = tmp_path / "sm2"
    retired = directory / f"tsa-{old.serial_number:x}.pem"
    assert _load(retired).dump() == old.dump()
    assert _load(directory / "tsa.pem").dump() == pki.certificate("tsa").dump()

    # both chain to the SM2 seal CA (one link at a time: see tests/keystore/test_sm2.py)
    issuing = _pem_file(tmp_path / "issuing.pem", pki.certificate("issuing"))
    for target in (retired, directory / "tsa.pem"):
        done = _openssl(
            "verify",
            "-partial_chain",
            "-CAfile",
            issuing,
            "-purpose",
            "timestampsign",
            "-vfyopt",
            DISTID,
            target,
        )
        assert done.returncode == 0 and done.stdout.strip().endswith("OK"), (
            done.stdout + done.stderr
        )

    # the old token's signature: SM3(Z || DER(signedAttrs)) under the retired certificate's key
    info = before["content"]["signer_infos"][0]
    (tmp_path / "attrs.der").write_bytes(info["signed_attrs"].untag().dump())
    (tmp_path / "attrs.sig").write_bytes(bytes(info["signature"]))
    for cert, expected in ((old, True), (pki.certificate("tsa"), False)):
        (tmp_path / "pub.der").write_bytes(cert.public_key.dump())
        done = _openssl(
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
            "-pkeyopt",
            DISTID,
            "-in",
            tmp_path / "attrs.der",
            "-sigfile",
            tmp_path / "attrs.sig",
        )
        assert ("Signature Verified Successfully" in done.stdout) is expected, done.stdout


def _load(path: Path) -> asn1_x509.Certificate:
    _, _, der = asn1_pem.unarmor(path.read_bytes())
    return asn1_x509.Certificate.load(der)


# -- what rotation leaves on disk, and how it survives crashes ------------------------------


def test_rotation_is_kept_on_disk_and_repeats(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    seen = [pki.certificate("ocsp")]
    for _ in range(2):
        seen.append(pki.rotate("ocsp"))
    manifest = json.loads((tmp_path / "sm2" / "sm2-pki.json").read_text())
    assert manifest["keys"]["ocsp"] == "soft:pki-sm2/ocsp-3"
    assert manifest["retired"]["ocsp"] == [f"ocsp-{c.serial_number:x}.pem" for c in seen[:2]]
    again = _pki(tmp_path)
    assert [c.dump() for c in again.retired("ocsp")] == [c.dump() for c in seen[:2]]
    assert again.certificate("ocsp").dump() == seen[2].dump()
    assert {c.serial_number for c in seen} <= again.internal_serials()
    for cert in seen:
        verify_certificate_signature(cert, again.certificate("issuing"))
    # the current key is the certified one; the other services did not move
    assert again.service_signer("ocsp").public_key == sm2.Sm2PublicKey.from_spki(seen[2].public_key)
    assert again.retired("tsa") == [] and again.retired("maker") == []


def test_only_service_certificates_rotate(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    for role in ("root", "issuing", "seal"):
        with pytest.raises(keystore.sm2_pki.KeystoreError) as raised:
            pki.rotate(role)
        assert raised.value.code == "pki_role_invalid"


def _crash_at(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make the write of the file ``name`` fail, as a crash at that step would."""
    real = keystore.sm2_pki._write_atomic

    def write(path: Path, data: bytes) -> None:
        if path.name == name:
            raise OSError("simulated crash")
        real(path, data)

    monkeypatch.setattr(keystore.sm2_pki, "_write_atomic", write)


def test_a_rotation_interrupted_before_the_manifest_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = _pki(tmp_path)
    before = pki.certificate("tsa")
    with monkeypatch.context() as patch:
        _crash_at(patch, "sm2-pki.json")
        with pytest.raises(OSError):
            pki.rotate("tsa")
    # its key and certificate file are there, named by nothing: the old state is in force
    assert (tmp_path / "keys" / "pki-sm2" / "tsa-2.key").exists()
    restarted = _pki(tmp_path)
    assert restarted.certificate("tsa").dump() == before.dump()
    assert restarted.retired("tsa") == []
    assert restarted.service_signer("tsa").public_key == sm2.Sm2PublicKey.from_spki(
        before.public_key
    )
    # the next rotation replaces the orphan key and completes
    new = restarted.rotate("tsa")
    assert _pki(tmp_path).service_signer("tsa").public_key == sm2.Sm2PublicKey.from_spki(
        new.public_key
    )
    assert [c.dump() for c in _pki(tmp_path).retired("tsa")] == [before.dump()]


def test_a_rotation_interrupted_after_the_manifest_is_finished_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = _pki(tmp_path)
    with monkeypatch.context() as patch:
        _crash_at(patch, "tsa.pem")  # the operator's copy, written after the commit
        with pytest.raises(OSError):
            pki.rotate("tsa")
    manifest = json.loads((tmp_path / "sm2" / "sm2-pki.json").read_text())
    current = _load(tmp_path / "sm2" / manifest["certs"]["tsa"])
    assert _load(tmp_path / "sm2" / "tsa.pem").dump() != current.dump()  # stale copy
    restarted = _pki(tmp_path)  # ensure() at start-up
    assert restarted.certificate("tsa").dump() == current.dump()
    assert _load(tmp_path / "sm2" / "tsa.pem").dump() == current.dump()
    assert restarted.service_signer("tsa").public_key == sm2.Sm2PublicKey.from_spki(
        current.public_key
    )


def test_two_rotations_at_once_both_happen_one_after_the_other(tmp_path: Path) -> None:
    _pki(tmp_path)
    first = _pki(tmp_path).certificate("tsa")
    errors: list[BaseException] = []
    made: list[Any] = []

    def rotate() -> None:  # as two operators' processes: own store and PKI objects
        try:
            made.append(_pki(tmp_path).rotate("tsa"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    pki = _pki(tmp_path)
    retired = pki.retired("tsa")
    assert len(retired) == 2 and retired[0].dump() == first.dump()
    assert {c.dump() for c in made} == {retired[1].dump(), pki.certificate("tsa").dump()}
