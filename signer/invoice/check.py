"""One verdict on one 数电票: its OFD and/or XML read, cross-checked, signatures reported.

Rules (each a problem code of :class:`seals.codes.InvoiceProblemCode`):

* ``field_mismatch``: with both files, a compared field (:class:`ComparedField`) has two
  different values.  Amounts compare as numbers (``1,130.00`` equals ``1130``), dates as days
  (``2025-03-18 10:21:07`` equals ``2025年03月18日``), tax ids and numbers without spaces, in
  capitals (:mod:`signer.invoice.values`).
* ``field_missing``: one file gives the field, the other does not (both lacking it agrees: a
  person buyer has no tax id).
* ``field_unreadable``: a field's text is there but is not a date or amount.
* ``totals_do_not_add_up``: a file's amount without tax plus its tax is not its total (a real
  invoice's 价税合计 is exactly 合计金额 + 合计税额).
* ``source_inconsistent``: two places of one file disagree (the XML's ``EIid`` and
  ``InvoiceNumber``; the OFD's tagged page values and its ``CustomData``).
* ``signature_not_valid``: the verifier says an OFD signature does not verify, or its
  ``Signature.xml`` is missing.

``consistent`` is true when there is no problem.  Notices say what was not checked:
``single_source``, ``no_signature``, ``signatures_not_verified``.

The ``verify_signature`` hook is called once per OFD signature with the package and the
signature's entry and answers a :class:`SignatureCheck`; it is the OFD verifier's to provide
(``api`` wires it).  An :class:`~keystore.errors.EsealError` it raises counts as "does not
verify" with the error's code as the detail; any other exception is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable

from keystore.errors import EsealError
from seals.codes import InvoiceNoticeCode, InvoiceProblemCode

from ..errors import InvalidInvoice, InvalidOfd
from ..ofd.package import OfdPackage, read_package
from .model import (
    ComparedField,
    FieldComparison,
    InvoiceFields,
    InvoiceNotice,
    InvoiceProblem,
    InvoiceVerdict,
    SignatureCheck,
    SignatureFound,
    Source,
)
from .ofd_invoice import OfdSignatureRef, ofd_signatures, parse_invoice_ofd
from .xml_invoice import read_invoice_xml

__all__ = ["SignatureVerifier", "check_invoice"]

#: the hook: (the OFD package, one entry of its Signatures.xml) -> what the verifier says
SignatureVerifier = Callable[[OfdPackage, OfdSignatureRef], SignatureCheck]

_LABEL = {
    ComparedField.NUMBER: "the invoice number",
    ComparedField.ISSUE_DATE: "the issue date",
    ComparedField.SELLER_TAX_ID: "the seller's tax id",
    ComparedField.BUYER_TAX_ID: "the buyer's tax id",
    ComparedField.AMOUNT_WITHOUT_TAX: "the amount without tax",
    ComparedField.TAX: "the tax",
    ComparedField.TOTAL_WITH_TAX: "the total with tax",
}
_NAME = {"xml": "XML", "ofd": "OFD"}


def check_invoice(
    ofd: bytes | None,
    xml: bytes | None,
    *,
    verify_signature: SignatureVerifier | None = None,
) -> InvoiceVerdict:
    """Read the invoice's OFD and/or XML and answer one verdict (see the module's rules).

    :raises InvalidInvoice: neither file, or a file that is not a 数电票.
    :raises InvalidOfd: the OFD is not a safely readable OFD package.
    """
    if ofd is None and xml is None:
        raise InvalidInvoice("send the invoice's OFD, its XML, or both")
    problems: list[InvoiceProblem] = []
    notices: list[InvoiceNotice] = []
    signatures: list[SignatureFound] = []
    xml_fields = ofd_fields = None
    if xml is not None:
        xml_fields, xml_signatures = read_invoice_xml(xml)
        signatures += xml_signatures
    if ofd is not None:
        if not ofd:
            raise InvalidOfd("the OFD file is empty")
        package = read_package(ofd)
        ofd_fields = parse_invoice_ofd(package)
        found = [_check(package, ref, verify_signature) for ref in ofd_signatures(package)]
        signatures += found
        if not found:
            notices.append(_notice(InvoiceNoticeCode.NO_SIGNATURE))
        elif verify_signature is None:
            notices.append(_notice(InvoiceNoticeCode.SIGNATURES_NOT_VERIFIED))
        problems += [
            InvoiceProblem(
                code=InvoiceProblemCode.SIGNATURE_NOT_VALID,
                source="ofd",
                message=f"the OFD's signature {s.id or '(no ID)'} does not verify"
                + (f": {s.detail}" if s.detail else ""),
            )
            for s in found
            if s.verified is False
        ]
    for fields in (xml_fields, ofd_fields):
        if fields is not None:
            problems += _own_problems(fields)
    comparisons: list[FieldComparison] = []
    if xml_fields is not None and ofd_fields is not None:
        comparisons, mismatches = _compare(xml_fields, ofd_fields)
        problems += mismatches
    else:
        notices.insert(0, _notice(InvoiceNoticeCode.SINGLE_SOURCE))
    sources: list[Source] = [f.source for f in (xml_fields, ofd_fields) if f is not None]
    return InvoiceVerdict(
        consistent=not problems,
        sources=sources,
        xml=xml_fields,
        ofd=ofd_fields,
        comparisons=comparisons,
        signature_count=len(signatures),
        signatures=signatures,
        problems=problems,
        notices=notices,
    )


def _notice(code: InvoiceNoticeCode) -> InvoiceNotice:
    return InvoiceNotice(code=code, message=code.en)


def _check(
    package: OfdPackage, ref: OfdSignatureRef, verify: SignatureVerifier | None
) -> SignatureFound:
    verified: bool | None = None
    detail: str | None = None
    if ref.location is None:
        verified, detail = False, "its Signature.xml is not in the package"
    elif verify is not None:
        try:
            answer = verify(package, ref)
        except EsealError as exc:
            verified, detail = False, exc.code
        else:
            verified, detail = answer.valid, answer.detail
    return SignatureFound(
        source="ofd",
        id=ref.id,
        type=ref.type,
        location=ref.location or ref.base_loc,
        verified=verified,
        detail=detail,
    )


def _own_problems(fields: InvoiceFields) -> list[InvoiceProblem]:
    """What is wrong inside one file, before any comparison."""
    name = _NAME[fields.source]
    problems = [
        InvoiceProblem(
            code=InvoiceProblemCode.FIELD_UNREADABLE,
            source=fields.source,
            field=f,
            message=f"the {name}'s {_LABEL[f].removeprefix('the ')} cannot be read "
            f"({fields.where.get(f.value, '?')})",
        )
        for f in fields.unreadable
    ]
    problems += [
        InvoiceProblem(
            code=InvoiceProblemCode.SOURCE_INCONSISTENT,
            source=fields.source,
            field=f,
            message=f"the {name} gives {_LABEL[f]} differently in {first} and in {other}",
        )
        for f, first, other in fields.inconsistent
    ]
    without, tax, total = fields.amount_without_tax, fields.tax, fields.total_with_tax
    if without is not None and tax is not None and total is not None and without + tax != total:
        problems.append(
            InvoiceProblem(
                code=InvoiceProblemCode.TOTALS_DO_NOT_ADD_UP,
                source=fields.source,
                field=ComparedField.TOTAL_WITH_TAX,
                message=f"the {name}'s amount without tax plus its tax is not its total with tax",
            )
        )
    return problems


def _compare(
    xml: InvoiceFields, ofd: InvoiceFields
) -> tuple[list[FieldComparison], list[InvoiceProblem]]:
    comparisons, problems = [], []
    for f in ComparedField:
        a, b = xml.value(f), ofd.value(f)
        va, vb = getattr(xml, f.value), getattr(ofd, f.value)
        agree = va == vb  # Decimal and date compare by value: 1130 == 1130.00
        comparisons.append(FieldComparison(field=f, xml=a, ofd=b, agree=agree))
        if agree or f in xml.unreadable or f in ofd.unreadable:
            continue  # an unreadable field is reported once, as unreadable
        if va is None or vb is None:
            has, lacks = ("XML", "OFD") if vb is None else ("OFD", "XML")
            problems.append(
                InvoiceProblem(
                    code=InvoiceProblemCode.FIELD_MISSING,
                    field=f,
                    message=f"the {has} gives {_LABEL[f]}, the {lacks} does not",
                )
            )
        else:
            problems.append(
                InvoiceProblem(
                    code=InvoiceProblemCode.FIELD_MISMATCH,
                    field=f,
                    message=f"the XML and the OFD give different values for {_LABEL[f]}",
                )
            )
    return comparisons, problems
