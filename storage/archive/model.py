"""Records of the archive: what was archived, how to ask for it, what a listing returns."""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from ulid import ULID

from seals.kinds import SealKind
from seals.model import Seal
from seals.vocab import DocumentFormat, DocumentType, PadesLevel, values

from .errors import InvalidArchiveQuery

__all__ = [
    "CHINA_TIME",
    "DOCUMENT_TYPES",
    "EXTENSIONS",
    "FORMATS",
    "LEVELS",
    "MEDIA_TYPES",
    "NATIONAL_LEVELS",
    "ArchivePage",
    "ArchiveQuery",
    "ArchiveRecord",
    "ArchiveStatus",
    "Party",
    "PartyRole",
    "SealUse",
    "clean_original_name",
    "day_range",
    "export_stem",
    "format_of_key",
    "id_bounds",
    "is_archive_id",
    "levels_of",
    "media_type_of_key",
    "object_key",
    "parse_object_key",
]

#: the PAdES levels eseal produces (the values of ``signer.levels.PadesLevel``)
LEVELS = values(PadesLevel)
#: document types of a sealing request (the values of ``signer.service.DocumentType``)
DOCUMENT_TYPES = values(DocumentType)
#: formats of an archived file (the values of :class:`seals.vocab.DocumentFormat`)
FORMATS = values(DocumentFormat)
#: object keys are laid out by the month in China Standard Time (no DST since 1991)
CHINA_TIME = timezone(timedelta(hours=8), "CST")

#: the file name extension of each format, in object keys, downloads and exports.  ``.ses``
#: for a bare GB/T 38540 ``SES_Signature`` (DER): the standard names no extension for it
#: (inside an OFD it is ``SignedValue.dat``), and ``.ses`` says what the bytes are, unlike
#: ``.dat``, and is not confused with ``.esl`` (a seal, ``SESeal``) or ``.sig``/``.p7s`` (CMS)
EXTENSIONS: dict[DocumentFormat, str] = {
    DocumentFormat.PDF: "pdf",
    DocumentFormat.OFD: "ofd",
    DocumentFormat.SES: "ses",
}
#: the media type a download of each format is answered with; no media type is registered
#: for an ``SES_Signature``, so it goes as plain bytes
MEDIA_TYPES: dict[DocumentFormat, str] = {
    DocumentFormat.PDF: "application/pdf",
    DocumentFormat.OFD: "application/ofd",
    DocumentFormat.SES: "application/octet-stream",
}
#: the ``level`` an OFD or SES record may have.  The word list is PAdES's (one column, one
#: CHECK), and its first two words mean the same for a GB/T 38540 signature: ``B-B`` the
#: signature alone, ``B-T`` with its SM2 timestamp (``SES_Signature.timeStamp``).  ``B-LT``
#: and ``B-LTA`` need a PDF's DSS and document timestamps, which OFD and SES do not have
NATIONAL_LEVELS = (PadesLevel.B_B.value, PadesLevel.B_T.value)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ULID_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_KEY_RE = re.compile(  # a later version of a PDF is {id}.v{N}.pdf beside it
    r"([0-9A-HJ-NP-RTUWXY]{18})/(\d{4})/(\d{2})/([0-9A-HJKMNP-TV-Z]{26})"
    r"(?:(?:\.v[1-9]\d{0,5})?\.(pdf)|\.("
    + "|".join(EXTENSIONS[f] for f in DocumentFormat if f is not DocumentFormat.PDF)
    + "))"
)
_BY_EXTENSION = {ext: fmt for fmt, ext in EXTENSIONS.items()}


def levels_of(document_format: DocumentFormat) -> tuple[str, ...]:
    """The levels a record of this format may have: :data:`LEVELS` for a PDF,
    :data:`NATIONAL_LEVELS` for OFD and SES."""
    return LEVELS if document_format is DocumentFormat.PDF else NATIONAL_LEVELS


class ArchiveStatus(enum.Enum):
    """What the last ``archive check --repair`` found about a row's object."""

    OK = "ok"  #: stored, and as far as anyone checked, intact
    MISSING = "missing"  #: the object (or the recorded version of it) is gone
    CORRUPT = "corrupt"  #: the object's SHA-256 or size differs from the row


class PartyRole(enum.Enum):
    """How an enterprise takes part in an archived document."""

    SEALER = "sealer"  #: it sealed this version (it made the archived file)
    PARTY = "party"  #: the file carries a valid seal of it from before


@dataclass(frozen=True)
class Party:
    """An enterprise an archived document belongs to."""

    uscc: str
    role: PartyRole

    def to_json(self) -> dict[str, str]:
        return {"uscc": self.uscc, "role": self.role.value}


@dataclass(frozen=True)
class SealUse:
    """One seal applied to an archived document."""

    kind: SealKind
    #: the seal certificate's serial number
    serial: int

    @classmethod
    def of(cls, seal: Seal) -> SealUse:
        return cls(seal.kind, seal.serial)

    @classmethod
    def of_all(cls, seals: Iterable[Seal]) -> tuple[SealUse, ...]:
        return tuple(cls.of(s) for s in seals)

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "label": self.kind.label,
            "serial": format(self.serial, "x"),
        }


