"""Credit ops against a real Airflow (API server, scheduler, DAG processor, triggerer;
LocalExecutor on PostgreSQL), through the REST API only, as people use it:

- `loanhub harvest APP...` triggers credit_harvest and follows it; the tax waits are deferred
  to the triggerer; the store holds a profile per application afterwards;
- credit_decision is triggered by `credit_ops` (the maker); the referrals wait under
  "Required actions" for the approvers of their tier; the maker cannot answer them (Airflow
  refuses, 403); `loanhub reviews` lists and answers them as an approver; a second answer is
  refused (409); the run then posts every decision, each recorded with who decided.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, text

from connectors.airflow_api import AirflowApi, AirflowApiError
from connectors.config import AirflowApiConfig
from devtools.cluster import LocalCluster
from devtools.connections import airflow_environment
from devtools.scratch import scratch_database
from devtools.synthetic import los_intake
from loanhub.flows.intake import load_applicants
from schemas.tables import applicant_profile, decision

LOANHUB = Path(sys.executable).with_name("loanhub")


def as_user(air: LocalCluster, user: str) -> dict[str, str]:
    """The environment of `loanhub` signed in to Airflow as ``user`` (local cluster: the
    password is the user's name, except admin's)."""
    return {
        **air.env,
        "LOANHUB_AIRFLOW_API__URL": air.url,
        "LOANHUB_AIRFLOW_API__USER": user,
        "LOANHUB_AIRFLOW_API__PASSWORD": user,
    }


def loanhub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LOANHUB, *args], env=env, capture_output=True, text=True, timeout=280)


def api(air: LocalCluster, user: str) -> AirflowApi:
    return AirflowApi(AirflowApiConfig(url=air.url, user=user, password=user))


def wait_for_reviews(air: LocalCluster, run_id: str, approvers: list[str]) -> dict[str, list]:
    """Each approver's waiting reviews of ``run_id`` once the run has parked all of them."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        tasks = api(air, "admin").task_instances("credit_decision", run_id)
        reviews = [t for t in tasks if t["task_id"] == "credit_ops_review"]
        if reviews and all(t["state"] == "awaiting_input" for t in reviews):
            time.sleep(1)  # let the parking settle before answering (airflow-notes.md)
            return {
                user: [
                    r
                    for r in api(air, user).pending_reviews("credit_decision")
                    if r.run_id == run_id
                ]
                for user in approvers
            }
        time.sleep(2)
    raise AssertionError(f"no reviews parked in {run_id}")


