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
    assert [u.username for u in endpoints.los.users] == [
        sim_endpoints["los"]["users"][0]["username"]
    ]
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
    assert len(first.los.users) == len(sim_endpoints["los"]["users"])  # the file's, both users
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
