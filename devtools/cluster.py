"""Airflow's own services on one machine, for `make up`, the REST tests and the orchestration
benchmark: API server, scheduler, DAG processor and triggerer, LocalExecutor, PostgreSQL as the
metadata database, the hub's pools, and users: ``admin``, ``credit_ops`` (who triggers), and
every approver the rule set names (``credit_officer``, ``senior_officer``, ... each with its name
as password: a local cluster only), so that referrals can be answered by hand.

Every process gets the same environment (no generated airflow.cfg secrets), runs in its own
process group, and is torn down with its whole tree (task processes survive their parent
otherwise; airflow-notes.md).

Run: ``python -m devtools.cluster [--port 8080]`` until Ctrl-C (``make up`` does, with the
simulators).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import psutil
import psycopg
import requests

from devtools.sim_connections import sim_connection_env
from schemas.types import DEFAULT_BANK_TIMEZONE

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


def _users() -> dict[str, tuple[str, str]]:
    """user -> (role, password): the approvers are the ones the HITL reviews are assigned to."""
    from loanhub.flows.rules import RuleSet

    approvers = sorted({name for tier in RuleSet.load().spec.tiers for name in tier.approvers})
    return {
        "admin": ("admin", "admin"),
        "credit_ops": ("op", "credit_ops"),
        **{name: ("op", name) for name in approvers},
    }


def worker_hostname() -> str:
    """``[core] hostname_callable`` of a local cluster: a Celery worker's name (so each task
    instance records which worker ran it, though all run on this machine), else the host's."""
    return os.environ.get("LOANHUB_WORKER_NAME") or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    def __init__(
        self,
        home: Path,
        *,
        port: int = 8080,
        database: str = "loanhub_airflow",
        admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres",
        parallelism: int = 8,
        extra_env: dict[str, str] | None = None,
        workers: int = 0,
        worker_concurrency: int = 4,
        broker_url: str = "redis://127.0.0.1:6379/7",
    ) -> None:
        """``workers=0``: LocalExecutor; more: CeleryExecutor with that many workers, each with
        ``worker_concurrency`` slots, on ``broker_url`` (emptied at start)."""
        self.home = home
        self.workers = workers
        self.broker_url = broker_url
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.database = database
        self.admin_url = admin_url
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        home.mkdir(parents=True, exist_ok=True)
        passwords = home / "simple_auth_passwords.json"
        users = _users()
        passwords.write_text(json.dumps({u: password for u, (_, password) in users.items()}))
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{base}/{database}",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API_AUTH__JWT_SECRET": "loanhub-local-cluster-jwt-secret-0123456789",
            "AIRFLOW__API__SECRET_KEY": "loanhub-local-cluster-secret-key",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{u}:{role}" for u, (role, _) in users.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONPATH": str(ROOT),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devtools.cluster.worker_hostname",
            **(extra_env or {}),
        }
        # Airflow's default zone is the bank's (LOANHUB_TIMEZONE): naive times, bare crons
        self.env.setdefault(
            "AIRFLOW__CORE__DEFAULT_TIMEZONE",
            self.env.get("LOANHUB_TIMEZONE") or DEFAULT_BANK_TIMEZONE,
        )
        self.env |= sim_connection_env(self.env)  # the triggerer's waits read loanhub_sftp
        if workers:
            self.env |= {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{base}/{database}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
            }
        self.procs: list[subprocess.Popen] = []
        self.worker_procs: dict[str, subprocess.Popen] = {}
        self.orphans: list[psutil.Process] = []  # what a killed worker left running

    def _airflow(self, *args: str, timeout: int = 600) -> str:
        run = subprocess.run(
            [BIN / "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if run.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}: {run.stderr[-2000:]}")
        return run.stdout

    def start(self, timeout: float = 120) -> LocalCluster:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{self.database}"')
        self._airflow("db", "migrate")
        pools = self.home / "loanhub-pools.json"
        pools.write_text(
            subprocess.run(
                [BIN / "loanhub", "airflow-pools"],
                env=self.env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        self._airflow("pools", "import", str(pools))
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        if self.workers:
            import redis

            redis.Redis.from_url(self.broker_url).flushdb()  # no task of an earlier cluster
        for service in SERVICES:
            self.procs.append(self._spawn([service], self.env, logs / f"{service}.out"))
        for n in range(1, self.workers + 1):
            name = f"worker{n}"
            env = {
                **self.env,
                "LOANHUB_WORKER_NAME": name,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
            proc = self._spawn(
                ["celery", "worker", "--celery-hostname", f"{name}@%h"], env, logs / f"{name}.out"
            )
            self.procs.append(proc)
            self.worker_procs[name] = proc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=2)
                if health.ok and health.json()["scheduler"]["status"] == "healthy":
                    return self
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(1)
        self.stop()
        raise TimeoutError(f"Airflow did not become healthy in {timeout} s; see {logs}")

    def _spawn(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [BIN / "airflow", *args],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_worker(self, name: str) -> int:
        """SIGKILL one Celery worker's main process, as a machine failing would. Its task
        processes live on (airflow-notes.md): they are remembered here so that ``stop`` ends
        them too. Returns how many there were."""
        proc = self.worker_procs.pop(name)
        left = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.procs.remove(proc)
        self.orphans += left
        return len(left)

    def stop(self) -> None:
        """Every service's whole tree at once: terminated, then killed after 15 s."""
        tree: list[psutil.Process] = []
        for orphan in self.orphans:
            with contextlib.suppress(psutil.NoSuchProcess):
                tree += [orphan, *orphan.children(True)]
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                tree += [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)]
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.terminate()
        _, alive = psutil.wait_procs(tree, timeout=15)
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        self.procs.clear()
        self.worker_procs.clear()
        self.orphans.clear()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--intake",
        type=int,
        default=0,
        help="take this many applications waiting in the simulated LOS into the hub's store",
    )
    args = parser.parse_args()
    # blocked, so that sigwait below receives them (an unblocked Ctrl-C would go to Python's
    # handler, which never runs while the main thread waits in sigwait)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    if args.intake:
        from devtools.los_list import take_waiting
        from loanhub.platform.db import make_engine, upgrade
        from loanhub.runtime.settings import HubSettings

        settings = HubSettings()
        engine = make_engine(settings.store_url)
        upgrade(engine)
        numbers, intake = take_waiting(settings, engine, args.intake)
        print(
            f"store {settings.store_url}: {len(numbers)} applications waiting "
            f"({intake.loaded} new); trigger credit_harvest with an empty list to harvest them",
            flush=True,
        )
    from devtools.connections import airflow_environment
    from loanhub.runtime.settings import HubSettings

    home = Path(os.environ.get("AIRFLOW_HOME", ROOT / "airflow_home")) / "cluster"
    # the legacy systems' connections, as `loanhub sim up` wrote them (AIRFLOW_CONN_*)
    connections = airflow_environment(HubSettings().simulators_dir)
    cluster = LocalCluster(home, port=args.port, extra_env=connections).start()
    print(
        f"Airflow UI and API: {cluster.url} (users admin/admin, credit_ops/credit_ops, and the "
        "approvers, each with its name as password: credit_officer/credit_officer, ...); "
        f"the monitoring dashboard: {cluster.url}/loanhub/ (signed in as in Airflow; "
        "credit_ops and admin may acknowledge); Ctrl-C stops it",
        flush=True,
    )
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
