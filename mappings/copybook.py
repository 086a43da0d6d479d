"""The fixed-length EBCDIC records a COBOL copybook describes, decoded with numpy.

The layout (fields, offsets, byte lengths) is ``contracts.copybook``'s, the one reading of the
copybook that the simulated core's encoder shares; this module only turns bytes into values.
The records of a file are one ``uint8`` matrix (records x record length); every field is a
column slice of it, decoded for all records at once: no per-record Python loop on the hot
path. Decoded usages: ``PIC X(n)`` (EBCDIC text), ``PIC 9(n)`` (zoned, unsigned),
``PIC S9(n)V9(m) COMP-3`` (packed decimal; sign nibble C or F positive, D negative) and
``PIC S9(n) COMP`` (big-endian binary). A signed zoned field (a sign overpunched on its last
digit) is refused, not read as unsigned. A record with a nibble that is not a digit, a sign
that is not C, D or F, or a zoned byte that is not a digit is marked bad, with the field
named, and the rest decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from contracts.copybook import CopybookError, Layout

CODEPAGE = "cp037"
# EBCDIC byte -> its cp037 character's code point, for vectorised text decoding
_EBCDIC_TO_UNICODE = np.array(
    [ord(bytes([b]).decode(CODEPAGE)) for b in range(256)], dtype=np.uint32
)


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
    """EBCDIC columns -> an array of Python strings, the padding (X'40', spaces) stripped on
    the right; only spaces: X'41', a no-break space, is text."""
    width = block.shape[1]
    code_points = _EBCDIC_TO_UNICODE[block]  # records x width, uint32 = UTF-32 code units
    strings = np.ascontiguousarray(code_points).view(f"<U{width}").reshape(-1)
    return np.char.rstrip(strings, " ")


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
        if f.kind == "9" and f.signed:
            raise CopybookError(f"{f.name}: signed zoned decimal (PIC {f.pic}) is not decoded")
        block = records[:, f.span]
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
