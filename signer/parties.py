"""Who else sealed a document: the enterprises whose valid seals a PDF carries from before.

When an enterprise seals a document that already bears seals (a contract that the other side
sealed first), the archived file belongs to those enterprises too (DESIGN.md 3, "Parties of
an archived document").  A seal counts when its signature is intact (digest and signature
value verify over a whole revision) and its certificate chains to the given trust anchors
(eseal's own CA: the chain of the seal that just signed); the USCC is read from the
certificate as the verifier reads it (:func:`seals.identity.uscc_of`).  Revocation and the
license's status are the verifier's business, not this one's.

Cheap by construction: every signature dictionary carries a literal ``/ByteRange`` outside
any compressed object stream (its bytes are patched in place after signing), so a document
with no more of them than the signatures just applied carried no seal before: that costs
one pass over the bytes and no parsing.  Otherwise each earlier signature is checked
without pyHanko's difference analysis, the expensive part of a full verification.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from typing import BinaryIO

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from seals.identity import uscc_of

__all__ = ["chain_certificates", "earlier_sealers", "signature_marks"]

log = logging.getLogger(__name__)

_WHOLE_REVISION = (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION)
_MARK = b"/ByteRange"
_CHUNK = 1024 * 1024


@functools.lru_cache(maxsize=16)
def chain_certificates(chain_pem: str) -> tuple[asn1_x509.Certificate, ...]:
    """The certificates of a PEM chain (e.g. a seal's: issuing CA, then root); cached, and
    parsed completely before they are shared between threads."""
    certs = []
    for _, _, der in pem.unarmor(chain_pem.encode(), multiple=True):
        cert = asn1_x509.Certificate.load(der)
        cert.native  # noqa: B018 - parse it completely here, not lazily in another thread
        certs.append(cert)
    return tuple(certs)


def signature_marks(pdf: BinaryIO) -> int:
    """How many times ``/ByteRange`` occurs in the file: at least once per signature."""
    pdf.seek(0)
    count, tail = 0, b""
    while chunk := pdf.read(_CHUNK):
        window = tail + chunk
        count += window.count(_MARK)  # the tail is too short to hold a whole mark
        tail = window[-(len(_MARK) - 1) :]
    return count


async def earlier_sealers(
    pdf: BinaryIO,
    chain: Sequence[asn1_x509.Certificate],
    *,
    skip_serials: Iterable[int] = (),
    own_signatures: int | None = None,
) -> list[str]:
    """USCCs of the enterprises with a valid seal in ``pdf``, in document order, each once.

    ``chain``: the certificates of eseal's CA; the self-signed ones are the trust anchors.
    ``skip_serials``: certificate serials of signatures not to look at (the seals just
    applied).  ``own_signatures``: how many signatures (document timestamps included) were
    just applied; a file with no more ``/ByteRange`` marks than that is not parsed at all.
    ``pdf`` is a seekable file; it is rewound afterwards.  An unreadable
    signature or document counts as no seal: the caller has sealed the document already,
    and this only decides who else may see it.
    """
    skip = set(skip_serials)
    found: list[str] = []
    try:
        if own_signatures is not None and signature_marks(pdf) <= own_signatures:
            return []
        pdf.seek(0)
        reader = PdfFileReader(pdf, strict=False)
        sigs = reader.embedded_regular_signatures
        candidates = []
        for sig in sigs:
            try:
                cert = sig.signer_cert
            except Exception:  # no readable CMS: not a seal of anyone
                continue
            if cert.serial_number in skip:
                continue
            identified = uscc_of(cert)
            if identified is not None:
                candidates.append((sig, identified[0]))
        if not candidates:
            return []
        roots = [c for c in chain if c.self_signed]
        others = [c for c in chain if not c.self_signed]
        for sig, uscc in candidates:
            if uscc in found:
                continue
            context = ValidationContext(
                trust_roots=roots,
                other_certs=others,
                allow_fetching=False,
                revocation_mode="soft-fail",
            )
            try:
                status = await async_validate_pdf_signature(sig, context, skip_diff=True)
            except Exception:
                log.info("an earlier signature could not be validated", exc_info=True)
                continue
            if (
                status.intact
                and status.valid
                and status.trusted
                and status.coverage in _WHOLE_REVISION
            ):
                found.append(uscc)
    except Exception:
        log.info("the earlier signatures of a sealed document could not be read", exc_info=True)
    finally:
        pdf.seek(0)
    return found
