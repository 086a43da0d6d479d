from decimal import Decimal

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from contracts import LNREPAY_COPYBOOK
from contracts.copybook import CopybookError, parse_copybook, read_copybook
from mappings.copybook import decode_packed, decode_records
from mappings.lnrepay import COPYBOOK, layouts
from tests.mappings.ebcdic import packed

# every character of code page 037 that is not a control character (bytes 0x40..0xFF)
_PRINTABLE = [bytes([b]).decode("cp037") for b in range(0x40, 0x100)]


def test_the_decoder_reads_the_contracts_layout():
    """One reading of the copybook: the hub decodes with exactly the contract's layout (its
    sizes and offsets are tested in tests/contracts)."""
    assert layouts() == read_copybook(LNREPAY_COPYBOOK)
    assert COPYBOOK == LNREPAY_COPYBOOK


def test_a_field_the_decoder_cannot_read_is_refused_not_misread():
    layout = parse_copybook("       01  R.\n           05  N  PIC S9(3).\n")["R"]
    with pytest.raises(CopybookError, match="signed zoned"):
        decode_records(np.full((1, 3), 0xF1, dtype=np.uint8), layout)


@given(st.text(alphabet=st.sampled_from(_PRINTABLE), max_size=20), st.integers(0, 10))
@example("LN\xa0", 2)  # X'41', a no-break space: text, not padding
def test_ebcdic_text_decodes_to_what_was_written_right_spaces_stripped(text, pad):
    width = len(text) + pad
    layout = parse_copybook(f"       01  R.\n           05  T  PIC X({max(width, 1)}).\n")["R"]
    raw = text.ljust(layout.length).encode("cp037")
    decoded = decode_records(np.frombuffer(raw, dtype=np.uint8).reshape(1, -1), layout)
    assert decoded.values["T"][0] == text.rstrip(" ")


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
