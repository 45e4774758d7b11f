"""Errors of the PDF signing layer, all under the one root :class:`keystore.errors.EsealError`.

Messages never quote document content: a contract's text is the customer's business, so an
error about a missing keyword names the keyword the caller sent, not what the page says.
"""

from __future__ import annotations

from keystore.errors import ErrorKind, EsealError

__all__ = [
    "AlgorithmNotAvailable",
    "CrossPageNeedsTwoPages",
    "ErrorKind",
    "EsealError",
    "InvalidInvoice",
    "InvalidOfd",
    "InvalidPdf",
    "InvalidPlacement",
    "KeywordNotFound",
    "PageOutOfRange",
    "PlacementError",
    "PositionOffPage",
    "SignerError",
]


class SignerError(EsealError):
    """Root of the errors raised by :mod:`signer`."""

    code = "signer_error"
    kind = ErrorKind.INTERNAL
    title = "Signing error"


class InvalidPdf(SignerError):
    """The upload is not a PDF that can be signed."""

    code = "invalid_pdf"
    kind = ErrorKind.INVALID
    title = "Invalid PDF"


class AlgorithmNotAvailable(SignerError):
    """The seal has no key of the requested algorithm (an SM2 request for a seal issued before
    SM2 seals, ``ec-p256`` for a seal with an RSA key): refused before any work, never
    served with the seal's other key."""

    code = "algorithm_not_available"
    kind = ErrorKind.CONFLICT
    title = "Algorithm not available for this seal"


class PlacementError(SignerError):
    """The visible seal cannot be placed where the request asks."""

    code = "invalid_placement"
    kind = ErrorKind.INVALID
    title = "Seal cannot be placed"


class InvalidPlacement(PlacementError):
    """The placement itself is malformed (page 0, empty keyword, negative size...)."""

    code = "invalid_placement"


class PageOutOfRange(PlacementError):
    """The page number is not a page of the document."""

    code = "page_out_of_range"
    title = "Page out of range"

    def __init__(self, detail: str, *, page: int, pages: int) -> None:
        super().__init__(detail)
        self.page = page
        self.pages = pages

    def to_problem(self) -> dict[str, object]:
        return {**super().to_problem(), "page": self.page, "pages": self.pages}


class PositionOffPage(PlacementError):
    """The centre of the seal is not on the visible page."""

    code = "position_off_page"
    title = "Position outside the page"


class KeywordNotFound(PlacementError):
    """The keyword (or the requested occurrence of it) is not in the page text."""

    code = "keyword_not_found"
    title = "Keyword not found"


class CrossPageNeedsTwoPages(PlacementError):
    """A cross-page seal (骑缝章) was asked for a one-page document."""

    code = "cross_page_needs_two_pages"
    title = "Cross-page seal needs at least two pages"


class RequestRefused(SignerError):
    """The request does not fit the document (no signature to extend, certify twice, ...)."""

    code = "request_refused"
    kind = ErrorKind.INVALID
    title = "Request does not fit the document"


class ExtendRefused(SignerError):
    """The document's signatures cannot be given validation data (e.g. a revoked seal)."""

    code = "extend_refused"
    kind = ErrorKind.CONFLICT
    title = "Document cannot be extended"


class InvalidOfd(SignerError):
    """The upload is not an OFD package (GB/T 33190) that can be read safely: not a ZIP, a
    broken one, a ZIP bomb, a path that leaves the package, XML with a DOCTYPE or entities, or
    no ``OFD.xml`` / ``DocBody`` / ``DocRoot`` / document.  The message names what is wrong
    with the package, never the document's text."""

    code = "invalid_ofd"
    kind = ErrorKind.INVALID
    title = "Invalid OFD"


class InvalidInvoice(SignerError):
    """The upload is not a readable 数电票: an XML that is not an ``EInvoice`` (or is malformed,
    or declares entities), an OFD without the invoice's tagged values, a field given twice."""

    code = "invalid_invoice"
    kind = ErrorKind.INVALID
    title = "Invalid invoice"
