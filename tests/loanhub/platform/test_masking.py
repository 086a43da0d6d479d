import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loanhub.platform.masking import (
    MaskingFilter,
    install_log_masking,
    known_names,
    mask_card,
    mask_id,
    mask_name,
    mask_phone,
    mask_text,
)
from tests.strategies import card_numbers, mobiles, resident_ids

# Text around personal data: Chinese, Latin letters and punctuation, never a digit (a digit
# next to an ID makes a longer number, which is not an ID).
filler = st.text(
    alphabet=st.sampled_from("申请人身份证号码电话卡，。：: -_/abcdefABC\n"), max_size=12
)
surnames = st.sampled_from(["张", "王", "李", "欧阳", "司马"])
given_names = st.text(alphabet=st.sampled_from("伟芳娜秀英敏静丽强磊"), min_size=1, max_size=2)


def test_rules_keep_what_the_table_says() -> None:
    assert mask_id("11010519491231002X") == "1" + "*" * 16 + "X"
    assert mask_card("6222021234567890123") == "622202" + "*" * 9 + "0123"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三丰") == "张**"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("李") == "*"


@given(filler, resident_ids(), filler)
def test_every_resident_id_in_text_is_masked(before: str, rid: str, after: str) -> None:
    after = after.lstrip("Xx")
    out = mask_text(before + rid + after)
    assert rid not in out
    assert before + mask_id(rid) + after == out


@given(filler, card_numbers(), filler)
def test_every_luhn_valid_card_number_is_masked(before: str, card: str, after: str) -> None:
    out = mask_text(f"{before}{card}{after}")
    assert card not in out
    assert mask_card(card) in out or mask_id(card) in out  # an 18-digit card may look like an ID


@given(filler, mobiles, filler)
def test_every_mobile_number_is_masked(before: str, phone: str, after: str) -> None:
    out = mask_text(before + phone + after)
    assert phone not in out
    assert mask_phone(phone) in out


@given(surnames, given_names, filler)
def test_known_names_are_masked_to_their_surname(surname: str, given: str, after: str) -> None:
    name = surname + given
    out = mask_text(f"申请人{name}{after}", names=[name])
    assert name not in out
    assert f"申请人{surname}" in out


@given(filler, resident_ids(), mobiles, card_numbers(), filler)
def test_masking_is_idempotent(a: str, rid: str, phone: str, card: str, b: str) -> None:
    once = mask_text(f"{a}{rid} {phone} {card}{b}")
    assert mask_text(once) == once


def test_other_numbers_are_left_alone() -> None:
    text = "loan 2026110200001 amount 1,250,000.00 on 2026.11.02, ref 12345678901"
    assert mask_text(text) == text


def test_process_registry_of_known_names() -> None:
    known_names.add("诸葛孔明")
    assert mask_text("客户诸葛孔明来电") == "客户诸葛**来电"


def test_filter_masks_arguments_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("loanhub.test")
    log.addFilter(MaskingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="loanhub.test"):
            log.info("querying %s for %s", "11010519491231002X", "13812345678")
            try:
                raise ValueError("bad id 11010519491231002X")
            except ValueError:
                log.exception("failed")
    finally:
        log.filters.clear()
    text = caplog.text
    assert "11010519491231002X" not in text
    assert "13812345678" not in text
    assert "1****************X" in text
    assert "138****5678" in text


def test_installed_masking_covers_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_masking()
    install_log_masking()  # idempotent
    for name in ("loanhub.deep.child", "connectors.bureau", "airflow.task", "some.library"):
        with caplog.at_level(logging.INFO, logger=name):
            logging.getLogger(name).info("id=%s", "11010519491231002X")
    assert "11010519491231002X" not in caplog.text
    assert caplog.text.count("1****************X") == 4


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("卡号 6222 0212 3456 7890 128 已冻结", "卡号 6222 02** **** ***0 128 已冻结"),
        ("card 4111-1111-1111-1111.", "card 4111-11**-****-1111."),
        ("电话 138-1234-5678，", "电话 138-****-5678，"),
        ("tel 138 1234 5678", "tel 138 **** 5678"),
        ("not a card 1234 5678 9012 3456", "not a card 1234 5678 9012 3456"),  # Luhn fails
    ],
)
def test_grouped_cards_and_phones_are_masked_keeping_their_separators(text, masked):
    assert mask_text(text) == masked
    assert mask_text(masked) == masked


def test_installed_masking_keeps_other_formatters_working() -> None:
    """uvicorn's access formatter unpacks ``record.args`` itself: the masking must keep them
    (masked in place) instead of emptying them, or every request logs a traceback."""
    import io

    from uvicorn.logging import AccessFormatter

    install_log_masking()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    log = logging.getLogger("uvicorn.access.test")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    errors = io.StringIO()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("sys.stderr", errors)  # where logging reports a formatter's failure
            log.info(
                '%s - "%s %s HTTP/%s" %d',
                *("127.0.0.1:5000", "GET", "/case?q=11010519491231002X", "1.1", 200),
            )
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == '127.0.0.1:5000 - "GET /case?q=1****************X HTTP/1.1" 200 OK'
    assert "Logging error" not in errors.getvalue()


def test_masked_records_keep_their_arguments_and_pickle() -> None:
    import pickle

    install_log_masking()
    record = logging.getLogger("some.library").makeRecord(
        *("some.library", logging.INFO, __file__, 1),
        *("%s has %d loans", ("11010519491231002X", 2), None),
    )
    assert record.args == ("1****************X", 2)
    assert record.getMessage() == "1****************X has 2 loans"
    assert pickle.loads(pickle.dumps(record)).getMessage() == "1****************X has 2 loans"
