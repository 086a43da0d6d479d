"""The mechanics of retention: find and remove what is older than a cutoff, and replace a
person's identity in the store by a pseudonym.

What is kept how long, and what is held back, is the flows' policy
(``loanhub.flows.retention``). Two rules hold here whatever the policy says:

- nothing under a kept root (the case-file archive) is ever removed, even when it lies inside
  an area being purged; nor the screen evidence's key (``.key``), which names its folders;
- the audit chain is never touched: its events were masked when written, and rewriting one
  would break the chain. Retention appends events; it never edits them.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import shutil
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, String, cast, delete, func, or_, select, update

from loanhub.platform.canonical import sha256_hex
from loanhub.platform.masking import mask_name, mask_text
from schemas.tables import (
    applicant_profile,
    application,
    consent,
    core_customer,
    credit_report,
    decision,
    file_receipt,
    party,
    social_security_month,
    source_call,
    tax_profile,
    work_item,
)

NEVER_REMOVED = frozenset({".key"})
PSEUDONYM_MARK = "~"


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == r or r in resolved.parents for r in roots)


def old_files(root: Path, cutoff: datetime, keep: Sequence[Path] = ()) -> list[Path]:
    """Every file under ``root`` last written before ``cutoff``, except under ``keep``."""
    if not root.is_dir():
        return []
    limit = cutoff.timestamp()
    kept = [k.resolve() for k in keep]
    found = []
    for path in sorted(root.rglob("*")):
        if path.name in NEVER_REMOVED or not path.is_file() or path.is_symlink():
            continue
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < limit and not _inside(path, kept):
                found.append(path)
    return found


def old_captures(root: Path, cutoff: datetime, keep: Sequence[Path] = ()) -> list[Path]:
    """The bots' captures (``<root>/<kind>/<key hash>/<stamp>/``) made before ``cutoff``."""
    if not root.is_dir():
        return []
    limit = cutoff.timestamp()
    kept = [k.resolve() for k in keep]
    return [
        capture
        for capture in sorted(root.glob("*/*/*"))
        if capture.is_dir()
        and not capture.is_symlink()
        and capture.stat().st_mtime < limit
        and not _inside(capture, kept)
    ]


def remove(paths: Iterable[Path], root: Path, keep: Sequence[Path] = ()) -> int:
    """Remove each file or folder (one vanished meanwhile is not counted), then the folders
    this left empty, up to ``root`` (not root itself); returns how many went."""
    kept = [k.resolve() for k in keep]
    top = root.resolve()
    gone = 0
    emptied: set[Path] = set()
    for path in paths:
        if _inside(path, kept):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        gone += 1
        emptied.add(path.parent.resolve())
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        while folder != top and top in folder.parents and not _inside(folder, kept):
            try:
                folder.rmdir()  # only an empty one goes
            except OSError:
                break
            folder = folder.parent
    return gone


def count_calls(conn: Connection, cutoff: datetime) -> int:
    return conn.execute(
        select(func.count()).select_from(source_call).where(source_call.c.started_at < cutoff)
    ).scalar_one()


def delete_calls(conn: Connection, cutoff: datetime) -> int:
    return conn.execute(delete(source_call).where(source_call.c.started_at < cutoff)).rowcount or 0


def release_receipts(conn: Connection, cutoff: datetime) -> int:
    """Receipts of files received before ``cutoff`` whose kept file is gone: they no longer
    say where it is kept (the receipt itself stays: a file taken once is never taken again)."""
    rows = conn.execute(
        select(file_receipt.c.id, file_receipt.c.kept_at).where(
            file_receipt.c.kept_at.is_not(None), file_receipt.c.received_at < cutoff
        )
    ).all()
    gone = [r.id for r in rows if not Path(r.kept_at).exists()]
    if gone:
        conn.execute(update(file_receipt).where(file_receipt.c.id.in_(gone)).values(kept_at=None))
    return len(gone)


def new_pseudonym() -> str:
    """A random stand-in for an ID number: unique, the width of an ID column, and not derived
    from the ID (a hash of an 18-digit ID with a known layout is found by brute force)."""
    token = base64.b32encode(secrets.token_bytes(11)).decode("ascii").rstrip("=")
    return PSEUDONYM_MARK + token[:17]


