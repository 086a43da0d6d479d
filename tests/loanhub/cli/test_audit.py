"""``loanhub audit export`` and ``verify-export``: a regulator's export for a range of the
bank's days or one application, written with its verifier; verified without the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.platform import audit
from tests.loanhub.auditchain import forge
from tests.loanhub.casebook import add_application, long_ago, person
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_export_a_range_then_verify_it_and_a_forgery(
    pg_url: str, pg_engine: Engine, tmp_path: Path
) -> None:
    forge(pg_engine, [(datetime(2026, 3, 1, 2, i, tzinfo=UTC), "AP1", {"i": i}) for i in range(5)])
    out = tmp_path / "bundle" / "march.jsonl"
    exported = runner.invoke(
        app,
        [
            "audit",
            "export",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-31",
            "--out",
            str(out),
            "--url",
            pg_url,
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert "exported 5 event(s) (seq 1..5)" in exported.output
    assert (tmp_path / "bundle" / "verify_audit_export.py").exists()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    verified = runner.invoke(app, ["audit", "verify-export", str(out)])
    assert verified.exit_code == 0, verified.output
    assert "export verified: 5 event(s)" in verified.output
    assert audit.verify(pg_engine).ok  # the seal is a link of the chain

    lines = out.read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[2])
    event["event"]["subject"] = "AP2"
    lines[2] = json.dumps(event, ensure_ascii=False)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_refused(runner.invoke(app, ["audit", "verify-export", str(forged)]), 1, "altered")


def test_export_an_application(pg_url: str, pg_engine: Engine, tmp_path: Path) -> None:
    add_application(pg_engine, "AP7", person(), status="REJECTED", at=long_ago(3))
    forge(pg_engine, [(long_ago(3), s, None) for s in ("AP7", "AP8", "AP7")])
    out = tmp_path / "ap7.jsonl"
    done = runner.invoke(
        app, ["audit", "export", "--application", "AP7", "--out", str(out), "--url", pg_url]
    )
    assert done.exit_code == 0, done.output
    assert "exported 2 event(s) (seq 1..3)" in done.output
    assert (
        "export verified: 2 event(s)"
        in runner.invoke(app, ["audit", "verify-export", str(out)]).output
    )


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--from", "2026-03-01"], 2, "needs both --from and --to"),
        (["--from", "2026-03-01", "--to", "2026-03-02", "--application", "AP1"], 2, "either"),
        ([], 2, "either"),
        (["--from", "March", "--to", "2026-03-02"], 2, "is not a date"),
        (["--from", "2026-03-05", "--to", "2026-03-02"], 2, "is before --from"),
        (["--application", "AP404"], 2, "no application AP404"),
    ],
)
def test_bad_scopes_are_one_line(
    pg_url: str, tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    result = runner.invoke(
        app, ["audit", "export", *args, "--out", str(tmp_path / "x"), "--url", pg_url]
    )
    assert_refused(result, code, says)


def test_verify_export_of_a_missing_or_foreign_file(tmp_path: Path) -> None:
    assert_refused(
        runner.invoke(app, ["audit", "verify-export", str(tmp_path / "no")]), 1, "cannot read"
    )
    (tmp_path / "x.jsonl").write_text('{"hello": 1}\n', encoding="utf-8")
    assert_refused(
        runner.invoke(app, ["audit", "verify-export", str(tmp_path / "x.jsonl")]),
        1,
        "not a loanhub-audit-export version 1 header",
    )
