from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.identifiers import (
    InvalidIdentifier,
    luhn_ok,
    resident_id_check_char,
    validate_resident_id,
    validate_uscc,
)
from tests.strategies import USCC_ALPHABET, resident_ids, usccs

# Published examples (GB 11643 and GB 32100 illustrations).
KNOWN_RESIDENT_IDS = ["11010519491231002X", "440524188001010014"]
KNOWN_USCCS = ["91350100M000100Y43"]


@pytest.mark.parametrize("rid", KNOWN_RESIDENT_IDS)
def test_published_resident_ids_have_their_check_character(rid: str) -> None:
    assert resident_id_check_char(rid[:17]) == rid[17]


def test_published_resident_id_is_valid() -> None:
    assert validate_resident_id("11010519491231002X") == "11010519491231002X"


@pytest.mark.parametrize("code", KNOWN_USCCS)
def test_published_usccs_are_valid(code: str) -> None:
    assert validate_uscc(code) == code


@given(resident_ids())
def test_generated_resident_ids_validate_and_lowercase_x_normalises(rid: str) -> None:
    assert validate_resident_id(rid.lower()) == rid


@given(resident_ids(), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_typo_in_the_body_is_caught(rid: str, pos: int, delta: int) -> None:
    typo = rid[:pos] + str((int(rid[pos]) + delta) % 10) + rid[pos + 1 :]
    with pytest.raises(InvalidIdentifier):
        validate_resident_id(typo)


@given(resident_ids())
def test_wrong_check_character_names_the_expected_one(rid: str) -> None:
    wrong = next(c for c in "0123456789X" if c != rid[17])
    with pytest.raises(InvalidIdentifier, match=f"expected '{rid[17]}'"):
        validate_resident_id(rid[:17] + wrong)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1101051949123100", "18 characters"),
        ("11010519491231002Y", "17 digits followed by a digit or X"),
        ("99010519491231002X", "no province"),
        ("110105194902300021", "not a date"),
        ("110105180001010016", "out of range"),
    ],
)
def test_resident_id_errors_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier, match=message):
        validate_resident_id(value)


def test_future_birth_date_is_refused() -> None:
    body = "110105" + "20300101" + "001"
    with pytest.raises(InvalidIdentifier, match="out of range"):
        validate_resident_id(body + resident_id_check_char(body), today=date(2026, 11, 24))


@given(usccs())
def test_generated_usccs_validate(code: str) -> None:
    assert validate_uscc(code) == code


@given(usccs(), st.integers(0, 16), st.sampled_from(USCC_ALPHABET))
def test_any_single_character_change_in_a_uscc_is_caught(code: str, pos: int, c: str) -> None:
    changed = code[:pos] + c + code[pos + 1 :]
    if changed != code:
        with pytest.raises(InvalidIdentifier):
            validate_uscc(changed)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000I00Y43", "outside GB 32100's alphabet"),
        ("B1350100M000100Y43", "registering authority"),
        ("913501A0M000100Y43", "region code"),
        ("91350100M000100Y44", "expected '3'"),
    ],
)
def test_uscc_errors_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier, match=message):
        validate_uscc(value)


@given(st.lists(st.integers(0, 9), min_size=12, max_size=18))
def test_luhn_check_digit_always_completes_a_valid_number(digits: list[int]) -> None:
    body = "".join(map(str, digits))
    check = next(str(d) for d in range(10) if luhn_ok(body + str(d)))
    assert luhn_ok(body + check)
    assert not luhn_ok(body + str((int(check) + 1) % 10))


def test_luhn_refuses_non_digits() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111-1111-1111-1111")
    assert not luhn_ok("")
