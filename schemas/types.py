"""Annotated field types shared by every canonical model.

The column type of a stored fact is derived from these annotations (see ``schemas.tables``),
so a field's precision or length is stated once, here, and both the pydantic validation and
the SQL column follow it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, Field
from sqlalchemy import BigInteger, DateTime, Numeric, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Money = Annotated[Decimal, Field(max_digits=18, decimal_places=2)]
"""An amount of money: never a float, two decimals, 16 integer digits."""

Rate = Annotated[Decimal, Field(max_digits=9, decimal_places=6, ge=0)]
"""An annual interest rate as a fraction (0.0435 for 4.35 %)."""

UtcDateTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timestamp: naive values are refused, aware ones normalised to UTC."""

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", max_length=64)]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC; the only clock the hub's records use."""
    return datetime.now(UTC)


DEFAULT_BANK_TIMEZONE = "Asia/Shanghai"
"""The bank's time zone unless ``LOANHUB_TIMEZONE`` names another (an IANA name)."""


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai)") from exc
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name, refused at start-up when the zone database does not know it."""


def local_day(zone: tzinfo, at: datetime | None = None) -> date:
    """The calendar day ``at`` (default: now) falls on in ``zone``. A bank's "today", its
    business dates and a payment's execution date are days of its own clock: at 07:30 in
    Shanghai it is already the 5th while UTC still says the 4th. Stored timestamps stay UTC."""
    moment = at or utcnow()
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r} refused: which zone's day?")
    return moment.astimezone(zone).date()


class UTCDateTimeType(TypeDecorator[datetime]):
    """Stores aware timestamps and always hands back aware UTC ones.

    PostgreSQL keeps ``timestamptz`` natively; SQLite keeps text without an offset, so the
    value is normalised to UTC on the way in and the UTC zone is re-attached on the way out.
    A naive value is a programming error and is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} refused: the hub stores UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ExactNumeric(TypeDecorator[Decimal]):
    """``NUMERIC(p, s)`` on PostgreSQL; integer minor units on SQLite.

    SQLite has no decimal type: a NUMERIC column stores a double, which turns
    9999999999999999.99 into 1e16. Scaled 64-bit integers keep every digit of a
    ``Numeric(18, 2)`` exactly and still sort and sum correctly in SQL.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision, self.scale = precision, scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        scaled = Decimal(value).scaleb(self.scale)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return int(scaled)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value)
