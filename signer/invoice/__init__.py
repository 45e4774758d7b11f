"""数电票 (fully digital e-invoice) ingestion: read the tax platform's OFD and XML of one invoice,
cross-check them, report the signatures found.  eseal reads these files; it never re-signs them.
"""

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
from .xml_invoice import parse_invoice_xml

__all__ = [
    "ComparedField",
    "FieldComparison",
    "InvoiceFields",
    "InvoiceNotice",
    "InvoiceProblem",
    "InvoiceVerdict",
    "SignatureCheck",
    "SignatureFound",
    "parse_invoice_xml",
]
