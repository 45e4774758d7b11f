"""数电票 (fully digital e-invoice) ingestion: read the tax platform's OFD and XML of one invoice,
cross-check them, report the signatures found.  eseal reads these files; it never re-signs them.
"""

from .check import SignatureVerifier, check_invoice
from .model import (
    ComparedField,
    FieldComparison,
    InvoiceFields,
    InvoiceNotice,
    InvoiceProblem,
    InvoiceVerdict,
    SignatureCheck,
    SignatureFound,
)
from .ofd_invoice import OfdSignatureRef, ofd_signatures, parse_invoice_ofd
from .xml_invoice import parse_invoice_xml, read_invoice_xml

__all__ = [
    "ComparedField",
    "FieldComparison",
    "InvoiceFields",
    "InvoiceNotice",
    "InvoiceProblem",
    "InvoiceVerdict",
    "OfdSignatureRef",
    "SignatureCheck",
    "SignatureFound",
    "SignatureVerifier",
    "check_invoice",
    "ofd_signatures",
    "parse_invoice_ofd",
    "parse_invoice_xml",
    "read_invoice_xml",
]
