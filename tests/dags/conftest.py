"""The DAG tests share the Airflow home of ``tests/conftest.py`` (``airflow_env``): its own
metadata DB, the hub's pools, and the environment every ``airflow`` and ``dag.test()`` process
of the tests runs with."""

from __future__ import annotations

import sys
import zipfile
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


def simulator_secrets(endpoints: dict) -> dict[str, str]:
    """Every credential the simulators hand out (the checker's too), by a name for messages."""
    return {
        "bureau password": endpoints["bureau"]["password"],
        "core password": endpoints["core"]["password"],
        "portal password": endpoints["ss_portal"]["password"],
        "portal TOTP secret": endpoints["ss_portal"]["totp_secret"],
        "LOS robot password": endpoints["los"]["password"],
        "LOS checker password": endpoints["los"]["checker"]["password"],
        "SFTP private key": Path(endpoints["sftp"]["private_key"]).read_text().splitlines()[1],
    }


def credentials_in(root: Path, endpoints: dict) -> list[str]:
    """``path: what`` for each file under ``root`` (and each member of a zip there: the
    bots' Playwright traces) that holds one of the simulators' credentials."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        blobs = {str(path): path.read_bytes()}
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                blobs |= {f"{path}!{n}": archive.read(n) for n in archive.namelist()}
        for where, blob in blobs.items():
            found += [
                f"{where}: {what}"
                for what, secret in simulator_secrets(endpoints).items()
                if secret.encode() in blob
            ]
    return found
