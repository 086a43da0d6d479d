"""An audit chain with chosen timestamps, for the export tests: events appended the way the
chain appends them (linked, hashed, keyed with this process's audit key), but at the times a
test needs (the bank's midnight)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from loanhub.platform import audit
from loanhub.platform.audit_keys import keyring
from schemas.tables import audit_event


def forge(engine: Engine, events: list[tuple[datetime, str, dict[str, Any] | None]]) -> None:
    """Append (occurred_at, subject, after) events after the chain's head, correctly linked."""
    with engine.begin() as conn:
        last = conn.execute(
            select(audit_event.c.seq, audit_event.c.hash).order_by(audit_event.c.seq.desc())
        ).first()
        seq, prev = (last.seq, last.hash) if last else (0, audit.GENESIS_HASH)
        for at, subject, after in events:
            seq += 1
            fields = {
                "seq": seq,
                "actor": "loanhub",
                "action": "test.event",
                "subject": subject,
                "before": None,
                "after": after,
                "host": "hub-1",
                "ip": "10.0.0.1",
                "occurred_at": at,
                "prev_hash": prev,
            }
            fields["hash"] = prev = audit.event_hash(fields)
            fields["mac"] = keyring().event_mac(prev)
            conn.execute(insert(audit_event).values(**fields))
