"""OFD documents (GB/T 33190-2016): safe reading, the document model, sealing per §18 with
GB/T 38540 seals, and verification.  The PDF code beside it knows nothing of OFD.

* :mod:`.package` — the ZIP container and its XML, read safely (:func:`read_package`,
  :func:`is_ofd`);
* :mod:`.document` — pages, sizes and text with positions (:func:`open_document`);
* :mod:`.placement` — where a seal goes (:class:`AtPoint`, :class:`AtKeyword`,
  :class:`CrossPage`, :class:`DefaultPlacement`), in mm from the page's top-left;
* :mod:`.signatures` — the §18 files read into values;
* :mod:`.seal` — :func:`seal_ofd`;
* :mod:`.verify` — :func:`verify_ofd`.
"""

from .document import OfdDocument, OfdPage, TextHit, open_document
from .package import OfdPackage, is_ofd, read_package
from .placement import AtKeyword, AtPoint, CrossPage, DefaultPlacement, Placement, resolve_stamps
from .seal import next_signature_path, seal_ofd
from .signatures import Provider
from .verify import OfdSignature, OfdVerification, verify_ofd

__all__ = [
    "AtKeyword",
    "AtPoint",
    "CrossPage",
    "DefaultPlacement",
    "OfdDocument",
    "OfdPackage",
    "OfdPage",
    "OfdSignature",
    "OfdVerification",
    "Placement",
    "Provider",
    "TextHit",
    "is_ofd",
    "next_signature_path",
    "open_document",
    "read_package",
    "resolve_stamps",
    "seal_ofd",
    "verify_ofd",
]
