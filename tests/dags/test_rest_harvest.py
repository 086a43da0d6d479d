"""Credit ops' command line against a real Airflow (API server, scheduler, DAG processor,
triggerer; LocalExecutor on PostgreSQL): `loanhub harvest APP...` triggers through the REST
API, follows the run, and the store holds a profile per application afterwards."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from dags.support.cluster import LocalCluster
from loanhub.intake import load_applicants
from loanhub.synthetic import los_intake
from schemas.tables import applicant_profile


def test_loanhub_harvest_triggers_and_follows_a_real_run(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    apps = sim_dataset.applications[50:54]
    load_applicants(
        pg_engine,
        los_intake([dataclasses.asdict(a) for a in apps], datetime.now(UTC)),
        source_ref="los-list",
    )
    hub = {
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_SIM_DIR": str(sim_dir),
        "LOANHUB_DATA_DIR": str(tmp_path / "var"),
    }
    sim.controls({"tax": {"*": {"answer_delay": 12.0}}})  # long enough for the wait to defer
    database = f"airflow_{Path(pg_url).name}"[:60]
    with LocalCluster(tmp_path / "airflow", port=8795, database=database, extra_env=hub) as air:
        env = {
            **air.env,
            "LOANHUB_AIRFLOW_API_URL": air.url,
            "LOANHUB_AIRFLOW_USER": "credit_ops",
            "LOANHUB_AIRFLOW_PASSWORD": "credit_ops",
        }
        run = subprocess.run(
            [
                Path(sys.executable).with_name("loanhub"),
                "harvest",
                *[a.application_no for a in apps],
                "--batch-size",
                "2",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=280,
        )
        # the triggerer files what a trigger logs with the task's own log
        waits = "".join(
            p.read_text()
            for p in (air.home / "logs").rglob("*")
            if "task_id=tax_answer" in str(p) and p.is_file()
        )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "credit_harvest run" in run.stdout
    assert ": success" in run.stdout
    # both batches' waits were deferred to the triggerer and woken by their answers
    assert len(set(re.findall(r"tax answer to (TAXQ_\S+) is there", waits))) == 2, waits[-3000:]
    with pg_engine.connect() as conn:
        profiled = set(conn.execute(select(applicant_profile.c.application_no)).scalars())
    assert profiled == {a.application_no for a in apps}