@dataclass(frozen=True)
class ArchiveRecord:
    """The metadata row of one archived sealed document."""

    #: ULID; its first 48 bits are ``created_at`` in milliseconds
    id: str
    #: the enterprise whose seals sealed it
    uscc: str
    #: the seals applied, in order (kind and certificate serial)
    seals: tuple[SealUse, ...]
    #: PAdES level, one of :data:`LEVELS`; for OFD and SES one of :data:`NATIONAL_LEVELS`
    level: str
    #: time of the signature timestamp (B-T and up), if any
    timestamp_time: datetime | None
    #: one of :data:`DOCUMENT_TYPES`
    document_type: str
    #: the caller's own reference (contract number, invoice number ...)
    reference: str | None
    #: hex SHA-256 of the archived file
    sha256: str
    size: int
    #: when it was archived (aware UTC, millisecond precision: the ULID's time)
    created_at: datetime
    #: where it lives in the store: ``{uscc}/{yyyy}/{mm}/{id}.{extension}``
    object_key: str
    #: the store's version id of the object, when the store versions objects
    version_id: str | None
    status: ArchiveStatus = ArchiveStatus.OK
    #: the uploaded file's name as cleaned by :func:`clean_original_name`, if it had one
    original_name: str | None = None
    #: the enterprises it belongs to: the sealer, then the parties (see :class:`PartyRole`);
    #: left empty, it is the sealer alone
    parties: tuple[Party, ...] = ()
    #: which version of the document the file fields (sha256, size, object_key, version_id,
    #: status, level) describe: 1 is the file as sealed, later ones renewals (migration 0006)
    version: int = 1
    #: what the file is: a sealed PDF, a sealed OFD, or one ``SES_Signature`` (migration 0010);
    #: only PDFs have later versions
    format: DocumentFormat = DocumentFormat.PDF

    def __post_init__(self) -> None:
        if not self.parties:
            object.__setattr__(self, "parties", (Party(self.uscc, PartyRole.SEALER),))

    def role_of(self, uscc: str | None) -> PartyRole | None:
        """The role of the enterprise ``uscc`` in this document; None if it has none."""
        for party in self.parties:
            if party.uscc == uscc:
                return party.role
        return PartyRole.SEALER if uscc is not None and uscc == self.uscc else None

    @property
    def extension(self) -> str:
        """The file name extension of its format, without the dot (:data:`EXTENSIONS`)."""
        return EXTENSIONS[self.format]

    @property
    def media_type(self) -> str:
        """The media type a download answers with (:data:`MEDIA_TYPES`)."""
        return MEDIA_TYPES[self.format]

    @property
    def export_name(self) -> str:
        """``{reference or original name}-{id}.{extension}``: the file's name in an export."""
        stem = export_stem(self.reference, self.original_name, self.extension)
        return f"{stem}-{self.id}.{self.extension}"

    @property
    def kinds(self) -> tuple[SealKind, ...]:
        """The seal kinds used, each once, in order of first use."""
        return tuple(dict.fromkeys(s.kind for s in self.seals))

    @property
    def filename(self) -> str:
        """``{id}.{extension}``"""
        return f"{self.id}.{self.extension}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uscc": self.uscc,
            "seals": [s.to_json() for s in self.seals],
            "level": self.level,
            "timestamp_time": _iso(self.timestamp_time),
            "document_type": self.document_type,
            "reference": self.reference,
            "sha256": self.sha256,
            "size": self.size,
            "created_at": _iso(self.created_at),
            "object_key": self.object_key,
            "version_id": self.version_id,
            "status": self.status.value,
            "original_name": self.original_name,
            "parties": [p.to_json() for p in self.parties],
            "version": self.version,
            "format": self.format.value,
        }


#: at most this many characters of an uploaded file's name are kept
ORIGINAL_NAME_CHARS = 200
#: characters that are not safe in a file name on some system (and path separators)
_UNSAFE_IN_NAME = re.compile(r'[\\/:*?"<>|]+')
#: characters of the name's stem kept in an export's file name
_STEM_CHARS = 80


