"""Archive on close: what closes (rejected and in the LOS; paid and settled), the case file
archived once per application as an owner-only file whose SHA-256 is an audit event, safe
against a crash before the commit and against a second archiver racing the first."""

from __future__ import annotations

import hashlib
import stat
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update

from loanhub.flows.archive import (
    ClosedAs,
    NotClosed,
    archive_application,
    archive_closed,
    closed_not_archived,
)
from loanhub.platform import audit
from loanhub.platform.archive import CaseArchiveStore
from loanhub.platform.audit_export import grouped
from schemas.tables import audit_event, case_archive, repayment_installment
from tests.loanhub.casebook import add_application, decide, lend, long_ago, person


class Renderer:
    """A small case file per call: names the application and counts the renders."""

    def __init__(self, fail_for: str | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_for = fail_for

    def __call__(self, engine: Engine, application_no: str) -> bytes:
        self.calls[application_no] += 1
        if application_no == self.fail_for:
            raise RuntimeError("the case file could not be drawn")
        n = self.calls[application_no]
        return f"<!doctype html><title>{application_no}</title><p>render {n}</p>".encode()


def world(engine: Engine) -> dict[str, str]:
    """One application in every stage; returns what each is."""
    at = long_ago(200)
    stages = {}
    for number, stage in [
        ("AP0000000001", "rejected"),
        ("AP0000000002", "rejected, not in the LOS yet"),
        ("AP0000000003", "repaid"),
        ("AP0000000004", "running"),
        ("AP0000000005", "repaid, tranche not settled"),
        ("AP0000000006", "returned"),
        ("AP0000000007", "approved, not lent"),
    ]:
        who = person()
        status = {
            "rejected": "REJECTED",
            "rejected, not in the LOS yet": "REJECTED",
            "returned": "RETURNED",
            "approved, not lent": "APPROVED",
        }.get(stage, "DISBURSED")
        add_application(engine, number, who, status=status, at=at)
        if status == "REJECTED":
            decide(engine, number, "REJECT", at, posted=stage == "rejected")
        elif status == "DISBURSED":
            decide(engine, number, "APPROVE", at)
            lend(
                engine,
                number,
                who,
                at,
                paid=2 if stage == "running" else 3,
                tranche="ACCP" if "not settled" in stage else "ACSC",
            )
        stages[number] = stage
    return stages


def test_only_rejected_in_the_los_and_paid_and_settled_are_closed(engine: Engine) -> None:
    world(engine)
    closed = closed_not_archived(engine, set())
    assert [(c.application_no, c.closed_as) for c in closed] == [
        ("AP0000000001", ClosedAs.REJECTED),
        ("AP0000000003", ClosedAs.PAID_AND_SETTLED),
    ]
    with engine.connect() as conn:
        learned = conn.execute(
            select(func.max(repayment_installment.c.fetched_at)).where(
                repayment_installment.c.loan_account == "LN00000003"
            )
        ).scalar_one()
    assert closed[1].closed_at == learned  # when the hub learned of the last payment


def test_a_partly_paid_installment_keeps_the_loan_open(pg_engine: Engine) -> None:
    world(pg_engine)
    with pg_engine.begin() as conn:
        conn.execute(
            update(repayment_installment)
            .where(
                repayment_installment.c.loan_account == "LN00000003",
                repayment_installment.c.installment_no == 3,
            )
            .values(interest_paid="100.00")
        )
    assert [c.application_no for c in closed_not_archived(pg_engine, set())] == ["AP0000000001"]


def test_each_closed_case_is_archived_once_owner_only_and_audited(
    engine: Engine, tmp_path: Path
) -> None:
    world(engine)
    store = CaseArchiveStore(engine, tmp_path / "archive", actor="loanhub")
    render = Renderer()
    run = archive_closed(engine, store, render)
    assert run.archived == ["AP0000000001", "AP0000000003"]
    assert not run.failed
    assert stat.S_IMODE((tmp_path / "archive").stat().st_mode) == 0o700
    for number in run.archived:
        record = store.get(number)
        assert record is not None
        path = store.path_of(record)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
        [event] = store.events_of(number)
        assert event["seq"] == record.audit_seq
        assert event["after"]["sha256"] == grouped(record.sha256)
        assert event["after"]["closed_as"] == record.closed_as
        assert store.verify(number).ok

    again = archive_closed(engine, store, render)
    assert again.archived == []
    assert not again.failed
    assert render.calls == Counter({"AP0000000001": 1, "AP0000000003": 1})  # never re-rendered
    with engine.connect() as conn:
        events = conn.execute(
            select(func.count()).where(audit_event.c.action == "case.archived")
        ).scalar_one()
    assert events == 2
    assert sorted(p.name.split(".")[0] for p in (tmp_path / "archive").iterdir()) == [
        "AP0000000001",
        "AP0000000003",
    ]
    assert audit.verify(engine).ok


def test_an_open_application_is_refused(pg_engine: Engine, tmp_path: Path) -> None:
    world(pg_engine)
    store = CaseArchiveStore(pg_engine, tmp_path, actor="loanhub")
    with pytest.raises(NotClosed, match="not closed"):
        archive_application(pg_engine, store, Renderer(), "AP0000000004")
    assert store.records() == []


def test_one_case_file_that_fails_does_not_stop_the_others(
    pg_engine: Engine, tmp_path: Path
) -> None:
    world(pg_engine)
    store = CaseArchiveStore(pg_engine, tmp_path, actor="loanhub")
    run = archive_closed(pg_engine, store, Renderer(fail_for="AP0000000001"))
    assert run.archived == ["AP0000000003"]
    assert "could not be drawn" in run.failed["AP0000000001"]
    assert archive_closed(pg_engine, store, Renderer()).archived == ["AP0000000001"]


class CrashBeforeCommit(CaseArchiveStore):
    """The process dies after the file is renamed into place, before the commit."""

    def _event_after(self, *args: object, **kwargs: object) -> dict:  # type: ignore[override]
        raise SystemExit("killed")


def test_a_crash_before_the_commit_leaves_nothing_recorded_and_is_redone(
    engine: Engine, tmp_path: Path
) -> None:
    world(engine)
    root = tmp_path / "archive"
    render = Renderer()
    with pytest.raises(SystemExit):
        CrashBeforeCommit(engine, root, actor="loanhub").archive(
            "AP0000000001", render, closed_as="rejected", closed_at=long_ago(1)
        )
    [orphan] = root.glob("AP0000000001.*.html")  # on disk, recorded nowhere
    store = CaseArchiveStore(engine, root, actor="loanhub")
    assert store.get("AP0000000001") is None
    assert store.events_of("AP0000000001") == []

    assert archive_closed(engine, store, render).archived == ["AP0000000001", "AP0000000003"]
    files = sorted(root.glob("AP0000000001.*.html"))
    record = store.get("AP0000000001")
    assert record is not None
    assert [p.name for p in files] == [record.file_name] != [orphan.name]  # the orphan went
    assert store.verify("AP0000000001").ok


def test_two_archivers_racing_leave_one_file_one_row_one_event(
    pg_engine: Engine, tmp_path: Path
) -> None:
    world(pg_engine)
    root = tmp_path / "archive"
    barrier = threading.Barrier(2)

    def slow(engine: Engine, number: str) -> bytes:
        barrier.wait(timeout=10)  # both have found it unarchived, both render
        time.sleep(0.05)
        return f"<html>{number} {threading.get_ident()}</html>".encode()

    results = []

    def one() -> None:
        store = CaseArchiveStore(pg_engine, root, actor="loanhub")
        results.append(
            store.archive("AP0000000001", slow, closed_as="rejected", closed_at=long_ago(1))
        )

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r.new for r in results) == [False, True]
    store = CaseArchiveStore(pg_engine, root, actor="loanhub")
    record = store.get("AP0000000001")
    assert record is not None
    assert [p.name for p in root.glob("AP0000000001.*")] == [record.file_name]
    assert len(store.events_of("AP0000000001")) == 1
    assert store.verify("AP0000000001").ok


