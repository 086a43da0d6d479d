"""The core's nightly repayment extract (``LNREPAY.D<YYMMDD>``): decode, check, and map.

Decoding follows the copybook under ``contracts/`` (its layout read by ``contracts.copybook``,
its bytes by ``mappings.copybook``); mapping turns the valid detail records into the canonical
repayment installment's columns (``installment_table``), which the load in
``loanhub.flows.repayments`` merges as they are.

The file's trailer is checked exactly as the catalogue (legacy-systems.md, section 4) says:
its record count must equal the number of detail records, quarantined ones included; its hash
total (principal paid + interest paid over every detail, as written) must match exactly when
nothing was quarantined, and is reported as unverifiable, naming the quarantined records, when
something was. A count mismatch, or a hash mismatch with nothing quarantined, rejects the whole
file: nothing of it is loaded. A detail whose record type was damaged in transfer is a corrupt
record (quarantined), not a reason to refuse the file.

Everything runs on whole columns (numpy): the schema contract of a repayment installment
(real dates, known status codes, amounts within NUMERIC(18,2)) is checked vectorised, so a
million records cost no million pydantic validations; a record that breaks it is quarantined
with the field and the reason, and the rest go on.

A file is read chunk by chunk (``CHUNK_RECORDS`` records at a time, from any seekable binary
file: ``check_extract_file`` on disk, ``check_extract`` on bytes already in memory), never
whole: the check holds one chunk plus 8 bytes per record (a 64-bit hash of each record's key,
for the "same installment twice" rule; records whose hashes meet are then compared byte by
byte, so a collision never quarantines anything), and the load (``detail_chunks``) decodes the
file a second time chunk by chunk, each chunk checked and mapped exactly as the first pass
found it. A 600 MB extract costs tens of megabytes, not gigabytes.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contracts import LNREPAY_COPYBOOK
from contracts.copybook import Layout, read_copybook
from kernel.failures import ContractError
from mappings.copybook import Columns, decode_records

COPYBOOK = LNREPAY_COPYBOOK
RECORD_TYPES = {"H": 0xC8, "D": 0xC4, "T": 0xE3}  # EBCDIC
STATUSES = ("P", "L", "A", "M", "D")
MAX_CENTS = 10**16  # NUMERIC(18,2): 16 integer digits
# records decoded at a time: ~3 MB of file, ~20 MB decoded and mapped; large enough that the
# per-chunk costs (numpy calls, a COPY write) vanish, small enough to be memory's bound
CHUNK_RECORDS = 1 << 15
# quarantined records named one by one in a result (all are quarantined; the count is whole)
LISTED = 1000
DUPLICATE = "DTL-INSTALLMENT-NO: the same installment appears twice in the file"
READ_BLOCK = 1 << 20


@cache
def layouts() -> dict[str, Layout]:
    return read_copybook(COPYBOOK)


@cache
def mapping_version() -> str:
    """The copybook's own hash: stored with every installment it produced."""
    return hashlib.sha256(COPYBOOK.read_bytes()).hexdigest()[:16]


@dataclass
class ExtractResult:
    """What a file holds, and whether it may be loaded."""

    name: str
    sha256: str
    records: int = 0
    valid: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    quarantined_records: list[dict[str, Any]] = field(default_factory=list)
    principal_paid_total: Decimal = Decimal("0.00")
    interest_paid_total: Decimal = Decimal("0.00")
    trailer_ok: bool = False
    hash_verified: bool | None = None  # None: unverifiable because records were quarantined
    business_date: str | None = None
    rejected: str | None = None  # why nothing of the file may be loaded
    details: Columns | None = None  # all details decoded: only when checked in one chunk
    # detail indices (0-based) of records repeating an earlier one's key: what the load's
    # second pass marks, every other rule being found again in each chunk
    duplicates: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    listed_all: bool = True  # False: quarantined_records names the first LISTED only

    @property
    def quarantined_total(self) -> int:
        return self.records - self.valid

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "sha256": self.sha256,
            "business_date": self.business_date,
            "records": self.records,
            "valid": self.valid,
            "quarantined": dict(self.quarantined),
            "quarantined_total": self.quarantined_total,
            "quarantined_records": self.quarantined_records,
            "principal_paid_total": str(self.principal_paid_total),
            "interest_paid_total": str(self.interest_paid_total),
            "trailer_ok": self.trailer_ok,
            "hash_verified": self.hash_verified,
            "rejected": self.rejected,
        }