def _printable(text: str) -> str:
    """``text`` without control, format, surrogate or unassigned characters (category C)."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))


def clean_original_name(name: str | None) -> str | None:
    """An uploaded file's name fit to keep: its last path component, without control
    characters, trimmed, at most :data:`ORIGINAL_NAME_CHARS` characters; None if nothing
    is left (or it is only dots)."""
    if name is None:
        return None
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[\\/]", name)[-1]
    name = " ".join(_printable(name).split())
    if not name.strip("."):
        return None
    if len(name) > ORIGINAL_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10 and stem:
            name = stem[: ORIGINAL_NAME_CHARS - len(ext) - 1] + "." + ext
        else:
            name = name[:ORIGINAL_NAME_CHARS]
    return name


def export_stem(reference: str | None, original_name: str | None, extension: str = "pdf") -> str:
    """The part of an exported file's name before ``-{id}.{extension}``: the reference, else
    the original name without ``.{extension}``, else ``document``; safe on every file system."""
    text = reference or ""
    if not text.strip() and original_name:
        text = re.sub(rf"\.{re.escape(extension)}$", "", original_name, flags=re.IGNORECASE)
    text = _UNSAFE_IN_NAME.sub("_", " ".join(_printable(text).split()))
    text = text.strip(" ._")[:_STEM_CHARS].rstrip(" .")
    return text or "document"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class ArchiveQuery:
    """A filter over the archive; every field narrows it, ``None`` means any."""

    uscc: str | None = None
    #: documents that carry at least one seal of this kind
    kind: SealKind | None = None
    document_type: str | None = None
    #: exact match on the caller's reference
    reference: str | None = None
    #: archived at or after (aware)
    created_from: datetime | None = None
    #: archived strictly before (aware)
    created_to: datetime | None = None
    status: ArchiveStatus | None = None
    #: documents this enterprise belongs to, as sealer or as party
    party: str | None = None
    #: with ``party``: only the documents where it has this role
    role: PartyRole | None = None
    #: only the records of this format (pdf, ofd, ses)
    format: DocumentFormat | None = None

    def __post_init__(self) -> None:
        if self.role is not None and self.party is None:
            raise InvalidArchiveQuery("a role filter needs the enterprise (party) it is of")
        if self.document_type is not None and self.document_type not in DOCUMENT_TYPES:
            raise InvalidArchiveQuery(f"document type must be one of {', '.join(DOCUMENT_TYPES)}")
        for name in ("created_from", "created_to"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise InvalidArchiveQuery(f"{name} must carry a time zone")

    def to_json(self) -> dict[str, Any]:
        return {
            "uscc": self.uscc,
            "kind": self.kind.value if self.kind else None,
            "document_type": self.document_type,
            "reference": self.reference,
            "from": _iso(self.created_from),
            "to": _iso(self.created_to),
            "status": self.status.value if self.status else None,
            "party": self.party,
            "role": self.role.value if self.role else None,
            "format": self.format.value if self.format else None,
        }


@dataclass(frozen=True)
class ArchivePage:
    """One page of a listing; pass ``next_cursor`` back for the next one (``None``: the end)."""

    records: list[ArchiveRecord] = field(default_factory=list)
    next_cursor: str | None = None


def is_archive_id(value: str) -> bool:
    return bool(_ULID_RE.fullmatch(value))


def object_key(
    uscc: str,
    archive_id: str,
    created_at: datetime,
    document_format: DocumentFormat = DocumentFormat.PDF,
) -> str:
    """``{uscc}/{yyyy}/{mm}/{id}.{extension}``, the month in China Standard Time."""
    local = created_at.astimezone(CHINA_TIME)
    return f"{uscc}/{local:%Y}/{local:%m}/{archive_id}.{EXTENSIONS[document_format]}"


def parse_object_key(key: str) -> str | None:
    """The archive id in ``key`` if it has eseal's layout, else ``None`` (a foreign object)."""
    match = _KEY_RE.fullmatch(key)
    return match.group(4) if match else None


def format_of_key(key: str) -> DocumentFormat | None:
    """The format an object key of eseal's layout names by its extension, else ``None``."""
    match = _KEY_RE.fullmatch(key)
    if match is None:
        return None
    return _BY_EXTENSION[match.group(5) or match.group(6)]


def _ulid_floor(moment: datetime) -> str:
    """The smallest ULID whose time is at or after ``moment`` (ULIDs count milliseconds)."""
    delta = moment - _EPOCH  # exact, unlike float timestamps
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    ms = min(max(-(-micros // 1000), 0), (1 << 48) - 1)
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + bytes(10)))


def id_bounds(
    created_from: datetime | None, created_to: datetime | None
) -> tuple[str | None, str | None]:
    """``(low, high)`` with ``low <= id < high`` exactly when ``from <= created_at < to``."""
    low = _ulid_floor(created_from) if created_from is not None else None
    high = _ulid_floor(created_to) if created_to is not None else None
    return low, high


def day_range(
    first: date | None, last: date | None, tz: tzinfo = CHINA_TIME
) -> tuple[datetime | None, datetime | None]:
    """``(created_from, created_to)`` covering whole days ``first`` to ``last`` in ``tz``.

    For ``--from DATE --to DATE``: both days included, China Standard Time by default.
    """
    start = datetime.combine(first, time(0), tz) if first is not None else None
    end = datetime.combine(last + timedelta(days=1), time(0), tz) if last is not None else None
    if start is not None and end is not None and end <= start:
        raise InvalidArchiveQuery("the end date is before the start date")
    return start, end


def media_type_of_key(key: str) -> str:
    """The media type of the object at ``key`` (by its extension; PDF's for a foreign key)."""
    return MEDIA_TYPES[format_of_key(key) or DocumentFormat.PDF]
