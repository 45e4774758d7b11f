"""What other PDF signers write that the standards do not, and how far the verifier follows.

Each leniency is named here, applies only to the exact quirk, and changes nothing for a file
that does not have it.

``ecdsa_labelled_rsa``
    endesive (3.0.1, ``endesive.signer``) writes every SignerInfo's ``signatureAlgorithm`` as
    ``rsaEncryption`` (``1.2.840.113549.1.1.1``), also when the key is an EC key and the
    value an ECDSA signature.  RFC 5652 leaves the SignerInfo's algorithm to the signer,
    and ``rsaEncryption`` names no digest and no scheme of its own: the signer's
    certificate says what the key is.  So when the label is ``rsaEncryption`` (that OID
    only, not ``sha256WithRSAEncryption`` and the like) and the certificate's key is an EC
    key, the signature is checked as ECDSA with the SignerInfo's ``digestAlgorithm``, and
    the algorithm policy judges it as that ECDSA signature (pyHanko's default would judge it
    as RSA with a 256-bit key and refuse it, and its validator would fail on an assertion).
    The value must still verify under the key: a wrong signature stays invalid.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import algos
from asn1crypto import keys as asn1_keys
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator.policy_decl import (
    AlgorithmUsageConstraint,
    AlgorithmUsagePolicy,
    DisallowWeakAlgorithmsPolicy,
)
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    SignatureValidationContext,
)

from .sm2_cms import Sm2SignatureValidator

__all__ = [
    "QUIRKS_POLICY",
    "QUIRKS_VALIDATOR",
    "QuirksPolicy",
    "QuirksSignatureValidator",
    "as_signed_by_key",
]

#: ``rsaEncryption``: a key type, which some signers also write as the signature algorithm
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"


def as_signed_by_key(
    algorithm: algos.SignedDigestAlgorithm,
    public_key: asn1_keys.PublicKeyInfo | None,
    digest: str | None,
) -> algos.SignedDigestAlgorithm:
    """The algorithm to check the signature with: ``<digest>_ecdsa`` for an EC key labelled
    ``rsaEncryption`` (``ecdsa_labelled_rsa``), else ``algorithm`` itself."""
    if (
        public_key is None
        or algorithm["algorithm"].dotted != _RSA_ENCRYPTION
        or public_key.algorithm != "ec"
    ):
        return algorithm
    name = f"{(digest or 'sha256').lower()}_ecdsa"
    try:
        return algos.SignedDigestAlgorithm({"algorithm": name})
    except ValueError:  # a digest ECDSA has no OID with: leave the label, it will fail
        return algorithm


class QuirksSignatureValidator(Sm2SignatureValidator):
    """The SM2-aware validator (:mod:`signer.sm2_cms`) with the leniencies above."""

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: asn1_keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        algorithm = as_signed_by_key(
            signature_algorithm, public_key_info, context.contextual_md_algorithm
        )
        super().validate_signature(signature, signed_data, public_key_info, algorithm, context)


class QuirksPolicy(CMSAlgorithmUsagePolicy):
    """pyHanko's default algorithm policy, judging a quirk's signature as what it is."""

    def __init__(self, underlying: AlgorithmUsagePolicy | None = None) -> None:
        self._policy = underlying or DisallowWeakAlgorithmsPolicy()

    def digest_algorithm_allowed(
        self, algo: algos.DigestAlgorithm, moment: datetime | None
    ) -> AlgorithmUsageConstraint:
        return self._policy.digest_algorithm_allowed(algo, moment)

    def signature_algorithm_allowed(
        self,
        algo: algos.SignedDigestAlgorithm,
        moment: datetime | None,
        public_key: asn1_keys.PublicKeyInfo | None,
    ) -> AlgorithmUsageConstraint:
        # the digest is the SignerInfo's; its own check covers it, so any is fine here
        judged = as_signed_by_key(algo, public_key, "sha256")
        return self._policy.signature_algorithm_allowed(judged, moment, public_key)

    def __repr__(self) -> str:  # stable: the path cache describes policies by their settings
        return f"QuirksPolicy({type(self._policy).__qualname__})"


#: the validator to give ``ValidationContext(signature_validator=...)`` when verifying
QUIRKS_VALIDATOR = QuirksSignatureValidator()
#: the algorithm policy to give ``ValidationContext(algorithm_usage_policy=...)``
QUIRKS_POLICY = QuirksPolicy()
