"""How new seals are made: a key in the store, a certificate from our seal CA (and an SM2 pair
and its GB/T 38540 seal data if seals get SM2 keys), and the seal's rendered image.

:class:`seals.service.SealService` decides when (registration, re-issue) and writes the
records; it destroys the keys :meth:`SealIssuer.issue` made if the step fails.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from keystore.base import KeyAlgorithm, KeyStore

from .certificates import SealCas, armor, seal_subject
from .esl_maker import EslMaker
from .images import render_seal
from .kinds import SealKind
from .license import License
from .model import ImageSource, Seal, SealStatus

__all__ = ["IssuanceSettings", "SealIssuer"]


@dataclass(frozen=True)
class IssuanceSettings:
    """How new seals are made."""

    #: key type of new seal keys
    key_algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
    #: validity of a seal certificate
    validity: timedelta = timedelta(days=365 * 3)
    #: CJK font for rendering; None finds fonts-noto-cjk
    font_path: Path | None = None
    #: also issue every seal an SM2 key and certificate (``sm2`` in ESEAL_SEAL_ALGORITHMS);
    #: they share the seal's image, kind, version and status (DESIGN.md 6)
    sm2: bool = False
    #: the version of the GB/T 38540 seal data of SM2 seals: 4, or 5 with a timestamp from the
    #: SM2 TSA (``ESEAL_SES_SEAL_VERSION``; seals/esl_maker.py)
    esl_version: int = 4


class SealIssuer:
    """Makes seal versions with the settings given."""

    def __init__(
        self,
        keystore: KeyStore,
        cas: SealCas,
        settings: IssuanceSettings,
        *,
        esl: EslMaker | None = None,
    ) -> None:
        """``esl``: makes the seal data of seals with SM2 (needed when ``settings.sm2``)."""
        if settings.sm2 and esl is None:
            raise ValueError("SM2 seals need the maker of their seal data (esl)")
        self._keys = keystore
        self._cas = cas
        self._settings = settings
        self._esl = esl

    def render(self, license: License, kind: SealKind) -> bytes:
        """The seal's image, rendered from the license."""
        return render_seal(
            kind,
            name=license.name,
            uscc=license.uscc,
            legal_representative=license.legal_representative,
            font_path=self._settings.font_path,
        )

    def issue(
        self,
        license: License,
        kind: SealKind,
        *,
        version: int,
        image: bytes,
        now: datetime,
        made: list[str],
        image_source: ImageSource = ImageSource.RENDERED,
    ) -> Seal:
        """A new version of a seal: a key (and an SM2 one) in the store, certified by our CA,
        and with SM2 its seal data (``SESeal``), made ``now``.  Each key's reference is
        appended to ``made`` as soon as it exists, so that the caller can destroy them if
        anything after fails."""
        algorithm = self._settings.key_algorithm
        label = f"{kind.value}-v{version}-{secrets.token_hex(4)}"
        key_ref = self._keys.generate(license.uscc, label, algorithm)
        made.append(key_ref)
        subject = seal_subject(license, kind)
        not_before, not_after = now - timedelta(minutes=1), now + self._settings.validity
        cert = self._cas.pki.issue_seal_certificate(
            self._keys.public_key(key_ref), subject, not_before=not_before, not_after=not_after
        )
        sm2_ref = sm2_serial = sm2_pem = None
        if self._settings.sm2:
            assert self._cas.sm2_pki is not None
            # the seal's key store makes the SM2 key (a PKCS#11 store refuses SM2 with
            # algorithm_not_supported_by_keystore rather than make it elsewhere)
            sm2_ref = self._keys.generate(license.uscc, f"{label}-sm2", KeyAlgorithm.SM2)
            made.append(sm2_ref)
            sm2_cert = self._cas.sm2_pki.issue_seal_certificate(
                self._keys.public_key(sm2_ref), subject, not_before=not_before, not_after=not_after
            )
            sm2_serial = sm2_cert.serial_number
            sm2_pem = armor(sm2_cert)
        seal = Seal(
            uscc=license.uscc,
            kind=kind,
            version=version,
            status=SealStatus.ACTIVE,
            key_ref=key_ref,
            key_algorithm=algorithm.value,
            serial=cert.serial_number,
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            chain_pem=self._cas.pki.chain_pem(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            image_png=image,
            image_sha256=hashlib.sha256(image).hexdigest(),
            image_source=image_source,
            created_at=now,
            sm2_key_ref=sm2_ref,
            sm2_serial=sm2_serial,
            sm2_certificate_pem=sm2_pem,
        )
        if self._esl is not None and sm2_pem is not None:
            seal = self._esl.make(license, seal, now=now)
        return seal
