"""A payment at every crash point of its upload, against the gateway simulator and PostgreSQL.

Faults are the SFTP simulator's deterministic crash points (``sftp.crash``): the connection is
dropped right before or after one operation on one path, or held there while the test
SIGKILLs the disbursement run (a real subprocess, ``devtools.crash_sweep_payments child``).
Then the next runs do what ``loan_disbursement`` does (settle the doubts, send, apply the
reports), and each test asserts from the gateway's own journal and folders: paid twice 0,
lost 0, paid but recorded rejected 0, nothing left in doubt or in the inbox.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from devtools.crash_sweep_payments import run_child
from kernel.failures import TransientError
from loanhub.flows import disburse
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors
from schemas.hub import WorkItemState
from schemas.tables import disbursement, work_item
from schemas.types import utcnow
from tests.loanhub.flows.test_disburse import approved

PART, FILE, OK = "/payments/in/.*.xml.part", "/payments/in/*.xml", "/payments/in/*.xml.ok"


_BEFORE: set[str] = set()  # what the gateway's inbox held before the test (other tests' files)


def inbox_names(sim_endpoints: dict) -> set[str]:
    inbox = Path(sim_endpoints["sftp"]["root"]) / "payments" / "in"
    return {p.name for p in inbox.iterdir() if p.is_file()}


@pytest.fixture(autouse=True)
def _inbox_before(sim, sim_endpoints) -> None:
    _BEFORE.clear()
    _BEFORE.update(inbox_names(sim_endpoints))


@pytest.fixture
def gateway(sim, sim_dir, pg_url, pg_engine, tmp_path: Path):
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    return HubConnectors.build(settings, pg_engine).payments


OFFSET = 60  # the gateway refuses an EndToEndId for 90 days: customers no other test pays


def book(pg_engine: Engine, sim_dataset, *ns: int) -> list[str]:
    """Approved applications booked as loans (customers ``OFFSET + n``, which no other test of
    the session pays); their tranches' EndToEndIds."""
    for n in ns:
        approved(pg_engine, sim_dataset, OFFSET + n)
    return [
        disburse.end_to_end_id(number, 1)
        for number in disburse.book_loans(pg_engine, today=utcnow().date())
    ]


def crash(sim, at: str, when: str, path: str, action: str = "drop") -> None:
    sim.controls({"sftp": {"crash": {"at": at, "when": when, "path": path, "action": action,
                                     "times": 1, "hold_seconds": 20}}})  # fmt: skip


def send(pg_engine: Engine, gateway, owner: str = "run") -> None:
    """A run's send task as the DAG calls it: a transient failure ends it (to be retried)."""
    with contextlib.suppress(TransientError):
        disburse.send_payments(
            pg_engine, gateway, LedgerGuard(WorkItemLedger(pg_engine, owner=owner))
        )


def next_runs(pg_engine: Engine, gateway, e2es: list[str], seconds: float = 20) -> dict[str, str]:
    """The next ``loan_disbursement`` runs, until every tranche is settled or rejected:
    settle the doubts, send what is pending, apply the reports."""
    ledger, receipts = WorkItemLedger(pg_engine, owner="next"), FileReceiptBook(pg_engine)
    deadline = time.monotonic() + seconds
    while True:
        disburse.resolve_in_doubt(pg_engine, gateway, receipts, ledger)
        send(pg_engine, gateway, owner="next")
        disburse.collect_reports(pg_engine, gateway, receipts)
        with pg_engine.connect() as conn:
            states = dict(
                conn.execute(select(disbursement.c.end_to_end_id, disbursement.c.status)).all()
            )
        if all(states.get(e) in ("ACSC", "RJCT") for e in e2es) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def assert_exactly_once(sim, sim_endpoints, pg_engine: Engine, gateway, e2es: list[str]) -> None:
    """From the gateway's journal and folders, not the hub's account of what it sent."""
    states = next_runs(pg_engine, gateway, e2es)
    accepted = [
        p["end_to_end_id"] for p in sim.journal("gateway", "payment") if p["status"] == "ACCP"
    ]
    assert sorted(accepted) == sorted(e2es)  # each tranche paid, and paid once
    assert {e: states[e] for e in e2es} == {e: "ACSC" for e in e2es}  # none recorded rejected
    with pg_engine.connect() as conn:
        items = dict(
            conn.execute(
                select(work_item.c.business_key, work_item.c.state).where(
                    work_item.c.kind == disburse.KIND
                )
            ).all()
        )
    assert items == {e: WorkItemState.DONE.value for e in e2es}  # nothing left in doubt
    names = inbox_names(sim_endpoints)
    left = [
        n
        for n in names - _BEFORE
        if n.endswith(".part") or (n.endswith(".xml") and f"{n}.ok" not in names)
    ]
    assert left == []  # no partial upload, no untriggered file left in the counterpart's inbox
    report = disburse.reconcile(
        pg_engine, gateway, FileReceiptBook(pg_engine), WorkItemLedger(pg_engine)
    )
    assert (report["mismatches"], report["paid_twice"], report["paid_but_rejected"]) == ({}, [], [])