def is_pseudonym(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PSEUDONYM_MARK)


def _replaced(value: Any, swaps: dict[str, str]) -> Any:
    if isinstance(value, str):
        for old, new in swaps.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {_replaced(k, swaps): _replaced(v, swaps) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, swaps) for v in value]
    return value


ID_COLUMNS = (
    (party, "id_number"),
    (application, "party_id_number"),
    (application, "guarantor_id_number"),
    (applicant_profile, "party_id_number"),
    (applicant_profile, "guarantor_id_number"),
    (consent, "party_id_number"),
    (credit_report, "subject_id_number"),
    (tax_profile, "id_or_uscc"),
    (social_security_month, "id_number"),
    (core_customer, "id_number"),
)
"""Every column of the store that holds a person's ID number."""


def names_of(conn: Connection, id_number: str) -> list[str]:
    """The person's names as the store holds them (the applicant's, the core's)."""
    names = set(conn.execute(select(party.c.name).where(party.c.id_number == id_number)).scalars())
    names |= set(
        conn.execute(
            select(core_customer.c.name).where(core_customer.c.id_number == id_number)
        ).scalars()
    )
    return sorted(n for n in names if n)


def pseudonymise(
    conn: Connection, id_number: str, pseudonym: str, application_nos: Sequence[str]
) -> dict[str, int]:
    """Replace one person's identity in the store, inside the caller's transaction: the ID
    number by ``pseudonym`` everywhere, names by their masked form (the surname stays), the
    mobile and birth date removed; the work items and the decisions' free text that name them
    rewritten. Returns the rows changed per table. Loans, payments, repayments and account
    numbers stay: they are the bank's accounting records."""
    names = names_of(conn, id_number)
    swaps = {
        id_number: pseudonym,
        **{n: mask_name(n) for n in sorted(names, key=len, reverse=True)},
    }
    changed: dict[str, int] = {}

    def count(table: str, n: int) -> None:
        if n:
            changed[table] = changed.get(table, 0) + n

    for row in conn.execute(
        select(party.c.id, party.c.name).where(party.c.id_number == id_number)
    ).all():
        conn.execute(
            update(party)
            .where(party.c.id == row.id)
            .values(name=mask_name(row.name), mobile=None, birth_date=None)
        )
    for row in conn.execute(
        select(core_customer.c.id, core_customer.c.name).where(
            core_customer.c.id_number == id_number
        )
    ).all():
        conn.execute(
            update(core_customer)
            .where(core_customer.c.id == row.id)
            .values(name=mask_name(row.name))
        )
    text_columns = (work_item.c.business_key, work_item.c.error)
    json_columns = (cast(work_item.c.payload, String), cast(work_item.c.result, String))
    items = conn.execute(
        select(work_item).where(
            or_(*(c.contains(id_number, autoescape=True) for c in (*text_columns, *json_columns)))
        )
    ).mappings()
    for item in items.all():
        payload = _replaced(item["payload"], swaps)
        conn.execute(
            update(work_item)
            .where(work_item.c.id == item["id"])
            .values(
                business_key=_replaced(item["business_key"], swaps),
                payload=payload,
                payload_hash=sha256_hex(payload),
                result=_replaced(item["result"], swaps),
                error=_replaced(item["error"], swaps),
            )
        )
        count("work_item", 1)
    if application_nos:
        for row in conn.execute(
            select(
                decision.c.id, decision.c.comment, decision.c.conditions, decision.c.reasons
            ).where(decision.c.application_no.in_(list(application_nos)))
        ).all():
            texts = {
                k: mask_text(_replaced(getattr(row, k), swaps), names)
                for k in ("comment", "conditions", "reasons")
                if getattr(row, k)
            }
            if texts:
                conn.execute(update(decision).where(decision.c.id == row.id).values(**texts))
                count("decision", 1)
    for table, column in ID_COLUMNS:
        n = conn.execute(
            update(table).where(table.c[column] == id_number).values({column: pseudonym})
        ).rowcount
        count(table.name, n or 0)
    return changed
