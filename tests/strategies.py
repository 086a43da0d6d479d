"""Hypothesis strategies for the identifiers the hub meets, shared by the test modules."""

from datetime import date

from hypothesis import strategies as st

from schemas.identifiers import luhn_ok, resident_id_check_char, uscc_check_char

regions = st.sampled_from(["110105", "310115", "440305", "650102", "820000"])
births = st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31))
serials = st.integers(min_value=0, max_value=999)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    body = f"{draw(regions)}{draw(births):%Y%m%d}{draw(serials):03d}"
    return body + resident_id_check_char(body)


@st.composite
def usccs(draw: st.DrawFn) -> str:
    body = (
        draw(st.sampled_from("159ANY"))
        + draw(st.sampled_from("123"))
        + f"{draw(st.integers(0, 999999)):06d}"
        + "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=9, max_size=9)))
    )
    return body + uscc_check_char(body)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    body = "".join(map(str, draw(st.lists(st.integers(0, 9), min_size=15, max_size=18))))
    body = str(draw(st.integers(1, 9))) + body[1:]
    return body + next(str(d) for d in range(10) if luhn_ok(body + str(d)))


mobiles = st.builds(
    lambda p, rest: f"1{p}{rest:09d}", st.sampled_from("3456789"), st.integers(0, 10**9 - 1)
)
