"""A payment the gateway rejects for a real reason (AC01, AC04, AM04), against the gateway
simulator and PostgreSQL: the tranche recorded RJCT with its reason, one early warning (never
repeated on re-reads, mailed by the notify path), the status reports' receipts LOADED once
applied, nothing sent again by itself; and a refusal only as a repeat (DU05) never rejects.

The gateway refuses an EndToEndId for 90 days and the simulators live for the session: these
tests pay customers ``OFFSET + n`` (120-139), which no other test pays.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from loanhub.flows import disburse, warnings
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors
from schemas.tables import audit_event, disbursement, early_warning, file_receipt
from schemas.types import utcnow
from tests.loanhub.flows.test_disburse import approved, settle

OFFSET = 120  # customers 120-139: the gateway refuses an EndToEndId for 90 days
UNKNOWN_ACCOUNT = "6222000099999990"  # no account of the core's


@pytest.fixture
def hub(sim, sim_dir, pg_url, pg_engine, tmp_path: Path) -> HubConnectors:
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    return HubConnectors.build(settings, pg_engine)


def book(pg_engine: Engine, sim_dataset, n: int) -> str:
    """Customer ``OFFSET + n``'s approval booked as a loan; its tranche's EndToEndId."""
    approved(pg_engine, sim_dataset, OFFSET + n)
    [number] = disburse.book_loans(pg_engine, today=utcnow().date())
    return disburse.end_to_end_id(number, 1)


def send(pg_engine: Engine, gateway) -> list[str]:
    return disburse.send_payments(pg_engine, gateway, LedgerGuard(WorkItemLedger(pg_engine)))


def rejection_warnings(pg_engine: Engine) -> list[dict]:
    with pg_engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(early_warning).where(early_warning.c.rule == disburse.REJECTED_RULE)
            ).mappings()
        ]


def tranche(pg_engine: Engine) -> dict:
    with pg_engine.connect() as conn:
        return dict(conn.execute(select(disbursement)).mappings().one())


def audit_actions(pg_engine: Engine) -> list[str]:
    with pg_engine.connect() as conn:
        return list(conn.execute(select(audit_event.c.action)).scalars())


def make_reject(reason: str, pg_engine: Engine, sim, sim_dataset) -> None:
    """Each reason as the gateway simulator produces it: AC01 an account the core does not
    know, AC04 one of its closed accounts (the customer closed it after the hub's extract),
    AM04 the control ``insufficient_funds_rate``."""
    if reason == "AC01":
        account = UNKNOWN_ACCOUNT
    elif reason == "AC04":
        account = next(
            a.account_no
            for c in sim_dataset.customers
            for a in c.accounts
            if a.type == "deposit" and a.status == "CLOSED"
        )
    else:
        sim.controls({"gateway": {"answer": {"insufficient_funds_rate": 1.0}}})
        return
    with pg_engine.begin() as conn:
        conn.execute(update(disbursement).values(creditor_account=account))


@pytest.mark.parametrize(("n", "reason"), [(0, "AC01"), (1, "AC04"), (2, "AM04")])
def test_a_real_refusal_rejects_the_tranche_with_its_reason_and_warns_once(
    sim, sim_dataset, pg_engine, hub, n: int, reason: str
):
    e2e = book(pg_engine, sim_dataset, n)
    make_reject(reason, pg_engine, sim, sim_dataset)
    assert len(send(pg_engine, hub.payments)) == 1
    result = settle(pg_engine, hub.payments, 1)
    assert result.rejected == {e2e: reason}
    assert result.warned == 1
    row = tranche(pg_engine)
    assert (row["status"], row["status_reason"]) == ("RJCT", reason)
    [warned] = rejection_warnings(pg_engine)
    assert warned["warning_key"] == f"payment_rejected:{e2e}:{reason}"
    assert reason in warned["message"]
    assert disburse.reason_text(reason) in warned["message"]  # the reason in words
    assert warned["severity"] == "HIGH"
    # re-reads raise nothing again: the reports read once more (the hub's record lost, say),
    # and the reconciliation's reading
    with pg_engine.begin() as conn:
        conn.execute(update(disbursement).values(status="SENT", status_reason=None))
    again = disburse.collect_reports(pg_engine, hub.payments, FileReceiptBook(pg_engine))
    assert (again.rejected, again.warned) == ({e2e: reason}, 0)
    report = disburse.reconcile(
        pg_engine, hub.payments, FileReceiptBook(pg_engine), WorkItemLedger(pg_engine)
    )
    assert report["mismatches"] == {}
    assert report["paid_but_rejected"] == []
    assert len(rejection_warnings(pg_engine)) == 1
    assert audit_actions(pg_engine).count("payment.rejected") == 1
    # never paid again by itself: the next runs send nothing
    assert send(pg_engine, hub.payments) == []
    assert [p["status"] for p in sim.journal("gateway", "payment")] == ["RJCT"]
    # the status reports the hub applied say so in their receipts
    with pg_engine.connect() as conn:
        receipts = conn.execute(
            select(file_receipt.c.name, file_receipt.c.state, file_receipt.c.detail).where(
                file_receipt.c.source_system == hub.payments.system
            )
        ).all()
    assert receipts, "the status report was receipted"
    assert {state for _, state, _ in receipts} == {"LOADED"}
    assert all(f"applied: {e2e} RJCT {reason}" == detail for _, _, detail in receipts)


def test_the_rejection_warning_is_mailed_once_by_the_notify_path(
    sim, sim_dataset, pg_engine, hub, tmp_path: Path, sim_dir, pg_url
):
    e2e = book(pg_engine, sim_dataset, 3)
    make_reject("AC01", pg_engine, sim, sim_dataset)
    send(pg_engine, hub.payments)
    assert settle(pg_engine, hub.payments, 1).rejected == {e2e: "AC01"}
    policy = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url).warnings
    guard = LedgerGuard(WorkItemLedger(pg_engine, owner="notify"))
    assert warnings.notify(pg_engine, hub.notifier, policy, utcnow(), guard)["notified"] == 1
    assert warnings.notify(pg_engine, hub.notifier, policy, utcnow(), guard)["notified"] == 0
    [mail] = sim.journal("smtp", "mail")
    assert "payment_rejected" in mail["subject"]
    assert e2e in mail["body"]
    assert "AC01" in mail["body"]


def test_a_refusal_only_as_a_repeat_never_rejects_nor_warns(sim, sim_dataset, pg_engine, hub):
    """The tranche was paid in a file the hub does not know (sent by hand, say): the hub's own
    file is refused DU05, which says only that this file did not pay."""
    e2e = book(pg_engine, sim_dataset, 4)
    [row] = [disburse.disbursement_from_row(r) for r in pg_engine.connect().execute(
        select(disbursement))]  # fmt: skip
    hub.payments.send([row], "LHSTRAYBYHAND0124")
    deadline = time.monotonic() + 20
    while not any(p["status"] == "ACCP" for p in sim.journal("gateway", "payment")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    send(pg_engine, hub.payments)
    deadline = time.monotonic() + 20
    while not (got := disburse.collect_reports(pg_engine, hub.payments, FileReceiptBook(pg_engine))
               ).disputed:  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert e2e in got.disputed
    assert (got.rejected, got.warned) == ({}, 0)
    assert tranche(pg_engine)["status"] == "SENT"  # not RJCT
    assert rejection_warnings(pg_engine) == []
    assert [p["reason"] for p in sim.journal("gateway", "payment")] == [None, "DU05"]
