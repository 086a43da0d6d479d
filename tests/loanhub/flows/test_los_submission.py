"""Posting a decision into the LOS once (``decide.submit_once``): the bot's submission as a
work item on PostgreSQL, against the LOS simulator in Debian's Chromium. The bot's own screen
protocol (status first, the 504 read back) is tested in tests/bots/los/test_bot.py."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from bots.evidence import ScreenEvidence
from bots.los.bot import LosBot
from bots.los.pages import Decision
from kernel.failures import FailureKind, NeedsHuman, TransientError
from loanhub.flows.decide import decided, post_decisions, settle_los_decisions, submit_once
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.hub import WorkItemState
from schemas.tables import audit_event
from tests.bots.conftest import FAST_POLICY, los_login
from tests.simulators.portal_pages import los_decide, los_http_login


def application(sim_dataset, n: int) -> str:
    """Other tests post on their own applications (the LOS keeps what they posted); these take
    32 to 39."""
    return sim_dataset.applications[31 + n].application_no


def approve(amount: str = "120000.00") -> Decision:
    return Decision("APPROVE", Decimal(amount), 36, Decimal("4.35"), "", "自动审批")


def decisions(sim, number: str) -> list[dict]:
    return [e for e in sim.journal("los", "decision") if e["application_no"] == number]


def guard(engine: Engine, owner: str = "flow-test") -> LedgerGuard:
    return LedgerGuard(WorkItemLedger(engine, owner=owner), wait_seconds=60, poll_seconds=0.1)


@pytest.fixture
def los_bot(sim, sim_endpoints, chromium, tmp_path):
    evidence = ScreenEvidence(tmp_path / "screens", mask_text)
    bot = LosBot(los_login(sim_endpoints), chromium, evidence, mask_text, FAST_POLICY)
    yield bot
    bot.close()


def item(engine: Engine, number: str):
    found = WorkItemLedger(engine).get("los_decision", number)
    assert found is not None
    return found


def test_a_504_after_commit_is_one_decision_and_a_done_item(sim, los_bot, sim_dataset, pg_engine):
    number = application(sim_dataset, 1)
    sim.controls({"los": {"/decide": {"gateway_504_rate": 1.0}}})
    receipt = submit_once(los_bot, guard(pg_engine), number, approve())
    assert receipt.submitted
    assert item(pg_engine, number).state is WorkItemState.DONE
    assert submit_once(los_bot, guard(pg_engine), number, approve()) == receipt  # the item answers
    assert len(decisions(sim, number)) == 1


def test_above_the_limit_is_a_needs_human_item_with_its_reference(
    sim, los_bot, sim_dataset, pg_engine
):
    number = application(sim_dataset, 4)
    receipt = submit_once(los_bot, guard(pg_engine), number, approve("900000.00"))
    assert receipt.status == "PENDING_REVIEW"
    waiting = item(pg_engine, number)
    assert waiting.state is WorkItemState.NEEDS_HUMAN
    assert "waits for" in (waiting.error or "")
    assert waiting.result is not None
    assert waiting.result["reference"] == receipt.reference
    again = submit_once(los_bot, guard(pg_engine), number, approve("900000.00"))
    assert again == receipt  # nothing resent: the item kept the reference
    assert len(decisions(sim, number)) == 1


def test_a_screen_nobody_taught_the_bot_is_a_needs_human_item_with_its_evidence(
    sim, los_bot, sim_dataset, pg_engine
):
    number = application(sim_dataset, 5)
    sim.controls({"los": {"*": {"variant": True}}})
    with pytest.raises(NeedsHuman, match="nothing was submitted") as stopped:
        submit_once(los_bot, guard(pg_engine), number, approve())
    stuck = item(pg_engine, number)
    assert stuck.state is WorkItemState.NEEDS_HUMAN
    assert stuck.evidence == str(stopped.value.evidence)  # a person finds the evidence
    assert "[evidence: " not in (stuck.error or "")  # in its own column, not in the text
    assert decisions(sim, number) == []


def test_a_busy_page_fails_transient_and_the_next_run_submits_once(
    sim, los_bot, sim_dataset, pg_engine
):
    number = application(sim_dataset, 7)
    sim.controls({"los": {"/decide": {"fault": "busy", "times": 1}}})
    with pytest.raises(TransientError):
        submit_once(los_bot, guard(pg_engine), number, approve())
    assert item(pg_engine, number).state is WorkItemState.FAILED
    assert submit_once(los_bot, guard(pg_engine), number, approve()).submitted
    assert len(decisions(sim, number)) == 1


def test_a_form_the_los_cannot_take_is_refused_before_any_work_item(
    sim, los_bot, sim_dataset, pg_engine
):
    number = application(sim_dataset, 8)
    from kernel.failures import ContractError

    with pytest.raises(ContractError, match="amount, term and rate"):
        submit_once(los_bot, guard(pg_engine), number, Decision("APPROVE", None, 36, None, "", ""))
    assert WorkItemLedger(pg_engine).get("los_decision", number) is None


def test_two_bots_racing_on_one_application_submit_once(
    sim, sim_endpoints, sim_dataset, pg_engine, tmp_path
):
    """Two workers, each with its own browser and ledger owner, on the same application."""
    from bots.browser import Chromium
    from bots.config import BrowserConfig

    number = application(sim_dataset, 6)
    sim.controls({"los": {"*": {"latency": 0.3}}})  # a window wide enough to collide in
    receipts: dict[str, object] = {}
    barrier = threading.Barrier(2)
    evidence = ScreenEvidence(tmp_path / "screens", mask_text)

    def worker(owner: str) -> None:
        with Chromium(BrowserConfig(action_timeout=10, navigation_timeout=20)) as browser:
            bot = LosBot(los_login(sim_endpoints), browser, evidence, mask_text, FAST_POLICY)
            bot.page  # browser and page up before the race starts  # noqa: B018
            barrier.wait()
            try:
                receipts[owner] = submit_once(bot, guard(pg_engine, owner), number, approve())
            except Exception as exc:  # reported below
                receipts[owner] = exc

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(decisions(sim, number)) == 1
    first, second = receipts["worker-0"], receipts["worker-1"]
    assert first == second, receipts  # the loser waited for the winner's outcome
    opened = [e for e in sim.journal("los", "view") if e["application_no"] == number]
    assert len(opened) == 1  # and never even opened the form


# -- in doubt settled by the status page; one application never stops the others ------------
# These take 33 and 34 of this file's range, and 46-49 and 56-59 (no other test uses them).


def spare(sim_dataset, index: int) -> str:
    return sim_dataset.applications[index].application_no


def stored(engine: Engine, number: str, amount: str = "100000.00") -> dict:
    """An approval by rule waiting to be posted, as ``decide.record`` leaves it."""
    from devtools.crash_sweep_los import store_decision

    store_decision(engine, number, Decimal(amount))
    return decided(engine, number)


def in_doubt(engine: Engine, los_bot, number: str) -> None:
    """The item as a worker leaves it when the submit went out and no answer came back."""
    from loanhub.flows.decide import los_form, submission

    ledger = WorkItemLedger(engine, owner="gone")
    payload = submission(los_bot.login.username, number, los_form(decided(engine, number)))
    ledger.mark_in_doubt(ledger.claim("los_decision", number, payload), "no answer")


def test_a_los_that_is_down_is_a_transient_item_and_the_next_run_posts_once(
    sim, sim_endpoints, los_bot, chromium, sim_dataset, pg_engine, tmp_path
):
    """Connection refused before anything was sent: FAILED(transient), never NEEDS_HUMAN
    (which nothing would ever release)."""
    from tests.bots.los.test_bot import free_port

    number = application(sim_dataset, 2)
    down = los_login(sim_endpoints).model_copy(
        update={"url": f"http://127.0.0.1:{free_port()}/los/"}
    )
    evidence = ScreenEvidence(tmp_path / "down", mask_text)
    unreachable = LosBot(down, chromium, evidence, mask_text, FAST_POLICY)
    with pytest.raises(TransientError, match="ERR_CONNECTION_REFUSED"):
        submit_once(unreachable, guard(pg_engine), number, approve())
    unreachable.close()
    failed = item(pg_engine, number)
    assert (failed.state, failed.failure_kind) == (WorkItemState.FAILED, FailureKind.TRANSIENT)
    assert submit_once(los_bot, guard(pg_engine), number, approve()).submitted
    assert len(decisions(sim, number)) == 1


def test_no_answer_after_the_submit_is_in_doubt_and_the_status_page_settles_it(
    sim, los_bot, sim_dataset, pg_engine
):
    """The LOS records the decision and answers too late, and its status page is busy for
    the bot's read-back: the item is IN_DOUBT (not a screen for a person); the next run's
    settling reads the status page and closes it DONE with the LOS's reference."""
    number = application(sim_dataset, 3)
    stored(pg_engine, number)
    sim.controls(
        {
            "los": {
                "/decide": {"hold_seconds": 3.0},
                "/status": {"fault": "busy", "skip": 1, "times": 1000},  # all but the first
            }
        }
    )
    los_bot.context.set_default_navigation_timeout(1500)
    outcome = post_decisions(pg_engine, los_bot, guard(pg_engine), [number])
    assert list(outcome.in_doubt) == [number], outcome
    assert not outcome.worth_retrying  # settled by reading, not by a retry
    assert item(pg_engine, number).state is WorkItemState.IN_DOUBT
    sim.controls({"los": {"/status": {"times": 0, "skip": 0}}})
    counts = settle_los_decisions(pg_engine, WorkItemLedger(pg_engine), los_bot)
    assert counts["done"] == 1
    [recorded] = decisions(sim, number)
    settled = item(pg_engine, number)
    assert settled.state is WorkItemState.DONE
    assert settled.result["reference"] == recorded["reference"]
    assert decided(pg_engine, number)["los_reference"] == recorded["reference"]
    assert decided(pg_engine, number)["los_status"] == "APPROVED"
    assert "resolved_done" in audit_actions(pg_engine)
    again = post_decisions(pg_engine, los_bot, guard(pg_engine), [number])
    assert again.posted == {number: recorded["reference"]}
    assert len(decisions(sim, number)) == 1


