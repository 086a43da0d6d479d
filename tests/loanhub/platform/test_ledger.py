import multiprocessing
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from kernel.failures import FailureKind
from loanhub.platform import audit
from loanhub.platform.db import make_engine
from loanhub.platform.ledger import (
    ConflictingWorkItem,
    IllegalTransition,
    WorkItemBusy,
    WorkItemLedger,
)
from schemas.hub import WorkItemState
from schemas.tables import audit_event, work_item

KIND = "bureau_query"
KEY = "APP000001:110105194912310020:01"
PAYLOAD = {"application_no": "APP000001", "reason": "01"}


def ledger(engine: Engine, owner: str, lease: timedelta = timedelta(minutes=5)) -> WorkItemLedger:
    return WorkItemLedger(engine, owner=owner, lease=lease)


def test_first_claim_takes_the_item(engine: Engine) -> None:
    item = ledger(engine, "w1").claim(KIND, KEY, PAYLOAD)
    assert item.state is WorkItemState.IN_PROGRESS
    assert item.owner == "w1"
    assert item.attempts == 1
    assert item.lease_expires_at is not None


def test_done_item_is_returned_without_running_again(engine: Engine) -> None:
    first = ledger(engine, "w1")
    first.complete(first.claim(KIND, KEY, PAYLOAD), {"report_no": "R-1"})
    again = ledger(engine, "w2").claim(KIND, KEY, PAYLOAD)
    assert again.state is WorkItemState.DONE
    assert again.result == {"report_no": "R-1"}
    assert again.attempts == 1


def test_same_key_with_another_payload_conflicts(engine: Engine) -> None:
    ledger(engine, "w1").claim(KIND, KEY, PAYLOAD)
    with pytest.raises(ConflictingWorkItem, match="two different effects"):
        ledger(engine, "w1").claim(KIND, KEY, {**PAYLOAD, "reason": "02"})


def test_in_progress_under_another_owner_is_refused(engine: Engine) -> None:
    ledger(engine, "w1").claim(KIND, KEY, PAYLOAD)
    with pytest.raises(WorkItemBusy, match="in progress under w1"):
        ledger(engine, "w2").claim(KIND, KEY, PAYLOAD)
    # not even its own owner runs it twice: the caller that claimed it closes it
    with pytest.raises(WorkItemBusy):
        ledger(engine, "w1").claim(KIND, KEY, PAYLOAD)


def test_expired_lease_turns_in_doubt_and_is_resolved_by_reading_state(engine: Engine) -> None:
    ledger(engine, "w1", lease=timedelta(milliseconds=50)).claim(KIND, KEY, PAYLOAD)
    time.sleep(0.1)
    w2 = ledger(engine, "w2")
    doubtful = w2.claim(KIND, KEY, PAYLOAD)
    assert doubtful.state is WorkItemState.IN_DOUBT
    assert "lease of w1 expired" in (doubtful.error or "")
    # still in doubt for everybody until someone reads the legacy system
    assert w2.claim(KIND, KEY, PAYLOAD).state is WorkItemState.IN_DOUBT
    settled = w2.resolve_in_doubt(doubtful, happened=False, evidence="no inquiry on the report")
    assert settled.state is WorkItemState.FAILED
    assert settled.failure_kind is FailureKind.TRANSIENT
    retried = w2.claim(KIND, KEY, PAYLOAD)
    assert retried.state is WorkItemState.IN_PROGRESS
    assert retried.owner == "w2"
    assert retried.attempts == 2


def test_in_doubt_resolved_as_done_keeps_the_result_read_back(engine: Engine) -> None:
    w1 = ledger(engine, "w1")
    item = w1.mark_in_doubt(w1.claim(KIND, KEY, PAYLOAD), "504 after submit")
    done = w1.resolve_in_doubt(item, happened=True, result={"los_ref": "SP-9"}, evidence="status")
    assert done.state is WorkItemState.DONE
    assert done.result == {"los_ref": "SP-9"}
    with pytest.raises(IllegalTransition):
        w1.resolve_in_doubt(done, happened=True, evidence="again")