def killed_run(
    sim, sim_dir: Path, pg_url: str, tmp_path: Path, kill_self: str | None = None
) -> None:
    """A disbursement run in a subprocess, SIGKILLed while the simulator holds it at the armed
    crash point (or at its own ``kill_self`` point); its lease (1 s) then runs out."""
    seen = len(sim.journal("sftp", "crash"))
    proc = run_child(pg_url, sim_dir, tmp_path / "child", kill_self)
    try:
        deadline = time.monotonic() + 30
        while kill_self is None and len(sim.journal("sftp", "crash")) == seen:
            assert proc.poll() is None, "the run ended before reaching its crash point"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        if kill_self is None:
            proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    sim.controls({"sftp": {"crash": {"times": 0}}})
    time.sleep(1.1)


# -- each crash point, the connection dropped there (in this process) --------------------------


def test_dropped_before_the_upload_nothing_was_sent_and_the_next_run_pays_once(
    sim, sim_endpoints, sim_dataset, pg_engine, gateway
):
    [e2e] = book(pg_engine, sim_dataset, 10)
    crash(sim, "open", "before", PART)
    send(pg_engine, gateway)
    item = WorkItemLedger(pg_engine).get(disburse.KIND, e2e)
    assert (item.state, item.failure_kind) == (WorkItemState.FAILED, "transient")  # not in doubt
    assert sim.journal("gateway", "file") == []
    assert_exactly_once(sim, sim_endpoints, pg_engine, gateway, [e2e])
    files = disburse.tranche_files(pg_engine, e2e)
    assert [state for _, state in files] == ["WITHDRAWN", "SENT"]  # the first one kept, settled


def test_dropped_mid_write_the_partial_upload_is_withdrawn_and_paid_once(
    sim, sim_endpoints, sim_dataset, pg_engine, gateway
):
    [e2e] = book(pg_engine, sim_dataset, 11)
    crash(sim, "write", "after", PART)
    send(pg_engine, gateway)
    inbox = Path(sim_endpoints["sftp"]["root"]) / "payments" / "in"
    assert [p.name for p in inbox.glob(".*.part")] != []  # the dead connection left it
    assert WorkItemLedger(pg_engine).get(disburse.KIND, e2e).state is WorkItemState.FAILED
    assert_exactly_once(sim, sim_endpoints, pg_engine, gateway, [e2e])


def test_dropped_after_the_rename_is_in_doubt_and_the_file_is_completed_not_resent(
    sim, sim_endpoints, sim_dataset, pg_engine, gateway
):
    [e2e] = book(pg_engine, sim_dataset, 12)
    crash(sim, "rename", "after", FILE)
    send(pg_engine, gateway)
    assert WorkItemLedger(pg_engine).get(disburse.KIND, e2e).state is WorkItemState.IN_DOUBT
    assert_exactly_once(sim, sim_endpoints, pg_engine, gateway, [e2e])
    assert len(sim.journal("gateway", "file")) == 1  # the first file, completed: no second one


def test_lost_response_after_the_ok_is_not_recorded_rejected(
    sim, sim_endpoints, sim_dataset, pg_engine, gateway
):
    """Issue 18, point 1: the gateway took the file and its .ok, the answer was lost; a retry
    under a new MsgId used to be refused DU05 and the paid tranche recorded RJCT."""
    [e2e] = book(pg_engine, sim_dataset, 13)
    crash(sim, "close", "after", OK)
    send(pg_engine, gateway)
    assert WorkItemLedger(pg_engine).get(disburse.KIND, e2e).state is WorkItemState.IN_DOUBT
    assert_exactly_once(sim, sim_endpoints, pg_engine, gateway, [e2e])
    assert len(sim.journal("gateway", "file")) == 1


