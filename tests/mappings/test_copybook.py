from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.copybook import CopybookError, decode_packed, parse_copybook
from mappings.lnrepay import COPYBOOK, layouts
from tests.mappings.ebcdic import packed


def test_the_committed_copybook_gives_fixed_length_records_as_the_catalogue_says():
    lay = layouts()
    assert {n: layout.length for n, layout in lay.items()} == {
        "LNREPAY-HEADER": 87,
        "LNREPAY-DETAIL": 87,
        "LNREPAY-TRAILER": 87,
    }
    detail = lay["LNREPAY-DETAIL"]
    assert (detail["DTL-PRINCIPAL-DUE"].offset, detail["DTL-PRINCIPAL-DUE"].length) == (44, 8)
    assert (detail["DTL-DAYS-PAST-DUE"].offset, detail["DTL-DAYS-PAST-DUE"].length) == (84, 2)
    assert lay["LNREPAY-TRAILER"]["TRL-HASH-TOTAL"].length == 9
    assert COPYBOOK.name == "LNREPAY.cpy"


def test_an_unknown_clause_is_refused_not_guessed():
    with pytest.raises(CopybookError, match="not supported"):
        parse_copybook("       01  R.\n           05  F  PIC S9(4) COMP-1.\n")


def _decode_one(raw: bytes, scale: int = 2):
    values, signs, bad = decode_packed(np.frombuffer(raw, dtype=np.uint8).reshape(1, -1), scale)
    return int(values[0]), int(signs[0]), bool(bad[0])


@given(st.integers(min_value=1, max_value=18), st.data())
def test_packed_decimals_round_trip_for_every_width_and_sign(digits, data):
    value = data.draw(st.integers(min_value=-(10**digits) + 1, max_value=10**digits - 1))
    sign = data.draw(st.sampled_from([None, 0xF])) if value >= 0 else None
    decoded, nibble, bad = _decode_one(packed(value, digits, sign))
    assert not bad
    assert decoded == value
    assert nibble == (0xD if value < 0 else sign or 0xC)


def test_negative_zero_and_the_largest_values():
    assert _decode_one(packed(0, 15, 0xD))[:1] == (0,)  # -0 is zero
    assert _decode_one(packed(10**15 - 1, 15))[0] == 10**15 - 1  # S9(13)V99 at its maximum
    assert _decode_one(packed(-(10**17) + 1, 17))[0] == -(10**17) + 1  # S9(15)V99


@pytest.mark.parametrize("raw", [b"\x12\x3a", b"\x1a\x3c", b"\x12\x3b", b"\x12\x30"])
def test_a_bad_digit_or_sign_nibble_is_flagged(raw):
    assert _decode_one(raw)[2]


def test_money_is_exact():
    value, _, _ = _decode_one(packed(999999999999999, 15))
    assert Decimal(value).scaleb(-2) == Decimal("9999999999999.99")
