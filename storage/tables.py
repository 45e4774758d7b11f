"""The metadata schema, as SQLAlchemy 2 declarative tables.

The migrations in ``storage/migrations/versions`` create exactly this (a test compares them).
Enumerations are stored as their string values (``active``, ``contract`` ...) under CHECK
constraints rather than as PostgreSQL enum types, which are awkward to change in migrations.
Certificate serial numbers (up to 159 bits) are stored as lowercase hex without leading zeros,
the same form the API prints.  Every timestamp is stored and returned as an aware UTC datetime.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from seals.kinds import SealKind
from seals.license import LicenseStatus
from seals.model import ImageSource, RevocationReason, SealStatus
from seals.vocab import (
    ApprovalDecision,
    ApprovalMode,
    ApprovalStatus,
    DocumentFormat,
    DocumentType,
    PadesLevel,
    values,
)

__all__ = [
    "Base",
    "EnterpriseRow",
    "RegistryRevisionRow",
    "SealRow",
    "StatusChangeRow",
    "UTCDateTime",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that only takes aware datetimes and returns them in UTC.

    SQLite has no time zones: values are stored as UTC wall-clock text and given back their
    UTC zone on the way out.  A naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; eseal stores aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: the license face: JSONB on PostgreSQL, JSON text elsewhere
FaceJSON = JSON().with_variant(JSONB(), "postgresql")
#: surrogate keys: BIGINT identity on PostgreSQL, the rowid alias on SQLite
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


LICENSE_STATUSES = [s.value for s in LicenseStatus]
SEAL_STATUSES = [s.value for s in SealStatus]
SEAL_KINDS = [k.value for k in SealKind]
IMAGE_SOURCES = [s.value for s in ImageSource]
REASON_CODES = [r.value for r in RevocationReason]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class EnterpriseRow(Base):
    """A registered enterprise: the license face, its current status, when it was registered."""

    __tablename__ = "enterprises"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(100))
    legal_representative: Mapped[str] = mapped_column(String(20))
    #: the whole license face (``License.model_dump(mode="json")``), the source of truth
    face: Mapped[dict[str, Any]] = mapped_column(FaceJSON)
    status: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime]

    __table_args__ = (CheckConstraint(_one_of("status", LICENSE_STATUSES), name="status"),)


class StatusChangeRow(Base):
    """One change of license status; the first one is the registration itself."""

    __tablename__ = "license_status_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(String(18), ForeignKey("enterprises.uscc"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_one_of("status", LICENSE_STATUSES), name="status"),
        Index(None, "uscc", "at"),
    )


class SealRow(Base):
    """One version of one seal of one enterprise."""

    __tablename__ = "seals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(String(18), ForeignKey("enterprises.uscc"))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    key_ref: Mapped[str] = mapped_column(Text)
    key_algorithm: Mapped[str] = mapped_column(String(32))
    #: certificate serial number, lowercase hex, no leading zeros
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    chain_pem: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    image_sha256: Mapped[str] = mapped_column(String(64))
    image_source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    status_changed_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)
    #: RFC 5280 reason of a revocation or suspension (migration 0004)
    reason_code: Mapped[str | None] = mapped_column(String(32))
    #: for key_compromise: the compromise time, which CRL and OCSP give as the revocation time
    compromised_at: Mapped[datetime | None]
    #: the seal's SM2 key and certificate beside the one above (migration 0007; None: none)
    sm2_key_ref: Mapped[str | None] = mapped_column(Text)
    #: SM2 certificate serial, lowercase hex like ``serial``
    sm2_serial: Mapped[str | None] = mapped_column(String(40), unique=True)
    sm2_certificate_pem: Mapped[str | None] = mapped_column(Text)
    #: the GB/T 38540 seal data (SESeal, DER) of a seal with SM2, its esID and its SESeal
    #: version (migration 0009; None: none, as for every seal issued before it)
    esl: Mapped[bytes | None] = mapped_column(LargeBinary)
    esl_id: Mapped[str | None] = mapped_column(String(64))
    esl_version: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("uscc", "kind", "version"),
        CheckConstraint(_one_of("reason_code", REASON_CODES), name="reason_code"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint(_one_of("kind", SEAL_KINDS), name="kind"),
        CheckConstraint(_one_of("status", SEAL_STATUSES), name="status"),
        CheckConstraint(_one_of("image_source", IMAGE_SOURCES), name="image_source"),
        Index(None, "status"),
    )


class RegistryRevisionRow(Base):
    """One row: a number every write of enterprises or seals raises in its own transaction
    (migration 0008).  A process that caches what the registry says (the OCSP responses of
    a running server) reads it, one indexed row, to learn that another process (the CLI)
    changed a status since."""

    __tablename__ = "registry_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


# -- the archive of sealed documents (storage/archive) --------------------------------------

#: storage.archive.model.ArchiveStatus (not imported: the archive package imports this module)
ARCHIVE_STATUSES = ["ok", "missing", "corrupt"]
ARCHIVE_LEVELS = list(values(PadesLevel))
ARCHIVE_DOCUMENT_TYPES = list(values(DocumentType))
ARCHIVE_FORMATS = list(values(DocumentFormat))
#: the levels an OFD or SES record may have (``storage.archive.model.NATIONAL_LEVELS``):
#: B-B, or B-T with the signature's SM2 timestamp; B-LT and B-LTA are PAdES's alone
ARCHIVE_NATIONAL_LEVELS = [PadesLevel.B_B.value, PadesLevel.B_T.value]

#: object keys sort bytewise on both databases (``check`` merges them with the store's listing)
ObjectKey = String(255).with_variant(String(255, collation="C"), "postgresql")
#: ULIDs sort bytewise too, whatever the database's default collation: that order is time order
Ulid = String(26).with_variant(String(26, collation="C"), "postgresql")


class ArchiveRow(Base):
    """One archived sealed document; written only after its object is stored and confirmed.

    ``id`` is a ULID: its first 48 bits are ``created_at`` in milliseconds, so ordering and
    time ranges are ranges of the primary key.  ``status`` is ``ok`` until ``archive check
    --repair`` finds the object ``missing`` or ``corrupt``.
    """

    __tablename__ = "archives"

    id: Mapped[str] = mapped_column(Ulid, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), ForeignKey("enterprises.uscc"))
    level: Mapped[str] = mapped_column(String(8))
    timestamp_time: Mapped[datetime | None]
    document_type: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    object_key: Mapped[str] = mapped_column(ObjectKey, unique=True)
    version_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    #: the uploaded file's name, cleaned (no path, no control characters, at most 200)
    original_name: Mapped[str | None] = mapped_column(String(255))
    #: what the file is: ``pdf``, ``ofd`` or ``ses`` (migration 0010; rows before it are pdf)
    format: Mapped[str] = mapped_column(String(8), server_default="pdf")

    __table_args__ = (
        CheckConstraint(_one_of("status", ARCHIVE_STATUSES), name="status"),
        CheckConstraint(_one_of("level", ARCHIVE_LEVELS), name="level"),
        CheckConstraint(_one_of("format", ARCHIVE_FORMATS), name="format"),
        # an OFD or SES signature is B-B or B-T; the long-term levels are a PDF's
        CheckConstraint(
            f"format = '{DocumentFormat.PDF.value}' OR "
            + _one_of("level", ARCHIVE_NATIONAL_LEVELS),
            name="level_of_format",
        ),
        CheckConstraint(_one_of("document_type", ARCHIVE_DOCUMENT_TYPES), name="document_type"),
        CheckConstraint("size >= 0", name="size"),
        # keyset paging per enterprise, and per enterprise with one filter
        Index(None, "uscc", "id"),
        Index(None, "uscc", "document_type", "id"),
        Index(None, "uscc", "reference", "id"),
        Index(None, "status"),
    )


class ArchiveSealRow(Base):
    """One seal applied to an archived document, in the order they were applied."""

    __tablename__ = "archive_seals"

    archive_id: Mapped[str] = mapped_column(Ulid, ForeignKey("archives.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: copied from the archive row so that "this enterprise's documents with seal kind K"
    #: is one index range
    uscc: Mapped[str] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(16))
    #: certificate serial number, lowercase hex, no leading zeros
    serial: Mapped[str] = mapped_column(String(40))

    __table_args__ = (
        CheckConstraint(_one_of("kind", SEAL_KINDS), name="kind"),
        CheckConstraint("position >= 0", name="position"),
        Index(None, "uscc", "kind", "archive_id"),
        Index(None, "serial"),
    )


#: storage.archive.model.PartyRole
ARCHIVE_ROLES = ["sealer", "party"]


class ArchivePartyRow(Base):
    """An enterprise an archived document belongs to: the one that sealed this version
    (``sealer``), and every registered enterprise whose valid seal it carries (``party``)."""

    __tablename__ = "archive_parties"

    archive_id: Mapped[str] = mapped_column(
        Ulid, ForeignKey("archives.id", ondelete="CASCADE"), primary_key=True
    )
    uscc: Mapped[str] = mapped_column(String(18), ForeignKey("enterprises.uscc"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))

    __table_args__ = (
        CheckConstraint(_one_of("role", ARCHIVE_ROLES), name="role"),
        # an enterprise's documents, newest first, by keyset on the archive id
        Index(None, "uscc", "archive_id"),
    )


__all__ += ["ArchiveRow", "ArchiveSealRow"]
__all__ += ["ArchivePartyRow"]


class ArchiveVersionRow(Base):
    """A later version of an archived document (a B-LTA renewal or an extension), migration 0006.

    Version 1 is the ``archives`` row itself and stays as it was; each later version is its own
    object (``{id}.v{N}.pdf`` beside the original) with its own SHA-256, checked on read.
    """

    __tablename__ = "archive_versions"

    archive_id: Mapped[str] = mapped_column(Ulid, ForeignKey("archives.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``renew`` (a new document timestamp) or ``extend`` (validation data and one)
    action: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    object_key: Mapped[str] = mapped_column(ObjectKey, unique=True)
    version_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    #: notAfter of the certificate of this version's last timestamp: renew before it
    renew_by: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("version >= 2", name="version"),
        CheckConstraint(_one_of("action", ["renew", "extend"]), name="action"),
        CheckConstraint(_one_of("status", ARCHIVE_STATUSES), name="status"),
        CheckConstraint(_one_of("level", ARCHIVE_LEVELS), name="level"),
        CheckConstraint("size >= 0", name="size"),
    )


__all__ += ["ArchiveVersionRow"]


from seals.assertions import AssertionAlgorithm, ChallengeState  # noqa: E402

#: the states of seals.assertions.ChallengeState that are stored (``expired`` and ``used`` are
#: told by the time and ``verified_at``)
CHALLENGE_STATUSES = [ChallengeState.PENDING.value, ChallengeState.CONFIRMED.value]
ASSERTION_ALGORITHMS = list(values(AssertionAlgorithm))


class LoginChallengeRow(Base):
    """A relying party's login challenge (认证登录), migration 0015: short-lived, confirmed
    once by the enterprise that logs in, its assertion verified online once.

    A relying party's nonce is unique among its challenges (``nonce_reused``); rows are
    deleted a day after they stop counting, which keeps the table small and the uniqueness
    for as long as any assertion of the nonce could still be accepted.
    """

    __tablename__ = "login_challenges"

    #: 128 random bits, base64url: the URL in the QR code, and the assertion's ``jti``
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: the relying party: its API key's id (the assertion's ``aud``)
    relying_party: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(200))
    #: the JWS alg asked for; None: the official seal's international key
    algorithm: Mapped[str | None] = mapped_column(String(8))
    #: only this enterprise may confirm (None: any)
    expect_uscc: Mapped[str | None] = mapped_column(String(18))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    #: the enterprise that confirmed, with which key, when
    uscc: Mapped[str | None] = mapped_column(String(18), ForeignKey("enterprises.uscc"))
    confirmed_by: Mapped[str | None] = mapped_column(String(32))
    confirmed_at: Mapped[datetime | None]
    #: the signed assertion (compact JWS) and when it stops counting
    assertion: Mapped[str | None] = mapped_column(Text)
    assertion_expires_at: Mapped[datetime | None]
    #: when the relying party verified the assertion online (once; a second time is a replay)
    verified_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("relying_party", "nonce"),
        CheckConstraint(_one_of("status", CHALLENGE_STATUSES), name="status"),
        CheckConstraint(_one_of("algorithm", ASSERTION_ALGORITHMS), name="algorithm"),
        CheckConstraint(
            "status = 'pending' OR (uscc IS NOT NULL AND assertion IS NOT NULL)", name="confirmed"
        ),
        Index(None, "expires_at"),
    )


__all__ += ["LoginChallengeRow"]
# -- seal-use approval (用印审批, storage/approvals.py, migration 0011) -------------------------

APPROVAL_MODES = list(values(ApprovalMode))
APPROVAL_STATUSES = list(values(ApprovalStatus))
APPROVAL_DECISIONS = list(values(ApprovalDecision))
#: the formats a pending document may have: the ones a sealing request takes
APPROVAL_FORMATS = [DocumentFormat.PDF.value, DocumentFormat.OFD.value]


class SealPolicyRow(Base):
    """Whether using one seal kind of one enterprise needs approval, and whose.

    No row: ``approval: none``.  ``approvers`` null: every approver key of the enterprise;
    else the ids of those keys.  The condition narrows when approval is needed: the declared
    ``document_types`` only, and amounts of at least ``min_amount_fen`` (分) only."""

    __tablename__ = "seal_policies"

    uscc: Mapped[str] = mapped_column(String(18), ForeignKey("enterprises.uscc"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    approval: Mapped[str] = mapped_column(String(16))
    quorum: Mapped[int] = mapped_column(Integer)
    approvers: Mapped[list[str] | None] = mapped_column(JSON)
    document_types: Mapped[list[str] | None] = mapped_column(JSON)
    min_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(_one_of("kind", SEAL_KINDS), name="kind"),
        CheckConstraint(_one_of("approval", APPROVAL_MODES), name="approval"),
        CheckConstraint("quorum >= 1", name="quorum"),
        CheckConstraint("min_amount_fen >= 0", name="min_amount"),
    )


class ApprovalRow(Base):
    """A sealing request that waits for (or went through) approval.

    ``id`` is a ULID (time order).  ``options`` are the request's sealing options as sent,
    ``requirements`` the policies that applied when it was made (``[{kind, quorum,
    approvers}]``: later policy changes do not move a request), ``placements`` where each seal
    will go.  ``(requested_by, idempotency_key)`` is unique: a retry finds its request."""

    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(Ulid, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), ForeignKey("enterprises.uscc"))
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(32))
    requester_name: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    #: SHA-256 of the request: the file, the options and the amount
    request_sha256: Mapped[str] = mapped_column(String(64))
    document_sha256: Mapped[str] = mapped_column(String(64))
    document_size: Mapped[int] = mapped_column(BigInteger)
    document_format: Mapped[str] = mapped_column(String(8))
    original_name: Mapped[str | None] = mapped_column(String(255))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    document_type: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(200))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    placements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: when a sealing attempt took the request (a later one may take it once this is stale)
    sealing_since: Mapped[datetime | None]
    archive_id: Mapped[str | None] = mapped_column(Ulid)
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    #: the problem of a failed (or interrupted) sealing: ``{code, status, detail}``
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        CheckConstraint(_one_of("status", APPROVAL_STATUSES), name="status"),
        CheckConstraint(_one_of("document_format", APPROVAL_FORMATS), name="document_format"),
        CheckConstraint(_one_of("document_type", ARCHIVE_DOCUMENT_TYPES), name="document_type"),
        CheckConstraint("document_size >= 0", name="document_size"),
        UniqueConstraint("requested_by", "idempotency_key"),
        Index(None, "uscc", "status", "id"),
        Index(None, "status", "expires_at"),
    )


class ApprovalVoteRow(Base):
    """One approver's decision on one request; one per key."""

    __tablename__ = "approval_votes"

    approval_id: Mapped[str] = mapped_column(
        Ulid, ForeignKey("approvals.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_name: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (CheckConstraint(_one_of("decision", APPROVAL_DECISIONS), name="decision"),)


class ApprovalDocumentRow(Base):
    """The bytes of a request's document while it waits; removed when the request ends."""

    __tablename__ = "approval_documents"

    approval_id: Mapped[str] = mapped_column(
        Ulid, ForeignKey("approvals.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


__all__ += ["ApprovalDocumentRow", "ApprovalRow", "ApprovalVoteRow", "SealPolicyRow"]


# -- batches: many documents sealed in the background (storage/batches.py) -----------------

#: storage.batches.BatchStatus and storage.batches.ItemStatus (not imported: that module
#: imports this one)
BATCH_STATUSES = ["queued", "running", "done"]
BATCH_ITEM_STATUSES = ["queued", "running", "done", "failed"]


class BatchRow(Base):
    """A batch of documents one enterprise key queued for sealing (migration 0012).

    ``done`` and ``failed`` count its finished files; the transaction that finishes the last
    one sets ``status`` to ``done`` and ``finished_at``.  ``idempotency_key`` (with the
    request's SHA-256) answers a retried ``POST /v1/batches`` with the batch it made.
    """

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(Ulid, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), ForeignKey("enterprises.uscc"))
    #: the API key that queued it: the actor of every file's audit entry
    principal: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    #: the options given for every file (each file's own are on its row)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_sha256: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(_one_of("status", BATCH_STATUSES), name="status"),
        CheckConstraint("total >= 1 AND done >= 0 AND failed >= 0", name="counts"),
        CheckConstraint("done + failed <= total", name="finished"),
        UniqueConstraint("principal", "idempotency_key"),
        Index(None, "uscc", "id"),
    )


class BatchItemRow(Base):
    """One file of a batch: its input until it is finished, then its result.

    A worker claims a queued file (``worker``, ``lease_until``) and keeps the lease while it
    works; a file whose lease ran out (its worker died) is claimed again.  ``not_before``
    holds back a file that failed for an outage until its retry.
    """

    __tablename__ = "batch_items"

    batch_id: Mapped[str] = mapped_column(
        Ulid, ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    #: the options of this file (the batch's, with the file's own on top)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the uploaded file; emptied once the file is finished
    input: Mapped[bytes | None] = mapped_column(LargeBinary)
    input_sha256: Mapped[str] = mapped_column(String(64))
    input_size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    not_before: Mapped[datetime | None]
    archive_id: Mapped[str | None] = mapped_column(Ulid)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(8))
    #: a failed file's problem: its code and detail
    code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    notices: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_one_of("status", BATCH_ITEM_STATUSES), name="status"),
        CheckConstraint("position >= 0 AND attempts >= 0", name="position"),
        CheckConstraint(_one_of("format", ARCHIVE_FORMATS), name="format"),
        # the claim: queued (and expired) files in batch order
        Index(None, "status", "batch_id", "position"),
    )


