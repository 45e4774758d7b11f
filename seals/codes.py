"""The one registry of the verification report's problem and notice codes.

A code is stable: relying parties branch on it.  Each has an English title (the ``message``
of a report item says more, with the details of that document) and the Chinese text the HTML
report and the verification page show.  The verifier emits only codes of these enums, the HTML
report and the page's script read their texts from here, so adding a code is one edit here.

A *problem* makes a signature (or the report) not valid; a *notice* is a fact a relying party
must see that does not change ``valid`` (see :mod:`seals.verdict`).
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "InvoiceNoticeCode",
    "InvoiceProblemCode",
    "NoticeCode",
    "ProblemCode",
    "notice_texts",
    "problem_texts",
]


class ProblemCode(enum.Enum):
    """A problem code of the verification report: ``value`` is the code."""

    en: str
    zh: str

    def __new__(cls, code: str, en: str, zh: str) -> ProblemCode:
        member = object.__new__(cls)
        member._value_ = code
        member.en = en
        member.zh = zh
        return member

    # the report as a whole
    NO_SIGNATURES = ("no_signatures", "the document carries no signature", "文件中没有任何签章。")
    NO_SEALS = (
        "no_seals",
        "the document carries only timestamps, no seal",
        "文件只有文档时间戳，没有电子印章。",
    )
    EXPECTED_ENTERPRISE_MISSING = (
        "expected_enterprise_missing",
        "no valid seal of the expected enterprise",
        "没有找到期望企业的有效印章。",
    )
    SIGNATURE_NOT_VALID = (
        "signature_not_valid",
        "a signature is not valid",
        "有签章未通过验证，原因见该签章下列出的问题。",
    )
    # the structure of one signature
    MALFORMED_SIGNATURE = (
        "malformed_signature",
        "the signature data cannot be read",
        "签名数据格式错误，无法读取。",
    )
    BYTE_RANGE_INVALID = (
        "byte_range_invalid",
        "the /ByteRange is missing, malformed or covers more than the signature leaves out",
        "签名的字节范围（/ByteRange）缺失、格式错误或指向了签名以外的内容。",
    )
    SIGNATURE_CONTENTS_INVALID = (
        "signature_contents_invalid",
        "the /Contents is empty, all zeros or not signature data",
        "签名值（/Contents）为空、全为零或不是有效的签名数据。",
    )
    # integrity, coverage and changes
    DIGEST_MISMATCH = (
        "digest_mismatch",
        "the signed bytes do not match the signature",
        "签名所保护的内容与签名不符：文件在签章后被改动。",
    )
    SIGNATURE_INVALID = (
        "signature_invalid",
        "the signature value does not verify",
        "签名值验证失败。",
    )
    PARTIAL_COVERAGE = (
        "partial_coverage",
        "the signature does not cover a whole revision of the file",
        "签名没有覆盖文件的一个完整版本，有字节不受签名保护。",
    )
    MODIFIED_AFTER_SIGNING = (
        "modified_after_signing",
        "the document was changed after signing in a way that can alter what a reader sees",
        "签章后文件被修改，这些修改可能改变读者看到的内容。",
    )
    DOCMDP_VIOLATION = (
        "docmdp_violation",
        "changes after a certification signature that it does not allow",
        "签章后的修改超出了签名允许的范围。",
    )
    # trust and time
    UNTRUSTED_CERTIFICATE = (
        "untrusted_certificate",
        "the certificate does not chain to a trusted anchor",
        "印章证书不能链接到受信任的根证书。",
    )
    TIMESTAMP_INVALID = (
        "timestamp_invalid",
        "the signature timestamp does not validate",
        "签名时间戳验证失败。",
    )
    REVOKED_WITHOUT_TRUSTED_TIME = (
        "revoked_without_trusted_time",
        "the seal is revoked and the signature has no trusted timestamp",
        "印章证书已被撤销，且签名没有可信时间戳，无法证明签章早于撤销。",
    )
    CERTIFICATE_REVOKED = (
        "certificate_revoked",
        "the seal was revoked before it signed",
        "签章时印章证书已被撤销。",
    )
    # the license identity
    NO_USCC = (
        "no_uscc",
        "the certificate names no valid unified social credit code",
        "证书中没有有效的统一社会信用代码。",
    )
    ENTERPRISE_NOT_REGISTERED = (
        "enterprise_not_registered",
        "no enterprise with this USCC is in the registry",
        "登记系统中没有该统一社会信用代码的企业。",
    )
    REGISTRY_MISMATCH = (
        "registry_mismatch",
        "the certificate's name or USCC does not match the registry",
        "证书中的企业名称或统一社会信用代码与登记信息不一致。",
    )
    LICENSE_NOT_ACTIVE_AT_SIGNING = (
        "license_not_active_at_signing",
        "the license was not active when the seal signed",
        "签章时企业营业执照不处于存续状态。",
    )
    # the national seal format (GM/T 0031: SESeal and SES_Signature)
    SEAL_MAKER_SIGNATURE_INVALID = (
        "seal_maker_signature_invalid",
        "the seal maker's signature over the seal data does not verify",
        "电子印章数据的制章者签名验证失败：印章数据被改动或不是该制章者所制。",
    )
    SEAL_TIMESTAMP_INVALID = (
        "seal_timestamp_invalid",
        "the timestamp over the seal maker's signature does not validate",
        "电子印章数据中制章签名的时间戳验证失败。",
    )
    SEAL_CREATED_OUTSIDE_MAKER_VALIDITY = (
        "seal_created_outside_maker_validity",
        "the seal was made outside the validity period of the seal maker's certificate",
        "印章制作日期不在制章者证书的有效期内。",
    )
    SEAL_NOT_VALID_AT_SIGNING = (
        "seal_not_valid_at_signing",
        "the signing time is outside the seal's validity period",
        "签章时间不在电子印章的有效期内。",
    )
    SIGNER_NOT_IN_SEAL = (
        "signer_not_in_seal",
        "the signer's certificate is not in the seal's list of signer certificates",
        "签章者证书不在电子印章的签章者证书列表中。",
    )
    # OFD documents (GB/T 33190 §18): the files a signature protects
    OFD_FILE_CHANGED = (
        "ofd_file_changed",
        "a file of the OFD package that the signature protects was changed after signing",
        "签章保护的文件在签章后被修改。",
    )
    OFD_FILE_MISSING = (
        "ofd_file_missing",
        "a file of the OFD package that the signature protects is missing",
        "签章保护的文件已从文件包中删除。",
    )
    OFD_FILE_NOT_COVERED = (
        "ofd_file_not_covered",
        "the OFD package holds a file that the signature does not protect and that belongs "
        "to no other signature: added after signing",
        "文件包中有未受该签章保护、也不属于其他签章的文件，可能是签章后添加的。",
    )
    OFD_SEAL_MISMATCH = (
        "ofd_seal_mismatch",
        "the seal file (Seal.esl) is not the seal inside the signature value",
        "印章文件（Seal.esl）与签章数据中的印章不一致。",
    )
    OFD_CHECK_METHOD_UNSUPPORTED = (
        "ofd_check_method_unsupported",
        "the files are digested with a method other than SM3",
        "文件摘要算法不是 SM3，无法校验。",
    )
    OFD_STAMP_PAGE_MISSING = (
        "ofd_stamp_page_missing",
        "a seal appearance refers to a page the document does not have",
        "签章外观指向了文档中不存在的页面。",
    )
    OFD_SIGNATURE_LIST_INVALID = (
        "ofd_signature_list_invalid",
        "the signature list (Signatures.xml) that OFD.xml names is missing or malformed",
        "签名列表文件（Signatures.xml）缺失或格式错误。",
    )
    OFD_SIGNER_UNKNOWN = (
        "ofd_signer_unknown",
        'a plain digital signature (Type="Sign") carries no certificate of its signer, so '
        "it cannot be checked",
        '数字签名（Type="Sign"）未携带签名者证书，无法验证。',
    )


class NoticeCode(enum.Enum):
    """A notice code of the verification report: ``value`` is the code.

    ``zh`` is a template: ``{enterprise}`` is 该企业 when the document carries the seals of one
    enterprise only (else the enterprise's name), ``{date}`` the Beijing day of ``since``,
    ``{seal}`` the seal's label, ``{reason}`` the Chinese revocation reason, ``{version}`` and
    ``{signed_version}`` the current and the signing version of a re-issued seal.  ``variants``
    holds templates for particular ``reason`` codes.  ``mark`` is the short text shown beside
    the seal a notice concerns.
    """

    en: str
    zh: str
    mark: str
    variants: dict[str, str]

    def __new__(
        cls, code: str, en: str, zh: str, mark: str, variants: dict[str, str] | None = None
    ) -> NoticeCode:
        member = object.__new__(cls)
        member._value_ = code
        member.en = en
        member.zh = zh
        member.mark = mark
        member.variants = dict(variants or {})
        return member

    LICENSE_SUSPENDED_NOW = (
        "license_suspended_now",
        "the license was active at signing and is suspended now",
        "{enterprise}营业执照已于 {date} 停业",
        "执照已停业",
    )
    LICENSE_CANCELLED_SINCE_SIGNING = (
        "license_cancelled_since_signing",
        "the license has been cancelled since the seal signed",
        "{enterprise}营业执照已于 {date} 注销",
        "执照已注销",
    )
    LICENSE_REVOKED_SINCE_SIGNING = (
        "license_revoked_since_signing",
        "the license has been revoked since the seal signed",
        "{enterprise}营业执照已于 {date} 被吊销",
        "执照已吊销",
    )
    SEAL_REVOKED_SINCE_SIGNING = (
        "seal_revoked_since_signing",
        "the seal was revoked or suspended after it signed",
        "{enterprise}的{seal}已于 {date} 被撤销（原因：{reason}）",
        "印章已撤销",
        {"certificate_hold": "{enterprise}的{seal}已于 {date} 被暂停使用"},
    )
    SEAL_SUPERSEDED = (
        "seal_superseded",
        "the seal that signed has been re-issued",
        "{enterprise}的{seal}已于 {date} 重新签发，现行为第 {version} 版"
        "（文件中为第 {signed_version} 版）",
        "印章已重新签发",
    )
    PERMIT_EXPIRING = (
        "permit_expiring",
        "a permit or filing under the license ends within 30 days",
        "{enterprise}有许可或备案将于 {date} 到期",
        "许可即将到期",
    )


def problem_texts() -> dict[str, dict[str, str]]:
    """``{code: {"en", "zh"}}`` of every problem, for the HTML report and the page's script."""
    return {p.value: {"en": p.en, "zh": p.zh} for p in ProblemCode}


def notice_texts() -> dict[str, dict[str, Any]]:
    """``{code: {"en", "zh", "mark", "variants"}}`` of every notice."""
    return {
        n.value: {"en": n.en, "zh": n.zh, "mark": n.mark, "variants": dict(n.variants)}
        for n in NoticeCode
    }


class InvoiceProblemCode(enum.Enum):
    """A problem of a 数电票 check (``POST /v1/invoices/check``): the invoice's files disagree,
    or do not add up, or a signature does not verify.  ``value`` is the code."""

    en: str
    zh: str

    def __new__(cls, code: str, en: str, zh: str) -> InvoiceProblemCode:
        member = object.__new__(cls)
        member._value_ = code
        member.en = en
        member.zh = zh
        return member

    FIELD_MISMATCH = (
        "field_mismatch",
        "the OFD and the XML give different values for a field",
        "OFD 版式文件与 XML 数据文件的该项内容不一致。",
    )
    FIELD_MISSING = (
        "field_missing",
        "one file gives a field the other lacks",
        "该项内容只出现在一个文件中，另一个文件中没有。",
    )
    FIELD_UNREADABLE = (
        "field_unreadable",
        "a field's text is not a date or an amount where one is expected",
        "该项内容无法识别为日期或金额。",
    )
    TOTALS_DO_NOT_ADD_UP = (
        "totals_do_not_add_up",
        "the amount without tax plus the tax is not the total with tax",
        "合计金额加合计税额不等于价税合计。",
    )
    SOURCE_INCONSISTENT = (
        "source_inconsistent",
        "two places in one file give different values for a field",
        "同一文件中两处记载的该项内容不一致。",
    )
    SIGNATURE_NOT_VALID = (
        "signature_not_valid",
        "a signature of the OFD does not verify",
        "OFD 文件中的签章验证未通过。",
    )


class InvoiceNoticeCode(enum.Enum):
    """A fact about a 数电票 check that is not a problem: what was not or could not be
    checked.  ``value`` is the code."""

    en: str
    zh: str

    def __new__(cls, code: str, en: str, zh: str) -> InvoiceNoticeCode:
        member = object.__new__(cls)
        member._value_ = code
        member.en = en
        member.zh = zh
        return member

    SINGLE_SOURCE = (
        "single_source",
        "only one of the two files was sent: nothing was cross-checked",
        "只提交了一个文件，未进行 OFD 与 XML 的交叉核对。",
    )
    NO_SIGNATURE = (
        "no_signature",
        "the OFD carries no signature",
        "OFD 文件中没有签章。",
    )
    SIGNATURES_NOT_VERIFIED = (
        "signatures_not_verified",
        "the OFD's signatures were found but not verified",
        "OFD 文件中的签章未经验证。",
    )
