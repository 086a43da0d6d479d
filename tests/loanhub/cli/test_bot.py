"""``loanhub bot history``: what the DAG's bot does, by hand, under the harvest's rules: a
valid ID, the person's consent on record, the lookup audited (masked) before it is sent."""

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.platform.db import make_engine
from schemas.tables import audit_event
from tests.loanhub.cli.refusals import assert_refused
from tests.loanhub.flows.conftest import record_consent

runner = CliRunner()


def _store(data_dir: Path) -> Engine:
    """The embedded store under ``data_dir`` (what the command opens), migrated."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return make_engine(f"sqlite:///{(data_dir / 'loanhub.db').resolve()}")


def _consent(store: Engine, subject: str, scope: str = "SOCIAL_SECURITY") -> None:
    record_consent(store, subject, scope=scope, ref=f"CNS-{scope}")


def _events(store: Engine) -> list[tuple[str, str, str]]:
    with store.connect() as conn:
        rows = conn.execute(
            select(audit_event.c.action, audit_event.c.subject, audit_event.c.actor).order_by(
                audit_event.c.seq
            )
        )
        return [tuple(r) for r in rows]


def test_bot_history_and_the_evidence_commands(
    sim, sim_dir, sim_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOANHUB_SIM_DIR", str(sim_dir))
    person = next(p for p in sim_dataset.persons if p.contributions)
    store = _store(tmp_path)
    _consent(store, person.id_number)
    found = runner.invoke(app, ["bot", "history", person.id_number, person.name])
    assert found.exit_code == 0, found.output
    assert f"{len(person.contributions)} months from the export" in found.output
    assert person.id_number not in found.output
    looked_up = [e for e in _events(store) if e[0] == "ss.history_looked_up"]
    assert len(looked_up) == 1
    assert person.id_number not in looked_up[0][1]  # masked
    assert looked_up[0][1][:1] == person.id_number[:1]
    assert "*" in looked_up[0][1]
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


def test_bot_history_without_a_consent_sends_nothing(
    sim, sim_dir, sim_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack: look a person up by hand who never consented (or only to the bureau)."""
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOANHUB_SIM_DIR", str(sim_dir))
    person = next(p for p in sim_dataset.persons if p.contributions)
    store = _store(tmp_path)
    _consent(store, person.id_number, scope="BUREAU")  # a consent, but not for this
    refused = runner.invoke(app, ["bot", "history", person.id_number, person.name])
    assert_refused(refused, 1, "no valid SOCIAL_SECURITY consent")
    assert person.id_number not in refused.output
    assert sim.journal("ss") == []  # the portal saw nothing
    events = _events(store)
    assert [e[0] for e in events] == ["consent.refused"]
    assert person.id_number not in events[0][1]


@pytest.mark.parametrize(
    ("id_number", "says"),
    [
        ("110105194912310021", "check"),  # the MOD 11-2 check character is wrong
        ("1101051949\n1231002X", "ID_NUMBER"),
        ("990105194912310029", "province"),
    ],
)
def test_bot_history_checks_the_id_before_anything(
    id_number: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    store = _store(tmp_path)
    refused = runner.invoke(app, ["bot", "history", id_number, "张三"])
    assert_refused(refused, 2, says)
    assert _events(store) == []


@pytest.mark.parametrize("name", ["张\n三", "\u202e三张", "", "张" * 51])
def test_bot_history_refuses_a_name_with_controls(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path))
    refused = runner.invoke(app, ["bot", "history", "11010519491231002X", name])
    assert_refused(refused, 2, "name")


def test_evidence_purge_refuses_negative_days() -> None:
    assert_refused(runner.invoke(app, ["evidence", "purge", "--days", "-1"]), 2, "--days")
