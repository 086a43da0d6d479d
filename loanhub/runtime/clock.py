"""The bank's clock: "today" and business dates in the bank's time zone (``LOANHUB_TIMEZONE``).

Stored timestamps are UTC (``schemas.types.utcnow``); a day is the bank's. At 07:30 in
Shanghai (23:30 UTC the day before) the bank is already on the 5th, so a loan booked, a tax
request file named or a payment asked to execute then belongs to the 5th. The runtime hands
the flows the day (``today``), so the flows never read the environment; every method takes
``now`` so tests set the clock instead of patching time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.types import local_day


@dataclass(frozen=True)
class BankClock:
    zone: ZoneInfo

    @classmethod
    def named(cls, timezone: str) -> BankClock:
        return cls(ZoneInfo(timezone))

    def today(self, now: datetime | None = None) -> date:
        """The bank's calendar day at ``now`` (default: the current time)."""
        return local_day(self.zone, now)

    def business_date(
        self,
        chosen: str | None = None,
        logical: datetime | None = None,
        now: datetime | None = None,
    ) -> date:
        """The business date a nightly run works on: the one asked for (``YYYY-MM-DD``), else
        the bank's yesterday at the run's logical date (a run at 02:30 Shanghai on the 5th works
        on the 4th), else at ``now`` for a manual run that has no logical date."""
        if chosen:
            return date.fromisoformat(chosen)
        return self.today(logical or now) - timedelta(days=1)
