import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loanhub.cli import app
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_bot_history_and_the_evidence_commands(
    sim, sim_dir, sim_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOANHUB_SIM_DIR", str(sim_dir))
    person = next(p for p in sim_dataset.persons if p.contributions)
    found = runner.invoke(app, ["bot", "history", person.id_number, person.name])
    assert found.exit_code == 0, found.output
    assert f"{len(person.contributions)} months from the export" in found.output
    assert person.id_number not in found.output
    sim.controls({"ss": {"layout": {"variant": True}}})
    stopped = runner.invoke(app, ["bot", "history", person.id_number, person.name])
    assert stopped.exit_code == 1
    assert "NeedsHuman" in stopped.output
    listed = runner.invoke(app, ["evidence", "list"])
    assert "1 capture(s)" in listed.output
    assert person.id_number not in listed.output
    kept = runner.invoke(app, ["evidence", "purge", "--days", "1"])
    assert "purged 0 capture(s)" in kept.output
    [capture] = (tmp_path / "evidence" / "screens").glob("*/*/*")
    os.utime(capture, (0, 0))
    purged = runner.invoke(app, ["evidence", "purge"])
    assert "purged 1 capture(s) older than 30 days" in purged.output


def test_bot_history_refuses_a_bad_id_and_a_missing_endpoints_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOANHUB_SIM_DIR", str(tmp_path / "nowhere"))
    assert_refused(runner.invoke(app, ["bot", "history", "123", "张三"]), 2, "18 characters")
    missing = runner.invoke(app, ["bot", "history", "11010519491231002X", "张三"])
    assert_refused(missing, 1, "no endpoints file")


def test_evidence_purge_refuses_negative_days() -> None:
    assert_refused(runner.invoke(app, ["evidence", "purge", "--days", "-1"]), 2, "--days")