def test_a_worker_killed_after_the_submit_is_settled_done_by_the_status_page(
    sim, sim_dir, los_bot, sim_dataset, pg_url, pg_engine
):
    """Killed (SIGKILL, its Chromium with it) while the LOS, having recorded the decision,
    holds its answer: the item stays IN_PROGRESS; after its lease the next run's settling puts
    it IN_DOUBT and then DONE with the LOS's reference, and nothing is posted again."""
    from devtools.crash_sweep_los import kill, start_poster, wait_for

    number = spare(sim_dataset, 46)
    stored(pg_engine, number)
    sim.controls({"los": {"/decide": {"hold_seconds": 5.0}}})
    worker = start_poster(pg_url, sim_dir, [number], lease=1.0)
    try:
        assert wait_for(lambda: bool(held(sim, number)) or worker.poll() is not None, 60)
        assert worker.poll() is None, worker.communicate()
    finally:
        kill(worker)
    [recorded] = decisions(sim, number)
    assert item(pg_engine, number).state is WorkItemState.IN_PROGRESS  # nobody heard
    assert decided(pg_engine, number)["los_reference"] is None
    time.sleep(1.2)  # the killed worker's lease runs out
    counts = settle_los_decisions(pg_engine, WorkItemLedger(pg_engine), los_bot)
    assert counts["done"] == 1, counts
    settled = item(pg_engine, number)
    assert settled.state is WorkItemState.DONE
    assert settled.result["reference"] == recorded["reference"]
    assert decided(pg_engine, number)["los_reference"] == recorded["reference"]
    assert {"in_doubt", "resolved_done"} <= set(audit_actions(pg_engine))
    again = post_decisions(pg_engine, los_bot, guard(pg_engine), [number])
    assert again.posted == {number: recorded["reference"]}
    assert len(decisions(sim, number)) == 1


