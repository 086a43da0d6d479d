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


@pytest.fixture(params=["pg", "sqlite"])
def store_at_0012(request: pytest.FixtureRequest, tmp_path):
    """A store migrated to the revision before the running totals, dropped after."""
    import uuid

    import psycopg

    from loanhub.platform.db import make_engine, upgrade
    from tests.conftest import PG_ADMIN_URL, _pg_url

    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(engine, "0012_decision_rounds")
        yield engine
        engine.dispose()
        return
    name = f"loanhub_0012_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(_pg_url(name))
    upgrade(engine, "0012_decision_rounds")
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_running_totals_start_from_what_the_store_held(store_at_0012: Engine) -> None:
    """Upgrading does not reset /metrics: the totals start at the rows kept before."""
    from sqlalchemy import text

    from loanhub.platform import totals
    from loanhub.platform.db import upgrade

    at = datetime(2026, 12, 1, tzinfo=UTC)
    with store_at_0012.begin() as conn:
        for ms, outcome in ((40, "ok"), (700, "ok"), (90000, "transient")):
            conn.execute(
                text(
                    "INSERT INTO source_call (system, operation, started_at, duration_ms, outcome)"
                    " VALUES ('bureau', 'q', :at, :ms, :outcome)"
                ),
                {"at": at, "ms": ms, "outcome": outcome},
            )
        conn.execute(
            text(
                "INSERT INTO file_receipt (source_system, name, sha256, size_bytes, state,"
                " records_loaded, records_quarantined, received_at, updated_at) VALUES"
                " ('core', 'LNREPAY.D261130', :h, 1, 'PARTIAL', 9, 1, :at, :at)"
            ),
            {"h": "a" * 64, "at": at},
        )
    upgrade(store_at_0012)
    with store_at_0012.connect() as conn:
        got = totals.read(conn, "source_calls", "source_call_duration_bucket", "file_outcomes")
        got |= totals.read(conn, "source_call_duration_ms_sum", "file_records_loaded")
    assert sorted((d["outcome"], n) for d, n in got["source_calls"]) == [
        ("ok", 2),
        ("transient", 1),
    ]
    assert sorted((d["le"], n) for d, n in got["source_call_duration_bucket"]) == [
        ("+Inf", 1),
        ("0.05", 1),
        ("1.0", 1),
    ]
    assert got["source_call_duration_ms_sum"] == [({"system": "bureau"}, 90740)]
    assert got["file_outcomes"] == [({"state": "PARTIAL", "system": "core"}, 1)]
    assert got["file_records_loaded"] == [({"system": "core"}, 9)]
    # the hub's own writes add to the same rows (the seed's label keys are the hub's)
    from kernel.calls import CallOutcome, SourceCall
    from loanhub.platform.calls import CallJournal

    CallJournal(store_at_0012)(
        SourceCall(
            system="bureau", operation="q", started_at=at, duration_ms=40, outcome=CallOutcome.OK
        )
    )
    with store_at_0012.connect() as conn:
        again = totals.read(conn, "source_calls", "source_call_duration_bucket")
    assert sorted((d["outcome"], n) for d, n in again["source_calls"]) == [
        ("ok", 3),
        ("transient", 1),
    ]
    assert ({"le": "0.05", "system": "bureau"}, 2) in again["source_call_duration_bucket"]
