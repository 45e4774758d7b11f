"""Seal issuance and lifecycle: the rules of the domain, with storage and keys injected.

Every status change (a license's, a seal's) goes through :class:`SealService`, whoever asks
(a route, the CLI).  The repository raises the registry's revision in the change's
transaction, which tells every other process; the service then tells the listeners of its
own process (:meth:`SealService.subscribe`), e.g. the server's cache of OCSP responses.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.signers.pdf_cms import Signer

from keystore import csr
from keystore.asn1_shared import fully_parsed
from keystore.base import KeyAlgorithm, KeyStore
from keystore.pki import CertStatus, InternalPki, RevokedCert, SealSubject
from keystore.sm2 import is_sm2_spki
from keystore.sm2_pki import Sm2Pki

from .audit import AuditEvent
from .errors import (
    CertificateRefused,
    CertificateSerialInUse,
    DomainError,
    EnterpriseExists,
    EnterpriseNotFound,
    LicenseNotActive,
    SealNotActive,
    SealNotFound,
)
from .identity import identity_of
from .images import clean_scan, render_seal
from .kinds import SealKind
from .license import License, LicenseStatus, StatusChange
from .model import Enterprise, ImageSource, RevocationReason, Seal, SealStatus
from .ports import EnterpriseRepository, StatusChanged, StatusListener
from .vocab import SealAction

__all__ = [
    "IssuanceSettings",
    "SealAction",
    "SealService",
    "parse_compromise_time",
    "parse_reason_code",
]

log = logging.getLogger("eseal.seals")

Clock = Callable[[], datetime]

#: Statuses a license never leaves (注销, 吊销).
FINAL_STATUSES = frozenset({LicenseStatus.CANCELLED, LicenseStatus.REVOKED})

#: The reason published for the seals of a cancelled (注销) or revoked (吊销) license: either
#: way the enterprise no longer operates, and nothing is known to be wrong with the keys.
LICENSE_END_REASON = RevocationReason.CESSATION_OF_OPERATION

#: Which codes each lifecycle step takes, and its default.
_REVOKE_CODES = frozenset(RevocationReason) - {RevocationReason.CERTIFICATE_HOLD}
_SUSPEND_CODES = frozenset({RevocationReason.CERTIFICATE_HOLD})
_REISSUE_CODES = frozenset({RevocationReason.SUPERSEDED, RevocationReason.KEY_COMPROMISE})

_RFC5280 = {
    RevocationReason.UNSPECIFIED: x509.ReasonFlags.unspecified,
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.CERTIFICATE_HOLD: x509.ReasonFlags.certificate_hold,
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


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


class SealService:
    """Registers licenses with their five seals and runs the seals' lifecycle."""

    def __init__(
        self,
        repository: EnterpriseRepository,
        keystore: KeyStore,
        pki: InternalPki,
        settings: IssuanceSettings | None = None,
        *,
        sm2_pki: Sm2Pki | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self._repo = repository
        self._keys = keystore
        self._pki = pki
        self._settings = settings or IssuanceSettings()
        if self._settings.sm2 and sm2_pki is None:
            raise ValueError("SM2 seal certificates need the SM2 PKI (sm2_pki)")
        self._sm2_pki = sm2_pki
        self._clock = clock
        self._signers: dict[tuple[str, int], Signer] = {}
        self._listeners: list[StatusListener] = []

    # -- status notifications -------------------------------------------------------------

    def subscribe(self, listener: StatusListener) -> None:
        """Call ``listener`` after each status change this service commits (in this process;
        other processes see :meth:`revision` grow)."""
        self._listeners.append(listener)

    def revision(self) -> int:
        """The registry's revision: it grows with every change, made by any process."""
        return self._repo.revision()

    def _notify(
        self, uscc: str, seals: Iterable[Seal], license_status: LicenseStatus | None = None
    ) -> None:
        if not self._listeners:
            return
        changed = list(seals)
        change = StatusChanged(
            uscc,
            serials=tuple(s.serial for s in changed),
            sm2_serials=tuple(s.sm2_serial for s in changed if s.sm2_serial is not None),
            license_status=license_status,
            revision=self._repo.revision(),
        )
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # the change is committed: a listener cannot undo it
                log.exception("a status listener failed")

    # -- registration ---------------------------------------------------------------------

    def register(self, license: License, *, actor: str = "cli") -> tuple[Enterprise, list[Seal]]:
        """Register a license and issue its five seals in one step.

        Nothing of the enterprise remains if any step fails: keys made so far are destroyed
        and the records are written in a single transaction.
        """
        if self._repo.get_enterprise(license.uscc) is not None:
            raise EnterpriseExists(f"an enterprise with USCC {license.uscc} is registered already")
        now = self._clock()
        images = {kind: self._render(license, kind) for kind in SealKind}
        made: list[str] = []
        try:
            seals = [
                self._issue(license, kind, version=1, image=images[kind], now=now, made=made)
                for kind in SealKind
            ]
            enterprise = Enterprise(
                license=license,
                status=LicenseStatus.ACTIVE,
                history=(StatusChange(LicenseStatus.ACTIVE, now, "registered"),),
                registered_at=now,
            )
            events = [
                AuditEvent(
                    "enterprise.register", actor, uscc=license.uscc, detail={"name": license.name}
                )
            ]
            events += [_seal_event("seal.issue", actor, seal) for seal in seals]
            self._repo.register(enterprise, seals, events)
        except BaseException:
            for key_ref in made:
                self._keys.delete(key_ref)
            raise
        return enterprise, seals

    def _render(self, license: License, kind: SealKind) -> bytes:
        return render_seal(
            kind,
            name=license.name,
            uscc=license.uscc,
            legal_representative=license.legal_representative,
            font_path=self._settings.font_path,
        )

    def _issue(
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
        algorithm = self._settings.key_algorithm
        label = f"{kind.value}-v{version}-{secrets.token_hex(4)}"
        key_ref = self._keys.generate(license.uscc, label, algorithm)
        made.append(key_ref)
        subject = _seal_subject(license, kind)
        not_before, not_after = now - timedelta(minutes=1), now + self._settings.validity
        cert = self._pki.issue_seal_certificate(
            self._keys.public_key(key_ref), subject, not_before=not_before, not_after=not_after
        )
        sm2_ref = sm2_serial = sm2_pem = None
        if self._settings.sm2:
            assert self._sm2_pki is not None
            # the seal's key store makes the SM2 key (a PKCS#11 store refuses SM2 with
            # algorithm_not_supported_by_keystore rather than make it elsewhere)
            sm2_ref = self._keys.generate(license.uscc, f"{label}-sm2", KeyAlgorithm.SM2)
            made.append(sm2_ref)
            sm2_cert = self._sm2_pki.issue_seal_certificate(
                self._keys.public_key(sm2_ref), subject, not_before=not_before, not_after=not_after
            )
            sm2_serial = sm2_cert.serial_number
            sm2_pem = bytes(asn1_pem.armor("CERTIFICATE", sm2_cert.dump())).decode()
        return Seal(
            uscc=license.uscc,
            kind=kind,
            version=version,
            status=SealStatus.ACTIVE,
            key_ref=key_ref,
            key_algorithm=algorithm.value,
            serial=cert.serial_number,
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            chain_pem=self._pki.chain_pem(),
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

    # -- reading --------------------------------------------------------------------------

    def enterprise(self, uscc: str) -> Enterprise:
        found = self._repo.get_enterprise(uscc)
        if found is None:
            raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
        return found

    def find_enterprise(self, uscc: str) -> Enterprise | None:
        return self._repo.get_enterprise(uscc)

    def seal_by_serial(self, serial: int) -> Seal | None:
        """Any version of any seal this server issued, by certificate serial."""
        return self._repo.seal_by_serial(serial)

    def seal_by_sm2_serial(self, serial: int) -> Seal | None:
        """Any version of any seal, by the serial of its SM2 certificate."""
        return self._repo.seal_by_sm2_serial(serial)

    def seals(self, uscc: str) -> list[Seal]:
        self.enterprise(uscc)
        order = list(SealKind)
        return sorted(self._repo.current_seals(uscc), key=lambda s: order.index(s.kind))

    def seal(self, uscc: str, kind: SealKind) -> Seal:
        self.enterprise(uscc)
        found = self._repo.seal(uscc, kind)
        if found is None:
            raise SealNotFound(f"enterprise {uscc} has no {kind.value} seal")
        return found

    # -- license status -------------------------------------------------------------------

    def change_status(
        self, uscc: str, status: LicenseStatus, reason: str | None, *, actor: str = "cli"
    ) -> Enterprise:
        """Record a license status change; cancelling or revoking revokes all five seals."""
        enterprise = self.enterprise(uscc)
        if enterprise.status in FINAL_STATUSES:
            raise DomainError(
                f"the license is {enterprise.status.value} ({enterprise.status.label}); "
                "that status is final",
                code="license_status_final",
            )
        if status is enterprise.status:
            raise DomainError(f"the license is {status.value} already", code="status_unchanged")
        now = self._clock()
        revoked: list[Seal] = []
        if status in FINAL_STATUSES:
            revoked = [
                s.with_status(
                    SealStatus.REVOKED, now, f"license {status.value}", code=LICENSE_END_REASON
                )
                for s in self._repo.current_seals(uscc)
                if s.status is not SealStatus.REVOKED
            ]
        events = [
            AuditEvent(
                "license.status",
                actor,
                uscc=uscc,
                detail={"from": enterprise.status.value, "to": status.value, "reason": reason},
            )
        ]
        events += [_seal_event("seal.revoke", actor, s) for s in revoked]
        changed = self._repo.change_status(uscc, StatusChange(status, now, reason), revoked, events)
        self._notify(uscc, revoked, license_status=status)
        return changed

    # -- seal lifecycle -------------------------------------------------------------------

    def change_seal(
        self,
        uscc: str,
        kind: SealKind,
        action: SealAction,
        reason: str | None = None,
        *,
        code: RevocationReason | str | None = None,
        compromised_at: datetime | str | None = None,
        actor: str = "cli",
    ) -> Seal:
        """One step of the lifecycle, as the HTTP route and the CLI ask for it: the seal as it
        is after (for a re-issue, the new version).  A suspension or resumption takes no
        ``compromised_at`` (422 ``invalid_compromised_at``), a resumption no reason code
        (422 ``invalid_reason_code``)."""
        if action in (SealAction.SUSPEND, SealAction.RESUME) and compromised_at is not None:
            raise DomainError(
                f"{action.value} takes no compromised_at; revoke or re-issue with key_compromise",
                code="invalid_compromised_at",
            )
        if action is SealAction.SUSPEND:
            return self.suspend_seal(uscc, kind, reason, code=code, actor=actor)
        if action is SealAction.RESUME:
            if code is not None:
                raise DomainError("resume takes no reason code", code="invalid_reason_code")
            return self.resume_seal(uscc, kind, reason, actor=actor)
        if action is SealAction.REVOKE:
            return self.revoke_seal(
                uscc, kind, reason, code=code, compromised_at=compromised_at, actor=actor
            )
        return self.reissue_seal(
            uscc, kind, reason, code=code, compromised_at=compromised_at, actor=actor
        )

    def suspend_seal(
        self,
        uscc: str,
        kind: SealKind,
        reason: str | None = None,
        *,
        code: RevocationReason | str | None = None,
        actor: str = "cli",
    ) -> Seal:
        """Put the seal on hold (``certificate_hold``, the only code a suspension takes)."""
        checked = _checked_code(
            code, _SUSPEND_CODES, RevocationReason.CERTIFICATE_HOLD, "a suspension"
        )
        seal = self._require_status(uscc, kind, SealStatus.ACTIVE, "suspend")
        return self._change(
            seal.with_status(SealStatus.SUSPENDED, self._clock(), reason, code=checked),
            "seal.suspend",
            actor,
        )

    def resume_seal(
        self, uscc: str, kind: SealKind, reason: str | None = None, *, actor: str = "cli"
    ) -> Seal:
        if self.enterprise(uscc).status is not LicenseStatus.ACTIVE:
            raise LicenseNotActive("a seal of a license that is not active cannot be resumed")
        seal = self._require_status(uscc, kind, SealStatus.SUSPENDED, "resume")
        return self._change(
            seal.with_status(SealStatus.ACTIVE, self._clock(), reason), "seal.resume", actor
        )

    def revoke_seal(
        self,
        uscc: str,
        kind: SealKind,
        reason: str | None = None,
        *,
        code: RevocationReason | str | None = None,
        compromised_at: datetime | str | None = None,
        actor: str = "cli",
    ) -> Seal:
        """Revoke for good. ``code`` defaults to ``unspecified``; a ``key_compromise``
        counts from ``compromised_at`` (default: now), which may lie in the past."""
        checked = _checked_code(code, _REVOKE_CODES, RevocationReason.UNSPECIFIED, "a revocation")
        now = self._clock()
        seal = self.seal(uscc, kind)
        since = _compromise_time(checked, compromised_at, seal, now)
        if seal.status is SealStatus.REVOKED:
            raise DomainError(f"the {kind.value} seal is revoked already", code="seal_revoked")
        return self._change(
            seal.with_status(SealStatus.REVOKED, now, reason, code=checked, compromised_at=since),
            "seal.revoke",
            actor,
        )

    def reissue_seal(
        self,
        uscc: str,
        kind: SealKind,
        reason: str | None = None,
        *,
        code: RevocationReason | str | None = None,
        compromised_at: datetime | str | None = None,
        actor: str = "cli",
    ) -> Seal:
        """A new key, certificate and version; the old certificate is revoked as
        ``superseded``, or as ``key_compromise`` from ``compromised_at`` if the caller says so.
        """
        checked = _checked_code(code, _REISSUE_CODES, RevocationReason.SUPERSEDED, "a re-issue")
        enterprise = self.enterprise(uscc)
        if enterprise.status is not LicenseStatus.ACTIVE:
            raise LicenseNotActive(
                f"the license is {enterprise.status.value}; seals are re-issued for active "
                "licenses only"
            )
        old = self.seal(uscc, kind)
        now = self._clock()
        since = _compromise_time(checked, compromised_at, old, now)
        made: list[str] = []
        try:
            new = self._issue(
                enterprise.license,
                kind,
                version=old.version + 1,
                image=old.image_png,
                image_source=old.image_source,
                now=now,
                made=made,
            )
            retired = old
            if old.status is not SealStatus.REVOKED:
                retired = old.with_status(
                    SealStatus.REVOKED, now, reason, code=checked, compromised_at=since
                )
            self._repo.save_seals(
                [retired, new],
                [_seal_event("seal.revoke", actor, retired), _seal_event("seal.issue", actor, new)],
            )
        except BaseException:
            for key_ref in made:
                self._keys.delete(key_ref)
            raise
        self._notify(uscc, [retired] if retired is not old else [])
        return new

    def replace_image(self, uscc: str, kind: SealKind, scan: bytes, *, actor: str = "cli") -> Seal:
        """Replace the rendered image by a cleaned scan of the physical seal."""
        seal = self.seal(uscc, kind)
        if seal.status is SealStatus.REVOKED:
            raise SealNotActive(f"the {kind.value} seal is revoked")
        image = clean_scan(scan)
        return self._save(
            replace(
                seal,
                image_png=image,
                image_sha256=hashlib.sha256(image).hexdigest(),
                image_source=ImageSource.SCAN,
            ),
            "seal.image",
            actor,
        )

    def _require_status(self, uscc: str, kind: SealKind, status: SealStatus, verb: str) -> Seal:
        seal = self.seal(uscc, kind)
        if seal.status is not status:
            raise SealNotActive(
                f"cannot {verb} the {kind.value} seal: it is {seal.status.value}",
                code=f"seal_{seal.status.value}",
            )
        return seal

    def _save(self, seal: Seal, action: str, actor: str) -> Seal:
        self._repo.save_seals([seal], [_seal_event(action, actor, seal)])
        return seal

    def _change(self, seal: Seal, action: str, actor: str) -> Seal:
        """Save a status change and tell the listeners."""
        self._save(seal, action, actor)
        self._notify(seal.uscc, [seal])
        return seal

    # -- certificates from another CA (DESIGN.md 3: eseal seal csr | import-cert) ---------

    def certificate_request(self, uscc: str, kind: SealKind, algorithm: str) -> bytes:
        """A PEM PKCS#10 request for the seal's key of ``algorithm`` (``sm2`` or the seal's
        international key type), with the seal certificate's subject, signed by that key in
        the store.  Only an active seal of an active license gets one (409 otherwise)."""
        enterprise = self.enterprise(uscc)
        if enterprise.status is not LicenseStatus.ACTIVE:
            raise LicenseNotActive(
                f"the license is {enterprise.status.value}; requests are made for active "
                "licenses only"
            )
        seal = self.seal(uscc, kind)
        if seal.status is not SealStatus.ACTIVE:
            raise SealNotActive(
                f"the {kind.value} seal is {seal.status.value}; a certificate request needs an "
                "active seal"
            )
        key_ref = self._key_for(seal, _parse_algorithm(algorithm))
        spki = self._keys.public_key(key_ref)
        subject = _seal_subject(enterprise.license, kind).name()
        if key_ref == seal.sm2_key_ref:
            sm2_signer = self._sm2_signer(key_ref)
            return csr.certification_request(subject, spki, sm2_signer.sign)
        cert = asn1_x509.Certificate.load(_pem_der(seal.certificate_pem))
        pdf_signer = self._keys.signer(key_ref, cert, [])

        def sign(data: bytes) -> bytes:
            # the request is made in a worker thread or the CLI: no event loop runs here
            return asyncio.run(pdf_signer.async_sign_raw(data, "sha256"))

        return csr.certification_request(subject, spki, sign)

    def import_certificate(
        self,
        uscc: str,
        kind: SealKind,
        certificate: bytes | str,
        chain: bytes | str | None,
        *,
        anchors: Sequence[asn1_x509.Certificate],
        actor: str = "cli",
    ) -> Seal:
        """Replace the seal's certificate of the key the certificate certifies (SM2 or the
        international one) by one from another CA.

        Checked, in this order, each with its own code and nothing changed on a refusal:
        readable (422 ``certificate_invalid``), certifies the seal's key (422
        ``certificate_key_mismatch``), names this enterprise's USCC (422
        ``certificate_wrong_enterprise``) and name (422 ``certificate_name_mismatch``), valid
        now (422 ``certificate_not_valid_now``), chains to one of ``anchors`` (422
        ``certificate_untrusted``), its serial not another seal's (409
        ``certificate_serial_in_use``).  A revoked seal takes none (409 ``seal_not_active``).
        """
        enterprise = self.enterprise(uscc)
        seal = self.seal(uscc, kind)
        if seal.status is SealStatus.REVOKED:
            raise SealNotActive(f"the {kind.value} seal is revoked; re-issue it first")
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
        cert_pem = _armor(leaf)
        replaced = seal.sm2_serial if is_sm2 else seal.serial
        if is_sm2:
            updated = replace(seal, sm2_serial=serial, sm2_certificate_pem=cert_pem)
        else:
            updated = replace(
                seal,
                serial=serial,
                certificate_pem=cert_pem,
                chain_pem="".join(_armor(c) for c in path[1:]),
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

    def _issued_here(self, certificate_pem: str | None, *, sm2: bool = False) -> bool:
        """Whether our seal CA (international or SM2) issued this certificate; an imported one
        is its CA's business, our OCSP and CRL do not speak for it."""
        if not certificate_pem:
            return False
        if sm2:
            if self._sm2_pki is None:
                return False
            issuing = self._sm2_pki.certificate("issuing")
        else:
            issuing = self._pki.chain()[0]
        return bool(asn1_x509.Certificate.load(_pem_der(certificate_pem)).issuer == issuing.subject)

    def _chain_for_signing(self, seal: Seal) -> list[asn1_x509.Certificate]:
        """The chain carried in a signature: our CA's, or the imported certificate's."""
        if self._issued_here(seal.certificate_pem):
            return self._pki.chain()
        return [fully_parsed(c) for c in csr.load_certificates(seal.chain_pem, "chain")]

    # -- use ------------------------------------------------------------------------------

    def signer_for(self, uscc: str, kind: SealKind) -> tuple[Seal, Signer]:
        """The seal and a signer for it, if the license and the seal are both active."""
        status = self._repo.license_status(uscc)  # the status alone: one light query
        if status is None:
            raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
        if status is not LicenseStatus.ACTIVE:
            raise LicenseNotActive(
                f"the license of {uscc} is {status.value} "
                f"({status.label}); its seals cannot be used"
            )
        seal = self._repo.seal(uscc, kind)  # the enterprise is known to exist: one query
        if seal is None:
            raise SealNotFound(f"enterprise {uscc} has no {kind.value} seal")
        if seal.status is not SealStatus.ACTIVE:
            raise SealNotActive(
                f"the {kind.value} seal of {uscc} is {seal.status.value}",
                code=f"seal_{seal.status.value}",
            )
        cache_key = (seal.key_ref, seal.serial)
        signer = self._signers.get(cache_key)
        if signer is None:
            cert = fully_parsed(
                asn1_x509.Certificate.load(  # the cached signer is shared
                    x509.load_pem_x509_certificate(seal.certificate_pem.encode()).public_bytes(
                        serialization.Encoding.DER
                    )
                )
            )
            signer = self._keys.signer(seal.key_ref, cert, self._chain_for_signing(seal))
            self._signers[cache_key] = signer
        return seal, signer

    # -- revocation data for the PKI ------------------------------------------------------

    def certificate_status(self, serial: int) -> CertStatus | None:
        """Status of a seal certificate for OCSP: None if the CA never issued it."""
        seal = self._repo.seal_by_serial(serial)
        if seal is None or not self._issued_here(seal.certificate_pem):
            return None
        return _cert_status(seal)

    def revoked_certificates(self) -> list[RevokedCert]:
        out = []
        for seal in self._repo.revoked_seals():
            if not self._issued_here(seal.certificate_pem):
                continue  # an imported certificate: its CA publishes its status
            status = _cert_status(seal)
            assert status.revoked_at is not None
            out.append(
                RevokedCert(
                    seal.serial,
                    status.revoked_at,
                    status.reason,
                    invalidity_date=seal.compromised_at,
                )
            )
        return out

    # The SM2 certificate of a seal version shares its status: a suspension puts both on hold,
    # a revocation or re-issue revokes both with the same reason code and time.

    def sm2_certificate_status(self, serial: int) -> CertStatus | None:
        """Status of a seal's SM2 certificate for the SM2 OCSP responder: None if unknown."""
        seal = self._repo.seal_by_sm2_serial(serial)
        if seal is None or not self._issued_here(seal.sm2_certificate_pem, sm2=True):
            return None
        return _cert_status(seal)

    def sm2_revoked_certificates(self) -> list[RevokedCert]:
        """What the SM2 seal CA's CRL lists: the SM2 serials of revoked and held seals."""
        out = []
        for seal in self._repo.revoked_seals():
            if seal.sm2_serial is None or not self._issued_here(seal.sm2_certificate_pem, sm2=True):
                continue
            status = _cert_status(seal)
            assert status.revoked_at is not None
            out.append(
                RevokedCert(
                    seal.sm2_serial,
                    status.revoked_at,
                    status.reason,
                    invalidity_date=seal.compromised_at,
                )
            )
        return out


def _parse_algorithm(value: str) -> KeyAlgorithm:
    try:
        return KeyAlgorithm(value.strip().lower())
    except ValueError:
        known = ", ".join(a.value for a in KeyAlgorithm)
        raise DomainError(
            f"unknown algorithm {value[:40]!r}; one of: {known}", code="invalid_algorithm"
        ) from None


def _pem_der(text: str) -> bytes:
    return bytes(asn1_pem.unarmor(text.encode())[2])


def _armor(cert: asn1_x509.Certificate) -> str:
    return bytes(asn1_pem.armor("CERTIFICATE", cert.dump())).decode()


def _seal_subject(license: License, kind: SealKind) -> SealSubject:
    """The subject of a seal certificate (DESIGN.md 1), for our CA and for a request."""
    if kind is SealKind.LEGAL_REP:
        return SealSubject(
            license.name, license.uscc, "法定代表人", person=license.legal_representative
        )
    return SealSubject(license.name, license.uscc, kind.label)


def _seal_event(action: str, actor: str, seal: Seal) -> AuditEvent:
    return AuditEvent(
        action,
        actor,
        uscc=seal.uscc,
        seal_kind=seal.kind.value,
        serial=format(seal.serial, "x"),
        detail={
            "version": seal.version,
            "status": seal.status.value,
            "reason": seal.status_reason,
            "reason_code": (seal.reason_code.value if seal.reason_code else None),
            "compromised_at": (seal.compromised_at.isoformat() if seal.compromised_at else None),
            "image_sha256": seal.image_sha256,
            **({"sm2_serial": format(seal.sm2_serial, "x")} if seal.sm2_serial is not None else {}),
        },
    )


def _cert_status(seal: Seal) -> CertStatus:
    since, reason = seal.revoked_since, seal.published_reason
    if since is None or reason is None:
        return CertStatus()
    return CertStatus(since, _RFC5280[reason])


# -- reason codes and compromise times ----------------------------------------------------


def parse_reason_code(value: str) -> RevocationReason:
    """A reason code from its name (``key_compromise`` ...); 422 ``invalid_reason_code``."""
    try:
        return RevocationReason(value.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in RevocationReason)
        raise DomainError(
            f"unknown reason code {value[:40]!r}; one of: {known}", code="invalid_reason_code"
        ) from None


def parse_compromise_time(value: str) -> datetime:
    """An ISO 8601 time with a UTC offset (``2025-03-01T08:00:00+08:00``, or ``Z``)."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DomainError(
            f"compromised_at {value[:40]!r} is not an ISO 8601 time "
            "(e.g. 2025-03-01T08:00:00+08:00)",
            code="invalid_compromised_at",
        ) from None
    return _aware(when)


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise DomainError(
            "compromised_at needs a time zone (e.g. +08:00 or Z)", code="invalid_compromised_at"
        )
    return when.astimezone(UTC)


def _checked_code(
    code: RevocationReason | str | None,
    allowed: frozenset[RevocationReason],
    default: RevocationReason,
    what: str,
) -> RevocationReason:
    if code is None:
        return default
    checked = code if isinstance(code, RevocationReason) else parse_reason_code(code)
    if checked not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        hint = " (suspend the seal instead)" if checked is RevocationReason.CERTIFICATE_HOLD else ""
        raise DomainError(
            f"{what} takes the reason code {names}, not {checked.value}{hint}",
            code="invalid_reason_code",
        )
    return checked


def _compromise_time(
    code: RevocationReason, value: datetime | str | None, seal: Seal, now: datetime
) -> datetime | None:
    """When a key compromise counts from: given or now, in whole seconds (as the CRL and
    OCSP carry it), not before the certificate's validity and not in the future."""
    if code is not RevocationReason.KEY_COMPROMISE:
        if value is not None:
            raise DomainError(
                "compromised_at goes with the reason code key_compromise only",
                code="invalid_compromised_at",
            )
        return None
    if value is None:
        when = now
    else:
        when = parse_compromise_time(value) if isinstance(value, str) else _aware(value)
    when = when.replace(microsecond=0)
    if when > now:
        raise DomainError(
            f"compromised_at {when.isoformat()} is in the future", code="invalid_compromised_at"
        )
    if when < seal.not_before:
        raise DomainError(
            f"compromised_at {when.isoformat()} is before the certificate was valid "
            f"({seal.not_before.isoformat()})",
            code="invalid_compromised_at",
        )
    return when
