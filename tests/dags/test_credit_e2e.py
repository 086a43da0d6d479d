"""The credit DAGs end to end under ``dag.test()``: the simulators with faults on, the hub's
store on PostgreSQL, a scripted credit-ops user answering the referrals through Airflow's HITL
records. Afterwards the legacy systems' journals show each effect once."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from devtools.synthetic import los_intake
from loanhub.flows.intake import load_applicants
from schemas.tables import applicant_profile, decision
from tests.dags.conftest import credentials_in

FAULTS = {
    "bureau": {"*": {"rate": 0.2}},  # Server.Busy now and then: retried
    "ss": {"*": {"notice_rate": 0.5}},  # the notice modal on half the pages
    "los": {"/decide": {"gateway_504_rate": 0.5}},  # 504 after commit on half the decisions
    "tax": {"*": {"answer_delay": 6.0}},  # the first look finds no answer: the wait defers
}


def run_dag(env: dict, dag_id: str, conf: dict) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "devtools.run", dag_id, json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return run.stdout + run.stderr


def test_harvest_then_decide_posts_each_decision_once(
    airflow_env, sim, sim_dir, sim_endpoints, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    apps = sim_dataset.applications[40:46]
    records = los_intake([dataclasses.asdict(a) for a in apps], datetime.now(UTC))
    load_applicants(pg_engine, records, source_ref="los-list")
    numbers = [a.application_no for a in apps]
    env = {
        **airflow_env,
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_SIM_DIR": str(sim_dir),
        "LOANHUB_DATA_DIR": str(tmp_path),
    }
    sim.controls(FAULTS)
    harvest = run_dag(env, "credit_harvest", {"application_nos": numbers, "batch_size": 3})
    assert "running trigger in line" in harvest  # a tax wait deferred to the trigger
    with pg_engine.connect() as conn:
        profiled = set(conn.execute(select(applicant_profile.c.application_no)).scalars())
    assert profiled == set(numbers)

    credit_ops = subprocess.Popen(
        [sys.executable, "-m", "devtools.credit_ops", "--approve-from", "50"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # the maker is an approver of the big tiers: four eyes must route around her
        run_dag(
            env, "credit_decision", {"application_nos": numbers, "requested_by": "credit_manager"}
        )
    finally:
        credit_ops.terminate()
        answered = credit_ops.communicate(timeout=30)[0]
    with pg_engine.connect() as conn:
        rows = conn.execute(select(decision)).mappings().all()
    assert sorted(r["application_no"] for r in rows) == sorted(numbers)
    assert all(r["los_reference"] for r in rows)
    assert all(r["rule_set_version"].startswith("credit-v1@") for r in rows)
    people = [r["decided_by"] for r in rows if not r["decided_by"].startswith("rule:")]
    assert people  # this seeded slice has referrals: the human path ran
    assert "credit_manager" not in people  # the maker never decided her own request
    assert len(people) == answered.count(" by "), answered

    queries = Counter(q["subject"] for q in sim.journal("bureau", "query"))
    assert queries
    assert set(queries.values()) == {1}
    los = Counter(d["application_no"] for d in sim.journal("los", "decision"))
    assert los == Counter(numbers)  # one decision per application, 504s or not

    # what the hub wrote (store files, evidence, traces, logs) holds no credential
    assert list(tmp_path.rglob("*")), "the hub wrote nothing to look at"
    assert credentials_in(sim_dir, sim_endpoints)  # the search finds them where they are
    assert credentials_in(tmp_path, sim_endpoints) == []
