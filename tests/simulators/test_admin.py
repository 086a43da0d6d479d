from pathlib import Path

import pytest
import requests


def test_controls_merge_persist_and_reset(sim, sim_endpoints):
    url = sim_endpoints["admin"]["url"]
    patched = sim.controls({"bureau": {"QueryEnterpriseReport": {"latency": [1, 2]}}})
    assert patched["bureau"]["QueryEnterpriseReport"]["latency"] == [1, 2]
    assert patched["bureau"]["*"]["latency"] == 0  # the rest of the section is kept
    saved = Path(sim_endpoints["data_dir"]) / "controls.json"
    assert '"QueryEnterpriseReport"' in saved.read_text(encoding="utf-8")
    reset = requests.post(f"{url}/controls/reset", timeout=10).json()
    assert reset["bureau"]["*"]["latency"] == [0.5, 3.0]  # the catalogue's default
    assert "QueryEnterpriseReport" not in reset["bureau"]


def test_bad_admin_requests_are_answered_not_crashed(sim, sim_endpoints):
    url = sim_endpoints["admin"]["url"]
    assert requests.get(f"{url}/nope", timeout=10).status_code == 404
    bad = requests.patch(f"{url}/controls", data=b"{not json", timeout=10)
    assert bad.status_code == 400
    assert requests.get(f"{url}/health", timeout=10).json()["ok"] is True


@pytest.mark.parametrize(
    "patch",
    [
        {"bureau": {"*": {"latency": "slow"}}},
        {"bureau": {"*": {"rate": 2}}},
        {"bureau": {"*": {"latency": [3, 1]}}},
        ["not", "an", "object"],
        {"bureau": "off"},
    ],
)
def test_invalid_controls_are_refused_and_change_nothing(sim, sim_endpoints, patch):
    url = sim_endpoints["admin"]["url"]
    before = requests.get(f"{url}/controls", timeout=10).json()
    answer = requests.patch(f"{url}/controls", json=patch, timeout=10)
    assert answer.status_code == 400
    assert requests.get(f"{url}/controls", timeout=10).json() == before


def test_the_nightly_extract_is_there_after_start_up(sim_endpoints):
    root = Path(sim_endpoints["sftp"]["root"])
    assert (root / "extracts" / "LNREPAY.D261120").stat().st_size % 87 == 0
