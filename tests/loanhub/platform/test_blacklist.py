"""The bank's blacklist on PostgreSQL: listed and lifted under audit, read by the rules at
decision time, so a party listed after its harvest is still rejected."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loanhub.flows import decide
from loanhub.platform import blacklist
from schemas.identifiers import InvalidIdentifier
from schemas.tables import audit_event
from tests.loanhub.flows.test_decide import RULES, stored

PERSON = "11010519491231002X"


def test_listing_and_lifting_are_kept_and_audited(pg_engine):
    assert blacklist.add(pg_engine, PERSON.lower(), "fraud case 2026-113", "credit_manager")
    assert not blacklist.add(pg_engine, PERSON, "again", "credit_manager")  # one open entry
    with pg_engine.connect() as conn:
        assert blacklist.is_listed(conn, PERSON)
    assert blacklist.lift(pg_engine, PERSON, "risk_committee")
    assert not blacklist.lift(pg_engine, PERSON, "risk_committee")
    with pg_engine.connect() as conn:
        assert not blacklist.is_listed(conn, PERSON)
        events = conn.execute(select(audit_event.c.action, audit_event.c.subject)).all()
    assert [e.action for e in events] == ["blacklist.add", "blacklist.lift"]
    assert all(PERSON not in e.subject for e in events)  # the chain holds masked subjects
    [kept] = blacklist.entries(pg_engine, include_lifted=True)
    assert (kept.reason, kept.lifted_by) == ("fraud case 2026-113", "risk_committee")
    assert blacklist.entries(pg_engine) == []


def test_a_bad_identifier_is_refused_with_its_reason(pg_engine):
    with pytest.raises(InvalidIdentifier, match="neither a resident ID"):
        blacklist.add(pg_engine, "110105194912310021", "typo", "credit_manager")


def test_a_party_listed_after_its_harvest_is_rejected_by_rule(pg_engine):
    stored(pg_engine, application_no="AP-LISTED")  # a strong profile: the rules would approve
    blacklist.add(pg_engine, PERSON, "fraud case 2026-114", "credit_manager")
    decide.evaluate(pg_engine, RULES, ["AP-LISTED"])
    made = decide.decided(pg_engine, "AP-LISTED")
    assert (made["outcome"], made["decided_by"]) == ("REJECT", "rule:blacklist")


def test_a_party_lifted_since_its_harvest_is_decided_on_its_merits(pg_engine):
    stored(pg_engine, application_no="AP-LIFTED", blacklisted=True)  # listed at harvest
    blacklist.add(pg_engine, PERSON, "mistaken identity", "credit_manager")
    blacklist.lift(pg_engine, PERSON, "risk_committee")
    decide.evaluate(pg_engine, RULES, ["AP-LIFTED"])
    made = decide.decided(pg_engine, "AP-LIFTED")
    assert (made["outcome"], made["decided_by"]) == ("APPROVE", "rule:score_auto_approve")
