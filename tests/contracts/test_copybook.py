"""The copybook parser against the catalogue (legacy-systems.md, section 4) and against byte
lengths computed here from IBM's storage rules, not from the parser's own formulas."""

from __future__ import annotations

import ast
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import LNREPAY_COPYBOOK
from contracts.copybook import CopybookError, parse_copybook, read_copybook

# The detail record as the catalogue lists it: (name, PIC, usage, offset, bytes). The byte
# counts are worked out by hand: S9(13)V99 COMP-3 is 15 digits + a sign nibble = 8 bytes,
# S9(4) COMP a halfword; the offsets are their running sums.
CATALOGUE_DETAIL = [
    ("DTL-REC-TYPE", "X(1)", "DISPLAY", 0, 1),
    ("DTL-LOAN-ACCOUNT", "X(20)", "DISPLAY", 1, 20),
    ("DTL-CUSTOMER-NO", "9(12)", "DISPLAY", 21, 12),
    ("DTL-INSTALLMENT-NO", "9(3)", "DISPLAY", 33, 3),
    ("DTL-DUE-DATE", "9(8)", "DISPLAY", 36, 8),
    ("DTL-PRINCIPAL-DUE", "S9(13)V99", "COMP-3", 44, 8),
    ("DTL-INTEREST-DUE", "S9(13)V99", "COMP-3", 52, 8),
    ("DTL-PRINCIPAL-PAID", "S9(13)V99", "COMP-3", 60, 8),
    ("DTL-INTEREST-PAID", "S9(13)V99", "COMP-3", 68, 8),
    ("DTL-PAID-DATE", "9(8)", "DISPLAY", 76, 8),
    ("DTL-DAYS-PAST-DUE", "S9(4)", "COMP", 84, 2),
    ("DTL-STATUS", "X(1)", "DISPLAY", 86, 1),
]
LRECL = 87  # the detail's length; RECFM=FB pads header and trailer to it


def _one(pic: str, usage: str = "") -> tuple[int, int]:
    """(offset of a 1-byte field after ``pic``, length of ``pic``), from a two-field record."""
    layout = parse_copybook(
        f"       01  R.\n           05  F  PIC {pic}{' ' + usage if usage else ''}.\n"
        "           05  G  PIC X(1).\n"
    )["R"]
    return layout["G"].offset, layout["F"].length


def test_the_detail_record_is_laid_out_as_the_catalogue_says():
    detail = read_copybook(LNREPAY_COPYBOOK)["LNREPAY-DETAIL"]
    assert [(f.name, f.pic, f.usage, f.offset, f.length) for f in detail] == CATALOGUE_DETAIL
    assert detail.length == sum(n for *_, n in CATALOGUE_DETAIL) == LRECL


def test_every_record_has_the_detail_records_length():
    layouts = read_copybook(LNREPAY_COPYBOOK)
    assert {name: layout.length for name, layout in layouts.items()} == {
        "LNREPAY-HEADER": LRECL,
        "LNREPAY-DETAIL": LRECL,
        "LNREPAY-TRAILER": LRECL,
    }
    header, trailer = layouts["LNREPAY-HEADER"], layouts["LNREPAY-TRAILER"]
    assert [(f.name, f.offset, f.length) for f in header][:3] == [
        ("HDR-REC-TYPE", 0, 1),
        ("HDR-BUSINESS-DATE", 1, 8),
        ("HDR-BANK-CODE", 9, 6),
    ]
    total = trailer["TRL-HASH-TOTAL"]
    assert (total.offset, total.length, total.digits, total.scale) == (10, 9, 15, 2)
    assert trailer["TRL-RECORD-COUNT"].span == slice(1, 10)


@pytest.mark.parametrize(
    ("pic", "length"),
    [
        ("9(1)", 1),  # one digit + sign: one byte
        ("S9(2)", 2),
        ("S9(4)", 3),
        ("S9(5)", 3),
        ("S9(6)V9(2)", 5),  # 8 digits, the decimals count
        ("S9(13)V99", 8),
        ("S9(15)V99", 9),
        ("S9(18)", 10),
    ],
)
def test_packed_decimals_take_half_a_byte_a_digit_and_one_for_the_sign(pic, length):
    assert _one(pic, "COMP-3") == (length, length)


