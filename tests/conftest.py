"""Shared fixtures: a fresh PostgreSQL database for the run, and embedded SQLite stores.

The PostgreSQL server is the one on 127.0.0.1:5432 (trust auth, user postgres); override with
LOANHUB_TEST_PG_ADMIN_URL. The database is created for this run and dropped after it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from bots.browser import Chromium
from bots.config import BrowserConfig
from loanhub.platform.db import make_engine, upgrade
from loanhub.platform.masking import known_names
from schemas.tables import metadata

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# One audit key for the run, in this process and every hub process it starts (a DAG test's
# tasks append, the test verifies); each test gets its own anchor directory (below), so that
# a store emptied between tests is not held to the previous test's anchors.
os.environ.setdefault("LOANHUB_AUDIT__KEY", "test-audit-key-" + "0" * 32)

PG_ADMIN_URL = os.environ.get(
    "LOANHUB_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


@contextmanager
def scratch_store(prefix: str) -> Iterator[str]:
    """URL of a PostgreSQL database made for the caller, migrated to head, dropped after."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url(name)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a database created for this test run (and dropped after it), migrated to head."""
    with scratch_store("loanhub_test") as url:
        yield url


def truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # a transaction an earlier test left open (a thread it started, a connection it
            # never returned) would hold TRUNCATE's lock for ever: end those first
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state LIKE 'idle in transaction%'"
                )
            )
            conn.execute(text("SET session_replication_role = replica"))  # audit trigger off
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(text("SET session_replication_role = origin"))
        else:
            for t in reversed(metadata.sorted_tables):
                conn.execute(t.delete())


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """The run's PostgreSQL store, emptied before each test."""
    engine = make_engine(pg_url)
    truncate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh embedded store in a temporary directory, migrated to head."""
    engine = make_engine(f"sqlite:///{tmp_path / 'loanhub.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["pg", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Both stores the hub supports: production's PostgreSQL and the embedded SQLite."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(autouse=True)
def _own_audit_anchors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOANHUB_AUDIT__ANCHOR_DIR", str(tmp_path / "audit-anchors"))


@pytest.fixture(autouse=True)
def _forget_known_names() -> Iterator[None]:
    yield
    known_names.clear()


# -- simulators ---------------------------------------------------------------------------------

FAST = {  # the catalogue's latencies are for demos; tests run the same code paths at full speed
    "bureau": {"*": {"latency": 0, "rate": 0.0}},
    "core": {"*": {"latency": 0, "rate": 0.0}},
    "sftp": {"*": {"rate": 0.0}},
    "tax": {"*": {"answer_delay": 0.05, "rate": 0.0, "fault": None}},
    "gateway": {"*": {"answer_delay": 0.05, "settle_delay": 0.05, "insufficient_funds_rate": 0.0}},
    "ss": {
        "*": {
            "latency": 0,
            "rate": 0.0,
            "notice_rate": 0.0,
            "idle_seconds": 300,
            "lock_after": 5,
            "variant": False,
        }
    },
    "los": {
        "*": {
            "latency": 0,
            "rate": 0.0,
            "gateway_504_rate": 0.0,
            "idle_seconds": 900,
            "lock_after": 5,
        }
    },
}


class SimAdmin:
    """The simulators' admin endpoint, as a test uses it."""

    def __init__(self, endpoints: dict) -> None:
        import requests

        self.url = endpoints["admin"]["url"]
        self.http = requests.Session()

    def controls(self, patch: dict) -> dict:
        r = self.http.patch(f"{self.url}/controls", json=patch, timeout=10)
        r.raise_for_status()
        return r.json()

    def journal(self, system: str | None = None, kind: str | None = None) -> list[dict]:
        params = {k: v for k, v in (("system", system), ("kind", kind)) if v}
        r = self.http.get(f"{self.url}/journal", params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def clear_journal(self) -> None:
        self.http.delete(f"{self.url}/journal", timeout=10).raise_for_status()

    def post(self, path: str, body: dict) -> dict:
        r = self.http.post(f"{self.url}{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulators' data directory (its ``endpoints.json`` is what ``LOANHUB_SIM_DIR`` names)."""
    return tmp_path_factory.mktemp("sim")


@pytest.fixture(scope="session")
def sim_endpoints(sim_dir: Path) -> Iterator[dict]:
    """The simulators, started once for the run as a real separate process (``up`` / ``down``)."""
    import json
    import subprocess
    import sys

    data_dir = sim_dir
    cmd = [sys.executable, "-m", "simulators"]
    subprocess.run([*cmd, "up", "--data-dir", str(data_dir)], check=True, timeout=60)
    endpoints = json.loads((data_dir / "endpoints.json").read_text())
    yield endpoints
    subprocess.run([*cmd, "down", "--data-dir", str(data_dir)], check=True, timeout=60)


@pytest.fixture
def sim(sim_endpoints: dict) -> SimAdmin:
    """Admin access with fast, fault-free controls, unlocked users and an empty journal."""
    admin = SimAdmin(sim_endpoints)
    admin.post("/controls/reset", {})  # drop what an earlier test set per operation
    admin.controls(FAST)
    admin.post("/unlock", {"system": "ss", "user": sim_endpoints["ss_portal"]["username"]})
    for user in (sim_endpoints["los"], sim_endpoints["los"]["checker"]):  # robot and checker
        admin.post("/unlock", {"system": "los", "user": user["username"]})
    admin.clear_journal()
    return admin


# -- browser: Playwright in the system Chromium ----------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright looks for its own browser build; use Debian's Chromium instead."""
    return {
        **browser_type_launch_args,
        "executable_path": str(BrowserConfig().executable_path),
        "args": BrowserConfig().launch_args(),
    }


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """The bots' browser, one per test module (a worker process has one). Module-scoped: the
    sync API allows one Playwright per thread, and pytest-playwright starts its own later."""
    with Chromium(BrowserConfig(action_timeout=5, navigation_timeout=10)) as browser:
        yield browser


@pytest.fixture(scope="session")
def sim_dataset(sim_endpoints: dict):
    """The simulators' world, regenerated here from the same seed and sizes."""
    from simulators.dataset import generate

    data = generate(sim_endpoints["seed"], sim_endpoints["persons"], sim_endpoints["enterprises"])
    assert data.digest() == sim_endpoints["dataset_sha256"]
    return data


# -- Airflow: a home with its own metadata DB ------------------------------------------------


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [BIN / "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    pools = home / "pools.json"
    pools.write_text(
        subprocess.run(
            [BIN / "loanhub", "airflow-pools"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    subprocess.run(
        [BIN / "airflow", "pools", "import", str(pools)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return env
