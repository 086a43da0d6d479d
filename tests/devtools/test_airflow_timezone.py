"""Airflow's default time zone in every stack the tools start is the bank's
(``LOANHUB_TIMEZONE``): the local cluster (``make up``, the distributed run) and the demo."""

from __future__ import annotations

import pytest

from devtools import demo
from devtools.cluster import LocalCluster
from loanhub.runtime.settings import HubSettings


def test_the_local_cluster_keeps_the_banks_zone(tmp_path, monkeypatch):
    monkeypatch.delenv("LOANHUB_TIMEZONE", raising=False)
    monkeypatch.delenv("AIRFLOW__CORE__DEFAULT_TIMEZONE", raising=False)
    cluster = LocalCluster(tmp_path / "a")
    assert cluster.env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Shanghai"
    london = LocalCluster(tmp_path / "b", extra_env={"LOANHUB_TIMEZONE": "Europe/London"})
    assert london.env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Europe/London"


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/London"])
def test_the_demo_runs_airflow_on_the_banks_zone(tmp_path, zone):
    env = demo._environment(HubSettings(data_dir=tmp_path, timezone=zone))
    assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == zone
