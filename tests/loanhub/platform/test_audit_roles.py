"""On PostgreSQL the hub runs as a role that does not own its tables: a real second role
(LOGIN, in the test database's cluster) granted by ``loanhub db grant`` tries each insider's
attack on the audit chain, and the owner's own rewrite is still caught by ``verify``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from loanhub.cli import app
from loanhub.platform import audit
from loanhub.platform.audit_keys import AuditKeyring, use_audit_keyring
from loanhub.platform.db import StoreNotMigrated, make_engine, open_store, upgrade
from loanhub.platform.db_roles import GrantRefused, grant_runtime
from tests.conftest import PG_ADMIN_URL, _pg_url

runner = CliRunner()


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[AuditKeyring]:
    keys = AuditKeyring(b"r" * 40, tmp_path / "anchors")
    use_audit_keyring(keys)
    yield keys
    use_audit_keyring(None)


@pytest.fixture
def runtime_role(pg_url: str) -> Iterator[str]:
    """A LOGIN role of the cluster, made for one test; its grants and itself dropped after."""
    name = f"loanhub_rt_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{name}" LOGIN')
    yield name
    databases = [make_url(pg_url).database]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        databases += [
            r[0]
            for r in admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'loanhub_roles_%'"
            ).fetchall()
        ]
    for database in databases:
        try:
            with psycopg.connect(_pg_url(str(database)), autocommit=True) as conn:
                conn.execute(f'DROP OWNED BY "{name}"')
        except psycopg.OperationalError:
            continue  # dropped meanwhile
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{name}"')


def _as(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def _chain(engine: Engine, n: int) -> None:
    for i in range(n):
        with engine.begin() as conn:
            audit.append(conn, actor="ops.li", action="decision.posted", subject=f"APP{i:06d}")


ATTACKS = [
    ("UPDATE audit_event SET actor = 'ops.wang' WHERE seq = 2", "permission denied"),
    ("DELETE FROM audit_event WHERE seq = 3", "permission denied"),
    ("TRUNCATE audit_event", "permission denied"),
    ("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only", "must be owner"),
    ("ALTER TABLE audit_event DISABLE TRIGGER ALL", "must be owner"),
    ("DROP TRIGGER audit_event_append_only ON audit_event", "must be owner"),
    ("ALTER TABLE audit_event OWNER TO CURRENT_USER", "must be owner"),
    ("SET session_replication_role = replica", "permission denied"),
    ("CREATE TABLE audit_event_copy (seq int)", "permission denied"),
    ("UPDATE alembic_version SET version_num = '0001_initial'", "permission denied"),
]


def test_the_runtime_role_may_only_insert_and_read_the_chain(
    pg_url: str, pg_engine: Engine, runtime_role: str, ring: AuditKeyring
) -> None:
    granted = runner.invoke(app, ["db", "grant", "--role", runtime_role, "--url", pg_url])
    assert granted.exit_code == 0, granted.output
    runtime = open_store(_as(pg_url, runtime_role))  # at head: no migration attempted
    try:
        _chain(runtime, 4)  # the hub's own work: appends go through
        for sql, says in ATTACKS:
            with pytest.raises(DBAPIError, match=says), runtime.begin() as conn:
                conn.execute(text(sql))
        assert audit.verify(runtime, ring=ring).checked == 4
    finally:
        runtime.dispose()


def test_the_owners_rewrite_with_triggers_off_is_still_caught(
    pg_engine: Engine, ring: AuditKeyring
) -> None:
    """The owner can disable the trigger, rewrite and rehash, re-enable: verify says broken."""
    _chain(pg_engine, 5)
    audit.anchor(pg_engine, ring=ring)
    with pg_engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
        conn.execute(text("UPDATE audit_event SET actor = 'ops.wang' WHERE seq = 3"))
        rows = conn.execute(text("SELECT * FROM audit_event ORDER BY seq")).mappings().all()
        prev = audit.GENESIS_HASH
        for row in rows:
            event = {**dict(row), "prev_hash": prev}
            prev = audit.event_hash(event)
            conn.execute(
                text("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": event["prev_hash"], "h": prev, "s": row["seq"]},
            )
        conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
    report = audit.verify(pg_engine, ring=ring)
    assert report.broken_seq == 3
    assert "MAC does not match" in (report.reason or "")


def test_the_runtime_does_not_migrate_a_store_it_does_not_own(runtime_role: str) -> None:
    name = f"loanhub_roles_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        owner = make_engine(_pg_url(name))
        upgrade(owner, "0017_running_totals")
        grant_runtime(owner, runtime_role)
        owner.dispose()
        with pytest.raises(StoreNotMigrated, match="run loanhub db upgrade as the owner"):
            open_store(_as(_pg_url(name), runtime_role))
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_grants_refused_to_the_owner_a_superuser_or_a_stranger(
    pg_url: str, pg_engine: Engine
) -> None:
    for role, says in (
        ("postgres", "owner role"),
        (f"nobody_{uuid.uuid4().hex[:6]}", "no role"),
        ('x"; DROP TABLE audit_event; --', "not a role name"),
    ):
        with pytest.raises(GrantRefused, match=says):
            grant_runtime(pg_engine, role)
    refused = runner.invoke(app, ["db", "grant", "--role", "postgres", "--url", pg_url])
    assert refused.exit_code == 2
    assert "owner role" in refused.output
