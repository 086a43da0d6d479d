"""CLOSED, an operator's word that a person settled an item outside the hub: terminal for a
claim (nothing runs), reopened back to NEEDS_HUMAN, each step audited with the caller's own
record in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from loanhub.platform import audit
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import IllegalTransition, WorkItemLedger
from schemas.hub import WorkItemState
from schemas.tables import audit_event

PAYLOAD = {"application_no": "AP-C1"}


def waiting(engine: Engine) -> WorkItemLedger:
    ledger = WorkItemLedger(engine, owner="w1", actor="otto")
    ledger.needs_human(ledger.claim("los_decision", "AP-C1", PAYLOAD), "the LOS holds another")
    return ledger


def actions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(audit_event.c.action).order_by(audit_event.c.seq)).scalars()
        )


def test_a_closed_item_is_handed_back_by_a_claim_and_never_run(pg_engine: Engine):
    ledger = waiting(pg_engine)
    closed = ledger.close(ledger.get("los_decision", "AP-C1"), "posted by hand in the LOS")
    assert closed.state is WorkItemState.CLOSED
    assert "closed by otto: posted by hand in the LOS" in closed.error
    assert "the LOS holds another" in closed.error  # what it waited for stays readable
    again = WorkItemLedger(pg_engine, owner="w2").claim("los_decision", "AP-C1", PAYLOAD)
    assert (again.state, again.owner, again.attempts) == (WorkItemState.CLOSED, "w1", 1)
    ran = []
    with pytest.raises(Exception, match="CLOSED"):
        LedgerGuard(WorkItemLedger(pg_engine, owner="w3")).once(
            "los_decision", "AP-C1", PAYLOAD, lambda: ran.append(1) or {}
        )
    assert ran == []
    assert actions(pg_engine)[-1] == "work_item.closed"


def test_only_needs_human_is_closed_and_only_closed_is_reopened(pg_engine: Engine):
    ledger = WorkItemLedger(pg_engine, owner="w1", actor="otto")
    doubt = ledger.mark_in_doubt(ledger.claim("payment", "E-1", {"e": 1}), "lost answer")
    with pytest.raises(IllegalTransition, match="only a NEEDS_HUMAN item is closed"):
        ledger.close(doubt, "x")
    with pytest.raises(IllegalTransition, match="only a CLOSED item is reopened"):
        ledger.reopen(doubt, "x")
    waiting_ledger = waiting(pg_engine)
    item = waiting_ledger.get("los_decision", "AP-C1")
    with pytest.raises(IllegalTransition, match="only a CLOSED item is reopened"):
        waiting_ledger.reopen(item, "x")
    closed = waiting_ledger.close(item, "by phone")
    reopened = waiting_ledger.reopen(closed, "the phone call did not settle it")
    assert reopened.state is WorkItemState.NEEDS_HUMAN
    assert reopened.error == "reopened by otto: the phone call did not settle it"
    assert actions(pg_engine)[-2:] == ["work_item.closed", "work_item.reopened"]


def test_the_callers_record_and_the_transition_commit_together(pg_engine: Engine):
    ledger = waiting(pg_engine)
    item = ledger.get("los_decision", "AP-C1")

    def broken(conn):
        audit.append(conn, actor="otto", action="operator.closed", subject="x")
        raise RuntimeError("the audit chain cannot be written")

    with pytest.raises(RuntimeError):
        ledger.close(item, "by phone", also=broken)
    assert ledger.get("los_decision", "AP-C1").state is WorkItemState.NEEDS_HUMAN
    assert "work_item.closed" not in actions(pg_engine)


def test_an_item_in_doubt_is_referred_to_a_person_in_one_step(pg_engine: Engine):
    ledger = WorkItemLedger(pg_engine, owner="w1", actor="otto")
    doubt = ledger.mark_in_doubt(ledger.claim("los_decision", "AP-C2", PAYLOAD), "no answer")
    referred = ledger.refer_in_doubt(doubt, "the LOS holds SP9 by someone else")
    assert referred.state is WorkItemState.NEEDS_HUMAN
    assert referred.owner is None
    with pytest.raises(IllegalTransition, match="not IN_DOUBT"):
        ledger.refer_in_doubt(referred, "again")