__all__ += ["BatchItemRow", "BatchRow"]


# -- signed webhooks: subscriptions and their outbox (storage/webhooks.py, storage/outbox.py) --

#: the states of one delivery of one event to one subscription
WEBHOOK_DELIVERY_STATUSES = ["pending", "delivered", "failed"]


class WebhookSubscriptionRow(Base):
    """A receiver of events (migration 0013): one enterprise's (``uscc``), or every
    enterprise's (``uscc`` NULL: an admin's).  ``secret`` is the signing secret wrapped by the
    API layer (AES-GCM under the master key); during a rotation ``previous_secret`` signs too,
    until ``previous_expires_at``.  ``last_seq`` numbers the subscription's deliveries: raising
    it in the emitting transaction takes the row's lock, so deliveries are numbered in commit
    order."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(Ulid, primary_key=True)
    uscc: Mapped[str | None] = mapped_column(String(18), ForeignKey("enterprises.uscc"))
    url: Mapped[str] = mapped_column(Text)
    #: event types and patterns (``seal.*``, ``*``) this subscription receives
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_expires_at: Mapped[datetime | None]
    secret_rotated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "uscc"),)


class WebhookEventRow(Base):
    """One event, written in the transaction of the change it reports (the outbox)."""

    __tablename__ = "webhook_events"

    #: a ULID: the ``Eseal-Event-Id`` receivers deduplicate on
    id: Mapped[str] = mapped_column(Ulid, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    uscc: Mapped[str | None] = mapped_column(String(18))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class WebhookDeliveryRow(Base):
    """One event owed to one subscription, delivered in ``seq`` order; ``locked_until`` is
    the lease of the worker (of any process) that is sending it."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        Ulid, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(Ulid, ForeignKey("webhook_events.id"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: the delivery this one repeats (a manual redelivery)
    redelivery_of: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("subscription_id", "seq"),
        CheckConstraint(_one_of("status", WEBHOOK_DELIVERY_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # the head of each subscription's queue, and the due ones
        Index(None, "subscription_id", "status", "seq"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "event_id"),
    )


class WebhookAttemptRow(Base):
    """One HTTP attempt of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "delivery_id", "id"),)


__all__ += [
    "WebhookAttemptRow",
    "WebhookDeliveryRow",
    "WebhookEventRow",
    "WebhookSubscriptionRow",
]
# -- permits and filings under a license (seals.permits, migration 0014) -------------------

#: seals.permits.PermitKind, PermitStatus (their values)
PERMIT_KINDS = ["permit", "filing"]
PERMIT_STATUSES = ["valid", "suspended", "revoked", "expired"]


class PermitRow(Base):
    """A permit (许可) or filing (备案) of an enterprise, as recorded; the status a reader
    sees is computed from this and the day (``seals.permits.Permit.status_on``)."""

    __tablename__ = "permits"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), ForeignKey("enterprises.uscc"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(100))
    issuing_authority: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("uscc", "kind", "number"),
        CheckConstraint(_one_of("kind", PERMIT_KINDS), name="kind"),
        CheckConstraint(_one_of("status", PERMIT_STATUSES), name="status"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
    )


class PermitDocumentRow(Base):
    """An uploaded copy of a permit (PDF), never changed: a later upload is a new row and
    the newest is the permit's document.  The SHA-256 is checked when it is read."""

    __tablename__ = "permit_documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    permit_id: Mapped[str] = mapped_column(String(40), ForeignKey("permits.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("size >= 0", name="size"),
        Index(None, "permit_id", "id"),
    )


__all__ += ["PermitDocumentRow", "PermitRow"]
