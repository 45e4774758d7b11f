"""The verification report (DESIGN.md section 3) as typed models: the contract of
``POST /v1/verify``, ``eseal verify --json``, the HTML report and the archive's exports.

Every enumerated field is one of the domain's word lists (:mod:`seals.vocab`), every problem
and notice code one of the registry's (:mod:`seals.codes`), so the JSON schema lists the words
a relying party can branch on.

Three shapes of a signature entry share :class:`SignatureReport`, and the verifier sets only the
keys that apply to each:

* a seal: every key;
* a document timestamp: no ``signing_time``, ``level``, ``time_source``, ``seal``, ``revoked``,
  ``enterprise``;
* a signature that cannot be read or validated (``integrity`` ``broken``, a
  ``malformed_signature``, ``byte_range_invalid`` or ``signature_contents_invalid`` problem):
  only ``field``, ``type``, ``integrity``, ``intact``, ``trusted``, ``valid``, ``problems``.

``model_dump(mode="json")`` writes every key of every entry, null where it does not apply;
:meth:`VerificationReport.to_json` (``exclude_unset``) leaves those keys out, which is the JSON
eseal has always written, byte for byte.  Readers treat an absent key and a null alike.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from seals.verdict import (
    EnterpriseInfo,
    IsoTime,
    NoticeItem,
    NoticeSeal,
    ProblemItem,
    RevocationInfo,
)
from seals.vocab import (
    Coverage,
    DocumentFormat,
    Integrity,
    Modifications,
    PadesLevel,
    ReferenceStatus,
    SealKind,
    SignatureType,
    TimeSource,
)

__all__ = [
    "CertificateInfo",
    "EnterpriseInfo",
    "FileInfo",
    "NationalSealInfo",
    "NoticeItem",
    "NoticeSeal",
    "ProblemItem",
    "ReferenceCheck",
    "RevocationInfo",
    "SealInfo",
    "SignatureReport",
    "TimestampInfo",
    "VerificationReport",
]


class FileInfo(BaseModel):
    """The file that was verified."""

    sha256: str
    size: int = Field(description="bytes")
    pages: int = Field(description="0 when the page tree cannot be read")


class CertificateInfo(BaseModel):
    """The certificate that made a signature or a document timestamp."""

    subject: str
    issuer: str
    serial: str = Field(description="hexadecimal")


class TimestampInfo(BaseModel):
    """A signature's RFC 3161 timestamp, or a document timestamp itself."""

    time: IsoTime | None = Field(description="genTime")
    valid: bool
    tsa: str = Field(description="the subject of the TSA's certificate")


class SealInfo(BaseModel):
    """The seal that signed: our record of it, else what its certificate says."""

    kind: SealKind | None
    label: str | None
    image_sha256: str | None = Field(description="null for a certificate eseal did not issue")
    version: int | None = Field(description="null for a certificate eseal did not issue")


class NationalSealInfo(BaseModel):
    """The GB/T 38540 seal data (``SESeal``) a national signature carries (OFD and SES)."""

    version: int = Field(description="4 (GB/T 38540-2020) or 5 (GM/T 0031-2025)")
    es_id: str = Field(description="the seal's code (esID)")
    seal_type: int = Field(description="eseal's numbers: 1 official ... 5 legal_rep")
    name: str
    maker: str = Field(description="the subject of the seal maker's (制章者) certificate")
    valid_start: IsoTime
    valid_end: IsoTime
    property_info: str | None = Field(
        default=None, description="the signature's propertyInfo (what the signer said it signs)"
    )


class ReferenceCheck(BaseModel):
    """One file an OFD signature protects, against its SM3 check value."""

    file: str = Field(description="the path in the OFD package, as the signature names it")
    status: ReferenceStatus


class SignatureReport(BaseModel):
    """One signature or document timestamp, in document order (see the module for which keys
    each shape carries)."""

    field: str = Field(description="the signature field's fully qualified name")
    type: SignatureType
    integrity: Integrity
    intact: bool = Field(description="the signed bytes and the signature value verify")
    trusted: bool = Field(description="the certificate chains to a trust anchor")
    coverage: Coverage | None = None
    modifications: Modifications | None = Field(
        default=None, description="the worst change after signing (pyHanko's diff analysis)"
    )
    certificate: CertificateInfo | None = None
    algorithm: str | None = Field(
        default=None, description="the signer's key: sm2, ec-p256, rsa-2048, ..."
    )
    validated_at: IsoTime | None = Field(
        default=None,
        description="the time the chain was validated at: null for the present, else the time "
        "a later timestamp proves (EN 319 102-1 past validation)",
    )
    signing_time: IsoTime | None = Field(
        default=None, description="the time the signer claims (CMS signingTime)"
    )
    timestamp: TimestampInfo | None = None
    level: PadesLevel | None = None
    time_source: TimeSource | None = Field(
        default=None, description="which time decides revocation and license at signing"
    )
    seal: SealInfo | None = None
    revoked: RevocationInfo | None = None
    enterprise: EnterpriseInfo | None = None
    national_seal: NationalSealInfo | None = Field(
        default=None, description="OFD and SES signatures: the seal data they carry"
    )
    page: int | None = Field(
        default=None, description="OFD signatures: the page of the stamp (1-based)"
    )
    references: list[ReferenceCheck] | None = Field(
        default=None, description="OFD signatures: every file the signature protects"
    )
    valid: bool
    problems: list[ProblemItem]


class VerificationReport(BaseModel):
    """The verdict on a document, its signatures, and what changed since they signed."""

    format: DocumentFormat = Field(
        default=DocumentFormat.PDF, description="pdf, ofd, or ses (one SES_Signature)"
    )
    valid: bool = Field(
        description="every signature is valid, there is at least one seal, and with "
        "expect_uscc a valid seal of that enterprise"
    )
    expect_uscc: str | None
    file: FileInfo
    signatures: list[SignatureReport]
    problems: list[ProblemItem]
    notices: list[NoticeItem] = Field(description="facts that do not change valid")

    def to_json(self) -> dict[str, Any]:
        """The report as eseal has always written it: the keys that do not apply to a
        signature entry or a notice are absent instead of null."""
        return self.model_dump(mode="json", exclude_unset=True)
