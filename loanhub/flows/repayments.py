"""Ingest the core's nightly repayment extract into the canonical repayment installments.

One file goes through four steps, each a function below: **check** (``check_extract``: decode
and the LNREPAY checks, nothing stored), **keep** (its receipt, and the file itself; a file
already taken stops here), then either **reject** (a file refused as a whole is kept and
reported, and nothing of it is loaded) or **merge** (the refused records quarantined, the valid
ones merged, one transaction). What a record means in canonical columns is the mapping's
(``mappings.lnrepay``); what is loaded once, kept, refused or replaced is decided here.

On PostgreSQL the valid records go in with COPY (psycopg 3, CSV written by Arrow) into a
staging table, then one merge upserts them on (loan, installment) in the same transaction,
changing only rows whose values differ: loading a file twice changes nothing, and a corrected
re-delivery under the same name changes exactly the records that were wrong. The embedded
SQLite store takes the same merge through executemany (it only ever holds the demo's few
thousand rows).

A file is never read whole: from its path (``ingest_extract``, ``loanhub extract load``) it is
checked, kept (copied in blocks) and merged ``CHUNK_RECORDS`` records at a time
(``mappings.lnrepay.detail_chunks``), each chunk COPYed into the staging table with its
refused records quarantined beside it, so memory stays at one chunk whatever the file's
size (``make bench``: ``extract_memory_peak``).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects import sqlite

from connectors.extracts import CoreExtracts
from kernel.files import private_dir
from loanhub.platform import audit
from loanhub.platform.early_warnings import raise_once
from loanhub.platform.quarantine import quarantine, stored_reason
from loanhub.platform.receipts import FileReceiptBook
from mappings.copybook import Columns
from mappings.lnrepay import (
    COLUMNS,
    VALUES,
    ExtractResult,
    check_stream,
    detail_chunks,
    installment_rows,
    mapping_version,
)
from schemas.base import Lineage
from schemas.hub import FileState
from schemas.lending import EarlyWarning, WarningSeverity
from schemas.tables import quarantined_record, repayment_installment
from schemas.types import utcnow

SOURCE = "core"
log = logging.getLogger(__name__)
TAKEN = (FileState.LOADED, FileState.PARTIAL, FileState.REJECTED)  # a file in these is done


@dataclass
class LoadReport:
    """What one call did with one file: the receipt, the file's state and the counts, small
    enough for an XCom; ``check`` is the check's summary (quarantined records named)."""

    file: str
    sha256: str
    receipt: str  # new | duplicate | redelivery
    state: str  # LOADED | PARTIAL | REJECTED | SKIPPED (taken before)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    check: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Kept:
    """A file's receipt and where the file itself is kept (``None``: taken before, not kept
    again, nothing more to do)."""

    receipt: str  # new | duplicate | redelivery
    path: Path | None


@dataclass(frozen=True)
class Merged:
    """What the merge did: the file's final state and the valid records' fate."""

    state: FileState  # LOADED, or PARTIAL when records were quarantined
    inserted: int
    updated: int
    unchanged: int


@contextmanager
def opened(data: bytes | Path) -> Iterator[BinaryIO]:
    """An extract as a seekable binary file: its bytes, or the file at its path (read in
    chunks from there, never whole)."""
    if isinstance(data, bytes | bytearray | memoryview):
        yield io.BytesIO(data)
    else:
        with Path(data).open("rb") as source:
            yield source


