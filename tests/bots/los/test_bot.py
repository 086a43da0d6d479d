"""LosBot against the LOS simulator: status first, never a second decision by itself, evidence
on failure. Its work item (once across workers) is tested with the flow that owns it
(tests/loanhub/flows/test_los_submission.py)."""

from __future__ import annotations

import zipfile
from decimal import Decimal

import pytest

from bots.los.pages import Decision
from kernel.failures import NeedsHuman, TransientError
from tests.bots.conftest import los_login
from tests.simulators.portal_pages import los_decide, los_http_login


def application(sim_dataset, n: int) -> str:
    """Applications 0-6 belong to the simulator's own tests; the bots take theirs from 10 up."""
    return sim_dataset.applications[10 + n].application_no


def approve(amount: str = "120000.00") -> Decision:
    return Decision("APPROVE", Decimal(amount), 36, Decimal("4.35"), "", "自动审批")


def decisions(sim, number: str) -> list[dict]:
    return [e for e in sim.journal("los", "decision") if e["application_no"] == number]


def test_approves_through_the_confirm_and_returns_the_reference(sim, los_bot, sim_dataset):
    number = application(sim_dataset, 0)
    receipt = los_bot.submit_decision(number, approve())
    assert receipt.submitted
    assert receipt.status == "APPROVED"
    assert receipt.reference.startswith("SP")
    [recorded] = decisions(sim, number)
    assert (recorded["reference"], recorded["amount"]) == (receipt.reference, "120000.00")
    # the status page was read before the form was opened
    kinds = [e["kind"] for e in sim.journal("los") if e.get("application_no") == number]
    assert kinds.index("status") < kinds.index("view") < kinds.index("decision")
    again = los_bot.submit_decision(number, approve())  # the status page answers
    assert (again.reference, again.status, again.submitted) == (
        receipt.reference,
        "APPROVED",
        False,
    )
    assert len(decisions(sim, number)) == 1


def test_504_after_commit_gives_exactly_one_decision(sim, los_bot, sim_dataset):
    number = application(sim_dataset, 1)
    sim.controls({"los": {"/decide": {"gateway_504_rate": 1.0}}})
    receipt = los_bot.submit_decision(number, approve())
    assert len(sim.journal("los", "gateway_504")) == 1
    assert receipt.submitted
    assert receipt.status == "APPROVED"
    [recorded] = decisions(sim, number)
    assert recorded["reference"] == receipt.reference


def test_a_decision_already_in_the_los_is_returned_not_resubmitted(
    sim, sim_endpoints, los_bot, sim_dataset
):
    """An earlier run submitted, then died before the ledger heard of it: the status page,
    read first, is what stops a second decision."""
    number = application(sim_dataset, 2)
    http, _ = los_http_login(sim_endpoints, 0)
    los_decide(http, sim_endpoints, number, amount="120000.00")
    [first] = decisions(sim, number)
    receipt = los_bot.submit_decision(number, approve())
    assert (receipt.reference, receipt.submitted) == (first["reference"], False)
    assert len(decisions(sim, number)) == 1


def test_someone_elses_different_decision_goes_to_a_person(
    sim, sim_endpoints, los_bot, sim_dataset
):
    number = application(sim_dataset, 3)
    http, _ = los_http_login(sim_endpoints, 1)
    los_decide(http, sim_endpoints, number, decision="REJECT")
    with pytest.raises(NeedsHuman, match="already has decision"):
        los_bot.submit_decision(number, approve())
    assert len(decisions(sim, number)) == 1


def test_above_the_limit_waits_for_a_checker(sim, los_bot, sim_dataset):
    number = application(sim_dataset, 4)
    receipt = los_bot.submit_decision(number, approve("900000.00"))  # limit 500,000
    assert receipt.status == "PENDING_REVIEW"
    assert receipt.waiting_for
    again = los_bot.submit_decision(number, approve("900000.00"))
    assert (again.reference, again.submitted) == (receipt.reference, False)  # nothing resent
    assert len(decisions(sim, number)) == 1


