"""Every seal gets an SM2 key and certificate beside the ECDSA one (issue 14, DESIGN.md 6).

Both share the seal's image, kind, version and status: a suspension puts both on hold, a
revocation or re-issue revokes both with the same reason and time.  The SM2 certificates are
checked with OpenSSL (``openssl verify -vfyopt distid:...``, one link at a time: OpenSSL 3.0
passes the id to the target certificate only, see tests/keystore/test_sm2.py), the SM2 OCSP
answers with Bouncy Castle (``tests/interop/TspCheck.java ocsp``) and, for reason and time,
with asn1crypto and :mod:`keystore.sm2`.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from interop.tspcheck import TspCheck, compile_tspcheck

from api.container import Container, build
from api.routes.pki import sm2_revoked, sm2_seal_status
from api.settings import Settings
from helpers import USCC, license_data, require_tool
from keystore import sm2
from keystore.sm2_ocsp import ocsp_response
from keystore.sm2_pki import check_certificate_key, verify_crl_signature
from seals.kinds import SealKind
from seals.license import LicenseStatus, parse_license
from seals.model import Seal, SealStatus

DISTID = "distid:1234567812345678"
OID_USCC = "1.2.156.10260.4.1.4"


def _cert(pem: str | None) -> asn1_x509.Certificate:
    assert pem is not None
    _, _, der = asn1_pem.unarmor(pem.encode())
    return asn1_x509.Certificate.load(der)


def _pem_file(path: Path, cert: asn1_x509.Certificate) -> Path:
    path.write_bytes(asn1_pem.armor("CERTIFICATE", cert.dump()))
    return path


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.fixture
def registered(container: Container) -> tuple[Container, list[Seal]]:
    _, seals = container.seals.register(parse_license(license_data()))
    return container, seals


# -- issuance --------------------------------------------------------------------------------


def test_registration_issues_five_sm2_certificates_with_the_profile(
    registered: tuple[Container, list[Seal]], tmp_path: Path
) -> None:
    c, seals = registered
    assert c.settings.seal_algorithms == "sm2,ec-p256" and c.settings.sm2_seals
    assert len({s.sm2_serial for s in seals}) == 5 and None not in {s.sm2_serial for s in seals}
    assert len({s.sm2_key_ref for s in seals}) == 5
    # the SM2 serials are not the ECDSA ones
    assert not {s.sm2_serial for s in seals} & {s.serial for s in seals}
    issuing = _pem_file(tmp_path / "issuing.pem", c.sm2_pki.certificate("issuing"))
    root = _pem_file(tmp_path / "root.pem", c.sm2_pki.certificate("root"))
    done = _openssl("verify", "-CAfile", root, "-vfyopt", DISTID, issuing)
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stderr
    for seal in seals:
        cert = _cert(seal.sm2_certificate_pem)
        assert cert.serial_number == seal.sm2_serial
        assert cert["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
        # the certificate certifies the seal's SM2 key, which the store holds
        assert seal.sm2_key_ref is not None
        check_certificate_key(cert, c.soft_keys.sm2_signer(seal.sm2_key_ref).public_key)
        subject = cert.subject.native
        assert subject["country_name"] == "CN"
        assert subject["organization_name"] == "北京字节跳动网络技术有限公司"
        assert subject["organizational_unit_name"] == USCC
        assert subject["organization_identifier"] == f"NTRCN-{USCC}"
        if seal.kind is SealKind.LEGAL_REP:
            assert subject["title"] == "法定代表人"
            assert subject["common_name"] == license_data()["legal_representative"]
        else:
            assert subject["title"] == seal.kind.label
            assert subject["common_name"] == f"北京字节跳动网络技术有限公司·{seal.kind.label}"
        uscc_ext = next(
            e for e in cert["tbs_certificate"]["extensions"] if e["extn_id"].dotted == OID_USCC
        )
        assert uscc_ext["critical"].native is False
        assert uscc_ext["extn_value"].contents == b"\x0c\x12" + USCC.encode()
        assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
        # same validity as the ECDSA certificate of the version
        validity = cert["tbs_certificate"]["validity"]
        assert validity["not_before"].native == seal.not_before
        assert validity["not_after"].native == seal.not_after
        target = _pem_file(tmp_path / f"{seal.kind.value}.pem", cert)
        done = _openssl("verify", "-partial_chain", "-CAfile", issuing, "-vfyopt", DISTID, target)
        assert done.returncode == 0 and done.stdout.strip().endswith("OK"), (
            done.stdout + done.stderr
        )
        # and with the ECDSA seal CA it does not verify
        ecdsa_ca = tmp_path / "ecdsa-ca.pem"
        ecdsa_ca.write_text(c.pki.chain_pem())
        assert (
            _openssl(
                "verify", "-partial_chain", "-CAfile", ecdsa_ca, "-vfyopt", DISTID, target
            ).returncode
            != 0
        )
    # the seal JSON shows the SM2 certificate beside the unchanged ECDSA fields
    shown = seals[1].to_json()
    assert shown["certificate"] == seals[1].certificate_pem
    assert shown["sm2"] == {
        "key_algorithm": "sm2",
        "serial": format(seals[1].sm2_serial, "x"),
        "certificate": seals[1].sm2_certificate_pem,
    }
    # stored as issued
    again = c.seals.seals(USCC)
    assert [(s.sm2_serial, s.sm2_key_ref, s.sm2_certificate_pem) for s in again] == [
        (s.sm2_serial, s.sm2_key_ref, s.sm2_certificate_pem) for s in seals
    ]


def test_without_sm2_in_the_algorithms_no_sm2_certificate_is_issued(settings: Settings) -> None:
    c = build(settings.model_copy(update={"seal_algorithms": "ec-p256"}))
    try:
        _, seals = c.seals.register(parse_license(license_data()))
        assert all(
            s.sm2_serial is None and s.sm2_key_ref is None and s.sm2_certificate_pem is None
            for s in seals
        )
        assert all(s.to_json()["sm2"] is None for s in seals)
        assert len(list((c.settings.keys_dir / USCC).glob("*.key"))) == 5
        c.seals.revoke_seal(USCC, SealKind.CONTRACT, code="key_compromise")
        assert c.seals.sm2_revoked_certificates() == []
        assert len(c.seals.revoked_certificates()) == 1
    finally:
        c.close()


# -- revocation ------------------------------------------------------------------------------


def _request(c: Container, serial: int) -> bytes:
    issuing = c.sm2_pki.certificate("issuing")
    cert_id = {
        "hash_algorithm": {"algorithm": "sha256"},
        "issuer_name_hash": hashlib.sha256(issuing.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha256(bytes(issuing.public_key["public_key"])).digest(),
        "serial_number": serial,
    }
    return bytes(
        asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump()
    )


def _sm2_ocsp(c: Container, serial: int) -> tuple[bytes, dict[str, Any]]:
    """The SM2 responder's answer (DER) and its one SingleResponse, signature checked here."""
    der = ocsp_response(c.sm2_pki, _request(c, serial), sm2_seal_status(c))
    response = asn1_ocsp.OCSPResponse.load(der)
    assert response["response_status"].native == "successful"
    basic = response["response_bytes"]["response"].parsed
    responder = basic["certs"][0]
    assert responder.dump() == c.sm2_pki.certificate("ocsp").dump()
    assert basic["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    sm2.Sm2PublicKey.from_spki(responder.public_key).verify(
        bytes(basic["signature"]), basic["tbs_response_data"].dump()
    )
    (single,) = basic["tbs_response_data"]["responses"]
    assert single["cert_id"]["serial_number"].native == serial
    return der, single.native


