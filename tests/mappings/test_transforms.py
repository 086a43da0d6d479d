from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.transforms import (
    amount,
    date_compact,
    date_dotted,
    datetime_dotted_date,
    gb18030,
    month,
    status_24m,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,250,000.00", Decimal("1250000.00")),
        ("0.01", Decimal("0.01")),
        ("-12.50", Decimal("-12.50")),
        ("999", Decimal("999")),
    ],
)
def test_amounts_with_thousands_separators(text, value):
    assert amount(text) == value


@pytest.mark.parametrize("text", ["1,25,000.00", "12,50", "NaN", "Infinity", "1e5", "一百"])
def test_what_is_not_an_amount_is_refused(text):
    with pytest.raises(ValueError, match="amount"):
        amount(text)


def test_dates_in_the_legacy_formats():
    assert date_dotted("2026.11.20") == date(2026, 11, 20)
    assert date_compact("20261120") == date(2026, 11, 20)
    assert date_compact("00000000") is None
    assert month("202611") == date(2026, 11, 1)
    assert datetime_dotted_date("2026.11.24 09:15:00") == date(2026, 11, 24)
    with pytest.raises(ValueError, match="YYYYMMDD"):
        date_compact("20261131")


def test_the_24_month_string_becomes_one_fact_per_month():
    facts = status_24m("/" * 20 + "N12C", date(2026, 11, 20))
    assert len(facts) == 24
    assert facts[-1] == {"month": date(2026, 11, 1), "status_code": "C", "months_overdue": 0}
    assert facts[-2] == {"month": date(2026, 10, 1), "status_code": "2", "months_overdue": 2}
    assert facts[0]["month"] == date(2024, 12, 1)
    with pytest.raises(ValueError, match="24 codes"):
        status_24m("N" * 23 + "X", date(2026, 11, 20))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_gb18030_round_trips_every_unicode_text_including_four_byte_characters(text):
    assert gb18030(text.encode("gb18030")) == text


def test_four_byte_gb18030_characters_survive():
    name = "张𠀾"  # U+2003E, a 4-byte GB18030 sequence
    encoded = name.encode("gb18030")
    assert len(encoded) == 6
    assert gb18030(encoded) == name
    with pytest.raises(ValueError, match="GB18030"):
        gb18030(b"\x81")


@pytest.mark.parametrize(
    ("transform", "text"),
    [
        (date_compact, "2024111"),
        (month, "20241"),
        (date_dotted, "2024.1.5"),
        (amount, "１２３"),
        (amount, "١٢٣"),
    ],
)
def test_malformed_or_non_ascii_input_is_refused(transform, text):
    with pytest.raises(ValueError, match="not"):
        transform(text)
