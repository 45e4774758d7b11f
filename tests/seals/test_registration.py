"""Registering a license issues its five seals in one step; lifecycle and revocation data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from api.container import Container
from helpers import USCC, license_data
from seals.errors import EnterpriseExists, InvalidLicense, InvalidUSCC, NameTooLong
from seals.kinds import SealKind
from seals.license import LicenseStatus, parse_license
from seals.model import SealStatus


def _key_files(c: Container, uscc: str) -> list[Path]:
    return sorted((c.settings.keys_dir / uscc).glob("*.key"))


def _crl_serials(c: Container) -> dict[int, x509.ReasonFlags | None]:
    crl = x509.load_der_x509_crl(c.pki.crl(c.seals.revoked_certificates()))
    assert crl.is_signature_valid(c.pki.issuing.public_key())  # type: ignore[arg-type]
    out = {}
    for entry in crl:
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        out[entry.serial_number] = reason
    return out


def _ocsp(c: Container, serial_pem: str) -> ocsp.OCSPResponse:
    cert = x509.load_pem_x509_certificate(serial_pem.encode())
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, c.pki.issuing, hashes.SHA256()).build()
    return ocsp.load_der_ocsp_response(
        c.pki.ocsp_response(
            req.public_bytes(serialization.Encoding.DER), c.seals.certificate_status
        )
    )


def test_register_issues_five_working_seals(container: Container) -> None:
    enterprise, seals = container.seals.register(parse_license(license_data()))
    assert enterprise.status is LicenseStatus.ACTIVE
    assert [c.status for c in enterprise.history] == [LicenseStatus.ACTIVE]
    assert [s.kind for s in seals] == list(SealKind)
    assert len({s.serial for s in seals}) == 5 and len({s.key_ref for s in seals}) == 5
    # an ECDSA and an SM2 key per seal (ESEAL_SEAL_ALGORITHMS default sm2,ec-p256)
    assert len(_key_files(container, USCC)) == 10
    for seal in seals:
        assert seal.status is SealStatus.ACTIVE and seal.version == 1
        assert hashlib.sha256(seal.image_png).hexdigest() == seal.image_sha256
        assert seal.image_png.startswith(b"\x89PNG")
        cert = x509.load_pem_x509_certificate(seal.certificate_pem.encode())
        ou = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
        assert ou[0].value == USCC
        org_id = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)
        assert [a.value for a in org_id] == [f"NTRCN-{USCC}"]  # ETSI EN 319 412-1
        title = cert.subject.get_attributes_for_oid(x509.NameOID.TITLE)[0].value
        assert title == ("法定代表人" if seal.kind is SealKind.LEGAL_REP else seal.kind.label)
    # the stored records are what registration returned
    again = container.seals.seals(USCC)
    assert [s.serial for s in again] == [s.serial for s in seals]
    assert container.seals.enterprise(USCC).license.name == "北京字节跳动网络技术有限公司"


async def test_each_seal_signs_with_its_certificate(container: Container) -> None:
    container.seals.register(parse_license(license_data()))
    for kind in SealKind:
        seal, signer = container.seals.signer_for(USCC, kind)
        sig = await signer.async_sign_raw(b"to be signed", "sha256")
        cert = x509.load_pem_x509_certificate(seal.certificate_pem.encode())
        from cryptography.hazmat.primitives.asymmetric import ec

        cert.public_key().verify(sig, b"to be signed", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg,union-attr]


def test_duplicate_uscc_refused_and_first_left_intact(container: Container) -> None:
    _, seals = container.seals.register(parse_license(license_data()))
    with pytest.raises(EnterpriseExists) as info:
        container.seals.register(parse_license(license_data(name="另一家公司有限公司")))
    assert info.value.code == "enterprise_exists"
    assert container.seals.enterprise(USCC).license.name == "北京字节跳动网络技术有限公司"
    assert [s.serial for s in container.seals.seals(USCC)] == [s.serial for s in seals]
    assert len(_key_files(container, USCC)) == 10  # the first registration's, ECDSA and SM2


@pytest.mark.parametrize(
    ("changes", "error", "code"),
    [
        ({"legal_representative": None}, InvalidLicense, "invalid_license"),
        ({"legal_representative": ""}, InvalidLicense, "invalid_license"),
        ({"uscc": "91110000600037341N"}, InvalidUSCC, "invalid_uscc"),
        ({"name": None}, InvalidLicense, "invalid_license"),
        ({"colour": "red"}, InvalidLicense, "invalid_license"),
    ],
)
def test_bad_license_refused(changes: dict[str, object], error: type, code: str) -> None:
    data = license_data(**changes)
    with pytest.raises(error) as info:
        parse_license(data)
    assert info.value.code == code


def test_missing_legal_representative_names_the_field() -> None:
    data = {k: v for k, v in license_data().items() if k != "legal_representative"}
    with pytest.raises(InvalidLicense) as info:
        parse_license(data)
    assert "legal_representative" in info.value.detail


def test_name_too_long_leaves_nothing(container: Container) -> None:
    with pytest.raises(NameTooLong):
        container.seals.register(parse_license(license_data(name="很" * 90)))
    assert container.seals._repo.get_enterprise(USCC) is None
    assert _key_files(container, USCC) == []


@pytest.mark.slow
def test_failure_while_storing_leaves_nothing(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = container.seals._repo
    real_register = repo.register

    def failing_register(enterprise, seals):  # type: ignore[no-untyped-def]
        real_register(enterprise, [*seals, seals[0]])  # a duplicate seal row: the DB refuses

    monkeypatch.setattr(repo, "register", failing_register)
    with pytest.raises(Exception):  # noqa: B017 - whatever the database raises
        container.seals.register(parse_license(license_data()))
    monkeypatch.undo()
    assert repo.get_enterprise(USCC) is None
    assert repo.current_seals(USCC) == []
    assert _key_files(container, USCC) == []
    # and the same license registers cleanly afterwards
    container.seals.register(parse_license(license_data()))


def test_cancelling_the_license_revokes_all_five(container: Container) -> None:
    _, seals = container.seals.register(parse_license(license_data()))
    enterprise = container.seals.change_status(USCC, LicenseStatus.CANCELLED, "注销登记")
    assert [c.status for c in enterprise.history] == [LicenseStatus.ACTIVE, LicenseStatus.CANCELLED]
    assert enterprise.history[-1].reason == "注销登记"
    assert {s.status for s in container.seals.seals(USCC)} == {SealStatus.REVOKED}
    crl = _crl_serials(container)
    assert {s.serial for s in seals} <= set(crl)
    assert {crl[s.serial] for s in seals} == {x509.ReasonFlags.cessation_of_operation}
    for seal in seals:
        assert _ocsp(container, seal.certificate_pem).certificate_status is (
            ocsp.OCSPCertStatus.REVOKED
        )
    with pytest.raises(Exception) as info:
        container.seals.change_status(USCC, LicenseStatus.ACTIVE, None)
    assert getattr(info.value, "code", None) == "license_status_final"


def test_suspended_license_blocks_signing(container: Container) -> None:
    container.seals.register(parse_license(license_data()))
    container.seals.change_status(USCC, LicenseStatus.SUSPENDED, "停业")
    with pytest.raises(Exception) as info:
        container.seals.signer_for(USCC, SealKind.CONTRACT)
    assert getattr(info.value, "code", None) == "license_not_active"
    container.seals.change_status(USCC, LicenseStatus.ACTIVE, "复业")
    container.seals.signer_for(USCC, SealKind.CONTRACT)


def test_signing_for_an_unregistered_enterprise_is_not_found(container: Container) -> None:
    with pytest.raises(Exception) as info:
        container.seals.signer_for(USCC, SealKind.CONTRACT)
    assert getattr(info.value, "code", None) == "enterprise_not_found"


def test_reissue_makes_new_version_and_revokes_old(container: Container) -> None:
    _, seals = container.seals.register(parse_license(license_data()))
    old = seals[1]
    new = container.seals.reissue_seal(USCC, SealKind.CONTRACT, None)
    assert new.version == 2 and new.serial != old.serial and new.key_ref != old.key_ref
    assert container.seals.seal(USCC, SealKind.CONTRACT).serial == new.serial
    assert _crl_serials(container) == {old.serial: x509.ReasonFlags.superseded}
    assert _ocsp(container, old.certificate_pem).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert _ocsp(container, new.certificate_pem).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_suspend_and_resume_a_seal(container: Container) -> None:
    container.seals.register(parse_license(license_data()))
    seal = container.seals.suspend_seal(USCC, SealKind.FINANCE, "印章保管人变更")
    assert seal.status is SealStatus.SUSPENDED
    assert _crl_serials(container) == {seal.serial: x509.ReasonFlags.certificate_hold}
    with pytest.raises(Exception) as info:
        container.seals.signer_for(USCC, SealKind.FINANCE)
    assert getattr(info.value, "code", None) == "seal_suspended"
    container.seals.resume_seal(USCC, SealKind.FINANCE, None)
    assert _crl_serials(container) == {}
    container.seals.signer_for(USCC, SealKind.FINANCE)


def test_revoke_one_seal(container: Container) -> None:
    _, seals = container.seals.register(parse_license(license_data()))
    container.seals.revoke_seal(USCC, SealKind.INVOICE, "lost")
    resp = _ocsp(container, seals[3].certificate_pem)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert _ocsp(container, seals[0].certificate_pem).certificate_status is (
        ocsp.OCSPCertStatus.GOOD
    )
    with pytest.raises(Exception) as info:
        container.seals.signer_for(USCC, SealKind.INVOICE)
    assert getattr(info.value, "code", None) == "seal_revoked"
