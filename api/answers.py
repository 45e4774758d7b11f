"""Response models of the HTTP API: what each route answers, as the OpenAPI states it.

The routes build their answers from the domain's JSON shapes (``Seal.to_json()`` ...,
DESIGN.md 3, the same shapes the CLI prints) and declare these models as ``response_model``:
FastAPI checks each answer against its model and the OpenAPI document becomes the contract a
relying party integrates against.  The word lists are the domain's enums (:mod:`seals.vocab`),
never lists written out here.

Two choices keep the JSON exactly as it was:

* times are strings (ISO 8601, ``format: date-time``), passed on as the domain wrote them:
  a ``datetime`` field would be re-serialised (``Z`` for ``+00:00``, other precision);
* every model allows extra keys (``extra="allow"``): a key the domain adds before its model
  does is passed on, not silently dropped (``tests/api/test_openapi_contract.py`` checks that
  the models name every key the domain writes today).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from keystore.base import KeyAlgorithm
from seals.license import License
from seals.permits import PermitKind, PermitStatus
from seals.vocab import (
    DocumentFormat,
    DocumentType,
    ImageSource,
    LicenseStatus,
    PadesLevel,
    RevocationReason,
    SealKind,
    SealStatus,
)
from signer.invoice import InvoiceVerdict
from storage.archive.model import ArchiveStatus, PartyRole

from .auth import Role
from .models import AccessForm

__all__ = [
    "ApiKeyAnswer",
    "ArchiveItem",
    "ArchivePageAnswer",
    "ArchiveVersionAnswer",
    "ArchiveVersionsAnswer",
    "AuditEntry",
    "AuditPage",
    "ChainCheck",
    "Health",
    "InvoiceCheckAnswer",
    "LicenseAnswer",
    "Readiness",
    "RegistrationAnswer",
    "RenewalAnswer",
    "SealAnswer",
]

#: an ISO 8601 time with its offset, as the domain wrote it
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
#: a certificate serial number, lowercase hexadecimal without leading zeros
Serial = Annotated[str, Field(pattern="^[0-9a-f]+$", examples=["5f3a9c0d1e"])]
#: a SHA-256, lowercase hexadecimal
Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- operations ----------------------------------------------------------------------------


class Health(_Answer):
    status: Literal["ok"]


class Readiness(_Answer):
    """200 when every part is ready, 503 (same body) when one is not."""

    ready: bool
    checks: dict[str, str] = Field(
        description="per part (database, keystore, archive): ok, or the error's code",
        examples=[{"database": "ok", "keystore": "ok", "archive": "archive_unavailable"}],
    )


# -- licenses and seals ----------------------------------------------------------------------


class StatusChangeAnswer(_Answer):
    status: LicenseStatus
    at: Time
    reason: str | None


class LicenseAnswer(License):
    """The license face (as registered) with its current status and every status change."""

    model_config = ConfigDict(extra="allow")

    status: LicenseStatus
    status_history: list[StatusChangeAnswer]
    registered_at: Time


class Sm2CertificateAnswer(_Answer):
    """The SM2 certificate issued beside the seal's certificate (same image, status, version);
    its chain: ``GET /v1/pki/ca?algorithm=sm2``."""

    key_algorithm: KeyAlgorithm
    serial: Serial
    certificate: str = Field(description="PEM")


class EslAnswer(_Answer):
    """The seal's GB/T 38540 seal data (SESeal); the file: ``GET .../seals/{kind}/esl``."""

    es_id: str = Field(
        description="its esID: the seal's 13-digit filing code (seal_codes of the license "
        "input), else <USCC><seal type><version, 4 digits>",
        examples=["91110108551385082Q20001"],
    )
    version: int = Field(description="SESeal version: 4 (GB/T 38540), 5 (GM/T 0031, timestamped)")
    sha256: Sha256 = Field(description="SHA-256 of the DER file")


class SealAnswer(_Answer):
    """One version of one seal (the newest, unless the route says otherwise)."""

    uscc: str
    kind: SealKind
    label: str = Field(description="the seal's Chinese name, e.g. 合同专用章")
    status: SealStatus
    version: int = Field(ge=1)
    serial: Serial
    key_algorithm: KeyAlgorithm
    certificate: str = Field(description="the seal certificate, PEM")
    chain: str = Field(description="the issuing CA then the root, PEM")
    not_before: Time
    not_after: Time
    image_sha256: Sha256
    image_source: ImageSource
    created_at: Time
    status_changed_at: Time | None
    status_reason: str | None = Field(description="free text of the last status change")
    reason_code: RevocationReason | None = Field(
        description="the published reason of a revocation or suspension"
    )
    compromised_at: Time | None = Field(description="key_compromise: counts from this time")
    sm2: Sm2CertificateAnswer | None
    esl: EslAnswer | None = Field(
        description="the seal data of a seal with SM2; null without SM2, and for seal "
        "versions issued before eseal made seal data"
    )


class RegistrationAnswer(_Answer):
    license: LicenseAnswer
    seals: list[SealAnswer]


# -- the archive ---------------------------------------------------------------------------


