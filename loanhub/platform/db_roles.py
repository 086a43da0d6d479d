"""PostgreSQL roles of the hub's store: an owner that migrates, a runtime that only works.

The role the hub runs as must not own its tables: a table's owner can disable its triggers,
rewrite it and re-enable them, or truncate it. So the owner role (``LOANHUB_DATABASE_OWNER_URL``,
used by ``loanhub db upgrade`` and ``loanhub db grant`` only) owns the schema, and the runtime
role (``LOANHUB_DATABASE_URL``) is granted what the hub's work needs: read and write on the
working tables, and on ``audit_event`` only INSERT and SELECT (no UPDATE, DELETE, TRUNCATE,
TRIGGER, REFERENCES), and ``alembic_version`` read only.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")
APPEND_ONLY = ("audit_event",)
READ_ONLY = ("alembic_version",)


class GrantRefused(ValueError):
    """The role cannot be the runtime's: unknown, the owner itself, or a superuser."""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_runtime(engine: Engine, role: str) -> list[str]:
    """Give ``role`` the runtime's rights on every table of the store's schema (run as the
    owner, after each ``db upgrade``: new tables need their grant). Returns the statements."""
    if engine.dialect.name != "postgresql":
        raise GrantRefused("roles are PostgreSQL's: the embedded SQLite store has none")
    if not ROLE_NAME.match(role):
        raise GrantRefused(f"{role!r} is not a role name (letters, digits, _ . -; 63 at most)")
    with engine.begin() as conn:
        found = conn.execute(
            text(
                "SELECT rolsuper, pg_has_role(:r, current_user, 'MEMBER') AS is_owner, "
                "rolname = current_user AS is_me FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        ).first()
        if found is None:
            raise GrantRefused(
                f"no role {role!r} in this PostgreSQL cluster (CREATE ROLE it first)"
            )
        if found.is_me or found.is_owner:
            raise GrantRefused(
                f"{role!r} is (or is a member of) the owner role: the runtime must be another role"
            )
        if found.rolsuper:
            raise GrantRefused(f"{role!r} is a superuser: it could rewrite anything; use another")
        owned = (
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = "
                    "current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
                    "AND pg_has_role(:r, c.relowner, 'MEMBER')"
                ),
                {"r": role},
            )
            .scalars()
            .all()
        )
        if owned:
            raise GrantRefused(
                f"{role!r} owns {', '.join(sorted(owned))}: the runtime may own none"
            )
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        who, where = _quoted(role), _quoted(schema)
        statements = [
            f"GRANT USAGE ON SCHEMA {where} TO {who}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {where} TO {who}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
            f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {where} FROM {who}",
        ]
        statements += [
            f"REVOKE UPDATE, DELETE ON {where}.{_quoted(t)} FROM {who}" for t in APPEND_ONLY
        ]
        statements += [
            f"REVOKE INSERT, UPDATE, DELETE ON {where}.{_quoted(t)} FROM {who}" for t in READ_ONLY
        ]
        for statement in statements:
            conn.execute(text(statement))
    return statements
