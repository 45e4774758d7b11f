"""Who else sealed a document: the enterprises whose valid seals a PDF carries from before.

When an enterprise seals a document that already bears seals (a contract that the other side
sealed first), the archived file belongs to those enterprises too (DESIGN.md 3, "Parties of
an archived document").  A seal counts when its signature is intact (digest and signature
value verify over a whole revision) and its certificate chains to the given trust anchors
(eseal's own CA: the chain of the seal that just signed); the USCC is read from the
certificate as the verifier reads it (:func:`seals.identity.uscc_of`).  Revocation and the
license's status are the verifier's business, not this one's.

Cheap by construction: a document that carries only the seals just applied costs one read
of its cross-reference table and AcroForm fields; pyHanko's difference analysis, the
expensive part of a full verification, is skipped.
"""

from __future__ import annotations

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

__all__ = ["chain_certificates", "earlier_sealers"]

log = logging.getLogger(__name__)

_WHOLE_REVISION = (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION)


def chain_certificates(chain_pem: str) -> list[asn1_x509.Certificate]:
    """The certificates of a PEM chain (e.g. a seal's: issuing CA, then root)."""
    certs = []
    for _, _, der in pem.unarmor(chain_pem.encode(), multiple=True):
        cert = asn1_x509.Certificate.load(der)
        cert.native  # noqa: B018 - parse it completely here, not lazily in another thread
        certs.append(cert)
    return certs


async def earlier_sealers(
    pdf: BinaryIO,
    chain: Sequence[asn1_x509.Certificate],
    *,
    skip_serials: Iterable[int] = (),
) -> list[str]:
    """USCCs of the enterprises with a valid seal in ``pdf``, in document order, each once.

    ``chain``: the certificates of eseal's CA; the self-signed ones are the trust anchors.
    ``skip_serials``: certificate serials of signatures not to look at (the seals just
    applied).  ``pdf`` is a seekable file; it is rewound afterwards.  An unreadable
    signature or document counts as no seal: the caller has sealed the document already,
    and this only decides who else may see it.
    """
    skip = set(skip_serials)
    found: list[str] = []
    try:
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
            context = ValidationContext(trust_roots=roots, other_certs=others,
                                        allow_fetching=False, revocation_mode="soft-fail")
            try:
                status = await async_validate_pdf_signature(sig, context, skip_diff=True)
            except Exception:
                log.info("an earlier signature could not be validated", exc_info=True)
                continue
            if (status.intact and status.valid and status.trusted
                    and status.coverage in _WHOLE_REVISION):
                found.append(uscc)
    except Exception:
        log.info("the earlier signatures of a sealed document could not be read",
                 exc_info=True)
    finally:
        pdf.seek(0)
    return found
