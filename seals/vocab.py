"""Every word list of the domain, in one place, each word with its Chinese label.

The HTTP models, the CLI's choices, the database's CHECK constraints, the verification report
and its HTML page all derive their lists from these enums, so adding a word is one edit here
(plus a migration for a CHECK constraint) that mypy follows everywhere.

``value`` is the word as the API, the CLI, the database and the report spell it; ``label`` is
the Chinese text a person reads.  Problem and notice codes of the report live in
:mod:`seals.codes`.
"""

from __future__ import annotations

import enum

from .kinds import SealKind
from .license import LicenseStatus
from .model import ImageSource, RevocationReason, SealStatus

__all__ = [
    "Coverage",
    "CrlReason",
    "DocumentFormat",
    "DocumentType",
    "ImageSource",
    "Integrity",
    "LicenseStatus",
    "Modifications",
    "PadesLevel",
    "ReferenceStatus",
    "RevocationReason",
    "SealAction",
    "SealKind",
    "SealStatus",
    "SignatureType",
    "TimeSource",
    "UsccSource",
    "labels",
    "values",
]


class PadesLevel(enum.Enum):
    """PAdES baseline levels (ETSI EN 319 142-1): how much a signature carries for long-term
    validation."""

    B_B = "B-B"  #: the signature alone
    B_T = "B-T"  #: plus an RFC 3161 signature timestamp (the default)
    B_LT = "B-LT"  #: plus certificates and revocation data in the DSS, validating offline
    B_LTA = "B-LTA"  #: plus a document timestamp over all of it

    @property
    def label(self) -> str:
        return _LEVEL_LABELS[self]

    @property
    def rank(self) -> int:
        return list(PadesLevel).index(self)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, PadesLevel):
            return NotImplemented
        return self.rank >= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PadesLevel):
            return NotImplemented
        return self.rank < other.rank


_LEVEL_LABELS = {
    PadesLevel.B_B: "基本签名",
    PadesLevel.B_T: "含时间戳",
    PadesLevel.B_LT: "含长期验证数据",
    PadesLevel.B_LTA: "长期归档（含文档时间戳）",
}

#: the levels a signed document can be extended to (``POST /v1/extend``, ``eseal extend``)
EXTENSION_LEVELS = (PadesLevel.B_LT, PadesLevel.B_LTA)


class SealAction(enum.Enum):
    """The steps of a seal's lifecycle (``POST .../seals/{kind}/{action}``, ``eseal seal``)."""

    SUSPEND = "suspend"  #: on hold (``certificate_hold``) until resumed
    RESUME = "resume"  #: back from hold
    REVOKE = "revoke"  #: for good
    REISSUE = "reissue"  #: a new key, certificate and version; the old one revoked


class DocumentType(enum.Enum):
    """What a sealed document is, as the archive files it."""

    CONTRACT = "contract"
    INVOICE = "invoice"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"contract": "合同", "invoice": "发票", "other": "其他"}[self.value]


class Integrity(enum.Enum):
    """The report's ``integrity`` of one signature."""

    OK = "ok"
    SUSPICIOUS = "suspicious"
    BROKEN = "broken"

    @property
    def label(self) -> str:
        return {"ok": "完整", "suspicious": "可疑", "broken": "已破坏"}[self.value]


class Coverage(enum.Enum):
    """What part of the file a signature's byte range covers."""

    ENTIRE_FILE = "entire_file"
    EARLIER_REVISION = "earlier_revision"
    PARTIAL = "partial"

    @property
    def label(self) -> str:
        return {
            "entire_file": "覆盖整个文件",
            "earlier_revision": "覆盖文件的较早版本（其后另有追加内容）",
            "partial": "只覆盖部分字节",
        }[self.value]


class Modifications(enum.Enum):
    """The worst kind of change made to the document after a signature."""

    NONE = "none"
    LATER_SIGNATURES = "later_signatures"
    FORM_FILLING = "form_filling"
    ANNOTATIONS = "annotations"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "none": "无",
            "later_signatures": "仅追加了其后的签章",
            "form_filling": "填写了表单",
            "annotations": "添加了批注",
            "other": "其他修改",
        }[self.value]


class TimeSource(enum.Enum):
    """Where a signature's time comes from."""

    TIMESTAMP = "timestamp"
    CLAIMED = "claimed"

    @property
    def label(self) -> str:
        return {"timestamp": "可信时间戳", "claimed": "签章方自称的时间（无可信时间戳）"}[
            self.value
        ]


class SignatureType(enum.Enum):
    """A signature of the report is a seal or a document timestamp."""

    SIGNATURE = "signature"
    DOCUMENT_TIMESTAMP = "document_timestamp"

    @property
    def label(self) -> str:
        return {"signature": "电子印章", "document_timestamp": "文档时间戳"}[self.value]


class DocumentFormat(enum.Enum):
    """What the report verified: a PDF's PAdES signatures, an OFD's GB/T 33190 signatures, or
    one GB/T 38540 ``SES_Signature`` on its own."""

    PDF = "pdf"
    OFD = "ofd"
    SES = "ses"

    @property
    def label(self) -> str:
        return {
            "pdf": "PDF 文档（PAdES 签章）",
            "ofd": "OFD 文档（GB/T 33190 签章）",
            "ses": "电子签章数据（GB/T 38540）",
        }[self.value]


