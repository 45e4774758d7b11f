"""The national signature data (电子签章数据, GB/T 38540-2020 / GM/T 0031 ``SES_Signature``):
making it around a seal's ``SESeal`` (:mod:`.sign`) and verifying it in GM/T 0031's order
(:mod:`.verify`), versions 4 and 5 made, 1, 4 and 5 read (:mod:`.read`).  The ASN.1 is
:mod:`.asn1`; the timestamps over signature values :mod:`.tokens`; GM/T 0031-2014's
``timeInfo`` :mod:`.timeinfo`.
"""

from __future__ import annotations

from .sign import make_ses_signature
from .verify import SesCheck, SesStep, SesVerification, verify_ses_signature

__all__ = [
    "SesCheck",
    "SesStep",
    "SesVerification",
    "make_ses_signature",
    "verify_ses_signature",
]
