"""The five seals (一套五枚电子印章) issued with every electronic business license."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import UnknownSealKind

__all__ = ["SealKind", "SealShape", "parse_kind"]


class SealShape(enum.Enum):
    CIRCLE = "circle"
    OVAL = "oval"
    SQUARE = "square"


@dataclass(frozen=True)
class _KindInfo:
    label: str
    shape: SealShape
    #: width and height of the physical seal in millimetres
    width_mm: float
    height_mm: float
    #: text set horizontally at the bottom (circle seals) or below the USCC (invoice)
    bottom_text: str | None


class SealKind(enum.Enum):
    """A seal kind; ``value`` is the id used in the API and CLI."""

    OFFICIAL = "official"  #: 企业法定名称章
    CONTRACT = "contract"  #: 合同专用章
    FINANCE = "finance"  #: 财务专用章
    INVOICE = "invoice"  #: 发票专用章
    LEGAL_REP = "legal_rep"  #: 法定代表人章

    @property
    def info(self) -> _KindInfo:
        return _INFO[self]

    @property
    def label(self) -> str:
        """The Chinese name of the seal, as it appears in the certificate's ``title``."""
        return _INFO[self].label


_INFO: dict[SealKind, _KindInfo] = {
    SealKind.OFFICIAL: _KindInfo("企业法定名称章", SealShape.CIRCLE, 40, 40, None),
    SealKind.CONTRACT: _KindInfo("合同专用章", SealShape.CIRCLE, 40, 40, "合同专用章"),
    SealKind.FINANCE: _KindInfo("财务专用章", SealShape.CIRCLE, 38, 38, "财务专用章"),
    SealKind.INVOICE: _KindInfo("发票专用章", SealShape.OVAL, 40, 30, "发票专用章"),
    SealKind.LEGAL_REP: _KindInfo("法定代表人章", SealShape.SQUARE, 20, 20, None),
}


def parse_kind(value: str) -> SealKind:
    try:
        return SealKind(value)
    except ValueError:
        known = ", ".join(k.value for k in SealKind)
        raise UnknownSealKind(f"unknown seal kind {value!r}; known kinds: {known}") from None
