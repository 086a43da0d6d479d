"""Every DAG runs on the bank's clock (``LOANHUB_TIMEZONE``), and every trigger form says
truthfully what it requires. The DAGs are loaded by Airflow's DagBag in a process of their own
(the environment chosen per test), their timetables asked as the scheduler asks them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import DataInterval, TimeRestriction

after = pendulum.parse("2026-03-04T18:00:00Z")  # 02:00 on 5 March in Shanghai
bag = DagBag(dag_folder=%(folder)r)

def form(params):
    return {
        key: {
            "type": params.get_param(key).schema.get("type"),
            "description": params.get_param(key).description or "",
            "title": params.get_param(key).schema.get("title", ""),
            "default": params.get_param(key).value,
        }
        for key in params
    }

def empty_ok(params, key):
    try:
        params.get_param(key).resolve(None)
        return True
    except Exception:
        return False

out = {"errors": {k: str(v)[:300] for k, v in bag.import_errors.items()}, "dags": {}}
for dag in bag.dags.values():
    table = coerce_to_core_timetable(dag.timetable)
    inner = getattr(table, "timetable", table)
    info = table.next_dagrun_info(
        last_automated_data_interval=DataInterval(after, after),
        restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
    )
    out["dags"][dag.dag_id] = {
        "start_zone": dag.timezone.name,
        "zone": str(getattr(inner, "_timezone", "")) or None,
        "next": info.run_after.isoformat() if info else None,
        "params": form(dag.params),
        "empty_ok": {k: empty_ok(dag.params, k) for k in dag.params},
        "task_params": {t.task_id: form(t.params) for t in dag.tasks if t.params},
    }
print(json.dumps(out))
"""


def load(airflow_env: dict[str, str], zone: str | None) -> dict[str, Any]:
    env = {k: v for k, v in airflow_env.items() if k != "LOANHUB_TIMEZONE"}
    if zone is not None:
        env["LOANHUB_TIMEZONE"] = zone
    run = subprocess.run(
        [sys.executable, "-c", PROBE % {"folder": str(ROOT / "dags")}],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    return report["dags"]


def after(dags: dict[str, Any], dag_id: str) -> datetime:
    """The DAG's next run after 2026-03-04T18:00Z, as the scheduler computes it."""
    return datetime.fromisoformat(dags[dag_id]["next"])


def shanghai(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def bank_dags(airflow_env) -> dict[str, Any]:
    return load(airflow_env, None)  # the default: the bank is in Shanghai


def test_every_schedule_runs_on_the_banks_clock(bank_dags):
    scheduled = {d: info for d, info in bank_dags.items() if info["next"] is not None}
    assert set(scheduled) >= {
        "repayment_sync",
        "post_loan_monitoring",
        "loan_disbursement",
        "warning_notify",
    }
    for dag_id, info in bank_dags.items():
        assert info["start_zone"] == "Asia/Shanghai", dag_id
    for dag_id, info in scheduled.items():
        assert info["zone"] == "Asia/Shanghai", dag_id
    # 18:00 UTC on the 4th is 02:00 on the 5th in Shanghai: the night's run is half an hour on
    # (in UTC it would be 02:30 UTC = 10:30 Shanghai)
    assert after(bank_dags, "repayment_sync") == shanghai("2026-03-05T02:30")
    assert after(bank_dags, "post_loan_monitoring") == shanghai("2026-03-09T03:00")  # Monday
    assert after(bank_dags, "loan_disbursement") == shanghai("2026-03-05T02:15")


def test_the_banks_zone_is_the_one_the_environment_names(airflow_env):
    dags = load(airflow_env, "Europe/London")
    assert dags["repayment_sync"]["zone"] == "Europe/London"
    assert after(dags, "repayment_sync") == datetime(2026, 3, 5, 2, 30, tzinfo=UTC)  # GMT then


def _required(param: dict[str, Any]) -> bool:
    """As Airflow's trigger form decides it (airflow/ui: a field is required when its schema
    has a type and the type does not allow null)."""
    kind = param["type"]
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def test_a_field_the_form_says_may_be_left_empty_is_not_required(bank_dags):
    forms = [
        (dag_id, key, param)
        for dag_id, info in bank_dags.items()
        for params in (info["params"], *info["task_params"].values())
        for key, param in params.items()
    ]
    assert forms
    for dag_id, key, param in forms:
        says = f"{param['title']} {param['description']}".lower()
        if any(w in says for w in ("optional", "leave empty", "default:")):
            assert not _required(param), (dag_id, key, param)


def test_credit_harvest_and_decision_accept_an_empty_trigger(bank_dags):
    for dag_id in ("credit_harvest", "credit_decision"):
        assert bank_dags[dag_id]["empty_ok"]["application_nos"], dag_id
        assert not _required(bank_dags[dag_id]["params"]["application_nos"]), dag_id
    assert bank_dags["repayment_sync"]["empty_ok"]["business_date"]


def test_every_required_field_comes_filled_with_a_value_it_accepts(bank_dags):
    for dag_id, info in bank_dags.items():
        for key, param in info["params"].items():
            if _required(param):
                assert param["default"] is not None, (dag_id, key)
