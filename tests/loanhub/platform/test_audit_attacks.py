"""Attacks on the audit chain by someone who can write its table (a DBA, the table's owner, a
restored backup) and not the hub's key or anchor directory: every one is caught by ``verify``.

Both stores: the MACs and anchors hold on the embedded SQLite as on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from loanhub.platform import audit, audit_anchors
from loanhub.platform.audit_keys import (
    AuditKeyError,
    AuditKeyring,
    AuditSettings,
    load_or_make_key,
    use_audit_keyring,
)
from loanhub.platform.db import make_engine, upgrade
from schemas.tables import audit_event

KEY = b"k" * 40


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[AuditKeyring]:
    """This test's audit key and anchor directory, installed as the process's."""
    keys = AuditKeyring(KEY, tmp_path / "anchors")
    use_audit_keyring(keys)
    yield keys
    use_audit_keyring(None)


def _chain(engine: Engine, n: int = 7) -> None:
    for i in range(1, n + 1):
        with engine.begin() as conn:
            audit.append(
                conn,
                actor="ops.li",
                action="decision.posted",
                subject=f"APP{i:06d}",
                after={"state": "APPROVED", "amount": f"{i}0000.00"},
            )


def _as_attacker(engine: Engine, *sql: str, params: dict[str, Any] | None = None) -> None:
    """Write the table the way its owner or a superuser can: the append-only trigger off."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET session_replication_role = replica"))
        for statement in sql:
            conn.execute(text(statement), params or {})


def _events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_event).order_by(audit_event.c.seq)).mappings().all()
    return [dict(r) for r in rows]


