"""The consent book on PostgreSQL: a lapsed consent refuses (audited), the longest one is what
a lapse check reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from loanhub.platform.consents import ConsentBook, ConsentMissing
from loanhub.platform.masking import mask_text
from schemas.tables import audit_event, consent
from schemas.types import utcnow
from tests.loanhub.flows.conftest import record_consent

SUBJECT = "11010519491231002X"


def test_a_lapsed_consent_refuses_and_the_refusal_is_audited(pg_engine):
    book = ConsentBook(pg_engine)
    ref = record_consent(pg_engine, SUBJECT, reason="02", scope="TAX")
    assert book.require(SUBJECT, "TAX", "02") == ref
    with pytest.raises(ConsentMissing):
        book.require(SUBJECT, "TAX", "01")  # another reason is another consent
    with pg_engine.begin() as conn:
        conn.execute(update(consent).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(ConsentMissing):
        book.require(SUBJECT, "TAX", "02")
    with pg_engine.connect() as conn:
        refused = conn.execute(
            select(audit_event.c.subject, audit_event.c.after).where(
                audit_event.c.action == "consent.refused"
            )
        ).all()
    assert [(s, a["scope"], a["reason"]) for s, a in refused] == [
        (mask_text(SUBJECT), "TAX", "01"),
        (mask_text(SUBJECT), "TAX", "02"),
    ]


def test_longest_is_the_consent_that_lasts_longest_lapsed_or_not(pg_engine):
    book = ConsentBook(pg_engine)
    assert book.longest(SUBJECT, "BUREAU", "02") is None
    record_consent(pg_engine, SUBJECT, reason="02", ref="OLD")
    record_consent(pg_engine, SUBJECT, reason="02", ref="NEW")
    with pg_engine.begin() as conn:
        conn.execute(
            update(consent)
            .where(consent.c.consent_ref == "OLD")
            .values(expires_at=utcnow() - timedelta(days=3))
        )
    held = book.longest(SUBJECT, "BUREAU", "02")
    assert held is not None
    assert held.consent_ref == "NEW"
    assert held.expires_at > utcnow()
    with pg_engine.connect() as conn:  # reading it audits nothing: nothing was sent
        assert conn.execute(select(audit_event.c.action)).all() == []
