import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.runtime.settings import LegacyEndpoints
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_endpoints_are_written_from_the_environment_with_the_host_key_pinned(
    sim_endpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "endpoints.json"
    monkeypatch.setenv("LOANHUB_ENDPOINTS_FILE", str(target))
    for system in LegacyEndpoints.SYSTEMS:
        monkeypatch.setenv(f"LOANHUB_ENDPOINT_{system.upper()}", json.dumps(sim_endpoints[system]))
    written = runner.invoke(app, ["endpoints", "write"])
    assert written.exit_code == 0, written.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it holds credentials
    loaded = LegacyEndpoints.load(target)
    assert loaded.sftp.host_key == sim_endpoints["sftp"]["host_key"]
    assert loaded.los.username == sim_endpoints["los"]["username"]  # the robot: no checker
    assert sim_endpoints["los"]["checker"]["password"] not in target.read_text()
    checked = runner.invoke(app, ["endpoints", "check"])
    assert checked.exit_code == 0, checked.output
    assert "pinned ssh-" in checked.output
    assert sim_endpoints["bureau"]["password"] not in checked.output

    unpinned = {k: v for k, v in sim_endpoints["sftp"].items() if k != "host_key"}
    monkeypatch.setenv("LOANHUB_ENDPOINT_SFTP", json.dumps(unpinned))
    refused = runner.invoke(app, ["endpoints", "write"])
    assert refused.exit_code == 1
    assert "host_key" in refused.output
    monkeypatch.delenv("LOANHUB_ENDPOINT_LOS")
    assert "LOANHUB_ENDPOINT_LOS" in runner.invoke(app, ["endpoints", "write"]).output


def test_a_missing_endpoints_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_ENDPOINTS_FILE", str(tmp_path / "endpoints.json"))
    assert_refused(runner.invoke(app, ["endpoints", "check"]), 1, "no endpoints file at")


def test_an_endpoints_file_that_cannot_be_written_is_one_line(
    sim_endpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    monkeypatch.setenv("LOANHUB_ENDPOINTS_FILE", str(tmp_path / "taken" / "endpoints.json"))
    for system in LegacyEndpoints.SYSTEMS:
        monkeypatch.setenv(f"LOANHUB_ENDPOINT_{system.upper()}", json.dumps(sim_endpoints[system]))
    assert_refused(runner.invoke(app, ["endpoints", "write"]), 1, "cannot write")
