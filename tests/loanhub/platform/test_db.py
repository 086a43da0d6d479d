"""The store when PostgreSQL drops connections: a real server whose backends are terminated
(``pg_terminate_backend``) in a scratch database of this module's own, mid-way through work.

- a connection that died in the pool costs no failed operation (pre-ping);
- a repeatable transaction that loses its connection is run again, once, to the same effect;
- the ledger's claim and close survive a drop, even one after their COMMIT went through;
- an unreachable store is one line, without the password.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, func, select, text

from loanhub.platform.db import (
    StoreUnavailable,
    check_store,
    make_engine,
    open_store,
    retrying,
)
from loanhub.platform.ledger import WorkItemLedger
from schemas.hub import WorkItemState
from schemas.tables import audit_event, work_item
from tests.conftest import PG_ADMIN_URL, scratch_store


@pytest.fixture(scope="module")
def scratch_url() -> Iterator[str]:
    """A database for this module alone: its backends may be killed without touching the
    session's store or anyone else's."""
    with scratch_store("loanhub_dbdrop") as url:
        yield url


@pytest.fixture
def scratch(scratch_url: str) -> Iterator[Engine]:
    engine = make_engine(scratch_url)
    with engine.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))  # audit trigger off
        conn.execute(text("TRUNCATE work_item, audit_event RESTART IDENTITY CASCADE"))
        conn.execute(text("SET session_replication_role = origin"))
        conn.execute(text("CREATE TABLE IF NOT EXISTS drop_probe (n int)"))
        conn.execute(text("TRUNCATE drop_probe"))
    yield engine
    engine.dispose()


def terminate(database: str | None = None, pid: int | None = None) -> int:
    """End backends the way an administrator or a failover does; waits until they are gone."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        if pid is not None:
            return int(bool(admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))))
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
        return len(rows)


def backend_pid(conn: Any) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_a_connection_that_died_in_the_pool_costs_no_failed_operation(scratch: Engine):
    with scratch.connect() as conn:  # one connection, now idle in the pool
        before = backend_pid(conn)
    assert terminate(scratch.url.database) >= 1
    with scratch.connect() as conn:  # pre-ping finds it dead and connects afresh
        assert backend_pid(conn) != before
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_a_repeatable_transaction_that_loses_its_connection_runs_again(scratch: Engine):
    tries: list[int] = []

    def work(conn: Any) -> int:
        tries.append(backend_pid(conn))
        conn.execute(text("INSERT INTO drop_probe VALUES (1)"))
        if len(tries) == 1:  # killed mid-transaction, after a write
            terminate(pid=tries[0])
        return int(conn.execute(text("SELECT count(*) FROM drop_probe")).scalar_one())

    assert retrying(scratch, work, pause=0) == 1
    assert len(tries) == 2
    assert tries[0] != tries[1]
    with scratch.connect() as conn:  # the first try's write was rolled back with its backend
        assert conn.execute(text("SELECT count(*) FROM drop_probe")).scalar_one() == 1


def test_retries_are_bounded_and_end_in_one_line(scratch: Engine):
    tries = 0

    def work(conn: Any) -> None:
        nonlocal tries
        tries += 1
        terminate(pid=backend_pid(conn))
        conn.execute(text("SELECT 1"))

    with pytest.raises(StoreUnavailable) as caught:
        retrying(scratch, work, attempts=3, pause=0)
    assert tries == 3
    assert "\n" not in str(caught.value)


def test_what_is_not_a_lost_connection_is_not_repeated(scratch: Engine):
    tries = 0

    def work(conn: Any) -> None:
        nonlocal tries
        tries += 1
        conn.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no_such_table"):
        retrying(scratch, work, pause=0)
    assert tries == 1