# -- the run SIGKILLed at each point (a subprocess) ----------------------------------------------


@pytest.mark.parametrize(
    ("n", "at", "when", "path"),  # n: a tranche of its own (the gateway refuses a repeat)
    [(14, "open", "before", PART), (17, "write", "after", PART), (18, "close", "after", OK)],
    ids=["before-upload", "mid-write", "after-ok"],
)
def test_a_run_killed_at_a_crash_point_is_settled_by_the_next_run(
    sim,
    sim_dir,
    sim_endpoints,
    sim_dataset,
    pg_url,
    pg_engine,
    gateway,
    tmp_path,
    n,
    at,
    when,
    path,
):
    e2es = book(pg_engine, sim_dataset, n)
    crash(sim, at, when, path, action="hold")
    killed_run(sim, sim_dir, pg_url, tmp_path)
    assert_exactly_once(sim, sim_endpoints, pg_engine, gateway, e2es)


def test_killed_between_the_rename_and_the_ok_the_tranche_is_not_lost(
    sim, sim_dir, sim_endpoints, sim_dataset, pg_url, pg_engine, gateway, tmp_path
):
    """Issue 18, point 2: the file without its .ok used to count as received, the item was
    resolved DONE and the tranche stayed SENT for ever, never processed."""
    e2es = book(pg_engine, sim_dataset, 15)
    crash(sim, "rename", "after", FILE, action="hold")
    killed_run(sim, sim_dir, pg_url, tmp_path)
    inbox = Path(sim_endpoints["sftp"]["root"]) / "payments" / "in"
    assert [p.name for p in inbox.glob("*.xml")] != []  # renamed, no .ok
    assert not list(inbox.glob("*.xml.ok"))
    # the next run's first step settles it: the dead run's lease ran out, the file is completed
    counts = disburse.resolve_in_doubt(
        pg_engine, gateway, FileReceiptBook(pg_engine), WorkItemLedger(pg_engine)
    )
    assert (counts["lease_expired"], counts["arrived"]) == (1, 1)
    assert_exactly_once(sim, sim_endpoints, pg_engine, gateway, e2es)


def test_killed_after_the_upload_returned_before_the_ledger_recorded_it(
    sim, sim_dir, sim_endpoints, sim_dataset, pg_url, pg_engine, gateway, tmp_path
):
    e2es = book(pg_engine, sim_dataset, 16)
    killed_run(sim, sim_dir, pg_url, tmp_path, kill_self="after_send")
    assert_exactly_once(sim, sim_endpoints, pg_engine, gateway, e2es)
    assert len(sim.journal("gateway", "file")) == 1


# -- concurrency and isolation -----------------------------------------------------------------


def test_two_concurrent_runs_pay_each_tranche_once(
    sim, sim_endpoints, sim_dataset, pg_engine, gateway
):
    e2es = book(pg_engine, sim_dataset, 20, 21, 22, 23)
    errors: list[BaseException] = []

    def run(owner: str) -> None:
        try:
            send(pg_engine, gateway, owner=owner)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert_exactly_once(sim, sim_endpoints, pg_engine, gateway, e2es)
    assert len(sim.journal("gateway", "file")) == 4


