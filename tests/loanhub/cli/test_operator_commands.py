"""The operator's commands: ``items read|settle|close|reopen``, ``files list|retake``,
``quarantine list|reprocess``, as a person at a terminal runs them: the actor from settings,
every refusal one line (exit 2 for bad input), the simulators read for real."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from schemas.hub import FileState, WorkItemState
from schemas.tables import audit_event
from tests.loanhub.cli.refusals import assert_refused
from tests.loanhub.flows.test_reprocessing import REAL, answered, deploy, with_ratings
from tests.loanhub.flows.test_reprocessing import deployed as deployed  # the fixture

runner = CliRunner()


def env(pg_url: str, tmp_path: Path, sim_dir: Path | None = None) -> dict[str, str]:
    return {
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_DATA_DIR": str(tmp_path / "var"),
        "LOANHUB_SIM_DIR": str(sim_dir or tmp_path / "no-simulators"),
        "LOANHUB_ACTOR": "ops:olga",
        "COLUMNS": "250",  # tables unwrapped, as on a wide terminal
    }


def audited(engine: Engine, action: str) -> list[tuple[str, dict]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(audit_event.c.actor, audit_event.c.after).where(
                    audit_event.c.action == action
                )
            )
        ]


def test_an_inquiry_in_doubt_is_read_then_settled_to_what_the_bureau_says(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path
):
    person = next(p for p in sim_dataset.persons if p.known_to_bureau)
    key = f"APP-CLI-OP:{person.id_number}:01"
    worker = WorkItemLedger(pg_engine, owner="crashed")
    worker.mark_in_doubt(
        worker.claim(
            "bureau_query",
            key,
            {
                "application_no": "APP-CLI-OP",
                "subject": person.id_number,
                "reason": "01",
                "operation": "QueryPersonalReport",
            },
        ),
        "killed before its query left",
    )
    here = env(pg_url, tmp_path, sim_dir)
    read = runner.invoke(app, ["items", "read", "bureau_query", key], env=here)
    assert read.exit_code == 0, read.output
    assert "RequestNotFound" in read.output
    assert "--outcome release" in read.output
    assert person.id_number not in read.output  # masked
    wrong = runner.invoke(
        app,
        ["items", "settle", "bureau_query", key, "--outcome", "done", "--note", "x"],
        env=here,
    )
    assert_refused(wrong, 1, "the reading supports release, not done")
    assert_refused(
        runner.invoke(
            app,
            ["items", "settle", "bureau_query", key, "--outcome", "later", "--note", "x"],
            env=here,
        ),
        2,
        "unknown outcome 'later'",
    )
    done = runner.invoke(
        app,
        ["items", "settle", "bureau_query", key, "--outcome", "release", "--note", "never sent"],
        env=here,
    )
    assert done.exit_code == 0, done.output
    assert "now FAILED" in done.output
    assert sim.journal("bureau", "query") == []
    [(actor, after)] = audited(pg_engine, "operator.settled")
    assert (actor, after["note"], after["outcome"]) == ("ops:olga", "never sent", "release")


def test_a_reading_nobody_can_take_is_one_line_and_changes_nothing(pg_url, pg_engine, tmp_path):
    worker = WorkItemLedger(pg_engine, owner="crashed")
    payload = {"application_no": "A", "subject": "S", "reason": "01"}
    worker.mark_in_doubt(worker.claim("bureau_query", "A:S:01", payload), "lost")
    here = env(pg_url, tmp_path)  # no endpoints file: the bureau cannot be reached
    read = runner.invoke(app, ["items", "read", "bureau_query", "A:S:01"], env=here)
    assert_refused(read, 1, "nothing can be settled now")
    settle = runner.invoke(
        app,
        ["items", "settle", "bureau_query", "A:S:01", "--outcome", "release", "--note", "x"],
        env=here,
    )
    assert_refused(settle, 1, "could not be read")
    assert WorkItemLedger(pg_engine).get("bureau_query", "A:S:01").state is WorkItemState.IN_DOUBT


def test_closing_and_reopening_from_the_shell(pg_url, pg_engine, tmp_path):
    worker = WorkItemLedger(pg_engine, owner="w1")
    worker.needs_human(worker.claim("payee_account", "AP-CL", {"a": 1}), "no account")
    here = env(pg_url, tmp_path)
    assert_refused(
        runner.invoke(app, ["items", "close", "payee_account", "AP-CL", "--note", " "], env=here),
        2,
        "needs a note",
    )
    closed = runner.invoke(
        app, ["items", "close", "payee_account", "AP-CL", "--note", "paid in branch"], env=here
    )
    assert closed.exit_code == 0, closed.output
    assert "closed by ops:olga" in closed.output
    listed = runner.invoke(app, ["items", "list", "--state", "CLOSED"], env=here)
    assert "AP-CL" in listed.output
    check = runner.invoke(app, ["items", "check"], env=here)
    assert check.exit_code == 0, check.output  # a closed item waits on nothing, rightly
    assert_refused(
        runner.invoke(app, ["items", "close", "payee_account", "AP-CL", "--note", "x"], env=here),
        1,
        "only a NEEDS_HUMAN item is closed",
    )
    item_id = WorkItemLedger(pg_engine).get("payee_account", "AP-CL").id
    assert f"#{item_id}" in listed.output  # the id the list shows is a key too
    reopened = runner.invoke(
        app,
        ["items", "reopen", "payee_account", f"#{item_id}", "--note", "branch had no record"],
        env=here,
    )
    assert reopened.exit_code == 0, reopened.output
    assert WorkItemLedger(pg_engine).get("payee_account", "AP-CL").state is (
        WorkItemState.NEEDS_HUMAN
    )
    assert [a for a, _ in audited(pg_engine, "operator.closed")] == ["ops:olga"]
    assert [a["note"] for _, a in audited(pg_engine, "operator.reopened")] == [
        "branch had no record"
    ]


def test_files_are_listed_and_a_taken_one_retaken_once(pg_url, pg_engine, tmp_path):
    from loanhub.flows.repayments import load_extract
    from tests.mappings.test_lnrepay import build

    report = load_extract(
        pg_engine, build(), "LNREPAY.D261120", FileReceiptBook(pg_engine), tmp_path
    )
    here = env(pg_url, tmp_path)
    listed = runner.invoke(app, ["files", "list"], env=here)
    assert listed.exit_code == 0, listed.output
    assert "LNREPAY.D261120" in listed.output
    assert "LOADED" in listed.output
    assert_refused(
        runner.invoke(app, ["files", "retake", "core", "LNREPAY.D999999", "--note", "x"], env=here),
        2,
        "no file LNREPAY.D999999 received from core",
    )
    done = runner.invoke(
        app, ["files", "retake", "core", "LNREPAY.D261120", "--note", "re-sent"], env=here
    )
    assert done.exit_code == 0, done.output
    assert "repayment_sync" in done.output
    book = FileReceiptBook(pg_engine)
    assert book.state("core", "LNREPAY.D261120", report.sha256) is FileState.RECEIVED
    assert_refused(
        runner.invoke(
            app, ["files", "retake", "core", "LNREPAY.D261120", "--note", "again"], env=here
        ),
        1,
        "not taken yet",
    )
    assert [a["note"] for _, a in audited(pg_engine, "file.retake")] == ["re-sent"]


def test_quarantine_is_listed_and_reprocessed_after_a_mapping_fix(
    sim, sim_endpoints, sim_dataset, pg_url, pg_engine, tmp_path, deployed
):
    deploy(deployed, with_ratings("A"))
    answered(sim, sim_endpoints, sim_dataset, pg_engine, tmp_path, date(2026, 3, 13))
    here = env(pg_url, tmp_path)
    listed = runner.invoke(app, ["quarantine", "list", "--records"], env=here)
    assert listed.exit_code == 0, listed.output
    assert "2 record(s) in 1 source(s)" in listed.output
    assert "not in code table ratings" in listed.output
    [source] = {w for w in listed.output.split() if w.startswith("tax:TAXR_")}
    assert_refused(
        runner.invoke(app, ["quarantine", "reprocess", "tax", source, "--note", ""], env=here),
        2,
        "needs a note",
    )
    assert_refused(
        runner.invoke(app, ["quarantine", "reprocess", "ss", "ss:x", "--note", "y"], env=here),
        1,
        "not kept",
    )
    version = deploy(deployed, REAL)
    done = runner.invoke(
        app, ["quarantine", "reprocess", "tax", source, "--note", "ratings fixed"], env=here
    )
    assert done.exit_code == 0, done.output
    assert f"2 stored under mapping {version}, 0 still quarantined" in done.output
    assert "3 records = 3 loaded + 0 quarantined" in done.output
    assert [a["note"] for _, a in audited(pg_engine, "quarantine.reprocessed")] == ["ratings fixed"]