def load_extract(
    engine: Engine,
    data: bytes | Path,
    name: str,
    receipts: FileReceiptBook,
    kept_dir: Path,
    actor: str = "loanhub",
) -> LoadReport:
    """Check, keep, then reject or merge one extract, once; every refused record quarantined.
    ``data`` is the file's bytes or, for a file of any size, its path."""
    with opened(data) as source:
        result = check_stream(source, name)
        kept = keep(source, result, receipts, kept_dir)
        report = LoadReport(name, result.sha256, kept.receipt, "SKIPPED", check=result.summary())
        if kept.path is None:
            return report  # this very file was taken before
        if result.rejected:
            reject(engine, result, kept.path, receipts, actor)
            return replace(report, state=FileState.REJECTED.value)
        merged = merge(engine, result, kept, receipts, actor, source)
    return replace(
        report,
        state=merged.state.value,
        inserted=merged.inserted,
        updated=merged.updated,
        unchanged=merged.unchanged,
    )


def keep(
    source: BinaryIO, result: ExtractResult, receipts: FileReceiptBook, kept_dir: Path
) -> Kept:
    """Record the file's receipt and keep its bytes, named by their hash, before anything is
    decided: a rejected file is evidence, a loaded one the lineage's raw payload. A file whose
    receipt says it was taken before (same name and hash, loaded or rejected) is not kept
    again; a duplicate still RECEIVED is a load that failed half-way, and goes on. The copy
    goes in blocks through a hidden temporary file renamed into place: a kept file is whole
    or absent."""
    size = source.seek(0, os.SEEK_END)
    receipt = receipts.record(SOURCE, result.name, result.sha256, size)
    if receipt == "duplicate" and receipts.state(SOURCE, result.name, result.sha256) in TAKEN:
        return Kept(receipt, None)
    private_dir(kept_dir)
    path = kept_dir / f"{result.sha256[:12]}-{result.name}"
    handle, temp = tempfile.mkstemp(prefix=".keep-", suffix=".part", dir=kept_dir)
    try:
        with os.fdopen(handle, "wb") as out:
            source.seek(0)
            shutil.copyfileobj(source, out, 1 << 20)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Kept(receipt, path)


REJECTED_RULE = "extract_rejected"


def rejection_warning(result: ExtractResult) -> EarlyWarning:
    """The early warning of a file refused as a whole, for operations (mailed by the notify
    path like every warning): keyed by the file's name and checksum, so one file raises it
    once however often it is taken, and a corrected re-delivery that fails again raises a new
    one. It names the file where a warning names a loan (no loan is concerned, all are)."""
    return EarlyWarning(
        warning_key=f"{REJECTED_RULE}:{result.name}:{result.sha256}"[:80],
        loan_account=result.name[:20],
        rule=REJECTED_RULE,
        severity=WarningSeverity.HIGH,
        message=(
            f"the core's extract {result.name} (sha256 {result.sha256[:12]}) was rejected, "
            f"nothing of it loaded: {result.rejected}. Ask the core for a corrected file "
            "under the same name; until then the night's repayments are unknown to the hub"
        )[:500],
        raised_at=utcnow(),
        risk_class="",
        lineage=Lineage(
            source_system=SOURCE,
            fetched_at=utcnow(),
            mapping_version=mapping_version(),
            raw_payload_hash=result.sha256,
        ),
    )


def reject(
    engine: Engine, result: ExtractResult, kept: Path, receipts: FileReceiptBook, actor: str
) -> None:
    """A file refused as a whole (trailer count, hash, framing): nothing of it is loaded; an
    alert is raised (the log line, and an early warning the notify path mails), the audit
    chain records it, then the receipt says REJECTED with the reason. The warning and the
    audit event go first, in one transaction: a receipt marked REJECTED is never without its
    warning (a crash between them leaves the receipt RECEIVED, and the next try rejects it
    again, the warning raised once by its key)."""
    name = result.name
    log.error(
        "ALERT extract %s rejected, nothing loaded, kept at %s: %s", name, kept, result.rejected
    )
    with engine.begin() as conn:
        raise_once(conn, rejection_warning(result))
        audit.append(
            conn,
            actor=actor,
            action="extract.rejected",
            subject=name,
            after={"reason": result.rejected, "kept": str(kept)},
        )
    receipts.mark(
        SOURCE, name, result.sha256, FileState.REJECTED, result.rejected, str(kept), records=(0, 0)
    )


