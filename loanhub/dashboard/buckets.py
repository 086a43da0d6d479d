"""Time buckets the database computes: an hour, a day or a week of the bank's clock as one
integer key per row, so a trend over millions of calls is a GROUP BY, not a loop in Python.

The same SQL runs on PostgreSQL and on the embedded SQLite: a timestamp becomes whole seconds
since 1970 (``epoch_seconds``), the bank's UTC offset is added (a CASE over the daylight-saving
changes inside the window, worked out here from the zone database, so a zone with DST still
cuts its days at its own midnight), and integer division by the bucket's length gives the
key. Both databases truncate integer division, and every key here is positive.

``Window`` is the Python side of the same arithmetic: the keys a period covers, in order, and
the local time each one starts at, so empty buckets are drawn as such rather than skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, case, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from loanhub.dashboard.i18n import N_, text

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Wall-clock seconds count from here; a bucket's start is re-labelled with the bank's zone."""


@dataclass(frozen=True)
class Grain:
    """A bucket length. ``shift`` aligns it: weeks start on Monday (1970-01-01 was a Thursday,
    so the first Monday is four days in)."""

    name: str
    seconds: int
    shift: int = 0


FIVE_MINUTES = Grain("5 minutes", 300)
HOUR = Grain("hour", 3600)
DAY = Grain("day", 86400)
WEEK = Grain("week", 7 * 86400, 4 * 86400)


class epoch_seconds(FunctionElement[int]):
    """Whole seconds since 1970-01-01 UTC of a stored timestamp, as a BIGINT."""

    type = BigInteger()
    name = "epoch_seconds"
    inherit_cache = True


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # the store keeps UTC text without an offset (schemas.types.UTCDateTimeType)
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


def _int(value: int) -> ColumnElement[int]:
    """An integer written into the SQL itself, not bound: the same expression then appears in
    SELECT and GROUP BY, which PostgreSQL requires of a grouped expression."""
    return literal_column(str(int(value)), BigInteger())


def offset_changes(zone: ZoneInfo, since: datetime, until: datetime) -> list[tuple[int, int]]:
    """(from epoch second, UTC offset in seconds) for ``zone`` over [since, until]: one entry
    for a zone without DST, one more per change. Found by stepping a day at a time and
    bisecting each step whose offset differs to the second."""

    def offset(at: int) -> int:
        delta = datetime.fromtimestamp(at, UTC).astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    start, end = int(since.timestamp()), int(until.timestamp())
    changes = [(start, offset(start))]
    at = start
    while at < end:
        step = min(at + 86400, end)
        if offset(step) != changes[-1][1]:
            low, high = at, step  # offset(low) is the old one, offset(high) the new
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            changes.append((high, offset(high)))
        at = step
    return changes


def local_seconds(column: Any, zone: ZoneInfo, since: datetime, until: datetime) -> Any:
    """``column`` as seconds since 1970 on the bank's wall clock (UTC plus its offset then)."""
    seconds = epoch_seconds(column)
    changes = offset_changes(zone, since, until)
    if len(changes) == 1:
        return seconds + _int(changes[0][1])
    whens = [
        (seconds < _int(changes[i + 1][0]), seconds + _int(changes[i][1]))
        for i in range(len(changes) - 1)
    ]
    return case(*whens, else_=seconds + _int(changes[-1][1]))


@dataclass(frozen=True)
class Window:
    """A period cut into buckets of ``grain`` on ``zone``'s clock. ``since`` is moved back to
    the start of its bucket, so the first bucket is a whole one; the last one is "so far"."""

    since: datetime
    until: datetime
    grain: Grain
    zone: ZoneInfo

    @classmethod
    def ending(cls, until: datetime, span: timedelta, grain: Grain, zone: ZoneInfo) -> Window:
        rough = cls(until - span, until, grain, zone)
        return cls(rough.start(rough.key(until - span)), until, grain, zone)

    def key(self, at: datetime) -> int:
        """The bucket of ``at``: what ``bucket`` computes in SQL, in Python."""
        offset = at.astimezone(self.zone).utcoffset() or timedelta(0)
        local = int(at.timestamp()) + int(offset.total_seconds())
        return (local - self.grain.shift) // self.grain.seconds

    def buckets(self) -> list[int]:
        """Every bucket key of the window, oldest first (empty ones included)."""
        return list(range(self.key(self.since), self.key(self.until) + 1))

    def start(self, key: int) -> datetime:
        """When bucket ``key`` starts, on the bank's clock (aware, in ``zone``)."""
        wall = EPOCH + timedelta(seconds=key * self.grain.seconds + self.grain.shift)
        return wall.replace(tzinfo=self.zone)

    def bucket(self, column: Any) -> ColumnElement[int]:
        """The SQL expression of a timestamp column's bucket key."""
        local = local_seconds(column, self.zone, self.since, self.until)
        if self.grain.shift:
            local = local - _int(self.grain.shift)
        return local // _int(self.grain.seconds)


def grain_for(span: timedelta) -> Grain:
    """A bucket that cuts ``span`` into a readable number of points (about 12 to 200)."""
    if span <= timedelta(hours=3):
        return FIVE_MINUTES
    if span <= timedelta(days=8):
        return HOUR
    if span <= timedelta(days=120):
        return DAY
    return WEEK


def span_words(hours: int) -> str:
    """A window in words for a chart's title: "24 h", "7 days" (in the request's language)."""
    if hours >= 48 and hours % 24 == 0:
        return text(N_("%(n)s days", n=hours // 24))
    return text(N_("%(n)s h", n=hours))


def grain_words(grain: Grain) -> str:
    """A bucket's length in words for a chart's title, in the request's language."""
    return text(grain.name)


GRAIN_WORDS = (N_("5 minutes"), N_("hour"), N_("day"), N_("week"))
"""The grains' names, marked for the catalogues (``grain_words`` looks them up)."""
