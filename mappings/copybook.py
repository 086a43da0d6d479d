"""COBOL copybooks and the fixed-length EBCDIC records they describe, decoded with numpy.

The records of a file are one ``uint8`` matrix (records x record length); every field is a
column slice of it, decoded for all records at once: no per-record Python loop on the hot
path. Supported clauses: ``PIC X(n)`` (EBCDIC text), ``PIC 9(n)`` (zoned, unsigned),
``PIC S9(n)V9(m) COMP-3`` (packed decimal; sign nibble C or F positive, D negative) and
``PIC S9(n) COMP`` (big-endian binary). A record with a nibble that is not a digit, a sign
that is not C, D or F, or a zoned byte that is not a digit is marked bad, with the field
named, and the rest decode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

CODEPAGE = "cp037"
_FIELD = re.compile(
    r"^\s+05\s+(?P<name>[A-Z0-9-]+)\s+PIC\s+(?P<sign>S?)(?P<kind>[X9])\((?P<digits>\d+)\)"
    r"(?:V9\((?P<scale1>\d+)\)|V(?P<scale2>9+))?\s*(?P<usage>COMP-3|COMP)?\s*\.\s*$"
)
_RECORD = re.compile(r"^\s+01\s+(?P<name>[A-Z0-9-]+)\s*\.\s*$")
# EBCDIC byte -> its cp037 character's code point, for vectorised text decoding
_EBCDIC_TO_UNICODE = np.array(
    [ord(bytes([b]).decode(CODEPAGE)) for b in range(256)], dtype=np.uint32
)


class CopybookError(ValueError):
    """The copybook uses a clause this decoder does not know: refused, never guessed."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # X, 9, COMP-3, COMP
    digits: int
    scale: int
    signed: bool
    offset: int

    @property
    def length(self) -> int:
        if self.kind == "COMP-3":
            return (self.digits + self.scale) // 2 + 1
        if self.kind == "COMP":
            total = self.digits + self.scale
            return 2 if total <= 4 else 4 if total <= 9 else 8
        return self.digits + self.scale


@dataclass(frozen=True)
class Layout:
    name: str
    fields: tuple[Field, ...]

    @property
    def length(self) -> int:
        return sum(f.length for f in self.fields)

    def __getitem__(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def parse_copybook(text: str) -> dict[str, Layout]:
    """Each 01 record of the copybook with its 05 fields and their offsets."""
    layouts: dict[str, list[Field]] = {}
    current: list[Field] | None = None
    offset = 0
    for number, line in enumerate(text.splitlines(), 1):
        if (len(line) > 6 and line[6] == "*") or not line.strip():
            continue
        if m := _RECORD.match(line):
            current, offset = layouts.setdefault(m["name"], []), 0
            continue
        m = _FIELD.match(line)
        if m is None or current is None:
            raise CopybookError(f"line {number}: clause not supported: {line.strip()!r}")
        scale = int(m["scale1"] or len(m["scale2"] or ""))
        kind = m["usage"] or m["kind"]
        if kind in ("COMP", "COMP-3") and m["kind"] != "9":
            raise CopybookError(f"line {number}: {kind} needs a numeric PIC")
        f = Field(m["name"], kind, int(m["digits"]), scale, bool(m["sign"]), offset)
        current.append(f)
        offset += f.length
    return {name: Layout(name, tuple(fields)) for name, fields in layouts.items()}


def read_copybook(path: Path) -> dict[str, Layout]:
    return parse_copybook(path.read_text(encoding="ascii"))


@dataclass
class Columns:
    """Decoded fields of many records: numbers as int64 in minor units (scale kept aside)."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    bad: np.ndarray | None = None  # bool per record
    reasons: dict[int, str] = field(default_factory=dict)  # record index -> first problem

    @cached_property
    def good(self) -> np.ndarray:
        assert self.bad is not None
        return ~self.bad


def _flag(columns: Columns, problem: np.ndarray, reason: str) -> None:
    for i in np.flatnonzero(problem & ~columns.bad):
        columns.reasons[int(i)] = reason
    columns.bad |= problem


def decode_text(block: np.ndarray) -> np.ndarray:
    """EBCDIC columns -> an array of Python strings (right spaces stripped)."""
    width = block.shape[1]
    code_points = _EBCDIC_TO_UNICODE[block]  # records x width, uint32 = UTF-32 code units
    strings = np.ascontiguousarray(code_points).view(f"<U{width}").reshape(-1)
    return np.char.rstrip(strings)


# A packed byte holds two digits: its value 0..99, and whether either nibble is no digit.
_PAIR = np.array([(b >> 4) * 10 + (b & 0x0F) for b in range(256)], dtype=np.int64)
_PAIR_BAD = np.array([(b >> 4) > 9 or (b & 0x0F) > 9 for b in range(256)])
_SIGN_OK = np.array([(b & 0x0F) in (0xC, 0xD, 0xF) and (b >> 4) <= 9 for b in range(256)])


def decode_packed(block: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COMP-3 columns -> (value in units of 10**-scale, sign nibble, bad digit or sign).

    Byte-wise table lookups: each leading byte is two digits (0..99), the last byte one digit
    and the sign; no per-record loop and no nibble matrix.
    """
    leading, last = block[:, :-1], block[:, -1]
    bad = _PAIR_BAD[leading].any(axis=1) | ~_SIGN_OK[last]
    powers = 100 ** np.arange(leading.shape[1] - 1, -1, -1, dtype=np.int64)
    magnitude = (_PAIR[leading] @ powers) * 10 + (last >> 4).astype(np.int64)
    sign = (last & 0x0F).astype(np.int64)
    return np.where(sign == 0xD, -magnitude, magnitude), sign, bad


def decode_zoned(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unsigned zoned decimal (``PIC 9``): EBCDIC digits F0..F9 -> (value, bad)."""
    digits = (block & 0x0F).astype(np.int64)
    bad = ((block >> 4) != 0xF).any(axis=1) | (digits > 9).any(axis=1)
    powers = 10 ** np.arange(block.shape[1] - 1, -1, -1, dtype=np.int64)
    return np.where(digits > 9, 0, digits) @ powers, bad


def decode_binary(block: np.ndarray, signed: bool) -> np.ndarray:
    width = block.shape[1]
    kind = f">{'i' if signed else 'u'}{width}"
    return np.ascontiguousarray(block).view(kind).reshape(-1).astype(np.int64)


def decode_records(records: np.ndarray, layout: Layout) -> Columns:
    """Decode every field of ``layout`` for all rows of ``records`` (uint8, n x length)."""
    columns = Columns(bad=np.zeros(records.shape[0], dtype=bool))
    for f in layout.fields:
        if f.name == "FILLER":
            continue
        block = records[:, f.offset : f.offset + f.length]
        if f.kind == "X":
            columns.values[f.name] = decode_text(block)
        elif f.kind == "9":
            value, bad = decode_zoned(block)
            columns.values[f.name] = value
            _flag(columns, bad, f"{f.name}: not a zoned decimal digit")
        elif f.kind == "COMP-3":
            value, sign, bad = decode_packed(block, f.scale)
            columns.values[f.name] = value
            columns.values[f"{f.name}#sign"] = sign
            _flag(columns, bad, f"{f.name}: bad packed-decimal nibble")
        else:
            columns.values[f.name] = decode_binary(block, f.signed)
    return columns
