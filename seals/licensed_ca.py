"""Certificates from another CA (DESIGN.md 3: ``eseal seal csr | import-cert``): a PKCS#10
request for a seal's key, and the import of the certificate a licensed CA issued for it.

:class:`seals.service.SealService` decides who may (an active seal of an active license asks,
a revoked seal takes nothing) and hands the enterprise and the seal here; this module makes
the request and checks the certificate.  An imported certificate is its CA's business: our
OCSP and CRL leave it out (:meth:`seals.certificates.SealCas.issued_here`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509

from keystore import csr
from keystore.base import KeyAlgorithm, KeyStore
from keystore.sm2 import is_sm2_spki

from .audit import AuditEvent
from .certificates import armor, pem_der, seal_subject
from .errors import CertificateRefused, CertificateSerialInUse, DomainError
from .identity import identity_of
from .model import Enterprise, Seal
from .ports import EnterpriseRepository

__all__ = ["LicensedCa"]


class LicensedCa:
    """Requests for, and imports of, seal certificates from another CA."""

    def __init__(
        self, repository: EnterpriseRepository, keystore: KeyStore, clock: Callable[[], datetime]
    ) -> None:
        self._repo = repository
        self._keys = keystore
        self._clock = clock

    def certificate_request(self, enterprise: Enterprise, seal: Seal, algorithm: str) -> bytes:
        """A PEM PKCS#10 request for the seal's key of ``algorithm`` (``sm2`` or the seal's
        international key type), with the seal certificate's subject, signed by that key in
        the store."""
        key_ref = self._key_for(seal, _parse_algorithm(algorithm))
        spki = self._keys.public_key(key_ref)
        subject = seal_subject(enterprise.license, seal.kind).name()
        if key_ref == seal.sm2_key_ref:
            sm2_signer = self._sm2_signer(key_ref)
            return csr.certification_request(subject, spki, sm2_signer.sign)
        cert = asn1_x509.Certificate.load(pem_der(seal.certificate_pem))
        pdf_signer = self._keys.signer(key_ref, cert, [])

        def sign(data: bytes) -> bytes:
            # the request is made in a worker thread or the CLI: no event loop runs here
            return asyncio.run(pdf_signer.async_sign_raw(data, "sha256"))

        return csr.certification_request(subject, spki, sign)

    def import_certificate(
        self,
        enterprise: Enterprise,
        seal: Seal,
        certificate: bytes | str,
        chain: bytes | str | None,
        *,
        anchors: Sequence[asn1_x509.Certificate],
        actor: str,
        remake: Callable[[Seal], Seal] | None = None,
    ) -> Seal:
        """Replace the seal's certificate of the key the certificate certifies; the checks and
        their codes are listed at :meth:`seals.service.SealService.import_certificate`.
        ``remake``: what else a new SM2 certificate changes (the seal data), before the save."""
        uscc, kind = seal.uscc, seal.kind
        certs = csr.load_certificates(certificate, "certificate")
        if not certs:
            raise csr.ImportRefused("no certificate was given")
        leaf, intermediates = certs[0], certs[1:]
        if chain:
            intermediates += csr.load_certificates(chain, "chain")
        spki = leaf["tbs_certificate"]["subject_public_key_info"]
        is_sm2 = is_sm2_spki(spki)
        key_ref = seal.sm2_key_ref if is_sm2 else seal.key_ref
        if key_ref is None:
            raise csr.ImportRefused(
                "the certificate holds an SM2 key and the seal has none",
                code="certificate_key_mismatch",
            )
        csr.check_certificate_key(leaf, self._keys.public_key(key_ref))
        identity = identity_of(leaf)
        if identity.uscc != uscc:
            raise CertificateRefused(
                f"the certificate names the USCC {identity.uscc or '(none)'}, not {uscc}",
                code="certificate_wrong_enterprise",
            )
        if identity.organisation != enterprise.license.name:
            raise CertificateRefused(
                f"the certificate names the organisation {identity.organisation or '(none)'!r}, "
                f"not the license's {enterprise.license.name!r}",
                code="certificate_name_mismatch",
            )
        now = self._clock()
        csr.check_valid_at(leaf, now, "certificate")
        path = csr.check_chain(leaf, intermediates, anchors, now)
        serial = leaf.serial_number
        holder = (self._repo.seal_by_sm2_serial if is_sm2 else self._repo.seal_by_serial)(serial)
        if holder is not None and (holder.uscc, holder.kind, holder.version) != (
            seal.uscc,
            seal.kind,
            seal.version,
        ):
            raise CertificateSerialInUse(f"another seal holds a certificate with serial {serial:x}")
        cert_pem = armor(leaf)
        replaced = seal.sm2_serial if is_sm2 else seal.serial
        if is_sm2:
            updated = replace(seal, sm2_serial=serial, sm2_certificate_pem=cert_pem)
            if remake is not None:
                updated = remake(updated)
        else:
            updated = replace(
                seal,
                serial=serial,
                certificate_pem=cert_pem,
                chain_pem="".join(armor(c) for c in path[1:]),
                not_before=leaf.not_valid_before,
                not_after=leaf.not_valid_after,
            )
        event = AuditEvent(
            "seal.certificate_imported",
            actor,
            uscc=uscc,
            seal_kind=kind.value,
            serial=format(updated.serial, "x"),
            detail={
                "version": seal.version,
                "algorithm": "sm2" if is_sm2 else seal.key_algorithm,
                "certificate_serial": format(serial, "x"),
                "issuer": leaf.issuer.human_friendly,
                "replaced_serial": format(replaced, "x") if replaced is not None else None,
                "not_after": leaf.not_valid_after.isoformat(),
            },
        )
        self._repo.save_seals([updated], [event])
        return updated

    def _key_for(self, seal: Seal, algorithm: KeyAlgorithm) -> str:
        if algorithm is KeyAlgorithm.SM2:
            if seal.sm2_key_ref is None:
                raise DomainError(
                    f"the {seal.kind.value} seal has no SM2 key", code="algorithm_not_held"
                )
            return seal.sm2_key_ref
        if algorithm.value != seal.key_algorithm:
            raise DomainError(
                f"the {seal.kind.value} seal's keys are sm2 and {seal.key_algorithm}, "
                f"not {algorithm.value}",
                code="algorithm_not_held",
            )
        return seal.key_ref

    def _sm2_signer(self, key_ref: str) -> Any:
        """The store's SM2 signer (the soft store has one; a PKCS#11 store holds no SM2 key)."""
        make = getattr(self._keys, "sm2_signer", None)
        if make is None:
            raise DomainError(
                "this key store holds no SM2 keys", code="algorithm_not_supported_by_keystore"
            )
        return make(key_ref)


def _parse_algorithm(value: str) -> KeyAlgorithm:
    try:
        return KeyAlgorithm(value.strip().lower())
    except ValueError:
        known = ", ".join(a.value for a in KeyAlgorithm)
        raise DomainError(
            f"unknown algorithm {value[:40]!r}; one of: {known}", code="invalid_algorithm"
        ) from None
