"""Sealing with the national seal format: a GB/T 38540 ``SES_Signature`` over a file or its
SM3 hash (``POST /v1/ses/sign``), and OFD documents sealed per GB/T 33190 §18
(``POST /v1/sign`` with an OFD).

Both sign with the seal's SM2 key and carry the seal's ``SESeal`` (made at issuance,
:mod:`seals.esl`), after the same check a PDF seal gets (:meth:`SealService.signer_for`:
license and seal active).  The signature value is timestamped by the SM2 TSA (the built-in
one, or ``ESEAL_TSA_URL`` asked for an SM3 imprint) over the signature value, as GB/T 38540
says; ``level`` ``B-B`` leaves the timestamp out.

OFD placements are the PDF ones read in OFD's units: ``x``/``y`` are millimetres from the
page's top-left corner, a keyword's ``offset`` is in mm, a cross-page seal's ``y`` is mm from
the top.  What PAdES has and OFD has not is refused with a clear code: certification and
reserved fields, the B-LT/B-LTA levels, an international key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import cms, pem
from pyhanko.sign.timestamps import TimeStamper

from keystore import sm2
from keystore.base import KeyAlgorithm
from keystore.errors import ErrorKind
from seals.errors import DomainError
from seals.esl import lists_signer, parse_seseal
from seals.esl_maker import EslNotAvailable
from seals.kinds import SealKind
from seals.model import Seal
from seals.service import SealService
from seals.vocab import PadesLevel

from . import ofd
from .errors import AlgorithmNotAvailable, RequestRefused
from .notices import Notice
from .placement_kinds import AtKeyword, AtPoint, CrossPage
from .service import SealingOptions, SealOrder, default_kind
from .ses import make_ses_signature
from .sm2_signers import Sm2KeyHolder

__all__ = ["NationalSealer", "OfdSealed", "SesSigned"]


@dataclass(frozen=True)
class SesSigned:
    """An SES_Signature made for a caller, and the seal that made it."""

    der: bytes
    seal: Seal
    #: the SM2 timestamp's genTime (None at B-B)
    timestamp_time: datetime | None


@dataclass(frozen=True)
class OfdSealed:
    """A sealed OFD document, the seals applied in order and what the caller should know."""

    data: bytes
    seals: list[Seal]
    notices: tuple[Notice, ...] = ()


class NationalSealer:
    """Makes SES signatures and seals OFD documents; built once, shared by requests."""

    def __init__(
        self,
        seals: SealService,
        keys: Sm2KeyHolder | None,
        timestamper: TimeStamper | None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``keys``: the store of the seals' SM2 keys (None: nothing can be signed, every
        request gets ``algorithm_not_available``); ``timestamper``: the SM2 TSA (None: no
        timestamps, as at ``B-B``)."""
        self._seals = seals
        self._keys = keys
        self._stamper = timestamper
        self._now = clock or (lambda: datetime.now(UTC))

    def _usable(self, uscc: str, kind: SealKind) -> tuple[Seal, sm2.Sm2Signer]:
        """The seal (license and seal active, checked) and its SM2 signer."""
        seal, _ = self._seals.signer_for(uscc, kind)
        if self._keys is None:
            raise AlgorithmNotAvailable("this server is not set up to sign with SM2 keys")
        if seal.sm2_key_ref is None or seal.sm2_certificate_pem is None:
            raise AlgorithmNotAvailable(
                f"the {seal.kind.value} seal of {uscc} (version {seal.version}) has no SM2 key: "
                "it was issued without one; re-issue it to get an SM2 key and seal data"
            )
        if seal.esl is None:
            raise EslNotAvailable(
                f"the {seal.kind.value} seal of {uscc} (version {seal.version}) was issued "
                "before eseal made seal data (SESeal); re-issue it to get its seal data"
            )
        _check_seal_data(seal, self._now())
        return seal, self._keys.sm2_signer(seal.sm2_key_ref)

    def _timestamp(self, value: bytes) -> bytes:
        """The DER TimeStampToken over a signature value (SM3 imprint)."""
        assert self._stamper is not None
        stamper = self._stamper
        token = asyncio.run(stamper.async_timestamp(sm2.sm3(value), sm2.NAME_SM3))
        return bytes(token.dump())

    def _ses(
        self,
        seal: Seal,
        signer: sm2.Sm2Signer,
        data_hash: bytes,
        property_info: str,
        stamped: bool,
    ) -> tuple[bytes, datetime | None]:
        """The SES_Signature DER and its timestamp's genTime (None without one)."""
        assert seal.esl is not None and seal.sm2_certificate_pem is not None
        tokens: list[bytes] = []

        def timestamp(value: bytes) -> bytes:
            tokens.append(self._timestamp(value))
            return tokens[-1]

        der = make_ses_signature(
            seal_der=seal.esl,
            data_hash=data_hash,
            property_info=property_info,
            signer_certificate=_pem_der(seal.sm2_certificate_pem),
            sign=signer.sign,
            time=self._now(),
            timestamp=timestamp if stamped and self._stamper is not None else None,
        )
        return der, _gen_time(tokens[-1]) if tokens else None

    def sign_ses(
        self,
        uscc: str,
        kind: SealKind,
        *,
        data_hash: bytes,
        property_info: str,
        level: PadesLevel = PadesLevel.B_T,
    ) -> SesSigned:
        """An SES_Signature of the seal over ``data_hash`` (SM3, 32 bytes).  Blocking (the
        timestamp is asked for on a loop of its own): call it off the event loop."""
        if len(data_hash) != 32:
            raise RequestRefused(
                "the data hash must be an SM3 hash: 32 bytes (64 hexadecimal digits)",
                code="invalid_hash",
            )
        _check_level(level, "an SES signature")
        seal, signer = self._usable(uscc, kind)
        der, stamped_at = self._ses(seal, signer, data_hash, property_info, level is PadesLevel.B_T)
        return SesSigned(der, seal, stamped_at)

    def seal_ofd(self, uscc: str, data: bytes, options: SealingOptions) -> OfdSealed:
        """Seal an OFD document with the seals of ``options``, one after the other (continue
        mode).  Blocking: call it off the event loop."""
        _check_ofd_options(options)
        stamped = options.level is PadesLevel.B_T
        orders = list(options.seals) or [SealOrder(default_kind(options.document_type))]
        pages = len(ofd.OfdDocument(ofd.read_package(data)).pages)
        notices: list[Notice] = []
        placed: list[tuple[Seal, sm2.Sm2Signer, ofd.Placement]] = []
        for order in orders:
            placement = _ofd_placement(order)
            if isinstance(order.placement, CrossPage) and order.placement.auto and pages == 1:
                notices.append(
                    Notice(
                        "cross_page_skipped",
                        "the document has one page: the cross-page seal (骑缝章) was left out",
                    )
                )
                continue
            seal, signer = self._usable(uscc, order.kind)
            placed.append((seal, signer, placement))
        if not placed:  # only an automatic cross-page seal was asked for, on one page
            seal, signer = self._usable(uscc, default_kind(options.document_type))
            placed.append((seal, signer, ofd.DefaultPlacement()))
        for seal, signer, placement in placed:
            info = seal.kind.info

            # ofdrw's propertyInfo: the path of the Signature.xml the value signs
            path = ofd.next_signature_path(data)

            def sign(
                signature_xml: bytes,
                seal: Seal = seal,
                signer: sm2.Sm2Signer = signer,
                path: str = path,
            ) -> bytes:
                digest = sm2.sm3(signature_xml)
                return self._ses(seal, signer, digest, path, stamped)[0]

            assert seal.esl is not None
            data = ofd.seal_ofd(
                data,
                seal_esl=seal.esl,
                sign_ses=sign,
                placement=placement,
                width_mm=info.width_mm,
                height_mm=info.height_mm,
                now=self._now(),
            )
        return OfdSealed(data, [s for s, _, _ in placed], tuple(notices))