def test_verify_catches_an_edited_file_a_rewritten_row_and_a_missing_file(
    pg_engine: Engine, tmp_path: Path
) -> None:
    world(pg_engine)
    store = CaseArchiveStore(pg_engine, tmp_path, actor="loanhub")
    archive_closed(pg_engine, store, Renderer())
    record = store.get("AP0000000003")
    assert record is not None
    path = store.path_of(record)
    original = path.read_bytes()

    path.write_bytes(original.replace(b"render 1", b"render 9"))
    problems = store.verify("AP0000000003").problems
    assert "the file does not hash to what the store recorded" in problems
    assert any("what audit event" in p for p in problems)

    # a store user rewrites the row to the forged file's hash: the chain still disagrees
    forged = hashlib.sha256(path.read_bytes()).hexdigest()
    with pg_engine.begin() as conn:
        conn.execute(
            update(case_archive)
            .where(case_archive.c.application_no == "AP0000000003")
            .values(sha256=forged)
        )
    assert store.verify("AP0000000003").problems == (
        f"the file does not hash to what audit event {record.audit_seq} says",
    )

    path.unlink()
    assert any("missing" in p for p in store.verify("AP0000000003").problems)


def test_verify_catches_an_altered_archive_event(pg_engine: Engine, tmp_path: Path) -> None:
    world(pg_engine)
    store = CaseArchiveStore(pg_engine, tmp_path, actor="loanhub")
    archive_closed(pg_engine, store, Renderer())
    with pg_engine.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))  # as a DBA could
        conn.execute(
            text("UPDATE audit_event SET actor = 'ops.wang' WHERE action = 'case.archived'")
        )
    assert any("was altered" in p for p in store.verify("AP0000000001").problems)
