"""The nightly repayment extract at COPY speed.

- ``extract_ingest_vs_copy``: a 1,000,000-record LNREPAY file decoded, checked (trailer and
  the vectorised contract), and loaded into PostgreSQL (COPY into staging + one merge) vs
  ``psql \\copy`` of the same rows, already decoded as CSV (lineage included), into a table
  of the target's shape (``LIKE repayment_installment INCLUDING ALL``: its keys and indexes).
  Goal >= 0.5 (stretch 0.7).
- ``extract_decode_only``: decoding and checking alone, against the same reference.
- ``extract_ingest_vs_bare_copy``: the same ingest against ``\\copy`` into the same columns
  without any key or index: the floor of the disk, not of a table one can merge into.
- ``extract_redelivery_vs_copy``: the same million records re-delivered with 10,000 corrected,
  merged over the loaded table (the UPDATE side of the merge), against the same reference.
- ``extract_naive_per_record``: for contrast, a per-record Python decode + ``executemany``
  on 20,000 records, against the same reference.
- ``extract_memory_peak``: the peak of Python's heap (tracemalloc: numpy, Arrow's Python side,
  psycopg) while the 1,000,000-record file is loaded from its path, against the file's own
  size (what merely reading it whole costs). Goal <= 0.5 (lower is better).
- ``extract_rss_peak``: the same load alone in a fresh process: its peak RSS (``VmHWM``,
  reset just before) above the process's RSS before the load, against the file's size
  (lower is better; file pages the kernel caches are not the process's).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.common import Result, scratch_database
from loanhub.flows.repayments import load_extract
from loanhub.platform.db import make_engine, upgrade
from loanhub.platform.receipts import FileReceiptBook
from mappings.lnrepay import check_extract, check_extract_file, installment_table

RECORDS = 1_000_000
NAIVE = 20_000
REDELIVERED = 10_000
_EBCDIC_DIGIT = 0xF0


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zoned EBCDIC digits of non-negative integers, one row per value."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (_EBCDIC_DIGIT + (values[:, None] // powers) % 10).astype(np.uint8)


def _packed(values: np.ndarray, nbytes: int) -> np.ndarray:
    digits = nbytes * 2 - 1
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    nibbles = np.empty((len(values), nbytes * 2), dtype=np.uint8)
    nibbles[:, :-1] = (np.abs(values)[:, None] // powers) % 10
    nibbles[:, -1] = np.where(values < 0, 0xD, 0xC)
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]


def synthetic_extract(n: int, corrected: int = 0) -> bytes:
    """``n`` distinct installments in the copybook's layout, built with numpy; ``corrected``
    of them carry a principal paid one cent higher (a re-delivery that fixes them)."""
    rng = np.random.default_rng(7)
    ids = np.arange(n, dtype=np.int64)
    p_due = rng.integers(10_000, 5_000_000, n)
    paid = np.where(rng.random(n) < 0.9, p_due, 0) + (ids < corrected)
    i_paid = np.where(paid > 0, p_due // 30, 0)
    rec = np.full((n, 87), 0x40, dtype=np.uint8)
    rec[:, 0] = 0xC4  # 'D'
    rec[:, 1], rec[:, 2] = 0xD3, 0xD5  # 'LN'
    rec[:, 3:21] = _digits(ids, 18)
    rec[:, 21:33] = _digits(100_000_000_000 + ids % 50_000, 12)
    rec[:, 33:36] = _digits(1 + ids % 36, 3)
    rec[:, 36:44] = _digits(np.full(n, 20261120), 8)
    rec[:, 44:52] = _packed(p_due, 8)
    rec[:, 52:60] = _packed(p_due // 30, 8)
    rec[:, 60:68] = _packed(paid, 8)
    rec[:, 68:76] = _packed(i_paid, 8)
    rec[:, 76:84] = _digits(np.where(paid > 0, 20261119, 0), 8)
    rec[:, 84:86] = 0
    rec[:, 86] = np.where(paid > 0, 0xD7, 0xD4)  # 'P' / 'M'
    header = np.full(87, 0x40, dtype=np.uint8)
    header[0] = 0xC8
    header[1:9] = _digits(np.array([20261120]), 8)[0]
    header[9:15] = np.frombuffer("LHB001".encode("cp037"), dtype=np.uint8)
    trailer = np.full(87, 0x40, dtype=np.uint8)
    trailer[0] = 0xE3
    trailer[1:10] = _digits(np.array([n]), 9)[0]
    trailer[10:19] = _packed(np.array([int(paid.sum() + i_paid.sum())]), 9)[0]
    return header.tobytes() + rec.tobytes() + trailer.tobytes()


def _naive(data: bytes, url: str, n: int) -> float:
    """Per-record Python decode and executemany: what a straightforward port does."""

    def packed(raw: bytes) -> Decimal:
        digits = "".join(f"{b >> 4}{b & 15}" for b in raw)[:-1]
        return Decimal(digits).scaleb(-2) * (-1 if raw[-1] & 15 == 0xD else 1)

    start = time.perf_counter()
    rows = []
    for i in range(1, n + 1):
        r = data[i * 87 : (i + 1) * 87]
        rows.append(
            (
                r[1:21].decode("cp037").strip(),
                int(r[33:36].decode("cp037")),
                packed(r[60:68]),
                packed(r[68:76]),
            )
        )
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE naive (loan varchar(20), inst int, p numeric(18,2), i numeric(18,2))"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO naive VALUES (%s, %s, %s, %s)", rows)
    return n / (time.perf_counter() - start)


_RSS_PROBE = """
import sys
from pathlib import Path
from loanhub.flows.repayments import load_extract
from loanhub.platform.db import make_engine
from loanhub.platform.receipts import FileReceiptBook

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)

