"""Whether the certificate of a national signature (an SM2 seal certificate in an OFD signature
or a GB/T 38540 ``SES_Signature``) chains to a trust anchor, and what our OCSP responder says.

A PDF signature is validated by pyHanko with the document's own validation data; an OFD or SES
signature carries none, so the chain is built from the signature's certificate, our SM2 seal
CA and the trust anchors (our SM2 root and the operator's bundle), and the revocation status of
a certificate of our SM2 seal CA is asked of our own responder (GM/T 0031 verification step
"revocation": the answer is a real OCSP response, signed SM2-with-SM3 by the seal CA, checked
by pyhanko-certvalidator with the SM2 signature validator).  A certificate of another CA is
validated soft-fail: its revocation status is fetched only when the verifier may fetch.

The time of the check is the signature's trusted time (its validated timestamp) when there is
one, else the present.  A revocation found here is reported by :func:`seals.policy.judge` from
the registry's record of the seal for our certificates (the same facts our responder signs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError

from keystore.asn1_shared import fully_parsed
from seals.policy import Revocation
from seals.vocab import CrlReason

from .revocation import InternalRevocation
from .sm2_cms import SIGNATURE_VALIDATOR

__all__ = ["ChainCheck", "NationalTrust"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of one certificate's path validation."""

    #: the certificate chains to a trust anchor (also when it is revoked: the policy decides
    #: whether the revocation counts at the signing time)
    trusted: bool
    #: the revocation the responder or a CRL reported, if any
    revoked: Revocation | None
    #: why it is not trusted (empty when trusted)
    message: str = ""


class NationalTrust:
    """Validates SM2 signer certificates of OFD and SES signatures; built once per verifier."""

    def __init__(
        self,
        roots: Sequence[asn1_x509.Certificate],
        intermediates: Sequence[asn1_x509.Certificate],
        *,
        responder: InternalRevocation | None,
        allow_fetching: bool = False,
    ) -> None:
        self._roots = [fully_parsed(c) for c in roots]
        self._intermediates = [fully_parsed(c) for c in intermediates]
        self._responder = responder
        self._fetch = allow_fetching

    def _ours(self, cert: asn1_x509.Certificate) -> bool:
        """Issued by one of our seal CAs: the same name and, where the certificate names it,
        the same key.  Another platform's CA may bear the very name ours does (two eseal
        installations name their CAs alike); our responder cannot speak for its
        certificates, and asking it would leave a foreign chain without revocation data."""
        aki = cert.authority_key_identifier
        return any(
            cert.issuer == ca.subject and (aki is None or aki == ca.key_identifier)
            for ca in self._intermediates
        )

    async def check(self, cert: asn1_x509.Certificate, moment: datetime | None) -> ChainCheck:
        """Path validation of ``cert`` at ``moment`` (None: now), with our responder's answer
        for a certificate of our seal CAs."""
        ocsps = []
        if self._responder is not None and self._ours(cert):
            try:
                ocsps.append(self._responder.ocsp_for(cert))
            except Exception:  # no answer: soft-fail decides, the registry still judges
                log.info("no OCSP answer for certificate %x", cert.serial_number)
        context = ValidationContext(
            trust_roots=self._roots,
            other_certs=self._intermediates,
            ocsps=ocsps,
            allow_fetching=self._fetch,
            revocation_mode="soft-fail",
            signature_validator=SIGNATURE_VALIDATOR,
            moment=moment,
            best_signature_time=moment,
            retroactive_revinfo=moment is not None,
        )
        validator = CertificateValidator(
            cert, intermediate_certs=self._intermediates, validation_context=context
        )
        try:
            await validator.async_validate_usage(key_usage=set())
        except RevokedError as exc:
            return ChainCheck(True, _revocation(exc), "")
        except Exception as exc:  # path building or validation failed: not trusted
            return ChainCheck(False, None, f"{type(exc).__name__}: {exc}"[:300])
        return ChainCheck(True, None)


def _revocation(exc: RevokedError) -> Revocation:
    try:
        reason: CrlReason | None = CrlReason(str(exc.reason.native))
    except (AttributeError, ValueError):
        reason = None
    return Revocation(exc.revocation_dt, reason)
