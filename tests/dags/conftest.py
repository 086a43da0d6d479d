"""The DAG tests share the Airflow home of ``tests/conftest.py`` (``airflow_env``): its own
metadata DB, the hub's pools, and the environment every ``airflow`` and ``dag.test()`` process
of the tests runs with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devtools.connections import airflow_environment

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def airflow_env(airflow_env: dict[str, str], sim_dir: Path, sim_endpoints: dict) -> dict[str, str]:
    """The shared home's environment plus the simulators' connections (``AIRFLOW_CONN_*``
    from the ``airflow.env`` that ``sim up`` wrote): a DAG's tasks find their credentials in
    Airflow, as in production."""
    return {**airflow_env, **airflow_environment(sim_dir)}
