"""An EBCDIC record encoder written for the tests from the catalogue's layout (section 4),
not the decoder run backwards and not the simulator's encoder."""

from __future__ import annotations

from decimal import Decimal


def zoned(value: int, width: int) -> bytes:
    return bytes(0xF0 | int(c) for c in f"{value:0{width}d}")


def text(value: str, width: int) -> bytes:
    return value.ljust(width)[:width].encode("cp037")


def packed(value: Decimal | int, digits: int, sign: int | None = None) -> bytes:
    """``digits`` counts all digits (integer and decimal); value in minor units if int."""
    units = abs(int(value))
    nibbles = [int(c) for c in f"{units:0{digits + (1 - digits % 2)}d}"]
    nibbles.append(sign if sign is not None else (0xD if int(value) < 0 else 0xC))
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def binary(value: int, width: int = 2) -> bytes:
    return value.to_bytes(width, "big", signed=True)


def detail(
    loan: str,
    customer: int,
    no: int,
    due: int,
    p_due: int,
    i_due: int,
    p_paid: int,
    i_paid: int,
    paid: int,
    dpd: int,
    status: str,
    signs: tuple[int, ...] = (),
) -> bytes:
    s = list(signs) + [None] * 4
    return (
        text("D", 1)
        + text(loan, 20)
        + zoned(customer, 12)
        + zoned(no, 3)
        + zoned(due, 8)
        + packed(p_due, 15, s[0])
        + packed(i_due, 15, s[1])
        + packed(p_paid, 15, s[2])
        + packed(i_paid, 15, s[3])
        + zoned(paid, 8)
        + binary(dpd)
        + text(status, 1)
    )


def header(day: int, bank: str = "LHB001") -> bytes:
    return (text("H", 1) + zoned(day, 8) + text(bank, 6)).ljust(87, b"\x40")


def trailer(count: int, hash_total: int) -> bytes:
    return (text("T", 1) + zoned(count, 9) + packed(hash_total, 17)).ljust(87, b"\x40")
