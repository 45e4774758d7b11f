"""The GB/T 38540 seal data (``SESeal``, the ``.esl`` file) of each seal version with SM2.

Every seal version that holds an SM2 certificate gets one when it is issued or re-issued
(:class:`seals.issuance.SealIssuer`); replacing its image or importing another SM2
certificate for it makes it anew (:class:`seals.service.SealService`), since both are inside.
The structure is :func:`seals.esl.make_seseal`'s; what goes into it is decided here:

* ``esID``: the seal's public-security filing code (公安备案印章编码, 13 digits) when the
  license input gave one (``seal_codes``), the same for every version of the seal; otherwise
  :func:`generated_es_id`, ``<USCC><type><version, 4 digits or more>`` (e.g.
  ``91110108551385082Q20001`` for version 1 of the contract seal): 23 characters or more and
  starting with the USCC, so it never looks like a filing code, and the same seal version
  always has the same esID, whoever makes its seal data and how often.
* ``type``: :data:`seals.esl.SEAL_TYPES` (1 official ... 5 legal_rep, DESIGN.md 6).
* ``name``: the seal's text as engraved (:func:`seal_name`).
* ``certList``: the seal's SM2 certificate alone; ``createDate``: when the seal data is made;
  ``validStart``/``validEnd``: the SM2 certificate's validity.
* ``picture``: the seal's PNG at its real size in whole millimetres (:mod:`seals.kinds`).
* signed by the platform's seal maker (制章者, :meth:`keystore.sm2_pki.Sm2Pki.seal_maker`);
  version 5 (GM/T 0031-2025, ``ESEAL_SES_SEAL_VERSION=5``) adds an RFC 3161 token from the
  SM2 TSA over the maker's signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from asn1crypto import x509 as asn1_x509

from keystore.sm2_pki import SealMaker

from .certificates import pem_der
from .errors import DomainError, ErrorKind
from .esl import SEAL_TYPES, make_seseal
from .images.render import legal_rep_text
from .kinds import SealKind
from .license import License
from .model import Seal

__all__ = [
    "SES_VERSIONS",
    "EslMaker",
    "EslNotAvailable",
    "es_id",
    "generated_es_id",
    "seal_name",
]

#: the SESeal versions eseal makes: 4 (GB/T 38540-2020) and 5 (GM/T 0031-2025, timestamped)
SES_VERSIONS = (4, 5)
#: the ``vid`` of the header: who made the seal data
VID = "eseal"

#: a timestamp over bytes: the DER ``TimeStampToken`` of the SM2 TSA
Timestamp = Callable[[bytes], bytes]


class EslNotAvailable(DomainError):
    """The seal version has no seal data: ``algorithm_not_available`` without an SM2
    certificate, ``esl_not_available`` for one issued before eseal made seal data."""

    code = "esl_not_available"
    kind = ErrorKind.CONFLICT
    title = "No seal data for this seal"


def generated_es_id(uscc: str, kind: SealKind, version: int) -> str:
    """The esID of a seal version without a filing code (see the module docstring)."""
    return f"{uscc}{SEAL_TYPES[kind]}{version:04d}"


def es_id(license: License, kind: SealKind, version: int) -> str:
    """The filing code of the seal if the license input gave one, else :func:`generated_es_id`."""
    return license.seal_code(kind) or generated_es_id(license.uscc, kind, version)


def seal_name(license: License, kind: SealKind) -> str:
    """The seal's name as its image shows it: ``<name>`` for the official seal (企业法定名称章
    bears the name alone), ``<name><label>`` for the contract, finance and invoice seals
    (e.g. ``…有限公司合同专用章``), and the engraved characters of the legal representative's
    seal (``张利东印``, ``王芳之印``)."""
    if kind is SealKind.LEGAL_REP:
        return legal_rep_text(license.legal_representative)
    name = "".join(license.name.split())
    if kind is SealKind.OFFICIAL:
        return name
    return name + kind.label


class EslMaker:
    """Makes the ``SESeal`` of seal versions, signed by the platform's seal maker."""

    def __init__(
        self,
        maker: Callable[[], SealMaker],
        *,
        version: int = 4,
        timestamp: Timestamp | None = None,
    ) -> None:
        """``maker``: the seal maker (looked up for each seal, so a rotated one is used once
        the process has loaded it); ``version``: 4 or 5; ``timestamp``: the SM2 TSA, which
        version 5 needs."""
        if version not in SES_VERSIONS:
            raise ValueError(f"SESeal version {version} is not made here; 4 or 5")
        if version == 5 and timestamp is None:
            raise ValueError("SESeal version 5 needs a timestamp over the seal's signature")
        self._maker = maker
        self.version = version
        self._timestamp = timestamp

    def make(self, license: License, seal: Seal, *, now: datetime) -> Seal:
        """``seal`` with its seal data made now; a seal without an SM2 certificate has none."""
        if seal.sm2_certificate_pem is None:
            return replace(seal, esl=None, esl_id=None, esl_version=None)
        cert_der = pem_der(seal.sm2_certificate_pem)
        validity = asn1_x509.Certificate.load(cert_der)["tbs_certificate"]["validity"]
        maker = self._maker()
        info = seal.kind.info
        identifier = es_id(license, seal.kind, seal.version)
        der = make_seseal(
            es_id=identifier,
            seal_type=SEAL_TYPES[seal.kind],
            name=seal_name(license, seal.kind),
            certificates=[cert_der],
            created=now,
            valid_start=validity["not_before"].native,
            valid_end=validity["not_after"].native,
            image_png=seal.image_png,
            width_mm=round(info.width_mm),
            height_mm=round(info.height_mm),
            maker_certificate=maker.certificate.dump(),
            maker_sign=maker.signer.sign,
            version=self.version,
            vid=VID,
            timestamp=self._timestamp if self.version == 5 else None,
        )
        return replace(seal, esl=der, esl_id=identifier, esl_version=self.version)
