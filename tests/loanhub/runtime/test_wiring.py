import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from loanhub.platform.ledger import WorkItemBusy
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors, build_ledger


def test_connectors_are_built_from_the_endpoints_file(
    sim, sim_endpoints, sim_dataset, pg_engine, tmp_path, monkeypatch
):
    sim_dir = Path(sim_endpoints["data_dir"])
    assert json.loads((sim_dir / "endpoints.json").read_text())["bureau"]["url"]
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOANHUB_SIM_DIR", str(sim_dir))
    hub = HubConnectors.build(HubSettings(), pg_engine)
    customer = sim_dataset.customers[1]
    answer = hub.core.customer(customer.id_number)
    assert answer.body.findtext(".//{*}customerNo") == customer.customer_no
    with hub.extracts.sftp.session() as session:
        assert "LNREPAY.D261120" in session.listdir("/extracts")
    assert (tmp_path / "evidence" / "raw").is_dir()


def test_the_sftp_caps_per_kind_come_from_the_hubs_settings(sim_endpoints, pg_engine, monkeypatch):
    monkeypatch.setenv("LOANHUB_SIM_DIR", sim_endpoints["data_dir"])
    monkeypatch.setenv("LOANHUB_SFTP_LIMITS__EXTRACT", "1000")
    monkeypatch.setenv("LOANHUB_SFTP_LIMITS__STATUS_REPORT", "2000")
    hub = HubConnectors.build(HubSettings(), pg_engine)
    assert hub.extracts.sftp.config.limits.extract == 1000
    assert hub.payments.sftp.config.limits.status_report == 2000
    assert hub.tax.sftp.config.limits.tax_answer == 64 << 20  # the default


def test_settings_configure_the_lease_and_each_ledger_is_its_own_owner(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_LEDGER__LEASE_SECONDS", "42")
    monkeypatch.setenv("LOANHUB_ACTOR", "night-batch")
    first = build_ledger(HubSettings(), engine)
    second = build_ledger(HubSettings(), engine)
    assert first.lease == timedelta(seconds=42)
    assert first.actor == "night-batch"
    assert first.owner != second.owner  # two threads of one process do not share a claim
    first.claim("bureau_query", "APP-1:subject:01", {"reason": "01"})
    with pytest.raises(WorkItemBusy):
        second.claim("bureau_query", "APP-1:subject:01", {"reason": "01"})