def _sm2_crl(c: Container) -> dict[int, dict[str, Any]]:
    der = c.sm2_pki.crl(sm2_revoked(c))
    crl = asn1_crl.CertificateList.load(der)
    verify_crl_signature(crl, c.sm2_pki.certificate("issuing"))
    out: dict[int, dict[str, Any]] = {}
    for entry in crl["tbs_cert_list"]["revoked_certificates"]:
        extensions = {
            e["extn_id"].native: e["extn_value"].native for e in entry["crl_entry_extensions"]
        }
        out[entry["user_certificate"].native] = {
            "at": entry["revocation_date"].native,
            **extensions,
        }
    return out


@pytest.fixture(scope="module")
def tsp_check(tmp_path_factory: pytest.TempPathFactory) -> TspCheck:
    """Bouncy Castle's view of an OCSP answer (TspCheck.java, compiled once)."""
    return compile_tspcheck(tmp_path_factory.mktemp("tspcheck"))


def test_key_compromise_revokes_both_certificates_in_sm2_ocsp_and_crl(
    registered: tuple[Container, list[Seal]],
    tmp_path: Path,
    tsp_check: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    c, seals = registered
    contract = next(s for s in seals if s.kind is SealKind.CONTRACT)
    assert contract.sm2_serial is not None
    _, single = _sm2_ocsp(c, contract.sm2_serial)
    assert single["cert_status"] == "good"
    since = (contract.not_before + timedelta(seconds=30)).replace(microsecond=0)

    revoked = c.seals.revoke_seal(
        USCC, SealKind.CONTRACT, "U 盾遗失", code="key_compromise", compromised_at=since
    )

    assert revoked.sm2_serial == contract.sm2_serial
    der, single = _sm2_ocsp(c, contract.sm2_serial)
    assert single["cert_status"] == {
        "revocation_time": since,
        "revocation_reason": "key_compromise",
    }
    # Bouncy Castle: the response's SM2 signature, the responder's path, and "revoked"
    response = tmp_path / "resp.der"
    response.write_bytes(der)
    done = tsp_check(
        "ocsp",
        response,
        _pem_file(tmp_path / "issuing.pem", c.sm2_pki.certificate("issuing")),
        _pem_file(tmp_path / "root.pem", c.sm2_pki.certificate("root")),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == f"status {contract.sm2_serial:x} revoked"
    assert "ocsp signature OK: 1.2.156.10197.1.501" in done.stdout
    # the SM2 CRL lists the SM2 serial (only) with the reason and the compromise time
    crl = _sm2_crl(c)
    assert set(crl) == {contract.sm2_serial}
    assert crl[contract.sm2_serial]["crl_reason"] == "key_compromise"
    assert crl[contract.sm2_serial]["invalidity_date"] == since
    assert crl[contract.sm2_serial]["at"] == since
    # the ECDSA certificate is revoked at once, same reason and time
    (ecdsa,) = c.seals.revoked_certificates()
    assert ecdsa.serial == contract.serial and ecdsa.revoked_at == since
    assert ecdsa.reason is x509.ReasonFlags.key_compromise
    # the other seals' SM2 certificates stay good; an unknown serial is unknown
    official = next(s for s in seals if s.kind is SealKind.OFFICIAL)
    assert official.sm2_serial is not None
    assert _sm2_ocsp(c, official.sm2_serial)[1]["cert_status"] == "good"
    assert _sm2_ocsp(c, contract.serial)[1]["cert_status"] == "unknown"  # an ECDSA serial


def test_suspension_holds_both_and_resume_releases_both(
    registered: tuple[Container, list[Seal]],
) -> None:
    c, seals = registered
    finance = next(s for s in seals if s.kind is SealKind.FINANCE)
    assert finance.sm2_serial is not None
    held = c.seals.suspend_seal(USCC, SealKind.FINANCE, "保管人休假")
    assert held.status_changed_at is not None
    _, single = _sm2_ocsp(c, finance.sm2_serial)
    assert single["cert_status"]["revocation_reason"] == "certificate_hold"
    crl = _sm2_crl(c)
    assert crl[finance.sm2_serial]["crl_reason"] == "certificate_hold"
    assert crl[finance.sm2_serial]["at"] == held.status_changed_at.replace(microsecond=0)
    assert [r.serial for r in c.seals.revoked_certificates()] == [finance.serial]

    c.seals.resume_seal(USCC, SealKind.FINANCE)
    assert _sm2_ocsp(c, finance.sm2_serial)[1]["cert_status"] == "good"
    assert _sm2_crl(c) == {} and c.seals.revoked_certificates() == []


def test_reissue_makes_new_sm2_and_ecdsa_certificates_and_supersedes_the_old(
    registered: tuple[Container, list[Seal]], tmp_path: Path
) -> None:
    c, seals = registered
    old = next(s for s in seals if s.kind is SealKind.OFFICIAL)
    new = c.seals.reissue_seal(USCC, SealKind.OFFICIAL, "新印模")
    assert new.version == 2 and new.status is SealStatus.ACTIVE
    assert new.serial != old.serial and new.sm2_serial != old.sm2_serial
    assert new.sm2_key_ref != old.sm2_key_ref and new.key_ref != old.key_ref
    assert new.image_sha256 == old.image_sha256
    assert old.sm2_serial is not None and new.sm2_serial is not None
    # the old pair is superseded, in both hierarchies
    assert _sm2_ocsp(c, old.sm2_serial)[1]["cert_status"]["revocation_reason"] == "superseded"
    assert _sm2_crl(c)[old.sm2_serial]["crl_reason"] == "superseded"
    assert set(_sm2_crl(c)) == {old.sm2_serial}
    (ecdsa,) = c.seals.revoked_certificates()
    assert ecdsa.serial == old.serial and ecdsa.reason is x509.ReasonFlags.superseded
    # the new pair is good and the new SM2 certificate chains to the SM2 seal CA
    assert _sm2_ocsp(c, new.sm2_serial)[1]["cert_status"] == "good"
    issuing = _pem_file(tmp_path / "issuing.pem", c.sm2_pki.certificate("issuing"))
    done = _openssl(
        "verify",
        "-partial_chain",
        "-CAfile",
        issuing,
        "-vfyopt",
        DISTID,
        _pem_file(tmp_path / "new.pem", _cert(new.sm2_certificate_pem)),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert c.seals.seal(USCC, SealKind.OFFICIAL).sm2_serial == new.sm2_serial


def test_cancelling_the_license_revokes_every_sm2_certificate(
    registered: tuple[Container, list[Seal]],
) -> None:
    c, seals = registered
    c.seals.change_status(USCC, LicenseStatus.CANCELLED, "注销")
    crl = _sm2_crl(c)
    assert set(crl) == {s.sm2_serial for s in seals}
    assert {e["crl_reason"] for e in crl.values()} == {"cessation_of_operation"}


@pytest.mark.slow
def test_a_failed_registration_leaves_no_sm2_key(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = container.sm2_pki.issue_seal_certificate

    def fail_on_the_third(*args: Any, **kwargs: Any) -> asn1_x509.Certificate:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the SM2 CA is down")
        return real(*args, **kwargs)

    monkeypatch.setattr(container.sm2_pki, "issue_seal_certificate", fail_on_the_third)
    with pytest.raises(RuntimeError):
        container.seals.register(parse_license(license_data()))
    assert list((container.settings.keys_dir / USCC).glob("*.key")) == []
    assert container.seals.find_enterprise(USCC) is None
