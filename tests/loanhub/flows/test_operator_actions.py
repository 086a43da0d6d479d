"""An operator's actions on stuck work items (``loanhub.flows.operator_actions``) on PostgreSQL,
the settle readings against the real simulators: the gateway's folders and reports over SFTP,
the LOS's status page in Chromium, the bureau's RetrieveReport. Each action needs a note and
leaves its audit event; each refusal changes nothing; settling never sends anything."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from bots.evidence import ScreenEvidence
from bots.los.bot import LosBot
from connectors.bureau import BureauConnector
from kernel.failures import FailureKind, OutcomeUnknown
from loanhub.flows import disburse, operator_actions
from loanhub.flows.decide import decided, los_form, submission
from loanhub.flows.operator_actions import ActionRefused, BadInput, Outcome, Readers
from loanhub.flows.waiting import waiting_items
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.hub import WorkItemState
from schemas.tables import audit_event, disbursement, work_item
from schemas.types import utcnow
from tests.bots.conftest import FAST_POLICY, los_login
from tests.connectors.conftest import soap_config
from tests.loanhub.flows.conftest import record_consent
from tests.loanhub.flows.test_bureau_inquiries import inquiries, known
from tests.loanhub.flows.test_payment_crash_points import FILE, book, crash, send
from tests.simulators.portal_pages import los_decide, los_http_login


def operator(engine: Engine) -> WorkItemLedger:
    return WorkItemLedger(engine, owner="desk", actor="otto")


def events(engine: Engine, action: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_event.c.actor, audit_event.c.subject, audit_event.c.after).where(
                audit_event.c.action == action
            )
        ).all()
    return [{"actor": a, "subject": s, **(after or {})} for a, s, after in rows]


def state(engine: Engine, kind: str, key: str) -> tuple[str, str | None]:
    found = WorkItemLedger(engine).get(kind, key)
    assert found is not None
    return found.state.value, found.failure_kind


NOBODY = Readers(
    gateway=lambda: pytest.fail("the gateway was asked"),
    los=lambda: pytest.fail("the LOS was asked"),
    bureau=lambda: pytest.fail("the bureau was asked"),
)


# -- release, close, reopen ---------------------------------------------------------------------


def test_closing_and_reopening_need_a_note_and_are_audited(pg_engine: Engine):
    worker = WorkItemLedger(pg_engine, owner="w1")
    worker.needs_human(worker.claim("payee_account", "AP-OP1", {"a": 1}), "no deposit account")
    ledger = operator(pg_engine)
    with pytest.raises(BadInput, match="needs a note"):
        operator_actions.close(ledger, "payee_account", "AP-OP1", "  ")
    with pytest.raises(BadInput, match="no work item"):
        operator_actions.close(ledger, "payee_account", "AP-NONE", "x")
    assert state(pg_engine, "payee_account", "AP-OP1") == ("NEEDS_HUMAN", None)
    closed = operator_actions.close(ledger, "payee_account", "AP-OP1", "paid at the counter")
    assert closed.state is WorkItemState.CLOSED
    [event] = events(pg_engine, "operator.closed")
    assert event == {
        "actor": "otto",
        "subject": "payee_account:AP-OP1",
        "note": "paid at the counter",
    }
    # what ``loanhub items check`` reads: a closed item waits on nothing and is not stuck
    assert [w.business_key for w in waiting_items(pg_engine)] == []
    with pytest.raises(ActionRefused, match="only a NEEDS_HUMAN item is closed"):
        operator_actions.close(ledger, "payee_account", "AP-OP1", "again")
    again = WorkItemLedger(pg_engine, owner="w2").claim("payee_account", "AP-OP1", {"a": 1})
    assert again.state is WorkItemState.CLOSED  # nothing runs it
    reopened = operator_actions.reopen(ledger, "payee_account", "AP-OP1", "the counter refused")
    assert reopened.state is WorkItemState.NEEDS_HUMAN
    assert [w.business_key for w in waiting_items(pg_engine)] == ["AP-OP1"]
    assert [e["note"] for e in events(pg_engine, "operator.reopened")] == ["the counter refused"]
    with pytest.raises(ActionRefused, match="only a CLOSED item is reopened"):
        operator_actions.reopen(ledger, "payee_account", "AP-OP1", "twice")


def test_a_failed_item_is_released_once_unless_it_is_retried_anyway(pg_engine: Engine):
    worker = WorkItemLedger(pg_engine, owner="w1")
    worker.fail(worker.claim("payment", "E-OP1", {"e": 1}), FailureKind.CONTRACT, "bad IBAN")
    worker.fail(worker.claim("payment", "E-OP2", {"e": 2}), FailureKind.TRANSIENT, "busy")
    worker.mark_in_doubt(worker.claim("payment", "E-OP3", {"e": 3}), "lost answer")
    ledger = operator(pg_engine)
    with pytest.raises(ActionRefused, match="takes it again by itself"):
        operator_actions.release(ledger, "payment", "E-OP2", "x")
    with pytest.raises(ActionRefused, match="only FAILED or NEEDS_HUMAN"):
        operator_actions.release(ledger, "payment", "E-OP3", "x")
    with pytest.raises(BadInput):
        operator_actions.release(ledger, "payment", "E-OP1", "")
    assert state(pg_engine, "payment", "E-OP1") == ("FAILED", "contract")
    operator_actions.release(ledger, "payment", "E-OP1", "the IBAN was corrected at the core")
    assert state(pg_engine, "payment", "E-OP1") == ("FAILED", "transient")
    assert [e["note"] for e in events(pg_engine, "operator.released")] == [
        "the IBAN was corrected at the core"
    ]
    nxt = WorkItemLedger(pg_engine, owner="w2").claim("payment", "E-OP1", {"e": 1})
    assert (nxt.state, nxt.attempts) == (WorkItemState.IN_PROGRESS, 2)  # the next run, once


# -- settling: mails, by the store and the mail rule ----------------------------------------


def test_a_mail_in_doubt_is_settled_by_its_rule_and_never_to_what_the_reading_denies(
    pg_engine: Engine,
):
    worker = WorkItemLedger(pg_engine, owner="w1")
    worker.mark_in_doubt(worker.claim("warning_mail", "W-GONE", {"to": ["ops@x"]}), "no 250")
    worker.mark_in_doubt(worker.claim("return_notice", "AP-9:SP1", {"to": ["ops@x"]}), "no 250")
    worker.mark_in_doubt(worker.claim("tax_request", "20261201:001", {"a": 1}), "?")
    ledger = operator(pg_engine)
    reading = operator_actions.read(pg_engine, NOBODY, ledger, "warning_mail", "W-GONE")
    assert (reading.supports, reading.unavailable) == (Outcome.RELEASE, False)
    assert "the warning is gone" in reading.lines[0]
    with pytest.raises(ActionRefused, match="supports release, not done"):
        operator_actions.settle(pg_engine, NOBODY, ledger, "warning_mail", "W-GONE", "done", "x")
    with pytest.raises(BadInput, match="unknown outcome 'sent'"):
        operator_actions.settle(pg_engine, NOBODY, ledger, "warning_mail", "W-GONE", "sent", "x")
    with pytest.raises(BadInput, match="not refer"):
        operator_actions.settle(pg_engine, NOBODY, ledger, "warning_mail", "W-GONE", "refer", "x")
    with pytest.raises(ActionRefused, match="no reader settles a tax_request"):
        operator_actions.read(pg_engine, NOBODY, ledger, "tax_request", "20261201:001")
    assert state(pg_engine, "warning_mail", "W-GONE") == ("IN_DOUBT", None)
    settled, _ = operator_actions.settle(
        pg_engine, NOBODY, ledger, "warning_mail", "W-GONE", "release", "the warning was purged"
    )
    assert (settled.state, settled.failure_kind) == (WorkItemState.FAILED, FailureKind.TRANSIENT)
    notice = operator_actions.read(pg_engine, NOBODY, ledger, "return_notice", "AP-9:SP1")
    assert notice.supports is Outcome.RELEASE
    assert "same Message-ID" in notice.lines[0]
    [event] = events(pg_engine, "operator.settled")
    assert (event["actor"], event["outcome"], event["note"]) == (
        "otto",
        "release",
        "the warning was purged",
    )
    with pytest.raises(ActionRefused, match="only an IN_DOUBT item is settled"):
        operator_actions.read(pg_engine, NOBODY, ledger, "warning_mail", "W-GONE")


# -- settling: the bureau, by RetrieveReport -----------------------------------------------------


def bureau_readers(sim_endpoints, evidence, url: str | None = None) -> Readers:
    config = soap_config(sim_endpoints, "bureau", **({"url": url} if url else {}))
    connector = BureauConnector(config, mask_text, evidence)
    return Readers(gateway=NOBODY.gateway, los=NOBODY.los, bureau=lambda: connector)


def test_a_lost_bureau_answer_is_read_back_and_settled_done_without_a_second_inquiry(
    sim, sim_endpoints, evidence, sim_dataset, pg_engine
):
    person = known(sim_dataset, 40)
    record_consent(pg_engine, person.id_number)
    book_of = inquiries(sim_endpoints, evidence, pg_engine)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    with pytest.raises(OutcomeUnknown):
        book_of.personal_report("APP-OP40", person.id_number, person.name)
    key = f"APP-OP40:{person.id_number}:01"
    readers, ledger = bureau_readers(sim_endpoints, evidence), operator(pg_engine)
    reading = operator_actions.read(pg_engine, readers, ledger, "bureau_query", key)
    assert reading.supports is Outcome.DONE
    assert "RetrieveReport" in reading.lines[0]
    assert person.id_number not in " ".join(reading.lines)  # masked
    with pytest.raises(ActionRefused, match="supports done, not release"):
        operator_actions.settle(pg_engine, readers, ledger, "bureau_query", key, "release", "x")
    assert state(pg_engine, "bureau_query", key) == ("IN_DOUBT", None)
    settled, _ = operator_actions.settle(
        pg_engine, readers, ledger, "bureau_query", key, "done", "read back, as the page showed"
    )
    assert settled.state is WorkItemState.DONE
    assert settled.result["report_no"]
    assert len(sim.journal("bureau", "query")) == 1  # one hard inquiry, ever
    # read three times (the reading, the refused confirmation, the one that settled), all reads
    assert len(sim.journal("bureau", "retrieval")) == 3
    report = book_of.personal_report("APP-OP40", person.id_number, person.name)  # reused
    assert report.report_no == settled.result["report_no"]
    assert len(sim.journal("bureau", "query")) == 1
    assert events(pg_engine, "operator.settled")[0]["outcome"] == "done"


def test_an_inquiry_the_bureau_never_got_is_released_and_an_unreadable_one_left_alone(
    sim, sim_endpoints, evidence, sim_dataset, pg_engine
):
    person = known(sim_dataset, 41)
    worker = WorkItemLedger(pg_engine, owner="crashed")
    key = f"APP-OP41:{person.id_number}:01"
    payload = {
        "application_no": "APP-OP41",
        "subject": person.id_number,
        "reason": "01",
        "operation": "QueryPersonalReport",
    }
    worker.mark_in_doubt(worker.claim("bureau_query", key, payload), "killed before sending")
    ledger = operator(pg_engine)
    away = bureau_readers(sim_endpoints, evidence, url="http://127.0.0.1:9/bureau")
    unread = operator_actions.read(pg_engine, away, ledger, "bureau_query", key)
    assert (unread.unavailable, unread.supports) == (True, None)
    with pytest.raises(ActionRefused, match="could not be read"):
        operator_actions.settle(pg_engine, away, ledger, "bureau_query", key, "release", "x")
    assert state(pg_engine, "bureau_query", key) == ("IN_DOUBT", None)
    assert events(pg_engine, "operator.settled") == []
    readers = bureau_readers(sim_endpoints, evidence)
    reading = operator_actions.read(pg_engine, readers, ledger, "bureau_query", key)
    assert reading.supports is Outcome.RELEASE
    assert "RequestNotFound" in reading.lines[0]
    operator_actions.settle(
        pg_engine, readers, ledger, "bureau_query", key, "release", "never reached the bureau"
    )
    assert state(pg_engine, "bureau_query", key) == ("FAILED", "transient")
    assert sim.journal("bureau", "query") == []  # settling sent no inquiry


# -- settling: payments, by the gateway's folders and reports -----------------------------------

OFFSET = 105  # customers 105-109: no other test of the session pays them


@pytest.fixture
def gateway(sim, sim_dir, pg_url, pg_engine, tmp_path: Path):
    from loanhub.runtime.settings import HubSettings
    from loanhub.runtime.wiring import HubConnectors

    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    return HubConnectors.build(settings, pg_engine).payments


def gateway_files(sim, wait: float = 15) -> list[dict]:
    """The files the gateway took, once it has taken at least one (it polls its inbox)."""
    deadline = time.monotonic() + wait
    while not (found := sim.journal("gateway", "file")) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def payments_readers(gateway) -> Readers:
    return Readers(gateway=lambda: gateway, los=NOBODY.los, bureau=NOBODY.bureau)


def test_a_payment_whose_file_is_whole_at_the_gateway_is_settled_done_and_paid_once(
    sim, sim_endpoints, sim_dataset, pg_engine, gateway
):
    [e2e] = book(pg_engine, sim_dataset, OFFSET - 60)  # book() adds its own offset of 60
    crash(sim, "rename", "after", FILE)
    send(pg_engine, gateway)
    assert state(pg_engine, disburse.KIND, e2e) == ("IN_DOUBT", None)
    inbox = Path(sim_endpoints["sftp"]["root"]) / "payments" / "in"
    readers, ledger = payments_readers(gateway), operator(pg_engine)
    reading = operator_actions.read(pg_engine, readers, ledger, disburse.KIND, e2e)
    assert reading.supports is Outcome.DONE
    assert "untriggered" in reading.lines[0]
    [msg_id] = [m for m, _ in disburse.tranche_files(pg_engine, e2e)]
    assert not (inbox / f"{msg_id}.xml.ok").exists()  # reading wrote nothing
    with pytest.raises(ActionRefused, match="supports done, not release"):
        operator_actions.settle(pg_engine, readers, ledger, disburse.KIND, e2e, "release", "x")
    settled, _ = operator_actions.settle(
        pg_engine, readers, ledger, disburse.KIND, e2e, "done", "the file is at the gateway"
    )
    assert (settled.state, settled.result) == (WorkItemState.DONE, {"msg_id": msg_id})
    with pg_engine.connect() as conn:
        status = conn.execute(
            select(disbursement.c.status).where(disbursement.c.end_to_end_id == e2e)
        ).scalar_one()
    assert status == "SENT"
    send(pg_engine, gateway, owner="next")  # the next run sends nothing for it
    assert len(disburse.tranche_files(pg_engine, e2e)) == 1
    assert [f["msg_id"] for f in gateway_files(sim)] == [msg_id]  # the one file, completed
    assert events(pg_engine, "operator.settled")[0]["subject"] == f"payment:{e2e}"


def test_a_payment_with_nothing_at_the_gateway_is_released_and_the_next_run_pays_it_once(
    sim, sim_dataset, pg_engine, gateway
):
    [e2e] = book(pg_engine, sim_dataset, OFFSET + 1 - 60)
    with pg_engine.connect() as conn:
        row = conn.execute(select(disbursement).where(disbursement.c.end_to_end_id == e2e)).one()
    payload = disburse.work_payload(disburse.disbursement_from_row(row))
    worker = WorkItemLedger(pg_engine, owner="killed")
    worker.mark_in_doubt(worker.claim(disburse.KIND, e2e, payload), "killed before the upload")
    readers, ledger = payments_readers(gateway), operator(pg_engine)
    reading = operator_actions.read(pg_engine, readers, ledger, disburse.KIND, e2e)
    assert (reading.supports, reading.lines) == (Outcome.RELEASE, ("no file was ever assigned",))
    with pytest.raises(ActionRefused, match="supports release, not done"):
        operator_actions.settle(pg_engine, readers, ledger, disburse.KIND, e2e, "done", "x")
    operator_actions.settle(
        pg_engine, readers, ledger, disburse.KIND, e2e, "release", "nothing went out"
    )
    assert state(pg_engine, disburse.KIND, e2e) == ("FAILED", "transient")
    assert sim.journal("gateway", "file") == []  # settling sent nothing
    send(pg_engine, gateway, owner="next")
    sent = [m for m, s in disburse.tranche_files(pg_engine, e2e) if s == "SENT"]
    assert [f["msg_id"] for f in gateway_files(sim)] == sent
    assert len(sent) == 1
    assert state(pg_engine, disburse.KIND, e2e) == ("DONE", None)


# -- settling: LOS postings, by the status page --------------------------------------------------


@pytest.fixture
def los_bot(sim, sim_endpoints, chromium, tmp_path):
    bot = LosBot(
        los_login(sim_endpoints),
        chromium,
        ScreenEvidence(tmp_path / "screens", mask_text),
        mask_text,
        FAST_POLICY,
    )
    yield bot
    bot.close()


def posting_in_doubt(engine: Engine, bot: LosBot, number: str, aged: bool = False) -> None:
    """An approval stored, its posting's item left IN_DOUBT by a worker (``aged``: longer ago
    than the LOS's quiet period)."""
    from devtools.crash_sweep_los import store_decision

    store_decision(engine, number, Decimal("100000.00"))
    worker = WorkItemLedger(engine, owner="gone")
    payload = submission(bot.login.username, number, los_form(decided(engine, number)))
    worker.mark_in_doubt(worker.claim("los_decision", number, payload), "no answer")
    if aged:
        with engine.begin() as conn:
            conn.execute(
                update(work_item)
                .where(work_item.c.business_key == number)
                .values(updated_at=utcnow() - timedelta(minutes=10))
            )


