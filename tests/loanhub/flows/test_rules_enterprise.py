"""The rule set's enterprise section and the profile's enterprise facts, as pure functions:
a company is read by its own hard rejects and scorecard, must be seen at the bureau and the tax
authority (never the social-security portal), and a guarantor named on the application must be
seen at the bureau before anything is decided by score."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from loanhub.flows.harvest import Applicant, Guarantor
from loanhub.flows.profile import BureauFacts, StoredFacts, condense
from loanhub.flows.rules import RuleSet
from schemas.party import PartyKind
from tests.loanhub.flows.test_rules import profile

RULES = RuleSet.load("credit-v1")
USCC = "91350100M000100Y43"


def company(**over):
    values = {
        "party_kind": "ENTERPRISE",
        "party_id_number": USCC,
        "bureau_score": None,
        "ss_months_paid": 0,
        "years_established": 12,
        "registered_capital": Decimal("60000000.00"),
        "guarantees_given": Decimal("1000000.00"),
        "guarantee_exposure_pct": 1,
        "tax_rating": "A",
        "missing_sources": "core",
    }
    return profile(**{**values, **over})


def test_a_sound_company_is_approved_by_its_own_scorecard():
    verdict = RULES.evaluate(company())
    assert RULES.score(company()) == 25 + 20 + 20 + 25 + 10
    assert (verdict.outcome, verdict.decided_by) == ("APPROVE", "rule:score_auto_approve")
    # the personal scorecard would have given it no bureau score and no contributions
    assert RULES.score(profile(bureau_score=None, ss_months_paid=0)) < RULES.spec.approve_at


def test_no_contribution_history_is_nothing_missing_for_a_company():
    verdict = RULES.evaluate(company(missing_sources="social_security,core"))
    assert verdict.outcome == "APPROVE"
    assert verdict.missing == ()


def test_a_company_without_its_bureau_or_tax_answer_is_referred_never_rejected_by_score():
    for gap in ("bureau", "tax", "bureau,tax"):
        thin = company(
            missing_sources=gap,
            years_established=None,
            registered_capital=None,
            guarantee_exposure_pct=None,
            tax_rating=None,
        )
        assert RULES.score(thin) < RULES.spec.enterprise.reject_below
        verdict = RULES.evaluate(thin)
        assert verdict.outcome == "REFER"
        assert verdict.missing == tuple(gap.split(","))


def test_a_guarantor_not_seen_at_the_bureau_refers_the_application():
    verdict = RULES.evaluate(
        company(guarantor_id_number="110105194912310021", missing_sources="guarantor_bureau")
    )
    assert (verdict.outcome, verdict.missing) == ("REFER", ("guarantor_bureau",))


def test_the_enterprise_hard_rejects_each_name_themselves():
    cases = {
        "young_company": {"years_established": 1},
        "guarantee_exposure": {"guarantee_exposure_pct": 250},
        "facility_overdue_m3": {"current_overdue_months": 3},
        "public_record": {"public_records": 1},
        "tax_rating_d": {"tax_rating": "D"},
        "guarantor_overdue_m3": {"guarantor_overdue_months": 4},
        "guarantor_public_record": {"guarantor_public_records": 2},
    }
    for rule, over in cases.items():
        verdict = RULES.evaluate(company(**over))
        assert (verdict.outcome, verdict.decided_by) == ("REJECT", f"rule:{rule}"), rule


def test_the_social_security_reject_is_a_persons_rule_only():
    assert RULES.evaluate(company(ss_months_owed=3)).outcome == "APPROVE"
    assert RULES.evaluate(profile(ss_months_owed=3)).decided_by == "rule:ss_owed"


# -- the profile's enterprise facts ------------------------------------------------------------

FIRM = Applicant("AE-1", USCC, "福州某科技有限公司", Decimal("900000.00"), 24, PartyKind.ENTERPRISE)
REPORT = BureauFacts(
    "R1",
    None,
    False,
    0,
    Decimal("0"),
    0,
    report_date=date(2026, 11, 24),
    registered_capital=Decimal("2000000.00"),
    established_on=date(2016, 11, 25),
    guarantees_given=Decimal("3000000.00"),
)


def stored(**over) -> StoredFacts:
    base = {
        "bureau": REPORT,
        "tax_rating": "B",
        "tax_arrears": Decimal("0"),
        "tax_found": True,
        "contribution_months": [],
        "core_customer_no": None,
        "core_average_balance": None,
        "blacklisted": False,
    }
    return StoredFacts(**{**base, **over})


def test_a_companys_profile_has_its_age_capital_and_guarantee_exposure():
    values = condense(FIRM, stored())
    assert values["party_kind"] == "ENTERPRISE"
    assert values["years_established"] == 9  # one day short of ten years at the report
    assert values["registered_capital"] == Decimal("2000000.00")
    assert values["guarantees_given"] == Decimal("3000000.00")
    assert values["guarantee_exposure_pct"] == 150
    assert values["missing_sources"] == "core"  # no insured history is not missing


def test_a_guarantors_report_or_its_absence_is_in_the_profile():
    guaranteed = Applicant(
        FIRM.application_no,
        FIRM.id_number,
        FIRM.name,
        FIRM.requested_amount,
        FIRM.term_months,
        FIRM.kind,
        Guarantor("110105194912310021", "张三"),
    )
    seen = condense(guaranteed, stored(guarantor=BureauFacts("R2", 712, False, 1, Decimal(5), 0)))
    assert (seen["guarantor_score"], seen["guarantor_overdue_months"]) == (712, 1)
    assert seen["missing_sources"] == "core"
    unseen = condense(guaranteed, stored())
    assert "guarantor_score" not in unseen
    assert unseen["missing_sources"] == "core,guarantor_bureau"


def test_a_persons_profile_values_are_what_they_always_were():
    person = Applicant("AP-1", "11010519491231002X", "张三", Decimal("100000.00"), 36)
    values = condense(person, stored(bureau=BureauFacts("R1", 700, False, 0, Decimal(0), 0)))
    assert not {"party_kind", "years_established", "guarantor_id_number"} & set(values)
    assert values["missing_sources"] == "social_security,core"


def test_a_companys_referral_shows_its_own_facts_and_its_guarantor_not_a_persons():
    from loanhub.flows.decide import referral

    firm = company(guarantor_id_number="11010519491231002X", guarantor_score=640)
    body = referral(firm, RULES.evaluate(firm)).body
    assert "企业 company" in body
    assert "guarantees given" in body
    assert "social security" not in body  # a company has no history at the portal
    assert "担保人 guarantor" in body
    assert "11010519491231002X" not in body
    person = referral(profile(), RULES.evaluate(profile())).body
    assert "social security" in person
    assert "企业 company" not in person
