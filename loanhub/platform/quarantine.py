"""Quarantine: a bad record is kept with its reason, never dropped and never half-loaded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, insert

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
    """Store what a mapping refused, one row per refusal, values masked."""
    count = 0
    for r in refused:
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
        count += 1
    return count
