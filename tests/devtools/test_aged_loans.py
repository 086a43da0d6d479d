"""The demo's aged loans: older than the approval consents, still covered by the post-loan ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from devtools.aged_loans import age_loans, approval_lapsed
from loanhub.platform.consents import ConsentBook, ConsentMissing
from schemas.tables import loan
from tests.loanhub.flows.test_postloan import active_loan


def test_an_aged_loan_keeps_its_post_loan_consents_and_loses_its_approval_ones(
    pg_engine, sim_dataset
):
    app = sim_dataset.applications[25]
    active_loan(pg_engine, app, "LNAGED0025")
    assert age_loans(pg_engine, [app.application_no], 150) == ["LNAGED0025"]
    with pg_engine.connect() as conn:
        start = conn.execute(select(loan.c.start_date)).scalar_one()
    assert start == (datetime.now(UTC) - timedelta(days=150)).date()
    book = ConsentBook(pg_engine)
    assert book.require(app.id_number, "BUREAU", "02") == f"CNS-{app.application_no}-BUR02"
    with pytest.raises(ConsentMissing):
        book.require(app.id_number, "BUREAU", "01")
    assert approval_lapsed(pg_engine) == 4