def test_a_posting_the_status_page_shows_is_done_and_someone_elses_goes_to_a_person(
    sim, sim_endpoints, sim_dataset, los_bot, pg_engine
):
    ours, theirs = sim_dataset.applications[64].application_no, sim_dataset.applications[65]
    theirs = theirs.application_no
    readers = Readers(gateway=NOBODY.gateway, los=lambda: los_bot, bureau=NOBODY.bureau)
    ledger = operator(pg_engine)
    posting_in_doubt(pg_engine, los_bot, ours)
    robot, _ = los_http_login(sim_endpoints, 0)
    los_decide(robot, sim_endpoints, ours, amount="100000.00")  # what the lost submit did
    reading = operator_actions.read(pg_engine, readers, ledger, "los_decision", ours)
    assert reading.supports is Outcome.DONE, reading
    with pytest.raises(ActionRefused, match="supports done, not refer"):
        operator_actions.settle(pg_engine, readers, ledger, "los_decision", ours, "refer", "x")
    settled, _ = operator_actions.settle(
        pg_engine, readers, ledger, "los_decision", ours, "done", "the LOS has it"
    )
    [recorded] = [e for e in sim.journal("los", "decision") if e["application_no"] == ours]
    assert settled.result["reference"] == recorded["reference"]
    assert decided(pg_engine, ours)["los_reference"] == recorded["reference"]

    posting_in_doubt(pg_engine, los_bot, theirs)
    checker, _ = los_http_login(sim_endpoints, 1)
    los_decide(checker, sim_endpoints, theirs, decision="REJECT")
    reading = operator_actions.read(pg_engine, readers, ledger, "los_decision", theirs)
    assert reading.supports is Outcome.REFER
    operator_actions.settle(
        pg_engine, readers, ledger, "los_decision", theirs, "refer", "credit ops to look"
    )
    assert state(pg_engine, "los_decision", theirs) == ("NEEDS_HUMAN", None)
    assert decided(pg_engine, theirs)["los_reference"] is None  # not ours to store
    assert len([e for e in sim.journal("los", "decision") if e["application_no"] == theirs]) == 1