def test_the_layout_variant_fails_fast_with_evidence_and_submits_nothing(
    sim, sim_endpoints, los_bot, sim_dataset
):
    number = application(sim_dataset, 5)
    sim.controls({"los": {"*": {"variant": True}}})
    with pytest.raises(NeedsHuman, match="nothing was submitted") as stopped:
        los_bot.submit_decision(number, approve())
    assert decisions(sim, number) == []
    assert stopped.value.evidence is not None
    assert (stopped.value.evidence / "screen.png").stat().st_size > 0
    assert "批准金额（元）" in (stopped.value.evidence / "reason.txt").read_text()
    with zipfile.ZipFile(stopped.value.evidence / "trace.zip") as kept:
        everything = b"".join(kept.read(n) for n in kept.namelist())
    password = los_login(sim_endpoints).password.get_secret_value().encode()
    assert password not in everything


def test_a_submit_turned_away_by_the_busy_page_is_retried_safely(sim, los_bot, sim_dataset):
    """The busy page instead of a confirmation: the status shows nothing recorded, so the
    attempt fails as transient and the next one (status first, again) submits once."""
    number = application(sim_dataset, 7)
    sim.controls({"los": {"/decide": {"fault": "busy", "times": 1}}})
    with pytest.raises(TransientError, match="recorded nothing"):
        los_bot.submit_decision(number, approve())
    assert decisions(sim, number) == []
    receipt = los_bot.submit_decision(number, approve())
    assert receipt.submitted
    assert len(decisions(sim, number)) == 1


def free_port() -> int:
    """A loopback port with nothing listening on it: a LOS that is down."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_los_nobody_answers_is_transient_not_a_screen_for_a_person(
    sim, sim_endpoints, chromium, evidence
):
    """Connection refused before anything was sent: retry later, never NEEDS_HUMAN (which
    would leave the work item stuck for a person although the LOS was merely down)."""
    from bots.los.bot import LosBot
    from loanhub.platform.masking import mask_text
    from tests.bots.conftest import FAST_POLICY

    down = los_login(sim_endpoints).model_copy(
        update={"url": f"http://127.0.0.1:{free_port()}/los/"}
    )
    bot = LosBot(down, chromium, evidence, mask_text, FAST_POLICY)
    try:
        with pytest.raises(TransientError, match="ERR_CONNECTION_REFUSED"):
            bot.submit_decision("AP-NOBODY", approve())
        with pytest.raises(TransientError, match="ERR_CONNECTION_REFUSED"):
            bot.read_status("AP-NOBODY")
        unresolvable = down.model_copy(update={"url": "http://los.invalid/los/"})
        bot.login = unresolvable
        with pytest.raises(TransientError, match="ERR_NAME_NOT_RESOLVED"):
            bot.submit_decision("AP-NOBODY", approve())
    finally:
        bot.close()


def test_no_answer_to_the_submit_is_read_back_from_the_status_page(
    sim, sim_endpoints, sim_dataset, los_bot
):
    """The LOS records the decision and answers later than the bot waits (a navigation
    timeout after the click): the bot reads the status instead of calling it a strange
    screen, and finds its decision."""
    number = application(sim_dataset, 8)
    sim.controls({"los": {"/decide": {"hold_seconds": 4.0}}})
    los_bot.context.set_default_navigation_timeout(1500)  # shorter than the LOS holds on
    receipt = los_bot.submit_decision(number, approve())
    [recorded] = decisions(sim, number)
    assert (receipt.reference, receipt.submitted) == (recorded["reference"], True)


def test_read_status_shows_every_decision_on_the_application(sim, los_bot, sim_dataset):
    number = application(sim_dataset, 9)
    assert los_bot.read_status(number).decisions == []
    receipt = los_bot.submit_decision(number, approve())
    reading = los_bot.read_status(number)
    assert reading.status == "APPROVED"
    assert [(r.reference, r.decision, r.amount) for r in reading.decisions] == [
        (receipt.reference, "APPROVE", Decimal("120000.00"))
    ]
