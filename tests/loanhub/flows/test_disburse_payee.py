"""Companies paid out, against the simulators on PostgreSQL: a company that banks with the bank
is asked at the core by its USCC (with its CORE consent), approved, booked and paid once into
its settlement account; a company the core does not know leaves its approval waiting for a
person (a ``payee_account`` item, NEEDS_HUMAN, with the reason; waiting on an operator, not
stuck) until an operator names the account, then it is booked and paid once.

The LOS posting is ``test_los_submission``'s: here the LOS's approval is written as the bot
reads it back. Companies 85 (a customer of the core) and 83 (none): no other test pays them
(the gateway refuses an EndToEndId for 90 days; each is derived from the application)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update

from devtools.synthetic import los_intake
from loanhub.flows import decide, disburse, harvest, waiting
from loanhub.flows.intake import load_applicants
from loanhub.flows.profile import build_profile
from loanhub.flows.rules import RuleSet
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.tasks import Hub
from schemas.hub import WorkItemState
from schemas.tables import audit_event, consent, decision, disbursement, loan
from schemas.types import utcnow
from tests.loanhub.flows.test_disburse import settle

BANKED = 85  # a company application whose applicant banks with the bank
UNBANKED = 83  # one the core does not know (the CLI's tests take the other, 80)


@pytest.fixture
def hub(sim, sim_dir, pg_url, tmp_path: Path) -> Hub:
    return Hub(HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url))


def harvested(pg_engine: Engine, hub: Hub, sim_dataset, index: int) -> harvest.Applicant:
    """Company application ``index`` taken in (with the consents its form carries) and asked
    at the core."""
    app = sim_dataset.applications[index]
    assert app.applicant_kind == "ENTERPRISE"
    records = los_intake([dataclasses.asdict(app)], datetime.now(UTC))
    assert load_applicants(pg_engine, records, source_ref="los-list").loaded == 1
    (a,) = harvest.applicants(pg_engine, [app.application_no])
    step = harvest.CoreStep(pg_engine, hub.connectors.core, sim_dataset.business_date, hub.consents)
    assert harvest.run_batch(step, [a]).counts() == {"ok": 1, "refused": 0, "failed": 0}
    return a


def approved(pg_engine: Engine, a: harvest.Applicant) -> None:
    """The profile built, approved by credit ops, and approved in the LOS."""
    profile = build_profile(pg_engine, a)
    decide.record(
        pg_engine,
        profile,
        "APPROVE",
        decided_by="credit-ops.wang",
        rules=RuleSet.load(),
        reasons="t",
        rate=Decimal("4.35"),
    )
    with pg_engine.begin() as conn:
        conn.execute(
            update(decision)
            .where(decision.c.application_no == a.application_no)
            .values(los_reference=f"SP{a.application_no[-14:]}", los_status="APPROVED")
        )


def pay(pg_engine: Engine, hub: Hub) -> list[str]:
    return disburse.send_payments(
        pg_engine, hub.connectors.payments, LedgerGuard(WorkItemLedger(pg_engine))
    )


def payments_of(sim, loan_account: str) -> list[dict]:
    e2e = disburse.end_to_end_id(loan_account, 1)
    return [p for p in sim.journal("gateway", "payment") if p["end_to_end_id"] == e2e]


def test_a_company_that_banks_here_is_asked_at_the_core_and_paid_once(
    sim, sim_dataset, pg_engine, hub
):
    a = harvested(pg_engine, hub, sim_dataset, BANKED)
    company = sim_dataset.customer_by_id[a.id_number]
    asked = [(q["operation"], q["subject"]) for q in sim.journal("core", "query")]
    assert asked[0] == ("GetCustomerByIdNumber", a.id_number)
    assert ("GetAccounts", company.customer_no) in asked
    profile = build_profile(pg_engine, a)
    assert profile.core_customer_no == company.customer_no
    assert profile.core_average_balance is not None
    assert "core" not in profile.missing_sources.split(",")
    approved(pg_engine, a)
    [number] = disburse.book_loans(pg_engine, today=utcnow().date())
    assert disburse.book_loans(pg_engine, today=utcnow().date()) == []  # booked once
    assert len(pay(pg_engine, hub)) == 1
    assert pay(pg_engine, hub) == []
    assert settle(pg_engine, hub.connectors.payments, 1).settled == 1
    [paid] = payments_of(sim, number)
    assert paid["creditor_account"] == company.accounts[0].account_no  # its settlement account
    assert WorkItemLedger(pg_engine).items(kind=disburse.PAYEE_KIND) == []
    assert waiting.stuck(pg_engine) == []


def test_a_company_without_its_core_consent_is_not_asked(sim, sim_dataset, pg_engine, hub):
    app = sim_dataset.applications[BANKED]
    records = los_intake([dataclasses.asdict(app)], datetime.now(UTC))
    load_applicants(pg_engine, records, source_ref="los-list")
    with pg_engine.begin() as conn:
        conn.execute(delete(consent).where(consent.c.scope == "CORE"))
    (a,) = harvest.applicants(pg_engine, [app.application_no])
    step = harvest.CoreStep(pg_engine, hub.connectors.core, sim_dataset.business_date, hub.consents)
    assert harvest.run_batch(step, [a]).counts() == {"ok": 0, "refused": 1, "failed": 0}
    assert sim.journal("core") == []


def test_a_company_the_core_does_not_know_waits_for_an_operator_then_is_paid_once(
    sim, sim_dataset, pg_engine, hub
):
    a = harvested(pg_engine, hub, sim_dataset, UNBANKED)
    assert [(q["operation"], q["subject"]) for q in sim.journal("core", "query")] == [
        ("GetCustomerByIdNumber", a.id_number)  # asked, and not a customer
    ]
    approved(pg_engine, a)
    ledger = WorkItemLedger(pg_engine)
    for _ in range(2):  # not paid, not skipped in silence: one item in a person's queue
        assert disburse.book_loans(pg_engine, today=utcnow().date()) == []
        [item] = ledger.items(kind=disburse.PAYEE_KIND)
        assert (item.business_key, item.state) == (a.application_no, WorkItemState.NEEDS_HUMAN)
    assert "no customer of the core" in item.error
    assert f"loanhub payments payee {a.application_no}" in item.error
    [waits] = [w for w in waiting.waiting_items(pg_engine) if w.kind == disburse.PAYEE_KIND]
    assert waits.waits_on == waiting.PAYEE_OPERATOR
    assert waiting.stuck(pg_engine) == []
    assert pay(pg_engine, hub) == []

    # the gateway pays only accounts its core holds: the company's new settlement account is
    # played by one of a company that does not apply
    applying = {x.id_number for x in sim_dataset.applications}
    holder = next(c for c in sim_dataset.corporate_customers if c.id_number not in applying)
    account = holder.accounts[0].account_no
    with pytest.raises(disburse.PayeeRefused, match="--customer"):
        disburse.name_payee(pg_engine, a.application_no, account=account, note="n", operator="o")
    named = disburse.name_payee(
        pg_engine,
        a.application_no,
        account=account,
        note="settlement account opened at the branch",
        operator="ops.li",
        customer_no=holder.customer_no,
    )
    assert named["account"] == account
    assert ledger.get(disburse.PAYEE_KIND, a.application_no).state is WorkItemState.DONE
    with pg_engine.connect() as conn:
        actors = conn.execute(
            select(audit_event.c.actor).where(audit_event.c.action == "payment.payee_named")
        ).all()
    assert actors == [("ops.li",)]
    with pytest.raises(disburse.PayeeRefused, match="does not wait"):  # named once
        disburse.name_payee(
            pg_engine, a.application_no, account=account, note="again", operator="ops.li"
        )

    [number] = disburse.book_loans(pg_engine, today=utcnow().date())
    assert disburse.book_loans(pg_engine, today=utcnow().date()) == []
    with pg_engine.connect() as conn:
        lent = conn.execute(select(loan.c.customer_no)).scalar_one()
        payee = conn.execute(select(disbursement.c.creditor_account)).scalar_one()
    assert (lent, payee) == (holder.customer_no, account)
    assert len(pay(pg_engine, hub)) == 1
    assert pay(pg_engine, hub) == []
    assert settle(pg_engine, hub.connectors.payments, 1).settled == 1
    [paid] = payments_of(sim, number)
    assert paid["creditor_account"] == account
    assert waiting.stuck(pg_engine) == []
    assert [w for w in waiting.waiting_items(pg_engine) if w.kind == disburse.PAYEE_KIND] == []
