"""Certificates from a licensed CA (issue 14): a PKCS#10 request signed by the seal's key in the
store, the import of what a separate CA (made here, not eseal's PKI) issues for it, every
refusal leaving the seal as it was, and a PDF sealed afterwards verifying through that CA."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from api.app import create_app
from api.container import Container
from api.settings import Settings
from helpers import OTHER_USCC, USCC, Api, license_data, require_tool
from keystore import sm2
from keystore.masterkey import MasterKey
from keystore.pki import SealSubject
from keystore.sm2_pki import Sm2Pki
from keystore.soft import SoftKeyStore
from pdfs import simple_pdf
from seals.esl import parse_seseal
from seals.license import parse_license

E = f"/v1/enterprises/{USCC}"
NAME = str(license_data()["name"])
DISTID = "distid:1234567812345678"


# -- a licensed CA of the test: ECDSA root → intermediate; SM2 root → issuing -------------


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "测试电子认证服务有限公司"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca_cert(
    subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: Any
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


@dataclass
class EcCa:
    root: x509.Certificate
    intermediate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls, cn: str) -> EcCa:
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = _ca_cert(_name(f"{cn} Root"), root_key, _name(f"{cn} Root"), root_key)
        key = ec.generate_private_key(ec.SECP256R1())
        intermediate = _ca_cert(_name(f"{cn} Seal CA"), key, root.subject, root_key)
        return cls(root, intermediate, key)

    def issue(
        self,
        subject: x509.Name,
        public_key: Any,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> str:
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(minutes=5))
            .not_valid_after(not_after or now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def chain_pem(self) -> str:
        return b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (self.intermediate, self.root)
        ).decode()


@dataclass
class Licensed:
    api: Api
    ca: EcCa
    sm2_ca: Sm2Pki


@pytest.fixture
def licensed(settings: Settings, tmp_path: Path) -> Iterator[Licensed]:
    ca = EcCa.make("Licensed")
    store = SoftKeyStore(tmp_path / "ca-keys", MasterKey(bytes(range(32))))
    store.initialise()
    sm2_ca = Sm2Pki(
        store, tmp_path / "ca-sm2", "http://ca.example", organisation="测试国密认证中心"
    )
    sm2_ca.ensure()
    bundle = tmp_path / "trust.pem"
    # the SM2 CA's issuing certificate too: an SM2 seal carries eseal's SM2 chain, not the
    # imported one's (README, "Certificates from a licensed CA", limits)
    bundle.write_bytes(
        ca.root.public_bytes(serialization.Encoding.PEM)
        + _pem(sm2_ca.certificate("root"))
        + _pem(sm2_ca.certificate("issuing"))
    )
    app = create_app(settings.model_copy(update={"trust_bundle": bundle}))
    with TestClient(app) as client:
        c: Container = app.state.container
        c.seals.register(parse_license(license_data()))
        c.seals.register(
            parse_license(
                license_data(uscc=OTHER_USCC, name="示例贸易有限公司", legal_representative="李娜")
            )
        )
        tokens = {}
        for who, role, uscc in (("admin", "admin", None), ("own", "enterprise", USCC)):
            _, tokens[who] = c.api_keys.create(role=role, uscc=uscc, name=who, actor="test")
        yield Licensed(Api(client, c, tokens), ca, sm2_ca)


def _pem(cert: asn1_x509.Certificate) -> bytes:
    return bytes(asn1_pem.armor("CERTIFICATE", cert.dump()))


def _csr(api: Api, kind: str, algorithm: str) -> bytes:
    r = api.client.post(
        f"{E}/seals/{kind}/csr", headers=api.headers("admin"), json={"algorithm": algorithm}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/pkcs10")
    return r.content


def _seal(api: Api, kind: str) -> dict[str, Any]:
    r = api.client.get(f"{E}/seals/{kind}", headers=api.headers("admin"))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _import(api: Api, kind: str, certificate: str, chain: str | None) -> Any:
    return api.client.post(
        f"{E}/seals/{kind}/certificate",
        headers=api.headers("admin"),
        json={"certificate": certificate, "chain": chain},
    )


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)


# -- requests ------------------------------------------------------------------------------


def test_ecdsa_request_has_the_seal_subject_and_openssl_verifies_it(
    licensed: Licensed, tmp_path: Path
) -> None:
    api = licensed.api
    pem = _csr(api, "contract", "ec-p256")
    path = tmp_path / "req.pem"
    path.write_bytes(pem)
    checked = _openssl("req", "-in", path, "-verify", "-noout")
    assert checked.returncode == 0, checked.stderr
    assert "verify OK" in checked.stdout + checked.stderr

    request = x509.load_pem_x509_csr(pem)
    assert request.is_signature_valid
    attrs = {a.oid: a.value for a in request.subject}
    assert attrs[NameOID.COUNTRY_NAME] == "CN"
    assert attrs[NameOID.ORGANIZATION_NAME] == NAME
    assert attrs[NameOID.ORGANIZATIONAL_UNIT_NAME] == USCC
    assert attrs[NameOID.TITLE] == "合同专用章"
    assert attrs[NameOID.COMMON_NAME] == f"{NAME}·合同专用章"
    assert attrs[NameOID.ORGANIZATION_IDENTIFIER] == f"NTRCN-{USCC}"
    # the seal's own key: the one its current certificate certifies
    seal_cert = x509.load_pem_x509_certificate(_seal(api, "contract")["certificate"].encode())
    assert request.public_key() == seal_cert.public_key()

    legal = x509.load_pem_x509_csr(_csr(api, "legal_rep", "ec-p256"))
    attrs = {a.oid: a.value for a in legal.subject}
    assert attrs[NameOID.COMMON_NAME] == license_data()["legal_representative"]
    assert attrs[NameOID.TITLE] == "法定代表人"


def test_sm2_request_is_signed_with_sm2_sm3_and_the_default_user_id(
    licensed: Licensed, tmp_path: Path
) -> None:
    api = licensed.api
    pem = _csr(api, "official", "sm2")
    _, _, der = asn1_pem.unarmor(pem)
    request = asn1_csr.CertificationRequest.load(der)
    assert request["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM2_WITH_SM3
    info = request["certification_request_info"]
    seal_sm2 = _seal(api, "official")["sm2"]
    _, _, cert_der = asn1_pem.unarmor(seal_sm2["certificate"].encode())
    assert info["subject_pk_info"].dump() == (
        asn1_x509.Certificate.load(cert_der).public_key.dump()
    )
    assert info["subject"].native["organizational_unit_name"] == USCC

    (tmp_path / "pub.pem").write_bytes(
        bytes(asn1_pem.armor("PUBLIC KEY", info["subject_pk_info"].dump()))
    )
    (tmp_path / "info.der").write_bytes(info.dump())
    (tmp_path / "sig.bin").write_bytes(bytes(request["signature"]))

    def verifies(distid: str) -> bool:
        return (
            _openssl(
                "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "pub.pem", "-rawin",
                "-in", tmp_path / "info.der", "-sigfile", tmp_path / "sig.bin",
                "-digest", "sm3", "-pkeyopt", distid,
            ).returncode
            == 0
        )  # fmt: skip

    assert verifies(DISTID)
    assert not verifies("distid:1234567812345679")


@pytest.mark.parametrize(
    ("algorithm", "status", "code"),
    [("rsa-2048", 422, "algorithm_not_held"), ("dsa", 422, "invalid_algorithm")],
)
def test_request_for_a_key_the_seal_does_not_hold_is_refused(
    licensed: Licensed, algorithm: str, status: int, code: str
) -> None:
    r = licensed.api.client.post(
        f"{E}/seals/contract/csr",
        headers=licensed.api.headers("admin"),
        json={"algorithm": algorithm},
    )
    assert (r.status_code, r.json()["code"]) == (status, code)


def test_request_for_a_suspended_seal_is_refused_and_only_admins_ask(licensed: Licensed) -> None:
    api = licensed.api
    r = api.client.post(
        f"{E}/seals/finance/csr", headers=api.headers("own"), json={"algorithm": "sm2"}
    )
    assert r.status_code == 403
    r = api.client.post(f"{E}/seals/finance/suspend", headers=api.headers("admin"))
    assert r.status_code == 200, r.text
    before = _seal(api, "finance")
    r = api.client.post(
        f"{E}/seals/finance/csr", headers=api.headers("admin"), json={"algorithm": "ec-p256"}
    )
    assert (r.status_code, r.json()["code"]) == (409, "seal_not_active")
    assert _seal(api, "finance") == before


# -- imports -------------------------------------------------------------------------------


def test_imported_ecdsa_certificate_replaces_the_seal_certificate_and_seals_verify(
    licensed: Licensed,
) -> None:
    api, ca = licensed.api, licensed.ca
    request = x509.load_pem_x509_csr(_csr(api, "contract", "ec-p256"))
    issued = ca.issue(request.subject, request.public_key())
    before = _seal(api, "contract")
    r = api.client.post(
        f"{E}/seals/contract/certificate",
        headers=api.headers("own"),
        json={"certificate": issued, "chain": ca.chain_pem},
    )
    assert r.status_code == 403 and _seal(api, "contract") == before  # admins only
    r = _import(api, "contract", issued, ca.chain_pem)
    assert r.status_code == 200, r.text
    after = r.json()
    cert = x509.load_pem_x509_certificate(issued.encode())
    assert after["certificate"] == issued
    assert after["chain"] == ca.chain_pem
    assert after["serial"] == format(cert.serial_number, "x") != before["serial"]
    assert after["version"] == before["version"] and after["sm2"] == before["sm2"]
    assert _seal(api, "contract") == after
    entries = api.client.get("/v1/audit", headers=api.headers("admin")).json()
    items = entries["entries"] if isinstance(entries, dict) else entries
    (entry,) = [e for e in items if e["action"] == "seal.certificate_imported"]
    assert entry["detail"]["replaced_serial"] == before["serial"]
    assert entry["detail"]["certificate_serial"] == after["serial"]

    # eseal's OCSP and CRL leave the imported certificate to its CA
    seals = api.container.seals
    assert seals.certificate_status(cert.serial_number) is None

    signed = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({"seals": [{"kind": "contract"}], "level": "B-T"})},
    )
    assert signed.status_code == 200, signed.text
    report = api.client.post(
        "/v1/verify",
        headers=api.headers("admin"),
        files={"file": ("s.pdf", signed.content, "application/pdf")},
        data={"expect_uscc": USCC},
    ).json()
    assert report["valid"] is True, report
    (sig,) = report["signatures"]
    assert sig["trusted"] is True
    assert sig["certificate"]["serial"] == after["serial"]
    assert "Licensed Seal CA" in sig["certificate"]["issuer"]
    assert sig["seal"]["kind"] == "contract" and sig["seal"]["image_sha256"]
    assert sig["enterprise"]["uscc"] == USCC and sig["enterprise"]["matches_registry"] is True

    revoked = api.client.post(f"{E}/seals/contract/revoke", headers=api.headers("admin"))
    assert revoked.status_code == 200, revoked.text
    assert cert.serial_number not in {r.serial for r in seals.revoked_certificates()}
    later = api.client.post(
        "/v1/verify",
        headers=api.headers("admin"),
        files={"file": ("s.pdf", signed.content, "application/pdf")},
    ).json()
    # the registry's revocation reaches the verifier (before or after signing: timestamps
    # count whole seconds, and this test revokes within the second it sealed)
    (seen,) = later["signatures"]
    assert seen["revoked"]["revoked"] is True and seen["revoked"]["reason"] == "unspecified"
    assert seen["seal"]["kind"] == "contract"


def test_imported_sm2_certificate_replaces_the_sm2_certificate(licensed: Licensed) -> None:
    api, sm2_ca = licensed.api, licensed.sm2_ca
    _, _, der = asn1_pem.unarmor(_csr(api, "invoice", "sm2"))
    spki = asn1_csr.CertificationRequest.load(der)["certification_request_info"]["subject_pk_info"]
    now = datetime.now(UTC)
    issued = sm2_ca.issue_seal_certificate(
        spki,
        SealSubject(NAME, USCC, "发票专用章"),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=365),
    )
    before = _seal(api, "invoice")
    r = _import(api, "invoice", _pem(issued).decode(), _pem(sm2_ca.certificate("issuing")).decode())
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["sm2"]["certificate"] == _pem(issued).decode()
    assert after["sm2"]["serial"] == format(issued.serial_number, "x")
    # the seal data's certList holds the SM2 certificate: it is made anew with the imported one
    assert {k: v for k, v in after.items() if k not in ("sm2", "esl")} == {
        k: v for k, v in before.items() if k not in ("sm2", "esl")
    }
    assert after["esl"]["es_id"] == before["esl"]["es_id"]
    assert after["esl"]["sha256"] != before["esl"]["sha256"]
    esl = api.client.get(f"/v1/enterprises/{USCC}/seals/invoice/esl", headers=api.headers("own"))
    assert parse_seseal(esl.content).certificates == (issued.dump(),)
    assert api.container.seals.sm2_certificate_status(issued.serial_number) is None


def _refusal_cases(licensed: Licensed) -> dict[str, tuple[str, str | None, str]]:
    """Each bad certificate for the contract seal, its chain, and the code it gets."""
    api, ca = licensed.api, licensed.ca
    request = x509.load_pem_x509_csr(_csr(api, "contract", "ec-p256"))
    subject, key = request.subject, request.public_key()
    other_subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "示例贸易有限公司"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, OTHER_USCC),
            x509.NameAttribute(NameOID.COMMON_NAME, "示例贸易有限公司·合同专用章"),
        ]
    )
    renamed = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "另一个名称有限公司"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, USCC),
        ]
    )
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    stranger = EcCa.make("Unlisted")
    garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    return {
        "wrong key": (
            ca.issue(subject, ec.generate_private_key(ec.SECP256R1()).public_key()),
            ca.chain_pem,
            "certificate_key_mismatch",
        ),
        "other USCC": (ca.issue(other_subject, key), ca.chain_pem, "certificate_wrong_enterprise"),
        "other name": (ca.issue(renamed, key), ca.chain_pem, "certificate_name_mismatch"),
        "expired": (
            ca.issue(subject, key, not_before=now - timedelta(days=400), not_after=yesterday),
            ca.chain_pem,
            "certificate_not_valid_now",
        ),
        "untrusted": (stranger.issue(subject, key), stranger.chain_pem, "certificate_untrusted"),
        "no chain": (ca.issue(subject, key), None, "certificate_untrusted"),
        "not PEM": (garbage, None, "certificate_invalid"),
    }


def test_each_bad_certificate_gets_its_code_and_changes_nothing(licensed: Licensed) -> None:
    api = licensed.api
    before = _seal(api, "contract")
    for case, (certificate, chain, code) in _refusal_cases(licensed).items():
        r = _import(api, "contract", certificate, chain)
        assert (r.status_code, r.json()["code"]) == (422, code), (case, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert _seal(api, "contract") == before, case


def test_sm2_certificate_for_another_key_or_enterprise_is_refused(licensed: Licensed) -> None:
    api, sm2_ca = licensed.api, licensed.sm2_ca
    now = datetime.now(UTC)
    seal_key = licensed.api.container.soft_keys.public_key(
        licensed.api.container.seals.seal(USCC, _kind("official")).sm2_key_ref or ""
    )
    window = {"not_before": now - timedelta(minutes=5), "not_after": now + timedelta(days=30)}
    cases = {
        "certificate_key_mismatch": sm2_ca.issue_seal_certificate(
            sm2.Sm2PrivateKey.generate().public.spki(),
            SealSubject(NAME, USCC, "企业法定名称章"),
            **window,
        ),
        "certificate_wrong_enterprise": sm2_ca.issue_seal_certificate(
            seal_key, SealSubject("示例贸易有限公司", OTHER_USCC, "企业法定名称章"), **window
        ),
    }
    before = _seal(api, "official")
    for code, cert in cases.items():
        r = _import(api, "official", _pem(cert).decode(), None)
        assert (r.status_code, r.json()["code"]) == (422, code), r.text
    assert _seal(api, "official") == before


def _kind(value: str) -> Any:
    from seals.kinds import SealKind

    return SealKind(value)


# -- the CLI -------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_requests_and_imports_and_refuses_with_the_problem_code(
    licensed: Licensed,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.cli import main

    api, ca = licensed.api, licensed.ca
    settings = api.container.settings
    monkeypatch.setenv("ESEAL_DATA_DIR", str(Path(settings.data_dir)))
    monkeypatch.setenv("ESEAL_PUBLIC_URL", settings.public_url)
    monkeypatch.setenv("ESEAL_TRUST_BUNDLE", str(settings.trust_bundle))
    req = tmp_path / "req.pem"
    assert main(["seal", "csr", USCC, "official", "--algorithm", "ec-p256", "-o", str(req)]) == 0
    capsys.readouterr()
    request = x509.load_pem_x509_csr(req.read_bytes())
    cert, chain = tmp_path / "cert.pem", tmp_path / "chain.pem"
    cert.write_text(ca.issue(request.subject, request.public_key()))
    chain.write_text(ca.chain_pem)

    before = _seal(api, "official")
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(
        ca.issue(request.subject, ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    assert main(["seal", "import-cert", USCC, "official", str(wrong), "--chain", str(chain)]) != 0
    assert "certificate_key_mismatch" in capsys.readouterr().err
    assert _seal(api, "official") == before

    assert main(["seal", "import-cert", USCC, "official", str(cert), "--chain", str(chain)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["certificate"] == cert.read_text() and shown["chain"] == ca.chain_pem
    assert _seal(api, "official") == shown

    assert main(["seal", "suspend", USCC, "official"]) == 0
    capsys.readouterr()
    late = tmp_path / "late.pem"
    assert main(["seal", "csr", USCC, "official", "--algorithm", "sm2", "-o", str(late)]) != 0
    assert "seal_not_active" in capsys.readouterr().err
    assert not late.exists()


def test_pdf_sealed_with_an_imported_sm2_certificate_verifies_with_its_ca_as_anchor(
    licensed: Licensed,
) -> None:
    api, sm2_ca = licensed.api, licensed.sm2_ca
    _, _, der = asn1_pem.unarmor(_csr(api, "contract", "sm2"))
    spki = asn1_csr.CertificationRequest.load(der)["certification_request_info"]["subject_pk_info"]
    now = datetime.now(UTC)
    issued = sm2_ca.issue_seal_certificate(
        spki,
        SealSubject(NAME, USCC, "合同专用章"),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=365),
    )
    chain = _pem(sm2_ca.certificate("issuing")).decode()
    assert _import(api, "contract", _pem(issued).decode(), chain).status_code == 200
    signed = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({"seals": [{"kind": "contract"}], "algorithm": "sm2"})},
    )
    assert signed.status_code == 200, signed.text
    report = api.client.post(
        "/v1/verify",
        headers=api.headers("admin"),
        files={"file": ("s.pdf", signed.content, "application/pdf")},
    ).json()
    assert report["valid"] is True, report
    (sig,) = report["signatures"]
    assert sig["algorithm"] == "sm2" and sig["trusted"] is True
    assert sig["certificate"]["serial"] == format(issued.serial_number, "x")
    assert sig["seal"]["kind"] == "contract" and sig["enterprise"]["uscc"] == USCC
