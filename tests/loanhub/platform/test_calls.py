from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from kernel.calls import CallOutcome, SourceCall
from loanhub.platform.calls import CallJournal
from schemas.tables import source_call
from schemas.types import utcnow


def test_calls_are_stored_with_their_errors_masked_and_purged_by_age(engine):
    journal = CallJournal(engine)
    now = utcnow()
    for age, error in [(0, "subject 11010519491231002X busy"), (100, None)]:
        journal(
            SourceCall(
                system="bureau",
                operation="Query",
                started_at=now - timedelta(days=age),
                duration_ms=1200,
                outcome=CallOutcome.TRANSIENT if error else CallOutcome.OK,
                error=error,
            )
        )
    with engine.connect() as conn:
        errors = (
            conn.execute(select(source_call.c.error).order_by(source_call.c.id)).scalars().all()
        )
    assert errors == ["subject 1****************X busy", None]
    assert journal.purge(timedelta(days=90)) == 1
    with engine.connect() as conn:
        assert conn.execute(select(source_call.c.started_at)).scalars().all()[0] > now - timedelta(
            1
        )
