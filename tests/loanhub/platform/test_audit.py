import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.platform import audit
from schemas.tables import audit_event


def _chain(engine: Engine, n: int = 7) -> None:
    for i in range(1, n + 1):
        with engine.begin() as conn:
            audit.append(
                conn,
                actor="ops.li",
                action="decision.posted",
                subject=f"APP{i:06d}",
                before={"state": "DECIDING", "applicant": "110105194912310020"},
                after={"state": "APPROVED", "amount": "250000.00"},
            )


def _as_attacker(engine: Engine, sql: str) -> None:
    """Tamper the way a DBA could: bypassing the append-only trigger."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET session_replication_role = replica"))
        conn.execute(text(sql))


def test_an_untouched_chain_verifies(engine: Engine) -> None:
    _chain(engine)
    report = audit.verify(engine)
    assert report.ok
    assert report.checked == 7
    count, head = audit.head(engine)
    assert count == 7
    assert len(head) == 64


def test_personal_data_is_masked_before_it_is_written(engine: Engine) -> None:
    _chain(engine, 1)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT before FROM audit_event")).scalar_one()
    stored = before if isinstance(before, str) else str(before)
    assert "110105194912310020" not in stored
    assert "1****************0" in stored


def test_postgresql_refuses_update_and_delete(pg_engine: Engine) -> None:
    _chain(pg_engine, 3)
    for sql in (
        "UPDATE audit_event SET actor = 'x' WHERE seq = 2",
        "DELETE FROM audit_event WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
            conn.execute(text(sql))
    assert audit.verify(pg_engine).ok


def test_an_updated_middle_event_is_caught(engine: Engine) -> None:
    _chain(engine)
    _as_attacker(engine, "UPDATE audit_event SET actor = 'ops.wang' WHERE seq = 4")
    report = audit.verify(engine)
    assert report.broken_seq == 4
    assert report.checked == 3
    assert "altered" in (report.reason or "")


def test_a_rehashed_middle_event_fails_its_mac(engine: Engine) -> None:
    """The careful forger alters an event and recomputes its hash: its MAC (keyed outside the
    store) no longer matches, before the next link is even looked at."""
    _chain(engine)
    with engine.connect() as conn:
        row = dict(conn.execute(select(audit_event).where(audit_event.c.seq == 4)).mappings().one())
    row["actor"] = "ops.wang"
    forged = audit.event_hash(row)
    _as_attacker(
        engine, f"UPDATE audit_event SET actor = 'ops.wang', hash = '{forged}' WHERE seq = 4"
    )
    report = audit.verify(engine)
    assert report.broken_seq == 4
    assert "MAC does not match" in (report.reason or "")


def test_a_deleted_middle_event_is_caught(engine: Engine) -> None:
    _chain(engine)
    _as_attacker(engine, "DELETE FROM audit_event WHERE seq = 5")
    report = audit.verify(engine)
    assert report.broken_seq == 5
    assert "missing" in (report.reason or "")


def test_cli_prints_the_first_broken_link_and_exits_non_zero(pg_engine: Engine) -> None:
    _chain(pg_engine)
    url = pg_engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--url", url])
    assert ok.exit_code == 0, ok.output
    assert "intact: 7 events" in ok.output
    _as_attacker(pg_engine, "DELETE FROM audit_event WHERE seq = 3")
    _as_attacker(pg_engine, "UPDATE audit_event SET subject = 'APP999999' WHERE seq = 6")
    broken = runner.invoke(app, ["audit", "verify", "--url", url])
    assert broken.exit_code == 1
    assert "BROKEN at event 3" in broken.output