def _check_seal_data(seal: Seal, now: datetime) -> None:
    """The seal data must hold the seal's SM2 certificate and be valid now: a signature made
    otherwise would fail GM/T 0031's own checks (``seal_data_not_usable``, 409)."""
    assert seal.esl is not None and seal.sm2_certificate_pem is not None
    parsed = parse_seseal(seal.esl)
    if not lists_signer(parsed, _pem_der(seal.sm2_certificate_pem)):
        raise SealDataNotUsable(
            f"the seal data of the {seal.kind.value} seal of {seal.uscc} does not list its SM2 "
            "certificate; re-issue the seal"
        )
    if not parsed.valid_start <= now <= parsed.valid_end:
        raise SealDataNotUsable(
            f"the seal data of the {seal.kind.value} seal of {seal.uscc} is valid "
            f"{parsed.valid_start.isoformat()} .. {parsed.valid_end.isoformat()}, not now; "
            "re-issue the seal"
        )


class SealDataNotUsable(DomainError):
    """The seal's SESeal cannot sign now (outside its validity, or stale)."""

    code = "seal_data_not_usable"
    kind = ErrorKind.CONFLICT
    title = "The seal data cannot be used"


def _check_level(level: PadesLevel, what: str) -> None:
    if level not in (PadesLevel.B_B, PadesLevel.B_T):
        raise RequestRefused(
            f"{what} has no {level.value}: national signatures carry their SM2 timestamp "
            "(B-T) or none (B-B); long-term validation data is a PAdES (PDF) matter",
            code="level_not_supported",
        )


def _check_ofd_options(options: SealingOptions) -> None:
    _check_level(options.level, "an OFD seal")
    if options.certify or options.reserve:
        raise RequestRefused(
            "certification and reserved signature fields are PDF (DocMDP) features; an OFD "
            "document is sealed in turn by each party instead (continue mode)",
            code="not_supported_for_ofd",
        )
    if options.algorithm is not None and options.algorithm is not KeyAlgorithm.SM2:
        raise AlgorithmNotAvailable(
            f"OFD documents are sealed with SM2 keys (GB/T 38540), not {options.algorithm.value}"
        )
    if any(o.field for o in options.seals):
        raise RequestRefused(
            "an OFD document has no signature fields to fill", code="not_supported_for_ofd"
        )


def _ofd_placement(order: SealOrder) -> ofd.Placement:
    where = order.placement
    if where is None:
        return ofd.DefaultPlacement()
    if isinstance(where, AtPoint):
        return ofd.AtPoint(page=where.page, x=where.x, y=where.y)
    if isinstance(where, AtKeyword):
        return where
    if isinstance(where, CrossPage):
        return ofd.CrossPage(y=where.y, position=where.position)
    return ofd.DefaultPlacement()


def _pem_der(text: str) -> bytes:
    return bytes(pem.unarmor(text.encode())[2])


def _gen_time(token: bytes) -> datetime:
    info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    when: datetime = info["gen_time"].native
    return when
