from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, select

from schemas.base import Lineage
from schemas.lending import RepaymentInstallment
from schemas.tables import fact_row, metadata, repayment_installment


def test_migrations_produce_exactly_the_models_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []


def _installment(**over: object) -> RepaymentInstallment:
    lineage = Lineage(
        source_system="core",
        fetched_at=datetime(2026, 11, 24, 8, 0, tzinfo=timezone(timedelta(hours=8))),
        mapping_version="copybook-1",
        raw_payload_hash="b" * 64,
    )
    fields = dict(
        loan_account="LN0000000001",
        installment_no=3,
        customer_no="000000012345",
        due_date=date(2026, 11, 20),
        principal_due=Decimal("9999999999999999.99"),
        interest_due=Decimal("0.01"),
        lineage=lineage,
        status="P",
    )
    return RepaymentInstallment(**{**fields, **over})


def test_money_and_timestamps_survive_the_store_exactly(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(repayment_installment).values(**fact_row(_installment())))
    with engine.connect() as conn:
        row = conn.execute(select(repayment_installment)).mappings().one()
    assert row["principal_due"] == Decimal("9999999999999999.99")
    assert isinstance(row["interest_due"], Decimal)
    assert row["fetched_at"] == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert row["fetched_at"].tzinfo is not None


def test_models_refuse_floats_with_too_many_places_and_naive_times() -> None:
    with pytest.raises(ValueError, match="decimal places"):
        _installment(interest_due=Decimal("0.001"))
    with pytest.raises(ValueError, match="timezone"):
        Lineage(
            source_system="core",
            fetched_at=datetime(2026, 1, 1),
            mapping_version="v",
            raw_payload_hash="b" * 64,
        )


def test_lineage_is_normalised_to_utc() -> None:
    assert _installment().lineage.fetched_at == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
