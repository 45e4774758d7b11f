"""The verification report as a typed model (signer/report.py): its schema names every code and
word a relying party can branch on, and its JSON keeps the shape clients read.

The reports of real documents are in test_verify.py; here the three shapes of a signature entry
are built by hand, and the model is served by FastAPI as a route's response model.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from seals.codes import NoticeCode, ProblemCode
from seals.verdict import NOTICE_CODES, REASON_CODES
from seals.vocab import (
    Coverage,
    CrlReason,
    DocumentFormat,
    Integrity,
    LicenseStatus,
    Modifications,
    PadesLevel,
    ReferenceStatus,
    SealKind,
    SignatureType,
    TimeSource,
    UsccSource,
    values,
)
from signer.report import (
    CertificateInfo,
    EnterpriseInfo,
    FileInfo,
    NoticeItem,
    NoticeSeal,
    ProblemItem,
    RevocationInfo,
    SealInfo,
    SignatureReport,
    TimestampInfo,
    VerificationReport,
)

SIGNED = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
STAMPED = datetime(2026, 3, 1, 18, 0, 0, 250000, tzinfo=timezone(timedelta(hours=8)))
VOCABULARIES: tuple[type[enum.Enum], ...] = (
    Coverage,
    CrlReason,
    DocumentFormat,
    Integrity,
    LicenseStatus,
    Modifications,
    PadesLevel,
    ReferenceStatus,
    SealKind,
    SignatureType,
    TimeSource,
    UsccSource,
)


def _report() -> VerificationReport:
    cert = CertificateInfo(subject="Common Name: 合同专用章", issuer="eseal Seal CA", serial="1f")
    seal = SignatureReport(
        field="Seal1",
        type=SignatureType.SIGNATURE,
        integrity=Integrity.OK,
        intact=True,
        trusted=True,
        coverage=Coverage.EARLIER_REVISION,
        modifications=Modifications.LATER_SIGNATURES,
        certificate=cert,
        algorithm="ec-p256",
        validated_at=None,
        signing_time=SIGNED,
        timestamp=TimestampInfo(time=STAMPED, valid=True, tsa="eseal TSA"),
        level=PadesLevel.B_LTA,
        time_source=TimeSource.TIMESTAMP,
        seal=SealInfo(kind=SealKind.CONTRACT, label="合同专用章", image_sha256="ab", version=1),
        revoked=RevocationInfo(
            revoked=True,
            at=SIGNED + timedelta(days=2),
            reason=CrlReason.SUPERSEDED,
            at_signing=False,
        ),
        enterprise=EnterpriseInfo(
            uscc="914403001922038216",
            uscc_source=UsccSource.EXTENSION,
            name="某某有限公司",
            certificate_name="某某有限公司",
            license_status_now=LicenseStatus.ACTIVE,
            license_status_at_signing=LicenseStatus.ACTIVE,
            matches_registry=True,
        ),
        valid=True,
        problems=[],
    )
    stamp = SignatureReport(
        field="Timestamp1",
        type=SignatureType.DOCUMENT_TIMESTAMP,
        integrity=Integrity.OK,
        intact=True,
        trusted=True,
        coverage=Coverage.ENTIRE_FILE,
        modifications=Modifications.NONE,
        certificate=cert,
        algorithm="ec-p256",
        validated_at=STAMPED,
        timestamp=TimestampInfo(time=STAMPED, valid=True, tsa="eseal TSA"),
        valid=True,
        problems=[],
    )
    broken = SignatureReport(
        field="Evil",
        type=SignatureType.SIGNATURE,
        integrity=Integrity.BROKEN,
        intact=False,
        trusted=False,
        valid=False,
        problems=[
            ProblemItem(
                code=ProblemCode.BYTE_RANGE_INVALID, message="the signature has no /ByteRange"
            )
        ],
    )
    notice = NoticeItem(
        code=NoticeCode.SEAL_SUPERSEDED,
        message="re-issued",
        since=SIGNED,
        uscc="914403001922038216",
        enterprise="某某有限公司",
        fields=["Seal1"],
        seal=NoticeSeal(kind=SealKind.CONTRACT, label="合同专用章", version=1, serial="1f"),
        current_version=2,
    )
    return VerificationReport(
        valid=False,
        expect_uscc=None,
        file=FileInfo(sha256="00", size=10, pages=1),
        signatures=[seal, stamp, broken],
        problems=[
            ProblemItem(
                code=ProblemCode.SIGNATURE_NOT_VALID, message="signature 'Evil' is not valid"
            )
        ],
        notices=[notice],
    )


def _enum(schema: dict[str, Any], name: str) -> set[str]:
    return set(schema["$defs"][name]["enum"])


def test_the_schema_lists_every_code_and_word() -> None:
    schema = VerificationReport.model_json_schema(mode="serialization")
    assert _enum(schema, "ProblemCode") == {p.value for p in ProblemCode}
    assert _enum(schema, "NoticeCode") == {n.value for n in NoticeCode} == set(NOTICE_CODES)
    assert set(REASON_CODES) == set(values(CrlReason))
    for vocabulary in VOCABULARIES:
        assert _enum(schema, vocabulary.__name__) == set(values(vocabulary)), vocabulary
    times = schema["$defs"]["SignatureReport"]["properties"]["signing_time"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in times


def test_keys_that_do_not_apply_are_absent_in_the_json_and_null_in_the_full_dump() -> None:
    report = _report()
    seal, stamp, broken = report.to_json()["signatures"]
    national_only = {"national_seal", "page", "references"}  # OFD and SES entries
    assert list(seal) == [f for f in SignatureReport.model_fields if f not in national_only]
    assert "seal" not in stamp and "enterprise" not in stamp and "level" not in stamp
    assert stamp["validated_at"] == STAMPED.isoformat()
    assert list(broken) == [
        "field",
        "type",
        "integrity",
        "intact",
        "trusted",
        "valid",
        "problems",
    ]
    (notice,) = report.to_json()["notices"]
    assert "reason" not in notice and notice["current_version"] == 2
    full = report.model_dump(mode="json")
    for entry in full["signatures"]:
        assert list(entry) == list(SignatureReport.model_fields)
    assert full["signatures"][2]["certificate"] is None
    assert full["notices"][0]["reason"] is None


def test_times_and_codes_are_written_as_the_report_always_wrote_them() -> None:
    seal = _report().to_json()["signatures"][0]
    # isoformat, not pydantic's "Z": clients compare these strings
    assert seal["signing_time"] == "2026-03-01T10:00:00+00:00"
    assert seal["timestamp"]["time"] == "2026-03-01T18:00:00.250000+08:00"
    assert seal["revoked"] == {
        "revoked": True,
        "at": "2026-03-03T10:00:00+00:00",
        "reason": "superseded",
        "at_signing": False,
    }
    assert _report().to_json()["problems"] == [
        {"code": "signature_not_valid", "message": "signature 'Evil' is not valid"}
    ]
    # and the JSON reads back to the same report
    again = VerificationReport.model_validate(json.loads(json.dumps(_report().to_json())))
    assert again.to_json() == _report().to_json()
    assert (
        again.signatures[0].problems == [] and again.notices[0].code is NoticeCode.SEAL_SUPERSEDED
    )


def test_fastapi_serves_the_model_and_documents_it() -> None:
    app = FastAPI()

    @app.get("/full", response_model=VerificationReport)
    def full() -> VerificationReport:
        return _report()

    @app.get("/compact", response_model=VerificationReport, response_model_exclude_unset=True)
    def compact() -> VerificationReport:
        return _report()

    client = TestClient(app)
    assert client.get("/compact").json() == _report().to_json()
    assert client.get("/full").json() == _report().model_dump(mode="json")
    schemas = app.openapi()["components"]["schemas"]
    assert set(schemas["ProblemCode"]["enum"]) == {p.value for p in ProblemCode}
    assert set(schemas["NoticeCode"]["enum"]) == {n.value for n in NoticeCode}