def _valid_dates(yyyymmdd: np.ndarray, allow_zero: bool) -> np.ndarray:
    """True where the number is a real calendar date (or zero when allowed)."""
    y, m, d = yyyymmdd // 10000, (yyyymmdd // 100) % 100, yyyymmdd % 100
    plausible = (y >= 1900) & (y <= 2199) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    safe_y, safe_m = np.where(plausible, y, 2000), np.where(plausible, m, 1)
    first = (safe_y - 1970).astype("datetime64[Y]") + (safe_m - 1).astype("timedelta64[M]")
    days = (first + np.timedelta64(1, "M")).astype("datetime64[D]") - first.astype("datetime64[D]")
    ok = plausible & (d <= days.astype(np.int64))
    return ok | (allow_zero & (yyyymmdd == 0))


def _first_occurrences(key_bytes: np.ndarray) -> np.ndarray:
    """True for the first record of each key, the key being raw bytes (one row per record):
    a stable integer lexsort over the bytes packed into 64-bit words, no string compares."""
    n, width = key_bytes.shape
    words = -(-width // 8)
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, :width] = key_bytes
    packed = padded.view(">u8").reshape(n, words)
    order = np.lexsort(packed.T[::-1])  # stable: equal keys keep file order
    ordered = packed[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    first = np.zeros(n, dtype=bool)
    first[order[starts]] = True
    return first


def _contract(details: Columns, raw: np.ndarray, layout: Layout) -> None:
    """The repayment-installment contract, on whole columns; breaches are quarantined."""
    v = details.values
    text_fields = [f for f in layout.fields if f.kind == "X" and f.name != "FILLER"]
    # EBCDIC below 0x40 is control characters: NUL (low-values) cannot be stored as text
    text_bytes = np.hstack([raw[:, f.span] for f in text_fields])
    control = (text_bytes < 0x40).any(axis=1)
    rules = [
        (raw[:, 0] != RECORD_TYPES["D"], "DTL-REC-TYPE: not a detail record (damaged)"),
        (control, "text field holds control characters (low-values?)"),
        (~_valid_dates(v["DTL-DUE-DATE"], allow_zero=False), "DTL-DUE-DATE: not a date"),
        (~_valid_dates(v["DTL-PAID-DATE"], allow_zero=True), "DTL-PAID-DATE: not a date"),
        (~np.isin(v["DTL-STATUS"], STATUSES), "DTL-STATUS: unknown status code"),
        (v["DTL-INSTALLMENT-NO"] < 1, "DTL-INSTALLMENT-NO: must be 1 or more"),
        (np.char.str_len(v["DTL-LOAN-ACCOUNT"]) == 0, "DTL-LOAN-ACCOUNT: empty"),
    ]
    for name in (
        "DTL-PRINCIPAL-DUE",
        "DTL-INTEREST-DUE",
        "DTL-PRINCIPAL-PAID",
        "DTL-INTEREST-PAID",
    ):
        rules.append((np.abs(v[name]) >= MAX_CENTS, f"{name}: beyond NUMERIC(18,2)"))
    for problem, reason in rules:
        _mark(details, problem, reason)


def _mark(details: Columns, problem: np.ndarray, reason: str) -> None:
    """``reason`` for each record ``problem`` flags that no earlier rule refused."""
    for i in np.flatnonzero(problem & ~details.bad):
        details.reasons[int(i)] = reason
    details.bad |= problem
    details.__dict__.pop("good", None)  # a cached ``good`` no longer holds


def _key_bytes(raw: np.ndarray) -> np.ndarray:
    """An installment's key as the file writes it: loan account and installment number."""
    lay = layouts()["LNREPAY-DETAIL"]
    account, number = lay["DTL-LOAN-ACCOUNT"], lay["DTL-INSTALLMENT-NO"]
    return np.hstack([raw[:, account.span], raw[:, number.span]])


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _key_hash(key_bytes: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's key bytes (splitmix-style over 8-byte words): records with
    equal keys have equal hashes; equal hashes are then compared byte by byte."""
    n, width = key_bytes.shape
    words = -(-width // 8)
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, :width] = key_bytes
    packed = padded.view("<u8")
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for w in range(words):
            h = (h ^ packed[:, w]) * _MIX[w % 3]
            h ^= h >> np.uint64(31)
    return h


def _read_records(source: BinaryIO, first: int, count: int, width: int) -> np.ndarray:
    """``count`` records from record ``first`` on, as a (count x width) uint8 matrix."""
    out = np.empty(count * width, dtype=np.uint8)
    view, got = memoryview(out), 0
    source.seek(first * width)
    while got < len(out):
        n = source.readinto(view[got:])
        if not n:
            raise ContractError(f"the file ended at record {first + got // width}: it changed")
        got += n
    return out.reshape(count, width)


def _chunks(count: int, chunk: int) -> Iterator[tuple[int, int]]:
    for start in range(0, count, chunk):
        yield start, min(chunk, count - start)


def _checked(raw: np.ndarray) -> Columns:
    """One chunk of detail records decoded and checked against every rule but duplicates."""
    detail = layouts()["LNREPAY-DETAIL"]
    details = decode_records(raw, detail)
    _contract(details, raw, detail)
    return details


def _duplicates(source: BinaryIO, hashes: np.ndarray, chunk: int) -> np.ndarray:
    """Detail indices whose key repeats an earlier record's, in file order; exact: only
    records whose hashes meet are read again and compared byte by byte."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    meets = np.zeros(len(hashes), dtype=bool)
    same = ordered[1:] == ordered[:-1]
    meets[1:] |= same
    meets[:-1] |= same
    del ordered
    candidates = np.sort(order[meets])
    del order, meets
    if not len(candidates):
        return candidates
    width = layouts()["LNREPAY-DETAIL"].length
    keys = np.concatenate(
        [
            _key_bytes(_read_records(source, start + 1, n, width)[wanted - start])
            for start, n in _chunks(len(hashes), chunk)
            if len(wanted := _within(candidates, start, n))
        ]
    )
    return candidates[~_first_occurrences(keys)]


def _within(indices: np.ndarray, start: int, n: int) -> np.ndarray:
    """The sorted ``indices`` that fall in [start, start + n)."""
    lo, hi = np.searchsorted(indices, [start, start + n])
    return indices[lo:hi]


def detail_chunks(
    source: BinaryIO, result: ExtractResult, chunk: int | None = None
) -> Iterator[tuple[int, Columns]]:
    """The detail records again, chunk by chunk, decoded and checked as the check found them
    (duplicates included), each with the index of its first detail: what the load maps and
    merges, one chunk in memory at a time."""
    width = layouts()["LNREPAY-DETAIL"].length
    for start, n in _chunks(result.records, chunk or CHUNK_RECORDS):
        details = _checked(_read_records(source, start + 1, n, width))
        dup = np.zeros(n, dtype=bool)
        dup[_within(result.duplicates, start, n) - start] = True
        _mark(details, dup, DUPLICATE)
        yield start, details


def check_extract(data: bytes, name: str = "") -> ExtractResult:
    """Decode and check an extract held in memory, in one chunk, its details kept
    (``result.details``: the CLI's check and the reconciliation read them)."""
    records = max(len(data) // max(layouts()["LNREPAY-DETAIL"].length, 1), 1)
    return check_stream(io.BytesIO(data), name, chunk=records, keep_details=True)


def check_extract_file(path: Path, name: str | None = None) -> ExtractResult:
    """Decode and check an extract on disk in bounded memory (chunk by chunk)."""
    with path.open("rb") as source:
        return check_stream(source, path.name if name is None else name)


def file_sha256(source: BinaryIO) -> tuple[str, int]:
    """SHA-256 and size of a whole file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    source.seek(0)
    while block := source.read(READ_BLOCK):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def check_stream(
    source: BinaryIO, name: str = "", chunk: int | None = None, keep_details: bool = False
) -> ExtractResult:
    """Decode and check a whole extract, ``chunk`` records at a time (``CHUNK_RECORDS``),
    without loading anything. With ``keep_details`` (one chunk only) the decoded details are
    kept."""
    chunk = chunk or CHUNK_RECORDS
    sha256, size = file_sha256(source)
    result = ExtractResult(name=name, sha256=sha256)
    lay = layouts()
    header, detail, trailer = lay["LNREPAY-HEADER"], lay["LNREPAY-DETAIL"], lay["LNREPAY-TRAILER"]
    width = detail.length
    if size % width or size < 2 * width:
        result.rejected = f"{size} bytes is not a whole number of {width}-byte records"
        return result
    total = size // width
    first, last = _read_records(source, 0, 1, width), _read_records(source, total - 1, 1, width)
    if first[0, 0] != RECORD_TYPES["H"] or last[0, 0] != RECORD_TYPES["T"]:
        result.rejected = "the first record is not a header or the last not a trailer"
        return result
    head, tail = decode_records(first, header), decode_records(last, trailer)
    if head.bad.any() or tail.bad.any():
        result.rejected = "header or trailer unreadable: " + "; ".join(
            {**head.reasons, **tail.reasons}.values()
        )
        return result
    result.business_date = str(int(head.values["HDR-BUSINESS-DATE"][0]))
    count = total - 2
    result.records = count
    hashes = np.empty(count, dtype=np.uint64)
    raw_paid = 0  # principal + interest paid over every detail, as written (the hash total)
    principal = interest = 0
    bad: list[tuple[int, str, str, int]] = []  # (index, reason, account, installment no)
    kept: Columns | None = None
    for start, n in _chunks(count, chunk):
        raw = _read_records(source, start + 1, n, width)
        details = _checked(raw)
        hashes[start : start + n] = _key_hash(_key_bytes(raw))
        v, good = details.values, details.good
        raw_paid += int(v["DTL-PRINCIPAL-PAID"].sum()) + int(v["DTL-INTEREST-PAID"].sum())
        principal += int(v["DTL-PRINCIPAL-PAID"][good].sum())
        interest += int(v["DTL-INTEREST-PAID"][good].sum())
        result.valid += int(good.sum())
        _note(result, bad, details, start, keep_details)
        if keep_details and n == count:
            kept = details
    result.duplicates = _duplicates(source, hashes, chunk)
    del hashes
    named = 0
    if len(result.duplicates):  # those no other rule refused leave the valid records
        for start, n in _chunks(count, chunk):
            wanted = _within(result.duplicates, start, n)
            if not len(wanted):
                continue
            details = _checked(_read_records(source, start + 1, n, width)[wanted - start])
            v, fresh = details.values, details.good  # not refused by another rule
            principal -= int(v["DTL-PRINCIPAL-PAID"][fresh].sum())
            interest -= int(v["DTL-INTEREST-PAID"][fresh].sum())
            result.valid -= int(fresh.sum())
            for i in np.flatnonzero(fresh):  # in file order: the first LISTED suffice
                result.quarantined[DUPLICATE] += 1
                if keep_details or named < LISTED:
                    named += 1
                    account = str(v["DTL-LOAN-ACCOUNT"][i])
                    number = int(v["DTL-INSTALLMENT-NO"][i])
                    bad.append((int(wanted[i]), DUPLICATE, account, number))
        if kept is not None:
            dup = np.zeros(count, dtype=bool)
            dup[result.duplicates] = True
            _mark(kept, dup, DUPLICATE)
    bad.sort()
    listed = bad if keep_details else bad[:LISTED]
    result.quarantined_records = [
        {"record": i + 2, "loan_account": a, "installment_no": no, "reason": r}
        for i, r, a, no in listed  # record: 1-based in the file, the header being record 1
    ]
    result.listed_all = len(result.quarantined_records) == result.quarantined_total
    result.details = kept
    result.principal_paid_total = Decimal(principal).scaleb(-2)
    result.interest_paid_total = Decimal(interest).scaleb(-2)
    counted = int(tail.values["TRL-RECORD-COUNT"][0])
    if counted != result.records:
        result.rejected = f"trailer counts {counted} detail records, the file has {result.records}"
        return result
    result.trailer_ok = True
    if result.quarantined_total:  # the catalogue: unverifiable, the quarantined records named
        result.hash_verified = None
        return result
    expected = int(tail.values["TRL-HASH-TOTAL"][0])
    if raw_paid == expected:
        result.hash_verified = True
    else:
        result.hash_verified = False
        result.trailer_ok = False
        result.rejected = (
            f"trailer hash total {Decimal(expected).scaleb(-2)} differs from "
            f"the details' {Decimal(raw_paid).scaleb(-2)}"
        )
    return result


def _note(
    result: ExtractResult,
    bad: list[tuple[int, str, str, int]],
    details: Columns,
    start: int,
    everything: bool,
) -> None:
    """Count one chunk's refused records by reason and name them (the first ``LISTED`` in
    file order unless ``everything``)."""
    v = details.values
    for i, reason in sorted(details.reasons.items()):
        result.quarantined[reason] += 1
        if everything or len(bad) < LISTED:
            account, number = str(v["DTL-LOAN-ACCOUNT"][i]), int(v["DTL-INSTALLMENT-NO"][i])
            bad.append((start + i, reason, account, number))


# --- mapping: valid detail records -> canonical repayment installment columns ---------------


def _dates(yyyymmdd: np.ndarray) -> np.ndarray:
    """``PIC 9(8)`` YYYYMMDD numbers -> ``datetime64[D]``, by calendar arithmetic on whole
    columns (no string parsing); zero (unpaid) becomes 1970-01-01, for the caller to mask."""
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


def _text(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(object), pa.string())


def _integer(values: np.ndarray) -> pa.Array:
    return pa.array(values)


def _customer_no(values: np.ndarray) -> pa.Array:
    """The customer number as the canonical model keeps it: text, zero-padded to its
    ``PIC 9(12)`` (the core's own rendering), in Arrow."""
    width = layouts()["LNREPAY-DETAIL"]["DTL-CUSTOMER-NO"].digits
    return pc.utf8_lpad(pa.array(values).cast(pa.string()), width, "0")


def _date(values: np.ndarray) -> pa.Array:
    return pa.array(_dates(values), pa.date32())


def _date_or_none(values: np.ndarray) -> pa.Array:
    """Zeros (``PIC 9(8)`` of an unpaid installment) are no date: NULL."""
    return pa.array(_dates(values), pa.date32(), mask=values == 0)


# canonical column <- LNREPAY-DETAIL field, converted; in the order the load writes them
INSTALLMENT_COLUMNS: tuple[tuple[str, str, Callable[[np.ndarray], pa.Array]], ...] = (
    ("loan_account", "DTL-LOAN-ACCOUNT", _text),
    ("installment_no", "DTL-INSTALLMENT-NO", _integer),
    ("customer_no", "DTL-CUSTOMER-NO", _customer_no),
    ("due_date", "DTL-DUE-DATE", _date),
    ("principal_due", "DTL-PRINCIPAL-DUE", _money),
    ("interest_due", "DTL-INTEREST-DUE", _money),
    ("principal_paid", "DTL-PRINCIPAL-PAID", _money),
    ("interest_paid", "DTL-INTEREST-PAID", _money),
    ("paid_date", "DTL-PAID-DATE", _date_or_none),
    ("days_past_due", "DTL-DAYS-PAST-DUE", _integer),
    ("status", "DTL-STATUS", _text),
)
COLUMNS = tuple(column for column, _, _ in INSTALLMENT_COLUMNS)
VALUES = COLUMNS[2:]  # all but the key (loan account, installment number): what may be corrected


def installment_table(result: ExtractResult) -> pa.Table:
    """The valid detail records as an Arrow table of the canonical repayment installment's
    columns, in the order of ``COLUMNS`` (lineage is the loader's to add)."""
    assert result.details is not None
    return installment_rows(result.details)


def installment_rows(details: Columns) -> pa.Table:
    """The valid records of decoded details (a whole file's or one chunk's) as canonical
    repayment installment columns."""
    v, good = details.values, details.good
    return pa.table(
        {column: convert(v[source][good]) for column, source, convert in INSTALLMENT_COLUMNS}
    )