def test_a_conflict_and_a_doubt_never_stop_the_other_tranches(
    sim, sim_endpoints, sim_dataset, pg_engine, gateway
):
    changed, doubtful, good = book(pg_engine, sim_dataset, 30, 31, 32)
    ledger = WorkItemLedger(pg_engine, owner="earlier")
    with pg_engine.connect() as conn:
        rows = {
            r.end_to_end_id: disburse.disbursement_from_row(r)
            for r in conn.execute(select(disbursement))
        }
    ledger.claim(disburse.KIND, changed, disburse.work_payload(rows[changed]))  # then it changed
    with pg_engine.begin() as conn:
        conn.execute(
            update(disbursement).where(disbursement.c.end_to_end_id == changed).values(amount=1)
        )
    item = ledger.claim(disburse.KIND, doubtful, disburse.work_payload(rows[doubtful]))
    ledger.mark_in_doubt(item, "an earlier worker lost its connection")
    run = disburse.pay_tranches(
        pg_engine, gateway, LedgerGuard(WorkItemLedger(pg_engine, owner="w"))
    )
    assert list(run.conflicts) == [changed]
    assert list(run.in_doubt) == [doubtful]
    assert len(run.sent) == 1
    assert run.retry_error() is None  # nothing worth a retry: the others are in their queues
    queued = WorkItemLedger(pg_engine).items(WorkItemState.NEEDS_HUMAN, kind=disburse.CONFLICT_KIND)
    assert [i.business_key.split("@")[0] for i in queued] == [changed]
    assert "two different effects" in queued[0].error
    deadline = time.monotonic() + 10
    while not (paid := [p["end_to_end_id"] for p in sim.journal("gateway", "payment")]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert paid == [good]
    # the in-doubt one had never been sent: settled by reading, then paid once
    assert disburse.pay_tranches(
        pg_engine, gateway, LedgerGuard(WorkItemLedger(pg_engine))
    ).conflicts
    counts = disburse.resolve_in_doubt(
        pg_engine, gateway, FileReceiptBook(pg_engine), WorkItemLedger(pg_engine)
    )
    assert counts["never_arrived"] == 1


# -- duplicate refusals of a later file -----------------------------------------------------------


def test_a_later_file_refused_as_a_repeat_never_marks_the_paid_tranche_rejected(
    sim, sim_endpoints, sim_dataset, pg_engine, gateway
):
    [e2e] = book(pg_engine, sim_dataset, 40)
    send(pg_engine, gateway)
    states = next_runs(pg_engine, gateway, [e2e])
    assert states[e2e] == "ACSC"
    with pg_engine.connect() as conn:
        [tranche] = [disburse.disbursement_from_row(r) for r in conn.execute(select(disbursement))]
    # a second file of the same tranche reaches the gateway (a zombie worker, a hand resend)
    again = gateway.send([tranche])
    with pg_engine.begin() as conn:
        conn.execute(
            disburse.payment_file.insert().values(
                end_to_end_id=e2e, msg_id=again, state="SENT",
                assigned_at=tranche.requested_at, updated_at=tranche.requested_at,
            )
        )  # fmt: skip
        conn.execute(update(disbursement).values(status="SENT", msg_id=again))
    deadline = time.monotonic() + 10
    while (
        disburse.tranche_status_in(
            disburse.gateway_reports(gateway, FileReceiptBook(pg_engine), again), again, e2e
        )
        is None
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    disburse.collect_reports(pg_engine, gateway, FileReceiptBook(pg_engine))
    with pg_engine.connect() as conn:
        assert conn.execute(select(disbursement.c.status, disbursement.c.msg_id)).one() == (
            "ACSC",
            tranche.msg_id,
        )
    # and a hub record that says RJCT while a file paid is reported
    with pg_engine.begin() as conn:
        conn.execute(update(disbursement).values(status="RJCT", status_reason="DU05"))
    report = disburse.reconcile(
        pg_engine, gateway, FileReceiptBook(pg_engine), WorkItemLedger(pg_engine)
    )
    assert report["paid_but_rejected"] == [e2e]
    assert report["mismatches"] == {e2e: ("RJCT", "ACSC")}
    assert report["paid_twice"] == []


def test_verdict_over_a_tranches_files():
    v = disburse.verdict
    assert v({"A": ("ACSC", None), "B": ("RJCT", "DU05")}).status == "ACSC"
    assert v({"A": ("RJCT", "DU05"), "B": ("ACCP", None)}).msg_id == "B"
    assert v({"A": ("RJCT", "AM04")}).status == "RJCT"
    assert v({"A": ("RJCT", "AM04"), "B": None}).status is None  # B may still pay
    only_repeats = v({"A": ("RJCT", "DU05"), "B": ("RJCT", "DU01")})
    assert (only_repeats.status, only_repeats.duplicate_only) == (None, True)
    assert v({"A": ("ACCP", None), "B": ("ACSC", None)}).accepted == ("A", "B")  # paid twice
