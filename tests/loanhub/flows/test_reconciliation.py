"""The night's extract reconciled with the hub, on PostgreSQL: a hub loan the core's extract
does not carry is reported, a record whose core days past due differ from the hub's is
reported, the totals add up, each discrepancy is one warning per loan and night, and the CLI
shows the same totals."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.flows import reconciliation, repayments
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors
from mappings.lnrepay import check_extract
from schemas.base import Lineage
from schemas.lending import Loan, LoanStatus
from schemas.tables import audit_event, early_warning, fact_row, loan
from schemas.types import utcnow
from simulators import extract

POLICY = reconciliation.ReconciliationPolicy()


def hub_loan(engine: Engine, account: str, start: date, status: str = "ACTIVE") -> None:
    """A loan as the hub books it (``flows.disburse``), paid out (ACTIVE) unless told."""
    made = Loan(
        loan_account=account,
        application_no=f"APP-{account}",
        customer_no="900000000001",
        principal=Decimal("12000.00"),
        annual_rate=Decimal("0.0435"),
        term_months=12,
        start_date=start,
        status=LoanStatus(status),
        lineage=Lineage(
            source_system="hub",
            fetched_at=utcnow(),
            mapping_version="loan-v1",
            raw_payload_hash="0" * 64,
        ),
    )
    with engine.begin() as conn:
        conn.execute(loan.insert().values(fact_row(made)))


def warnings_of(engine: Engine, rule: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                select(early_warning.c.warning_key, early_warning.c.loan_account).where(
                    early_warning.c.rule == rule
                )
            ).all()
        )


def in_window(dataset, day: date):
    """A loan of the core's seeded book with an installment in the night's extract."""
    return next(
        x
        for x in dataset.loans
        if any(0 <= (day - i.due_date).days <= 31 and i.status != "D" for i in x.installments)
    )


def test_a_hub_loan_missing_from_the_extract_is_reported_once(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path, caplog
):
    day = sim_dataset.business_date
    sim.post("/extract", {"business_date": day.isoformat()})  # the core's own file, over SFTP
    carried = in_window(sim_dataset, day)
    hub_loan(pg_engine, carried.loan_account, carried.start_date)  # the core has it
    hub_loan(pg_engine, "LNHUBMISSING00000001", day - timedelta(days=60))  # the core has not
    hub_loan(pg_engine, "LNHUBNOTDUEYET000001", day - timedelta(days=10))  # nothing due yet
    hub_loan(pg_engine, "LNHUBCLOSED000000001", day - timedelta(days=60), "CLOSED")
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    hub = HubConnectors.build(settings, pg_engine)
    loaded = repayments.ingest_extract(
        pg_engine, hub.extracts, FileReceiptBook(pg_engine), day, tmp_path / "kept", "test"
    )
    assert loaded is not None

    recon = reconciliation.reconcile_night(pg_engine, day, POLICY, "test")
    assert recon is not None
    totals = recon.totals()
    assert totals["loans_expected"] == 2
    assert totals["loans_found"] == 1
    assert totals["missing"] == ["LNHUBMISSING00000001"]
    assert totals["missing_principal"] == "12000.00"
    # the simulated core computes days past due as the hub does: nothing planted, no mismatch
    assert totals["dpd_mismatches"] == 0
    checked = check_extract(loaded_bytes(tmp_path), loaded.file)
    assert totals["records"] == checked.valid
    assert Decimal(totals["amount_paid"]) == (
        checked.principal_paid_total + checked.interest_paid_total
    )
    ours = [i for i in carried.installments if 0 <= (day - i.due_date).days <= 31]
    assert Decimal(totals["hub_amount_due"]) == sum(i.principal_due + i.interest_due for i in ours)
    assert "1 missing" in caplog.text

    assert warnings_of(pg_engine, reconciliation.MISSING) == [
        (f"recon_missing:LNHUBMISSING00000001:{day:%Y%m%d}", "LNHUBMISSING00000001")
    ]
    again = reconciliation.reconcile_night(pg_engine, day, POLICY, "test")
    assert again is not None
    assert again.new_warnings == 0  # the same night again: no second warning, no second mail
    assert len(warnings_of(pg_engine, reconciliation.MISSING)) == 1
    with pg_engine.connect() as conn:
        audited = conn.execute(
            select(audit_event.c.after).where(audit_event.c.action == "extract.reconciled")
        ).scalars()
        assert [a["loans_missing"] for a in audited] == [1, 1]
    shown = reconciliation.reconciled_totals(pg_engine, day)  # what a summary reads back
    assert shown is not None
    assert (shown["loans_expected"], shown["loans_found"], shown["loans_missing"]) == (2, 1, 1)
    assert reconciliation.reconciled_totals(pg_engine, day - timedelta(days=1)) is None


def loaded_bytes(kept: Path) -> bytes:
    (path,) = (kept / "kept").iterdir()
    return path.read_bytes()


def planted(dataset, day: date) -> tuple[bytes, extract.Detail]:
    """The core's night as the simulator writes it (its copybook encoder), with one record's
    days past due off by three from what its dates and amounts say."""
    items = extract.details(dataset, day)
    wrong = next(d for d in items if d.installment.status in ("M", "A"))
    index = items.index(wrong)
    off = dataclasses.replace(wrong.installment, days_past_due=wrong.installment.days_past_due + 3)
    items[index] = extract.Detail(wrong.loan_account, wrong.customer_no, off)
    return b"".join(extract.records(day, items)), wrong


def test_a_record_whose_core_dpd_differs_from_the_hubs_is_reported(  # on both stores
    sim_dataset, engine, tmp_path: Path
):
    day = sim_dataset.business_date
    data, wrong = planted(sim_dataset, day)
    hub_loan(engine, wrong.loan_account, day - timedelta(days=200))
    name = extract.extract_name(day)
    report = repayments.load_extract(engine, data, name, FileReceiptBook(engine), tmp_path)
    assert report.state == "LOADED"

    recon = reconciliation.reconcile_night(engine, day, POLICY, "test")
    assert recon is not None
    expected_hub = (day - wrong.installment.due_date).days
    assert recon.dpd_mismatches == [
        reconciliation.DpdMismatch(
            wrong.loan_account, wrong.installment.number, expected_hub + 3, expected_hub
        )
    ]
    assert recon.totals()["dpd_mismatch_loans"] == [wrong.loan_account]
    assert recon.missing == []
    (raised,) = warnings_of(engine, reconciliation.DPD_MISMATCH)
    assert raised == (f"recon_dpd:{wrong.loan_account}:{day:%Y%m%d}", wrong.loan_account)
    assert reconciliation.reconcile_night(engine, day, POLICY, "test").new_warnings == 0

    # the CLI shows the same totals (and raises nothing new)
    out = CliRunner().invoke(
        app,
        ["extract", "reconcile", "--date", day.isoformat(), "--url", str(engine.url), "--json"],
        env={"LOANHUB_DATA_DIR": str(tmp_path)},
    )
    assert out.exit_code == 0, out.output
    shown = json.loads(out.output)
    assert (shown["dpd_mismatches"], shown["loans_expected"], shown["loans_found"]) == (1, 1, 1)
    assert shown["new_warnings"] == 0
    other = CliRunner().invoke(
        app,
        ["extract", "reconcile", "--date", "2020-01-01", "--url", str(engine.url)],
        env={"LOANHUB_DATA_DIR": str(tmp_path)},
    )
    assert other.exit_code == 1
    assert "nothing to reconcile" in other.output


@pytest.mark.parametrize(
    ("due", "paid", "owed", "dpd"),
    [
        (date(2026, 11, 1), None, True, 19),  # unpaid, due 19 days before the night
        (date(2026, 11, 1), date(2026, 11, 1), True, 19),  # paid in part: still owed
        (date(2026, 11, 1), date(2026, 10, 30), False, 0),  # paid early
        (date(2026, 11, 1), date(2026, 11, 8), False, 7),  # paid a week late
        (date(2026, 11, 25), None, True, 0),  # not due yet
    ],
)
def test_the_hubs_days_past_due_of_an_installment(due, paid, owed, dpd):
    got = reconciliation.installment_dpd(
        np.array([due], "datetime64[D]"),
        np.array([paid or "NaT"], "datetime64[D]"),
        np.array([owed]),
        date(2026, 11, 20),
    )
    assert got.tolist() == [dpd]


def test_a_large_extract_is_reconciled_in_bounded_memory(pg_engine, tmp_path, monkeypatch):
    """The kept file, 200,000 records (17 MB), reconciled chunk by chunk: the peak stays well
    under the file's size, and the totals are those of the same file reconciled in one chunk
    from its bytes (a whole read alone would be the file's size)."""
    import tracemalloc

    from bench.bench_extract import synthetic_extract
    from mappings import lnrepay

    data = synthetic_extract(200_000)
    path = tmp_path / "LNREPAY.D261120"
    path.write_bytes(data)
    day = date(2026, 11, 20)
    hub_loan(pg_engine, "LN000000000000000007", day - timedelta(days=60))
    hub_loan(pg_engine, "LNHUBMISSING00000001", day - timedelta(days=60))
    monkeypatch.setattr(lnrepay, "CHUNK_RECORDS", len(data))
    whole = reconciliation.reconcile(pg_engine, data, path.name, day, POLICY)
    del data
    monkeypatch.setattr(lnrepay, "CHUNK_RECORDS", 8192)
    tracemalloc.start()
    try:
        streamed = reconciliation.reconcile(pg_engine, path, path.name, day, POLICY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert streamed.records == 200_000
    assert dataclasses.asdict(streamed) == dataclasses.asdict(whole)
    assert streamed.missing == ["LNHUBMISSING00000001"]
    assert peak < path.stat().st_size / 2, f"peak {peak / 1e6:.1f} MB"
