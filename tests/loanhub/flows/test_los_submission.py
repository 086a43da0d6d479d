"""Posting a decision into the LOS once (``decide.submit_once``): the bot's submission as a
work item on PostgreSQL, against the LOS simulator in Debian's Chromium. The bot's own screen
protocol (status first, the 504 read back) is tested in tests/bots/los/test_bot.py."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from bots.evidence import ScreenEvidence
from bots.los.bot import LosBot
from bots.los.pages import Decision
from kernel.failures import NeedsHuman, TransientError
from loanhub.flows.decide import submit_once
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.hub import WorkItemState
from tests.bots.conftest import FAST_POLICY, los_login


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
    assert str(stopped.value.evidence) in (stuck.error or "")  # a person finds the evidence
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
