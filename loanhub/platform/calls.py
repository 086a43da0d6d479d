"""The journal of calls to legacy systems: what the connectors and bots report, stored.

Task processes are short-lived and many, so a per-process Prometheus registry would never be
scraped; the store is the one place every process writes and the dashboard reads. Error text
is masked before it is stored, like everything else the hub keeps for people to read. Each
call also adds to the running totals behind ``/metrics`` (calls by outcome, the latency
histogram) in the same transaction, so purging old calls never lowers a counter.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine, delete, insert

from kernel.calls import SourceCall
from loanhub.platform import totals
from loanhub.platform.masking import mask_text
from schemas.tables import source_call
from schemas.types import utcnow

log = logging.getLogger(__name__)

LATENCY_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
"""Latency buckets: legacy calls take from tens of milliseconds (SFTP stat) to a minute (a
portal under load). Changing them starts new bucket series; the old ones keep their counts."""

CALLS = "source_calls"
DURATION_BUCKET = "source_call_duration_bucket"  # per bucket, not cumulative: le = its bound
DURATION_MS_SUM = "source_call_duration_ms_sum"


def bucket_of(duration_ms: int) -> str:
    """The ``le`` of the smallest bucket a call falls in (``+Inf`` past the last)."""
    return next((repr(b) for b in LATENCY_BUCKETS_SECONDS if duration_ms <= b * 1000), "+Inf")


def call_totals(call: SourceCall) -> dict[totals.Key, int]:
    """What one call adds to the running totals."""
    return {
        totals.key(CALLS, system=call.system, outcome=call.outcome.value): 1,
        totals.key(DURATION_BUCKET, system=call.system, le=bucket_of(call.duration_ms)): 1,
        totals.key(DURATION_MS_SUM, system=call.system): call.duration_ms,
    }


class CallJournal:
    """A ``CallObserver`` that stores each call as one row (a few ms against calls that take
    hundreds); a store that is down loses the sample, never the call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, call: SourceCall) -> None:
        row = call.model_dump(exclude={"id"})
        if row["error"]:
            row["error"] = mask_text(row["error"])[:500]
        with self.engine.begin() as conn:
            conn.execute(insert(source_call).values(**row))
            totals.add(conn, call_totals(call))

    def purge(self, older_than: timedelta) -> int:
        """Drop calls older than the retention period. The counters in ``/metrics`` are
        running totals, not these rows: they stay as they are."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(source_call).where(source_call.c.started_at < utcnow() - older_than)
            )
        return gone.rowcount or 0
