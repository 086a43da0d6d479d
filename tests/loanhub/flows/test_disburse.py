"""Disbursement against the payment gateway simulator on PostgreSQL: one payment per tranche
across re-runs and a worker that died after sending; reconciliation."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from loanhub.flows import disburse
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors
from schemas.hub import WorkItemState
from schemas.tables import core_account, decision, disbursement
from schemas.types import utcnow
from tests.loanhub.flows.test_decide import stored
from tests.loanhub.flows.test_rules import RULES


def approved(pg_engine, sim_dataset, n: int) -> str:
    """An approved, LOS-posted application of a bank customer with an active deposit account."""
    customer = [
        c
        for c in sim_dataset.customers
        if any(a.type == "deposit" and a.status == "ACTIVE" for a in c.accounts)
    ][n]
    account = next(a for a in customer.accounts if a.type == "deposit" and a.status == "ACTIVE")
    number = f"APD{n:05d}"
    made = stored(pg_engine, application_no=number, core_customer_no=customer.customer_no)
    from loanhub.flows import decide

    decide.record(
        pg_engine,
        made,
        "APPROVE",
        decided_by="rule:t",
        rules=RULES,
        reasons="t",
        rate=Decimal("4.35"),
    )
    with pg_engine.begin() as conn:
        conn.execute(
            decision.update()
            .where(decision.c.application_no == number)
            .values(los_reference=f"SP{n:014d}", los_status="APPROVED")
        )
        conn.execute(
            core_account.insert().values(
                account_no=account.account_no,
                customer_no=customer.customer_no,
                account_type="DEPOSIT",
                currency="CNY",
                balance=account.balance,
                status="ACTIVE",
                opened_on=account.open_date,
                source_system="core",
                fetched_at=made.lineage.fetched_at,
                mapping_version="t",
                raw_payload_hash="0" * 64,
            )
        )
    return number


def settle(pg_engine, gateway, want: int, timeout: float = 20) -> disburse.Settlement:
    deadline = time.monotonic() + timeout
    while True:
        result = disburse.collect_reports(pg_engine, gateway, FileReceiptBook(pg_engine))
        if result.settled + len(result.rejected) >= want or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_each_tranche_is_paid_once_and_settles(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    numbers = [approved(pg_engine, sim_dataset, n) for n in range(2)]
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    gateway = HubConnectors.build(settings, pg_engine).payments
    guard = LedgerGuard(WorkItemLedger(pg_engine, owner="w1"))
    assert len(disburse.book_loans(pg_engine, today=utcnow().date())) == 2
    assert disburse.book_loans(pg_engine, today=utcnow().date()) == []  # booked once
    assert len(disburse.send_payments(pg_engine, gateway, guard)) == 2
    assert disburse.send_payments(pg_engine, gateway, guard) == []  # nothing pending any more
    assert settle(pg_engine, gateway, 2).settled == 2
    ledger = WorkItemLedger(pg_engine, owner="w1")
    report = disburse.reconcile(pg_engine, gateway, FileReceiptBook(pg_engine), ledger)
    assert report["by_status"] == {"ACSC": 2}
    assert (report["mismatches"], report["paid_twice"]) == ({}, [])
    # the hub's record goes wrong (a lost update, say): the gateway's reports show it
    with pg_engine.begin() as conn:
        conn.execute(disbursement.update().values(status="SENT"))
    wrong = disburse.reconcile(pg_engine, gateway, FileReceiptBook(pg_engine), ledger)
    assert {status for status, _ in wrong["mismatches"].values()} == {"SENT"}
    assert len(wrong["mismatches"]) == 2
    payments = sim.journal("gateway", "payment")
    assert sorted(p["end_to_end_id"] for p in payments) == sorted(
        disburse.end_to_end_id(disburse.loan_account_for(n), 1) for n in numbers
    )


def test_a_worker_that_died_after_sending_is_settled_by_reading_the_gateway(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    approved(pg_engine, sim_dataset, 3)
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    gateway = HubConnectors.build(settings, pg_engine).payments
    [number] = disburse.book_loans(pg_engine, today=utcnow().date())
    e2e = disburse.end_to_end_id(number, 1)
    # the worker claimed the item, stored the MsgId, uploaded ... and died before recording
    ledger = WorkItemLedger(pg_engine, owner="dead-worker", lease=timedelta(seconds=0))
    with pg_engine.connect() as conn:
        [tranche] = [disburse.disbursement_from_row(r) for r in conn.execute(select(disbursement))]
    item = ledger.claim(disburse.KIND, e2e, disburse.work_payload(tranche))
    gateway.send([tranche], "LHDEADWORKER0001")
    with pg_engine.begin() as conn:
        conn.execute(disbursement.update().values(msg_id="LHDEADWORKER0001"))
    ledger.mark_in_doubt(item, "worker lost after upload")
    # the next run: the item is in doubt, so nothing is sent; reading the gateway settles it
    survivor = WorkItemLedger(pg_engine, owner="w2")
    deadline = time.monotonic() + 20
    while (
        counts := disburse.resolve_in_doubt(
            pg_engine, gateway, FileReceiptBook(pg_engine), survivor
        )
    )["arrived"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert survivor.get(disburse.KIND, e2e).state is WorkItemState.DONE
    guard = LedgerGuard(survivor)
    disburse.send_payments(pg_engine, gateway, guard)  # DONE: returns the stored result
    assert settle(pg_engine, gateway, 1).settled == 1  # the first file's payment, settled
    assert len(sim.journal("gateway", "payment")) == 1
    assert len(sim.journal("gateway", "file")) == 1  # and no second file
    assert counts["never_arrived"] == 0


def test_an_approval_waiting_for_the_los_checker_is_not_paid(sim_dataset, pg_engine):
    number = approved(pg_engine, sim_dataset, 5)
    with pg_engine.begin() as conn:
        conn.execute(
            decision.update()
            .where(decision.c.application_no == number)
            .values(los_status="PENDING_REVIEW")
        )
    assert disburse.book_loans(pg_engine, today=utcnow().date()) == []
