"""The named transforms a mapping file may use, each a small pure function.

A transform takes the value so far (text, bytes or None) and returns the next; it raises
``ValueError`` with a reason a person can act on, which the engine turns into a quarantine
entry naming the field. Adding a transform is adding a function here and its test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Transform = Callable[[Any], Any]
_AMOUNT = re.compile(r"^-?[0-9]{1,3}(,[0-9]{3})*(\.[0-9]+)?$|^-?[0-9]+(\.[0-9]+)?$")
_SHAPES = {
    "%Y.%m.%d": re.compile(r"^[0-9]{4}\.[0-9]{2}\.[0-9]{2}$"),
    "%Y%m%d": re.compile(r"^[0-9]{8}$"),
    "%Y%m": re.compile(r"^[0-9]{6}$"),
}


def trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def empty_to_none(value: Any) -> Any:
    """Legacy systems send a missing element and an empty one for the same nothing."""
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def integer(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text.isascii() or not text.removeprefix("-").isdigit():
        raise ValueError(f"{value!r} is not a whole number")
    return int(text)


def amount(value: Any) -> Decimal | None:
    """``1,250,000.00`` -> ``Decimal('1250000.00')``; separators only in groups of three."""
    if value is None:
        return None
    text = str(value).strip()
    if not _AMOUNT.match(text):
        raise ValueError(f"{value!r} is not an amount")
    try:
        result = Decimal(text.replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not an amount") from exc
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite amount")
    return result


def _date(value: Any, fmt: str, what: str) -> date | None:
    if value is None:
        return None
    text = str(value).strip()
    if not _SHAPES[fmt].match(text):  # strptime alone takes "2024111" or "2024.1.5"
        raise ValueError(f"{value!r} is not a date as {what}")
    try:
        return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date as {what}") from exc


def date_dotted(value: Any) -> date | None:
    """The bureau's ``YYYY.MM.DD``."""
    return _date(value, "%Y.%m.%d", "YYYY.MM.DD")


def date_compact(value: Any) -> date | None:
    """``YYYYMMDD``; all zeros means no date."""
    if value is not None and str(value).strip().strip("0") == "":
        return None
    return _date(value, "%Y%m%d", "YYYYMMDD")


def month(value: Any) -> date | None:
    """``YYYYMM`` -> the first day of that month."""
    return _date(value, "%Y%m", "YYYYMM")


def datetime_dotted_date(value: Any) -> date | None:
    """The bureau's report time ``YYYY.MM.DD HH:MM:SS``, as its date."""
    if value is None:
        return None
    return date_dotted(str(value).strip()[:10])


def _decoded(value: Any, encoding: str) -> Any:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode(encoding)
        except UnicodeDecodeError as exc:
            raise ValueError(f"not {encoding.upper()} text: {exc}") from exc
    return value


def gb18030(value: Any) -> Any:
    """Bytes from a GB18030 file (4-byte characters included) to text."""
    return _decoded(value, "gb18030")


def gbk(value: Any) -> Any:
    """Bytes from a GBK page or export to text."""
    return _decoded(value, "gbk")


STATUS_24M = "N1234567*C/"


def status_24m(value: Any, report_date: date) -> list[dict[str, Any]]:
    """The bureau's 24-month string (oldest first, the last character being the report's
    month) as one fact per month: its first day, the code, and months overdue."""
    text = (value or "").strip()
    if len(text) != 24 or any(c not in STATUS_24M for c in text):
        raise ValueError(f"{value!r} is not 24 codes of {STATUS_24M}")
    first_of_month = report_date.replace(day=1)
    facts = []
    for k, code in enumerate(text):
        back = 23 - k
        y, m = divmod(first_of_month.year * 12 + first_of_month.month - 1 - back, 12)
        facts.append(
            {
                "month": date(y, m + 1, 1),
                "status_code": code,
                "months_overdue": int(code) if code.isdigit() else 0,
            }
        )
    return facts


NAMED: dict[str, Transform] = {
    "trim": trim,
    "upper": upper,
    "empty_to_none": empty_to_none,
    "int": integer,
    "amount": amount,
    "date_dotted": date_dotted,
    "date_compact": date_compact,
    "month": month,
    "datetime_dotted_date": datetime_dotted_date,
    "gb18030": gb18030,
    "gbk": gbk,
}
