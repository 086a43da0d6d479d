"""Quarantine: a bad record is kept with its reason, never dropped and never half-loaded.

A record is still quarantined while its row has no ``reprocessed_at``. When an operator
reprocesses a source after a mapping fix (``loanhub.flows.operator_actions``), a record the
current mapping takes is stored and its rows are stamped (when, by whom, under which mapping
version): they stay as the trail of what was refused, but are no longer in the quarantine; a
record that still fails keeps its rows, with the current mapping's reason and version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, func, insert, select, update

from loanhub.platform import totals
from loanhub.platform.masking import mask_text
from mappings.engine import Refused
from schemas.hub import QuarantinedRecord
from schemas.tables import quarantined_record
from schemas.types import utcnow

QUARANTINED = "records_quarantined"
"""The running total of records ever quarantined, per source system (``/metrics``)."""


def _masked(value: Any, limit: int | None) -> str | None:
    if value is None:
        return None
    text = mask_text(value if isinstance(value, str) else repr(value))
    return text if limit is None else text[:limit]


def stored_reason(reason: str) -> str:
    """A reason as the quarantine keeps it: masked (source values quote personal data) and
    bounded."""
    return mask_text(reason)[:1000]


def quarantine(
    conn: Connection,
    *,
    source_system: str,
    source_ref: str,
    record_ref: str,
    reason: str,
    field_path: str | None = None,
    value: Any = None,
    raw: Any = None,
    mapping_version: str | None = None,
) -> QuarantinedRecord:
    """Store one refused record inside ``conn``'s transaction; values are masked first."""
    record = QuarantinedRecord(
        source_system=source_system,
        source_ref=source_ref[:255],
        record_ref=str(record_ref)[:80],
        field_path=field_path,
        value_masked=_masked(value, 500),
        reason=stored_reason(reason),
        raw_masked=_masked(raw, None),
        mapping_version=mapping_version,
        created_at=utcnow(),
    )
    conn.execute(insert(quarantined_record).values(**record.model_dump(exclude={"id"})))
    # counted as it is kept: taking it out of quarantine later does not lower the count
    totals.add(conn, {totals.key(QUARANTINED, system=source_system): 1})
    return record


def quarantine_validation_error(
    conn: Connection,
    error: ValidationError,
    *,
    source_system: str,
    source_ref: str,
    record_ref: str,
    raw: Any = None,
    mapping_version: str | None = None,
) -> list[QuarantinedRecord]:
    """One quarantine row per failed rule, each naming the field path the rule is about."""
    return [
        quarantine(
            conn,
            source_system=source_system,
            source_ref=source_ref,
            record_ref=record_ref,
            reason=detail["msg"].removeprefix("Value error, "),
            field_path=".".join(map(str, detail["loc"])) or None,
            value=detail.get("input"),
            raw=raw,
            mapping_version=mapping_version,
        )
        for detail in error.errors(include_url=False)
    ]


def quarantine_refused(
    conn: Connection,
    refused: Iterable[Refused],
    *,
    source_system: str,
    source_ref: str,
    mapping_version: str,
) -> int:
    """Store what a mapping refused, one row per refusal, values masked; a refusal already
    quarantined (same source, record and reason, still open) is not stored twice: a source
    answer taken again (a retaken file) adds nothing. Returns the refusals seen."""
    known = {
        (row.record_ref, row.reason)
        for row in conn.execute(
            select(quarantined_record.c.record_ref, quarantined_record.c.reason).where(
                quarantined_record.c.source_system == source_system,
                quarantined_record.c.source_ref == source_ref[:255],
                quarantined_record.c.reprocessed_at.is_(None),
            )
        )
    }
    count = 0
    for r in refused:
        count += 1
        if (f"{r.record}#{r.index}"[:80], stored_reason(r.reason)) in known:
            continue
        quarantine(
            conn,
            source_system=source_system,
            source_ref=source_ref,
            record_ref=f"{r.record}#{r.index}",
            reason=r.reason,
            field_path=r.field_path,
            value=r.value,
            mapping_version=mapping_version,
        )
    return count


@dataclass(frozen=True)
class QuarantinedSource:
    """One source (a file, an answer) with records still quarantined."""

    source_system: str
    source_ref: str
    records: int  # distinct records (one record may break several rules: one row each)
    rows: int
    mapping_version: str | None
    since: Any