@pytest.mark.parametrize(
    ("kind", "reclaimed_state"),
    [
        (FailureKind.TRANSIENT, WorkItemState.IN_PROGRESS),
        (FailureKind.BUSINESS, WorkItemState.FAILED),
        (FailureKind.CONTRACT, WorkItemState.FAILED),
    ],
)
def test_only_transient_failures_are_claimed_again(
    engine: Engine, kind: FailureKind, reclaimed_state: WorkItemState
) -> None:
    w1 = ledger(engine, "w1")
    failed = w1.fail(w1.claim(KIND, KEY, PAYLOAD), kind, "Server.Busy")
    assert failed.failure_kind is kind
    assert ledger(engine, "w2").claim(KIND, KEY, PAYLOAD).state is reclaimed_state


def test_needs_human_is_left_for_a_person(engine: Engine) -> None:
    w1 = ledger(engine, "w1")
    w1.needs_human(w1.claim(KIND, KEY, PAYLOAD), "LOS screen changed")
    item = ledger(engine, "w2").claim(KIND, KEY, PAYLOAD)
    assert item.state is WorkItemState.NEEDS_HUMAN
    assert item.error == "LOS screen changed"


def test_only_the_owner_closes_an_item(engine: Engine) -> None:
    item = ledger(engine, "w1").claim(KIND, KEY, PAYLOAD)
    with pytest.raises(IllegalTransition, match="w2 cannot close it"):
        ledger(engine, "w2").complete(item, {})
    done = ledger(engine, "w1").complete(item, {})
    with pytest.raises(IllegalTransition):
        ledger(engine, "w1").complete(done, {})


def test_every_transition_is_in_the_audit_chain_with_the_id_masked(engine: Engine) -> None:
    w1 = ledger(engine, "w1")
    w1.fail(w1.claim(KIND, KEY, PAYLOAD), FailureKind.TRANSIENT, "busy")
    w1.complete(w1.claim(KIND, KEY, PAYLOAD), {})
    with engine.connect() as conn:
        events = conn.execute(select(audit_event).order_by(audit_event.c.seq)).mappings().all()
    assert [e["action"] for e in events] == [
        "work_item.claimed",
        "work_item.failed",
        "work_item.reclaimed",
        "work_item.done",
    ]
    assert all("110105194912310020" not in e["subject"] for e in events)
    assert events[0]["subject"] == "bureau_query:APP000001:1****************0:01"
    assert audit.verify(engine).ok


def _racer(url: str, owner: str, keys: list[str], barrier: Any, results: Any) -> None:
    engine = make_engine(url)
    led = WorkItemLedger(engine, owner=owner)
    barrier.wait()
    outcome = {}
    for key in keys:
        try:
            item = led.claim("payment", key, {"amount": "100.00"})
        except WorkItemBusy:
            outcome[key] = "busy"
            continue
        if item.state is WorkItemState.IN_PROGRESS and item.owner == owner:
            outcome[key] = "won"
            led.complete(item, {"paid_by": owner})
        else:
            outcome[key] = item.state.value
    results.put((owner, outcome))
    engine.dispose()


def test_two_processes_racing_for_the_same_keys_end_with_one_winner_each(pg_engine: Engine) -> None:
    url = pg_engine.url.render_as_string(hide_password=False)
    keys = [f"LN{n:05d}:1" for n in range(40)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_racer, args=(url, f"p{i}", keys, barrier, results)) for i in (1, 2)
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    for key in keys:
        verdicts = sorted(outcomes[o][key] for o in outcomes)
        assert verdicts.count("won") == 1, (key, verdicts)
        assert verdicts[0] in ("DONE", "busy")
    with pg_engine.connect() as conn:
        states = conn.execute(
            select(work_item.c.state, func.count(), func.max(work_item.c.attempts)).group_by(
                work_item.c.state
            )
        ).all()
    assert [(s, c, a) for s, c, a in states] == [("DONE", len(keys), 1)]
    assert audit.verify(pg_engine).checked == 2 * len(keys)


def test_errors_are_stored_masked_and_an_operator_can_release_a_failed_item(engine: Engine) -> None:
    w1 = ledger(engine, "w1")
    failed = w1.fail(
        w1.claim(KIND, KEY, PAYLOAD),
        FailureKind.CONTRACT,
        "Client.Authentication for 110105194912310020",
    )
    assert "110105194912310020" not in (failed.error or "")
    assert ledger(engine, "w2").claim(KIND, KEY, PAYLOAD).state is WorkItemState.FAILED
    released = w1.release(failed, "password rotated")
    assert released.failure_kind is FailureKind.TRANSIENT
    again = ledger(engine, "w2").claim(KIND, KEY, PAYLOAD)
    assert again.state is WorkItemState.IN_PROGRESS
    assert again.attempts == 2
