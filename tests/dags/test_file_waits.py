"""The nightly extract's wait, deferred: the operator loads the extract if it is there, else
defers to ``SftpFileTrigger`` (no worker slot while waiting), is woken when the core renames the
file into place, loads it in the worker, and gives up once the whole wait's deadline passed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from dags.support.file_waits import ExtractLoadOperator
from devtools.sim_connections import sftp_connection_env
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.tasks import Hub
from tests.dags.test_tax_wait import first_event

NIGHT = date(2026, 10, 3)  # a night no other test asks the core to write


@pytest.fixture
def hub(monkeypatch, sim, sim_dir, sim_endpoints, pg_url, tmp_path) -> Hub:
    for name, value in sftp_connection_env(sim_endpoints).items():
        monkeypatch.setenv(name, value)
    settings = HubSettings(database_url=pg_url, sim_dir=sim_dir, data_dir=tmp_path)
    monkeypatch.setattr(Hub, "_current", Hub(settings))
    return Hub.here()


def test_the_extract_wait_defers_until_the_file_is_there_then_loads_it_in_the_worker(hub, sim):
    task = ExtractLoadOperator(
        task_id="extract_loaded",
        business_date=lambda: NIGHT,
        wait=timedelta(hours=6),
        poke_seconds=0.2,
    )
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    assert deferred.value.method_name == "resume"
    assert timedelta(hours=5, minutes=59) < deferred.value.timeout <= timedelta(hours=6)
    trigger = deferred.value.trigger
    assert (trigger.folder, trigger.pattern, trigger.require_ok) == (
        "/extracts",
        r"LNREPAY\.D261003",
        False,
    )
    assert first_event(trigger, 1.0) is None  # not there yet: nothing wakes the task
    sim.post("/extract", {"business_date": NIGHT.isoformat()})
    event = first_event(trigger, 10)
    assert event is not None
    loaded = task.resume({}, event, **deferred.value.kwargs)
    assert loaded["file"] == "LNREPAY.D261003"
    assert loaded["state"] in {"LOADED", "QUARANTINED"}


def test_the_whole_wait_is_bounded_by_the_first_looks_deadline(hub):
    task = ExtractLoadOperator(
        task_id="extract_loaded", business_date=lambda: date(2026, 10, 4), wait=timedelta(hours=6)
    )
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    with pytest.raises(AirflowSensorTimeout, match="still waiting"):
        task.resume({}, {"folder": "/extracts", "files": {}}, deadline=past)
    with pytest.raises(TaskDeferred) as again:  # an earlier deadline left: wait what is left
        task.resume({}, None, deadline=(datetime.now(UTC) + timedelta(minutes=5)).isoformat())
    assert again.value.timeout <= timedelta(minutes=5)
