"""The simulators' endpoints as Airflow Connections, given as ``AIRFLOW_CONN_*`` (JSON form)."""

from __future__ import annotations

import json
import os

import pytest


def connections_of(endpoints: dict) -> dict[str, dict]:
    """conn id -> the connection's JSON (``airflow connections import`` form), one per system;
    the LOS gets its first user, the robot, alone."""
    sftp, los, robot = endpoints["sftp"], endpoints["los"], endpoints["los"]["users"][0]

    def soap(system: str) -> dict:
        e = endpoints[system]
        return {
            "conn_type": "loanhub_soap",
            "host": e["url"],
            "login": e["username"],
            "password": e["password"],
            "extra": {"wsdl": e["wsdl"], "operation_timeout": 30},
        }

    return {
        "loanhub_bureau": soap("bureau"),
        "loanhub_core": soap("core"),
        "loanhub_sftp": {
            "conn_type": "loanhub_sftp",
            "host": sftp["host"],
            "port": sftp["port"],
            "login": sftp["username"],
            "extra": {"private_key_path": sftp["private_key"], "host_key": sftp["host_key"]},
        },
        "loanhub_ss_portal": {
            "conn_type": "loanhub_portal",
            "host": endpoints["ss_portal"]["url"],
            "login": endpoints["ss_portal"]["username"],
            "password": endpoints["ss_portal"]["password"],
            "extra": {"totp_secret": endpoints["ss_portal"]["totp_secret"]},
        },
        "loanhub_los": {
            "conn_type": "loanhub_los",
            "host": los["url"],
            "login": robot["username"],
            "password": robot["password"],
            "extra": {"approval_limit": robot["limit"]},
        },
        "loanhub_smtp": {
            "conn_type": "smtp",
            "host": endpoints["smtp"]["host"],
            "port": endpoints["smtp"]["port"],
            "extra": {"from_email": "loanhub@bank.local"},
        },
    }


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
