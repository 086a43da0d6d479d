"""The hub's store: engines for PostgreSQL and the embedded SQLite, and migrations.

A PostgreSQL server restarts, fails over, or has an administrator end idle sessions; the hub
must not turn each of those into a failed task. Three defences, each for one moment:

- at checkout, ``pool_pre_ping``: a pooled connection that died while idle is replaced before
  it is used, so it costs no failed operation;
- inside a transaction, ``retrying``: a transaction that lost its connection was rolled back
  by the server, so one that is safe to run again is run again in a new connection (bounded);
- when the store stays away, ``StoreUnavailable``: one line naming the store (password
  hidden) and the cause, instead of SQLAlchemy's and the driver's chained tracebacks.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from kernel.files import PRIVATE_FILE, private_dir, tighten

T = TypeVar("T")
log = logging.getLogger(__name__)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
RETRY_ATTEMPTS = 3
"""Tries of a repeatable transaction whose connection dropped: a restart or a failover takes
the first; two more cover a pool full of connections to the old server."""


class StoreUnavailable(RuntimeError):
    """The hub's store cannot be reached (or went away and stayed away).

    Its text is the whole story in one line (which store, without its password, and the
    driver's first line), and it is raised without its chain: the operator needs to know the
    database is down, not the 132 lines of SQLAlchemy frames that say so.
    """

    def __init__(self, url: str | Any, cause: BaseException) -> None:
        self.url = shown_url(url)
        self.cause = first_line(getattr(cause, "orig", None) or cause)
        super().__init__(f"the hub's store at {self.url} is unavailable: {self.cause}")


def shown_url(url: str | Any) -> str:
    """``url`` fit for a log line or an error: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def first_line(exc: BaseException | str) -> str:
    """The first non-empty line of an error's text (the driver's own words), bounded."""
    text = str(exc).strip()
    line = next((x.strip() for x in text.splitlines() if x.strip()), type(exc).__name__)
    return line[:300]


def is_disconnect(exc: BaseException) -> bool:
    """The store went away under this operation (SQLAlchemy invalidated the connection):
    the server rolled back whatever the transaction had done."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def retrying(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    attempts: int = RETRY_ATTEMPTS,
    pause: float = 0.2,
    what: str = "transaction",
) -> T:
    """Run ``work(conn)`` in one transaction; if the connection drops, run it again in a new
    one, at most ``attempts`` times, then raise ``StoreUnavailable``.

    Only for work that is safe to repeat: nothing in it may call a legacy system, and a run
    whose COMMIT reached the server but whose reply was lost must be harmless to repeat (an
    idempotent write, or one that recognises its own earlier commit, as the ledger's claim
    and close do). A failure that is not a lost connection (a constraint, a lock timeout,
    a bug) is raised at once: repeating it would not help.
    """
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            connect_failed = exc.connection_invalidated or _is_connect_failure(exc)
            if not connect_failed:
                raise
            if attempt == attempts:
                raise StoreUnavailable(engine.url, exc) from None
            log.warning(
                "%s: the store connection dropped (%s); again, %d of %d",
                what,
                first_line(exc.orig or exc),
                attempt + 1,
                attempts,
            )
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _is_connect_failure(exc: DBAPIError) -> bool:
    """A new connection could not be made (refused, reset, server starting): nothing of the
    transaction ran, so it is as repeatable as a dropped one."""
    orig = exc.orig
    if orig is None:
        return False
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite only
        return False
    return isinstance(orig, psycopg.OperationalError) and getattr(orig, "sqlstate", None) in (
        None,
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up)
        "08000",
        "08001",
        "08003",
        "08006",
    )


MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside the store: each holds rows of the store (every applicant's
ID in clear), so each is as private as the store."""


def _sqlite_private(database: Path) -> None:
    """Make the store's file owner-only before SQLite opens it, and tighten one an old install
    left 0644, with its WAL, shared memory and journal.

    SQLite creates the store 0644 (less the umask) and its WAL and journal with the store's
    own mode, but an existing non-empty WAL keeps whatever mode it had: so the store is
    created 0600 here first, and every companion already there is tightened on each connect
    (a few ``lstat`` calls per pooled connection)."""
    if not database.exists():
        private_dir(database.parent, tighten_existing=False)
        fd = os.open(database, os.O_RDWR | os.O_CREAT | _NOFOLLOW, PRIVATE_FILE)
        os.close(fd)
    for path in (database, *(Path(f"{database}{suffix}") for suffix in SQLITE_COMPANIONS)):
        tighten(path)


def _sqlite_serialisable(engine: Engine, database: Path | None = None) -> None:
    """Make SQLite transactions take the write lock at BEGIN (``BEGIN IMMEDIATE``), and keep
    the store's files owner-only (``_sqlite_private``) when it is on disk.

    pysqlite's default defers BEGIN until the first write, so two processes can both read a
    work item as free and both decide to run it. Taking the lock at BEGIN serialises the
    read-decide-write of a claim, as row locks do on PostgreSQL.
    """

    if database is not None:

        @event.listens_for(engine, "do_connect")
        def _before_connect(*_args: Any) -> None:
            _sqlite_private(database)  # made 0600 before SQLite makes it 0644

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        if database is not None:  # the WAL and shared memory exist from here on
            _sqlite_private(database)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the store at ``url``, with the locking the ledger relies on."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        database = make_url(url).database
        on_disk = None
        if database and database != ":memory:" and not database.startswith("file:"):
            on_disk = Path(database).absolute()
            private_dir(on_disk.parent, tighten_existing=False)
        engine = create_engine(url, **kwargs)
        _sqlite_serialisable(engine, on_disk)
        return engine
    # Pre-ping: one round trip per checkout buys that a connection which died in the pool
    # (a server restart, an idle-session kill) is replaced instead of failing an operation.
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


def alembic_config(engine: Engine) -> Config:
    cfg = alembic_config_path_only()
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store to ``revision``; safe to run on every start."""
    command.upgrade(alembic_config(engine), revision)


class StoreNotMigrated(RuntimeError):
    """The store is behind the hub's schema and this process's role may not migrate it: on
    PostgreSQL the tables belong to the owner role, and the runtime never migrates."""


def open_store(url: str, **kwargs: Any) -> Engine:
    """An engine on the store at ``url``, at the newest schema: what every long-lived process
    of the hub starts with.

    A store at the newest revision is left alone. One behind it is migrated only when this
    role owns the schema (the embedded SQLite, a development PostgreSQL where one role does
    everything); a runtime role that is not the owner gets ``StoreNotMigrated`` ("run loanhub
    db upgrade as the owner") rather than DDL it has no right to (or, worse, should not
    have). Raises ``StoreUnavailable`` (one line, no password) when the store is away.
    """
    engine = make_engine(url, **kwargs)
    check_store(engine)
    return ensure_current(engine)


def ensure_current(engine: Engine) -> Engine:
    """``engine``'s store brought to the newest schema when this role may migrate it, else
    ``StoreNotMigrated`` (what ``open_store`` does after connecting; for a command that was
    handed an engine already)."""
    current = current_revision(engine)
    if current != head_revision():
        if not may_migrate(engine):
            raise StoreNotMigrated(
                f"the store at {shown_url(engine.url)} is at revision {current or 'none'}, the "
                f"hub needs {head_revision()}: run loanhub db upgrade as the owner "
                "(LOANHUB_DATABASE_OWNER_URL)"
            )
        upgrade(engine)
    return engine


def head_revision() -> str | None:
    """The newest revision of the hub's migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config_path_only()).get_current_head()


def alembic_config_path_only() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def may_migrate(engine: Engine) -> bool:
    """May this connection's role migrate the store? SQLite: yes. PostgreSQL: a superuser, or
    the owner (or a member of the owning role) of ``alembic_version``; a store not made yet
    is the caller's to make if it can create in the schema."""
    if engine.dialect.name != "postgresql":
        return True
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT r.rolsuper OR pg_has_role(current_user, c.relowner, 'MEMBER') AS owns "
                "FROM pg_class c, pg_roles r WHERE c.relname = 'alembic_version' "
                "AND c.relnamespace = current_schema()::regnamespace AND r.rolname = current_user"
            )
        ).first()
        if row is not None:
            return bool(row.owns)
        return bool(
            conn.execute(text("SELECT has_schema_privilege(current_schema(), 'CREATE')")).scalar()
        )


def check_store(engine: Engine, attempts: int = RETRY_ATTEMPTS) -> None:
    """Reach the store once (a ``SELECT 1``, retried like any repeatable transaction), or raise
    ``StoreUnavailable``: what a process does before it starts work."""
    from sqlalchemy import text

    try:
        retrying(engine, lambda conn: conn.execute(text("SELECT 1")), attempts=attempts)
    except DBAPIError as exc:  # refused before any connection: no invalidation to see
        raise StoreUnavailable(engine.url, exc) from None


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