def merge(
    engine: Engine,
    result: ExtractResult,
    kept: Kept,
    receipts: FileReceiptBook,
    actor: str,
    source: BinaryIO,
) -> Merged:
    """Quarantine the refused records and merge the valid ones, with their lineage and the
    audit event, in one transaction, chunk by chunk from ``source``; then mark the receipt
    LOADED or PARTIAL. Nothing is marked if the transaction fails: the receipt stays RECEIVED
    and the next try loads it."""
    lineage = {
        "source_system": SOURCE,
        "fetched_at": utcnow(),
        "mapping_version": mapping_version(),
        "raw_payload_hash": result.sha256,
    }
    state = FileState.PARTIAL if result.quarantined_total else FileState.LOADED
    rows = 0
    with engine.begin() as conn:
        known = _known_quarantined(conn, result.name)
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            _stage_postgres(conn)
        else:
            before = _installments_sqlite(conn)
            inserted = updated = 0
        for start, details in detail_chunks(source, result):
            _quarantine_refused(
                conn, result.name, start, details, known, lineage["mapping_version"]
            )
            table = installment_rows(details)
            rows += table.num_rows
            if postgres:
                _copy_postgres(conn, table)
            else:
                added, changed = _merge_sqlite(conn, table, lineage, before)
                inserted, updated = inserted + added, updated + changed
        if postgres:
            inserted, updated = _merge_postgres(conn, lineage)
        audit.append(
            conn,
            actor=actor,
            action="extract.loaded",
            subject=result.name,
            after={
                "receipt": kept.receipt,
                "valid": result.valid,
                "quarantined": result.quarantined_total,
                "inserted": inserted,
                "updated": updated,
                "hash_verified": result.hash_verified,
            },
        )
    receipts.mark(
        SOURCE,
        result.name,
        result.sha256,
        state,
        None,
        str(kept.path),
        records=(result.valid, result.quarantined_total),
    )
    return Merged(state, inserted, updated, rows - inserted - updated)


def _known_quarantined(conn: Connection, name: str) -> set[tuple[str, str]]:
    """What this file's name already has in quarantine: (record, stored reason)."""
    return {
        (r.record_ref, r.reason)
        for r in conn.execute(
            select(quarantined_record.c.record_ref, quarantined_record.c.reason).where(
                quarantined_record.c.source_system == SOURCE,
                quarantined_record.c.source_ref == name,
            )
        )
    }


def _quarantine_refused(
    conn: Connection,
    name: str,
    start: int,
    details: Columns,
    known: set[tuple[str, str]],
    version: str,
) -> None:
    """One chunk's refused records into quarantine, once: a re-delivery still carrying the
    same bad record (same position, same reason) does not quarantine it again."""
    v = details.values
    for i, reason in sorted(details.reasons.items()):
        record = str(start + i + 2)  # 1-based in the file, the header being record 1
        if (record, stored_reason(reason)) in known:
            continue
        quarantine(
            conn,
            source_system=SOURCE,
            source_ref=name,
            record_ref=record,
            reason=reason,
            field_path=reason.split(":", 1)[0],
            value=f"{v['DTL-LOAN-ACCOUNT'][i]}#{int(v['DTL-INSTALLMENT-NO'][i])}",
            mapping_version=version,
        )


def _stage_postgres(conn: Connection) -> None:
    conn.execute(
        text(
            "CREATE TEMP TABLE stage_repayment (loan_account varchar(20), installment_no int, "
            "customer_no varchar(12), due_date date, principal_due numeric(18,2), "
            "interest_due numeric(18,2), principal_paid numeric(18,2), "
            "interest_paid numeric(18,2), paid_date date, days_past_due int, status varchar(1)) "
            "ON COMMIT DROP"
        )
    )


