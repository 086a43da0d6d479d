"""``loanhub audit export`` and ``verify-export``: a regulator's export for a range of the
bank's days or one application, written with its verifier; verified without the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.platform import audit
from tests.loanhub.auditchain import forge
from tests.loanhub.casebook import add_application, long_ago, person
from tests.loanhub.cli.refusals import assert_refused

runner = CliRunner()


def test_export_a_range_then_verify_it_and_a_forgery(
    pg_url: str, pg_engine: Engine, tmp_path: Path
) -> None:
    forge(pg_engine, [(datetime(2026, 3, 1, 2, i, tzinfo=UTC), "AP1", {"i": i}) for i in range(5)])
    out = tmp_path / "bundle" / "march.jsonl"
    exported = runner.invoke(
        app,
        [
            "audit",
            "export",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-31",
            "--out",
            str(out),
            "--url",
            pg_url,
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert "exported 5 event(s) (seq 1..5)" in exported.output
    assert (tmp_path / "bundle" / "verify_audit_export.py").exists()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    verified = runner.invoke(app, ["audit", "verify-export", str(out)])
    assert verified.exit_code == 0, verified.output
    assert "export verified: 5 event(s)" in verified.output
    assert audit.verify(pg_engine).ok  # the seal is a link of the chain

    lines = out.read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[2])
    event["event"]["subject"] = "AP2"
    lines[2] = json.dumps(event, ensure_ascii=False)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_refused(runner.invoke(app, ["audit", "verify-export", str(forged)]), 1, "altered")


def test_export_an_application(pg_url: str, pg_engine: Engine, tmp_path: Path) -> None:
    add_application(pg_engine, "AP7", person(), status="REJECTED", at=long_ago(3))
    forge(pg_engine, [(long_ago(3), s, None) for s in ("AP7", "AP8", "AP7")])
    out = tmp_path / "ap7.jsonl"
    done = runner.invoke(
        app, ["audit", "export", "--application", "AP7", "--out", str(out), "--url", pg_url]
    )
    assert done.exit_code == 0, done.output
    assert "exported 2 event(s) (seq 1..3)" in done.output
    assert (
        "export verified: 2 event(s)"
        in runner.invoke(app, ["audit", "verify-export", str(out)]).output
    )


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--from", "2026-03-01"], 2, "needs both --from and --to"),
        (["--from", "2026-03-01", "--to", "2026-03-02", "--application", "AP1"], 2, "either"),
        ([], 2, "either"),
        (["--from", "March", "--to", "2026-03-02"], 2, "is not a date"),
        (["--from", "2026-03-05", "--to", "2026-03-02"], 2, "is before --from"),
        (["--application", "AP404"], 2, "no application AP404"),
    ],
)
def test_bad_scopes_are_one_line(
    pg_url: str, tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    result = runner.invoke(
        app, ["audit", "export", *args, "--out", str(tmp_path / "x"), "--url", pg_url]
    )
    assert_refused(result, code, says)


def test_verify_export_of_a_missing_or_foreign_file(tmp_path: Path) -> None:
    assert_refused(
        runner.invoke(app, ["audit", "verify-export", str(tmp_path / "no")]), 1, "cannot read"
    )
    (tmp_path / "x.jsonl").write_text('{"hello": 1}\n', encoding="utf-8")
    assert_refused(
        runner.invoke(app, ["audit", "verify-export", str(tmp_path / "x.jsonl")]),
        1,
        "not a loanhub-audit-export version 1 header",
    )


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A hub on an embedded store of its own, with its own key and anchor directory."""
    monkeypatch.setenv("LOANHUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOANHUB_AUDIT__ANCHOR_DIR", str(tmp_path / "anchors"))
    monkeypatch.delenv("LOANHUB_DATABASE_URL", raising=False)
    monkeypatch.delenv("LOANHUB_AUDIT__KEY", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def _embedded(root: Path) -> Engine:
    from loanhub.platform.db import make_engine

    return make_engine(f"sqlite:///{root / 'var' / 'loanhub.db'}")


def test_anchor_and_verify_catch_the_newest_events_deleted(hub_env: Path) -> None:
    """Attack 2 through the CLI: anchored, then the newest events deleted: verify says BROKEN."""
    from sqlalchemy import text

    store = _embedded(hub_env)
    forge(store, [(datetime(2026, 3, 1, 2, i, tzinfo=UTC), "AP1", {"i": i}) for i in range(6)])
    anchored = runner.invoke(app, ["audit", "anchor"])
    assert anchored.exit_code == 0, anchored.output
    assert "anchored event 6" in anchored.output
    assert (hub_env / "var" / "audit.key").exists()  # made on first use, beside the store
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact: 6 events" in ok.output
    assert "1 anchor(s) held" in ok.output
    with store.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq > 3"))
    assert_refused(runner.invoke(app, ["audit", "verify"]), 1, "the newest events were removed")
    store.dispose()


def test_verify_with_a_bad_key_or_an_unwritable_anchor_dir_is_one_line(
    hub_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANHUB_AUDIT__KEY", "short")
    assert_refused(runner.invoke(app, ["audit", "verify"]), 1, "LOANHUB_AUDIT__KEY is too short")
    monkeypatch.delenv("LOANHUB_AUDIT__KEY")
    blocker = hub_env / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("LOANHUB_AUDIT__ANCHOR_DIR", str(blocker / "anchors"))
    forge(_embedded(hub_env), [(datetime(2026, 3, 1, tzinfo=UTC), "AP1", None)])
    assert_refused(runner.invoke(app, ["audit", "anchor"]), 1, "cannot write an anchor")


def test_db_upgrade_keys_a_chain_from_before_the_key(hub_env: Path) -> None:
    """A store from before the MAC column: ``db upgrade`` migrates, checkpoints and anchors."""
    from sqlalchemy import text

    from loanhub.platform.db import make_engine, upgrade

    old = hub_env / "old.db"
    store = make_engine(f"sqlite:///{old}")
    upgrade(store, "0017_running_totals")
    prev = audit.GENESIS_HASH
    with store.begin() as conn:
        for seq in (1, 2, 3):
            fields = {
                "seq": seq,
                "actor": "loanhub",
                "action": "legacy.event",
                "subject": "AP1",
                "before": None,
                "after": None,
                "host": "hub-1",
                "ip": "10.0.0.1",
                "occurred_at": datetime(2026, 5, 1, tzinfo=UTC),
                "prev_hash": prev,
            }
            fields["hash"] = prev = audit.event_hash(fields)
            conn.execute(
                text(
                    "INSERT INTO audit_event (seq, actor, action, subject, host, ip, "
                    "occurred_at, prev_hash, hash) VALUES (:seq, :actor, :action, :subject, "
                    ":host, :ip, :occurred_at, :prev_hash, :hash)"
                ),
                fields,
            )
    store.dispose()
    url = f"sqlite:///{old}"
    upgraded = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert "audit events 1..3 keyed by checkpoint 4" in upgraded.output
    assert list((hub_env / "anchors").glob("anchor-000000000004-*.json"))
    verified = runner.invoke(app, ["audit", "verify", "--url", url])
    assert verified.exit_code == 0, verified.output
    assert "intact: 4 events" in verified.output
