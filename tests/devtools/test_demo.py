"""`make demo`'s driver on a small batch: it runs every DAG of the lifecycle on the embedded
SQLite store and writes its report."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.dags.conftest import ROOT


def test_the_lifecycle_demo_runs_end_to_end_on_sqlite(airflow_env, tmp_path: Path):
    env = {
        **airflow_env,
        "LOANHUB_DATA_DIR": str(tmp_path / "var"),
        "COLUMNS": "120",
    }
    env.pop("LOANHUB_DATABASE_URL", None)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "devtools.demo", "--applications", "5"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        subprocess.run(
            [Path(sys.executable).with_name("loanhub"), "sim", "down"],
            env=env,
            capture_output=True,
            timeout=60,
        )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "credit ops is scripted for this demo" in out
    assert "loanhub demo: summary" in out
    assert (tmp_path / "var" / "loanhub.db").exists()
    report = (tmp_path / "var" / "report" / "lifecycle.html").read_text()
    assert report.count("<svg") == 5
    with sqlite3.connect(tmp_path / "var" / "loanhub.db") as db:
        paid = {
            r[0] for r in db.execute("SELECT loan_account FROM disbursement WHERE status = 'ACSC'")
        }
        repaid = {r[0] for r in db.execute("SELECT loan_account FROM repayment_installment")}
        warned = {r[0] for r in db.execute("SELECT loan_account FROM early_warning")}
    # the nightly extracts carry the loans the demo paid out, and only those
    assert repaid == paid
    assert warned <= paid
