"""The intake of a synthetic batch on its own (it was ``loanhub demo``): it builds the embedded
store, re-runs cleanly, and is started as ``python -m devtools.intake_demo``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from typer.testing import CliRunner

from devtools.intake_demo import app
from loanhub.cli import app as loanhub
from loanhub.platform.db import MIGRATIONS_DIR, make_engine
from tests.conftest import ROOT

runner = CliRunner()


def test_demo_builds_the_embedded_store_and_reruns_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOANHUB_DATABASE_URL", raising=False)
    first = runner.invoke(app, ["--seed", "7", "--applicants", "40"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "loanhub.db").exists()
    assert "audit chain: intact, 1 events" in first.output
    assert "quarantined x1" in first.output  # the batch mistypes one identifier on purpose
    second = runner.invoke(app, ["--seed", "7", "--applicants", "40"])
    assert second.exit_code == 0
    assert "audit chain: intact, 2 events" in second.output
    url = f"sqlite:///{tmp_path}/loanhub.db"
    current = runner.invoke(loanhub, ["db", "current", "--url", url])
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert current.output.strip() == head
    with make_engine(url).begin() as conn:  # tamper as a DBA could: the demo must say so
        conn.execute(text("UPDATE audit_event SET subject = 'tampered' WHERE seq = 1"))
    broken = runner.invoke(app, ["--seed", "7", "--applicants", "40"])
    assert broken.exit_code == 1
    assert "audit chain: BROKEN" in broken.output


def test_it_runs_as_a_module_and_refuses_a_bad_store_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "LOANHUB_DATA_DIR": str(tmp_path), "COLUMNS": "120"}
    env.pop("LOANHUB_DATABASE_URL", None)
    start = [sys.executable, "-m", "devtools.intake_demo"]
    run = subprocess.run(
        [*start, "--seed", "7", "--applicants", "40"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "intake of synthetic batch (seed 7)" in run.stdout
    assert "audit chain: intact, 1 events" in run.stdout
    bad = subprocess.run(
        [*start, "--url", "nonsense"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert bad.stdout.strip() == (
        "not a store URL: expected postgresql://user@host/database or sqlite:///path"
    )
    assert "Traceback" not in bad.stderr