def _rewrite(engine: Engine, events: list[dict[str, Any]]) -> None:
    """Replace the whole table by ``events`` (hashes recomputed in order by the caller)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET session_replication_role = replica"))
        conn.execute(audit_event.delete())
        for event in events:
            conn.execute(insert(audit_event).values(**event))


def _rehash_from(events: list[dict[str, Any]], first: int) -> None:
    """The careful forger: every hash from ``first`` on recomputed in order, links intact."""
    for i, event in enumerate(events):
        if event["seq"] < first:
            continue
        if i:
            event["prev_hash"] = events[i - 1]["hash"]
        event["hash"] = audit.event_hash(event)


def test_an_untouched_keyed_chain_verifies(engine: Engine, ring: AuditKeyring) -> None:
    _chain(engine)
    assert all(len(e["mac"]) == 64 for e in _events(engine))
    audit.anchor(engine, ring=ring)
    report = audit.verify(engine, ring=ring)
    assert report.ok, report
    assert (report.checked, report.anchors, report.unkeyed) == (7, 1, 0)


def test_attack_1_edit_and_recompute_every_hash(engine: Engine, ring: AuditKeyring) -> None:
    _chain(engine)
    events = _events(engine)
    events[3]["actor"] = "ops.wang"
    _rehash_from(events, 4)
    _rewrite(engine, events)
    report = audit.verify(engine, ring=ring)
    assert report.broken_seq == 4
    assert "MAC does not match" in (report.reason or "")


def test_attack_1b_edit_rehash_and_drop_the_macs(engine: Engine, ring: AuditKeyring) -> None:
    """Without MACs the rewritten tail would pass for events from before the key: it does not."""
    _chain(engine)
    events = _events(engine)
    events[3]["after"] = {"state": "REJECTED"}
    _rehash_from(events, 4)
    for event in events[3:]:
        event["mac"] = None
    _rewrite(engine, events)
    report = audit.verify(engine, ring=ring)
    assert report.broken_seq == 4
    assert "no MAC" in (report.reason or "")


def test_attack_2_delete_the_newest_events(engine: Engine, ring: AuditKeyring) -> None:
    _chain(engine)
    audit.anchor(engine, ring=ring)
    _as_attacker(engine, "DELETE FROM audit_event WHERE seq > 4")
    report = audit.verify(engine, ring=ring)
    assert report.broken_seq == 5
    assert "the newest events were removed" in (report.reason or "")


def test_attack_2b_delete_the_newest_and_append_new_ones(
    engine: Engine, ring: AuditKeyring
) -> None:
    """Deleted, then the hub appends again up to the same length: the anchored event differs."""
    _chain(engine)
    audit.anchor(engine, ring=ring)
    _as_attacker(engine, "DELETE FROM audit_event WHERE seq > 4")
    _chain(engine, 3)
    report = audit.verify(engine, ring=ring)
    assert report.broken_seq == 7
    assert "not the one anchored" in (report.reason or "")


def test_attack_5_a_forged_event_at_the_head(engine: Engine, ring: AuditKeyring) -> None:
    _chain(engine, 5)
    events = _events(engine)
    forged = {
        **events[-1],
        "seq": 6,
        "actor": "ops.wang",
        "action": "decision.posted",
        "subject": "APP999999",
        "prev_hash": events[-1]["hash"],
        "occurred_at": datetime.now(UTC),
    }
    forged["hash"] = audit.event_hash(forged)
    for mac in (None, "0" * 64, AuditKeyring(b"x" * 40, ring.anchor_dir).event_mac(forged["hash"])):
        _as_attacker(engine, "DELETE FROM audit_event WHERE seq = 6")
        with engine.begin() as conn:
            conn.execute(insert(audit_event).values(**{**forged, "mac": mac}))
        report = audit.verify(engine, ring=ring)
        assert report.broken_seq == 6, mac
        assert "MAC" in (report.reason or "")


def test_a_forged_unkeyed_head_is_never_checkpointed(engine: Engine, ring: AuditKeyring) -> None:
    """The hub appends after a forgery (it links to it) but no checkpoint ever covers it."""
    _chain(engine, 3)
    events = _events(engine)
    forged = {**events[-1], "seq": 4, "prev_hash": events[-1]["hash"], "mac": None}
    forged["hash"] = audit.event_hash(forged)
    with engine.begin() as conn:
        conn.execute(insert(audit_event).values(**forged))
    _chain(engine, 1)
    assert audit.checkpoint_legacy(engine, ring) is None
    assert [e["action"] for e in _events(engine)].count(audit.CHECKPOINT_ACTION) == 0
    assert audit.verify(engine, ring=ring).broken_seq == 4


def test_attack_6_the_whole_chain_replaced(engine: Engine, ring: AuditKeyring) -> None:
    _chain(engine, 5)
    audit.anchor(engine, ring=ring)
    # a fresh, internally valid chain, longer, keyed with a key of the attacker's own
    _as_attacker(engine, "DELETE FROM audit_event")
    use_audit_keyring(AuditKeyring(b"a" * 40, ring.anchor_dir))
    _chain(engine, 8)
    use_audit_keyring(ring)
    report = audit.verify(engine, ring=ring)
    assert report.broken_seq == 1
    assert "MAC does not match" in (report.reason or "")
    # the same fresh chain with no MACs at all, posing as one from before the key
    events = _events(engine)
    for event in events:
        event["mac"] = None
    _rewrite(engine, events)
    report = audit.verify(engine, ring=ring)
    assert report.broken_seq == 5
    assert "not the one anchored" in (report.reason or "")


def test_anchor_files_are_write_once_owner_only_and_keyed(
    engine: Engine, ring: AuditKeyring
) -> None:
    _chain(engine, 3)
    made = audit.anchor(engine, ring=ring)
    assert made is not None
    assert made.seq == 3
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o400
    assert stat.S_IMODE(ring.anchor_dir.stat().st_mode) == 0o700
    assert audit.anchor(engine, ring=ring, only_if_moved=True) is None  # head anchored already
    with pytest.raises(FileExistsError):
        os.open(made.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    # an anchor forged by someone without the key (here: for a chain they shortened)
    body = json.loads(made.path.read_text(encoding="utf-8"))
    body.update(seq=2, hash=_events(engine)[1]["hash"], mac="0" * 64)
    fake = ring.anchor_dir / "anchor-000000000002-20260101T000000000000Z-1-00000000.json"
    fake.write_text(json.dumps(body), encoding="utf-8")
    report = audit.verify(engine, ring=ring)
    assert not report.ok
    assert "forged or damaged" in (report.reason or "")


def test_verify_with_another_key_fails(engine: Engine, ring: AuditKeyring) -> None:
    _chain(engine, 2)
    other = AuditKeyring(b"o" * 40, ring.anchor_dir)
    report = audit.verify(engine, ring=other)
    assert report.broken_seq == 1
    assert "another key" in (report.reason or "")


def test_the_key_file_is_made_once_owner_only_and_never_in_the_store(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    keys = AuditSettings().keyring(tmp_path / "data")
    path = tmp_path / "data" / "audit.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_make_key(path) == keys.key  # the same key the second time
    use_audit_keyring(keys)
    try:
        _chain(sqlite_engine, 2)
    finally:
        use_audit_keyring(None)
    dump = "\n".join(sqlite_engine.raw_connection().driver_connection.iterdump())  # type: ignore[union-attr]
    assert keys.key.decode() not in dump
    path.chmod(0o644)  # an old install's mode: tightened when read
    load_or_make_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(AuditKeyError, match="too short"):
        AuditSettings.model_validate({"key": "short"}).keyring(tmp_path)


LEGACY_INSERT = (
    "INSERT INTO audit_event (seq, actor, action, subject, before, after, host, ip, "
    "occurred_at, prev_hash, hash) VALUES (:seq, :actor, :action, :subject, NULL, NULL, "
    ":host, :ip, :occurred_at, :prev_hash, :hash)"
)


def _legacy_events(engine: Engine, n: int) -> None:
    """Events as a store before the key has them: hashed and linked, no MAC column at all."""
    prev = audit.GENESIS_HASH
    with engine.begin() as conn:
        for seq in range(1, n + 1):
            fields = {
                "seq": seq,
                "actor": "loanhub",
                "action": "legacy.event",
                "subject": f"APP{seq:06d}",
                "before": None,
                "after": None,
                "host": "hub-1",
                "ip": "10.0.0.1",
                "occurred_at": datetime(2026, 5, 1, 8, seq, tzinfo=UTC),
                "prev_hash": prev,
            }
            fields["hash"] = prev = audit.event_hash(fields)
            conn.execute(text(LEGACY_INSERT), fields)


def test_events_from_before_the_key_are_covered_by_one_checkpoint(
    tmp_path: Path, ring: AuditKeyring
) -> None:
    """A store from before the migration: its events are hashed, not keyed. The upgrade adds
    the MAC column; the first keyed use appends a checkpoint whose MAC covers them."""
    store = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store, "0017_running_totals")
    _legacy_events(store, 4)
    upgrade(store)
    report = audit.verify(store, ring=ring)
    assert report.ok
    assert report.unkeyed == 4
    _chain(store, 1)  # the first append keys the chain first
    events = _events(store)
    assert [e["action"] for e in events[4:]] == [audit.CHECKPOINT_ACTION, "decision.posted"]
    assert events[4]["after"] == {"legacy_through": 4, "legacy_head": events[3]["hash"]}
    report = audit.verify(store, ring=ring)
    assert report.ok
    assert report.checked == 6
    assert report.unkeyed == 4
    # a legacy event edited and the legacy hashes recomputed: the checkpoint's link breaks
    events[1]["actor"] = "ops.wang"
    _rehash_from(events[:4], 2)
    _rewrite(store, events)
    assert audit.verify(store, ring=ring).broken_seq == 5
    # the checkpoint removed and the chain relinked: unkeyed events no checkpoint covers
    events = [e for e in events if e["action"] != audit.CHECKPOINT_ACTION]
    events[4]["seq"] = 5
    _rehash_from(events, 5)
    _rewrite(store, events)
    report = audit.verify(store, ring=ring)
    assert report.broken_seq == 5
    assert "MAC does not match" in (report.reason or "")
    store.dispose()


def test_postgresql_refuses_truncate(pg_engine: Engine, ring: AuditKeyring) -> None:
    """TRUNCATE skips row triggers: a statement trigger refuses it, even for the owner."""
    from sqlalchemy.exc import DBAPIError

    _chain(pg_engine, 3)
    with pytest.raises(DBAPIError, match="append-only"), pg_engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_event"))
    assert audit.verify(pg_engine, ring=ring).checked == 3


def test_anchors_are_read_as_files_not_followed(engine: Engine, ring: AuditKeyring) -> None:
    """A symlink named like an anchor (pointing at a real one elsewhere) is refused."""
    _chain(engine, 2)
    made = audit.anchor(engine, ring=ring)
    assert made is not None
    outside = ring.anchor_dir.parent / "elsewhere.json"
    outside.write_bytes(made.path.read_bytes())
    (ring.anchor_dir / "anchor-000000000009-x.json").symlink_to(outside)
    assert "not a regular file" in (audit.verify(engine, ring=ring).reason or "")
    assert audit_anchors.newest_seq(ring) == 2  # the symlink's name is not a valid anchor's


def test_the_daily_walk_records_a_rewrite_as_broken(engine: Engine, ring: AuditKeyring) -> None:
    """What ``hub_housekeeping``'s ``verify_audit_chain`` and ``loanhub audit verify`` run: the
    rewrite is found and the broken result recorded (the chain alert reads it), not only
    returned."""
    from loanhub.platform import audit_checks

    _chain(engine)
    report, _ = audit_checks.walk(engine, ring, "loanhub")
    assert report.ok
    events = _events(engine)
    events[2]["subject"] = "APP999999"
    _rehash_from(events, 3)
    _rewrite(engine, events)
    report, _ = audit_checks.walk(engine, ring, "loanhub")
    recorded = audit_checks.latest(engine)
    assert recorded is not None
    assert (report.ok, recorded.ok, recorded.broken_seq) == (False, False, 3)
