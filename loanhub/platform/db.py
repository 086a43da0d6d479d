"""The hub's store: engines for PostgreSQL and the embedded SQLite, and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_serialisable(engine: Engine) -> None:
    """Make SQLite transactions take the write lock at BEGIN (``BEGIN IMMEDIATE``).

    pysqlite's default defers BEGIN until the first write, so two processes can both read a
    work item as free and both decide to run it. Taking the lock at BEGIN serialises the
    read-decide-write of a claim, as row locks do on PostgreSQL.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the store at ``url``, with the locking the ledger relies on."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _sqlite_serialisable(engine)
        return engine
    # No pre-ping: it costs a round trip per transaction. A connection that died with a
    # server restart fails its statement, which callers treat as transient and retry.
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store to ``revision``; safe to run on every start."""
    command.upgrade(alembic_config(engine), revision)


def open_store(url: str, **kwargs: Any) -> Engine:
    """An engine on the store at ``url``, migrated to the newest schema first: what every
    long-lived process of the hub starts with."""
    engine = make_engine(url, **kwargs)
    upgrade(engine)
    return engine


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def dialect_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT in the store's own dialect, so that it can say ``ON CONFLICT``: PostgreSQL
    in production, SQLite embedded; both take the same clauses."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_or_ignore(
    conn: Connection, table: Table, index_elements: list[str] | None = None
) -> postgresql.Insert | sqlite.Insert:
    """``INSERT ... ON CONFLICT DO NOTHING``: a row whose unique key is stored already is left
    as it is (add ``.returning(...)`` to learn which rows were new)."""
    return dialect_insert(conn, table).on_conflict_do_nothing(index_elements=index_elements)
