"""USCC validation per GB 32100-2015, with the examples DESIGN.md gives."""

import pytest

from seals.errors import InvalidUSCC
from seals.uscc import CHARSET, WEIGHTS, check_character, is_valid_uscc, validate_uscc

VALID = ["91110000600037341L", "914403001922038216", "91110108551385082Q", "9144030071526726XG"]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_pass(code: str) -> None:
    assert validate_uscc(code) == code
    assert check_character(code[:17]) == code[17]


def test_weights_are_powers_of_three_mod_31() -> None:
    assert WEIGHTS[:6] == (1, 3, 9, 27, 19, 26)
    assert len(CHARSET) == 31 and not set("IOSVZ") & set(CHARSET)


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("91110000600037341N", "check"),
        ("9111000060003IOZSV", "charset"),
        ("91110000600037341", "length"),
        ("91110000600037341LL", "length"),
        ("91A10000600037341L", "division"),
        ("91110000600037341l", "charset"),
        (91110000600037341, "type"),
    ],
)
def test_each_rule_is_named(code: object, rule: str) -> None:
    with pytest.raises(InvalidUSCC) as info:
        validate_uscc(code)
    assert info.value.code == "invalid_uscc"
    assert info.value.rule == rule
    assert not is_valid_uscc(code)


def test_every_single_character_change_is_caught() -> None:
    """A check character catches any one wrong character (what it is there for)."""
    base = VALID[2]
    for i in range(17):
        for c in CHARSET:
            if c == base[i] or (2 <= i < 8 and not c.isdigit()):
                continue
            assert not is_valid_uscc(base[:i] + c + base[i + 1 :]), (i, c)