def test_nothing_on_the_status_page_fails_the_item_transient_after_the_quiet_period(
    sim, los_bot, sim_dataset, pg_engine
):
    """In doubt, and the LOS shows nothing: not believed at once (a commit behind a 504 may
    still land), then FAILED(transient) "nothing recorded", and the next post submits once."""
    number = spare(sim_dataset, 47)
    stored(pg_engine, number)
    in_doubt(pg_engine, los_bot, number)
    ledger = WorkItemLedger(pg_engine)
    assert settle_los_decisions(pg_engine, ledger, los_bot)["waiting"] == 1
    assert item(pg_engine, number).state is WorkItemState.IN_DOUBT
    counts = settle_los_decisions(pg_engine, ledger, los_bot, quiet=timedelta(0))
    assert counts["not_recorded"] == 1
    failed = item(pg_engine, number)
    assert (failed.state, failed.failure_kind) == (WorkItemState.FAILED, FailureKind.TRANSIENT)
    assert "nothing recorded" in failed.error
    assert decisions(sim, number) == []
    outcome = post_decisions(pg_engine, los_bot, guard(pg_engine), [number])
    [recorded] = decisions(sim, number)
    assert outcome.posted == {number: recorded["reference"]}


def test_someone_elses_decision_on_the_status_page_settles_the_item_for_a_person(
    sim, sim_endpoints, los_bot, sim_dataset, pg_engine
):
    number = spare(sim_dataset, 48)
    stored(pg_engine, number)
    in_doubt(pg_engine, los_bot, number)
    http, _ = los_http_login(sim_endpoints, 1)
    los_decide(http, sim_endpoints, number, decision="REJECT")
    [theirs] = decisions(sim, number)
    counts = settle_los_decisions(pg_engine, WorkItemLedger(pg_engine), los_bot)
    assert counts["needs_human"] == 1
    stuck = item(pg_engine, number)
    assert stuck.state is WorkItemState.NEEDS_HUMAN
    assert theirs["reference"] in stuck.error
    assert decided(pg_engine, number)["los_reference"] is None  # not ours to store
    outcome = post_decisions(pg_engine, los_bot, guard(pg_engine), [number])
    assert list(outcome.needs_human) == [number]
    assert len(decisions(sim, number)) == 1