def look_at_the_dashboard_inside_airflow(air: LocalCluster) -> dict[str, str]:
    """The plugin's pages, served by Airflow's own API server under /loanhub, behind Airflow's
    login only (no second one); returns the pages' HTML."""
    anonymous = requests.get(f"{air.url}/loanhub/sources", allow_redirects=False, timeout=30)
    assert anonymous.status_code == 401
    token = requests.post(
        f"{air.url}/auth/token", json={"username": "admin", "password": "admin"}, timeout=30
    ).json()["access_token"]
    browser = requests.Session()
    browser.headers["Authorization"] = f"Bearer {token}"
    pages = {
        "sources": browser.get(f"{air.url}/loanhub/sources", timeout=30).text,
        "overview": browser.get(f"{air.url}/loanhub/", timeout=30).text,
    }
    plugins = requests.get(
        f"{air.url}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()["plugins"]
    (ours,) = [p for p in plugins if p["name"] == "loanhub"]
    assert [v["href"] for v in ours["external_views"]] == ["/loanhub/"]
    assert [a["url_prefix"] for a in ours["fastapi_apps"]] == ["/loanhub"]
    return pages


def test_credit_ops_harvest_and_review_through_the_api(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    apps = sim_dataset.applications[50:56]
    numbers = [a.application_no for a in apps]
    load_applicants(
        pg_engine,
        los_intake([dataclasses.asdict(a) for a in apps], datetime.now(UTC)),
        source_ref="los-list",
    )
    hub = {
        "LOANHUB_DATABASE_URL": pg_url,
        "LOANHUB_SIM_DIR": str(sim_dir),
        "LOANHUB_DATA_DIR": str(tmp_path / "var"),
        **airflow_environment(sim_dir),  # the legacy systems' connections
    }
    sim.controls({"tax": {"*": {"answer_delay": 12.0}}})  # long enough for the wait to defer
    with (
        scratch_database() as metadata_url,
        LocalCluster(
            tmp_path / "airflow",
            port=8795,
            database=metadata_url.rsplit("/", 1)[1],
            extra_env=hub,
        ) as air,
    ):
        harvest = loanhub(as_user(air, "credit_ops"), "harvest", *numbers, "--batch-size", "3")
        # the triggerer files what a trigger logs with the task's own log
        waits = "".join(
            p.read_text()
            for p in (air.home / "logs").rglob("*")
            if "task_id=batch.tax_answer" in str(p) and p.is_file()
        )

        maker = api(air, "credit_ops")
        run_id = maker.trigger("credit_decision", {"application_nos": numbers})
        approvers = ["credit_officer", "senior_officer", "credit_manager", "risk_committee"]
        waiting = wait_for_reviews(air, run_id, approvers)
        assigned = {
            r.subject.split(":")[0].split()[-1]: user
            for user, reviews in waiting.items()
            for r in reviews
        }
        assert assigned, "this slice of the seeded data has referrals"
        any_review = next(r for reviews in waiting.values() for r in reviews)
        with pytest.raises(AirflowApiError) as refused:
            maker.answer_review(any_review, "Approve")  # four eyes: the maker is not assigned
        assert refused.value.status == 403

        listed = loanhub(as_user(air, next(iter(waiting))), "reviews")
        assert "waiting for" in listed.stdout, listed.stdout + listed.stderr
        answered = {}
        for application_no, user in sorted(assigned.items()):
            done = loanhub(
                as_user(air, user),
                "reviews",
                "--answer",
                application_no,
                "--option",
                "Approve",
                "--comment",
                "checked the file",
            )
            assert done.returncode == 0, done.stdout + done.stderr
            answered[application_no] = user
        with pytest.raises(AirflowApiError) as twice:
            api(air, answered[any_review.subject.split(":")[0].split()[-1]]).answer_review(
                any_review, "Reject"
            )
        assert twice.value.status == 409
        state = maker.follow("credit_decision", run_id, lambda *_: None, poll=2, timeout=240)
        dashboard = look_at_the_dashboard_inside_airflow(air)

    assert harvest.returncode == 0, (harvest.stdout + harvest.stderr)[-3000:]
    assert "credit_harvest run" in harvest.stdout
    assert ": success" in harvest.stdout
    # every batch's tax wait was deferred to the triggerer and woken by its answer
    answers = set(re.findall(r"loanhub_sftp: (TAXR_\S+) arrived in /outbox", waits))
    assert len(answers) == 2, waits[-3000:]
    with pg_engine.connect() as conn:
        profiled = set(conn.execute(select(applicant_profile.c.application_no)).scalars())
        decided = {r.application_no: r for r in conn.execute(select(decision)).all()}
    assert profiled == set(numbers)
    assert state == "success"
    assert set(decided) == set(numbers)
    assert all(d.los_reference for d in decided.values())  # posted into the LOS
    for application_no, user in answered.items():
        assert (decided[application_no].decided_by, decided[application_no].outcome) == (
            user,
            "APPROVE",
        )
    # The task processes journaled their calls; the dashboard in Airflow shows them, and the
    # runs of the day from Airflow's own metadata DB.
    with pg_engine.connect() as conn:
        bureau_calls = conn.execute(
            text("SELECT count(*) FROM source_call WHERE system = 'bureau'")
        ).scalar_one()
        los_calls = conn.execute(
            text("SELECT count(*) FROM source_call WHERE system = 'los'")
        ).scalar_one()
    assert bureau_calls >= len(numbers)
    assert los_calls >= len(numbers)
    shown = re.search(
        r'data-system="bureau".*?data-field="calls">(\d+)<', dashboard["sources"], re.S
    )
    assert int(shown[1]) == bureau_calls
    harvest_row = re.search(
        r'data-dag="credit_harvest".*?data-state="success">(\d+)<', dashboard["overview"], re.S
    )
    assert int(harvest_row[1]) >= 1
