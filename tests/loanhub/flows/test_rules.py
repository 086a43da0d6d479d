"""The credit rule set on hand-made profiles: every hard reject, the score bands, the tiers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loanhub.flows.rules import RuleSet
from schemas.base import Lineage
from schemas.profile import ApplicantProfile

RULES = RuleSet.load("credit-v1")


def profile(**over) -> ApplicantProfile:
    values = {
        "application_no": "AP1",
        "party_id_number": "11010519491231002X",
        "requested_amount": Decimal("150000.00"),
        "term_months": 36,
        "bureau_score": 760,
        "ss_months_paid": 40,
        "tax_rating": "A",
        "tax_arrears": Decimal("0"),
        "inputs_hash": "0" * 64,
        "lineage": Lineage(
            source_system="hub",
            fetched_at=datetime.now(UTC),
            mapping_version="t",
            raw_payload_hash="0" * 64,
        ),
    }
    return ApplicantProfile.model_validate({**values, **over})


def test_a_strong_small_application_is_approved_by_rule():
    verdict = RULES.evaluate(profile())
    assert verdict.outcome == "APPROVE"
    assert verdict.score == 100
    assert verdict.decided_by == "rule:score_auto_approve"
    assert verdict.annual_rate == Decimal("4.35")


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"public_records": 1}, "public_record"),
        ({"current_overdue_months": 3}, "bureau_overdue_m3"),
        ({"tax_rating": "D"}, "tax_rating_d"),
        ({"tax_arrears": Decimal("0.01")}, "tax_arrears"),
        ({"ss_months_owed": 2}, "ss_owed"),
        ({"blacklisted": True}, "blacklist"),
    ],
)
def test_each_hard_reject(change, rule):
    verdict = RULES.evaluate(profile(**change))
    assert verdict.outcome == "REJECT"
    assert verdict.decided_by == f"rule:{rule}"


def test_every_hard_reject_that_applies_is_named():
    verdict = RULES.evaluate(profile(public_records=2, tax_rating="D"))
    assert [r.split(":")[0] for r in verdict.reasons] == ["public_record", "tax_rating_d"]


def test_the_referral_band_and_the_tiers():
    middling = RULES.evaluate(profile(bureau_score=630, ss_months_paid=13, tax_rating="C"))
    assert middling.outcome == "REFER"
    assert 40 <= middling.score < 70
    big = RULES.evaluate(profile(requested_amount=Decimal("500000.00")))
    assert big.outcome == "REFER"  # a top score, but tier 2 needs a person
    assert big.approvers == ("senior_officer", "credit_manager")
    weak = RULES.evaluate(profile(bureau_score=500, ss_months_paid=0, tax_rating=None))
    assert weak.outcome == "REJECT"
    assert weak.decided_by == "rule:score_below_floor"


def test_missing_sources_score_their_own_points():
    thin = profile(bureau_score=None, tax_rating=None)
    assert RULES.score(thin) == 10 + 25 + 15 + 3


def test_the_version_changes_with_the_file():
    assert RULES.version.startswith("credit-v1@")
    assert len(RULES.version.split("@")[1]) == 12


def test_no_rule_approves_without_the_bureau_tax_or_social_security():
    verdict = RULES.evaluate(profile(missing_sources="tax,core"))
    assert verdict.outcome == "REFER"
    assert "no answer from tax" in verdict.reasons[0]
    assert RULES.evaluate(profile(missing_sources="core")).outcome == "APPROVE"


def test_the_maker_is_never_an_approver_and_four_eyes_escalate():
    assert RULES.approvers(1, "ops") == ("senior_officer", "credit_manager")
    assert RULES.approvers(1, "senior_officer") == ("credit_manager",)
    assert RULES.approvers(2, "credit_manager") == ("risk_committee",)
    with pytest.raises(ValueError, match="no approver other than"):
        RULES.approvers(3, "x")  # past the top tier: nobody


GAPS = [
    combo
    for n in (1, 2, 3)
    for combo in itertools.combinations(("bureau", "tax", "social_security"), n)
]
# what each source leaves empty when it gave no answer
EMPTY = {
    "bureau": {"bureau_score": None},
    "tax": {"tax_rating": None, "tax_arrears": None},
    "social_security": {"ss_months_paid": 0, "ss_months_owed": 0},
}


@pytest.mark.parametrize("gaps", GAPS, ids=lambda g: "+".join(g))
def test_every_combination_of_missing_sources_is_referred_with_them_named(gaps):
    """A weak score that is weak only for want of answers is a referral, never a rejection."""
    over = {k: v for g in gaps for k, v in EMPTY[g].items()}
    thin = profile(**{"missing_sources": ",".join([*gaps, "core"]), **over, "bureau_score": 500})
    if "bureau" in gaps:
        thin = thin.model_copy(update={"bureau_score": None})
    verdict = RULES.evaluate(thin)
    assert verdict.outcome == "REFER", verdict
    assert verdict.missing == gaps
    assert verdict.reasons == (f"no answer from {', '.join(gaps)}: a person decides without it",)


def test_a_missing_social_security_with_a_weak_bureau_is_referred_not_rejected_by_score():
    thin = profile(missing_sources="social_security", ss_months_paid=0, bureau_score=500)
    assert RULES.score(thin) < RULES.spec.reject_below  # the floor would have rejected it
    assert RULES.evaluate(thin).outcome == "REFER"


@pytest.mark.parametrize(
    ("gaps", "change", "rule"),
    [
        (("social_security",), {"tax_arrears": Decimal("5")}, "tax_arrears"),
        (("tax",), {"public_records": 1}, "public_record"),
        (("bureau",), {"ss_months_owed": 1}, "ss_owed"),
        (("bureau", "tax", "social_security"), {"blacklisted": True}, "blacklist"),
    ],
)
def test_a_hard_reject_on_data_that_is_there_still_rejects(gaps, change, rule):
    over = {k: v for g in gaps for k, v in EMPTY[g].items()}
    verdict = RULES.evaluate(profile(**{"missing_sources": ",".join(gaps), **over, **change}))
    assert verdict.outcome == "REJECT"
    assert verdict.decided_by == f"rule:{rule}"
