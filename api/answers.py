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
    ApprovalDecision,
    ApprovalMode,
    ApprovalStatus,
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
from storage.batches import BatchStatus, ItemStatus

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
    "WebhookAnswer",
    "WebhookDeliveryAnswer",
    "WebhookDeliveryDetail",
    "WebhookDeliveryPage",
    "WebhookEvent",
    "WebhookSecretAnswer",
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


# -- logging in with the license (认证登录) -------------------------------------------------

from seals.assertions import AssertionAlgorithm, ChallengeState  # noqa: E402


class RelyingPartyAnswer(_Answer):
    """Who asks for the login, from its access form (附件2 接入信息表)."""

    id: str = Field(description="the relying party's API key id: the assertion's aud")
    organisation_name: str | None = Field(description="单位名称")
    uscc: str | None = Field(description="the relying party's own USCC")
    application_system: str | None = Field(description="应用系统名称")
    endpoint: str | None = Field(description="域名或IP及端口")


class ChallengeAnswer(_Answer):
    """A login challenge: who asks, for what, until when, and (once confirmed) the assertion."""

    id: str
    status: ChallengeState
    url: str = Field(description="what the QR code says: where the enterprise reads and confirms")
    nonce: str
    purpose: str
    algorithm: AssertionAlgorithm | None = Field(
        description="the JWS alg asked for; null: the official seal's international key"
    )
    expect_uscc: str | None = Field(description="only this enterprise may confirm; null: any")
    created_at: Time
    expires_at: Time = Field(description="confirm before this time")
    relying_party: RelyingPartyAnswer
    uscc: str | None = Field(description="the enterprise that confirmed")
    confirmed_at: Time | None
    assertion: str | None = Field(
        description="the signed assertion (compact JWS), for the relying party, an admin and "
        "the enterprise that confirmed"
    )
    assertion_expires_at: Time | None
    verified_at: Time | None = Field(description="when the relying party verified it online")


class NewChallengeAnswer(ChallengeAnswer):
    """The new challenge, with its QR code to show the enterprise."""

    qr_png: str = Field(description="the QR code of url: a PNG as a data: URI (base64)")


class AssertionSealAnswer(_Answer):
    kind: SealKind
    serial: Serial = Field(description="the serial of the certificate that signed")
    version: int = Field(ge=1)
    certificate: str = Field(description="the certificate that signed, PEM")


class AssertionCheck(_Answer):
    """An assertion verified online: what it says, and the license as it is now."""

    valid: Literal[True]
    algorithm: AssertionAlgorithm
    uscc: str
    name: str
    license_status: LicenseStatus = Field(description="the license's status now")
    audience: str
    nonce: str
    purpose: str
    issued_at: Time
    expires_at: Time
    challenge: str = Field(description="the challenge's id (the assertion's jti)")
    seal: AssertionSealAnswer
    verified_at: Time


__all__ += ["AssertionCheck", "ChallengeAnswer", "NewChallengeAnswer", "RelyingPartyAnswer"]
# -- seal-use approval (用印审批) ---------------------------------------------------------------


class PolicyConditionAnswer(_Answer):
    document_types: list[DocumentType] | None = Field(
        description="approval only for these declared document types; null: every type"
    )
    min_amount: str | None = Field(
        description="approval only from this amount (yuan) up; null: whatever the amount. "
        "A request that names no amount needs approval",
        examples=["100000.00"],
    )


class SealPolicyAnswer(_Answer):
    """Whether using one seal kind needs approval, by how many of which approvers, and when."""

    kind: SealKind
    approval: ApprovalMode
    quorum: int = Field(ge=1, description="M: how many approvers must approve")
    approvers: list[str] | None = Field(
        description="ids of the approver keys that count; null: every approver key of the "
        "enterprise"
    )
    condition: PolicyConditionAnswer
    updated_at: Time | None
    updated_by: str | None = Field(description="the API key id (or cli) that set it")


class SealPoliciesAnswer(_Answer):
    uscc: str
    approver_keys: list[str] = Field(description="ids of the enterprise's active approver keys")
    policies: list[SealPolicyAnswer] = Field(description="one per seal kind, all five")

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "uscc": "91110108551385082Q",
                    "approver_keys": ["3f2a9c0d1e4b5a6c", "7d8e9f0a1b2c3d4e"],
                    "policies": [
                        {
                            "kind": "contract",
                            "approval": "required",
                            "quorum": 2,
                            "approvers": None,
                            "condition": {
                                "document_types": ["contract"],
                                "min_amount": "100000.00",
                            },
                            "updated_at": "2026-03-01T08:00:00+00:00",
                            "updated_by": "a1b2c3d4e5f60718",
                        }
                    ],
                }
            ]
        },
    )


