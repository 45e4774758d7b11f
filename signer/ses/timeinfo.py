"""GM/T 0031-2014's ``TBS_Sign.timeInfo``: a BIT STRING whose octets say when the signer signed.

The 2014 standard types it BIT STRING and leaves the octets' form open (GB/T 38540 later made it
a GeneralizedTime), so encoders differ.  Read as a time, and nothing else:

* an encoded UTCTime or GeneralizedTime (tag 0x17 or 0x18, its length, its text), or the text
  alone: ``YYMMDDhhmm[ss]`` (UTCTime, years 50-99 in the 1900s) or ``YYYYMMDDhhmmss[.f]``
  (GeneralizedTime), then ``Z``, ``+hhmm``/``-hhmm`` or nothing;
* ``YYYY-MM-DD hh:mm:ss[.f]`` (or with a ``T``), then ``Z``, ``+hh:mm``, ``+hhmm`` or nothing:
  what ofdrw's ``SESV1Container`` writes, from the signing machine's clock, with no zone.

**A time without a zone is read as China Standard Time (UTC+08:00)**: GM/T 0031 clients run on
machines set to it, and a signature refused for its clock's spelling would help no one.  The
reader says so (:func:`read_time_info`'s note), and the verification reports it.  Anything
else (a TimeStampToken, a binary time, text in another form) is not a time this module reads.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from asn1crypto import parser

__all__ = ["CHINA_STANDARD_TIME", "read_time_info"]

#: the zone a timeInfo without one is read in
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

_ZONE = r"(?P<zone>Z|[+-]\d{2}:?\d{2})?"
_FRACTION = r"(?P<fraction>[.,]\d{1,9})?"
_FORMS = (
    re.compile(
        r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[ T]"
        r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})" + _FRACTION + _ZONE
    ),
    re.compile(
        r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"
        r"(?P<hour>\d{2})(?P<minute>\d{2})(?P<second>\d{2})" + _FRACTION + _ZONE
    ),
    re.compile(
        r"(?P<year2>\d{2})(?P<month>\d{2})(?P<day>\d{2})"
        r"(?P<hour>\d{2})(?P<minute>\d{2})(?P<second>\d{2})?" + _ZONE
    ),
)
_TIME_TAGS = {0x17, 0x18}  # UTCTime, GeneralizedTime


def _text(octets: bytes) -> str:
    if octets[:1] and octets[0] in _TIME_TAGS:
        try:
            class_, method, tag, _, contents, _ = parser.parse(octets, strict=True)
        except ValueError:
            pass
        else:
            if class_ == 0 and method == 0 and tag in (23, 24):
                octets = contents
    try:
        return octets.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError("timeInfo is neither an encoded time nor ASCII text") from exc


def _zone(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    if offset >= timedelta(hours=24):
        raise ValueError(f"timeInfo's zone {text} is not an offset")
    return timezone(-offset if text[0] == "-" else offset)


def read_time_info(octets: bytes) -> tuple[datetime, str | None]:
    """The signing time a v1 ``timeInfo`` holds, in UTC, and a note for a person when a zone
    was assumed (None otherwise).  :class:`ValueError` when it is not a time read here."""
    text = _text(bytes(octets))
    for form in _FORMS:
        found = form.fullmatch(text)
        if found is None:
            continue
        parts = found.groupdict()
        if parts.get("year2") is not None:
            short = int(parts["year2"])
            year = short + (1900 if short >= 50 else 2000)
        else:
            year = int(parts["year"])
        fraction = (parts.get("fraction") or ".0")[1:]
        try:
            zone = _zone(parts["zone"])
            when = datetime(
                year,
                int(parts["month"]),
                int(parts["day"]),
                int(parts["hour"]),
                int(parts["minute"]),
                int(parts["second"] or 0),
                int(fraction[:6].ljust(6, "0")),
                tzinfo=zone or CHINA_STANDARD_TIME,
            )
        except ValueError as exc:
            raise ValueError(f"timeInfo {text!r} is not a date and time ({exc})") from exc
        note = None
        if zone is None:
            note = f"timeInfo {text!r} has no zone: read as China Standard Time (UTC+08:00)"
        return when.astimezone(UTC), note
    raise ValueError(
        f"timeInfo {text[:40]!r} is not a time eseal reads (an encoded UTCTime or "
        "GeneralizedTime, their text, or YYYY-MM-DD hh:mm:ss)"
    )