def open_sources(engine: Engine, system: str | None = None) -> list[QuarantinedSource]:
    """The sources with records still quarantined, newest first."""
    q = quarantined_record
    query = (
        select(
            q.c.source_system,
            q.c.source_ref,
            func.count(func.distinct(q.c.record_ref)),
            func.count(),
            func.max(q.c.mapping_version),
            func.max(q.c.created_at),
        )
        .where(q.c.reprocessed_at.is_(None))
        .group_by(q.c.source_system, q.c.source_ref)
        .order_by(func.max(q.c.created_at).desc(), q.c.source_ref)
    )
    if system is not None:
        query = query.where(q.c.source_system == system)
    with engine.connect() as conn:
        return [QuarantinedSource(*row) for row in conn.execute(query)]


def open_records(
    conn: Connection, source_system: str, source_ref: str
) -> dict[str, list[QuarantinedRecord]]:
    """The rows still quarantined for one source, by record (locked: one reprocess at a time
    per source)."""
    rows = conn.execute(
        select(quarantined_record)
        .where(
            quarantined_record.c.source_system == source_system,
            quarantined_record.c.source_ref == source_ref,
            quarantined_record.c.reprocessed_at.is_(None),
        )
        .order_by(quarantined_record.c.id)
        .with_for_update()
    )
    found: dict[str, list[QuarantinedRecord]] = {}
    for row in rows:
        record = QuarantinedRecord.model_validate(dict(row._mapping))
        found.setdefault(record.record_ref, []).append(record)
    return found


def release_rows(
    conn: Connection, rows: Sequence[QuarantinedRecord], *, actor: str, mapping_version: str
) -> None:
    """The record is stored now: its rows leave the quarantine, stamped, kept as the trail."""
    conn.execute(
        update(quarantined_record)
        .where(quarantined_record.c.id.in_([r.id for r in rows]))
        .values(
            reprocessed_at=utcnow(), reprocessed_by=actor, stored_mapping_version=mapping_version
        )
    )


def requarantine(
    conn: Connection,
    rows: Sequence[QuarantinedRecord],
    refused: Sequence[Refused],
    *,
    mapping_version: str,
    actor: str,
) -> None:
    """The record still fails under ``mapping_version``: its rows say the current reasons
    (one per refusal: rows reused in place, a new one for an extra refusal, a surplus row
    stamped as left with no version, its reason gone)."""
    for row, r in zip(rows, refused, strict=False):
        conn.execute(
            update(quarantined_record)
            .where(quarantined_record.c.id == row.id)
            .values(
                reason=stored_reason(r.reason),
                field_path=r.field_path,
                value_masked=_masked(r.value, 500),
                mapping_version=mapping_version,
            )
        )
    for r in refused[len(rows) :]:
        first = rows[0]
        quarantine(
            conn,
            source_system=first.source_system,
            source_ref=first.source_ref,
            record_ref=first.record_ref,
            reason=r.reason,
            field_path=r.field_path,
            value=r.value,
            mapping_version=mapping_version,
        )
    surplus = [row.id for row in rows[len(refused) :]]
    if surplus:
        conn.execute(
            update(quarantined_record)
            .where(quarantined_record.c.id.in_(surplus))
            .values(reprocessed_at=utcnow(), reprocessed_by=actor)
        )


def release_stored(
    conn: Connection,
    source_system: str,
    source_ref: str,
    record_refs: Iterable[str],
    *,
    mapping_version: str,
    actor: str,
) -> int:
    """Records of a source taken again (a retaken file, a re-harvested answer) that the
    mapping stored this time: their open rows leave the quarantine, stamped. Returns how
    many rows left."""
    refs = [ref[:80] for ref in record_refs]
    if not refs:
        return 0
    done = conn.execute(
        update(quarantined_record)
        .where(
            quarantined_record.c.source_system == source_system,
            quarantined_record.c.source_ref == source_ref[:255],
            quarantined_record.c.record_ref.in_(refs),
            quarantined_record.c.reprocessed_at.is_(None),
        )
        .values(
            reprocessed_at=utcnow(), reprocessed_by=actor, stored_mapping_version=mapping_version
        )
    )
    return done.rowcount or 0