class ApprovalRequesterAnswer(_Answer):
    key_id: str
    name: str


class ApprovalDocumentAnswer(_Answer):
    sha256: Sha256 = Field(description="of the uploaded document, fixed when it was uploaded")
    size: int
    format: DocumentFormat
    name: str | None = Field(description="the uploaded file's name")
    kept: bool = Field(
        description="whether the upload is still kept (while pending or approved): "
        "GET .../original and .../preview work only then"
    )


class ApprovalRequirementAnswer(_Answer):
    kind: SealKind
    quorum: int
    approvers: list[str] | None
    approvals: int = Field(description="approvals so far that count for this requirement")


class ApprovalDecisionAnswer(_Answer):
    key_id: str
    name: str
    decision: ApprovalDecision
    comment: str | None
    at: Time


class PlacementAnswer(_Answer):
    """Where one seal (or one strip of a cross-page seal) goes."""

    n: int = Field(description="the seal's place in the order of sealing, from 1")
    kind: SealKind
    page: int | None = Field(description="from 1; null for a seal that fills a named field")
    rect: list[float] | None = Field(
        description="[x0, y0, x1, y1]: PDF in points from the visible page's bottom-left, "
        "OFD in mm from the page's top-left"
    )
    unit: Literal["pt", "mm"] | None
    origin: Literal["bottom-left", "top-left"] | None
    cross_page: bool = Field(description="a strip of a cross-page seal (骑缝章)")
    field: str | None = Field(description="the signature field the seal fills, if named")


class ApprovalProblemAnswer(_Answer):
    code: str
    status: int
    detail: str


class ApprovalAnswer(_Answer):
    """A sealing request that needs approval, its decisions and its outcome."""

    id: str = Field(description="ULID")
    uscc: str
    status: ApprovalStatus
    requested_by: ApprovalRequesterAnswer
    requested_at: Time
    expires_at: Time = Field(
        description="a pending request expires then (ESEAL_APPROVAL_TTL_HOURS after it was made)"
    )
    finished_at: Time | None
    document: ApprovalDocumentAnswer
    document_type: DocumentType
    reference: str | None
    amount: str | None = Field(description="the amount the request declared, yuan")
    options: dict[str, Any] = Field(description="the sealing options, as sent")
    requirements: list[ApprovalRequirementAnswer]
    decisions: list[ApprovalDecisionAnswer]
    placements: list[PlacementAnswer]
    archive_id: str | None = Field(description="the sealed document's archive id, once sealed")
    result_sha256: Sha256 | None
    error: ApprovalProblemAnswer | None = Field(
        description="why sealing failed (failed), or why the last attempt was cut (approved)"
    )

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "01JNB3V2K7Q8W9X0Y1Z2A3B4C5",
                    "uscc": "91110108551385082Q",
                    "status": "pending",
                    "requested_by": {"key_id": "5e6f7a8b9c0d1e2f", "name": "合同系统"},
                    "requested_at": "2026-03-02T01:00:00+00:00",
                    "expires_at": "2026-03-05T01:00:00+00:00",
                    "finished_at": None,
                    "document": {
                        "sha256": "9f86d081884c7d659a2feaa0c55ad015"
                        "a3bf4f1b2b0b822cd15d6c15b0f00a08",
                        "size": 48213,
                        "format": "pdf",
                        "name": "HT-2026-0001.pdf",
                        "kept": True,
                    },
                    "document_type": "contract",
                    "reference": "HT-2026-0001",
                    "amount": "250000.00",
                    "options": {
                        "seals": [{"kind": "contract", "keyword": "甲方（盖章）"}],
                        "document_type": "contract",
                        "reference": "HT-2026-0001",
                    },
                    "requirements": [
                        {"kind": "contract", "quorum": 2, "approvers": None, "approvals": 1}
                    ],
                    "decisions": [
                        {
                            "key_id": "3f2a9c0d1e4b5a6c",
                            "name": "法务 张三",
                            "decision": "approve",
                            "comment": "条款已审",
                            "at": "2026-03-02T02:00:00+00:00",
                        }
                    ],
                    "placements": [
                        {
                            "n": 1,
                            "kind": "contract",
                            "page": 2,
                            "rect": [300.5, 95.2, 413.9, 208.6],
                            "unit": "pt",
                            "origin": "bottom-left",
                            "cross_page": False,
                            "field": None,
                        }
                    ],
                    "archive_id": None,
                    "result_sha256": None,
                    "error": None,
                }
            ]
        },
    )


