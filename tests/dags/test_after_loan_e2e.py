"""The DAGs after the decision, under ``dag.test()`` against the simulators on PostgreSQL:
disbursement pays each tranche once (run twice), the nightly sync raises warnings, the notify
DAG mails each once."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from schemas.identifiers import InvalidIdentifier, validate_resident_id
from schemas.tables import disbursement, early_warning
from tests.dags.test_credit_e2e import run_dag
from tests.loanhub.flows.test_disburse import approved


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
    run_dag(env, "loan_disbursement", {})
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
    run_dag(env, "repayment_sync", {"business_date": day})
    with pg_engine.connect() as conn:
        raised = conn.execute(select(early_warning.c.warning_key)).scalars().all()
    assert raised
    run_dag(env, "warning_notify", {})
    run_dag(env, "repayment_sync", {"business_date": day})  # the same night again
    run_dag(env, "warning_notify", {})
    mails = sim.journal("smtp", "mail")
    assert len(mails) == len(raised)  # one mail per warning, nothing repeated
    for mail in mails:  # what reaches a mailbox carries no clear resident ID
        text = mail["subject"] + mail["body"]
        assert not [m for m in re.findall(r"(?<!\d)\d{17}[\dX](?!\d)", text) if is_id(m)]
