"""The simulators' endpoints as Airflow Connections, given as ``AIRFLOW_CONN_*`` (JSON form)."""

from __future__ import annotations

import json
import os

import pytest


def connections_of(endpoints: dict) -> dict[str, dict]:
    """conn id -> the connection's JSON (``airflow connections import`` form), one per system,
    as ``loanhub sim up`` writes them (the LOS: the robot alone)."""
    from simulators.connections import connections

    return connections(endpoints)


def env_of(connections: dict[str, dict]) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` variables, JSON form (extra as a JSON object)."""
    return {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(c) for cid, c in connections.items()}


@pytest.fixture(scope="session")
def sim_connections(sim_endpoints: dict) -> dict[str, dict]:
    return connections_of(sim_endpoints)


@pytest.fixture
def conn_env(sim_connections: dict[str, dict], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The simulators' connections in this process's environment, for the test's duration."""
    for name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_LOANHUB_")]:
        monkeypatch.delenv(name)
    env = env_of(sim_connections)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
