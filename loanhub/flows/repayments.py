"""Ingest the core's nightly repayment extract into the canonical repayment installments.

On PostgreSQL the valid records go in with COPY (psycopg 3, CSV written by Arrow) into a
staging table, then one merge upserts them on (loan, installment) in the same transaction,
changing only rows whose values differ: loading a file twice changes nothing, and a corrected
re-delivery under the same name changes exactly the records that were wrong. A rejected file
is kept and reported, and nothing of it is loaded. The embedded SQLite store takes the same
merge through executemany (it only ever holds the demo's few thousand rows).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects import sqlite

from loanhub.platform import audit
from loanhub.platform.quarantine import quarantine, stored_reason
from loanhub.platform.receipts import FileReceiptBook
from mappings.lnrepay import ExtractResult, check_extract, mapping_version
from schemas.hub import FileState
from schemas.tables import quarantined_record, repayment_installment
from schemas.types import utcnow

SOURCE = "core"
log = logging.getLogger(__name__)
COLUMNS = (
    "loan_account",
    "installment_no",
    "customer_no",
    "due_date",
    "principal_due",
    "interest_due",
    "principal_paid",
    "interest_paid",
    "paid_date",
    "days_past_due",
    "status",
)


@dataclass
class LoadReport:
    file: str
    sha256: str
    receipt: str  # new | duplicate | redelivery
    state: str  # LOADED | PARTIAL | REJECTED | SKIPPED (taken before)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    check: dict[str, Any] = field(default_factory=dict)


def _dates(yyyymmdd: np.ndarray) -> np.ndarray:
    y, m, d = yyyymmdd // 10000, (yyyymmdd // 100) % 100, yyyymmdd % 100
    safe = yyyymmdd != 0
    y, m, d = np.where(safe, y, 1970), np.where(safe, m, 1), np.where(safe, d, 1)
    days = ((y - 1970).astype("datetime64[Y]") + (m - 1).astype("timedelta64[M]")).astype(
        "datetime64[D]"
    ) + (d - 1).astype("timedelta64[D]")
    return days


def _money(cents: np.ndarray) -> pa.Array:
    """int64 minor units -> decimal128(18, 2) without a per-value Python step: the same
    integer, read with scale 2."""
    wide = np.empty((len(cents), 2), dtype=np.int64)
    wide[:, 0], wide[:, 1] = cents, np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(
        pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(wide.tobytes())]
    )


def valid_table(result: ExtractResult) -> pa.Table:
    """The valid records as an Arrow table in the order of ``COLUMNS``."""
    assert result.details is not None
    v, good = result.details.values, result.details.good
    paid = v["DTL-PAID-DATE"][good]
    return pa.table(
        {
            "loan_account": pa.array(v["DTL-LOAN-ACCOUNT"][good].astype(object), pa.string()),
            "installment_no": pa.array(v["DTL-INSTALLMENT-NO"][good]),
            "customer_no": pc.utf8_lpad(  # zero-padded to PIC 9(12), in Arrow
                pa.array(v["DTL-CUSTOMER-NO"][good]).cast(pa.string()), 12, "0"
            ),
            "due_date": pa.array(_dates(v["DTL-DUE-DATE"][good]), pa.date32()),
            "principal_due": _money(v["DTL-PRINCIPAL-DUE"][good]),
            "interest_due": _money(v["DTL-INTEREST-DUE"][good]),
            "principal_paid": _money(v["DTL-PRINCIPAL-PAID"][good]),
            "interest_paid": _money(v["DTL-INTEREST-PAID"][good]),
            "paid_date": pa.array(_dates(paid), pa.date32(), mask=paid == 0),
            "days_past_due": pa.array(v["DTL-DAYS-PAST-DUE"][good]),
            "status": pa.array(v["DTL-STATUS"][good].astype(object), pa.string()),
        }
    )


def _merge_postgres(conn: Connection, table: pa.Table, lineage: dict[str, Any]) -> tuple[int, int]:
    conn.execute(
        text(
            "CREATE TEMP TABLE stage_repayment (loan_account varchar(20), installment_no int, "
            "customer_no varchar(12), due_date date, principal_due numeric(18,2), "
            "interest_due numeric(18,2), principal_paid numeric(18,2), "
            "interest_paid numeric(18,2), paid_date date, days_past_due int, status varchar(1)) "
            "ON COMMIT DROP"
        )
    )
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
    # One loader at a time merges installments (two would race on the same keys).
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('repayment_installment merge'))"))
    conn.execute(text("ANALYZE stage_repayment"))  # a temp table has no statistics otherwise
    conn.execute(text("SET LOCAL work_mem = '256MB'"))  # the anti-join's hash stays in memory
    values = ", ".join(COLUMNS[2:])
    # column names are this module's constants; values travel as bind parameters
    updated = conn.execute(
        text(
            f"UPDATE repayment_installment t SET ({values}, {', '.join(lineage)}) = "  # noqa: S608
            f"({', '.join(f's.{c}' for c in COLUMNS[2:])}, {', '.join(f':{k}' for k in lineage)}) "
            "FROM stage_repayment s WHERE t.loan_account = s.loan_account "
            "AND t.installment_no = s.installment_no "
            f"AND ({', '.join(f't.{c}' for c in COLUMNS[2:])}) IS DISTINCT FROM "
            f"({', '.join(f's.{c}' for c in COLUMNS[2:])})"
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


def _merge_sqlite(conn: Connection, table: pa.Table, lineage: dict[str, Any]) -> tuple[int, int]:
    rows = [{**lineage, **r} for r in table.to_pylist()]
    before = {
        (r.loan_account, r.installment_no): r for r in conn.execute(repayment_installment.select())
    }
    changed = [
        r
        for r in rows
        if (key := (r["loan_account"], r["installment_no"])) not in before
        or any(getattr(before[key], c) != r[c] for c in COLUMNS[2:])
    ]
    if changed:
        stmt = sqlite.insert(repayment_installment)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["loan_account", "installment_no"],
                set_={c: stmt.excluded[c] for c in (*COLUMNS[2:], *lineage)},
            ),
            changed,
        )
    inserted = sum((r["loan_account"], r["installment_no"]) not in before for r in changed)
    return inserted, len(changed) - inserted


def load_extract(
    engine: Engine,
    data: bytes,
    name: str,
    receipts: FileReceiptBook,
    kept_dir: Path,
    actor: str = "loanhub",
) -> LoadReport:
    """Check, keep, and load one extract once; every refused record quarantined."""
    result = check_extract(data, name)
    receipt = receipts.record(SOURCE, name, result.sha256, len(data))
    report = LoadReport(name, result.sha256, receipt, "SKIPPED", check=result.summary())
    done = (FileState.LOADED, FileState.PARTIAL, FileState.REJECTED)
    if receipt == "duplicate" and receipts.state(SOURCE, name, result.sha256) in done:
        return report  # this very file was taken before
    # (a duplicate still RECEIVED is a load that failed half-way: it is loaded now)
    kept_dir.mkdir(parents=True, exist_ok=True)
    kept = kept_dir / f"{result.sha256[:12]}-{name}"
    kept.write_bytes(data)
    if result.rejected:
        log.error(
            "ALERT extract %s rejected, nothing loaded, kept at %s: %s", name, kept, result.rejected
        )
        receipts.mark(
            SOURCE,
            name,
            result.sha256,
            FileState.REJECTED,
            result.rejected,
            str(kept),
            records=(0, 0),
        )
        with engine.begin() as conn:
            audit.append(
                conn,
                actor=actor,
                action="extract.rejected",
                subject=name,
                after={"reason": result.rejected, "kept": str(kept)},
            )
        report.state = FileState.REJECTED.value
        return report
    lineage = {
        "source_system": SOURCE,
        "fetched_at": utcnow(),
        "mapping_version": mapping_version(),
        "raw_payload_hash": result.sha256,
    }
    table = valid_table(result)
    with engine.begin() as conn:
        known = {
            (r.record_ref, r.reason)
            for r in conn.execute(
                select(quarantined_record.c.record_ref, quarantined_record.c.reason).where(
                    quarantined_record.c.source_system == SOURCE,
                    quarantined_record.c.source_ref == name,
                )
            )
        }
        for bad in result.quarantined_records:
            if (str(bad["record"]), stored_reason(bad["reason"])) in known:
                continue  # a re-delivery still carrying the same bad record: quarantined once
            quarantine(
                conn,
                source_system=SOURCE,
                source_ref=name,
                record_ref=str(bad["record"]),
                reason=bad["reason"],
                field_path=bad["reason"].split(":", 1)[0],
                value=f"{bad['loan_account']}#{bad['installment_no']}",
                mapping_version=lineage["mapping_version"],
            )
        merge = _merge_postgres if conn.dialect.name == "postgresql" else _merge_sqlite
        report.inserted, report.updated = merge(conn, table, lineage)
        report.unchanged = table.num_rows - report.inserted - report.updated
        report.state = (FileState.PARTIAL if result.quarantined_records else FileState.LOADED).value
        audit.append(
            conn,
            actor=actor,
            action="extract.loaded",
            subject=name,
            after={
                "receipt": receipt,
                "valid": result.valid,
                "quarantined": len(result.quarantined_records),
                "inserted": report.inserted,
                "updated": report.updated,
                "hash_verified": result.hash_verified,
            },
        )
    receipts.mark(
        SOURCE,
        name,
        result.sha256,
        FileState(report.state),
        None,
        str(kept),
        records=(result.valid, len(result.quarantined_records)),
    )
    return report
