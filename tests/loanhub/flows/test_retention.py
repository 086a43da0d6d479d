"""Retention: each kind purged past its retention and audited (kind, how many, older than
when), a dry run that changes and audits nothing, the archive never purged wherever it lies,
and personal data pseudonymised only once every application of the person is closed that
long and archived; the audit chain is never rewritten."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

from kernel.calls import CallOutcome, SourceCall
from loanhub.flows.archive import archive_closed
from loanhub.flows.retention import RetentionAreas, RetentionPolicy, purge
from loanhub.platform import audit
from loanhub.platform.archive import CaseArchiveStore
from loanhub.platform.calls import CallJournal
from loanhub.platform.receipts import FileReceiptBook
from schemas.hub import FileState
from schemas.tables import audit_event, case_archive, file_receipt, metadata, work_item
from schemas.types import utcnow
from tests.loanhub.casebook import add_application, add_party, decide, lend, long_ago, person

POLICY = RetentionPolicy()


def areas(root: Path, archive: Path | None = None) -> RetentionAreas:
    return RetentionAreas(
        raw_payloads=root / "evidence" / "raw",
        exchanges=root / "evidence" / "masked",
        kept_files=root / "files",
        screens=root / "evidence" / "screens",
        archive=archive or root / "archive",
    )


def aged(path: Path, days: float, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(content)
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))
    return path


def purge_events(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_event.c.subject, audit_event.c.after)
            .where(audit_event.c.action == "retention.purged")
            .order_by(audit_event.c.seq)
        ).all()
    return [{"kind": r.subject, **r.after} for r in rows]


def test_files_past_their_retention_go_the_archive_and_the_key_stay(
    pg_engine: Engine, tmp_path: Path
) -> None:
    # the archive configured inside an area being purged: it is kept all the same
    where = areas(tmp_path, archive=tmp_path / "files" / "archive")
    old_raw = aged(where.raw_payloads / "ab" / ("ab" + "0" * 62), 400)
    new_raw = aged(where.raw_payloads / "cd" / ("cd" + "0" * 62), 10)
    old_exchange = aged(where.exchanges / "bureau" / "20250101-query.txt", 400)
    old_file = aged(where.kept_files / "tax" / "TAXR_old.csv", 400)
    new_file = aged(where.kept_files / "core" / "incoming" / "LNREPAY.D261201", 3)
    archived = aged(where.archive / "AP0000000001.0123456789abcdef.html", 5000)
    old_capture = aged(where.screens / "los_decision" / "k1" / "20250101T000000" / "reason.txt", 40)
    aged(old_capture.parent, 40)
    new_capture = aged(where.screens / "los_decision" / "k2" / "20261201T000000" / "reason.txt", 2)
    key = aged(where.screens / ".key", 400)

    dry = purge(pg_engine, where, POLICY, actor="loanhub", dry_run=True)
    assert {p.kind: p.count for p in dry} == {
        "calls": 0,
        "raw_payloads": 2,
        "kept_files": 1,
        "bot_evidence": 1,
        "personal_data": 0,
    }
    assert all(p.dry_run and "would purge" in p.line() for p in dry)
    assert old_raw.exists()
    assert old_file.exists()
    assert old_capture.exists()
    assert purge_events(pg_engine) == []  # a dry run audits nothing

    done = purge(pg_engine, where, POLICY, actor="loanhub")
    assert {p.kind: p.count for p in done} == {p.kind: p.count for p in dry}
    for path in (old_raw, old_exchange, old_file, old_capture.parent):
        assert not path.exists(), path
    for path in (new_raw, new_file, new_capture, archived, key):
        assert path.exists(), path
    assert not (where.screens / "los_decision" / "k1").exists()  # emptied folders go too

    events = purge_events(pg_engine)
    assert [e["kind"] for e in events] == [
        "calls",
        "raw_payloads",
        "kept_files",
        "bot_evidence",
        "personal_data",
    ]
    raw = events[1]
    assert raw["count"] == 2
    assert raw["retention_days"] == 365
    assert raw["older_than"] < (utcnow() - timedelta(days=364)).isoformat()
    assert audit.verify(pg_engine).ok


def test_old_calls_go_in_the_transaction_of_their_audit_event(
    engine: Engine, tmp_path: Path
) -> None:
    journal = CallJournal(engine)
    for age in (1, 40, 200):
        journal(
            SourceCall(
                system="bureau",
                operation="query",
                started_at=utcnow() - timedelta(days=age),
                duration_ms=5,
                outcome=CallOutcome.OK,
            )
        )
    [done] = purge(
        engine, areas(tmp_path), POLICY, actor="ops", kinds=("calls",), days={"calls": 30}
    )
    assert done.count == 2
    [event] = purge_events(engine)
    assert event["count"] == 2
    assert event["retention_days"] == 30


def test_a_purged_kept_file_leaves_its_receipt_without_a_path(
    pg_engine: Engine, tmp_path: Path
) -> None:
    where = areas(tmp_path)
    receipts = FileReceiptBook(pg_engine)
    for name, age in (("LNREPAY.D250101", 400), ("LNREPAY.D261201", 3)):
        kept = aged(where.kept_files / "core" / name, age)
        receipts.record("core", name, "e" * 64 if age > 100 else "f" * 64, 1)
        receipts.mark(
            "core", name, "e" * 64 if age > 100 else "f" * 64, FileState.LOADED, kept_at=str(kept)
        )
    with pg_engine.begin() as conn:  # the old one was received when its file was written
        conn.execute(
            file_receipt.update()
            .where(file_receipt.c.name == "LNREPAY.D250101")
            .values(received_at=utcnow() - timedelta(days=400))
        )
    [done] = purge(pg_engine, where, POLICY, actor="loanhub", kinds=("kept_files",))
    assert done.count == 1
    assert done.detail == {"receipts": 1}
    with pg_engine.connect() as conn:
        kept = dict(conn.execute(select(file_receipt.c.name, file_receipt.c.kept_at)).all())
    assert kept["LNREPAY.D250101"] is None
    assert kept["LNREPAY.D261201"] is not None
    assert receipts.loaded("core", "LNREPAY.D250101")  # still taken: never taken again


def _render(engine: Engine, number: str) -> bytes:
    return f"<html>case file of {number}</html>".encode()


def _dump(engine: Engine) -> str:
    """Every row of every table but the audit chain, as text (JSON unescaped)."""
    out = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "audit_event":
                continue
            for row in conn.execute(select(table)).mappings():
                out.append(json.dumps(dict(row), default=str, ensure_ascii=False))
    return "\n".join(out)


def test_personal_data_of_long_closed_archived_cases_is_pseudonymised(
    engine: Engine, tmp_path: Path
) -> None:
    closed_long_ago = long_ago(4000)
    gone, kept_by_open_loan, recent = person(), person(), person()
    add_party(engine, gone, closed_long_ago)
    add_application(engine, "AP0000000001", gone, status="REJECTED", at=closed_long_ago)
    decide(engine, "AP0000000001", "REJECT", closed_long_ago, comment=f"{gone.name}收入不足")
    with engine.begin() as conn:  # what the harvest left of the person in the ledger
        conn.execute(
            insert(work_item).values(
                kind="bureau_query",
                business_key=f"{gone.id_number}:01",
                payload={"subject": gone.id_number, "name": gone.name},
                payload_hash="c" * 64,
                state="DONE",
                attempts=1,
                created_at=closed_long_ago,
                updated_at=closed_long_ago,
            )
        )
    # closed and archived long ago as well, but the same person has a newer open application
    add_party(engine, kept_by_open_loan, closed_long_ago)
    add_application(
        engine, "AP0000000002", kept_by_open_loan, status="DISBURSED", at=closed_long_ago
    )
    decide(engine, "AP0000000002", "APPROVE", closed_long_ago)
    lend(engine, "AP0000000002", kept_by_open_loan, closed_long_ago, paid=3)
    add_application(engine, "AP0000000003", kept_by_open_loan, status="DISBURSED", at=long_ago(100))
    decide(engine, "AP0000000003", "APPROVE", long_ago(100))
    lend(engine, "AP0000000003", kept_by_open_loan, long_ago(100), paid=1)
    # closed recently
    add_party(engine, recent, long_ago(30))
    add_application(engine, "AP0000000004", recent, status="REJECTED", at=long_ago(30))
    decide(engine, "AP0000000004", "REJECT", long_ago(30))

    store = CaseArchiveStore(engine, tmp_path / "archive", actor="loanhub")
    assert archive_closed(engine, store, _render).archived == [
        "AP0000000001",
        "AP0000000002",
        "AP0000000004",
    ]
    chain_before = audit.head(engine)
    where = areas(tmp_path)

    [dry] = purge(engine, where, POLICY, actor="loanhub", kinds=("personal_data",), dry_run=True)
    assert (dry.count, dry.detail) == (1, {"persons": 1, "held": 1})
    assert gone.id_number in _dump(engine)

    [done] = purge(engine, where, POLICY, actor="loanhub", kinds=("personal_data",))
    assert done.count == 1
    assert done.detail["applications"] == ["AP0000000001"]
    after = _dump(engine)
    for value in (gone.id_number, gone.name, gone.mobile):
        assert value not in after, value
    assert gone.name[0] + "*" in after  # the masked name stays
    for value in (kept_by_open_loan.id_number, recent.id_number, recent.name):
        assert value in after, value
    with engine.connect() as conn:
        item = (
            conn.execute(select(work_item).where(work_item.c.kind == "bureau_query"))
            .mappings()
            .one()
        )
        cleared = dict(
            conn.execute(
                select(case_archive.c.application_no, case_archive.c.personal_data_cleared_at)
            ).all()
        )
        pseudonym = conn.execute(
            text("SELECT party_id_number FROM application WHERE application_no = 'AP0000000001'")
        ).scalar_one()
    assert pseudonym.startswith("~")
    assert len(pseudonym) == 18
    assert item["payload"]["subject"] == pseudonym
    assert item["business_key"] == f"{pseudonym}:01"
    assert (
        item["payload_hash"]
        == hashlib.sha256(
            json.dumps(
                item["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        ).hexdigest()
    )
    assert cleared["AP0000000001"] is not None
    assert cleared["AP0000000002"] is None
    assert cleared["AP0000000004"] is None

    # the chain was appended to (the archive events before, one purge event now), never rewritten
    assert audit.verify(engine).ok
    count, _ = audit.head(engine)
    assert count == chain_before[0] + 1
    assert store.verify("AP0000000001").ok  # the archive keeps the case file as it was

    [again] = purge(engine, where, POLICY, actor="loanhub", kinds=("personal_data",))
    assert again.count == 0
    assert again.detail["held"] == 1


def test_an_unarchived_closed_case_keeps_its_persons(pg_engine: Engine, tmp_path: Path) -> None:
    who = person()
    add_party(pg_engine, who, long_ago(4000))
    add_application(pg_engine, "AP0000000001", who, status="REJECTED", at=long_ago(4000))
    decide(pg_engine, "AP0000000001", "REJECT", long_ago(4000))
    [done] = purge(pg_engine, areas(tmp_path), POLICY, actor="loanhub", kinds=("personal_data",))
    assert done.count == 0
    assert who.id_number in _dump(pg_engine)
    with pg_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(case_archive)).scalar_one() == 0