url, path, kept = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
engine = make_engine(url)
engine.connect().close()
Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak (VmHWM) starts again from now
before = status("VmRSS")
load_extract(engine, path, "LNREPAY.D261122", FileReceiptBook(engine), kept)
print(status("VmHWM") - before)
"""


def _rss_of_load(url: str, path: Path, kept: Path) -> int:
    """Bytes of RSS a fresh process adds while loading ``path`` (its imports excluded)."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, url, str(path), str(kept)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


def run() -> list[Result]:
    data = synthetic_extract(RECORDS)
    with tempfile.TemporaryDirectory() as tmp, scratch_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        extract = Path(tmp) / "LNREPAY.D261120"
        extract.write_bytes(data)
        start = time.perf_counter()
        streamed = check_extract_file(extract)  # chunk by chunk from disk, as the hub does
        decode_rate = RECORDS / (time.perf_counter() - start)
        assert streamed.rejected is None, streamed.summary()
        assert streamed.valid == RECORDS
        check = check_extract(data, "LNREPAY.D261120")  # whole, for the reference's rows
        decoded = installment_table(check)  # the reference gets the same rows, lineage included
        for name, value in (
            ("source_system", "core"),
            ("fetched_at", "2026-11-24T00:00:00Z"),
            ("mapping_version", "0" * 16),
            ("raw_payload_hash", "0" * 64),
        ):
            decoded = decoded.append_column(name, pa.array([value] * RECORDS))
        csv_path = Path(tmp) / "decoded.csv"
        pacsv.write_csv(decoded, csv_path, pacsv.WriteOptions(include_header=False))
        start = time.perf_counter()
        report = load_extract(
            engine, extract, "LNREPAY.D261120", FileReceiptBook(engine), Path(tmp) / "kept"
        )
        ours = RECORDS / (time.perf_counter() - start)
        assert report.inserted == RECORDS, report
        size = extract.stat().st_size
        again_name = Path(tmp) / "LNREPAY.D261121"  # a new name: a whole pass, nothing changed
        again_name.write_bytes(data)
        tracemalloc.start()
        try:
            load_extract(
                engine, again_name, again_name.name, FileReceiptBook(engine), Path(tmp) / "kept"
            )
            heap_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        rss_peak = _rss_of_load(url, extract, Path(tmp) / "rss")
        fixed = synthetic_extract(RECORDS, corrected=REDELIVERED)
        start = time.perf_counter()
        again = load_extract(
            engine, fixed, "LNREPAY.D261120", FileReceiptBook(engine), Path(tmp) / "kept"
        )
        redelivery = RECORDS / (time.perf_counter() - start)
        assert (again.receipt, again.updated, again.inserted) == ("redelivery", REDELIVERED, 0)
        engine.dispose()
        with psycopg.connect(url, autocommit=True) as conn:  # the target's keys and indexes
            conn.execute("CREATE TABLE ref_installment (LIKE repayment_installment INCLUDING ALL)")
        start = time.perf_counter()
        subprocess.run(
            [
                "psql",
                url,
                "-q",
                "-c",
                f"\\copy ref_installment ({', '.join(decoded.column_names)}) FROM '{csv_path}' CSV",
            ],
            check=True,
            capture_output=True,
        )
        reference = RECORDS / (time.perf_counter() - start)
        with psycopg.connect(url, autocommit=True) as conn:  # and with no key, no index at all
            conn.execute(
                "CREATE TABLE bare_installment (LIKE repayment_installment INCLUDING DEFAULTS)"
            )
        start = time.perf_counter()
        subprocess.run(
            [
                "psql",
                url,
                "-q",
                "-c",
                f"\\copy bare_installment ({', '.join(decoded.column_names)}) "
                f"FROM '{csv_path}' CSV",
            ],
            check=True,
            capture_output=True,
        )
        bare = RECORDS / (time.perf_counter() - start)
        naive = _naive(data, url, NAIVE)
    ref = "psql \\copy of the same rows, decoded, into a table of the target's shape"
    mb = 1e6
    return [
        Result(
            "extract_memory_peak",
            heap_peak / mb,
            size / mb,
            "MB",
            "the file's own size; ours: tracemalloc's peak while loading it from its path",
            goal=0.5,
            lower_is_better=True,
        ),
        Result(
            "extract_rss_peak",
            rss_peak / mb,
            size / mb,
            "MB",
            "the file's own size; ours: peak RSS of a fresh process's load above its RSS before",
            lower_is_better=True,
        ),
        Result("extract_ingest_vs_copy", ours, reference, "rows/s", ref, goal=0.5),
        Result("extract_decode_only", decode_rate, reference, "rows/s", ref),
        Result("extract_naive_per_record", naive, reference, "rows/s", ref),
        Result(
            "extract_redelivery_vs_copy",
            redelivery,
            reference,
            "rows/s",
            ref + f"; a corrected re-delivery over a full table, {REDELIVERED} rows changed",
        ),
        Result(
            "extract_ingest_vs_bare_copy",
            ours,
            bare,
            "rows/s",
            "psql \\copy of the same rows into the same columns with no key or index",
        ),
    ]
