"""Operations hear of a run that fails and of a run that is late, from Airflow's own
machinery: the failure notice from the task's ``on_failure_callback`` (under ``dag.test()``,
the same task runner as a worker's), the deadline notice from a ``DeadlineAlert`` missed in a
real cluster (scheduler marks it, triggerer runs the callback). Both land in the SMTP
simulator, masked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from connectors.airflow_api import AirflowApi
from connectors.config import AirflowApiConfig
from devtools.cluster import LocalCluster, free_port
from devtools.connections import airflow_environment
from devtools.scratch import scratch_database
from tests.dags.test_after_loan_e2e import hub_env, is_id

OPERATIONS = ["hub-operations@bank.local", "hub-on-call@bank.local"]


def notices(sim, subject: str) -> list[dict]:
    return [m for m in sim.journal("smtp", "mail") if m["subject"] == subject]


def test_a_task_that_fails_for_good_mails_operations(
    airflow_env, sim, sim_dir, pg_url, pg_engine, tmp_path: Path
):
    """The night's extract refused as a whole: ``extract_accepted`` fails (no retry left) and
    its failure notice is mailed once; the tasks that succeeded send nothing."""
    env = {
        **hub_env(airflow_env, pg_url, sim_dir, tmp_path),
        "LOANHUB_ALERTS__RECIPIENTS": json.dumps(OPERATIONS),
    }
    day = "2026-11-19"
    sim.post("/extract", {"business_date": day, "trailer": "count"})
    conf = json.dumps({"business_date": day})
    run = subprocess.run(
        [sys.executable, "-m", "devtools.run", "repayment_sync", conf],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 1, (run.stdout + run.stderr)[-4000:]
    ours = [m for m in sim.journal("smtp", "mail") if m["subject"].startswith("[loanhub] ")]
    assert [m["subject"] for m in ours] == [
        "[loanhub] repayment_sync: task extract_accepted failed"
    ]
    (mail,) = ours
    assert mail["rcpt_tos"] == OPERATIONS
    assert "ExtractRejected" in mail["body"]
    assert "LNREPAY.D261119" in mail["body"]
    assert "(try 1)" in mail["body"]
    assert not [m for m in re.findall(r"(?<!\d)\d{17}[\dX](?!\d)", mail["body"]) if is_id(m)]


@pytest.mark.timeout(420)
def test_a_nightly_sync_past_its_deadline_is_mailed(sim, sim_dir, pg_url, tmp_path: Path):
    """A real cluster; the nightly sync's deadline shortened to 20 seconds for the test (the
    one change: ``LOANHUB_DEADLINES__REPAYMENT_SYNC``); its extract never comes, so the run
    waits in the triggerer past the deadline; the scheduler marks the deadline missed and the
    triggerer runs the notifier, which mails operations."""
    hub = {
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_SIM_DIR": str(sim_dir),
        "LOANHUB_DATA_DIR": str(tmp_path / "var"),
        "LOANHUB_DEADLINES__REPAYMENT_SYNC": str(20 / 60),
        "LOANHUB_ALERTS__RECIPIENTS": json.dumps(OPERATIONS),
        **airflow_environment(sim_dir),
    }
    subject = "[loanhub] repayment_sync: run not finished by its deadline"
    night = date(2026, 1, 7).isoformat()  # no extract of that night exists on the server
    with (
        scratch_database() as metadata_url,
        LocalCluster(
            tmp_path / "airflow",
            port=free_port(),
            database=metadata_url.rsplit("/", 1)[1],
            extra_env=hub,
        ) as air,
    ):
        api = AirflowApi(AirflowApiConfig(url=air.url, user="admin", password="admin"))
        run_id = api.trigger("repayment_sync", {"business_date": night})
        deadline = time.monotonic() + 240
        while not ours(sim, subject, run_id) and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(3)  # a second notice of the same miss would arrive by now
        state = api.run("repayment_sync", run_id)["state"]
    # (unpausing also let the scheduler start last night's run, which is as late: its own
    # notice names its own run)
    (mail,) = ours(sim, subject, run_id)
    assert state in ("queued", "running")  # still waiting for its file: late, not failed
    assert mail["rcpt_tos"] == OPERATIONS
    assert "before the branches open" in mail["body"]  # the deadline's own words


def ours(sim, subject: str, run_id: str) -> list[dict]:
    return [m for m in notices(sim, subject) if f"Run:      {run_id}" in m["body"]]


PROBE = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=%(folder)r)
out = {"errors": list(bag.import_errors), "dags": {}}
for dag in bag.dags.values():
    out["dags"][dag.dag_id] = {
        "deadlines": [
            [type(d.reference).__name__, d.interval.total_seconds(), d.callback.path]
            for d in dag.deadline or []
        ],
        "unnotified": [
            t.task_id for t in dag.tasks
            if not any(type(c).__name__ == "LoanhubMailNotifier" for c in t.on_failure_callback)
        ],
    }
print(json.dumps(out))
"""


def test_the_nightly_sync_and_the_disbursements_carry_deadlines_and_every_task_a_notice(
    airflow_env,
):
    env = {**airflow_env, "LOANHUB_DEADLINES__LOAN_DISBURSEMENT": "120"}
    run = subprocess.run(
        [sys.executable, "-c", PROBE % {"folder": str(Path(__file__).parents[2] / "dags")}],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["errors"] == []
    notifier = "loanhub_provider.notifications.mail.LoanhubMailNotifier"
    dags = found["dags"]
    assert dags["repayment_sync"]["deadlines"] == [
        ["DagRunQueuedAtDeadline", 6 * 3600 + 15 * 60, notifier]
    ]
    # the environment's minutes, read when the file is parsed
    assert dags["loan_disbursement"]["deadlines"] == [["DagRunQueuedAtDeadline", 7200, notifier]]
    assert {d for d, info in dags.items() if info["deadlines"]} == {
        "repayment_sync",
        "loan_disbursement",
    }
    assert {d: info["unnotified"] for d, info in dags.items() if info["unnotified"]} == {}
