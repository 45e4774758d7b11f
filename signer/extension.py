"""Extension (B-LT, B-LTA) and B-LTA renewal of signed PDFs, also after a seal was revoked.

Long-term validation (ETSI EN 319 102-1, PAdES) judges a signature at the time its proof of
existence shows: a signature timestamp made before a seal was revoked (re-issued, the license
cancelled or revoked) keeps the signature valid.  So extension validates each seal's
certificate path *at the time of its signature timestamp* and embeds the revocation data as
it is *now*: for a seal revoked since, the seal CA's CRL listing it, with a revocation time
after the timestamp (see :meth:`Extender._context` for why a CRL and CA-signed OCSP).
A validator finds the revocation, sees that the timestamp predates it, and reports
the signature valid with the revocation shown.

* A seal signature without a timestamp (B-B) has no proof of existence: if its seal is revoked
  now it cannot be extended (``extend_refused``, nothing written).  If the revocation came
  before the signature timestamp, neither can it.
* Renewal of a B-LTA document (:meth:`Extender.renew`) is a new document timestamp over the
  file, after the validation data of the last timestamp's chain is added to the DSS; the seals'
  status plays no part in it.  It must happen before the last timestamp's certificate expires
  (:func:`last_timestamp`).

Everything runs at the time of the revocation source's clock (a simulated one in tests), with
no fetching: the revocation data comes from our own PKI in-process.

SM2-sealed files get the same, from the SM2 hierarchy: the SM2 responder's answers (signed by
the SM2 seal CA), the SM2 CRLs, and SM2 document timestamps (SM3 imprint, the SM2 TSA; see
:meth:`Extender._stamps_with_sm2` for why).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import cms
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import DocumentSecurityStore, EmbeddedPdfSignature
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.path import ValidationPath

from keystore import sm2 as sm2_keys
from keystore.errors import EsealError
from keystore.tsa import TsaUnavailable

from .errors import ExtendRefused, RequestRefused
from .levels import PadesLevel
from .pdf_io import open_reader, short_text
from .revocation import InternalRevocation
from .sm2_cms import SIGNATURE_VALIDATOR, is_sm2_mechanism

__all__ = ["Extender", "LastTimestamp", "RevokedSeal", "last_timestamp"]


@dataclass(frozen=True)
class LastTimestamp:
    """The newest timestamp of a document: the one a renewal has to outrun."""

    #: genTime of the token
    time: datetime
    #: notAfter of the TSA certificate that signed it: renew before this
    expires: datetime
    #: the TSA's subject, human readable
    tsa: str
    #: True for a document timestamp (B-LTA), False for a signature timestamp
    document: bool


@dataclass(frozen=True)
class RevokedSeal:
    """A revocation found while extending (shown to the caller, embedded in the file)."""

    field: str
    serial: int
    revoked_at: datetime
    reason: str | None
    #: the signature timestamp that proves the seal signed before that
    signed_before: datetime


def _token_of(sig: EmbeddedPdfSignature) -> cms.ContentInfo | None:
    """The signature timestamp token of a seal signature, or None (B-B)."""
    try:
        attrs = sig.signer_info["unsigned_attrs"]
    except KeyError:
        return None
    if attrs.native is None:
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            token: cms.ContentInfo = attr["values"][0]
            return token
    return None


def _gen_time(signed_data: cms.SignedData) -> datetime:
    gen_time: datetime = signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    return gen_time


def _signer_cert(signed_data: cms.SignedData) -> asn1_x509.Certificate | None:
    sid = signed_data["signer_infos"][0]["sid"]
    for choice in signed_data["certificates"] or []:
        cert = choice.chosen
        if not isinstance(cert, asn1_x509.Certificate):
            continue
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.issuer == ias["issuer"] and cert.serial_number == ias["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def _signed_with_sm2(signed_data: cms.SignedData) -> bool:
    infos = signed_data["signer_infos"]
    return len(infos) > 0 and is_sm2_mechanism(infos[0]["signature_algorithm"])


def _certs_of(signed_data: cms.SignedData) -> list[asn1_x509.Certificate]:
    return [
        c.chosen
        for c in signed_data["certificates"] or []
        if isinstance(c.chosen, asn1_x509.Certificate)
    ]


def last_timestamp(pdf: bytes) -> LastTimestamp | None:
    """The newest timestamp of ``pdf`` (document timestamp, else the last signature timestamp).

    ``invalid_pdf`` if the file cannot be read; None if it carries no timestamp at all.
    """
    reader = open_reader(pdf).prev
    return _last_timestamp(reader)


def _last_timestamp(reader: PdfFileReader) -> LastTimestamp | None:
    stamps = reader.embedded_timestamp_signatures
    if stamps:
        signed = stamps[-1].signed_data
        document = True
    else:
        tokens = [t for t in (_token_of(s) for s in reader.embedded_regular_signatures) if t]
        if not tokens:
            return None
        signed = tokens[-1]["content"]
        document = False
    cert = _signer_cert(signed)
    if cert is None:
        return None
    return LastTimestamp(
        _gen_time(signed), cert.not_valid_after, cert.subject.human_friendly, document
    )


async def validation_path(
    signed_data: cms.SignedData, context: ValidationContext
) -> ValidationPath:
    info = extract_certificate_info(signed_data)
    validator = CertificateValidator(
        info.signer_cert, intermediate_certs=info.other_certs, validation_context=context
    )
    path: ValidationPath = await validator.async_validate_usage(key_usage=set())
    return path


class Extender:
    """Adds validation data and document timestamps; holds no per-document state."""

    def __init__(
        self,
        revocation: InternalRevocation,
        timestamper: TimeStamper | None,
        *,
        tsa_certificates: Sequence[asn1_x509.Certificate] = (),
        sm2_timestamper: TimeStamper | None = None,
        sm2_tsa_certificates: Sequence[asn1_x509.Certificate] = (),
    ) -> None:
        """``tsa_certificates``: the current TSA's certificate(s), whose validation data the
        new document timestamp carries; ``sm2_timestamper`` and ``sm2_tsa_certificates``: the
        same for SM2 document timestamps (see :meth:`_stamps_with_sm2`)."""
        self._revocation = revocation
        self._timestamper = timestamper
        self._tsa_certs = list(tsa_certificates)
        self._sm2_timestamper = sm2_timestamper
        self._sm2_tsa_certs = list(sm2_tsa_certificates)

    # -- validation contexts ----------------------------------------------------------------

    def _context(
        self,
        certs: Sequence[asn1_x509.Certificate],
        moment: datetime | None,
        *,
        revoked_seal: asn1_x509.Certificate | None = None,
        sm2_stamp: bool = False,
    ) -> ValidationContext:
        """Hard-fail, no fetching, our trust anchors, current revocation data for ``certs``.

        ``moment``: validate as of that time (a proof of existence); the revocation data is
        made now, so it is taken as valid retroactively (it is newer than the moment).

        What is embedded is shaped by how EN 319 102-1 validators (pyHanko's AdES validation,
        eseal's verifier) work back in time:

        * OCSP responses are signed by the seal CA itself, not by the responder certificate.
          After a responder rotation a response for an older certificate (a retired TSA's)
          would carry a responder certificate that no earlier document timestamp covers, and
          pyHanko's time slide stops at that certificate (InsufficientPOEError) instead of
          passing the response by; the seal CA's certificate is in the DSS from the start.
        * ``revoked_seal`` (a seal revoked after ``moment``): its status is the seal CA's
          complete CRL, not an OCSP response.  A past validation slides its control time to
          the revocation time; pyHanko reads a CRL entry as revoked only strictly before the
          control time but an OCSP "revoked" at or before it, so the OCSP response would make
          the seal count as revoked at the very instant the proof is measured against.  The
          CRL also passes pyHanko's point-in-time check at ``moment`` (hard-fail), which a
          "revoked" OCSP response does not.

        The data comes from the hierarchy the certificates belong to (ECDSA/RSA, SM2, or
        both): an ECDSA-sealed file gets exactly what it got before SM2, an SM2-sealed one the
        SM2 responder's answers (signed by the SM2 seal CA) and the SM2 CRLs.  ``sm2_stamp``:
        a new SM2 document timestamp follows, so the SM2 TSA's certificates are covered.
        """
        revocation = self._revocation
        ecdsa, sm2 = revocation.hierarchies(certs, sm2=sm2_stamp)
        tsa = [*(self._tsa_certs if ecdsa else []), *(self._sm2_tsa_certs if sm2 else [])]
        seen: set[bytes] = set()
        ocsps = []
        for cert in [*certs, *tsa]:
            key = cert.issuer_serial
            if not revocation.issued_by_us(cert) or key in seen:
                continue
            seen.add(key)
            if revoked_seal is not None and key == revoked_seal.issuer_serial:
                continue
            ocsps.append(revocation.ocsp_for(cert, by_ca=True))
        crls = [revocation.root_crl()] if ecdsa else []
        if sm2 and revocation.sm2 is not None:
            crls.append(revocation.sm2.root_crl())
        if revoked_seal is not None:
            if revocation.sm2 is not None and revocation.is_sm2(revoked_seal):
                crls.append(revocation.sm2.issuing_crl())
            else:
                crls.append(revocation.issuing_crl())
        kwargs: dict[str, Any] = {
            "trust_roots": revocation.roots(),
            "other_certs": [*revocation.intermediates(), *certs],
            "ocsps": ocsps,
            "crls": crls,
            "allow_fetching": False,
            "revocation_mode": "hard-fail",
            # SM2 certificates, CRLs, OCSP answers and tokens (signer/sm2_cms.py)
            "signature_validator": SIGNATURE_VALIDATOR,
        }
        if moment is None:
            kwargs["moment"] = revocation.now()
        else:
            kwargs.update(moment=moment, best_signature_time=moment, retroactive_revinfo=True)
        return ValidationContext(**kwargs)

    def _revoked(self, cert: asn1_x509.Certificate) -> tuple[datetime, str | None] | None:
        """(revocation time, reason) if our responder (ECDSA/RSA or SM2) says ``cert`` is
        revoked now."""
        if not self._revocation.issued_by_us(cert):
            return None
        response = self._revocation.ocsp_for(cert)
        if response["response_status"].native != "successful":
            return None
        basic: asn1_ocsp.BasicOCSPResponse = response["response_bytes"]["response"].parsed
        for single in basic["tbs_response_data"]["responses"]:
            if single["cert_id"]["serial_number"].native != cert.serial_number:
                continue
            status = single["cert_status"]
            if status.name == "revoked":
                info = status.chosen
                reason = info["revocation_reason"].native
                return info["revocation_time"].native, reason
        return None

    def _require_timestamper(self, *, sm2: bool = False) -> TimeStamper:
        timestamper = self._sm2_timestamper if sm2 else self._timestamper
        if timestamper is None:
            what = "SM2 time-stamping authority" if sm2 else "time-stamping authority"
            raise TsaUnavailable(f"no {what} is configured")
        return timestamper

    @staticmethod
    def _stamps_with_sm2(reader: PdfFileReader) -> bool:
        """Whether the next document timestamp of a file is SM2 (an SM3 imprint, signed by
        the SM2 TSA).

        A renewal continues the archive chain in the algorithm of its last document
        timestamp; the first document timestamp follows the newest seal signature.  So an
        SM2-sealed file is protected, and validated, within the SM2 hierarchy alone: a
        relying party that checks the seal with the national algorithms (as Chinese rules
        ask) needs no ECDSA anchor or revocation data for its proofs of existence, and
        nothing is lost for the other readers, which cannot check the SM2 seal anyway.
        An ECDSA-sealed file keeps ECDSA document timestamps, as before.
        """
        stamps = reader.embedded_timestamp_signatures
        if stamps:
            return _signed_with_sm2(stamps[-1].signed_data)
        seals = sorted(reader.embedded_regular_signatures, key=lambda s: s.signed_revision)
        return bool(seals) and _signed_with_sm2(seals[-1].signed_data)

    # -- extension --------------------------------------------------------------------------

    async def extend(self, pdf: bytes, level: PadesLevel) -> bytes:
        """Add validation data (B-LT) and, for B-LTA, a document timestamp to a signed PDF."""
        out, _ = await self.extend_reporting(pdf, level)
        return out

    async def extend_reporting(
        self, pdf: bytes, level: PadesLevel
    ) -> tuple[bytes, list[RevokedSeal]]:
        """As :meth:`extend`, with the revocations found (and embedded) along the way."""
        if level < PadesLevel.B_LT:
            raise RequestRefused(
                "a signed document can be extended to B-LT or B-LTA only", code="invalid_level"
            )
        reader = open_reader(pdf).prev
        sigs = reader.embedded_signatures
        if not sigs:
            raise RequestRefused("the document has no signature to extend", code="no_signatures")
        plans: list[tuple[str, ValidationContext]] = []
        revoked: list[RevokedSeal] = []
        for sig in sigs:
            plans.append((sig.field_name, self.plan(sig, revoked)))
        try:
            data = pdf
            for name, context in plans:
                current = open_reader(data).prev
                sig = next(s for s in current.embedded_signatures if s.field_name == name)
                paths = [await validation_path(sig.signed_data, context)]
                for signed in (False, True):
                    for token in extract_tst_data_iter(sig.signer_info, signed=signed):
                        paths.append(await validation_path(token, context))
                writer = IncrementalPdfFileWriter.from_reader(current)
                # everything the context holds is embedded: the responses and CRLs for
                # these paths (see _context)
                DocumentSecurityStore.supply_dss_in_writer(
                    writer,
                    sig.pkcs7_content.hex().encode("ascii"),
                    paths=paths,
                    validation_context=context,
                )
                out = io.BytesIO()
                writer.write(out)
                data = out.getvalue()
            if level < PadesLevel.B_LTA:
                return data, revoked
            return await self._archive_timestamp(data), revoked
        except EsealError:
            raise
        except TimestampRequestError as exc:
            raise TsaUnavailable(
                f"the time-stamping authority did not answer: {short_text(exc)}"
            ) from None
        except (PdfError, ValueError, KeyError) as exc:
            raise ExtendRefused(f"the document cannot be extended: {short_text(exc)}") from None
        except Exception as exc:  # pyHanko's validation errors (e.g. a path that fails)
            if type(exc).__module__.startswith(("pyhanko", "pyhanko_certvalidator")):
                raise ExtendRefused(
                    f"the signatures cannot be extended: {type(exc).__name__}: {short_text(exc)}"
                ) from None
            raise

    def plan(self, sig: EmbeddedPdfSignature, revoked: list[RevokedSeal]) -> ValidationContext:
        """The context one signature and its timestamps are validated with (what it holds is
        embedded); refuses revoked seals without a timestamp that predates the revocation."""
        if sig.sig_object_type == "/DocTimeStamp":
            signed = sig.signed_data
            return self._context(_certs_of(signed), _gen_time(signed))
        cert = sig.signer_cert
        certs = [cert, *sig.other_embedded_certs]
        token = _token_of(sig)
        signed_at = _gen_time(token["content"]) if token is not None else None
        if token is not None:
            certs += _certs_of(token["content"])
        found = self._revoked(cert)
        if found is not None:
            revoked_at, reason = found
            why = f" ({reason})" if reason else ""
            if signed_at is None:
                raise ExtendRefused(
                    f"the seal of signature {sig.field_name!r} (certificate "
                    f"{cert.serial_number:x}) was revoked{why} at {revoked_at.isoformat()}, "
                    "and the signature has no timestamp that proves it was made before: "
                    "it cannot be extended",
                    code="extend_refused",
                )
            if revoked_at <= signed_at:
                raise ExtendRefused(
                    f"the seal of signature {sig.field_name!r} (certificate "
                    f"{cert.serial_number:x}) was revoked{why} at {revoked_at.isoformat()}, "
                    f"before its timestamp ({signed_at.isoformat()}): it cannot be extended",
                    code="extend_refused",
                )
            revoked.append(
                RevokedSeal(sig.field_name, cert.serial_number, revoked_at, reason, signed_at)
            )
        return self._context(certs, signed_at, revoked_seal=cert if found is not None else None)

    # -- renewal ----------------------------------------------------------------------------

    async def renew(self, pdf: bytes) -> bytes:
        """A new document timestamp over a B-LTA file, after the validation data of its last
        timestamp's chain; the seals' status is not consulted.

        ``not_lta`` if the file has no document timestamp (extend it instead);
        ``extend_refused`` if the last timestamp no longer validates (its certificate expired
        or was revoked: renewal came too late).
        """
        reader = open_reader(pdf).prev
        stamps = reader.embedded_timestamp_signatures
        if not stamps:
            raise RequestRefused(
                "the document has no document timestamp (it is not B-LTA); "
                "extend it to B-LTA instead",
                code="not_lta",
            )
        last = _last_timestamp(reader)
        now = self._revocation.now()
        if last is not None and last.expires <= now:
            raise ExtendRefused(
                f"the last document timestamp's certificate ({last.tsa}) expired on "
                f"{last.expires.isoformat()}; the archive timestamp chain can no longer be "
                "renewed",
                code="extend_refused",
            )
        try:
            return await self._archive_timestamp(pdf)
        except EsealError:
            raise
        except TimestampRequestError as exc:
            raise TsaUnavailable(
                f"the time-stamping authority did not answer: {short_text(exc)}"
            ) from None
        except (PdfError, ValueError, KeyError) as exc:
            raise ExtendRefused(f"the document cannot be renewed: {short_text(exc)}") from None
        except Exception as exc:
            if type(exc).__module__.startswith(("pyhanko", "pyhanko_certvalidator")):
                raise ExtendRefused(
                    f"the document cannot be renewed: {type(exc).__name__}: {short_text(exc)}"
                ) from None
            raise

    async def _archive_timestamp(self, pdf: bytes) -> bytes:
        """Validation data for the last document timestamp (validated now), then a new one."""
        reader = open_reader(pdf).prev
        stamps = reader.embedded_timestamp_signatures
        certs: list[asn1_x509.Certificate] = []
        if stamps:
            certs = _certs_of(stamps[-1].signed_data)
        sm2 = self._stamps_with_sm2(reader)
        context = self._context(certs, None, sm2_stamp=sm2)
        out = io.BytesIO()
        stamper = PdfTimeStamper(self._require_timestamper(sm2=sm2))
        # a renewal keeps the digest of the last document timestamp (pyHanko); the first one
        # over an SM2-sealed file is SM3
        await stamper.async_update_archival_timestamp_chain(
            reader,
            context,
            in_place=False,
            output=out,
            default_md_algorithm=sm2_keys.NAME_SM3 if sm2 else "sha256",
        )
        # the new timestamp's own validation data, so that the file validates offline now
        # (an LTA update after it; the next renewal would add it anyway)
        stamped = open_reader(out.getvalue()).prev
        newest = stamped.embedded_timestamp_signatures[-1]
        fresh = self._context(_certs_of(newest.signed_data), None)
        path = await validation_path(newest.signed_data, fresh)
        writer = IncrementalPdfFileWriter.from_reader(stamped)
        DocumentSecurityStore.supply_dss_in_writer(
            writer,
            newest.pkcs7_content.hex().encode("ascii"),
            paths=[path],
            validation_context=fresh,
        )
        final = io.BytesIO()
        writer.write(final)
        return final.getvalue()
