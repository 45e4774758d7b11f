"""Seal issuance and lifecycle: the rules of the domain, with storage and keys injected.

Every status change (a license's, a seal's) goes through :class:`SealService`, whoever asks
(a route, the CLI).  The repository raises the registry's revision in the change's
transaction, which tells every other process; the service then tells the listeners of its
own process (:meth:`SealService.subscribe`), e.g. the server's cache of OCSP responses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509
from pyhanko.sign.signers.pdf_cms import Signer

from keystore.base import KeyStore
from keystore.pki import CertStatus, InternalPki, RevokedCert
from keystore.sm2_pki import Sm2Pki

from .audit import AuditEvent, seal_event
from .certificates import SealCas
from .errors import (
    DomainError,
    EnterpriseExists,
    EnterpriseNotFound,
    LicenseNotActive,
    SealNotActive,
    SealNotFound,
)
from .esl_maker import EslMaker, EslNotAvailable
from .images import clean_scan
from .issuance import IssuanceSettings, SealIssuer
from .kinds import SealKind
from .license import License, LicenseStatus, StatusChange
from .licensed_ca import LicensedCa
from .model import Enterprise, ImageSource, RevocationReason, Seal, SealStatus
from .ports import EnterpriseRepository, StatusChanged, StatusListener
from .reasons import (
    REISSUE_CODES,
    REVOKE_CODES,
    SUSPEND_CODES,
    checked_code,
    compromise_time,
    parse_compromise_time,
    parse_reason_code,
)
from .registry_cache import RegistryCache
from .revocation_data import RevocationData
from .seal_signers import SealSigners
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


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
        esl_timestamp: Callable[[bytes], bytes] | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        """``sm2_pki``: the SM2 PKI, whose seal CA certifies the seals' SM2 keys and whose
        seal maker signs their seal data; ``esl_timestamp``: the SM2 TSA's token over bytes
        (DER ``TimeStampToken``), which seal data of version 5 carries
        (``settings.esl_version``)."""
        self._repo = repository
        self._keys = keystore
        settings = settings or IssuanceSettings()
        if settings.sm2 and sm2_pki is None:
            raise ValueError("SM2 seal certificates need the SM2 PKI (sm2_pki)")
        self._clock = clock
        self._listeners: list[StatusListener] = []
        # what requests look up (license status, seals): read once per registry revision
        self._cache = RegistryCache(repository.revision)
        self._cas = SealCas(pki, sm2_pki)
        self._esl = (
            EslMaker(sm2_pki.seal_maker, version=settings.esl_version, timestamp=esl_timestamp)
            if sm2_pki is not None
            else None
        )
        self._issuer = SealIssuer(keystore, self._cas, settings, esl=self._esl)
        self._licensed_ca = LicensedCa(repository, keystore, clock)
        self._revocation = RevocationData(repository, self._cas)
        self._signers = SealSigners(keystore, self._cas)

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
        images = {kind: self._issuer.render(license, kind) for kind in SealKind}
        made: list[str] = []
        try:
            seals = [
                self._issuer.issue(license, kind, version=1, image=images[kind], now=now, made=made)
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
            events += [seal_event("seal.issue", actor, seal) for seal in seals]
            self._repo.register(enterprise, seals, events)
        except BaseException:
            for key_ref in made:
                self._keys.delete(key_ref)
            raise
        return enterprise, seals

    # -- reading --------------------------------------------------------------------------

    def enterprise(self, uscc: str) -> Enterprise:
        found = self._repo.get_enterprise(uscc)
        if found is None:
            raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
        return found

    def find_enterprise(self, uscc: str) -> Enterprise | None:
        """The enterprise as the registry has it now (cached while the registry's revision
        stays the same, see :mod:`seals.registry_cache`)."""
        return self._cache.get(("enterprise", uscc), lambda: self._repo.get_enterprise(uscc))

    def seal_by_serial(self, serial: int) -> Seal | None:
        """Any version of any seal this server issued, by certificate serial (as the registry
        has it now; cached while its revision stays the same)."""
        return self._cache.get(("serial", serial), lambda: self._repo.seal_by_serial(serial))

    def seal_by_sm2_serial(self, serial: int) -> Seal | None:
        """Any version of any seal, by the serial of its SM2 certificate (as
        :meth:`seal_by_serial`)."""
        return self._cache.get(
            ("sm2_serial", serial), lambda: self._repo.seal_by_sm2_serial(serial)
        )

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
        events += [seal_event("seal.revoke", actor, s) for s in revoked]
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
        checked = checked_code(
            code, SUSPEND_CODES, RevocationReason.CERTIFICATE_HOLD, "a suspension"
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
        checked = checked_code(code, REVOKE_CODES, RevocationReason.UNSPECIFIED, "a revocation")
        now = self._clock()
        seal = self.seal(uscc, kind)
        since = compromise_time(checked, compromised_at, seal, now)
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
        checked = checked_code(code, REISSUE_CODES, RevocationReason.SUPERSEDED, "a re-issue")
        enterprise = self.enterprise(uscc)
        if enterprise.status is not LicenseStatus.ACTIVE:
            raise LicenseNotActive(
                f"the license is {enterprise.status.value}; seals are re-issued for active "
                "licenses only"
            )
        old = self.seal(uscc, kind)
        now = self._clock()
        since = compromise_time(checked, compromised_at, old, now)
        made: list[str] = []
        try:
            new = self._issuer.issue(
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
                [seal_event("seal.revoke", actor, retired), seal_event("seal.issue", actor, new)],
            )
        except BaseException:
            for key_ref in made:
                self._keys.delete(key_ref)
            raise
        self._notify(uscc, [retired] if retired is not old else [])
        return new

    def replace_image(self, uscc: str, kind: SealKind, scan: bytes, *, actor: str = "cli") -> Seal:
        """Replace the rendered image by a cleaned scan of the physical seal.

        The image is inside the seal data of a seal with SM2: the same version's seal data is
        made anew with it (same esID, new ``createDate`` and maker's signature), in the same
        transaction; a version issued before eseal made seal data gets its first one here.
        """
        enterprise = self.enterprise(uscc)
        seal = self.seal(uscc, kind)
        if seal.status is SealStatus.REVOKED:
            raise SealNotActive(f"the {kind.value} seal is revoked")
        image = clean_scan(scan)
        updated = replace(
            seal,
            image_png=image,
            image_sha256=hashlib.sha256(image).hexdigest(),
            image_source=ImageSource.SCAN,
        )
        return self._save(self._remade_esl(enterprise.license, updated), "seal.image", actor)

    def _remade_esl(self, license: License, seal: Seal) -> Seal:
        """``seal`` with its seal data made again now (after its image or SM2 certificate
        changed).  A service without the SM2 PKI cannot make it, and drops the old one rather
        than keep seal data that no longer matches the seal."""
        if self._esl is None:
            return replace(seal, esl=None, esl_id=None, esl_version=None)
        return self._esl.make(license, seal, now=self._clock())

    def seal_data(self, uscc: str, kind: SealKind) -> Seal:
        """The current version of the seal, which holds its seal data (``Seal.esl``).

        409 ``algorithm_not_available`` for a seal without an SM2 certificate (as sealing with
        SM2 is refused), 409 ``esl_not_available`` for a version issued with SM2 before eseal
        made seal data (re-issue it, or upload its image, to get one).  Any status: like the
        certificate, the seal data of a revoked seal stays what it was."""
        seal = self.seal(uscc, kind)
        if seal.esl is not None:
            return seal
        if seal.sm2_certificate_pem is None:
            raise EslNotAvailable(
                f"the {kind.value} seal of {uscc} (version {seal.version}) has no SM2 key, so it "
                "has no GB/T 38540 seal data; re-issue it with SM2 seals enabled "
                "(ESEAL_SEAL_ALGORITHMS) to get both",
                code="algorithm_not_available",
            )
        raise EslNotAvailable(
            f"the {kind.value} seal of {uscc} (version {seal.version}) was issued before eseal "
            "made GB/T 38540 seal data; re-issue the seal (or upload its image) to get it"
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
        self._repo.save_seals([seal], [seal_event(action, actor, seal)])
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
        return self._licensed_ca.certificate_request(enterprise, seal, algorithm)

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
        An SM2 certificate is in the seal data's ``certList``: that is made anew with it.
        """
        enterprise = self.enterprise(uscc)
        seal = self.seal(uscc, kind)
        if seal.status is SealStatus.REVOKED:
            raise SealNotActive(f"the {kind.value} seal is revoked; re-issue it first")
        return self._licensed_ca.import_certificate(
            enterprise,
            seal,
            certificate,
            chain,
            anchors=anchors,
            actor=actor,
            remake=lambda updated: self._remade_esl(enterprise.license, updated),
        )

    # -- use ------------------------------------------------------------------------------

    def signer_for(self, uscc: str, kind: SealKind) -> tuple[Seal, Signer]:
        """The seal and a signer for it, if the license and the seal are both active.

        Both are the registry's answers as of this call: a status change committed by any
        process before it is seen (the cache is checked against the registry's revision on
        every call), and the seal with its image is read once per registry revision."""
        status = self._cache.get(("license", uscc), lambda: self._repo.license_status(uscc))
        if status is None:
            raise EnterpriseNotFound(f"no enterprise with USCC {uscc} is registered")
        if status is not LicenseStatus.ACTIVE:
            raise LicenseNotActive(
                f"the license of {uscc} is {status.value} "
                f"({status.label}); its seals cannot be used"
            )
        seal = self._cache.get(("seal", uscc, kind), lambda: self._repo.seal(uscc, kind))
        if seal is None:
            raise SealNotFound(f"enterprise {uscc} has no {kind.value} seal")
        if seal.status is not SealStatus.ACTIVE:
            raise SealNotActive(
                f"the {kind.value} seal of {uscc} is {seal.status.value}",
                code=f"seal_{seal.status.value}",
            )
        return seal, self._signers.signer(seal)

    # -- revocation data for the PKI (seals.revocation_data) ------------------------------

    def certificate_status(self, serial: int) -> CertStatus | None:
        """Status of a seal certificate for OCSP: None if the CA never issued it."""
        return self._revocation.certificate_status(serial)

    def revoked_certificates(self) -> list[RevokedCert]:
        """What the seal CA's CRL lists: the serials of revoked and held seals."""
        return self._revocation.revoked_certificates()

    def sm2_certificate_status(self, serial: int) -> CertStatus | None:
        """Status of a seal's SM2 certificate for the SM2 OCSP responder: None if unknown."""
        return self._revocation.sm2_certificate_status(serial)

    def sm2_revoked_certificates(self) -> list[RevokedCert]:
        """What the SM2 seal CA's CRL lists: the SM2 serials of revoked and held seals."""
        return self._revocation.sm2_revoked_certificates()
