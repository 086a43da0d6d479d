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
from datetime import UTC, datetime
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
from tests.conftest import FAST, SimAdmin
from tests.loanhub.flows.test_rules import profile

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
    for user in endpoints["los"]["users"]:
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
