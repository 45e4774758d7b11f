"""The 数电票 XML (the tax platform's 数据文件, root ``EInvoice``).

Element names, as real files spell them (no namespace; ``Header/Version`` 0.31 and 0.32 seen):

* number: ``TaxSupervisionInfo/InvoiceNumber``; ``Header/EIid`` if absent (the two are the same
  20 digits in every sample; both present and different is reported as ``source_inconsistent``)
* issue_date: ``TaxSupervisionInfo/IssueTime`` (``2026-09-14``, also seen with a time:
  ``2026-09-10 09:30:00``)
* seller_tax_id, seller_name: ``EInvoiceData/SellerInformation/SellerIdNum``, ``.../SellerName``
* buyer_tax_id, buyer_name: ``EInvoiceData/BuyerInformation/BuyerIdNum``, ``.../BuyerName`` (no
  ``BuyerIdNum`` when the buyer is a person)
* amount_without_tax: ``EInvoiceData/BasicInformation/TotalAmWithoutTax``
* tax: ``EInvoiceData/BasicInformation/TotalTaxAm``
* total_with_tax: ``EInvoiceData/BasicInformation/TotalTax-includedAmount`` (with the hyphen);
  ``TotalTaxIncludedAmount`` accepted as a variant
* invoice_type: ``Header/InherentLabel/GeneralOrSpecialVAT/LabelName``
* tax_bureau_code, tax_bureau_name: ``TaxSupervisionInfo/TaxBureauCode``, ``.../TaxBureauName``
* the signature: ``TaxBureauSignature`` (``SignatureAlgorithm``, ``SignatureTime``,
  ``SignatureValue``): reported as present, not verified here

Sources that fixed these names (public repositories read through the code search; the names
agree across all of them):

* a Go mail-invoice tool's ``xmlinvoice_eui_test.go``: a fixture "reduced from a real 通行费
  XML, element names, nesting and the hyphen copied verbatim" — ``Header`` (``EIid``,
  ``EInvoiceTag`` SWEI3300, ``Version`` 0.32), ``SellerInformation``/``BuyerInformation``,
  ``BasicInformation`` (``TotalAmWithoutTax``, ``TotalTaxAm``, ``TotalTax-includedAmount``,
  ``TotalTax-includedAmountInChinese``, ``Drawer``, ``RequestTime``), ``TaxSupervisionInfo``
  (``InvoiceNumber``, ``IssueTime``, ``TaxBureauCode``, ``TaxBureauName``);
* ``hqbobo/cntax`` ``xml.go``: the same tree as Go structs, plus ``TaxBureauSignature``
  (``Reference``, ``SignatureAlgorithm``, ``SignatureFormat``, ``SignatureTime``,
  ``SignatureValue``);
* a Java extractor (``InvoiceExtractionXml``) that accepts exactly these paths for
  "EInvoice 0.31 without namespace" and refuses a second occurrence of any of them (so do we);
* a finance platform's test ``real_etc_xml()`` (a real toll invoice: ``SellerIdNum``
  9153000077859986X2, ``TotalTax-includedAmount`` 19.19) and a toolbox plan's sample with
  ``InherentLabel/GeneralOrSpecialVAT/LabelName`` 增值税专用发票 and ``IssuItemInformation``;
* the ``TotalTaxIncludedAmount`` spelling (no hyphen) in an invoice hub's XML fixture and an
  amount-label list: accepted, never written by us.
"""

from __future__ import annotations

from ..errors import InvalidInvoice
from .fields import FieldsBuilder
from .model import InvoiceFields, SignatureFound
from .xmlparts import Element, Twice, XmlUnreadable, child, local, parse, text_of

__all__ = ["parse_invoice_xml", "read_invoice_xml"]

_SELLER = ("EInvoiceData", "SellerInformation")
_BUYER = ("EInvoiceData", "BuyerInformation")
_BASIC = ("EInvoiceData", "BasicInformation")
_SUPERVISION = ("TaxSupervisionInfo",)

#: (field, path below EInvoice), in the order places are tried: the first that gives a field
#: wins, a later one that differs is an inconsistency of the file
_PLACES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("number", (*_SUPERVISION, "InvoiceNumber")),
    ("number", ("Header", "EIid")),
    ("issue_date", (*_SUPERVISION, "IssueTime")),
    ("seller_tax_id", (*_SELLER, "SellerIdNum")),
    ("seller_name", (*_SELLER, "SellerName")),
    ("buyer_tax_id", (*_BUYER, "BuyerIdNum")),
    ("buyer_name", (*_BUYER, "BuyerName")),
    ("amount_without_tax", (*_BASIC, "TotalAmWithoutTax")),
    ("tax", (*_BASIC, "TotalTaxAm")),
    ("total_with_tax", (*_BASIC, "TotalTax-includedAmount")),
    ("total_with_tax", (*_BASIC, "TotalTaxIncludedAmount")),
)
_EXTRA: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("invoice_type", ("Header", "InherentLabel", "GeneralOrSpecialVAT", "LabelName")),
    ("tax_bureau_code", (*_SUPERVISION, "TaxBureauCode")),
    ("tax_bureau_name", (*_SUPERVISION, "TaxBureauName")),
)


def parse_invoice_xml(data: bytes) -> InvoiceFields:
    """The fields of a 数电票 XML; :class:`~signer.errors.InvalidInvoice` if ``data`` is not
    one (not XML, a DTD or entities, another root, no invoice number, a field given twice)."""
    return read_invoice_xml(data)[0]


def read_invoice_xml(data: bytes) -> tuple[InvoiceFields, list[SignatureFound]]:
    """:func:`parse_invoice_xml` and the XML's own signature (``TaxBureauSignature``), if any."""
    if not data or not data.strip():
        raise InvalidInvoice("the XML file is empty")
    try:
        root = parse(data)
    except XmlUnreadable as exc:
        raise InvalidInvoice(f"the XML cannot be read: {exc}") from None
    if local(root) != "EInvoice":
        raise InvalidInvoice("not a 数电票 XML: the root element is not EInvoice")
    try:
        return _read(root)
    except Twice as exc:
        raise InvalidInvoice(f"the XML gives {exc} more than once") from None


def _read(root: Element) -> tuple[InvoiceFields, list[SignatureFound]]:
    fields = FieldsBuilder("xml")
    for name, path in _PLACES:
        fields.add(name, text_of(child(root, *path)), "/".join(path))
    if not fields.has("number"):
        raise InvalidInvoice(
            "the XML gives no invoice number (TaxSupervisionInfo/InvoiceNumber or Header/EIid)"
        )
    extra = {name: text_of(child(root, *path)) for name, path in _EXTRA}
    signatures = []
    signature = child(root, "TaxBureauSignature")
    if signature is not None:
        signatures.append(
            SignatureFound(
                source="xml",
                algorithm=text_of(child(signature, "SignatureAlgorithm")),
                signing_time=text_of(child(signature, "SignatureTime")),
            )
        )
    return fields.build(**extra), signatures
