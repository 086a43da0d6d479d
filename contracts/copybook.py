"""A COBOL copybook's record layouts: each 01 record's 05 fields, with their PIC, usage, offset
and length in bytes.

This is the one reading of a copybook. The hub's decoder (``mappings.copybook``, numpy) and the
simulated core's encoder (``simulators.extract``) are each built from these layouts, so the two
sides of the interface can disagree on how a value is written, and the tests catch it, but
never on where a field starts or how long it is.

Byte lengths, as IBM Enterprise COBOL stores them (the digit count is every 9 of the PIC,
integer and decimal: ``S9(13)V99`` is 15 digits; ``V`` and ``S`` take no byte of their own):

- ``PIC X(n)``: n bytes, one a character;
- ``PIC 9(n)V9(m)`` (``DISPLAY``, zoned): one byte a digit, n + m;
- ``COMP-3`` (packed decimal): two digits a byte and the sign in the last nibble,
  ceil((n + m + 1) / 2);
- ``COMP`` (binary): a halfword up to 4 digits, a fullword up to 9, a doubleword up to 18.

Supported clauses are only those: a copybook with anything else (``OCCURS``, ``REDEFINES``,
``COMP-1``, a ``VALUE``, another level number) is refused with its line number, never guessed,
because a guessed length shifts every field after it. Numbers have at most 18 digits, the
standard's limit (and what an int64 holds).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_DIGITS = 18
_FIELD = re.compile(
    r"^\s+05\s+(?P<name>[A-Z0-9-]+)\s+PIC\s+"
    r"(?P<pic>(?P<sign>S?)(?P<category>[X9])\((?P<digits>\d+)\)"
    r"(?:V9\((?P<scale1>\d+)\)|V(?P<scale2>9+))?)"
    r"(?:\s+(?P<usage>COMP-3|COMP))?\s*\.\s*$"
)
_RECORD = re.compile(r"^\s+01\s+(?P<name>[A-Z0-9-]+)\s*\.\s*$")


class CopybookError(ValueError):
    """The copybook uses a clause this parser does not know: refused, never guessed."""


@dataclass(frozen=True)
class Field:
    """One elementary item of a record, where it sits in the record and what it holds."""

    name: str
    pic: str  # as written, e.g. S9(13)V99
    category: str  # X (alphanumeric) or 9 (numeric)
    usage: str  # DISPLAY, COMP-3 or COMP
    digits: int  # integer digits (characters for PIC X)
    scale: int  # decimal digits after the implied point (V)
    signed: bool
    offset: int  # from the start of the record, in bytes

    @property
    def kind(self) -> str:
        """What a codec switches on: ``X`` (text), ``9`` (zoned), ``COMP-3`` or ``COMP``."""
        if self.usage == "DISPLAY":
            return self.category
        return self.usage

    @property
    def precision(self) -> int:
        """Every digit of the number, integer and decimal (characters for text)."""
        return self.digits + self.scale

    @property
    def length(self) -> int:
        """Bytes the field takes in the record."""
        if self.usage == "COMP-3":
            return self.precision // 2 + 1  # = ceil((precision + 1) / 2): digits and a sign nibble
        if self.usage == "COMP":
            return 2 if self.precision <= 4 else 4 if self.precision <= 9 else 8
        return self.precision

    @property
    def span(self) -> slice:
        """The field's bytes in a record: ``record[field.span]``."""
        return slice(self.offset, self.offset + self.length)


@dataclass(frozen=True)
class Layout:
    """One 01 record: its fields in order, each at its offset."""

    name: str
    fields: tuple[Field, ...]

    @property
    def length(self) -> int:
        return sum(f.length for f in self.fields)

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name}")

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)


def _field(number: int, line: str, offset: int) -> Field:
    """The 05 item on ``line`` (number ``number``) at ``offset``, or why it is refused."""
    m = _FIELD.match(line)
    if m is None:
        raise CopybookError(f"line {number}: clause not supported: {line.strip()!r}")
    scale = int(m["scale1"] or len(m["scale2"] or ""))
    usage = m["usage"] or "DISPLAY"
    category = m["category"]
    if category == "X" and (usage != "DISPLAY" or scale or m["sign"]):
        raise CopybookError(f"line {number}: {m['pic']} {usage}: a sign, V or usage needs PIC 9")
    if category == "9" and int(m["digits"]) + scale > MAX_DIGITS:
        raise CopybookError(f"line {number}: {m['pic']} has more than {MAX_DIGITS} digits")
    digits, signed = int(m["digits"]), bool(m["sign"])
    return Field(m["name"], m["pic"], category, usage, digits, scale, signed, offset)


def parse_copybook(text: str) -> dict[str, Layout]:
    """Each 01 record of the copybook with its 05 fields and their offsets, in order."""
    layouts: dict[str, list[Field]] = {}
    current: list[Field] | None = None
    offset = 0
    for number, line in enumerate(text.splitlines(), 1):
        if line[6:7] == "*" or not line.strip():  # column 7: a comment line
            continue
        if m := _RECORD.match(line):
            if m["name"] in layouts:
                raise CopybookError(f"line {number}: record {m['name']} defined twice")
            current, offset = layouts.setdefault(m["name"], []), 0
            continue
        if current is None:
            raise CopybookError(f"line {number}: a field before any 01 record")
        f = _field(number, line, offset)
        if f.name != "FILLER" and any(other.name == f.name for other in current):
            raise CopybookError(f"line {number}: field {f.name} defined twice in its record")
        current.append(f)
        offset += f.length
    return {name: Layout(name, tuple(fields)) for name, fields in layouts.items()}


def read_copybook(path: Path) -> dict[str, Layout]:
    """The copybook at ``path`` (ASCII source, as kept under version control), parsed."""
    return parse_copybook(path.read_text(encoding="ascii"))
