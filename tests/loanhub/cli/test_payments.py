"""``loanhub payments repay``: a rejected tranche paid again only when an operator says so,
under a new EndToEndId, once; against the gateway simulator and PostgreSQL.

Customers ``OFFSET + n`` (125-139 of the rejection tests' range 120-139): the gateway refuses
an EndToEndId for 90 days and no other test of the session pays them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.flows import disburse
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors
from schemas.tables import audit_event, disbursement, early_warning
from schemas.types import utcnow
from tests.loanhub.cli.refusals import assert_refused
from tests.loanhub.flows.test_disburse import approved, settle
from tests.loanhub.flows.test_payment_rejections import UNKNOWN_ACCOUNT

runner = CliRunner()
OFFSET = 125


@pytest.fixture
def gateway(sim, sim_dir, pg_url, pg_engine, tmp_path: Path):
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    return HubConnectors.build(settings, pg_engine).payments


def book(pg_engine: Engine, sim_dataset, n: int) -> tuple[str, str]:
    """Customer ``OFFSET + n`` booked; the tranche's EndToEndId and the account it pays."""
    approved(pg_engine, sim_dataset, OFFSET + n)
    [number] = disburse.book_loans(pg_engine, today=utcnow().date())
    with pg_engine.connect() as conn:
        account = conn.execute(select(disbursement.c.creditor_account)).scalar_one()
    return disburse.end_to_end_id(number, 1), account


def send(pg_engine: Engine, gateway) -> list[str]:
    return disburse.send_payments(pg_engine, gateway, LedgerGuard(WorkItemLedger(pg_engine)))


def repay(pg_url: str, e2e: str, *extra: str):
    return runner.invoke(
        app,
        [
            *("payments", "repay", e2e, "--note", "account fixed", "--operator", "ops.li"),
            *extra,
            *("--url", pg_url),
        ],
    )


def accepted(sim) -> list[str]:
    return [p["end_to_end_id"] for p in sim.journal("gateway", "payment") if p["status"] == "ACCP"]


def test_a_fixed_account_is_paid_once_through_a_new_instruction_by_an_operator(
    sim, sim_dataset, pg_url, pg_engine, gateway
):
    e2e, right = book(pg_engine, sim_dataset, 0)
    with pg_engine.begin() as conn:  # the account the hub holds was mistyped: AC01
        conn.execute(update(disbursement).values(creditor_account=UNKNOWN_ACCOUNT))
    send(pg_engine, gateway)
    assert settle(pg_engine, gateway, 1).rejected == {e2e: "AC01"}
    listed = runner.invoke(app, ["payments", "list", "--status", "RJCT", "--url", pg_url])
    assert listed.exit_code == 0, listed.output
    assert e2e in listed.output
    assert "AC01" in listed.output
    assert send(pg_engine, gateway) == []  # never automatic

    done = repay(pg_url, e2e, "--account", right)
    assert done.exit_code == 0, done.output
    new = disburse.end_to_end_id(disburse.loan_account_for(f"APD{OFFSET:05d}"), 1, 1)
    assert new == f"{e2e}-R1"
    assert new in done.output
    # the same rejection re-instructed twice: refused, nothing changes
    assert_refused(repay(pg_url, e2e, "--account", right), 2, "already re-instructed")
    # the next payment runs send it once
    assert len(send(pg_engine, gateway)) == 1
    assert send(pg_engine, gateway) == []
    assert settle(pg_engine, gateway, 1).settled == 1
    assert accepted(sim) == [new]  # exactly one accepted payment, under the new EndToEndId
    assert [p["creditor_account"] for p in sim.journal("gateway", "payment")] == [
        UNKNOWN_ACCOUNT,
        right,
    ]
    with pg_engine.connect() as conn:
        row = conn.execute(select(disbursement)).mappings().one()
        audited = conn.execute(
            select(audit_event.c.actor, audit_event.c.subject, audit_event.c.after).where(
                audit_event.c.action == "payment.reinstructed"
            )
        ).all()
        acknowledged = conn.execute(select(early_warning.c.acknowledged_at)).scalar_one()
    assert (row["end_to_end_id"], row["instruction"], row["status"]) == (new, 1, "ACSC")
    assert [(a, s) for a, s, _ in audited] == [("ops.li", new)]
    assert audited[0][2]["note"] == "account fixed"
    assert acknowledged is not None  # the rejection's warning is answered by the re-instruction
    report = disburse.reconcile(
        pg_engine, gateway, FileReceiptBook(pg_engine), WorkItemLedger(pg_engine)
    )
    assert (report["paid_twice"], report["paid_but_rejected"], report["mismatches"]) == (
        [],
        [],
        {},
    )
    assert_refused(repay(pg_url, new), 2, "is ACSC, not rejected")


