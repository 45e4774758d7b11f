"""The license as identity (issue 18): the sealed license PDF, scan-to-check codes and the
check page's view, wired from the registry, the permits, the PKI and the PDF signer.

* :meth:`LicenseDesk.license_pdf`: the face and the permits annex (:mod:`signer.license_pdf`),
  sealed B-LTA by the registration authority's platform seal, its visible seal over
  登记机关; an audit entry records the file's SHA-256, so the platform can say later what it
  issued and when.
* :meth:`LicenseDesk.make_code` / :meth:`LicenseDesk.read_code`: codes of
  :mod:`seals.check_codes`, signed with the same seal's key.
* :meth:`LicenseDesk.view`: what the check page shows, the status *now*.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import segno
from cryptography import x509
from starlette.concurrency import run_in_threadpool

from keystore.pki import InternalPki
from seals.audit import AuditEvent
from seals.authority import AUTHORITY_SEAL_LABEL
from seals.check_codes import CheckCode, CheckCodes, CodeState
from seals.images.render import render_seal
from seals.kinds import SealKind
from seals.model import Enterprise
from seals.permits import PermitService, beijing_day
from seals.service import SealService
from signer.appearance import SealAppearance
from signer.core import DocumentSigner, SealApplication, SignRequest
from signer.levels import PadesLevel
from signer.license_pdf import SEAL_CENTRE, LicenseSheet, render_license
from signer.placement import MM
from signer.placement_kinds import AtPoint
from storage.audit import AuditLog

__all__ = ["IssuedCode", "LicenseDesk"]

_BEIJING = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True)
class IssuedCode:
    """A code as the holder gets it: the URL to show, its QR image, and its times."""

    code: CheckCode
    url: str
    png: bytes


class LicenseDesk:
    """See the module docstring; one per process, built with the container."""

    def __init__(
        self,
        seals: SealService,
        permits: PermitService,
        pki: InternalPki,
        document_signer: DocumentSigner,
        audit: AuditLog,
        *,
        public_url: str,
        code_lifetime: timedelta,
        font_path: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._seals = seals
        self._permits = permits
        self._pki = pki
        self._signer = document_signer
        self._audit = audit
        self._public_url = public_url.rstrip("/")
        self._font_path = font_path
        self._clock = clock
        self.codes = CheckCodes(
            self._sign, pki.authority_certificates, lifetime=code_lifetime, clock=clock
        )

    @property
    def authority(self) -> str:
        """The registration authority's name, as its seal's certificate gives it."""
        cert = self._pki.authority_certificate()
        names = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        return str(names[0].value)

    def check_url(self, uscc: str) -> str:
        """The permanent check page of a license (the QR code of the license PDF)."""
        return f"{self._public_url}/check/{uscc}"

    # -- the license PDF ------------------------------------------------------------------

    async def license_pdf(self, uscc: str, *, actor: str = "cli") -> bytes:
        """The license face and annex, sealed B-LTA by the registration authority."""
        enterprise = await run_in_threadpool(self._seals.enterprise, uscc)
        permits = await run_in_threadpool(self._permits.permits, uscc)
        authority = self.authority
        sheet = LicenseSheet(
            license=enterprise.license,
            status=enterprise.status,
            issuer=authority,
            issued_at=self._clock(),
            check_url=self.check_url(uscc),
            permits=tuple(permits),
        )
        pdf = await run_in_threadpool(render_license, sheet)
        appearance = await run_in_threadpool(self._appearance, authority)
        seal = SealApplication(
            signer=self._pki.authority_signer(),
            appearance=appearance,
            placement=AtPoint(1, *SEAL_CENTRE),
            label=AUTHORITY_SEAL_LABEL,
            kind="authority",
        )
        request = SignRequest(level=PadesLevel.B_LTA, reason="电子营业执照出具", location=authority)
        signed = await self._signer.sign(pdf, [seal], request)
        event = AuditEvent(
            "license.document",
            actor,
            uscc=uscc,
            document_sha256=hashlib.sha256(signed).hexdigest(),
            detail={"status": enterprise.status.value, "permits": len(permits)},
        )
        await run_in_threadpool(self._audit.append, [event])
        return signed

    @functools.lru_cache(maxsize=4)  # noqa: B019 (one desk per process; four names at most)
    def _appearance(self, authority: str) -> SealAppearance:
        """The authority's seal image: a round seal with its name and a star (Ø42 mm)."""
        png = render_seal(
            SealKind.OFFICIAL,
            name=authority,
            uscc="",
            legal_representative="",
            font_path=self._font_path,
        )
        return SealAppearance(png, width=42 * MM, height=42 * MM)

    # -- check codes ----------------------------------------------------------------------

    async def _sign(self, payload: bytes) -> bytes:
        signer = self._pki.authority_signer()
        signature: bytes = await signer.async_sign_raw(payload, "sha256")
        return signature

    async def make_code(self, uscc: str, *, actor: str = "cli") -> IssuedCode:
        """A code for the license of ``uscc`` (registered: 404 otherwise)."""
        await run_in_threadpool(self._seals.enterprise, uscc)
        code = await self.codes.make(uscc)
        url = f"{self.check_url(uscc)}?{code.query()}"
        out = io.BytesIO()
        segno.make(url, error="m", micro=False).save(out, kind="png", scale=8, border=4)
        event = AuditEvent(
            "license.check_code",
            actor,
            uscc=uscc,
            detail={"expires_at": code.expires_at.isoformat()},
        )
        await run_in_threadpool(self._audit.append, [event])
        return IssuedCode(code, url, out.getvalue())

    def read_code(
        self, uscc: str, at: str | None, until: str | None, sig: str | None
    ) -> tuple[CodeState, CheckCode | None]:
        return self.codes.read(uscc, at, until, sig)

    # -- the check page -------------------------------------------------------------------

    def view(self, uscc: str) -> dict[str, Any] | None:
        """What the check page shows of a license now; None if it is not registered."""
        enterprise = self._seals.find_enterprise(uscc)
        if enterprise is None:
            return None
        now = self._clock()
        day = beijing_day(now)
        seals = self._seals.seals(uscc)
        permits = self._permits.permits(uscc)
        return {
            "uscc": uscc,
            "name": enterprise.license.name,
            "legal_representative": enterprise.license.legal_representative,
            "registration_authority": enterprise.license.registration_authority,
            "status": enterprise.status.value,
            "status_label": enterprise.status.label,
            "status_since": _local(_since(enterprise)),
            "seals": [
                {
                    "label": s.label,
                    "status": s.status.value,
                    "status_label": {
                        "active": "正常",
                        "suspended": "暂停使用",
                        "revoked": "已撤销",
                    }[s.status.value],
                    "version": s.version,
                }
                for s in seals
            ],
            "permits": [
                {
                    "type_label": p.kind.label,
                    "name": p.name,
                    "number": p.number,
                    "issuing_authority": p.issuing_authority,
                    "valid_to": p.valid_to.isoformat() if p.valid_to else "长期",
                    "status": p.status_on(day).value,
                    "status_label": p.status_on(day).label,
                    "expiring": p.expiring(day),
                    "days_left": p.days_left(day),
                }
                for p in permits
            ],
            "checked_at": _local(now),
            "authority": self.authority,
        }


def _since(enterprise: Enterprise) -> datetime:
    changes = sorted(enterprise.history, key=lambda c: c.at)
    return next((c.at for c in reversed(changes) if c.status is enterprise.status), changes[-1].at)


def _local(at: datetime) -> str:
    return at.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S")
