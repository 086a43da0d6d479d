import json
import os
import stat
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.platform.db import MIGRATIONS_DIR
from loanhub.runtime.settings import LegacyEndpoints

runner = CliRunner()


@pytest.mark.parametrize(
    ("value", "code", "says"),
    [
        ("11010519491231002X", 0, "valid resident ID 1****************X"),
        ("110105194912310021", 1, "expected 'X'"),
        ("91350100M000100Y43", 0, "valid USCC"),
        ("91350100M000100Y44", 1, "invalid USCC"),
        ("4111111111111111", 0, "passes the Luhn check"),
        ("4111111111111112", 1, "fails the Luhn check"),
        ("abc", 1, "not an identifier"),
    ],
)
def test_id_check(value: str, code: int, says: str) -> None:
    result = runner.invoke(app, ["id", "check", value])
    assert result.exit_code == code
    assert says in " ".join(result.output.split())
    assert "110105194912310021" not in result.output


def test_demo_builds_the_embedded_store_and_reruns_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOANHUB_DATABASE_URL", raising=False)
    first = runner.invoke(app, ["demo", "--seed", "7", "--applicants", "40"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "loanhub.db").exists()
    assert "audit chain: intact, 1 events" in first.output
    second = runner.invoke(app, ["demo", "--seed", "7", "--applicants", "40"])
    assert second.exit_code == 0
    assert "audit chain: intact, 2 events" in second.output
    current = runner.invoke(app, ["db", "current", "--url", f"sqlite:///{tmp_path}/loanhub.db"])
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert current.output.strip() == head


def test_extract_check_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.mappings.test_lnrepay import build

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


def test_old_calls_are_purged(pg_url, pg_engine) -> None:
    from datetime import UTC, datetime, timedelta

    from kernel.calls import CallOutcome, SourceCall
    from loanhub.platform.calls import CallJournal

    journal = CallJournal(pg_engine)
    for age in (1, 40, 200):
        journal(
            SourceCall(
                system="tax",
                operation="submit",
                started_at=datetime.now(UTC) - timedelta(days=age),
                duration_ms=5,
                outcome=CallOutcome.OK,
            )
        )
    assert (
        "purged 1 call(s) older than 90 days"
        in runner.invoke(app, ["calls", "purge", "--url", pg_url]).output
    )
    assert (
        "purged 1 call(s) older than 30 days"
        in runner.invoke(app, ["calls", "purge", "--days", "30", "--url", pg_url]).output
    )
