"""The typed answer of a 数电票 check: the fields each file gives, how they compare, the
signatures found, and the problems.

Amounts are :class:`~decimal.Decimal` (JSON: a string, as written after normalising, e.g.
``"1130.00"``), dates :class:`~datetime.date` (JSON: ``YYYY-MM-DD``).  ``where`` names the place
in the file each value came from, so a reader can find it (``TaxSupervisionInfo/InvoiceNumber``,
``CustomTag InvoiceNo``, ``OFD.xml CustomData 发票号码``).
"""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from seals.codes import InvoiceNoticeCode, InvoiceProblemCode

__all__ = [
    "ComparedField",
    "FieldComparison",
    "InvoiceFields",
    "InvoiceNotice",
    "InvoiceProblem",
    "InvoiceVerdict",
    "SignatureCheck",
    "SignatureFound",
    "Source",
]

#: which of the two files of one invoice
Source = Literal["xml", "ofd"]


class ComparedField(enum.Enum):
    """The fields the check compares between the OFD and the XML."""

    NUMBER = "number"  #: 发票号码 (20 digits for 数电票)
    ISSUE_DATE = "issue_date"  #: 开票日期 (the day; the XML may carry a time too)
    SELLER_TAX_ID = "seller_tax_id"  #: 销售方统一社会信用代码/纳税人识别号
    BUYER_TAX_ID = "buyer_tax_id"  #: 购买方统一社会信用代码/纳税人识别号 (absent for a person)
    AMOUNT_WITHOUT_TAX = "amount_without_tax"  #: 合计金额
    TAX = "tax"  #: 合计税额
    TOTAL_WITH_TAX = "total_with_tax"  #: 价税合计（小写）


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class InvoiceFields(_Model):
    """What one file says about the invoice.  A field the file does not give is None; one whose
    text is there but unreadable (an amount that is not a number) is None too, and the check
    reports it as ``field_unreadable``."""

    source: Source
    number: str | None = None
    issue_date: date | None = None
    seller_name: str | None = None
    seller_tax_id: str | None = None
    buyer_name: str | None = None
    buyer_tax_id: str | None = None
    amount_without_tax: Decimal | None = None
    tax: Decimal | None = None
    total_with_tax: Decimal | None = None
    invoice_type: str | None = Field(
        None, description="the label of the invoice kind, e.g. 增值税专用发票 (XML only)"
    )
    tax_bureau_code: str | None = Field(None, description="TaxSupervisionInfo (XML only)")
    tax_bureau_name: str | None = Field(None, description="TaxSupervisionInfo (XML only)")
    where: dict[str, str] = Field(
        default_factory=dict, description="field name -> the place in the file it was read from"
    )
    #: fields whose text is there but cannot be read (the check reports them as problems)
    unreadable: list[ComparedField] = Field(default_factory=list, exclude=True)
    #: fields two places of the same file give differently: (field, place, other place)
    inconsistent: list[tuple[ComparedField, str, str]] = Field(default_factory=list, exclude=True)

    def value(self, field: ComparedField) -> str | None:
        """The field as the comparison shows it: text, ISO date, or the amount as written."""
        v = getattr(self, field.value)
        if v is None:
            return None
        return v.isoformat() if isinstance(v, date) else str(v)


class FieldComparison(_Model):
    field: ComparedField
    xml: str | None
    ofd: str | None
    agree: bool = Field(
        description="equal values (amounts as numbers: 1,130.00 equals 1130), or both absent"
    )


class SignatureCheck(_Model):
    """What a signature verifier says of one signature (the ``verify_signature`` hook)."""

    valid: bool
    detail: str | None = Field(None, description="why not, or what was checked")


class SignatureFound(_Model):
    """A signature the invoice carries: an entry of the OFD's ``Signatures.xml``, or the XML's
    ``TaxBureauSignature``."""

    source: Source
    id: str | None = Field(None, description="Signature ID (OFD)")
    type: str | None = Field(None, description="Seal or Sign (OFD)")
    location: str | None = Field(None, description="its Signature.xml in the package (OFD)")
    algorithm: str | None = Field(None, description="SignatureAlgorithm (XML)")
    signing_time: str | None = Field(None, description="SignatureTime (XML), as written")
    verified: bool | None = Field(
        None, description="True or False as the verifier says; None when not verified"
    )
    detail: str | None = None


class InvoiceProblem(_Model):
    code: InvoiceProblemCode
    source: Source | None = Field(None, description="the file the problem is in, if one")
    field: ComparedField | None = None
    message: str


class InvoiceNotice(_Model):
    code: InvoiceNoticeCode
    message: str


class InvoiceVerdict(_Model):
    """The answer of ``POST /v1/invoices/check``.

    ``consistent`` is true when there is no problem: every compared field agrees between the two
    files (with one file, there is nothing to disagree with: see the ``single_source`` notice),
    each file's amounts add up, no file contradicts itself, and no signature that was verified
    failed.  eseal never re-signs an invoice: this is a reading, not a seal.
    """

    consistent: bool
    sources: list[Source]
    xml: InvoiceFields | None
    ofd: InvoiceFields | None
    comparisons: list[FieldComparison] = Field(
        description="one per compared field when both files were sent, else empty"
    )
    signature_count: int
    signatures: list[SignatureFound]
    problems: list[InvoiceProblem]
    notices: list[InvoiceNotice]