class SealUseAnswer(_Answer):
    kind: SealKind
    label: str
    serial: Serial


class PartyAnswer(_Answer):
    uscc: str
    role: PartyRole


class ArchiveItem(_Answer):
    """An archived document's metadata (its latest version's file)."""

    id: str = Field(description="ULID; its first 48 bits are the archiving time")
    uscc: str = Field(description="the enterprise that sealed it")
    seals: list[SealUseAnswer]
    level: PadesLevel
    timestamp_time: Time | None
    document_type: DocumentType
    reference: str | None
    sha256: Sha256
    size: int
    created_at: Time
    object_key: str
    version_id: str | None
    status: ArchiveStatus
    original_name: str | None
    parties: list[PartyAnswer]
    version: int = Field(ge=1)
    format: DocumentFormat = Field(
        DocumentFormat.PDF,
        description="pdf (PAdES), ofd (GB/T 33190, application/ofd) or ses (one GB/T 38540 "
        "SES_Signature, DER, .ses); an ofd or ses record's level is B-B or B-T",
    )
    role: PartyRole | None = Field(
        description="the asking (or filtered-on) enterprise's part in it; None for an admin's "
        "listing of everything"
    )


class ArchivePageAnswer(_Answer):
    items: list[ArchiveItem]
    next_cursor: str | None = Field(description="pass it back as ?cursor= for the next page")


class ArchiveVersionAnswer(_Answer):
    version: int = Field(ge=1)
    action: Literal["seal", "renew", "extend"] = Field(
        description="how the version came about: seal (version 1), renew, extend"
    )
    level: PadesLevel
    sha256: Sha256
    size: int
    created_at: Time
    object_key: str
    version_id: str | None
    status: ArchiveStatus
    renew_by: Time | None


class ArchiveVersionsAnswer(_Answer):
    id: str
    latest: int
    versions: list[ArchiveVersionAnswer]


class RevokedSealAnswer(_Answer):
    serial: Serial
    reason: str | None
    revoked_at: Time | None


class RenewalAnswer(_Answer):
    id: str
    action: Literal["renew", "extend"]
    version: int
    sha256: Sha256
    size: int
    renew_by: Time | None = Field(description="renew again before this time")
    last_timestamp: Time | None
    tsa: str | None
    revoked_seals: list[RevokedSealAnswer]


# -- API keys and the audit log --------------------------------------------------------------


class ApiKeyAnswer(_Answer):
    """The new key; ``token`` is shown this once and stored only as its hash."""

    id: str
    role: Role
    uscc: str | None
    name: str
    created_at: Time
    access_form: AccessForm | None
    token: str


class AuditEntry(_Answer):
    seq: int
    at: Time
    actor: str = Field(description="the API key id, or cli")
    action: str = Field(examples=["seal.use", "seal.revoke", "archive.export"])
    uscc: str | None
    seal_kind: SealKind | None
    serial: Serial | None
    document_sha256: Sha256 | None
    archive_id: str | None
    detail: dict[str, Any]
    prev_hash: Sha256
    hash: Sha256


class AuditPage(_Answer):
    entries: list[AuditEntry]
    next_after: int | None = Field(description="pass it back as ?after= for the next page")


class ChainCheck(_Answer):
    ok: bool
    entries: int
    first_broken: int | None
    reason: str | None


# -- 数电票 checks ----------------------------------------------------------------------------

#: ``POST /v1/invoices/check``: the signer's typed verdict, sent as it is
InvoiceCheckAnswer = InvoiceVerdict


# -- the license as identity: permits and check codes (issue 18) ------------------------------


class PermitDocumentAnswer(_Answer):
    """The attached copy of a permit (its latest upload)."""

    sha256: Sha256
    size: int
    filename: str | None
    uploaded_at: Time


class PermitAnswer(_Answer):
    """A permit (许可) or filing (备案) under a license; ``status`` is the status now (a
    recorded ``valid`` past ``valid_to`` reads ``expired``), ``recorded_status`` as stored."""

    id: str
    uscc: str
    type: PermitKind
    type_label: str
    name: str
    number: str
    issuing_authority: str
    scope: str | None
    valid_from: str = Field(description="YYYY-MM-DD, the first day of validity")
    valid_to: str | None = Field(description="YYYY-MM-DD, the last day; null: open-ended")
    status: PermitStatus
    status_label: str
    recorded_status: PermitStatus
    status_reason: str | None
    days_left: int | None = Field(description="days until valid_to (0: it ends today)")
    expiring: bool = Field(description="valid and ending within 30 days")
    document: PermitDocumentAnswer | None
    created_at: Time
    updated_at: Time


class CheckCodeAnswer(_Answer):
    """A scan-to-check code: the URL to open (or its QR image) shows the license's status
    now, until ``expires_at``; it is signed by the registration authority."""

    url: str
    made_at: Time
    expires_at: Time
    qr_png: str = Field(description="the QR code of url, a PNG in base64")


__all__ += ["CheckCodeAnswer", "PermitAnswer", "PermitDocumentAnswer"]