class ApprovalPageAnswer(_Answer):
    items: list[ApprovalAnswer]
    next_before: str | None = Field(description="pass it back as ?before= for the next page")


__all__ += [
    "ApprovalAnswer",
    "ApprovalPageAnswer",
    "SealPoliciesAnswer",
    "SealPolicyAnswer",
]


# -- batches ----------------------------------------------------------------------------------

_BATCH_ID = "01JQ3Z7K8M2N4P6R8T0V2X4Z6B"


class BatchCounts(_Answer):
    queued: int = Field(ge=0)
    running: int = Field(ge=0)
    done: int = Field(ge=0, description="sealed, archived and audited")
    failed: int = Field(ge=0, description="refused or failed: see each file's code")


class BatchNotice(_Answer):
    code: str = Field(examples=["cross_page_skipped"])
    message: str


class BatchFileAnswer(_Answer):
    """One file of a batch: its result once finished (sealed: the archive id and SHA-256 of
    the sealed file; failed: the code and detail a single ``POST /v1/sign`` would answer)."""

    position: int = Field(ge=0, description="its place in the request, from 0")
    name: str = Field(description="the part's file name, or the path in the uploaded ZIP")
    status: ItemStatus
    input_sha256: Sha256
    input_size: int
    attempts: int = Field(description="times a worker took it (outages are retried)")
    archive_id: str | None
    sha256: Sha256 | None = Field(description="SHA-256 of the sealed file")
    size: int | None
    format: DocumentFormat | None
    code: str | None = Field(description="a failed file's problem code", examples=["invalid_pdf"])
    detail: str | None
    notices: list[BatchNotice]
    finished_at: Time | None


class BatchAnswer(_Answer):
    """A batch: its progress and each file's result (``GET /v1/batches/{id}``)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": _BATCH_ID,
                    "uscc": "91110108551385082Q",
                    "status": "running",
                    "total": 3,
                    "counts": {"queued": 1, "running": 0, "done": 1, "failed": 1},
                    "created_at": "2026-03-02T08:00:00.120000+00:00",
                    "started_at": "2026-03-02T08:00:00.310000+00:00",
                    "finished_at": None,
                    "options": {"seals": [{"kind": "contract"}], "level": "B-T"},
                    "result": f"/v1/batches/{_BATCH_ID}/result.zip",
                    "files": [
                        {
                            "position": 0,
                            "name": "HT-2026-0001.pdf",
                            "status": "done",
                            "input_sha256": "a" * 64,
                            "input_size": 10510,
                            "attempts": 1,
                            "archive_id": "01JQ3Z7KB1C3D5E7F9G1H3J5K7",
                            "sha256": "b" * 64,
                            "size": 48213,
                            "format": "pdf",
                            "code": None,
                            "detail": None,
                            "notices": [],
                            "finished_at": "2026-03-02T08:00:00.720000+00:00",
                        },
                        {
                            "position": 1,
                            "name": "scan.pdf",
                            "status": "failed",
                            "input_sha256": "c" * 64,
                            "input_size": 812,
                            "attempts": 1,
                            "archive_id": None,
                            "sha256": None,
                            "size": None,
                            "format": None,
                            "code": "invalid_pdf",
                            "detail": "the file is not a PDF",
                            "notices": [],
                            "finished_at": "2026-03-02T08:00:00.910000+00:00",
                        },
                        {
                            "position": 2,
                            "name": "HT-2026-0003.pdf",
                            "status": "queued",
                            "input_sha256": "d" * 64,
                            "input_size": 10622,
                            "attempts": 0,
                            "archive_id": None,
                            "sha256": None,
                            "size": None,
                            "format": None,
                            "code": None,
                            "detail": None,
                            "notices": [],
                            "finished_at": None,
                        },
                    ],
                }
            ]
        },
    )

    id: str = Field(description="ULID; its first 48 bits are the time it was queued")
    uscc: str = Field(description="the enterprise whose seals seal it")
    status: BatchStatus
    total: int = Field(ge=1)
    counts: BatchCounts
    created_at: Time
    started_at: Time | None
    finished_at: Time | None = Field(description="when its last file finished")
    options: dict[str, Any] = Field(description="the options given for every file")
    result: str = Field(description="the result ZIP, once the batch is done")
    files: list[BatchFileAnswer]


__all__ += ["BatchAnswer", "BatchFileAnswer"]


# -- signed webhooks (api/routes/webhooks.py) -------------------------------------------------

_WEBHOOK_EXAMPLE: dict[str, Any] = {
    "id": "01JB2Z3K4M5N6P7Q8R9S0T1V2W",
    "uscc": "91110108551385082Q",
    "url": "https://contracts.example.com/hooks/eseal",
    "events": ["document.sealed", "seal.*"],
    "description": "合同系统",
    "created_at": "2025-01-02T03:04:05.678901+00:00",
    "secret_rotated_at": None,
    "previous_secret_expires_at": None,
}


class WebhookAnswer(_Answer):
    """A subscription (its secret is never shown again)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_WEBHOOK_EXAMPLE]})

    id: str
    uscc: str | None = Field(
        description="the enterprise whose events it receives; null: every enterprise's (admin)"
    )
    url: str
    events: list[str] = Field(description="event types, a group (seal.*), or *")
    description: str | None
    created_at: Time
    secret_rotated_at: Time | None
    previous_secret_expires_at: Time | None = Field(
        description="until then the secret before the last rotation signs too (a second v1)"
    )


