"""``loanhub retention purge [--dry-run]``: every kind past its retention, each audited; the
dry run says what would go and changes nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from loanhub.cli import app
from schemas.tables import audit_event
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_dry_run_then_purge(
    pg_url: str, pg_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOANHUB_RETENTION__FILE_DAYS", "10")
    old = tmp_path / "files" / "tax" / "TAXQ_old.csv"
    old.parent.mkdir(parents=True)
    old.write_text("x")
    stamp = time.time() - 11 * 86400
    os.utime(old, (stamp, stamp))

    dry = runner.invoke(app, ["retention", "purge", "--dry-run", "--url", pg_url])
    assert dry.exit_code == 0, dry.output
    assert "would purge 1 kept_files older than 10 days" in dry.output
    assert "dry run: nothing was purged or audited" in dry.output
    assert old.exists()

    done = runner.invoke(app, ["retention", "purge", "--url", pg_url])
    assert done.exit_code == 0, done.output
    assert "purged 1 kept_files older than 10 days" in done.output
    assert "purged 0 personal_data older than 3650 days" in done.output
    assert not old.exists()
    with pg_engine.connect() as conn:
        events = conn.execute(
            select(func.count()).where(audit_event.c.action == "retention.purged")
        ).scalar_one()
    assert events == 5  # one per kind


def test_one_kind_and_an_unknown_one(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    one = runner.invoke(app, ["retention", "purge", "--kind", "calls", "--url", pg_url])
    assert one.output.count("purged") == 1
    assert_refused(
        runner.invoke(app, ["retention", "purge", "--kind", "everything", "--url", pg_url]),
        2,
        "unknown kind everything",
    )
