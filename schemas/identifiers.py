"""Chinese identifiers the hub meets in every source: validate before anything is sent or stored.

A bad checksum is bad input, never a lookup miss (legacy-systems.md): callers raise
``InvalidIdentifier`` early so that a typo never costs a bureau inquiry.

They belong to the canonical model (the lowest layer), which refuses a bad identifier; the
hub's use cases reach them as ``schemas.identifiers``.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "InvalidIdentifier",
    "luhn_ok",
    "resident_id_birth_date",
    "resident_id_check_char",
    "uscc_check_char",
    "validate_resident_id",
    "validate_uscc",
]


class InvalidIdentifier(ValueError):
    """An identifier failed validation; the message says which rule and where."""


# GB 11643-1999: ISO 7064 MOD 11-2 weights for the first 17 digits, and the check characters.
_RID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_RID_CHECK = "10X98765432"
# First digit of the administrative division code (GB/T 2260) by province group.
_RID_REGION_FIRST = frozenset("123456789")
_RID_PROVINCES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
        83,
        91,
    }
)

# GB 32100-2015: 31-character alphabet without I, O, Z, S, V; weights 3^i mod 31.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_REGISTRY = frozenset("123456789ANY")
_USCC_RE = re.compile(rf"^[{_USCC_ALPHABET}]{{18}}$")


def _normalised(value: object, what: str) -> str:
    """Both identifiers are 18 characters of text, compared upper-case."""
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{what} must be text, got {type(value).__name__}")
    v = value.strip().upper()
    if len(v) != 18:
        raise InvalidIdentifier(f"{what} must have 18 characters, got {len(v)}")
    return v


def _checked(value: str, expected: str, what: str, algorithm: str) -> str:
    if value[17] != expected:
        raise InvalidIdentifier(
            f"{what} check character is {value[17]!r}, expected {expected!r} ({algorithm})"
        )
    return value


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character for 17 digits (``X`` stands for 10)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise InvalidIdentifier(f"resident ID body must be 17 digits, got {len(first17)} chars")
    total = sum(int(d) * w for d, w in zip(first17, _RID_WEIGHTS, strict=True))
    return _RID_CHECK[total % 11]


def resident_id_birth_date(value: str) -> date:
    """The birth date encoded in positions 7-14, refusing impossible dates."""
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise InvalidIdentifier(
            f"resident ID birth date {value[6:14]!r} (positions 7-14) is not a date"
        ) from exc


def validate_resident_id(value: str, *, today: date | None = None) -> str:
    """Return the normalised 18-character resident ID (upper-case ``X``) or raise.

    Checks length and charset, the province part of the region code, the birth date (a real
    date between 1900 and today) and the MOD 11-2 check character.
    """
    v = _normalised(value, "resident ID")
    if not (v[:17].isascii() and v[:17].isdigit()) or not (v[17].isdigit() or v[17] == "X"):
        raise InvalidIdentifier("resident ID must be 17 digits followed by a digit or X")
    if int(v[:2]) not in _RID_PROVINCES:
        raise InvalidIdentifier(f"resident ID region {v[:6]} has no province {v[:2]}")
    born = resident_id_birth_date(v)
    upper = today or date.today()  # noqa: DTZ011 - a calendar date, not a timestamp
    if not date(1900, 1, 1) <= born <= upper:
        raise InvalidIdentifier(f"resident ID birth date {born.isoformat()} is out of range")
    return _checked(v, resident_id_check_char(v[:17]), "resident ID", "ISO 7064 MOD 11-2")


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    if len(first17) != 17 or any(c not in _USCC_VALUE for c in first17):
        raise InvalidIdentifier("USCC body must be 17 characters of the GB 32100 alphabet")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Return the normalised 18-character unified social credit code or raise.

    The alphabet excludes I, O, Z, S and V; position 1 is the registering authority, the
    region code (positions 3-8) is numeric, and the last character is the MOD 31 check.
    """
    v = _normalised(value, "USCC")
    if not _USCC_RE.match(v):
        bad = sorted({c for c in v if c not in _USCC_VALUE})
        raise InvalidIdentifier(f"USCC has characters outside GB 32100's alphabet: {bad}")
    if v[0] not in _USCC_REGISTRY:
        raise InvalidIdentifier(f"USCC registering authority {v[0]!r} is not a known code")
    if not v[2:8].isdigit():
        raise InvalidIdentifier(f"USCC region code {v[2:8]!r} (positions 3-8) must be digits")
    return _checked(v, uscc_check_char(v[:17]), "USCC", "GB 32100 MOD 31")


def luhn_ok(number: str) -> bool:
    """True when a digit string passes the Luhn check used by bank card numbers."""
    if not number or not number.isascii() or not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