def _kill_on(engine: Engine, sql_fragment: str, times: int = 1) -> list[int]:
    """Terminate the backend that is about to run a statement containing ``sql_fragment``
    (its first ``times`` occurrences): the statement meets a dead connection."""
    killed: list[int] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _kill(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if sql_fragment in statement and len(killed) < times:
            pid = cursor.connection.info.backend_pid
            killed.append(pid)
            terminate(pid=pid)

    return killed


def _kill_after_commit(engine: Engine) -> list[int]:
    """The worst moment: the COMMIT reaches the server and is durable, then the connection
    dies before its reply. The listener commits on the driver's connection itself and
    terminates the backend, so SQLAlchemy's own COMMIT meets a dead connection."""
    killed: list[int] = []

    @event.listens_for(engine, "commit")
    def _commit_then_kill(conn: Any) -> None:
        if killed:
            return
        raw = conn.connection.dbapi_connection
        raw.commit()  # durable now
        raw.execute("SELECT 1")  # a new (empty) transaction, so SQLAlchemy's COMMIT goes out
        killed.append(raw.info.backend_pid)
        terminate(pid=killed[-1])

    return killed


def _audit_actions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(audit_event.c.action).order_by(audit_event.c.seq)).scalars()
        )


def test_a_claim_and_a_close_survive_a_dropped_connection(scratch: Engine):
    ledger = WorkItemLedger(scratch, owner="worker-a")
    killed = _kill_on(scratch, "INSERT INTO work_item")
    item = ledger.claim("probe", "K-1", {"n": 1})
    assert killed  # the drop happened, inside the claim
    assert item.state is WorkItemState.IN_PROGRESS
    assert item.attempts == 1

    killed = _kill_on(scratch, "UPDATE work_item")
    done = ledger.complete(item, {"ok": True})
    assert killed
    assert done.state is WorkItemState.DONE
    assert _audit_actions(scratch) == ["work_item.claimed", "work_item.done"]


def test_a_claim_whose_commit_went_through_before_the_drop_is_its_own(scratch: Engine):
    ledger = WorkItemLedger(scratch, owner="worker-a")
    killed = _kill_after_commit(scratch)
    item = ledger.claim("probe", "K-2", {"n": 2})
    assert killed
    # the repeat found the committed claim and knew it as this call's: not "busy", not twice
    assert item.state is WorkItemState.IN_PROGRESS
    assert item.owner == "worker-a"
    with scratch.connect() as conn:
        assert conn.execute(select(func.count()).select_from(work_item)).scalar_one() == 1
    assert _audit_actions(scratch) == ["work_item.claimed"]

    killed = _kill_after_commit(scratch)
    done = ledger.complete(item, {"ok": True})
    assert killed
    assert done.state is WorkItemState.DONE
    assert _audit_actions(scratch) == ["work_item.claimed", "work_item.done"]


def test_another_owners_claim_is_still_refused_after_a_drop(scratch: Engine):
    """Knowing one's own claim must not let a second worker take a live one."""
    from loanhub.platform.ledger import WorkItemBusy

    WorkItemLedger(scratch, owner="worker-a").claim("probe", "K-3", {"n": 3})
    other = WorkItemLedger(scratch, owner="worker-b")
    _kill_on(scratch, "INSERT INTO work_item")
    with pytest.raises(WorkItemBusy):
        other.claim("probe", "K-3", {"n": 3})


def test_an_unreachable_store_is_one_line_without_its_password():
    url = "postgresql://loanhub:s3cret-pw@127.0.0.1:9/loanhub"
    with pytest.raises(StoreUnavailable) as caught:
        open_store(url, connect_args={"connect_timeout": 2})
    message = str(caught.value)
    assert "\n" not in message
    assert "s3cret-pw" not in message
    assert "127.0.0.1:9/loanhub" in message
    assert "refused" in message.lower() or "connect" in message.lower()
    # raised without SQLAlchemy's chain: what a start-up prints is short
    shown = "".join(traceback.format_exception(caught.value))
    assert "s3cret-pw" not in shown
    assert "Background on this error" not in shown  # SQLAlchemy's own trailer
    assert len(shown.splitlines()) < 20, shown


def test_a_reachable_store_passes_the_check(scratch: Engine):
    check_store(scratch)
