"""``credit_harvest`` on a real distributed Airflow: API server, scheduler, DAG processor,
triggerer and Celery workers on loopback, PostgreSQL metadata and Redis broker
(airflow-notes.md), the simulators as the legacy systems, triggered through the REST API.

It reports what the issue asks to check rather than judging it: the task states, which worker
ran each task (``[core] hostname_callable`` names the worker), the peak concurrency each
legacy system journaled against its pool, the bureau queries per application and reason, and
whether every process it started is gone afterwards. Optionally it SIGKILLs one worker while
it runs bureau tasks, as a failing machine would.

Run: ``python -m devtools.distributed [--applications 100] [--workers 2] [--kill-one]``
(``make distributed``); the test and the ``celery_two_workers_vs_one`` benchmark call ``run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from devtools.cluster import LocalCluster, free_port
from devtools.connections import airflow_environment
from devtools.scratch import scratch_database, simulators_running, take_applications

POOLS = {"bureau": 4, "core": 4, "tax": 1, "social_security": 4, "los": 1, "gateway": 1}
# the HTTP systems a harvest calls, by the name their simulator journals, and their pool
WATCHED = {"bureau": "bureau", "core": "core", "ss": "social_security"}
CONTROLS = {  # latencies that make the run last long enough to lose a worker in the middle
    "bureau": {"*": {"latency": [0.4, 0.8], "rate": 0.0}},
    "core": {"*": {"latency": [0.05, 0.2], "rate": 0.0}},
    "ss": {"*": {"latency": [0.1, 0.3]}},
    "tax": {"*": {"answer_delay": 3.0}},
}


@dataclass
class DistributedRun:
    applications: int
    workers: int
    state: str = ""
    wall: float = 0.0
    task_states: Counter[str] = field(default_factory=Counter)
    tasks_by_worker: Counter[str] = field(default_factory=Counter)
    killed: str | None = None
    left_by_killed: int = 0
    tries: Counter[int] = field(default_factory=Counter)  # task instances by try number
    bureau_queries: Counter[tuple[str, str]] = field(default_factory=Counter)
    peaks: dict[str, int] = field(default_factory=dict)  # journaled, per watched system
    pools: dict[str, int] = field(default_factory=lambda: dict(POOLS))
    started: list[int] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)
    cpu_busy: float = 0.0  # the machine's CPU use over the run, 0..1

    def summary(self) -> dict[str, Any]:
        # (dataclasses.asdict would rebuild each Counter from its items, counting the pairs)
        data = {
            f.name: dict(value) if isinstance(value := getattr(self, f.name), dict) else value
            for f in dataclasses.fields(self)
        }
        data["bureau_queries"] = {
            "applications_and_reasons": len(self.bureau_queries),
            "most_for_one": max(self.bureau_queries.values(), default=0),
        }
        data["started"] = len(self.started)
        return data


def _journal(admin: str, system: str, kind: str) -> list[dict[str, Any]]:
    return requests.get(
        f"{admin}/journal", params={"system": system, "kind": kind}, timeout=60
    ).json()


def run(
    tmp: Path,
    *,
    applications: int = 100,
    workers: int = 2,
    kill_one: bool = False,
    batch_size: int = 10,
    worker_concurrency: int = 4,
    timeout: float = 1200,
) -> DistributedRun:
    """One harvest of ``applications`` on ``workers`` Celery workers; see the module doc."""
    from connectors.airflow_api import AirflowApi
    from connectors.config import AirflowApiConfig

    result = DistributedRun(applications, workers)
    persons = max(200, applications * 3)
    with (
        simulators_running(tmp / "sim", persons=persons) as endpoints,
        scratch_database() as hub_url,
        scratch_database() as metadata_url,
    ):
        admin = endpoints["admin"]["url"]
        requests.patch(f"{admin}/controls", json=CONTROLS, timeout=10).raise_for_status()
        numbers = take_applications(endpoints, hub_url, applications)
        requests.delete(f"{admin}/journal", timeout=10).raise_for_status()
        hub = {
            "LOANHUB_DATABASE_URL": hub_url,
            "LOANHUB_SIM_DIR": str(tmp / "sim"),
            "LOANHUB_DATA_DIR": str(tmp / "var"),
            "LOANHUB_ORCHESTRATION__POOLS": json.dumps(POOLS),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "32",
            # a lost worker's tasks are noticed after this (300 s by default)
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            **airflow_environment(tmp / "sim"),  # the legacy systems' connections
        }
        seen: dict[int, psutil.Process] = {}  # by PID, every process the cluster started
        cluster = LocalCluster(
            tmp / "airflow",
            port=free_port(),
            database=metadata_url.rsplit("/", 1)[1],
            parallelism=32,
            extra_env=hub,
            workers=workers,
            worker_concurrency=worker_concurrency,
        )
        try:
            cluster.start()
            seen.update(_tree(cluster))
            airflow_admin = AirflowApiConfig(url=cluster.url, user="admin", password="admin")  # noqa: S106
            api = AirflowApi(airflow_admin)
            began = time.monotonic()
            psutil.cpu_percent(None)  # starts the measurement
            run_id = api.trigger(
                "credit_harvest",
                {"application_nos": numbers, "batch_size": batch_size},
            )
            if kill_one:
                victim = _wait_for_bureau_work(api, run_id, admin, timeout)
                seen.update(_tree(cluster))
                result.left_by_killed = cluster.kill_worker(victim)
                result.killed = victim
            result.state = api.follow(
                "credit_harvest", run_id, lambda *_: None, poll=3, timeout=timeout
            )
            result.wall = time.monotonic() - began
            result.cpu_busy = psutil.cpu_percent(None) / 100
            for ti in api.task_instances("credit_harvest", run_id):
                result.task_states[ti["state"]] += 1
                result.tasks_by_worker[ti.get("hostname") or "?"] += 1
                result.tries[ti.get("try_number") or 0] += 1
            seen.update(_tree(cluster))
        finally:
            cluster.stop()
        time.sleep(1)
        result.started = sorted(seen)
        result.survivors = [pid for pid, p in seen.items() if _alive(p)]
        for e in _journal(admin, "bureau", "query"):
            result.bureau_queries[(e["subject"], e["reason"])] += 1
        for system in WATCHED:
            values = [e["value"] for e in _journal(admin, system, "concurrency")]
            result.peaks[system] = max(values, default=0)
    return result


def _tree(cluster: LocalCluster) -> dict[int, psutil.Process]:
    """Every process the cluster runs now (services, workers, their children), by PID."""
    found: dict[int, psutil.Process] = {}
    for proc in cluster.procs:
        try:
            root = psutil.Process(proc.pid)
            found |= {p.pid: p for p in [root, *root.children(recursive=True)]}
        except psutil.NoSuchProcess:
            continue
    return found


def _alive(process: psutil.Process) -> bool:
    """Still running: the same process (``is_running`` compares its start time, so a PID the
    system reused for another process does not count) and not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_bureau_work(api: Any, run_id: str, admin: str, timeout: float) -> str:
    """A worker that has finished a task and is running a bureau task while the bureau is
    answering: the one to kill mid-run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = api.task_instances("credit_harvest", run_id)
        done = {t.get("hostname") for t in tasks if t["state"] == "success"}
        running = [
            t["hostname"]
            for t in tasks
            if t["state"] == "running" and t["task_id"] == "batch.bureau" and t.get("hostname")
        ]
        ready = [h for h in running if h in done]
        if ready and len(_journal(admin, "bureau", "query")) >= 8:
            return ready[0]
        time.sleep(1)
    raise TimeoutError("no bureau task ran on a worker")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-one", action="store_true", help="SIGKILL a worker mid-run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(
            Path(tmp), applications=args.applications, workers=args.workers, kill_one=args.kill_one
        )
    print(json.dumps(result.summary(), indent=1, default=str))
    ok = (
        result.state == "success"
        and set(result.task_states) == {"success"}
        and not result.survivors
        and all(result.peaks[s] <= POOLS[p] for s, p in WATCHED.items())
        and set(result.bureau_queries.values()) == {1}
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
