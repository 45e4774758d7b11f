"""Revocation reasons a relying party can act on (DESIGN.md 3, "Revocation reasons").

Revoking, suspending and re-issuing a seal take an RFC 5280 reason code, which the CRL and the
OCSP responder publish; the free text goes to the audit log only.  A key compromise counts from
the time given, which becomes the revocation time (and the CRL entry's invalidity date).  Bad
codes and times are refused and change nothing.  Migration 0004 gives seals revoked before it
the codes they were published with.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import create_engine, exc, text

from api.container import Container
from helpers import USCC, license_data
from keystore.errors import EsealError
from seals.kinds import SealKind
from seals.license import LicenseStatus, parse_license
from seals.model import RevocationReason, Seal, SealStatus
from storage.db import make_engine, migrate
from storage.repository import SqlEnterpriseRepository

OTHER_USCC = "91110000600037341L"
F = x509.ReasonFlags


@pytest.fixture
def c(container: Container) -> Container:
    container.seals.register(parse_license(license_data()))
    return container


def crl_entries(c: Container) -> dict[int, x509.RevokedCertificate]:
    crl = x509.load_der_x509_crl(c.pki.crl(c.seals.revoked_certificates()))
    assert crl.is_signature_valid(c.pki.issuing.public_key())  # type: ignore[arg-type]
    return {entry.serial_number: entry for entry in crl}


def crl_reason(entry: x509.RevokedCertificate) -> F:
    return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason


def ask_ocsp(c: Container, seal: Seal) -> ocsp.OCSPResponse:
    cert = x509.load_pem_x509_certificate(seal.certificate_pem.encode())
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, c.pki.issuing, hashes.SHA256()).build()
    return ocsp.load_der_ocsp_response(
        c.pki.ocsp_response(
            req.public_bytes(serialization.Encoding.DER), c.seals.certificate_status
        )
    )


def seal_events(c: Container) -> list[dict[str, Any]]:
    return [
        e
        for e in c.audit.entries(uscc=USCC, limit=1000)
        if e["action"].startswith("seal.") and e["action"] != "seal.issue"
    ]


def test_each_revocation_code_is_published_in_crl_and_ocsp(c: Container) -> None:
    wanted = {
        SealKind.OFFICIAL: ("unspecified", F.unspecified),
        SealKind.CONTRACT: ("key_compromise", F.key_compromise),
        SealKind.FINANCE: ("affiliation_changed", F.affiliation_changed),
        SealKind.INVOICE: ("cessation_of_operation", F.cessation_of_operation),
        SealKind.LEGAL_REP: ("superseded", F.superseded),
    }
    revoked = {
        kind: c.seals.revoke_seal(USCC, kind, "why", code=code)
        for kind, (code, _) in wanted.items()
    }
    entries = crl_entries(c)
    for kind, (code, flag) in wanted.items():
        seal = revoked[kind]
        assert seal.to_json()["reason_code"] == code
        assert crl_reason(entries[seal.serial]) == flag
        answer = ask_ocsp(c, seal)
        assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert answer.revocation_reason == flag


def test_revoke_without_a_code_is_unspecified_and_reissue_is_superseded(c: Container) -> None:
    old = c.seals.seal(USCC, SealKind.CONTRACT)
    new = c.seals.reissue_seal(USCC, SealKind.CONTRACT, "新印模")
    revoked = c.seals.revoke_seal(USCC, SealKind.FINANCE, "lost")
    entries = crl_entries(c)
    assert crl_reason(entries[old.serial]) == F.superseded
    assert crl_reason(entries[revoked.serial]) == F.unspecified
    assert new.serial not in entries and new.status is SealStatus.ACTIVE
    assert ask_ocsp(c, old).revocation_reason == F.superseded


def test_suspension_is_certificate_hold_and_resuming_lifts_it(c: Container) -> None:
    held = c.seals.suspend_seal(USCC, SealKind.FINANCE, "保管人休假")
    assert held.reason_code is RevocationReason.CERTIFICATE_HOLD
    assert crl_reason(crl_entries(c)[held.serial]) == F.certificate_hold
    answer = ask_ocsp(c, held)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == F.certificate_hold

    back = c.seals.resume_seal(USCC, SealKind.FINANCE, "回来了")
    assert back.reason_code is None and back.status is SealStatus.ACTIVE
    assert back.serial not in crl_entries(c)
    assert ask_ocsp(c, back).certificate_status is ocsp.OCSPCertStatus.GOOD

    # a held seal may then be revoked for good, with its own code
    c.seals.suspend_seal(USCC, SealKind.FINANCE)
    gone = c.seals.revoke_seal(USCC, SealKind.FINANCE, code="key_compromise")
    assert crl_reason(crl_entries(c)[gone.serial]) == F.key_compromise


def test_key_compromise_counts_from_the_given_time(c: Container) -> None:
    seal = c.seals.seal(USCC, SealKind.CONTRACT)
    since = seal.not_before + timedelta(seconds=30)
    text_in = since.astimezone(timezone(timedelta(hours=8))).isoformat()  # Beijing time
    assert text_in.endswith("+08:00")
    done = c.seals.revoke_seal(
        USCC,
        SealKind.CONTRACT,
        "保管人遗失 U 盾 key lost",
        code="key_compromise",
        compromised_at=text_in,
    )
    assert done.compromised_at == since and done.revoked_since == since
    assert done.status_changed_at is not None and done.status_changed_at > since

    entry = crl_entries(c)[done.serial]
    assert crl_reason(entry) == F.key_compromise
    assert entry.revocation_date_utc == since
    invalidity = entry.extensions.get_extension_for_class(x509.InvalidityDate).value
    assert invalidity.invalidity_date_utc == since
    answer = ask_ocsp(c, done)
    assert answer.revocation_reason == F.key_compromise
    assert answer.revocation_time_utc == since

    # the free text is in the audit log, with the code and the time; never in CRL or OCSP
    event = seal_events(c)[-1]
    assert event["action"] == "seal.revoke"
    assert event["detail"]["reason"] == "保管人遗失 U 盾 key lost"
    assert event["detail"]["reason_code"] == "key_compromise"
    assert event["detail"]["compromised_at"] == since.isoformat()
    published = c.pki.crl(c.seals.revoked_certificates()) + ask_ocsp(c, done).public_bytes(
        serialization.Encoding.DER
    )
    assert "遗失".encode() not in published and b"key lost" not in published


def test_key_compromise_without_a_time_counts_from_now(c: Container) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    done = c.seals.revoke_seal(USCC, SealKind.CONTRACT, code=RevocationReason.KEY_COMPROMISE)
    assert done.compromised_at is not None
    assert before <= done.compromised_at <= datetime.now(UTC)
    assert crl_entries(c)[done.serial].revocation_date_utc == done.compromised_at


def test_reissue_after_a_key_compromise(c: Container) -> None:
    old = c.seals.seal(USCC, SealKind.OFFICIAL)
    since = old.not_before + timedelta(seconds=5)
    new = c.seals.reissue_seal(
        USCC, SealKind.OFFICIAL, "密钥泄露", code="key_compromise", compromised_at=since
    )
    assert new.version == 2 and new.status is SealStatus.ACTIVE and new.serial != old.serial
    entry = crl_entries(c)[old.serial]
    assert crl_reason(entry) == F.key_compromise
    assert entry.revocation_date_utc == since
    retired = c.seals.seal_by_serial(old.serial)
    assert retired is not None and retired.reason_code is RevocationReason.KEY_COMPROMISE
    assert ask_ocsp(c, new).certificate_status is ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("status", [LicenseStatus.CANCELLED, LicenseStatus.REVOKED])
def test_ending_the_license_revokes_its_seals_as_cessation_of_operation(
    c: Container, status: LicenseStatus
) -> None:
    c.seals.suspend_seal(USCC, SealKind.FINANCE)  # a held seal is revoked too
    c.seals.change_status(USCC, status, "市场监管局决定")
    entries = crl_entries(c)
    for seal in c.seals.seals(USCC):
        assert seal.status is SealStatus.REVOKED
        assert seal.reason_code is RevocationReason.CESSATION_OF_OPERATION
        assert crl_reason(entries[seal.serial]) == F.cessation_of_operation


def _in(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


BAD: list[tuple[str, Callable[[Container], Any], str]] = [
    (
        "unknown code",
        lambda c: c.seals.revoke_seal(USCC, SealKind.CONTRACT, code="lost"),
        "invalid_reason_code",
    ),
    (
        "hold is a suspension",
        lambda c: c.seals.revoke_seal(USCC, SealKind.CONTRACT, code="certificate_hold"),
        "invalid_reason_code",
    ),
    (
        "suspend as compromise",
        lambda c: c.seals.suspend_seal(USCC, SealKind.CONTRACT, code="key_compromise"),
        "invalid_reason_code",
    ),
    (
        "reissue as affiliation",
        lambda c: c.seals.reissue_seal(USCC, SealKind.CONTRACT, code="affiliation_changed"),
        "invalid_reason_code",
    ),
    (
        "time without zone",
        lambda c: c.seals.revoke_seal(
            USCC, SealKind.CONTRACT, code="key_compromise", compromised_at="2025-03-01T08:00:00"
        ),
        "invalid_compromised_at",
    ),
    (
        "not a time",
        lambda c: c.seals.revoke_seal(
            USCC, SealKind.CONTRACT, code="key_compromise", compromised_at="yesterday"
        ),
        "invalid_compromised_at",
    ),
    (
        "future",
        lambda c: c.seals.revoke_seal(
            USCC, SealKind.CONTRACT, code="key_compromise", compromised_at=_in(10)
        ),
        "invalid_compromised_at",
    ),
    (
        "before the certificate",
        lambda c: c.seals.revoke_seal(
            USCC, SealKind.CONTRACT, code="key_compromise", compromised_at="2020-01-01T00:00:00Z"
        ),
        "invalid_compromised_at",
    ),
    (
        "time with another code",
        lambda c: c.seals.revoke_seal(
            USCC, SealKind.CONTRACT, code="superseded", compromised_at=_in(-1)
        ),
        "invalid_compromised_at",
    ),
    (
        "reissue in the future",
        lambda c: c.seals.reissue_seal(
            USCC, SealKind.CONTRACT, code="key_compromise", compromised_at=_in(10)
        ),
        "invalid_compromised_at",
    ),
]


@pytest.mark.parametrize(("name", "call", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_codes_and_times_are_refused_and_change_nothing(
    c: Container, name: str, call: Callable[[Container], Any], code: str
) -> None:
    before = c.seals.seals(USCC)
    crl_before = set(crl_entries(c))
    events = len(c.audit.entries(limit=1000))
    with pytest.raises(EsealError) as caught:
        call(c)
    assert caught.value.code == code
    assert c.seals.seals(USCC) == before
    assert set(crl_entries(c)) == crl_before == set()
    assert len(c.audit.entries(limit=1000)) == events


# -- migration 0004 ----------------------------------------------------------------------------

PG_ADMIN_URL = os.environ.get(
    "ESEAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'eseal.db'}"
        return
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"eseal_rr_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except exc.OperationalError as err:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable: {err.orig}")
        pytest.skip(f"PostgreSQL not reachable: {err.orig}")
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        yield url + "?options=" + quote("-ctimezone=UTC")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_migration_gives_earlier_revocations_the_codes_they_were_published_with(
    empty_db: str,
) -> None:
    migrate(empty_db, "0002")
    engine = make_engine(empty_db)
    t = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [  # (kind, status, status_reason) as eseal wrote them before 0004
        ("official", "revoked", "superseded"),
        ("contract", "revoked", "license cancelled"),
        ("finance", "suspended", "保管人休假"),
        ("invoice", "revoked", "key compromise"),
        ("legal_rep", "active", None),
    ]
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO enterprises (uscc, name, type, legal_representative, face, status,"
                    " registered_at) VALUES (:u, 'n', 't', 'l', '{}', 'active', :t)"
                ),
                {"u": USCC, "t": t},
            )
            for i, (kind, status, reason) in enumerate(rows, start=1):
                conn.execute(
                    text(
                        "INSERT INTO seals (uscc, kind, version, status, key_ref, key_algorithm,"
                        " serial, certificate_pem, chain_pem, not_before, not_after, image_png,"
                        " image_sha256, image_source, created_at, status_changed_at, status_reason)"
                        " VALUES (:u, :k, 1, :s, 'ref', 'ec-p256', :serial, '', '', :t, :t, :png,"
                        " 'x', 'rendered', :t, :t, :r)"
                    ),
                    {
                        "u": USCC,
                        "k": kind,
                        "s": status,
                        "serial": format(i, "x"),
                        "t": t,
                        "png": b"png",
                        "r": reason,
                    },
                )
        migrate(engine)
        repo = SqlEnterpriseRepository(engine)
        got = {s.kind.value: s for s in (repo.seal_by_serial(i) for i in range(1, 6)) if s}
        assert {k: (s.reason_code.value if s.reason_code else None) for k, s in got.items()} == {
            "official": "superseded",
            "contract": "cessation_of_operation",
            "finance": "certificate_hold",
            "invoice": "unspecified",
            "legal_rep": None,
        }
        assert all(s.compromised_at is None for s in got.values())
        assert got["invoice"].status_reason == "key compromise"  # the text itself stays
    finally:
        engine.dispose()
