"""The core's nightly ``LNREPAY.D<YYMMDD>`` extract: EBCDIC (cp037) fixed-length records laid
out by the copybook kept under version control (``contracts/copybooks/LNREPAY.cpy``).

This is the simulator's own encoder, built from the copybook's layout as ``contracts.copybook``
reads it (the hub's decoder is built from the same layout, and nothing else of the hub): it
writes what a mainframe would, quirks included: packed-decimal signs C, D and F all occur
(zero is written as -0 now and then); on request a record is corrupted in transfer (a bad
nibble) or the trailer disagrees with the details; a corrected file can be re-delivered under
the same name.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from contracts import LNREPAY_COPYBOOK
from contracts.copybook import CopybookError, Field, Layout, read_copybook
from simulators.dataset import BANK_CODE, Dataset, Installment, Loan

CODEPAGE = "cp037"


@cache
def layouts() -> dict[str, Layout]:
    """The LNREPAY records as the contract lays them out (the hub's decoder reads the same)."""
    return read_copybook(LNREPAY_COPYBOOK)


def packed(value: Decimal, digits: int, scale: int, sign_nibble: int | None = None) -> bytes:
    """COMP-3: two digits a byte, the last nibble the sign (C or F positive, D negative)."""
    units = int((abs(value) * (10**scale)).to_integral_value())
    text = f"{units:0{digits + scale}d}"
    if len(text) > digits + scale:
        raise ValueError(f"{value} does not fit S9({digits})V9({scale})")
    if len(text) % 2 == 0:
        text = "0" + text
    sign = 0xD if value < 0 else (sign_nibble if sign_nibble is not None else 0xC)
    nibbles = [int(c) for c in text] + [sign]
    return bytes(nibbles[i] << 4 | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def encode(field: Field, value: object, sign_nibble: int | None = None) -> bytes:
    """One field's bytes, as the core's COBOL program writes them: exactly ``field.length``
    of them, or an error (a value that does not fit would shift every field after it)."""
    if field.kind == "X":
        text = "" if value is None else str(value)
        raw = text.ljust(field.length)[: field.length].encode(CODEPAGE)
    elif field.kind == "9":  # zoned: one EBCDIC digit a byte, the implied decimals included
        if field.signed:
            raise CopybookError(f"{field.name}: signed zoned decimal is not written here")
        units = int((Decimal(str(value or 0)) * 10**field.scale).to_integral_value())
        raw = f"{units:0{field.length}d}".encode(CODEPAGE)
    elif field.kind == "COMP-3":
        raw = packed(Decimal(str(value)), field.digits, field.scale, sign_nibble)
    else:
        raw = int(value).to_bytes(field.length, "big", signed=field.signed)  # type: ignore[call-overload]
    if len(raw) != field.length:
        raise ValueError(f"{field.name}: {value!r} does not fit PIC {field.pic}")
    return raw


@dataclass
class Detail:
    loan_account: str
    customer_no: str
    installment: Installment


def details(dataset: Dataset, business_date: date, booked: Iterable[Loan] = ()) -> list[Detail]:
    """Installments due in the 31 days up to the business date, as the core reports them: the
    seeded book's (its history ends at the data set's business date) and those of the loans
    the core booked since from the hub's payments (``booked``, as they stand that night)."""
    out = []
    for loan in [*dataset.loans, *booked]:
        for inst in loan.installments:
            if 0 <= (business_date - inst.due_date).days <= 31 and inst.status != "D":
                out.append(Detail(loan.loan_account, loan.customer_no, inst))
    return out


def _values(d: Detail) -> dict[str, object]:
    i = d.installment
    return {
        "DTL-REC-TYPE": "D",
        "DTL-LOAN-ACCOUNT": d.loan_account,
        "DTL-CUSTOMER-NO": int(d.customer_no),
        "DTL-INSTALLMENT-NO": i.number,
        "DTL-DUE-DATE": int(f"{i.due_date:%Y%m%d}"),
        "DTL-PRINCIPAL-DUE": i.principal_due,
        "DTL-INTEREST-DUE": i.interest_due,
        "DTL-PRINCIPAL-PAID": i.principal_paid,
        "DTL-INTEREST-PAID": i.interest_paid,
        "DTL-PAID-DATE": int(f"{i.paid_date:%Y%m%d}") if i.paid_date else 0,
        "DTL-DAYS-PAST-DUE": i.days_past_due,
        "DTL-STATUS": i.status,
    }


def records(
    business_date: date,
    items: Iterable[Detail],
    *,
    seed: int = 0,
    corrupt: int = 0,
    trailer: str | None = None,
) -> Iterator[bytes]:
    """Header, details, trailer as fixed-length EBCDIC records.

    ``corrupt``: how many detail records get a bad nibble in a packed field;
    ``trailer``: ``count`` or ``hash`` to make the trailer disagree with the details.
    """
    layout = layouts()
    header, detail, trailer_fields = (
        layout["LNREPAY-HEADER"],
        layout["LNREPAY-DETAIL"],
        layout["LNREPAY-TRAILER"],
    )
    lrecl = detail.length  # RECFM=FB: every record has the detail record's length
    rng = random.Random(seed)  # noqa: S311 - reproducible quirks
    items = list(items)
    bad = set(rng.sample(range(len(items)), min(corrupt, len(items))))

    def pad(raw: bytes) -> bytes:
        return raw + b"\x40" * (lrecl - len(raw))

    head = {
        "HDR-REC-TYPE": "H",
        "HDR-BUSINESS-DATE": int(f"{business_date:%Y%m%d}"),
        "HDR-BANK-CODE": BANK_CODE,
    }
    yield pad(b"".join(encode(f, head.get(f.name)) for f in header if f.name != "FILLER"))
    total = Decimal("0.00")
    for n, item in enumerate(items):
        values = _values(item)
        total += item.installment.principal_paid + item.installment.interest_paid
        raw = bytearray()
        for f in detail:
            sign = None
            if f.kind == "COMP-3":  # the core writes zero now as +0 (C, F), now as -0 (D)
                sign = rng.choice((0xC, 0xF, 0xD) if values[f.name] == 0 else (0xC, 0xF))
            raw += encode(f, values[f.name], sign)
        if n in bad:
            offset = detail["DTL-PRINCIPAL-PAID"].offset
            raw[offset + 2] = (raw[offset + 2] & 0x0F) | 0xB0  # a nibble that is no digit
        yield bytes(raw)
    count = len(items) + (1 if trailer == "count" else 0)
    if trailer == "hash":
        total += Decimal("0.01")
    tail = {"TRL-REC-TYPE": "T", "TRL-RECORD-COUNT": count, "TRL-HASH-TOTAL": total}
    yield pad(b"".join(encode(f, tail.get(f.name)) for f in trailer_fields if f.name != "FILLER"))


def extract_name(business_date: date) -> str:
    return f"LNREPAY.D{business_date:%y%m%d}"


def write_extract(
    directory: Path, business_date: date, items: Iterable[Detail], **quirks: object
) -> Path:
    """Write atomically (temp name, then rename), as the core's transfer job does."""
    target = directory / extract_name(business_date)
    temp = target.with_name(target.name + ".part")
    with temp.open("wb") as out:
        for record in records(business_date, items, **quirks):  # type: ignore[arg-type]
            out.write(record)
    temp.replace(target)
    return target
