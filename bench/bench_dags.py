"""The orchestration, measured under a real scheduler.

- ``orchestration_efficiency``: a 200-application ``credit_harvest`` run under Airflow's own
  scheduler, DAG processor and triggerer with the LocalExecutor (``dags.support.cluster``,
  PostgreSQL metadata): the sum of the task instances' run times vs the run's wall time. Goal
  >= 0.8: the scheduler keeps the pools busy instead of idling between tasks. The simulators
  run with the demo's shortened latencies and faults on (``dags.support.demo``).
"""

from __future__ import annotations

import dataclasses
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests

from bench.common import PG_ADMIN_URL, Result, free_port, scratch_database, simulators_running
from dags.support.cluster import LocalCluster
from dags.support.demo import DEMO_CONTROLS
from loanhub.airflow_api import AirflowApi
from loanhub.db import make_engine, upgrade
from loanhub.intake import load_applicants
from loanhub.settings import HubSettings
from loanhub.synthetic import los_intake
from simulators.dataset import generate

APPLICATIONS = 200
BATCH = 10


def _harvest(tmp: Path, endpoints: dict, hub_url: str) -> tuple[float, float, int]:
    data = generate(endpoints["seed"], endpoints["persons"], endpoints["enterprises"])
    apps = data.applications[:APPLICATIONS]
    assert len(apps) == APPLICATIONS, f"only {len(apps)} applications in the data set"
    engine = make_engine(hub_url)
    upgrade(engine)
    load_applicants(
        engine,
        los_intake([dataclasses.asdict(a) for a in apps], datetime.now(UTC)),
        source_ref="bench",
    )
    engine.dispose()
    hub = {
        "LOANHUB_DATABASE_URL": hub_url,
        "LOANHUB_SIM_DIR": str(tmp / "sim"),
        "LOANHUB_DATA_DIR": str(tmp / "var"),
    }
    database = f"loanhub_bench_af_{uuid.uuid4().hex[:8]}"
    try:
        with LocalCluster(
            tmp / "airflow", port=free_port(), database=database, extra_env=hub
        ) as cluster:
            settings = HubSettings(
                airflow_api_url=cluster.url, airflow_user="admin", airflow_password="admin"
            )
            api = AirflowApi(settings)
            run_id = api.trigger(
                "credit_harvest",
                {"application_nos": [a.application_no for a in apps], "batch_size": BATCH},
            )
            state = api.follow("credit_harvest", run_id, lambda *_: None, poll=2)
            assert state == "success", state
            listed = len(api.task_instances("credit_harvest", run_id))
        # the metadata database itself is the record of the run
        metadata = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database
        with psycopg.connect(metadata) as conn:
            busy, count = conn.execute(
                "SELECT sum(extract(epoch FROM end_date - start_date)), count(*) "
                "FROM task_instance WHERE dag_id = %s AND run_id = %s",
                ("credit_harvest", run_id),
            ).fetchone()
            (wall,) = conn.execute(
                "SELECT extract(epoch FROM end_date - start_date) FROM dag_run "
                "WHERE dag_id = %s AND run_id = %s",
                ("credit_harvest", run_id),
            ).fetchone()
        assert listed == count, f"the API listed {listed} task instances, the database {count}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return float(busy), float(wall), int(count)


def run() -> list[Result]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        simulators_running(Path(tmp) / "sim", persons=650) as endpoints,
        scratch_database() as hub_url,
    ):
        requests.patch(
            endpoints["admin"]["url"] + "/controls", json=DEMO_CONTROLS, timeout=10
        ).raise_for_status()
        busy, wall, count = _harvest(Path(tmp), endpoints, hub_url)
    return [
        Result(
            "orchestration_efficiency",
            busy,
            wall,
            "seconds",
            f"wall time of the run ({APPLICATIONS} applications, {count} task instances; "
            "ours = the sum of their run times)",
            goal=0.8,
        )
    ]
