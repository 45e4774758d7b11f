"""When a signature was made, and validation at a time a later timestamp proves.

Times.  A timestamp proves the signature existed at ``genTime`` within the token's accuracy;
eseal's TSA truncates to whole seconds and says ±1 s, and a claimed CMS ``signingTime`` has
whole seconds too.  The instant used for "at signing" is therefore the *latest* one the time
allows (``genTime + accuracy``, or the end of the named second): a revocation or license
change inside that window counts as before the signature, which is the safe side for
revocation and cancellation, and keeps a seal used within a second of its registration valid.

Past validation (EN 319 102-1).  The newest document timestamp is validated at the present;
each older one that does not validate there is validated at the time the next valid one
proves (:func:`prove`).  A seal not trusted at the present is validated at its best signature
time (:func:`validate_seal`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import SignatureCoverageLevel

from seals.policy import SigningTime
from seals.vocab import TimeSource

from .own_updates import OWN_UPDATES_POLICY
from .trust import Contexts

__all__ = ["Proofs", "prove", "signing_time", "usable", "validate_seal"]

log = logging.getLogger(__name__)

#: a claimed signing time or a genTime without a fraction names a whole second
_ONE_SECOND = timedelta(seconds=1)


@dataclass
class Proofs:
    """What the document timestamps prove (see :func:`prove`)."""

    #: revision of a document timestamp -> (its status, the time it was validated at or None)
    stamps: dict[int, tuple[Any, datetime | None]]
    #: (revision, genTime) of the valid chain, newest first
    chain: list[tuple[int, datetime]]

    def after(self, revision: int) -> datetime | None:
        """The earliest time a valid document timestamp after ``revision`` proves."""
        times = [t for r, t in self.chain if r > revision]
        return min(times) if times else None


def usable(status: Any) -> bool:
    """Intact, the signature value verifies and the whole revision is covered."""
    return bool(
        status.intact
        and status.valid
        and status.coverage
        in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION)
    )


def timestamp_ok(ts: Any) -> bool:
    """A signature timestamp's status that validates: intact, verifies, trusted."""
    return bool(ts and ts.intact and ts.valid and ts.trusted)


async def prove(contexts: Contexts, reader: PdfFileReader, sigs: Sequence[Any]) -> Proofs:
    """The chain of document timestamps, newest first (EN 319 102-1 past validation).

    The newest is validated at the present.  Each older one that does not validate at
    the present (its TSA certificate expired, say) is validated at the time the next
    valid one proves it existed, on the embedded validation data, hard-fail.  A timestamp
    that validates neither way breaks the chain: older ones prove nothing.
    """
    proofs = Proofs({}, [])
    proven: datetime | None = None
    stamps = [s for s in sigs if s.sig_object_type == "/DocTimeStamp"]
    for sig in sorted(stamps, key=lambda s: s.signed_revision, reverse=True):
        try:
            status: Any = await async_validate_pdf_timestamp(sig, contexts.context(reader))
            at: datetime | None = None
            if usable(status) and not status.trusted and proven is not None:
                past = await async_validate_pdf_timestamp(sig, contexts.context(reader, proven))
                if past.trusted:
                    status, at = past, proven
        except Exception:  # the verifier validates it again and reports the failure
            log.info("document timestamp not validated", exc_info=True)
            proven = None
            continue
        proofs.stamps[sig.signed_revision] = (status, at)
        if usable(status) and status.trusted and status.timestamp is not None:
            proven = status.timestamp
            proofs.chain.append((sig.signed_revision, proven))
        else:
            proven = None
    return proofs


async def validate_seal(
    contexts: Contexts,
    reader: PdfFileReader,
    sig: EmbeddedPdfSignature,
    proof: datetime | None,
) -> tuple[Any, Any, datetime | None]:
    """(status, status at the present, the time the chain was validated at or None).

    A seal that is not trusted at the present (expired, or revoked since) is validated
    at its best signature time: its signature timestamp's genTime, the timestamp itself
    validated at ``proof`` (the time the first later document timestamp proves), or
    ``proof`` itself without a signature timestamp.  Revoked after that time is fine;
    the revocation is still shown from the status at the present.
    """
    context = contexts.context(reader)
    # the difference analysis: pyHanko's, with a fast path for eseal's later seals
    now = await async_validate_pdf_signature(sig, context, context, diff_policy=OWN_UPDATES_POLICY)
    if not usable(now) or now.trusted:
        return now, now, None
    signed_at = _token_time(sig)
    moment = signed_at or proof
    if moment is None:
        return now, now, None
    ts_context = contexts.context(reader, proof) if proof is not None else context
    past = await async_validate_pdf_signature(
        sig, contexts.context(reader, moment), ts_context, diff_policy=OWN_UPDATES_POLICY
    )
    if signed_at is not None and not timestamp_ok(past.timestamp_validity):
        return now, now, None  # the timestamp proves nothing: the present decides
    if not past.trusted:
        return now, now, None
    return past, now, moment


def signing_time(status: Any, sig: EmbeddedPdfSignature) -> SigningTime:
    """The time that decides revocation and license at signing: the validated signature
    timestamp's, else the claimed one, each at the latest instant it allows."""
    ts = status.timestamp_validity
    if timestamp_ok(ts) and ts is not None:
        return SigningTime(_latest(ts.timestamp, _token_accuracy(sig)), TimeSource.TIMESTAMP)
    claimed = status.signer_reported_dt
    return SigningTime(_latest(claimed, None) if claimed else None, TimeSource.CLAIMED)


def _token_time(sig: EmbeddedPdfSignature) -> datetime | None:
    """genTime of the signature's timestamp token, if it has one."""
    try:
        for attr in sig.signer_info["unsigned_attrs"]:
            if attr["type"].native == "signature_time_stamp_token":
                tst = attr["values"][0]["content"]["encap_content_info"]["content"].parsed
                gen_time: datetime = tst["gen_time"].native
                return gen_time
    except Exception:  # no unsigned attributes or an odd token
        return None
    return None


def _token_accuracy(sig: EmbeddedPdfSignature) -> timedelta | None:
    """The accuracy stated in the signature's timestamp token, if any."""
    try:
        attrs = sig.signer_info["unsigned_attrs"]
        for attr in attrs:
            if attr["type"].native != "signature_time_stamp_token":
                continue
            token = attr["values"][0]
            tst = token["content"]["encap_content_info"]["content"].parsed
            acc = tst["accuracy"]
            if not acc:
                return None
            return timedelta(
                seconds=acc["seconds"].native or 0,
                milliseconds=acc["millis"].native or 0,
                microseconds=acc["micros"].native or 0,
            )
    except Exception:  # no token or an odd one: the bare genTime is used
        return None
    return None


def _latest(time: datetime, accuracy: timedelta | None) -> datetime:
    """The latest instant ``time`` allows: + accuracy, at least to the end of a whole second."""
    slack = accuracy or timedelta(0)
    if time.microsecond == 0:
        slack = max(slack, _ONE_SECOND)
    return time + slack
