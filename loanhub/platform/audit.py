"""The audit chain: append-only events, each hashing its predecessor, so tampering shows.

Every event is appended inside the caller's transaction, so a state change and its audit
record commit or roll back together. Personal data is masked before it is written: the chain
is evidence that can be shown to an auditor, not a second copy of the customer file.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from loanhub.platform.canonical import jsonable, sha256_hex
from loanhub.platform.masking import mask_structure, mask_text
from schemas.hub import AuditEvent
from schemas.tables import audit_event
from schemas.types import utcnow

GENESIS_HASH = "0" * 64
# Any constant: the key of the PostgreSQL advisory lock that serialises appends to the chain.
_APPEND_LOCK_KEY = 0x10A7_A0D1


@cache
def _origin() -> tuple[str, str]:
    host = socket.gethostname()
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        ip = "127.0.0.1"
    return host, ip


def event_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of every field of an event except its own hash."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    body["occurred_at"] = _timestamp(body["occurred_at"])
    return sha256_hex(body)


def _timestamp(value: datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat(timespec="microseconds")


def append(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside ``conn``'s transaction and return it."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK_KEY})
    last = conn.execute(
        select(audit_event.c.seq, audit_event.c.hash).order_by(audit_event.c.seq.desc()).limit(1)
    ).first()
    host, ip = _origin()
    fields: dict[str, Any] = {
        "seq": (last.seq + 1) if last else 1,
        "actor": actor,
        "action": action,
        "subject": mask_text(subject),
        "before": None if before is None else mask_structure(jsonable(before)),
        "after": None if after is None else mask_structure(jsonable(after)),
        "host": host,
        "ip": ip,
        "occurred_at": utcnow(),
        "prev_hash": last.hash if last else GENESIS_HASH,
    }
    fields["hash"] = event_hash(fields)
    conn.execute(insert(audit_event).values(**fields))
    return AuditEvent.model_validate(fields)


@dataclass(frozen=True)
class ChainReport:
    """What ``verify`` found: how many links held, and the first that did not."""

    checked: int
    broken_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def _rows(engine: Engine, batch: int) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    select(audit_event)
                    .where(audit_event.c.seq > after)
                    .order_by(audit_event.c.seq)
                    .limit(batch)
                )
                .mappings()
                .all()
            )
        if not rows:
            return
        for row in rows:
            yield dict(row)
        after = rows[-1]["seq"]


def verify(engine: Engine, *, batch: int = 5000) -> ChainReport:
    """Walk the chain from the first event; report the first link whose hash or order fails.

    Catches an edited event (its hash no longer matches), a deleted one (a gap in the
    sequence and a broken ``prev_hash``) and an inserted one. Truncating the newest events
    leaves a valid shorter chain: the count and head hash printed by ``loanhub audit verify``
    are what an operator anchors elsewhere to catch that.
    """
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for row in _rows(engine, batch):
        if row["seq"] != expected_seq:
            return ChainReport(
                checked,
                expected_seq,
                f"event {expected_seq} is missing (next stored event is {row['seq']})",
            )
        if row["prev_hash"] != prev_hash:
            return ChainReport(
                checked, row["seq"], "prev_hash does not match the previous event's hash"
            )
        if event_hash(row) != row["hash"]:
            return ChainReport(
                checked, row["seq"], "content does not match its hash (the event was altered)"
            )
        prev_hash, expected_seq, checked = row["hash"], expected_seq + 1, checked + 1
    return ChainReport(checked)


def head(engine: Engine) -> tuple[int, str]:
    """The chain's length and newest hash: the anchor to record outside the database."""
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(audit_event)).scalar_one()
        last = conn.execute(
            select(audit_event.c.hash).order_by(audit_event.c.seq.desc()).limit(1)
        ).scalar()
    return count, last or GENESIS_HASH
