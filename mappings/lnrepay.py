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
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contracts import LNREPAY_COPYBOOK
from contracts.copybook import Layout, read_copybook
from mappings.copybook import Columns, decode_records

COPYBOOK = LNREPAY_COPYBOOK
RECORD_TYPES = {"H": 0xC8, "D": 0xC4, "T": 0xE3}  # EBCDIC
STATUSES = ("P", "L", "A", "M", "D")
MAX_CENTS = 10**16  # NUMERIC(18,2): 16 integer digits


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
    details: Columns | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "sha256": self.sha256,
            "business_date": self.business_date,
            "records": self.records,
            "valid": self.valid,
            "quarantined": dict(self.quarantined),
            "quarantined_records": self.quarantined_records,
            "principal_paid_total": str(self.principal_paid_total),
            "interest_paid_total": str(self.interest_paid_total),
            "trailer_ok": self.trailer_ok,
            "hash_verified": self.hash_verified,
            "rejected": self.rejected,
        }


def _cents(value: np.ndarray) -> Decimal:
    return Decimal(int(value.sum())).scaleb(-2)


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
    account, number = layout["DTL-LOAN-ACCOUNT"], layout["DTL-INSTALLMENT-NO"]
    first = _first_occurrences(np.hstack([raw[:, account.span], raw[:, number.span]]))
    rules.append((~first, "DTL-INSTALLMENT-NO: the same installment appears twice in the file"))
    for problem, reason in rules:
        for i in np.flatnonzero(problem & ~details.bad):
            details.reasons[int(i)] = reason
        details.bad |= problem


def check_extract(data: bytes, name: str = "") -> ExtractResult:
    """Decode and check a whole extract without loading anything."""
    result = ExtractResult(name=name, sha256=hashlib.sha256(data).hexdigest())
    lay = layouts()
    header, detail, trailer = lay["LNREPAY-HEADER"], lay["LNREPAY-DETAIL"], lay["LNREPAY-TRAILER"]
    width = detail.length
    if len(data) % width or len(data) < 2 * width:
        result.rejected = f"{len(data)} bytes is not a whole number of {width}-byte records"
        return result
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, width)
    types = records[:, 0]
    if types[0] != RECORD_TYPES["H"] or types[-1] != RECORD_TYPES["T"]:
        result.rejected = "the first record is not a header or the last not a trailer"
        return result
    head = decode_records(records[:1], header)
    tail = decode_records(records[-1:], trailer)
    if head.bad.any() or tail.bad.any():
        result.rejected = "header or trailer unreadable: " + "; ".join(
            {**head.reasons, **tail.reasons}.values()
        )
        return result
    result.business_date = str(int(head.values["HDR-BUSINESS-DATE"][0]))
    details = decode_records(records[1:-1], detail)
    raw_paid = details.values["DTL-PRINCIPAL-PAID"] + details.values["DTL-INTEREST-PAID"]
    _contract(details, records[1:-1], detail)
    result.details = details
    result.records = len(details.bad)
    result.valid = int(details.good.sum())
    for i, reason in sorted(details.reasons.items()):
        result.quarantined[reason] += 1
        result.quarantined_records.append(
            {
                "record": i + 2,  # 1-based position in the file, the header being record 1
                "loan_account": str(details.values["DTL-LOAN-ACCOUNT"][i]),
                "installment_no": int(details.values["DTL-INSTALLMENT-NO"][i]),
                "reason": reason,
            }
        )
    good = details.good
    result.principal_paid_total = _cents(details.values["DTL-PRINCIPAL-PAID"][good])
    result.interest_paid_total = _cents(details.values["DTL-INTEREST-PAID"][good])
    count = int(tail.values["TRL-RECORD-COUNT"][0])
    if count != result.records:
        result.rejected = f"trailer counts {count} detail records, the file has {result.records}"
        return result
    result.trailer_ok = True
    if details.bad.any():  # the catalogue: unverifiable, the quarantined records named
        result.hash_verified = None
        return result
    expected = int(tail.values["TRL-HASH-TOTAL"][0])
    actual = int(raw_paid.sum())
    if actual == expected:
        result.hash_verified = True
    else:
        result.hash_verified = False
        result.trailer_ok = False
        result.rejected = (
            f"trailer hash total {Decimal(expected).scaleb(-2)} differs from "
            f"the details' {Decimal(actual).scaleb(-2)}"
        )
    return result


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
    v, good = result.details.values, result.details.good
    return pa.table(
        {column: convert(v[source][good]) for column, source, convert in INSTALLMENT_COLUMNS}
    )
