"""A regulator's export of the audit chain: one self-contained JSON Lines file, sealed.

The file holds the events exactly as the chain stores them (already masked), each with the link
of the event that followed it, between a header naming the scope, the first event's
predecessor hash, the head hash and the count, and a seal: the ``audit.exported`` event this
export appends to the chain itself, naming the count and a manifest of the exported hashes.
Anyone checks it with ``contracts/audit_export.py`` (standard library only; a copy is
written beside every export), or with their own code from docs/audit-export.md.

Which events belong to a scope (a date range in the bank's time zone, an application) is the
flows' policy (``loanhub.flows.audit_export``); this module reads, writes and seals.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, cast, func, or_, select

from contracts import audit_export as audit_verify
from loanhub.platform import audit
from schemas.tables import audit_event
from schemas.types import utcnow

VERIFIER_NAME = "verify_audit_export.py"
_BATCH = 2000


def grouped(hexdigest: str) -> str:
    """A SHA-256 in eight groups of eight (``1a2b3c4d-...``), as the hub writes a hash into an
    audit event: the chain masks what it stores, and a plain hex digest now and then holds a
    run of digits the masking takes for a mobile number; groups of eight never do."""
    return "-".join(hexdigest[i : i + 8] for i in range(0, len(hexdigest), 8))


@dataclass(frozen=True)
class Selection:
    """The events of one scope: a contiguous window of sequence numbers, or the events
    (anywhere in the chain) that name one of ``identifiers`` as a whole word."""

    scope: dict[str, Any]
    first_seq: int | None = None  # contiguous: the window [first_seq, last_seq]
    last_seq: int | None = None
    identifiers: tuple[str, ...] = ()

    @property
    def contiguous(self) -> bool:
        return not self.identifiers


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    verifier: Path
    count: int
    first_seq: int | None
    last_seq: int | None
    seal_seq: int
    seal_hash: str


def seq_window(engine: Engine, start: datetime, end: datetime) -> tuple[int, int] | None:
    """The first and last sequence number of the events that occurred in [start, end): every
    event between them is exported, so the range is one unbroken piece of the chain."""
    with engine.connect() as conn:
        first = conn.execute(
            select(func.min(audit_event.c.seq)).where(audit_event.c.occurred_at >= start)
        ).scalar()
        last = conn.execute(
            select(func.max(audit_event.c.seq)).where(audit_event.c.occurred_at < end)
        ).scalar()
    if first is None or last is None or first > last:
        return None
    return int(first), int(last)


def _event(row: Any) -> dict[str, Any]:
    """An event as the file holds it: every field the hash covers, the timestamp as hashed."""
    event = {name: row[name] for name in audit_verify.EVENT_FIELDS}
    event["occurred_at"] = event["occurred_at"].isoformat(timespec="microseconds")
    return event


def _rows(engine: Engine, first: int, last: int) -> Iterator[dict[str, Any]]:
    after = first - 1
    while after < last:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    select(audit_event)
                    .where(audit_event.c.seq > after, audit_event.c.seq <= last)
                    .order_by(audit_event.c.seq)
                    .limit(_BATCH)
                )
                .mappings()
                .all()
            )
        if not rows:
            return
        yield from (dict(r) for r in rows)
        after = rows[-1]["seq"]


def _naming(engine: Engine, identifiers: Sequence[str], last: int) -> Iterator[dict[str, Any]]:
    """Events up to ``last`` whose subject, before or after names an identifier as a whole
    word (``APP1`` is not ``APP10``): the store narrows with LIKE, the pattern decides."""
    word = re.compile(
        "|".join(rf"(?<![A-Za-z0-9]){re.escape(i)}(?![A-Za-z0-9])" for i in identifiers)
    )
    columns = (
        audit_event.c.subject,
        cast(audit_event.c.before, String),
        cast(audit_event.c.after, String),
    )
    like = or_(*(c.contains(i, autoescape=True) for c in columns for i in identifiers))
    after = 0
    while True:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    select(audit_event)
                    .where(audit_event.c.seq > after, audit_event.c.seq <= last, like)
                    .order_by(audit_event.c.seq)
                    .limit(_BATCH)
                )
                .mappings()
                .all()
            )
        if not rows:
            return
        for row in rows:
            text = " ".join(
                [
                    row["subject"],
                    json.dumps(row["before"], ensure_ascii=False),
                    json.dumps(row["after"], ensure_ascii=False),
                ]
            )
            if word.search(text):
                yield dict(row)
        after = rows[-1]["seq"]


def _links(engine: Engine, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The link (seq, prev_hash, hash) of each event that follows one of ``seqs``."""
    wanted = [s + 1 for s in seqs]
    found: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for i in range(0, len(wanted), 500):
            for row in conn.execute(
                select(audit_event.c.seq, audit_event.c.prev_hash, audit_event.c.hash).where(
                    audit_event.c.seq.in_(wanted[i : i + 500])
                )
            ):
                found[row.seq] = {"seq": row.seq, "prev_hash": row.prev_hash, "hash": row.hash}
    return found


