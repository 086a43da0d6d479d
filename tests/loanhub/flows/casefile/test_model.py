"""The case file's read model on both stores, for what the lifecycle run does not reach: a
decision made under rules that are not installed any more (said, not broken down), the
blacklist as it stood at the decision, an application not decided yet, days past due over
time from the installments' dates, and an application the store does not hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, select, update

from devtools.synthetic import applicant_batch
from loanhub.flows import decide
from loanhub.flows.casefile import CaseNotFound, build
from loanhub.flows.casefile.history import class_history
from loanhub.flows.casefile.render import render_body, render_text
from loanhub.flows.intake import load_applicants
from loanhub.flows.rules import RuleSet
from loanhub.flows.warnings import WarningPolicy
from schemas.tables import applicant_profile, application, blacklist_entry, decision, fact_row
from schemas.types import utcnow
from tests.loanhub.flows.test_rules import profile

RULES = RuleSet.load()
CLASSES = WarningPolicy().risk_classes


def taken_in(engine: Engine) -> tuple[str, str]:
    """One person's application through intake: its number and the applicant's ID."""
    load_applicants(engine, applicant_batch(3, 1), source_ref="t")
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(application.c.application_no, application.c.party_id_number)).one()
        )


def profiled(engine: Engine, number: str, party: str, **over) -> object:
    made = profile(application_no=number, party_id_number=party, **over)
    with engine.begin() as conn:
        conn.execute(applicant_profile.insert().values(fact_row(made)))
    return made


def test_a_decision_is_broken_down_by_the_rules_that_made_it_and_its_stored_score(engine):
    number, party = taken_in(engine)
    made = profiled(engine, number, party, bureau_score=700, ss_months_paid=30)
    assert decide.evaluate(engine, RULES, [number]) == []
    case = build(engine, number)
    d = case.decision
    assert d.outcome == "APPROVE"
    assert d.score == RULES.score(made) == d.evaluation.explanation.score
    assert d.evaluation.agrees is True
    assert d.evaluation.notes == ()
    html = render_body(case)
    assert 'data-field="stored-score">' in html
    assert "agrees" in html


def test_rules_no_longer_installed_are_said_and_give_no_breakdown(engine):
    number, party = taken_in(engine)
    profiled(engine, number, party)
    decide.evaluate(engine, RULES, [number])
    with engine.begin() as conn:
        conn.execute(
            update(decision)
            .where(decision.c.application_no == number)
            .values(rule_set_version="credit-v1@000000000000")
        )
    case = build(engine, number)
    ev = case.decision.evaluation
    assert ev.explanation is None
    assert ev.rules_version == "credit-v1@000000000000"
    (note,) = ev.notes
    assert "not installed" in note
    assert RULES.version in note
    html = render_body(case)
    assert "not installed" in html
    assert 'class="cf-score"' not in html  # no breakdown by the wrong rules
    assert "not installed" in render_text(case)


def test_a_stored_score_the_breakdown_does_not_reach_is_said(engine):
    number, party = taken_in(engine)
    profiled(engine, number, party)
    decide.evaluate(engine, RULES, [number])
    with engine.begin() as conn:
        conn.execute(update(decision).where(decision.c.application_no == number).values(score=3))
    ev = build(engine, number).decision.evaluation
    assert ev.agrees is False
    assert any("differs" in n for n in ev.notes)


def test_the_blacklist_is_read_as_it_stood_at_the_decision(engine):
    number, party = taken_in(engine)
    profiled(engine, number, party)
    with engine.begin() as conn:
        conn.execute(
            insert(blacklist_entry).values(
                id_number=party,
                reason="fraud",
                listed_by="ops",
                listed_at=utcnow() - timedelta(days=1),
            )
        )
    decide.evaluate(engine, RULES, [number])
    case = build(engine, number)
    d = case.decision
    assert (d.outcome, d.decided_by) == ("REJECT", "rule:blacklist")
    assert d.evaluation.blacklisted_then is True
    assert [c.id for c in d.evaluation.explanation.fired] == ["blacklist"]
    with engine.begin() as conn:  # lifted since: the decision is still explained as made
        conn.execute(update(blacklist_entry).values(lifted_by="ops", lifted_at=utcnow()))
    again = build(engine, number)
    assert again.decision.evaluation.blacklisted_then is True
    assert again.blacklist[0].lifted_at is not None


def test_a_round_not_decided_yet_is_read_by_the_rules_loaded_now(engine):
    number, party = taken_in(engine)
    profiled(engine, number, party, requested_amount=Decimal("600000.00"))
    [referral] = decide.evaluate(engine, RULES, [number])
    case = build(engine, number)
    assert case.decisions == ()
    assert case.pending.basis == "undecided"
    assert case.pending.explanation.score == referral.score
    assert [a.action for a in case.audit] == ["decision.referred"]
    assert case.audit[0].after["score"] == referral.score


def test_an_unknown_application_is_refused(engine):
    with pytest.raises(CaseNotFound, match="NOPE"):
        build(engine, "NOPE")


@dataclass
class Due:
    installment_no: int
    due_date: date
    paid_date: date | None
    status: str
    paid_amount: Decimal = Decimal(100)
    due: Decimal = Decimal(100)

    @property
    def paid(self) -> Decimal:
        return self.paid_amount


def test_days_past_due_over_time_follow_the_due_and_paid_dates():
    today = date(2026, 5, 10)
    installments = (
        Due(1, date(2026, 2, 1), date(2026, 2, 1), "P"),
        Due(2, date(2026, 3, 1), date(2026, 3, 21), "L"),  # 20 days late
        Due(3, date(2026, 4, 1), None, "M", paid_amount=Decimal(0)),  # missed
        Due(4, date(2026, 5, 1), date(2026, 5, 3), "A", paid_amount=Decimal(40)),  # in part
        Due(5, date(2026, 6, 1), None, "D", paid_amount=Decimal(0)),  # not due yet
    )
    points = {p.on: (p.dpd, p.risk_class) for p in class_history(installments, today, CLASSES)}
    assert points[date(2026, 3, 20)] == (19, "关注")  # the day before it was paid: its worst
    assert points[date(2026, 3, 21)] == (0, "正常")
    assert points[date(2026, 4, 1)] == (0, "正常")
    assert points[date(2026, 5, 10)] == (39, "关注")  # the missed one, since 1 April
    assert date(2026, 6, 1) not in points
    assert max(points) == today


def test_the_standalone_case_file_reads_in_the_language_it_is_asked_for(engine):
    """The archive's file speaks the hub's catalogue: Chinese when asked (the archive's
    default), English when asked; the same facts in both."""
    from loanhub.flows.casefile.render import render_standalone
    from loanhub.platform.languages import catalogue

    number, party = taken_in(engine)
    profiled(engine, number, party, bureau_score=700, ss_months_paid=30)
    assert decide.evaluate(engine, RULES, [number]) == []
    chinese = render_standalone(engine, number, lang="zh-CN").decode()
    english = render_standalone(engine, number, lang="en").decode()
    heading = "Rule evaluation, factor by factor"
    said = catalogue("zh-CN").gettext(heading)
    assert said != heading
    assert '<html lang="zh-CN">' in chinese
    assert said in chinese
    assert heading not in chinese
    assert '<html lang="en">' in english
    assert heading in english
    assert party not in chinese
    assert party not in english
