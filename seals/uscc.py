"""统一社会信用代码 (Unified Social Credit Code), GB 32100-2015.

18 characters: registration authority (1), entity type (1), administrative division (6 digits),
organisation code (9), check character (1).  The check character is computed over the first 17
with weights ``3^(i-1) mod 31``.
"""

from __future__ import annotations

from .errors import InvalidUSCC

__all__ = ["CHARSET", "WEIGHTS", "check_character", "is_valid_uscc", "validate_uscc"]

#: The 31 characters of GB 32100-2015, each worth its index. I O S V Z never occur.
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: Weights for positions 1..17.
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_VALUE = {c: i for i, c in enumerate(CHARSET)}


def check_character(first17: str) -> str:
    """The check character for 17 code characters (which must be in :data:`CHARSET`)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def validate_uscc(value: object) -> str:
    """Return ``value`` if it is a valid USCC, else raise :class:`InvalidUSCC` naming the rule."""
    if not isinstance(value, str):
        raise InvalidUSCC("the USCC must be a string of 18 characters", rule="type")
    if len(value) != 18:
        raise InvalidUSCC(
            f"the USCC must have 18 characters, this one has {len(value)}", rule="length"
        )
    bad = sorted({c for c in value if c not in _VALUE})
    if bad:
        raise InvalidUSCC(
            "the USCC may only use 0-9 and the capital letters of GB 32100-2015 "
            f"(never I, O, S, V, Z); found {''.join(bad)!r}",
            rule="charset",
        )
    if not value[2:8].isdigit():
        raise InvalidUSCC(
            "positions 3 to 8 of the USCC (administrative division) must be digits", rule="division"
        )
    expected = check_character(value[:17])
    if value[17] != expected:
        raise InvalidUSCC(
            f"the USCC check character is {value[17]!r} but the first 17 characters give "
            f"{expected!r}",
            rule="check",
        )
    return value


def is_valid_uscc(value: object) -> bool:
    try:
        validate_uscc(value)
    except InvalidUSCC:
        return False
    return True
