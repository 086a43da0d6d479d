"""The simulators' credentials reach the hub through Airflow only: ``sim up`` writes them as
Airflow Connections (an ``airflow connections import`` file and an ``AIRFLOW_CONN_*`` env
file), and the real ``airflow`` command reads them back from the environment, from its
metadata DB after an import, and from a secrets backend configured as a bank configures one.
The LOS's checker (a person) is in none of them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.connections import AIRFLOW_ENV, CONNECTIONS, airflow_environment

BIN = Path(sys.executable).parent
CONN_IDS = {
    "loanhub_bureau",
    "loanhub_core",
    "loanhub_sftp",
    "loanhub_ss_portal",
    "loanhub_los",
    "loanhub_smtp",
}


def without_connections(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("AIRFLOW_CONN_")}


def airflow_get(env: dict[str, str], conn_id: str) -> dict:
    """``airflow connections get <id> -o json`` in its own process, as an engineer runs it."""
    run = subprocess.run(
        [BIN / "airflow", "connections", "get", conn_id, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-2000:]
    (conn,) = json.loads(run.stdout[run.stdout.index("[") :])
    return conn


@pytest.fixture
def scratch_home(tmp_path: Path) -> dict[str, str]:
    """A fresh Airflow home with no connections of its own and none in the environment."""
    return {
        **without_connections(dict(os.environ)),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def test_sim_up_writes_each_system_as_a_connection_and_the_checker_in_none(
    sim_dir: Path, sim_endpoints: dict
):
    documents = json.loads((sim_dir / CONNECTIONS).read_text())
    assert set(documents) == CONN_IDS
    variables = airflow_environment(sim_dir)
    assert {k: json.loads(v) for k, v in variables.items()} == {
        f"AIRFLOW_CONN_{c.upper()}": d for c, d in documents.items()
    }  # one fact, two forms
    for name in (CONNECTIONS, AIRFLOW_ENV):
        assert stat.S_IMODE((sim_dir / name).stat().st_mode) == 0o600  # credentials: owner only
        text = (sim_dir / name).read_text()
        checker = sim_endpoints["los"]["checker"]
        assert checker["username"] not in text
        assert checker["password"] not in text
    assert documents["loanhub_los"]["login"] == sim_endpoints["los"]["username"]  # the robot


def test_airflow_reads_the_connections_from_the_environment_file(
    sim_dir: Path, sim_endpoints: dict, scratch_home: dict[str, str]
):
    env = {**scratch_home, **airflow_environment(sim_dir)}
    bureau = airflow_get(env, "loanhub_bureau")
    assert bureau["conn_type"] == "loanhub_soap"
    assert bureau["host"] == sim_endpoints["bureau"]["url"]
    assert (bureau["login"], bureau["password"]) == (
        sim_endpoints["bureau"]["username"],
        sim_endpoints["bureau"]["password"],
    )
    assert bureau["extra_dejson"]["wsdl"] == sim_endpoints["bureau"]["wsdl"]
    los = airflow_get(env, "loanhub_los")
    assert los["login"] == sim_endpoints["los"]["username"]
    assert los["extra_dejson"] == {"approval_limit": "500000.00"}
    smtp = airflow_get(env, "loanhub_smtp")
    assert (smtp["conn_type"], int(smtp["port"])) == ("smtp", sim_endpoints["smtp"]["port"])


def test_airflow_connections_import_stores_them_in_the_metadata_db(
    sim_dir: Path, sim_endpoints: dict, airflow_env: dict[str, str]
):
    env = without_connections(airflow_env)  # a migrated scratch home: only its DB answers
    run = subprocess.run(
        [BIN / "airflow", "connections", "import", "--overwrite", str(sim_dir / CONNECTIONS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for conn_id in CONN_IDS:
        assert f"Imported connection {conn_id}" in run.stdout
    portal = airflow_get(env, "loanhub_ss_portal")
    assert portal["conn_type"] == "loanhub_portal"
    assert portal["password"] == sim_endpoints["ss_portal"]["password"]
    assert portal["extra_dejson"]["totp_secret"] == sim_endpoints["ss_portal"]["totp_secret"]
    assert portal["id"] is not None  # a row of the metadata DB, not an environment variable


def test_a_banks_secrets_backend_resolves_them(
    sim_dir: Path, sim_endpoints: dict, scratch_home: dict[str, str]
):
    """Airflow's local filesystem backend pointed at the file, as a bank points the Vault
    backend at its store (docker-compose.yml): no metadata DB, no environment variable."""
    env = {
        **scratch_home,
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
            {"connections_file_path": str(sim_dir / CONNECTIONS)}
        ),
    }
    sftp = airflow_get(env, "loanhub_sftp")
    assert sftp["conn_type"] == "loanhub_sftp"
    assert (sftp["host"], int(sftp["port"])) == (
        sim_endpoints["sftp"]["host"],
        sim_endpoints["sftp"]["port"],
    )
    assert sftp["login"] == sim_endpoints["sftp"]["username"]
    assert sftp["extra_dejson"]["host_key"] == sim_endpoints["sftp"]["host_key"]  # pinned
    assert Path(sftp["extra_dejson"]["private_key_path"]).is_file()
