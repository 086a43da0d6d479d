"""The runtime's endpoints from Airflow Connections inside a task: the seam the DAG side
installs (``use_endpoints``), the file only when no connection is defined (development)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from loanhub.runtime.settings import HubSettings, use_endpoints
from loanhub_provider import connections
from loanhub_provider.connections import connections_or_file


@pytest.fixture
def installed() -> Iterator[None]:
    use_endpoints(connections_or_file)
    yield
    use_endpoints(None)


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_LOANHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(connections, "_fallback_logged", False)


def test_with_the_source_installed_the_runtime_reads_connections_not_the_file(
    conn_env: dict, installed: None, sim_endpoints: dict, tmp_path: Path
) -> None:
    settings = HubSettings(endpoints_file=tmp_path / "absent.json")  # no file to fall back on
    endpoints = settings.legacy_endpoints()
    assert endpoints.bureau.password.get_secret_value() == sim_endpoints["bureau"]["password"]
    assert endpoints.los.username == sim_endpoints["los"]["username"]
    use_endpoints(None)
    with pytest.raises(FileNotFoundError):
        settings.legacy_endpoints()


def test_the_endpoints_file_is_read_when_no_connection_is_defined_and_said_once(
    no_connections: None, installed: None, sim_dir: Path, sim_endpoints: dict, caplog
) -> None:
    settings = HubSettings(sim_dir=sim_dir)
    with caplog.at_level(logging.WARNING, logger=connections.__name__):
        first = settings.legacy_endpoints()
        settings.legacy_endpoints()
    assert first.bureau.url == sim_endpoints["bureau"]["url"]
    assert first.los.username == sim_endpoints["los"]["username"]  # the file's robot
    said = [r for r in caplog.records if "endpoints file" in r.getMessage()]
    assert len(said) == 1


def test_some_connections_defined_and_some_not_is_refused_not_mixed(
    no_connections: None,
    installed: None,
    sim_connections: dict,
    sim_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from airflow.sdk.exceptions import AirflowNotFoundException

    monkeypatch.setenv("AIRFLOW_CONN_LOANHUB_BUREAU", json.dumps(sim_connections["loanhub_bureau"]))
    with pytest.raises(AirflowNotFoundException, match="loanhub_core"):
        HubSettings(sim_dir=sim_dir).legacy_endpoints()


def test_every_loanhub_task_installs_the_connections_before_it_runs() -> None:
    """The DAG side's one place: ``default_args`` gives every task the callback."""
    from dags.support.connections import use_airflow_connections
    from dags.support.defaults import default_args

    args = default_args(1, timedelta(seconds=1))
    assert args["on_execute_callback"] is use_airflow_connections
    try:
        use_airflow_connections({})
        from loanhub.runtime import settings

        assert settings._endpoints_source == [connections_or_file]
    finally:
        use_endpoints(None)


PROBE_DAG = """
from datetime import timedelta
from airflow.sdk import dag, task
from dags.support.defaults import START, default_args

@dag(dag_id="probe_endpoints", schedule=None, start_date=START, catchup=False,
     default_args=default_args(0, timedelta(seconds=1)))
def probe_endpoints():
    @task
    def endpoints() -> str:
        from loanhub.runtime.settings import HubSettings
        url = HubSettings().legacy_endpoints().bureau.url  # the settings' file does not exist
        print("BUREAU", url)
        return url
    endpoints()

DAG = probe_endpoints()
"""
RUN = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("probe_endpoints", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print("STATE", module.DAG.test().state)
"""


def test_a_task_of_a_loanhub_dag_gets_its_endpoints_from_the_connections(
    airflow_env: dict, sim_connections: dict, sim_endpoints: dict, tmp_path: Path
) -> None:
    """In a real task process (``dag.test()``): the callback of ``default_args`` installs the
    source before the callable runs; the endpoints file named in the settings does not exist."""
    import subprocess
    import sys

    from tests.loanhub_provider.conftest import env_of

    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "probe_endpoints.py").write_text(PROBE_DAG)
    env = {k: v for k, v in airflow_env.items() if not k.startswith(("AIRFLOW_CONN_", "LOANHUB_"))}
    env |= env_of(sim_connections) | {
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "LOANHUB_ENDPOINTS_FILE": str(tmp_path / "absent.json"),
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(folder / "probe_endpoints.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout + done.stderr
    assert "STATE success" in done.stdout, out[-4000:]
    assert f"BUREAU {sim_endpoints['bureau']['url']}" in out
