"""The LOS's answers after the hub's posting: the checker's confirmation or rejection closes
the work item that waited for it (``decide.refresh_pending``), ``waiting.stuck`` flags an item
that waits on nothing, and a return for more documents (退回补件) is posted once, mailed to
credit ops once, re-opened by the next intake and harvested again without a second bureau
inquiry.

Its own simulators (another seed, started for this module): the session's LOS remembers
every decision other tests posted on the default data set's applications.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, insert, select, update

from devtools.los_checker import confirm_held, reject_held
from devtools.synthetic import los_intake
from loanhub.flows import decide, returns, waiting
from loanhub.flows.harvest import BureauInquiries
from loanhub.flows.intake import load_applicants
from loanhub.flows.rules import RuleSet
from loanhub.platform.consents import ConsentBook
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubBots, HubConnectors
from schemas.hub import WorkItemState
from schemas.tables import applicant_profile, application, audit_event, fact_row
from schemas.types import utcnow
from tests.conftest import FAST, SimAdmin
from tests.loanhub.flows.test_rules import profile
from tests.simulators.portal_pages import los_users

SEED = 20190  # not the session's seed: fresh LOS applications nobody posted on
RULES = RuleSet.load()


@pytest.fixture(scope="module")
def sim2_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("sim-return")
    cmd = [sys.executable, "-m", "simulators"]
    up = [*cmd, "up", "--data-dir", str(data_dir), "--seed", str(SEED)]
    subprocess.run(up, check=True, timeout=60)
    yield data_dir
    subprocess.run([*cmd, "down", "--data-dir", str(data_dir)], check=True, timeout=60)


@pytest.fixture(scope="module")
def endpoints(sim2_dir: Path) -> dict:
    return json.loads((sim2_dir / "endpoints.json").read_text())


@pytest.fixture(scope="module")
def los_apps(endpoints: dict) -> list[dict]:
    r = requests.get(f"{endpoints['admin']['url']}/dataset", timeout=60)
    r.raise_for_status()
    return r.json()["applications"]


@pytest.fixture
def admin(endpoints: dict) -> SimAdmin:
    sim = SimAdmin(endpoints)
    sim.post("/controls/reset", {})
    sim.controls(FAST)
    for user in los_users(endpoints):
        sim.post("/unlock", {"system": "los", "user": user["username"]})
    sim.clear_journal()
    return sim


@pytest.fixture
def settings(sim2_dir: Path, pg_url: str, tmp_path: Path) -> HubSettings:
    return HubSettings(data_dir=tmp_path, sim_dir=sim2_dir, database_url=pg_url)


@pytest.fixture
def bot(settings, pg_engine, chromium, admin):
    los = HubBots.build(settings, pg_engine, chromium).los
    yield los
    los.close()


def guard(engine: Engine) -> LedgerGuard:
    return LedgerGuard(WorkItemLedger(engine, owner="return-test"), wait_seconds=30)


def posting(engine: Engine, number: str):
    item = WorkItemLedger(engine).get(decide.KIND, number)
    assert item is not None
    return item


def held_approval(engine: Engine, bot, number: str) -> None:
    """The hub's approval of 900,000 (above the robot's limit), posted: the LOS holds it."""
    from devtools.crash_sweep_los import store_decision

    store_decision(engine, number, Decimal("900000.00"))
    decide.post_to_los(engine, bot, guard(engine), number)
    assert posting(engine, number).state is WorkItemState.NEEDS_HUMAN
    assert decide.decided(engine, number)["los_status"] == "PENDING_REVIEW"


def taken_in(engine: Engine, app: dict) -> None:
    load_applicants(engine, los_intake([app], datetime.now(UTC)), source_ref="los-daily-list")


def held(number: str) -> list[tuple[str, Decimal, int, Decimal]]:
    return [(number, Decimal("900000.00"), 36, Decimal("4.35"))]


def test_the_checkers_approval_closes_the_item_and_nothing_is_left_stuck(
    admin, endpoints, los_apps, bot, pg_engine
):
    number = los_apps[0]["application_no"]
    taken_in(pg_engine, los_apps[0])
    held_approval(pg_engine, bot, number)
    ledger = WorkItemLedger(pg_engine, owner="refresh")
    [wait] = waiting.waiting_items(pg_engine)
    assert (wait.business_key, wait.waits_on) == (number, waiting.LOS_CHECKER)
    assert waiting.stuck(pg_engine) == []
    assert decide.refresh_pending(pg_engine, bot, ledger) == 0  # nobody confirmed yet

    checker, _ = confirm_held(endpoints["los"], held(number))
    assert decide.refresh_pending(pg_engine, bot, ledger) == 1
    closed = posting(pg_engine, number)
    assert closed.state is WorkItemState.DONE
    assert closed.result["status"] == "APPROVED"
    assert (closed.result["checker"], closed.result["checker_decision"]) == (checker, "APPROVE")
    assert decide.decided(pg_engine, number)["los_status"] == "APPROVED"
    with pg_engine.connect() as conn:
        actions = list(conn.execute(select(audit_event.c.action)).scalars())
    assert "work_item.resolved_by_reading" in actions
    assert "decision.los_status" in actions
    assert waiting.waiting_items(pg_engine) == []


def test_an_item_whose_decision_already_shows_the_checker_is_closed_and_flagged_before(
    admin, endpoints, los_apps, bot, pg_engine
):
    """A run that stored the checker's answer with the decision and died before closing the
    item (or a store where that happened before this fix): the item waits on nothing.
    ``stuck`` names it, and the next refresh closes it all the same."""
    number = los_apps[1]["application_no"]
    held_approval(pg_engine, bot, number)
    confirm_held(endpoints["los"], held(number))
    with pg_engine.begin() as conn:
        conn.execute(
            update(decide.decision)
            .where(decide.decision.c.application_no == number)
            .values(los_status="APPROVED")
        )
    [flagged] = waiting.stuck(pg_engine)
    assert flagged.business_key == number
    assert "APPROVED" in flagged.stuck
    decide.refresh_pending(pg_engine, bot, WorkItemLedger(pg_engine, owner="refresh"))
    assert posting(pg_engine, number).state is WorkItemState.DONE
    assert waiting.stuck(pg_engine) == []


def test_the_checkers_rejection_closes_the_item_and_rejects_the_application(
    admin, endpoints, los_apps, bot, pg_engine
):
    number = los_apps[2]["application_no"]
    taken_in(pg_engine, los_apps[2])
    with pg_engine.begin() as conn:  # as decide.record leaves an approval
        conn.execute(
            update(application)
            .where(application.c.application_no == number)
            .values(status="APPROVED")
        )
    held_approval(pg_engine, bot, number)
    checker, _ = reject_held(endpoints["los"], held(number))
    assert decide.refresh_pending(pg_engine, bot, WorkItemLedger(pg_engine)) == 1
    closed = posting(pg_engine, number)
    assert closed.state is WorkItemState.DONE
    assert (closed.result["status"], closed.result["checker_decision"]) == ("REJECTED", "REJECT")
    assert closed.result["checker"] == checker
    assert decide.decided(pg_engine, number)["los_status"] == "REJECTED"
    with pg_engine.connect() as conn:
        status = conn.execute(
            select(application.c.status).where(application.c.application_no == number)
        ).scalar_one()
    assert status == "REJECTED"  # never paid: the LOS said no
    assert waiting.waiting_items(pg_engine) == []


def test_a_return_is_posted_once_mailed_once_reopened_and_harvested_without_a_new_inquiry(
    admin, los_apps, bot, settings, pg_engine
):
    app = los_apps[3]
    number, subject = app["application_no"], app["id_number"]
    taken_in(pg_engine, app)
    connectors = HubConnectors.build(settings, pg_engine)
    bureau = BureauInquiries(connectors.bureau, ConsentBook(pg_engine), guard(pg_engine))
    bureau.personal_report(number, subject, app["applicant_name"])
    assert len(admin.journal("bureau", "query")) == 1
    with pg_engine.begin() as conn:
        conn.execute(
            insert(applicant_profile).values(
                fact_row(
                    profile(
                        application_no=number,
                        party_id_number=subject,
                        requested_amount=Decimal("600000.00"),
                    )
                )
            )
        )
    [referral] = decide.evaluate(pg_engine, RULES, [number])
    with pytest.raises(decide.ReviewRefused, match="needs a reason"):
        decide.record_review(
            pg_engine, RULES, referral, chosen="Return", responder="senior_officer", maker="ops"
        )
    made = decide.record_review(
        pg_engine,
        RULES,
        referral,
        chosen="Return",
        responder="senior_officer",
        maker="ops",
        comment="近六个月银行流水",
    )
    assert made.outcome.value == "RETURN"

    for _ in range(2):  # a second run posts nothing again
        outcome = decide.post_decisions(pg_engine, bot, guard(pg_engine), [number])
        assert list(outcome.posted) == [number]
    [sent] = [e for e in admin.journal("los", "decision") if e["application_no"] == number]
    assert (sent["decision"], sent["status"]) == ("RETURN", "RETURNED")
    assert bot.read_status(number).status == "RETURNED"
    assert "近六个月银行流水" in decide.decided(pg_engine, number)["comment"]

    for _ in range(2):
        assert returns.notify_returns(pg_engine, connectors.notifier, guard(pg_engine)) == {
            "notified": 1,
            "failed": 0,
        }
    [mail] = admin.journal("smtp", "mail")
    assert number in json.dumps(mail, ensure_ascii=False)

    taken_in(pg_engine, app)  # the documents came: the LOS lists it again
    with pg_engine.connect() as conn:
        status = conn.execute(
            select(application.c.status).where(application.c.application_no == number)
        ).scalar_one()
        reopened = conn.execute(
            select(audit_event.c.before).where(audit_event.c.action == "application.reopened")
        ).scalar_one()
    assert status == "RECEIVED"
    assert reopened["reason"].startswith("近六个月银行流水")
    bureau.personal_report(number, subject, app["applicant_name"])
    assert len(admin.journal("bureau", "query")) == 1  # the first round's report, reused
    assert waiting.stuck(pg_engine) == []


# -- the next round: a returned application decided again, once ------------------------------


@pytest.fixture(scope="module")
def dataset(endpoints: dict) -> dict:
    r = requests.get(f"{endpoints['admin']['url']}/dataset", timeout=60)
    r.raise_for_status()
    return r.json()


def bankable(dataset: dict, skip: int) -> dict:
    """An application (past the first ``skip``) the robot may approve alone (within its
    500,000 limit) whose applicant banks with us, with an active deposit account to pay into."""
    paid_into = {
        c["id_number"]
        for c in dataset["customers"]
        if any(a["type"].lower() == "deposit" and a["status"] == "ACTIVE" for a in c["accounts"])
    }
    return next(
        a
        for a in dataset["applications"][skip:]
        if a["id_number"] in paid_into and Decimal(str(a["requested_amount"])) <= 400000
    )


def los_decisions(admin: SimAdmin, number: str) -> list[dict]:
    return [e for e in admin.journal("los", "decision") if e["application_no"] == number]


def app_row(engine: Engine, number: str):
    with engine.connect() as conn:
        return conn.execute(
            select(application.c.status, application.c.round).where(
                application.c.application_no == number
            )
        ).one()


def returned_once(engine: Engine, bot, app: dict, referral: decide.Referral) -> None:
    """Round 1 answered "Return" with a reason, posted once, and the documents come back: the
    next intake re-opens the application in round 2."""
    decide.record_review(
        engine,
        RULES,
        referral,
        chosen="Return",
        responder=RULES.approvers(referral.tier, "ops")[0],
        maker="ops",
        comment="近六个月银行流水",
    )
    assert list(decide.post_decisions(engine, bot, guard(engine), [app["application_no"]]).posted)
    taken_in(engine, app)
    assert tuple(app_row(engine, app["application_no"])) == ("RECEIVED", 2)


def test_a_returned_application_is_harvested_decided_and_posted_again_once_in_round_2(
    admin, endpoints, dataset, bot, settings, pg_engine
):
    """Return -> re-intake -> harvest (the bureau's report reused: one inquiry) -> a fresh
    profile -> referred and approved in round 2 -> posted once (a 504 after the LOS committed
    it included) -> APPROVED and booked for payment; reruns change nothing."""
    from loanhub.flows import disburse, harvest
    from loanhub.flows.profile import build_profile

    app = bankable(dataset, 4)
    number = app["application_no"]
    taken_in(pg_engine, app)
    connectors = HubConnectors.build(settings, pg_engine)
    consents = ConsentBook(pg_engine)
    bureau = BureauInquiries(connectors.bureau, consents, guard(pg_engine))
    steps = [
        harvest.BureauStep(pg_engine, bureau),
        harvest.CoreStep(pg_engine, connectors.core, datetime.now(UTC).date(), consents),
    ]

    def harvested() -> None:
        """What credit_harvest does for every RECEIVED application (tax and the portal stay
        out: the profile names them missing, and the rules refer it)."""
        batch = [a for a in harvest.applicants(pg_engine) if a.application_no == number]
        assert len(batch) == 1, "not taken up by the harvest"
        for step in steps:
            harvest.run_batch(step, batch)
        build_profile(pg_engine, batch[0])

    harvested()
    assert decide.undecided(pg_engine) == [number]
    [first] = decide.evaluate(pg_engine, RULES, [number])
    assert first.round == 1
    returned_once(pg_engine, bot, app, first)

    # re-opened, not yet harvested again: nothing decides it on the round before's profile
    assert decide.undecided(pg_engine) == []
    assert decide.evaluate(pg_engine, RULES, [number]) == []

    harvested()
    assert len(admin.journal("bureau", "query")) == 1  # one QueryPersonalReport in all
    with pg_engine.connect() as conn:
        rounds = conn.execute(
            select(applicant_profile.c.round).where(applicant_profile.c.application_no == number)
        ).scalars()
        assert sorted(rounds) == [1, 2]  # a fresh profile, although the facts are the same
    assert decide.undecided(pg_engine) == [number]
    [second] = decide.evaluate(pg_engine, RULES, [number])
    assert (second.round, "(round 2)" in second.subject) == (2, True)

    approver = RULES.approvers(second.tier, "ops")[0]
    stale = decide.record_review(  # round 1's answer again (a retried task): decides nothing
        pg_engine, RULES, first, chosen="Approve", responder=approver, maker="ops"
    )
    assert (stale.round, stale.outcome.value) == (1, "RETURN")
    assert decide.undecided(pg_engine) == [number]
    made = decide.record_review(
        pg_engine, RULES, second, chosen="Approve", responder=approver, maker="ops"
    )
    assert (made.round, made.outcome.value) == (2, "APPROVE")
    assert decide.unposted(pg_engine) == [number]

    admin.controls({"los": {"/decide": {"gateway_504_rate": 1.0}}})  # committed, then 504
    outcome = decide.post_decisions(pg_engine, bot, guard(pg_engine), [number])
    admin.controls({"los": {"/decide": {"gateway_504_rate": 0.0}}})
    for _ in range(2):  # reruns: the item answers, the LOS hears nothing more
        again = decide.post_decisions(pg_engine, bot, guard(pg_engine), [number])
        assert again.posted == outcome.posted
    sent = los_decisions(admin, number)
    assert [(e["round"], e["decision"]) for e in sent] == [(1, "RETURN"), (2, "APPROVE")]
    assert outcome.posted == {number: sent[1]["reference"]}
    assert bot.read_status(number).status == "APPROVED"
    ledger = WorkItemLedger(pg_engine)
    assert ledger.get(decide.KIND, number).state is WorkItemState.DONE
    assert ledger.get(decide.KIND, decide.posting_key(number, 2)).state is WorkItemState.DONE
    latest = decide.decided(pg_engine, number)
    assert (latest["round"], latest["los_status"]) == (2, "APPROVED")
    assert decide.decided(pg_engine, number, 1)["outcome"] == "RETURN"
    assert tuple(app_row(pg_engine, number)) == ("APPROVED", 2)
    assert decide.undecided(pg_engine) == []
    assert decide.unposted(pg_engine) == []
    assert disburse.book_loans(pg_engine, today=utcnow().date()) == [
        disburse.loan_account_for(number)
    ]
    assert waiting.stuck(pg_engine) == []


def test_a_round_2_posting_in_doubt_is_settled_by_its_own_round(admin, los_apps, bot, pg_engine):
    """A round-2 submission nobody heard the end of, with nothing of round 2 on the status
    page: round 1's return there is not someone else's decision (no case for a person) and
    not this one; after the quiet period the item fails transient and the next post submits
    round 2 once."""
    app = los_apps[5]
    number = app["application_no"]
    taken_in(pg_engine, app)

    def profiled(round: int) -> None:
        with pg_engine.begin() as conn:
            conn.execute(
                insert(applicant_profile).values(
                    fact_row(
                        profile(
                            application_no=number,
                            party_id_number=app["id_number"],
                            requested_amount=Decimal("600000.00"),
                            round=round,
                            inputs_hash=f"{round:064d}",
                        )
                    )
                )
            )

    profiled(1)
    [first] = decide.evaluate(pg_engine, RULES, [number])
    returned_once(pg_engine, bot, app, first)
    profiled(2)
    [second] = decide.evaluate(pg_engine, RULES, [number])
    decide.record_review(
        pg_engine, RULES, second, chosen="Reject", responder="senior_officer", maker="ops"
    )
    key = decide.posting_key(number, 2)
    gone = WorkItemLedger(pg_engine, owner="gone")
    form = decide.los_form(decide.decided(pg_engine, number))
    payload = decide.submission(bot.login.username, number, form, 2)
    gone.mark_in_doubt(gone.claim(decide.KIND, key, payload), "no answer")

    ledger = WorkItemLedger(pg_engine)
    counts = decide.settle_los_decisions(pg_engine, ledger, bot, quiet=timedelta(0))
    assert counts["not_recorded"] == 1, counts
    assert ledger.get(decide.KIND, key).state is WorkItemState.FAILED
    outcome = decide.post_decisions(pg_engine, bot, guard(pg_engine), [number])
    sent = los_decisions(admin, number)
    assert [(e["round"], e["decision"]) for e in sent] == [(1, "RETURN"), (2, "REJECT")]
    assert outcome.posted == {number: sent[1]["reference"]}
    assert ledger.get(decide.KIND, key).state is WorkItemState.DONE
    assert tuple(app_row(pg_engine, number)) == ("REJECTED", 2)


def test_the_los_opens_a_returned_application_again_and_still_records_a_blind_second_decision(
    admin, endpoints, los_apps
):
    """The simulator as the catalogue has it: after a return the form is open for the next
    round; a decision after a final one is recorded all the same (the quirk the bot avoids)."""
    from tests.simulators.portal_pages import los_decide, los_http_login

    number = los_apps[6]["application_no"]
    http, _ = los_http_login(endpoints)
    assert los_decide(http, endpoints, number, decision="RETURN").status_code == 200
    page = http.get(endpoints["los"]["url"] + "app", params={"no": number}, timeout=10)
    text = page.content.decode("gbk")
    assert "已退回补件" in text
    assert "补件后审批意见" in text
    for _ in range(2):
        assert los_decide(http, endpoints, number).status_code == 200
    sent = los_decisions(admin, number)
    assert [(e["round"], e["status"]) for e in sent] == [
        (1, "RETURNED"),
        (2, "APPROVED"),
        (2, "APPROVED"),  # a second decision of round 2: recorded, as the real LOS does
    ]
