"""The audit chain: append-only events, each hashing its predecessor and keyed, so tampering shows.

Every event is appended inside the caller's transaction, so a state change and its audit
record commit or roll back together. Personal data is masked before it is written: the chain
is evidence that can be shown to an auditor, not a second copy of the customer file.

The hash chain catches an edit, but whoever can write the table could recompute every hash
after one. So each event also carries ``mac``, an HMAC-SHA256 of its hash under the audit key
(``loanhub.platform.audit_keys``), which the store never holds; and the head is anchored
outside the store (``loanhub.platform.audit_anchors``), which catches the newest events
deleted or an older copy of the table put back. Events written before the key existed (no
MAC) are covered by one keyed checkpoint: the first keyed event of such a chain is
``audit.keyed_checkpoint``, naming the last unkeyed event and its hash; its MAC pins every
event before it. A MAC-less event anywhere else is a forgery.
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text

from loanhub.platform import audit_anchors
from loanhub.platform.audit_anchors import Anchor, AnchorRefused
from loanhub.platform.audit_keys import AuditKeyring, keyring
from loanhub.platform.canonical import jsonable, sha256_hex
from loanhub.platform.masking import mask_structure, mask_text
from schemas.hub import AuditEvent
from schemas.tables import audit_event
from schemas.types import utcnow

GENESIS_HASH = "0" * 64
CHECKPOINT_ACTION = "audit.keyed_checkpoint"
"""The first keyed event of a chain begun before the key: it covers every event before it."""
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
    """SHA-256 over the canonical JSON of every field of an event except its own hash and MAC
    (the hash is what exports carry and verify without the key; the MAC keys the hash)."""
    body = {k: v for k, v in fields.items() if k not in ("hash", "mac")}
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
    """Append one event inside ``conn``'s transaction and return it.

    A chain that has only unkeyed events (a store from before the key) first gets its keyed
    checkpoint. One with keyed events whose newest has none was tampered with: the event is
    linked after it all the same (``verify`` names the forgery; refusing would only stop
    the hub), and no checkpoint ever covers it.
    """
    ring = keyring()
    _lock(conn)
    last = _last(conn)
    if last is not None and last.mac is None and not _keyed(conn):
        last = _checkpoint(conn, ring, last.seq, last.hash)
    return _insert(
        conn,
        ring,
        last,
        actor=actor,
        action=action,
        subject=mask_text(subject),
        before=None if before is None else mask_structure(jsonable(before)),
        after=None if after is None else mask_structure(jsonable(after)),
    )


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK_KEY})


def _last(conn: Connection) -> Any:
    return conn.execute(
        select(audit_event.c.seq, audit_event.c.hash, audit_event.c.mac)
        .order_by(audit_event.c.seq.desc())
        .limit(1)
    ).first()


def _keyed(conn: Connection) -> bool:
    return (
        conn.execute(
            select(audit_event.c.seq).where(audit_event.c.mac.is_not(None)).limit(1)
        ).first()
        is not None
    )


def _insert(conn: Connection, ring: AuditKeyring, last: Any, **content: Any) -> AuditEvent:
    host, ip = _origin()
    fields: dict[str, Any] = {
        "seq": (last.seq + 1) if last else 1,
        **content,
        "host": host,
        "ip": ip,
        "occurred_at": utcnow(),
        "prev_hash": last.hash if last else GENESIS_HASH,
    }
    fields["hash"] = event_hash(fields)
    fields["mac"] = ring.event_mac(fields["hash"])
    conn.execute(insert(audit_event).values(**fields))
    return AuditEvent.model_validate(fields)


def _checkpoint(conn: Connection, ring: AuditKeyring, seq: int, head_hash: str) -> AuditEvent:
    return _insert(
        conn,
        ring,
        None if seq == 0 else _Link(seq, head_hash),
        actor="loanhub",
        action=CHECKPOINT_ACTION,
        subject=f"audit:1..{seq}",
        before=None,
        after={"legacy_through": seq, "legacy_head": head_hash},
    )


@dataclass(frozen=True)
class _Link:
    seq: int
    hash: str


def checkpoint_legacy(engine: Engine, ring: AuditKeyring | None = None) -> AuditEvent | None:
    """Key a chain begun before the key (``loanhub db upgrade`` and ``audit verify`` call it;
    the first append would too): one checkpoint event, or None when there is nothing unkeyed
    to cover (an empty chain, or one keyed already)."""
    with engine.begin() as conn:
        _lock(conn)
        last = _last(conn)
        if last is None or last.mac is not None or _keyed(conn):
            return None
        return _checkpoint(conn, ring or keyring(), last.seq, last.hash)


@dataclass(frozen=True)
class ChainReport:
    """What ``verify`` found: how many links held, and the first that did not."""

    checked: int
    broken_seq: int | None = None
    reason: str | None = None
    anchors: int = 0
    unkeyed: int = 0

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


def _anchors(ring: AuditKeyring) -> tuple[dict[int, list[Anchor]], ChainReport | None]:
    wanted: dict[int, list[Anchor]] = {}
    for path in audit_anchors.files(ring):
        try:
            found = audit_anchors.read(ring, path)
        except AnchorRefused as exc:
            return {}, ChainReport(0, 0, str(exc))
        wanted.setdefault(found.seq, []).append(found)
    return wanted, None


def verify(engine: Engine, *, ring: AuditKeyring | None = None, batch: int = 5000) -> ChainReport:
    """Walk the chain from the first event; report the first link, MAC or anchor that fails.

    Catches an edited event (its hash, or if rehashed its MAC, no longer matches), a deleted
    one (a gap and a broken ``prev_hash``), an inserted or forged one (no MAC or a wrong
    one: the key is not in the store), a whole chain replaced (MACs, anchors), and the
    newest events deleted or an old copy restored (the chain no longer reaches, or no longer
    holds, what an anchor recorded). What it cannot see: events deleted after the newest
    anchor, which is why the head is anchored after every DAG run and hourly.
    """
    ring = ring or keyring()
    wanted, refused = _anchors(ring)
    if refused is not None:
        return refused
    count = sum(len(v) for v in wanted.values())
    expected_seq, prev_hash, checked, unkeyed = 1, GENESIS_HASH, 0, 0
    legacy = True  # still in the unkeyed prefix a checkpoint may cover

    def broken(seq: int, reason: str) -> ChainReport:
        return ChainReport(checked, seq, reason, count, unkeyed)

    for row in _rows(engine, batch):
        seq = row["seq"]
        if seq != expected_seq:
            return broken(expected_seq, f"event {expected_seq} is missing (next stored is {seq})")
        if row["prev_hash"] != prev_hash:
            return broken(seq, "prev_hash does not match the previous event's hash")
        if event_hash(row) != row["hash"]:
            return broken(seq, "content does not match its hash (the event was altered)")
        if row["mac"] is None:
            if not legacy:
                return broken(seq, "the event has no MAC: written without the audit key (forged)")
            unkeyed += 1
        else:
            if not hmac.compare_digest(str(row["mac"]), ring.event_mac(row["hash"])):
                return broken(
                    seq,
                    "its MAC does not match (altered and rehashed, forged, or verified with "
                    "another key than the hub's)",
                )
            if legacy and seq > 1 and not _covers(row, seq - 1, prev_hash):
                return broken(
                    seq, f"events 1..{seq - 1} carry no MAC and no checkpoint covers them"
                )
            legacy = False
        for anchor in wanted.get(seq, ()):
            if anchor.hash != row["hash"]:
                return broken(
                    seq,
                    f"the event is not the one anchored in {anchor.path.name} at {anchor.at} "
                    "(the chain was rewritten or replaced)",
                )
        prev_hash, expected_seq, checked = row["hash"], expected_seq + 1, checked + 1
    beyond = [a for seq, found in wanted.items() if seq > checked for a in found]
    if beyond:
        newest = max(beyond, key=lambda a: a.seq)
        return broken(
            checked + 1,
            f"the chain ends at event {checked} but {newest.path.name} anchored event "
            f"{newest.seq} at {newest.at}: the newest events were removed",
        )
    return ChainReport(checked, anchors=count, unkeyed=unkeyed)


def _covers(row: dict[str, Any], through: int, head_hash: str) -> bool:
    """Is ``row`` the keyed checkpoint of the unkeyed events 1..``through``?"""
    return row["action"] == CHECKPOINT_ACTION and row["after"] == {
        "legacy_through": through,
        "legacy_head": head_hash,
    }


def head(engine: Engine) -> tuple[int, str]:
    """The chain's length and newest hash: what an anchor records."""
    with engine.connect() as conn:
        last = conn.execute(
            select(audit_event.c.seq, audit_event.c.hash)
            .order_by(audit_event.c.seq.desc())
            .limit(1)
        ).first()
    return (last.seq, last.hash) if last else (0, GENESIS_HASH)


def anchor(
    engine: Engine, *, ring: AuditKeyring | None = None, only_if_moved: bool = False
) -> Anchor | None:
    """Anchor the chain's head outside the store (a new read-only file, keyed).

    None when there is nothing to anchor: an empty chain, or with ``only_if_moved`` (after
    each DAG task) a head anchored already. A chain begun before the key is checkpointed
    first, so the anchor covers a keyed event.
    """
    ring = ring or keyring()
    with engine.connect() as conn:
        newest = _last(conn)
    if newest is None:
        return None
    if newest.mac is None:  # rare: a chain from before the key (a write transaction)
        checkpoint_legacy(engine, ring)
    seq, last = head(engine)
    if only_if_moved and audit_anchors.newest_seq(ring) >= seq:
        return None
    return audit_anchors.write(ring, seq, last)
