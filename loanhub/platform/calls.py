"""The journal of calls to legacy systems: what the connectors and bots report, stored.

Task processes are short-lived and many, so a per-process Prometheus registry would never be
scraped; the store is the one place every process writes and the dashboard reads. Error text
is masked before it is stored, like everything else the hub keeps for people to read.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine, delete, insert

from kernel.calls import SourceCall
from loanhub.platform.masking import mask_text
from schemas.tables import source_call
from schemas.types import utcnow

log = logging.getLogger(__name__)


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

    def purge(self, older_than: timedelta) -> int:
        """Drop calls older than the retention period; the counters in ``/metrics`` restart
        from what is kept, which Prometheus reads as a counter reset."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(source_call).where(source_call.c.started_at < utcnow() - older_than)
            )
        return gone.rowcount or 0