class ReferenceStatus(enum.Enum):
    """One protected file of an OFD signature, compared with its SM3 check value."""

    OK = "ok"
    CHANGED = "changed"
    MISSING = "missing"
    #: digested with a method other than SM3, so not compared (the signature is not valid)
    UNCHECKED = "unchecked"

    @property
    def label(self) -> str:
        return {"ok": "未改动", "changed": "已改动", "missing": "已删除", "unchecked": "未校验"}[
            self.value
        ]


#: Chinese labels of the seal statuses and image sources (their enums live beside the records)
_SEAL_STATUS_LABELS = {"active": "有效", "suspended": "暂停使用", "revoked": "已撤销"}
_IMAGE_SOURCE_LABELS = {"rendered": "系统生成", "scan": "实物印章扫描"}
#: RFC 5280 revocation reasons in Chinese, by the report's spelling (asn1crypto's names);
#: the reasons a CRL may carry that eseal never sets are here too, so a report of any CA reads
REASON_LABELS: dict[str, str] = {
    "unspecified": "未说明",
    "key_compromise": "密钥泄露",
    "ca_compromise": "签发机构密钥泄露",
    "affiliation_changed": "隶属关系变更",
    "superseded": "已被新版本取代",
    "cessation_of_operation": "停止经营",
    "certificate_hold": "暂停使用",
    "remove_from_crl": "已从撤销列表移除",
    "privilege_withdrawn": "权限撤回",
    "aa_compromise": "属性机构密钥泄露",
}


class CrlReason(enum.Enum):
    """An RFC 5280 CRLReason as the report spells it (asn1crypto's names): the ``reason`` of a
    revocation and of a ``seal_revoked_since_signing`` notice.

    All ten, not only the six eseal revokes with (:class:`RevocationReason`), since the report
    shows what another CA's CRL or OCSP response says too.
    """

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    REMOVE_FROM_CRL = "remove_from_crl"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"
    AA_COMPROMISE = "aa_compromise"

    @property
    def label(self) -> str:
        return REASON_LABELS[self.value]


class UsccSource(enum.Enum):
    """Where in a certificate the verifier found the USCC (:func:`seals.identity.uscc_of`
    tries them in this order)."""

    EXTENSION = "extension"
    LEGACY_EXTENSION = "legacy_extension"
    OU = "ou"
    ORGANIZATION_IDENTIFIER = "organization_identifier"
    SERIAL_NUMBER = "serial_number"
    COMMON_NAME = "common_name"

    @property
    def label(self) -> str:
        return {
            "extension": "证书扩展项",
            "legacy_extension": "证书扩展项（旧版）",
            "ou": "组织单位（OU）",
            "organization_identifier": "组织标识符",
            "serial_number": "主题序列号",
            "common_name": "通用名称（CN）",
        }[self.value]


def values(vocabulary: type[enum.Enum]) -> tuple[str, ...]:
    """The words of an enum, in order: for argparse ``choices`` and CHECK constraints."""
    return tuple(str(member.value) for member in vocabulary)


def labels(vocabulary: type[enum.Enum]) -> dict[str, str]:
    """``{word: Chinese label}`` of an enum (for the HTML report and the page's script)."""
    if vocabulary is SealStatus:
        return dict(_SEAL_STATUS_LABELS)
    if vocabulary is ImageSource:
        return dict(_IMAGE_SOURCE_LABELS)
    if vocabulary is RevocationReason:
        return {m.value: REASON_LABELS[m.value] for m in RevocationReason}
    return {str(m.value): str(m.label) for m in vocabulary}  # type: ignore[attr-defined]


# -- seal-use approval (用印审批) ---------------------------------------------------------------


class ApprovalMode(enum.Enum):
    """Whether using a seal of an enterprise needs the approval of its approvers."""

    NONE = "none"
    REQUIRED = "required"

    @property
    def label(self) -> str:
        return {"none": "无需审批", "required": "需审批"}[self.value]


class ApprovalStatus(enum.Enum):
    """Where a sealing request that needs approval stands.

    ``pending`` waits for decisions; ``approved`` has its quorum and is being sealed (or is to
    be sealed again after an outage); the other four are final."""

    PENDING = "pending"
    APPROVED = "approved"
    SEALED = "sealed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {
            "pending": "待审批",
            "approved": "已批准，待盖章",
            "sealed": "已盖章",
            "rejected": "已驳回",
            "expired": "已过期",
            "failed": "盖章失败",
        }[self.value]

    @property
    def final(self) -> bool:
        return self.value in ("sealed", "rejected", "expired", "failed")


class ApprovalDecision(enum.Enum):
    """One approver's decision on a sealing request."""

    APPROVE = "approve"
    REJECT = "reject"

    @property
    def label(self) -> str:
        return {"approve": "同意", "reject": "驳回"}[self.value]


__all__ += ["ApprovalDecision", "ApprovalMode", "ApprovalStatus"]