@pytest.mark.parametrize(
    ("pic", "length"),
    [("S9(4)", 2), ("S9(3)V99", 4), ("S9(9)", 4), ("S9(7)V9(4)", 8), ("9(18)", 8)],
)
def test_binary_takes_a_halfword_fullword_or_doubleword_by_all_its_digits(pic, length):
    # the simulator's old copy counted the integer digits only: S9(3)V99 COMP was 2 bytes
    assert _one(pic, "COMP") == (length, length)


def test_zoned_decimals_take_a_byte_for_every_digit_the_implied_ones_too():
    # the simulator's old copy gave PIC 9(5)V99 five bytes, shifting every field after it
    assert _one("9(5)V99") == (7, 7)
    assert _one("9(5)V9(3)") == (8, 8)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["X", "9", "S9"]),
            st.integers(1, 18),
            st.integers(0, 4),
            st.sampled_from(["", "COMP", "COMP-3"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_offsets_are_the_running_sum_of_storage_sizes(items):
    lines, sizes = ["       01  R."], []
    for n, (category, digits, scale, usage) in enumerate(items):
        if category == "X":
            scale, usage = 0, ""
        digits = max(1, min(digits, 18 - scale))
        v = f"V9({scale})" if scale else ""
        u = f" {usage}" if usage else ""
        lines.append(f"           05  F{n}  PIC {category}({digits}){v}{u}.")
        total = digits + scale
        if usage == "COMP-3":
            sizes.append(math.ceil((total + 1) / 2))
        elif usage == "COMP":
            sizes.append(2 if total < 5 else 4 if total < 10 else 8)
        else:
            sizes.append(total)
    layout = parse_copybook("\n".join(lines) + "\n")["R"]
    assert [f.length for f in layout] == sizes
    assert [f.offset for f in layout] == [sum(sizes[:i]) for i in range(len(sizes))]
    assert layout.length == sum(sizes)


@pytest.mark.parametrize(
    ("clause", "why"),
    [
        ("05  F  PIC S9(4) COMP-1.", "not supported"),
        ("05  F  PIC X(2) OCCURS 3.", "not supported"),
        ("05  F  PIC X(4) COMP-3.", "needs PIC 9"),
        ("05  F  PIC X(4)V99.", "needs PIC 9"),
        ("05  F  PIC S9(17)V99 COMP-3.", "more than 18 digits"),
        ("10  F  PIC X(1).", "not supported"),
    ],
)
def test_an_unknown_or_impossible_clause_is_refused_not_guessed(clause, why):
    with pytest.raises(CopybookError, match=why):
        parse_copybook(f"       01  R.\n           {clause}\n")


def test_comments_and_blank_lines_are_skipped_and_structure_errors_refused():
    layout = parse_copybook(
        "      * A COMMENT IN COLUMN 7\n\n       01  R.\n      *    05  NOT-A-FIELD PIC X(9).\n"
        "           05  A  PIC X(2).\n"
    )["R"]
    assert [(f.name, f.length) for f in layout] == [("A", 2)]
    with pytest.raises(KeyError, match="no field B"):
        layout["B"]
    with pytest.raises(CopybookError, match="before any 01"):
        parse_copybook("           05  A  PIC X(2).\n")
    with pytest.raises(CopybookError, match="defined twice"):
        parse_copybook("       01  R.\n           05  A  PIC X(2).\n       01  R.\n")
    with pytest.raises(CopybookError, match="defined twice"):
        parse_copybook("       01  R.\n           05  A  PIC X(2).\n           05  A  PIC X(1).\n")


def test_the_parser_is_plain_python_that_both_sides_can_import():
    """No numpy, nothing of the hub or the simulators: only the standard library."""
    source = Path(sys.modules[parse_copybook.__module__].__file__ or "").read_text("utf-8")
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)
