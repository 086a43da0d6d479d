"""The DAGs after the decision, under ``dag.test()`` against the simulators on PostgreSQL:
disbursement pays each tranche once (run twice), the nightly sync raises warnings, the notify
DAG mails each once."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from schemas.identifiers import InvalidIdentifier, validate_resident_id
from schemas.tables import disbursement, early_warning, repayment_installment
from tests.dags.test_credit_e2e import run_dag
from tests.loanhub.flows.test_disburse import approved
from tests.loanhub.flows.test_reconciliation import hub_loan


def is_id(value: str) -> bool:
    try:
        validate_resident_id(value)
    except InvalidIdentifier:
        return False
    return True


def hub_env(airflow_env, pg_url, sim_dir, tmp_path: Path) -> dict:
    return {
        **airflow_env,
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_SIM_DIR": str(sim_dir),
        "LOANHUB_DATA_DIR": str(tmp_path),
    }


def test_disbursement_pays_each_tranche_once_across_runs(
    airflow_env, sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    for n in range(10, 13):
        approved(pg_engine, sim_dataset, n)
    env = hub_env(airflow_env, pg_url, sim_dir, tmp_path)
    sim.controls({"gateway": {"*": {"answer_delay": 3.0}}})  # the first look finds no report
    first = run_dag(env, "loan_disbursement", {})
    assert "running trigger in line" in first  # the settlement waited in the trigger
    run_dag(env, "loan_disbursement", {})  # a second run (a retry, a clear): pays nothing new
    with pg_engine.connect() as conn:
        statuses = Counter(conn.execute(select(disbursement.c.status)).scalars())
    assert statuses == Counter({"ACSC": 3})
    payments = Counter(p["end_to_end_id"] for p in sim.journal("gateway", "payment"))
    assert len(payments) == 3
    assert set(payments.values()) == {1}


def test_nightly_sync_then_notify(
    airflow_env, sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    env = hub_env(airflow_env, pg_url, sim_dir, tmp_path)
    day = sim_dataset.business_date.isoformat()
    sim.post("/extract", {"business_date": day})
    hub_loan(pg_engine, "LNHUBMISSING00000002", sim_dataset.business_date - timedelta(days=45))
    out = run_dag(env, "repayment_sync", {"business_date": day})
    assert "1 missing" in out  # the reconcile task ran after the load, and logged its totals
    with pg_engine.connect() as conn:
        raised = conn.execute(select(early_warning.c.warning_key)).scalars().all()
    assert raised
    assert f"recon_missing:LNHUBMISSING00000002:{day.replace('-', '')}" in raised
    run_dag(env, "warning_notify", {})
    run_dag(env, "repayment_sync", {"business_date": day})  # the same night again
    run_dag(env, "warning_notify", {})
    mails = sim.journal("smtp", "mail")
    assert len(mails) == len(raised)  # one mail per warning, nothing repeated
    for mail in mails:  # what reaches a mailbox carries no clear resident ID
        text = mail["subject"] + mail["body"]
        assert not [m for m in re.findall(r"(?<!\d)\d{17}[\dX](?!\d)", text) if is_id(m)]


def test_a_rejected_night_fails_the_run_and_is_mailed_once(
    airflow_env, sim, sim_dir, pg_url, pg_engine, tmp_path: Path
):
    """The whole file refused (its trailer miscounts): nothing loaded, the run fails, as
    before; and operations hear of it: one warning for the file, mailed once, however often
    the night is run again."""
    env = hub_env(airflow_env, pg_url, sim_dir, tmp_path)
    day = "2026-11-18"
    sim.post("/extract", {"business_date": day, "trailer": "count"})
    night = {"business_date": day}
    for _ in range(2):  # the night, and a clear of it: the same file, still refused
        run = subprocess.run(
            [sys.executable, "-m", "devtools.run", "repayment_sync", json.dumps(night)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert run.returncode == 1, (run.stdout + run.stderr)[-4000:]
        assert "ExtractRejected" in run.stdout + run.stderr
    with pg_engine.connect() as conn:
        raised = (
            conn.execute(
                select(early_warning.c.warning_key).where(
                    early_warning.c.rule == "extract_rejected"
                )
            )
            .scalars()
            .all()
        )
        assert conn.execute(select(func.count()).select_from(repayment_installment)).scalar() == 0
    assert len(raised) == 1
    assert raised[0].startswith("extract_rejected:LNREPAY.D261118:")
    run_dag(env, "warning_notify", {})
    run_dag(env, "warning_notify", {})
    mails = [m for m in sim.journal("smtp", "mail") if "extract_rejected" in m["subject"]]
    assert len(mails) == 1
    assert (tmp_path / "files" / "core").is_dir()  # kept
