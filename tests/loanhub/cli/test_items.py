"""``loanhub items``: what waits for a person, and its release with a note (audited)."""

from __future__ import annotations

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from kernel.failures import FailureKind
from loanhub.cli import app
from loanhub.platform.ledger import WorkItemLedger
from schemas.hub import WorkItemState
from schemas.tables import audit_event, decision
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_a_waiting_item_is_listed_and_released_once_with_a_note(pg_url, pg_engine: Engine):
    ledger = WorkItemLedger(pg_engine, owner="w1")
    waiting = ledger.needs_human(
        ledger.claim("los_decision", "AP-1", {"application_no": "AP-1"}),
        "the LOS holds another decision",
    )
    doubtful = ledger.mark_in_doubt(ledger.claim("payment", "E2E-1", {"e": 1}), "lost answer")
    listed = runner.invoke(app, ["items", "list", "--url", pg_url])
    assert listed.exit_code == 0, listed.output
    assert "AP-1" in listed.output
    assert "E2E-1" in listed.output
    assert "2 item(s)" in listed.output
    done = runner.invoke(
        app,
        ["items", "release", "los_decision", "AP-1", "--note", "checked with ops", "--url", pg_url],
    )
    assert done.exit_code == 0, done.output
    again = WorkItemLedger(pg_engine).get("los_decision", "AP-1")
    assert (again.state, again.failure_kind) == (WorkItemState.FAILED, FailureKind.TRANSIENT)
    assert (
        WorkItemLedger(pg_engine, owner="w2")
        .claim("los_decision", "AP-1", {"application_no": "AP-1"})
        .state
        is WorkItemState.IN_PROGRESS
    )  # the next run takes it, once
    with pg_engine.connect() as conn:
        actions = list(conn.execute(select(audit_event.c.action)).scalars())
    assert "work_item.released_for_retry" in actions
    assert waiting.state is WorkItemState.NEEDS_HUMAN
    # an item in doubt is settled by reading, never released blindly
    refused = runner.invoke(
        app, ["items", "release", "payment", "E2E-1", "--note", "x", "--url", pg_url]
    )
    assert_refused(refused, 1, "only FAILED or NEEDS_HUMAN is released")
    assert WorkItemLedger(pg_engine).get("payment", "E2E-1").state is doubtful.state


def test_bad_input_is_one_line(pg_url):
    assert_refused(
        runner.invoke(app, ["items", "release", "payment", "NOPE", "--note", "x", "--url", pg_url]),
        2,
        "no work item payment NOPE",
    )
    assert_refused(
        runner.invoke(app, ["items", "list", "--state", "DONE", "--url", pg_url]),
        2,
        "unknown state 'DONE'",
    )


def test_check_names_what_each_item_waits_on_and_fails_on_one_that_waits_on_nothing(
    pg_url, pg_engine: Engine
):
    """A posting that waits for the LOS checker although the hub already stored the checker's
    answer waits on nothing: ``items check`` exits 1 and names it."""
    from devtools.crash_sweep_los import store_decision

    ledger = WorkItemLedger(pg_engine, owner="w1")
    ledger.needs_human(
        ledger.claim("los_decision", "AP-9", {"application_no": "AP-9"}),
        "los: decision SP1 on AP-9 waits for a second approver",
        result={"reference": "SP1", "status": "PENDING_REVIEW", "waiting_for": "a checker"},
    )
    ledger.mark_in_doubt(ledger.claim("payment", "E2E-9", {"e": 9}), "lost answer")
    store_decision(pg_engine, "AP-9")
    with pg_engine.begin() as conn:
        conn.execute(decision.update().values(los_status="PENDING_REVIEW"))
    fine = runner.invoke(app, ["items", "check", "--url", pg_url])
    assert fine.exit_code == 0, fine.output
    said = " ".join(fine.output.replace("│", " ").split())
    for says in ("none on nothing", "checker", "gateway"):
        assert says in said
    with pg_engine.begin() as conn:
        conn.execute(decision.update().values(los_status="APPROVED"))
    assert_refused(
        runner.invoke(app, ["items", "check", "--url", pg_url]), 1, "1 of 2 item(s) wait on nothing"
    )
