"""Apply seals to a PDF with pyHanko's async API: PAdES B-B to B-LTA, visible seals.

The core knows PDFs, signers and placements; it does not know enterprises, licenses or HTTP.
Keys never come here: each seal arrives as a pyHanko :class:`Signer` from the key store.
"""

from __future__ import annotations

import io
import logging
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

from keystore.errors import EsealError
from keystore.tsa import TsaUnavailable, token_gen_time

from . import fast_seal
from .appearance import SealAppearance, SealFieldStyle, add_seal_field
from .certification import Reservation, choose_fields, fill_box, reserve_field, show_seal
from .certification import signature_fields as _signature_fields
from .errors import InvalidPdf, RequestRefused
from .extension import Extender, RevokedSeal, validation_path
from .levels import PadesLevel
from .pdf_io import SPOOL_BYTES, open_reader, short_text, spooled
from .placement import CrossPage, Placement, resolve_in
from .revocation import InternalRevocation
from .sm2_cms import is_sm2_signer

__all__ = [
    "DocumentSigner",
    "InvalidPdf",
    "SealApplication",
    "SignRequest",
    "SignedFile",
]


class _NoFetchingNotice(logging.Filter):
    """pyHanko warns that revocation data is embedded without fetching: that is the design
    here (our own responder answers in-process), so the warning is noise in our logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fetching is not allowed" not in record.getMessage()


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_NoFetchingNotice())
log = logging.getLogger(__name__)

#: Room reserved for each CMS signature container, in hex digits of /Contents (so 8 KiB of
#: DER): a 3-certificate chain, an RSA-3072 signature and a timestamp token with its own
#: chain measure 4.6-5.2 KB.  Reserving it up front spares pyHanko the trial signature it
#: otherwise makes to size the container.
SIGNATURE_BYTES = 16_384


@dataclass(frozen=True)
class SealApplication:
    """One seal to apply to a document."""

    #: signs with the seal's key, carries its certificate and chain
    signer: Signer
    #: the seal image, prepared once per seal version
    appearance: SealAppearance
    #: where it goes (None: bottom right of the last page)
    placement: Placement | None
    #: shown as the field's name to a reader, e.g. 合同专用章
    label: str
    #: seal kind id, used in the field name
    kind: str
    #: fill this empty signature field (e.g. one reserved by a certifier) instead of making
    #: a new one; on a certified document a free field reserved for ``kind`` is found anyway
    field: str | None = None


@dataclass(frozen=True)
class SignRequest:
    """What the caller asks for, beyond the seals themselves."""

    #: PAdES level of the result
    level: PadesLevel = PadesLevel.B_T
    #: /Reason of each signature
    reason: str | None = None
    #: /Location of each signature
    location: str | None = None
    #: make the first seal a certification signature (DocMDP: form filling and further
    #: signatures allowed)
    certify: bool = False
    #: empty signature fields made in the certifying revision for parties who seal later
    reserve: Sequence[Reservation] = ()


class _TimeRecorder(TimeStamper):
    """Passes every request to the real timestamper and keeps the genTime of the first token
    it returns: the signature's (a B-LTA document timestamp comes after it)."""

    def __init__(self, inner: TimeStamper) -> None:
        super().__init__()
        self._inner = inner
        self.gen_time: datetime | None = None

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
        token = await self._inner.async_timestamp(message_digest, md_algorithm)
        if self.gen_time is None:
            self.gen_time = token_gen_time(token)
        return token

    async def async_dummy_response(self, md_algorithm: str) -> Any:
        return await self._inner.async_dummy_response(md_algorithm)

    async def async_request_tsa_response(self, req: Any) -> Any:
        return await self._inner.async_request_tsa_response(req)

    async def validation_paths(self, validation_context: Any) -> Any:
        async for path in self._inner.validation_paths(validation_context):
            yield path


@dataclass(frozen=True)
class SignedFile:
    """A sealed document in a rewound temporary file (the caller closes it)."""

    file: BinaryIO
    #: genTime of the last seal's signature timestamp (None below B-T)
    timestamp_time: datetime | None


