import json
from pathlib import Path

from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubConnectors


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
    with hub.extracts.session() as session:
        assert "LNREPAY.D261120" in session.listdir("/extracts")
    assert (tmp_path / "evidence" / "raw").is_dir()
