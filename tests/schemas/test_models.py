from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from schemas.base import Lineage
from schemas.bureau import CreditAccount
from schemas.party import Consent, Party

LINEAGE = Lineage(
    source_system="bureau",
    fetched_at=datetime(2026, 11, 1, tzinfo=UTC),
    mapping_version="m1",
    raw_payload_hash="c" * 64,
)


def test_a_person_gets_the_birth_date_of_the_resident_id() -> None:
    p = Party(kind="PERSON", id_number="11010519491231002x", name="张三", lineage=LINEAGE)
    assert p.id_number == "11010519491231002X"
    assert p.birth_date == date(1949, 12, 31)


def test_a_person_with_a_contradicting_birth_date_is_refused() -> None:
    with pytest.raises(ValidationError, match="disagrees with the resident ID"):
        Party(
            kind="PERSON",
            id_number="11010519491231002X",
            name="张三",
            birth_date=date(1950, 1, 1),
            lineage=LINEAGE,
        )


def test_an_enterprise_needs_a_valid_uscc_and_the_error_names_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        Party(kind="ENTERPRISE", id_number="91350100M000100Y44", name="某公司", lineage=LINEAGE)
    assert err.value.errors()[0]["loc"] == ("id_number",)


def test_unknown_fields_are_a_contract_break() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Party(
            kind="PERSON",
            id_number="11010519491231002X",
            name="张三",
            nickname="x",
            lineage=LINEAGE,
        )


def test_status_string_must_be_24_bureau_codes() -> None:
    base = dict(
        account_ref="A1",
        account_type="LOAN",
        institution="某银行",
        status="NORMAL",
        lineage=LINEAGE,
    )
    assert CreditAccount(**base, status_24m="NNNN12*C/" + "N" * 15).status_24m.startswith("NNNN")
    with pytest.raises(ValidationError):
        CreditAccount(**base, status_24m="NNNN8" + "N" * 19)
    with pytest.raises(ValidationError):
        CreditAccount(**base, status_24m="N" * 23)


def test_consent_cannot_expire_before_it_was_granted() -> None:
    with pytest.raises(ValidationError, match="expires before"):
        Consent(
            consent_ref="C1",
            party_id_number="11010519491231002X",
            scope="BUREAU",
            reason="01",
            granted_at=datetime(2026, 1, 2, tzinfo=UTC),
            expires_at=datetime(2026, 1, 1, tzinfo=UTC),
            lineage=LINEAGE,
        )
