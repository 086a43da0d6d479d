"""Decisions on PostgreSQL: by rule, by a person under four eyes, posted into the LOS once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from loanhub.flows import decide
from loanhub.flows.rules import RuleSet
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.wiring import HubBots
from schemas.tables import applicant_profile, audit_event, fact_row
from tests.loanhub.flows.test_rules import profile

RULES = RuleSet.load()


def stored(engine, **over):
    made = profile(**over)
    with engine.begin() as conn:
        conn.execute(applicant_profile.insert().values(fact_row(made)))
    return made


def test_rules_decide_what_they_may_and_refer_the_rest(pg_engine):
    stored(pg_engine, application_no="AP-AUTO")
    stored(pg_engine, application_no="AP-REJ", tax_rating="D")
    stored(pg_engine, application_no="AP-BIG", requested_amount=Decimal("600000.00"))
    referrals = decide.evaluate(pg_engine, RULES, ["AP-AUTO", "AP-REJ", "AP-BIG"])
    assert [r.application_no for r in referrals] == ["AP-BIG"]
    assert "11010519491231002X" not in referrals[0].body  # the summary is masked
    auto = decide.decided(pg_engine, "AP-AUTO")
    assert (auto["outcome"], auto["decided_by"]) == ("APPROVE", "rule:score_auto_approve")
    assert auto["rule_set_version"] == RULES.version
    assert decide.decided(pg_engine, "AP-REJ")["decided_by"] == "rule:tax_rating_d"
    assert decide.evaluate(pg_engine, RULES, ["AP-AUTO", "AP-REJ", "AP-BIG"]) == referrals
    with pg_engine.connect() as conn:
        actions = conn.execute(select(audit_event.c.action)).scalars().all()
    assert actions.count("decision.recorded") == 2  # the re-run recorded nothing


def test_four_eyes_on_a_referral(pg_engine):
    stored(pg_engine, application_no="AP-REF", requested_amount=Decimal("600000.00"))
    [item] = decide.evaluate(pg_engine, RULES, ["AP-REF"])
    with pytest.raises(decide.ReviewRefused, match="cannot also approve"):
        decide.record_review(
            pg_engine,
            RULES,
            item,
            chosen="Approve",
            responder="credit_manager",
            maker="credit_manager",
        )
    with pytest.raises(decide.ReviewRefused, match="not an approver"):
        decide.record_review(
            pg_engine, RULES, item, chosen="Approve", responder="credit_officer", maker="ops"
        )
    assert decide.decided(pg_engine, "AP-REF") is None
    made = decide.record_review(
        pg_engine, RULES, item, chosen="Approve", responder="senior_officer", maker="ops"
    )
    assert (made.decided_by, made.approved_amount) == ("senior_officer", Decimal("600000.00"))


def test_posting_into_the_los_happens_once(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path, chromium
):
    number = sim_dataset.applications[30].application_no
    stored(pg_engine, application_no=number)
    decide.evaluate(pg_engine, RULES, [number])
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    bots = HubBots.build(settings, pg_engine, chromium)
    guard = LedgerGuard(WorkItemLedger(pg_engine, owner="test"))
    reference = decide.post_to_los(pg_engine, bots.los, guard, number)
    assert decide.post_to_los(pg_engine, bots.los, guard, number) == reference
    recorded = [e for e in sim.journal("los", "decision") if e["application_no"] == number]
    assert [e["reference"] for e in recorded] == [reference]
    assert decide.decided(pg_engine, number)["los_reference"] == reference
    assert decide.decided(pg_engine, number)["los_status"] == "APPROVED"