def test_a_posting_the_los_shows_nothing_of_is_released_only_after_the_quiet_period(
    sim, sim_dataset, los_bot, pg_engine
):
    soon, late = (sim_dataset.applications[n].application_no for n in (66, 67))
    readers = Readers(gateway=NOBODY.gateway, los=lambda: los_bot, bureau=NOBODY.bureau)
    ledger = operator(pg_engine)
    posting_in_doubt(pg_engine, los_bot, soon)
    reading = operator_actions.read(pg_engine, readers, ledger, "los_decision", soon)
    assert reading.supports is None  # a late commit behind a 504 is still possible
    with pytest.raises(ActionRefused, match="supports no outcome now"):
        operator_actions.settle(pg_engine, readers, ledger, "los_decision", soon, "release", "x")
    assert state(pg_engine, "los_decision", soon) == ("IN_DOUBT", None)
    posting_in_doubt(pg_engine, los_bot, late, aged=True)
    reading = operator_actions.read(pg_engine, readers, ledger, "los_decision", late)
    assert reading.supports is Outcome.RELEASE
    operator_actions.settle(
        pg_engine, readers, ledger, "los_decision", late, "release", "nothing in the LOS"
    )
    assert state(pg_engine, "los_decision", late) == ("FAILED", "transient")
    assert [e for e in sim.journal("los", "decision") if e["application_no"] in (soon, late)] == []


def test_an_approval_whose_payout_an_operator_closed_is_never_booked_or_paid(
    sim, sim_dataset, pg_engine
):
    """Closed means a person settled it outside the hub: even once the core shows an account
    to pay into, the hub books no loan for it (it would pay a second time)."""
    from tests.loanhub.flows.test_disburse import approved

    number = approved(pg_engine, sim_dataset, OFFSET + 3)  # a customer with a deposit account
    worker = WorkItemLedger(pg_engine, owner="w1")
    worker.needs_human(worker.claim(disburse.PAYEE_KIND, number, {"a": 1}), "no account then")
    operator_actions.close(
        operator(pg_engine), disburse.PAYEE_KIND, number, "paid out in cash at the branch"
    )
    assert disburse.book_loans(pg_engine, today=utcnow().date()) == []
    operator_actions.reopen(
        operator(pg_engine), disburse.PAYEE_KIND, number, "the branch never paid"
    )
    assert disburse.book_loans(pg_engine, today=utcnow().date()) != []  # reopened: paid by the hub
