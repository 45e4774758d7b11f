"""Sealing documents for an enterprise: the domain's rules around the PDF signing core."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_cms import Signer

from keystore.base import KeyAlgorithm
from seals.errors import DomainError
from seals.kinds import SealKind
from seals.model import Seal
from seals.service import SealService
from seals.vocab import DocumentType

from .appearance import SealAppearance
from .certification import Reservation
from .core import DocumentSigner, SealApplication, SignedFile, SignRequest
from .errors import AlgorithmNotAvailable
from .levels import PadesLevel
from .placement import MM, CrossPage, Notice, Placement, collect_notices, iter_pages
from .sm2_signers import Sm2SealSigners

__all__ = [
    "DocumentType",
    "ReserveOrder",
    "SealOrder",
    "Sealed",
    "SealingOptions",
    "SealingService",
    "default_kind",
]


@dataclass(frozen=True)
class SealOrder:
    """One seal the caller wants: its kind and where it goes."""

    kind: SealKind
    placement: Placement | None = None
    #: fill this empty signature field (e.g. reserved by the certifier of the document)
    field: str | None = None


@dataclass(frozen=True)
class ReserveOrder:
    """An empty signature field a certifying request reserves for a party who seals later."""

    #: the kind of seal that will fill it; the field has that seal's nominal size
    kind: SealKind
    #: where its centre goes (a keyword or a page and point)
    placement: Placement
    #: who seals there, e.g. 乙方
    label: str | None = None

    def reservation(self) -> Reservation:
        info = self.kind.info
        return Reservation(
            kind=self.kind.value,
            placement=self.placement,
            width=info.width_mm * MM,
            height=info.height_mm * MM,
            label=self.label,
        )


@dataclass(frozen=True)
class SealingOptions:
    """A sealing request (the ``options`` of ``POST /v1/sign`` and ``eseal sign``)."""

    #: seals in the order they are applied; empty means the document type's default seal
    seals: Sequence[SealOrder] = ()
    document_type: DocumentType = DocumentType.OTHER
    level: PadesLevel = PadesLevel.B_T
    reason: str | None = None
    location: str | None = None
    certify: bool = False
    #: allow the invoice seal on a document declared a contract
    allow_invoice_seal_on_contract: bool = False
    #: the caller's own reference, kept with the archive record
    reference: str | None = None
    #: empty signature fields made in the certifying revision (``certify`` only)
    reserve: Sequence[ReserveOrder] = ()
    #: which of the seal's keys signs: ``sm2`` its SM2 key (SM3 digest, SM2 TSA, SM2
    #: validation data), or the international key's algorithm (``ec-p256``, ``rsa-2048``,
    #: ``rsa-3072``), which must be the seal's; None: the international key, whatever it is
    algorithm: KeyAlgorithm | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sealed:
    """A sealed document (:class:`SignedFile`, the caller closes it), the seals applied and
    what the caller should know about where they went (:class:`Notice`)."""

    signed: SignedFile
    seals: list[Seal]
    notices: tuple[Notice, ...] = ()
    #: the serial of the certificate each seal signed with (its SM2 certificate's when sealed
    #: with SM2), in the order of ``seals``
    serials: tuple[int, ...] = ()


_DEFAULT_KIND = {
    DocumentType.CONTRACT: SealKind.CONTRACT,
    DocumentType.INVOICE: SealKind.INVOICE,
    DocumentType.OTHER: SealKind.OFFICIAL,
}


def default_kind(document_type: DocumentType) -> SealKind:
    """The seal a document of this type gets when the request names none."""
    return _DEFAULT_KIND[document_type]


class SealingService:
    """Checks that the seals may be used, prepares their appearances once, and signs."""

    def __init__(
        self,
        seals: SealService,
        signer: DocumentSigner,
        *,
        sm2_signers: Sm2SealSigners | None = None,
        default_algorithm: KeyAlgorithm | None = None,
    ) -> None:
        """``sm2_signers``: the signers of the seals' SM2 keys (None: ``algorithm`` ``sm2`` is
        refused with ``algorithm_not_available``); ``default_algorithm``: the key that signs
        when a request names none (``ESEAL_PDF_SIGN_ALGORITHM``; None: the seal's
        international key, which Adobe-family readers validate)."""
        self._seals = seals
        self._signer = signer
        self._sm2 = sm2_signers
        self._default_algorithm = default_algorithm
        self._appearances: dict[str, SealAppearance] = {}
        self._lock = threading.Lock()
        self._preparing = threading.Lock()

    @property
    def document_signer(self) -> DocumentSigner:
        return self._signer

    def plan(self, uscc: str, options: SealingOptions) -> list[tuple[Seal, SealApplication]]:
        """Check the request against the domain rules and prepare each seal (no PDF work)."""
        orders = list(options.seals) or [SealOrder(_DEFAULT_KIND[options.document_type])]
        kinds = [o.kind for o in orders]
        if (
            options.document_type is DocumentType.CONTRACT
            and SealKind.INVOICE in kinds
            and not options.allow_invoice_seal_on_contract
        ):
            raise DomainError(
                "the invoice seal (发票专用章) is for invoices; this document is declared a "
                "contract. Set allow_invoice_seal_on_contract if that is really meant.",
                code="invoice_seal_on_contract",
            )
        planned = []
        for order in orders:
            seal, international = self._seals.signer_for(uscc, order.kind)
            pdf_signer = self._key_of(
                seal, international, options.algorithm or self._default_algorithm
            )
            planned.append(
                (
                    seal,
                    SealApplication(
                        signer=pdf_signer,
                        appearance=self._appearance(seal),
                        placement=order.placement,
                        label=seal.label,
                        kind=seal.kind.value,
                        field=order.field,
                    ),
                )
            )
        return planned

    def _key_of(self, seal: Seal, international: Signer, algorithm: KeyAlgorithm | None) -> Signer:
        """The signer of the seal's key of ``algorithm`` (checked usable by ``signer_for``)."""
        if algorithm is None or algorithm.value == seal.key_algorithm:
            return international
        if algorithm is KeyAlgorithm.SM2:
            if self._sm2 is None:
                raise AlgorithmNotAvailable("this server is not set up to seal with SM2 keys")
            return self._sm2.signer_for(seal)
        raise AlgorithmNotAvailable(
            f"the {seal.kind.value} seal of {seal.uscc} has a {seal.key_algorithm} key, "
            f"not {algorithm.value}"
        )

    async def seal(
        self, uscc: str, pdf: bytes, options: SealingOptions
    ) -> tuple[bytes, list[Seal]]:
        """Seal ``pdf`` for the enterprise; returns the signed bytes and the seals used."""
        signed, used = await self.seal_file(uscc, io.BytesIO(pdf), options)
        with signed.file as out:
            return out.read(), used

    async def seal_file(
        self, uscc: str, src: BinaryIO, options: SealingOptions
    ) -> tuple[SignedFile, list[Seal]]:
        """As :meth:`seal`, file to temporary file (see :meth:`DocumentSigner.sign_file`)."""
        done = await self.sealed(uscc, src, options)
        return done.signed, done.seals

    async def sealed(self, uscc: str, src: BinaryIO, options: SealingOptions) -> Sealed:
        """As :meth:`seal_file`, with the notices of the placements.

        A cross-page seal ordered with ``auto`` is left out of a one-page document
        (``cross_page_skipped``); if it was the only seal ordered, the document type's
        default seal is applied instead, as for a request that names none.
        """
        notices: list[Notice] = []
        auto = [isinstance(o.placement, CrossPage) and o.placement.auto for o in options.seals]
        if any(auto) and _page_count(src) == 1:
            options = replace(
                options, seals=[o for o, skip in zip(options.seals, auto, strict=True) if not skip]
            )
            notices.append(
                Notice(
                    "cross_page_skipped",
                    "the document has one page: the cross-page seal (骑缝章) was left out",
                )
            )
        planned = self.plan(uscc, options)
        request = SignRequest(
            level=options.level,
            reason=options.reason,
            location=options.location,
            certify=options.certify,
            reserve=[r.reservation() for r in options.reserve],
        )
        with collect_notices() as placed:
            signed = await self._signer.sign_file(src, [app for _, app in planned], request)
        serials = tuple(
            app.signer.signing_cert.serial_number if app.signer.signing_cert else seal.serial
            for seal, app in planned
        )
        return Sealed(signed, [seal for seal, _ in planned], (*notices, *placed), serials)

    def _appearance(self, seal: Seal) -> SealAppearance:
        with self._lock:
            found = self._appearances.get(seal.image_sha256)
        if found is not None:
            return found
        with self._preparing:  # prepared once, not by every request that arrives meanwhile
            with self._lock:
                found = self._appearances.get(seal.image_sha256)
            if found is None:
                info = seal.kind.info
                found = SealAppearance(
                    seal.image_png, width=info.width_mm * MM, height=info.height_mm * MM
                )
                with self._lock:
                    self._appearances[seal.image_sha256] = found
        return found


def _page_count(src: BinaryIO) -> int | None:
    """The document's page count, ``None`` if it cannot be read (signing then says why)."""
    try:
        src.seek(0)
        return sum(1 for _ in iter_pages(PdfFileReader(src, strict=False)))
    except Exception:  # an unreadable document: the signer refuses it with invalid_pdf
        return None
    finally:
        src.seek(0)