def _copy_postgres(conn: Connection, table: pa.Table) -> None:
    """One chunk's valid records COPYed into the staging table (CSV written by Arrow)."""
    if not table.num_rows:
        return
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY stage_repayment ({', '.join(COLUMNS)}) FROM STDIN (FORMAT csv)") as copy,
    ):
        view = buffer.getbuffer()
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start : start + (1 << 20)])


def _merge_postgres(conn: Connection, lineage: dict[str, Any]) -> tuple[int, int]:
    """From the staging table, UPDATE what differs and INSERT what is new (an anti-join):
    set-based, at COPY speed, and a re-delivery touches only corrected rows.
    Returns (inserted, updated)."""
    # One loader at a time merges installments (two would race on the same keys).
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('repayment_installment merge'))"))
    conn.execute(text("ANALYZE stage_repayment"))  # a temp table has no statistics otherwise
    conn.execute(text("SET LOCAL work_mem = '256MB'"))  # the anti-join's hash stays in memory
    values = ", ".join(VALUES)
    # column names are this module's constants; values travel as bind parameters
    updated = conn.execute(
        text(
            f"UPDATE repayment_installment t SET ({values}, {', '.join(lineage)}) = "  # noqa: S608
            f"({', '.join(f's.{c}' for c in VALUES)}, {', '.join(f':{k}' for k in lineage)}) "
            "FROM stage_repayment s WHERE t.loan_account = s.loan_account "
            "AND t.installment_no = s.installment_no "
            f"AND ({', '.join(f't.{c}' for c in VALUES)}) IS DISTINCT FROM "
            f"({', '.join(f's.{c}' for c in VALUES)})"
        ),
        lineage,
    ).rowcount
    inserted = conn.execute(
        text(
            f"INSERT INTO repayment_installment ({', '.join(lineage)}, {', '.join(COLUMNS)}) "  # noqa: S608
            f"SELECT {', '.join(f':{k}' for k in lineage)}, "
            f"{', '.join(f's.{c}' for c in COLUMNS)} FROM stage_repayment s WHERE NOT EXISTS "
            "(SELECT 1 FROM repayment_installment t WHERE t.loan_account = s.loan_account "
            "AND t.installment_no = s.installment_no)"
        ),
        lineage,
    ).rowcount
    return inserted, updated


def _installments_sqlite(conn: Connection) -> dict[tuple[str, int], Any]:
    return {
        (r.loan_account, r.installment_no): r for r in conn.execute(repayment_installment.select())
    }


def _merge_sqlite(
    conn: Connection, table: pa.Table, lineage: dict[str, Any], before: dict[tuple[str, int], Any]
) -> tuple[int, int]:
    """The same merge for the embedded store: compare in Python, upsert the changed rows with
    executemany (a demo's few thousand rows). Returns (inserted, updated)."""
    rows = [{**lineage, **r} for r in table.to_pylist()]
    changed = [
        r
        for r in rows
        if (key := (r["loan_account"], r["installment_no"])) not in before
        or any(getattr(before[key], c) != r[c] for c in VALUES)
    ]
    if changed:
        stmt = sqlite.insert(repayment_installment)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["loan_account", "installment_no"],
                set_={c: stmt.excluded[c] for c in (*VALUES, *lineage)},
            ),
            changed,
        )
    inserted = sum((r["loan_account"], r["installment_no"]) not in before for r in changed)
    return inserted, len(changed) - inserted


def ingest_extract(
    engine: Engine,
    extracts: CoreExtracts,
    receipts: FileReceiptBook,
    business_date: date,
    keep: Path,
    actor: str,
) -> LoadReport | None:
    """Take the night's extract and load it once (the receipt book knows a file it has
    loaded); None while the core has not delivered it. Streamed from disk, never read
    whole."""
    taken = extracts.take(business_date)
    if taken is None:
        return None
    return load_extract(engine, taken.path, taken.name, receipts, keep, actor)