def _check_document(
    writer: IncrementalPdfFileWriter, seals: Sequence[SealApplication], request: SignRequest
) -> list[str | None]:
    """The existing field each seal fills (None: it makes its own); refuses what the
    document's signatures do not allow, before any work."""
    try:
        if request.certify and any(
            True for _ in fields.enumerate_sig_fields(writer, filled_status=True)
        ):
            raise RequestRefused(
                "only the first signature of a document can certify it", code="certify_not_first"
            )
        chosen = choose_fields(
            writer,
            [(s.kind, s.field) for s in seals],
            cross_page=[isinstance(s.placement, CrossPage) for s in seals],
        )
    except EsealError:
        raise
    except Exception as exc:  # form fields or pages that cannot be read
        raise InvalidPdf(f"the PDF's signature fields cannot be read: {short_text(exc)}") from None
    return [f.name if f is not None else None for f in chosen]


class DocumentSigner:
    """Signs documents; holds what is reused across documents (timestamper, revocation).

    A seal whose signer holds an SM2 key (:class:`signer.sm2_cms.Sm2CmsSigner`) is signed
    with SM3 as its digest, timestamped by the SM2 timestamper
    (:class:`signer.sm2_timestamp.Sm2TimeStamper`) and given the SM2 hierarchy's validation
    data at B-LT; every other seal as before.
    """

    #: whether a plain seal of our own key takes :mod:`signer.fast_seal` (False: every seal
    #: takes pyHanko's path, the reference the fast path is compared with)
    fast_path: bool = True

    def __init__(
        self,
        revocation: InternalRevocation,
        timestamper: TimeStamper | None,
        *,
        tsa_certificates: Sequence[Any] = (),
        sm2_timestamper: TimeStamper | None = None,
        sm2_tsa_certificates: Sequence[Any] = (),
    ) -> None:
        """``tsa_certificates``: the TSA's certificates, whose revocation data B-LT embeds;
        ``sm2_timestamper`` and ``sm2_tsa_certificates``: the same for SM2 seals (without an
        SM2 timestamper an SM2 seal is sealed at B-B only: ``tsa_unavailable`` above it)."""
        self._revocation = revocation
        self._timestamper = timestamper
        self._tsa_certs = list(tsa_certificates)
        self._sm2_timestamper = sm2_timestamper
        self._sm2_tsa_certs = list(sm2_tsa_certificates)

    def _require_timestamper(self, *, sm2: bool = False) -> TimeStamper:
        timestamper = self._sm2_timestamper if sm2 else self._timestamper
        if timestamper is None:
            what = "SM2 time-stamping authority" if sm2 else "time-stamping authority"
            raise TsaUnavailable(f"no {what} is configured")
        return timestamper

    async def sign(
        self, pdf: bytes, seals: Sequence[SealApplication], request: SignRequest
    ) -> bytes:
        """Apply ``seals`` in order, each as its own incremental signature."""
        signed = await self.sign_file(io.BytesIO(pdf), seals, request)
        with signed.file as out:
            return out.read()

    async def sign_file(
        self, src: BinaryIO, seals: Sequence[SealApplication], request: SignRequest
    ) -> SignedFile:
        """As :meth:`sign`, from a seekable binary file to a new temporary file.

        The result's file is rewound; the caller closes it.  Documents over :data:`SPOOL_BYTES` are
        sealed through temporary files, so memory does not grow with the document's size.
        """
        if not seals:
            raise RequestRefused("no seal to apply", code="no_seals")
        if request.reserve and not request.certify:
            raise RequestRefused(
                "fields are reserved by a certifying request only", code="reserve_needs_certify"
            )
        first = open_reader(src)
        # before any work: a certified document takes seals only in fields reserved for them
        fills = _check_document(first, seals, request)
        names = [
            fill or f"eseal-{seal.kind}-{secrets.token_hex(4)}"
            for seal, fill in zip(seals, fills, strict=True)
        ]
        # A certification (DocMDP P=2) lets later revisions fill and sign the fields that exist,
        # not add new ones: so every seal's field is made, empty, in the certifying revision.
        prepare = request.certify and len(seals) > 1
        current = src
        gen_time = None
        for index, seal in enumerate(seals):
            last = index == len(seals) - 1
            level = (
                request.level
                if last
                else min(request.level, PadesLevel.B_LT, key=lambda lv: lv.rank)
            )
            try:
                out, gen_time = await self._sign_one(
                    current,
                    seal,
                    request,
                    level,
                    certify=request.certify and index == 0,
                    name=names[index],
                    also_create=[
                        (n, s)
                        for n, s, f in zip(names[1:], seals[1:], fills[1:], strict=True)
                        if f is None
                    ]
                    if prepare and index == 0
                    else [],
                    exists=prepare and index > 0 and fills[index] is None,
                    fill=fills[index] is not None,
                    writer=first if index == 0 else None,
                )
            finally:
                if current is not src:
                    current.close()
            current = out
        current.seek(0)
        return SignedFile(current, gen_time)

    async def _sign_one(
        self,
        pdf: BinaryIO,
        seal: SealApplication,
        request: SignRequest,
        level: PadesLevel,
        *,
        certify: bool,
        name: str,
        also_create: Sequence[tuple[str, SealApplication]] = (),
        exists: bool = False,
        fill: bool = False,
        writer: IncrementalPdfFileWriter | None = None,
    ) -> tuple[BinaryIO, datetime | None]:
        if writer is None:
            writer = open_reader(pdf)
        fast = None  # the widget of a seal that takes the fast path (signer.fast_seal)
        try:
            if exists:
                stamp_style: Any = SealFieldStyle(field=None)  # the widget has its seal already
            elif fill:  # an empty field made earlier: the seal is drawn in its rectangle
                target = next(f for f in _signature_fields(writer) if f.name == name)
                show_seal(
                    writer, target, fill_box(writer, target, seal.appearance), seal.appearance
                )
                stamp_style = SealFieldStyle(field=None)
            else:
                widgets = resolve_in(
                    writer, seal.placement, seal.appearance.width, seal.appearance.height
                )
                if (
                    self.fast_path
                    and fast_seal.takes_fast_path(
                        seal.signer,
                        level,
                        certify=certify,
                        others=bool(also_create) or bool(request.reserve),
                        exists=exists,
                        fill=fill,
                    )
                    and fast_seal.fits(writer, pdf, widgets)
                ):
                    fast = widgets[0]
                else:
                    stamp_style = add_seal_field(
                        writer, name, widgets, seal.appearance, readable_name=seal.label
                    ).stamp_style
            for other_name, other in also_create:
                other_widgets = resolve_in(
                    writer, other.placement, other.appearance.width, other.appearance.height
                )
                if len(other_widgets) > 1:
                    raise RequestRefused(
                        "a certified document cannot get a cross-page seal after the "
                        "certifying one; apply the cross-page seal first or do not certify",
                        code="certify_cross_page",
                    )
                add_seal_field(
                    writer,
                    other_name,
                    other_widgets,
                    other.appearance,
                    readable_name=other.label,
                    defer_extra_widgets=False,
                )
            if certify:
                taken = {n for n, _, _ in fields.enumerate_sig_fields(writer)}
                for reservation in request.reserve:
                    taken.add(reserve_field(writer, reservation, taken))
        except EsealError:
            raise
        except Exception as exc:  # page tree, fields or boxes that cannot be read
            raise InvalidPdf(f"the PDF's structure cannot be used: {short_text(exc)}") from None
        sm2 = is_sm2_signer(seal.signer)
        timestamper = (
            _TimeRecorder(self._require_timestamper(sm2=sm2)) if level >= PadesLevel.B_T else None
        )
        if fast is not None:
            try:
                out = await fast_seal.seal_fast(
                    pdf,
                    writer,
                    signer=seal.signer,  # type: ignore[arg-type]  # checked by takes_fast_path
                    appearance=seal.appearance,
                    widget=fast,
                    name=name,
                    label=seal.label,
                    reason=request.reason,
                    location=request.location,
                    timestamper=timestamper,
                    signature_bytes=SIGNATURE_BYTES,
                )
            except EsealError:
                raise
            except Exception as exc:  # the document's objects, read while they are changed
                raise InvalidPdf(f"the PDF cannot be sealed: {short_text(exc)}") from None
            return out, timestamper.gen_time if timestamper is not None else None
        context = None
        if level >= PadesLevel.B_LT:
            await self._embed_earlier(writer)
            certs = [seal.signer.signing_cert, *seal.signer.cert_registry]
            certs += list(self._tsa_certificates(sm2=sm2))
            context = self._revocation.context([c for c in certs if c is not None])
        meta = PdfSignatureMetadata(
            field_name=name,
            # SM2 signs SM3 (GB/T 35275, GM/T 0009): the document digest, the signing
            # certificate's hash and the timestamp imprints are SM3 too
            md_algorithm="sm3" if sm2 else "sha256",
            subfilter=SigSeedSubFilter.PADES,
            reason=request.reason,
            location=request.location,
            certify=certify,
            docmdp_permissions=MDPPerm.FILL_FORMS,
            embed_validation_info=level >= PadesLevel.B_LT,
            use_pades_lta=level >= PadesLevel.B_LTA,
            validation_context=context,
        )
        pdf_signer = PdfSigner(
            meta, signer=seal.signer, timestamper=timestamper, stamp_style=stamp_style
        )
        out = _output_for(pdf)
        try:
            await _write_signed(pdf_signer, writer, out)
        except BaseException:
            out.close()
            raise
        return out, timestamper.gen_time if timestamper is not None else None

    async def _embed_earlier(self, writer: IncrementalPdfFileWriter) -> None:
        """Validation data for every signature already in the document that chains to our
        PKI (a long-term file needs all of them, not only the new seal's), written into the
        revision the new seal signs: its chain, its timestamps' chains, their OCSP responses
        and CRLs, as :mod:`signer.extension` embeds them (a seal revoked after its timestamp
        gets the seal CA's CRL).  A signature that cannot be given them (a foreign chain, a
        seal revoked without a timestamp that predates it) is left as it is: the new seal
        is not refused for it."""
        try:
            earlier = list(writer.prev.embedded_signatures)
        except Exception:  # unreadable signatures: the verifier reports them
            log.info("earlier signatures not read for their validation data", exc_info=True)
            return
        extender = self.extender
        for sig in earlier:
            try:
                context = extender.plan(sig, list[RevokedSeal]())
                paths = [await validation_path(sig.signed_data, context)]
                for signed in (False, True):
                    for token in extract_tst_data_iter(sig.signer_info, signed=signed):
                        paths.append(await validation_path(token, context))
                # no VRI entry: a signature sealed at B-LT has one already, and a changed
                # VRI entry is a suspicious modification to pyHanko's difference analysis
                DocumentSecurityStore.supply_dss_in_writer(
                    writer, None, paths=paths, validation_context=context
                )
            except Exception as exc:  # not ours, revoked without proof, unreadable
                log.info("no validation data for signature %r: %s", sig.field_name, short_text(exc))

    def _tsa_certificates(self, *, sm2: bool = False) -> list[Any]:
        return list(self._sm2_tsa_certs if sm2 else self._tsa_certs)

    @property
    def extender(self) -> Any:
        """Extension and B-LTA renewal (:class:`signer.extension.Extender`)."""
        return Extender(
            self._revocation,
            self._timestamper,
            tsa_certificates=self._tsa_certificates(),
            sm2_timestamper=self._sm2_timestamper,
            sm2_tsa_certificates=self._tsa_certificates(sm2=True),
        )

    async def extend(self, pdf: bytes, level: PadesLevel) -> bytes:
        """Add validation data (B-LT) and, for B-LTA, a document timestamp to a signed PDF
        (see :mod:`signer.extension`)."""
        result: bytes = await self.extender.extend(pdf, level)
        return result


async def _write_signed(
    pdf_signer: PdfSigner, writer: IncrementalPdfFileWriter, out: BinaryIO
) -> None:
    """pyHanko's signing, its failures translated into ours."""
    try:
        with fast_seal.signing_failures():
            await pdf_signer.async_sign_pdf(
                writer, existing_fields_only=True, bytes_reserved=SIGNATURE_BYTES, output=out
            )
    except EsealError:
        raise
    except (
        PdfError,
        RecursionError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        AssertionError,
        NotImplementedError,
        OverflowError,
        zlib.error,
    ) as exc:
        # pyHanko reads more of the document while it writes the update
        raise InvalidPdf(f"the PDF cannot be sealed: {short_text(exc)}") from None


def _output_for(source: BinaryIO) -> BinaryIO:
    """Where a sealed revision is written: memory for a document of up to :data:`SPOOL_BYTES`
    (pyHanko writes an update in hundreds of small writes, each of which a spooled temporary
    file checks), a spooled temporary file for a larger one."""
    position = source.tell()
    size = source.seek(0, io.SEEK_END)
    source.seek(position)
    return io.BytesIO() if size + (1 << 20) <= SPOOL_BYTES else spooled()


def reader_of(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf), strict=False)