def _hash_of(engine: Engine, seq: int) -> str:
    if seq < 1:
        return audit.GENESIS_HASH
    with engine.connect() as conn:
        value = conn.execute(select(audit_event.c.hash).where(audit_event.c.seq == seq)).scalar()
    return value or audit.GENESIS_HASH


def _selected(engine: Engine, selection: Selection, as_of: int) -> Iterator[dict[str, Any]]:
    """The scope's events with their successor's link, in chain order, up to ``as_of``."""
    if selection.contiguous:
        if selection.first_seq is None or selection.last_seq is None:
            return
        last = min(selection.last_seq, as_of)
        pending: dict[str, Any] | None = None
        for row in _rows(engine, selection.first_seq, last):
            if pending is not None:
                yield {"event": pending, "next": _link(row)}
            pending = _event(row)
        if pending is not None:
            link = _links(engine, [pending["seq"]]).get(pending["seq"] + 1)
            yield {"event": pending, "next": link if pending["seq"] < as_of else None}
        return
    chunk: list[dict[str, Any]] = []
    for row in _naming(engine, selection.identifiers, as_of):
        chunk.append(_event(row))
        if len(chunk) == 500:
            yield from _with_links(engine, chunk, as_of)
            chunk = []
    yield from _with_links(engine, chunk, as_of)


def _link(row: dict[str, Any]) -> dict[str, Any]:
    return {"seq": row["seq"], "prev_hash": row["prev_hash"], "hash": row["hash"]}


def _with_links(
    engine: Engine, events: list[dict[str, Any]], as_of: int
) -> Iterator[dict[str, Any]]:
    links = _links(engine, [e["seq"] for e in events])
    for event in events:
        link = links.get(event["seq"] + 1) if event["seq"] < as_of else None
        yield {"event": event, "next": link}


def write_export(
    engine: Engine,
    selection: Selection,
    out: Path,
    *,
    actor: str,
    exported_at: Callable[[], datetime] = utcnow,
) -> ExportSummary:
    """Write the scope's events to ``out`` (owner-only), seal the export with an
    ``audit.exported`` event, and put the verifier beside it.

    The events are read up to the chain's head as of the start (``as_of``), without holding
    the chain's append lock: appends go on meanwhile, and the seal lands after them. The file
    appears whole or not at all (written aside, then renamed)."""
    as_of_seq, as_of_hash = audit.head(engine)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest = hashlib.sha256()
    count, first, last, first_prev = 0, None, None, None
    with tempfile.TemporaryFile("w+", encoding="utf-8", dir=out.parent) as body:
        for line in _selected(engine, selection, as_of_seq):
            event = line["event"]
            if first is None:
                first, first_prev = event["seq"], event["prev_hash"]
            last, count = event["seq"], count + 1
            manifest.update(audit_verify.manifest_line(event))
            body.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        if selection.contiguous or first_prev is None:
            # the stored hash of the event before the first: a broken link shows in the file
            before = (first or selection.first_seq or as_of_seq + 1) - 1
            first_prev = _hash_of(engine, min(before, as_of_seq))
        head = first_prev if last is None else _hash_of(engine, last)
        digest = manifest.hexdigest()
        with engine.begin() as conn:
            seal = audit.append(
                conn,
                actor=actor,
                action=audit_verify.SEAL_ACTION,
                subject=f"audit export ({audit_verify.describe(selection.scope)})",
                after={
                    "scope": selection.scope,
                    "count": count,
                    "first_seq": first,
                    "last_seq": last,
                    "as_of_seq": as_of_seq,
                    "manifest_sha256": grouped(digest),
                    "file": out.name,
                },
            )
        header = {
            "format": audit_verify.FORMAT,
            "version": audit_verify.VERSION,
            "scope": selection.scope,
            "contiguous": selection.contiguous,
            "count": count,
            "first_seq": first,
            "last_seq": last,
            "prev_hash": first_prev,
            "head_hash": head,
            "as_of": {"seq": as_of_seq, "hash": as_of_hash},
            "manifest_sha256": digest,
            "seal_seq": seal.seq,
            "exported_at": exported_at().isoformat(timespec="seconds"),
            "exported_by": actor,
            "verify_with": f"python3 {VERIFIER_NAME} {out.name}",
            "algorithm": "docs/audit-export.md; the verifier's docstring",
        }
        with engine.connect() as conn:
            sealed = conn.execute(select(audit_event).where(audit_event.c.seq == seal.seq))
            seal_event = _event(sealed.mappings().one())
        fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(header, ensure_ascii=False, sort_keys=True) + "\n")
                body.seek(0)
                shutil.copyfileobj(body, handle)
                handle.write(
                    json.dumps({"seal": seal_event}, ensure_ascii=False, sort_keys=True) + "\n"
                )
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, out)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    verifier = out.parent / VERIFIER_NAME
    shutil.copyfile(Path(audit_verify.__file__), verifier)
    return ExportSummary(out, verifier, count, first, last, seal.seq, seal.hash)