def test_one_application_that_cannot_be_posted_never_stops_the_others(
    sim, sim_endpoints, los_bot, sim_dataset, pg_engine
):
    """In doubt, taken by someone else, no decision, busy, above the limit, fine: each goes
    to its queue with its reason and the loop goes on; only the busy one is worth a retry."""
    doubt, other, busy, checker, fine = (spare(sim_dataset, i) for i in (49, 56, 59, 57, 58))
    for number in (doubt, other, busy, fine):
        stored(pg_engine, number)
    stored(pg_engine, checker, "900000.00")  # above the user's limit of 500,000
    in_doubt(pg_engine, los_bot, doubt)
    http, _ = los_http_login(sim_endpoints, 1)
    los_decide(http, sim_endpoints, other, decision="REJECT")
    sim.controls({"los": {"/decide": {"fault": "busy", "times": 1}}})  # the first submit
    batch = [doubt, other, "AP-NO-DECISION", busy, checker, fine]
    outcome = post_decisions(pg_engine, los_bot, guard(pg_engine), batch)
    assert list(outcome.in_doubt) == [doubt]
    assert list(outcome.needs_human) == [other]
    assert "already has decision" in outcome.needs_human[other]
    assert list(outcome.refused) == ["AP-NO-DECISION"]
    assert list(outcome.failed_transient) == [busy]
    assert list(outcome.waiting_for_checker) == [checker]
    assert list(outcome.posted) == [fine]
    assert outcome.worth_retrying
    retry = post_decisions(pg_engine, los_bot, guard(pg_engine), batch)
    assert set(retry.posted) == {busy, fine}
    assert not retry.worth_retrying
    for number in (busy, checker, fine):
        assert len(decisions(sim, number)) == 1
    assert decisions(sim, doubt) == []


def held(sim, number: str) -> list[dict]:
    return [e for e in sim.journal("los", "decision_held") if e["application_no"] == number]


def audit_actions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [
            a.removeprefix("work_item.")
            for a in conn.execute(select(audit_event.c.action)).scalars()
        ]


def test_the_checkers_confirmation_closes_the_item_that_waited_for_it(
    sim, sim_endpoints, los_bot, sim_dataset, pg_engine
):
    """Above the robot's limit the LOS holds the approval for a checker and the item waits
    NEEDS_HUMAN; once the checker confirmed in the LOS, the next read of the status page
    closes it DONE (audited), so nothing waits for a person who has already acted."""
    from devtools.los_checker import confirm_held
    from loanhub.flows.decide import decided, post_to_los, refresh_pending

    number = application(sim_dataset, 0)
    stored(pg_engine, number, "900000.00")
    post_to_los(pg_engine, los_bot, guard(pg_engine), number)
    assert item(pg_engine, number).state is WorkItemState.NEEDS_HUMAN
    ledger = WorkItemLedger(pg_engine, owner="flow-test")
    assert refresh_pending(pg_engine, los_bot, ledger) == 0  # nobody confirmed yet
    assert item(pg_engine, number).state is WorkItemState.NEEDS_HUMAN
    confirm_held(sim_endpoints["los"], [(number, Decimal("900000.00"), 36, Decimal("4.35"))])
    assert refresh_pending(pg_engine, los_bot, ledger) == 1
    closed = item(pg_engine, number)
    assert closed.state is WorkItemState.DONE
    assert closed.result["status"] == "APPROVED"
    assert decided(pg_engine, number)["los_status"] == "APPROVED"
