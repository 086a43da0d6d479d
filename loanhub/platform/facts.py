"""Mapped facts into the canonical store: each record to its model's table, children linked to
their parent rows, stored once by business key.

A source answer is small (one report, one history): a row that has children goes in on its
own (its id links them), the rows of a leaf record go in as one multi-row statement, inside the
caller's transaction; the bulk path (the nightly extract) is ``loanhub.flows.repayments`` with COPY.
A record whose business key is stored already is left as it is, and so are its children: a
re-harvest of the same answer adds nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, UniqueConstraint, select

from loanhub.platform.db import dialect_insert
from mappings.engine import Mapping, MappingResult
from schemas.tables import TABLE_OF, fact_row

# tables whose rows are a state that changes in the source: the newest values win
CURRENT_STATE = frozenset({"social_security_month", "core_account", "core_monthly_summary"})


def _business_key(table: Table) -> list[str]:
    """The columns of the table's unique constraint, as ``schemas.tables`` declares it."""
    [key] = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    return [column.name for column in key.columns]


def _parent_column(table: Table) -> str:
    [fk] = list(table.foreign_keys)
    return fk.parent.name


def _insert_new(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """The new rows' ids; a row whose business key is stored already is left out. A table that
    holds a current state (a contribution month's status, an account's balance) takes the newer
    values instead, and counts no new rows: 欠缴 that became 补缴 must not stay 欠缴."""
    statement = dialect_insert(conn, table)
    if table.name in CURRENT_STATE:
        keys = _business_key(table)
        changed = {c: statement.excluded[c] for c in rows[0] if c not in (*keys, "id")}
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changed), rows)
        return []
    if len(rows) == 1:
        found = conn.execute(
            statement.values(rows[0]).on_conflict_do_nothing().returning(table.c.id)
        ).scalar_one_or_none()
        return [] if found is None else [found]
    returning = statement.on_conflict_do_nothing().returning(table.c.id)
    return list(conn.execute(returning, rows).scalars())


def _stored_id(conn: Connection, table: Table, row: dict[str, Any]) -> int | None:
    """The id of the row stored under ``row``'s business key."""
    keys = _business_key(table)
    return conn.execute(
        select(table.c.id).where(*(table.c[k] == row[k] for k in keys))
    ).scalar_one_or_none()


def store_mapped(
    conn: Connection, mapping: Mapping, result: MappingResult, *, complete: bool = False
) -> dict[str, int]:
    """Store what ``mapping`` produced; returns the new rows per record name.

    ``complete``: a parent stored before may lack children (they were quarantined, and a
    mapping fix now takes them): its stored row is looked up by its business key and the
    children missing under it are added, those stored already left as they are."""
    parents = mapping.parents()
    with_children = set(parents.values())
    ids: dict[tuple[str, int], int | None] = {}
    new: dict[str, int] = {}
    for name, records in result.records.items():
        parent = parents.get(name)
        leaves: dict[Table, list[dict[str, Any]]] = {}
        for index, record in enumerate(records):
            table = TABLE_OF[type(record.model)]
            row = fact_row(record.model)
            if parent is not None:
                parent_id = ids.get((parent, record.parent if record.parent is not None else -1))
                if parent_id is None:  # the parent was stored before, with its children
                    ids[name, index] = None
                    continue
                row[_parent_column(table)] = parent_id
            if name in with_children:  # its id links the children: one row at a time
                stored = _insert_new(conn, table, [row])
                ids[name, index] = stored[0] if stored else None
                if not stored and complete:
                    ids[name, index] = _stored_id(conn, table, row)
                new[name] = new.get(name, 0) + bool(stored)
            else:
                leaves.setdefault(table, []).append(row)
        for table, rows in leaves.items():
            new[name] = new.get(name, 0) + len(_insert_new(conn, table, rows))
    return new
