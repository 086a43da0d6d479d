import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loanhub.cli import app
from tests.loanhub.cli.refusals import assert_refused
from tests.mappings.test_lnrepay import build

runner = CliRunner()


def test_extract_check_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    good, bad = tmp_path / "LNREPAY.D261120", tmp_path / "LNREPAY.D261121"
    good.write_bytes(build(corrupt=1))
    bad.write_bytes(build(count=9))
    checked = runner.invoke(app, ["extract", "check", str(good), "--json"])
    assert checked.exit_code == 0, checked.output
    summary = json.loads(checked.output)
    assert (summary["records"], summary["valid"], summary["hash_verified"]) == (3, 2, None)
    assert summary["quarantined_records"][0]["record"] == 3
    assert runner.invoke(app, ["extract", "check", str(bad)]).exit_code == 1
    loaded = runner.invoke(app, ["extract", "load", str(good)])
    assert loaded.exit_code == 0, loaded.output
    assert "PARTIAL" in loaded.output
    assert "inserted 2" in loaded.output
    assert runner.invoke(app, ["extract", "load", str(bad)]).exit_code == 1


@pytest.mark.parametrize("command", ["check", "load"])
def test_a_missing_file_is_a_usage_error(command: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["extract", command, str(tmp_path / "LNREPAY.D000000")])
    assert_refused(result, 2, "does not exist")
    assert_refused(runner.invoke(app, ["extract", command, str(tmp_path)]), 2, "is a directory")