class WebhookSecretAnswer(WebhookAnswer):
    """A new subscription, or a rotated secret: ``secret`` is shown this once."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {**_WEBHOOK_EXAMPLE, "secret": "whsec_q3Zt1nV0mX8cH2rKp5sLw9yB4fJ7gD6aE1uT0oN3iM8"}
            ]
        },
    )

    secret: str = Field(description="HMAC-SHA256 key of Eseal-Signature; shown this once")


class WebhookAttemptAnswer(_Answer):
    at: Time
    duration_ms: int
    status_code: int | None = Field(description="the receiver's answer; null: none came")
    error: str | None = Field(description="why it did not count as delivered")


class WebhookDeliveryAnswer(_Answer):
    """One event owed to the subscription."""

    id: int
    seq: int = Field(description="its place in the subscription's queue")
    event_id: str = Field(description="the Eseal-Event-Id header")
    event_type: str
    status: Literal["pending", "delivered", "failed"] = Field(
        description="failed: given up after the retry window (ESEAL_WEBHOOK_RETRY_HOURS)"
    )
    attempts: int
    created_at: Time
    next_attempt_at: Time | None
    delivered_at: Time | None
    last_status_code: int | None
    last_error: str | None
    redelivery_of: int | None = Field(description="the delivery a manual redelivery repeats")


class WebhookDeliveryDetail(WebhookDeliveryAnswer):
    log: list[WebhookAttemptAnswer] = Field(description="every attempt, oldest first")


class WebhookDeliveryPage(_Answer):
    items: list[WebhookDeliveryAnswer] = Field(description="newest first")
    next_before: int | None = Field(description="pass it back as ?before= for the next page")


class WebhookEvent(_Answer):
    """What eseal POSTs to a subscription's URL (``Eseal-Signature`` signs these bytes)."""

    id: str = Field(description="the event's id, also in Eseal-Event-Id: deduplicate on it")
    type: str
    created_at: Time
    uscc: str | None
    data: dict[str, Any]


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


# -- front systems (issue 19) ------------------------------------------------------------


class FeedChangeAnswer(_Answer):
    seq: int = Field(description="the feed number of the thing's last change in this batch")
    kind: str = Field(description="license, seal, permit or access")
    key: str = Field(description="USCC, uscc/kind/version, permit id, or API key id")
    record: dict[str, Any] | None = Field(description="the thing as it is now; null: gone")


class FeedBatchAnswer(_Answer):
    """One batch of the registry feed, as its canonical bytes; the ``Eseal-Feed-Signature``
    header signs exactly them (api.feed)."""

    feed: str
    after: int
    next: int
    sequence: int
    more: bool
    issued_at: Time
    nonce: str | None
    pki: dict[str, Any]
    changes: list[FeedChangeAnswer]


class AccessFilingAnswer(_Answer):
    """The centre's record of a relying party registered at a front (no token: it connects
    to its front)."""

    id: str
    role: Role
    name: str
    created_at: Time
    access_form: dict[str, Any]


__all__ += ["AccessFilingAnswer", "FeedBatchAnswer", "FeedChangeAnswer"]