def test_an_account_the_core_closed_is_repaid_once_it_is_reopened(
    sim, sim_dataset, pg_url, pg_engine, gateway
):
    """The simulator's ``reject_accounts`` control: the core closed the customer's account
    after the hub's extract (AC04); reopened, the operator re-instructs to the same account."""
    e2e, account = book(pg_engine, sim_dataset, 1)
    sim.controls({"gateway": {"answer": {"reject_accounts": {account: "AC04"}}}})
    send(pg_engine, gateway)
    assert settle(pg_engine, gateway, 1).rejected == {e2e: "AC04"}
    sim.controls({"gateway": {"answer": {"reject_accounts": {account: None}}}})
    assert repay(pg_url, e2e).exit_code == 0
    send(pg_engine, gateway)
    assert settle(pg_engine, gateway, 1).settled == 1
    assert accepted(sim) == [f"{e2e}-R1"]


def test_only_a_settled_rejection_is_re_instructed(sim_dataset, pg_url, pg_engine):
    """Nothing is sent here: the refusals are read from the store alone."""
    e2e, _ = book(pg_engine, sim_dataset, 2)
    assert_refused(repay(pg_url, e2e), 2, "is PENDING, not rejected")
    with pg_engine.begin() as conn:
        conn.execute(update(disbursement).values(status="RJCT", status_reason="AC04"))
    ledger = WorkItemLedger(pg_engine, owner="w1")
    item = ledger.claim(disburse.KIND, e2e, {"e2e": e2e})
    ledger.mark_in_doubt(item, "answer lost after upload")
    assert_refused(repay(pg_url, e2e), 2, "is in doubt")
    assert_refused(repay(pg_url, "NOT-AN-ID"), 2, "is not a tranche's EndToEndId")
    assert_refused(
        runner.invoke(
            app, ["payments", "repay", e2e, "--note", " ", "--operator", "x", "--url", pg_url]
        ),
        2,
        "needs a note",
    )
    with pg_engine.connect() as conn:
        assert conn.execute(select(disbursement.c.end_to_end_id)).scalar_one() == e2e
        assert "payment.reinstructed" not in conn.execute(select(audit_event.c.action)).scalars()


def payee(pg_url: str, application: str, *extra: str):
    return runner.invoke(app, ["payments", "payee", application, *extra, "--url", pg_url])


def test_an_operator_names_the_payee_of_a_company_the_core_does_not_know(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    """Company application 80 (the core does not know it; never paid here: the flows' test
    pays 83): its approval waits in ``loanhub items list``; bad input is refused in one line
    and changes nothing; the operator's account is what the next booking pays into, once."""
    from loanhub.platform.ledger import WorkItemLedger
    from loanhub.runtime.tasks import Hub
    from schemas.hub import WorkItemState
    from tests.loanhub.flows.test_disburse_payee import approved, harvested

    hub = Hub(HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url))
    a = harvested(pg_engine, hub, sim_dataset, 80)
    assert a.id_number not in sim_dataset.customer_by_id
    approved(pg_engine, a)
    assert disburse.book_loans(pg_engine, today=utcnow().date()) == []
    listed = runner.invoke(app, ["items", "list", "--kind", "payee_account", "--url", pg_url])
    assert listed.exit_code == 0, listed.output
    assert "payee_account" in listed.output  # the table wraps its key and reason columns
    assert "NEEDS_HUMAN" in listed.output
    assert "1 item(s)" in listed.output
    checked = runner.invoke(app, ["items", "check", "--url", pg_url])
    assert checked.exit_code == 0, checked.output

    holder = next(
        c
        for c in sim_dataset.corporate_customers
        if c.id_number not in {x.id_number for x in sim_dataset.applications}
    )
    account = holder.accounts[0].account_no
    good = ("--note", "opened at the branch", "--operator", "ops.li")
    blank = ("--note", " ", "--operator", "ops.li")
    for args, code, says in [
        (("AP-NO-SUCH", "--account", account, *good), 2, "no decision for application"),
        ((a.application_no, "--account", "62-28", *good), 2, "is not an account number"),
        ((a.application_no, "--account", account, *good), 2, "--customer"),
        (
            (a.application_no, "--account", account, "--customer", "12", *good),
            2,
            "is not a core customer number",
        ),
        (
            (a.application_no, "--account", account, "--customer", holder.customer_no, *blank),
            2,
            "needs a note",
        ),
    ]:
        assert_refused(payee(pg_url, *args), code, says)
    ledger = WorkItemLedger(pg_engine)
    assert ledger.get(disburse.PAYEE_KIND, a.application_no).state is WorkItemState.NEEDS_HUMAN
    with pg_engine.connect() as conn:
        assert (
            conn.execute(
                select(audit_event).where(audit_event.c.action == "payment.payee_named")
            ).all()
            == []
        )

    done = payee(
        pg_url, a.application_no, "--account", account, "--customer", holder.customer_no, *good
    )
    assert done.exit_code == 0, done.output
    assert "pays it once" in done.output
    assert_refused(payee(pg_url, a.application_no, "--account", account, *good), 2, "does not wait")
    [number] = disburse.book_loans(pg_engine, today=utcnow().date())
    assert disburse.book_loans(pg_engine, today=utcnow().date()) == []
    with pg_engine.connect() as conn:
        assert conn.execute(select(disbursement.c.creditor_account)).scalar_one() == account
    assert_refused(payee(pg_url, a.application_no, "--account", account, *good), 2, "already lent")
    assert number == disburse.loan_account_for(a.application_no)
