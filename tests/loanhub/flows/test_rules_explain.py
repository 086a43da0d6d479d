"""The rules' explanation, factor by factor: each scorecard line's value and points, each hard
reject's value, threshold and verdict; its score is the rules' score, whatever the profile."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from loanhub.flows.rules import RuleSet, RuleSetSpec
from tests.loanhub.flows.test_rules import RULES, profile

ratings = st.sampled_from([None, "A", "B", "M", "C", "D"])
persons = st.fixed_dictionaries(
    {
        "bureau_score": st.one_of(st.none(), st.integers(300, 900)),
        "ss_months_paid": st.integers(0, 120),
        "ss_months_owed": st.integers(0, 3),
        "current_overdue_months": st.integers(0, 7),
        "public_records": st.integers(0, 2),
        "blacklisted": st.booleans(),
        "tax_rating": ratings,
        "tax_arrears": st.one_of(st.none(), st.sampled_from([Decimal(0), Decimal("12.50")])),
        "requested_amount": st.sampled_from(
            [Decimal("50000.00"), Decimal("200000.00"), Decimal("900000.00"), Decimal("2e6")]
        ),
        "missing_sources": st.sampled_from(["", "core", "tax", "social_security,core"]),
    }
)
companies = st.fixed_dictionaries(
    {
        "party_kind": st.just("ENTERPRISE"),
        "party_id_number": st.just("91350100M000100Y43"),
        "years_established": st.one_of(st.none(), st.integers(0, 30)),
        "registered_capital": st.one_of(
            st.none(), st.sampled_from([Decimal("500000"), Decimal("2e7"), Decimal("6e7")])
        ),
        "guarantee_exposure_pct": st.one_of(st.none(), st.integers(0, 400)),
        "current_overdue_months": st.integers(0, 4),
        "tax_rating": ratings,
        "guarantor_overdue_months": st.one_of(st.none(), st.integers(0, 4)),
        "missing_sources": st.sampled_from(["", "tax", "guarantor_bureau"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(persons, companies))
def test_the_explanation_adds_up_to_the_score_and_names_what_decided(values):
    p = profile(**values)
    explained = RULES.explain(p)
    verdict = RULES.evaluate(p)
    assert explained.score == RULES.score(p) == verdict.score
    assert explained.total == sum(line.points for line in explained.lines)
    assert explained.score == max(0, min(100, explained.total))
    assert (explained.outcome, explained.reasons) == (verdict.outcome, verdict.reasons)
    assert explained.version == RULES.version
    section = RULES.section(p)
    assert [line.field for line in explained.lines] == [c.field for c in section.scorecard]
    assert [c.id for c in explained.hard_rejects] == [r.id for r in section.hard_rejects]
    if explained.fired:
        assert verdict.outcome == "REJECT"
        assert verdict.decided_by == f"rule:{explained.fired[0].id}"
        assert [r.split(":")[0] for r in verdict.reasons] == [c.id for c in explained.fired]
    for check in explained.hard_rejects:
        assert check.fired is False or check.checked  # never fired on a missing value
    assert all(0 <= line.points <= line.best for line in explained.lines)
    assert explained.tier == verdict.tier + 1
    assert explained.approvers == verdict.approvers


def test_each_line_shows_the_value_it_read_and_the_points_of_its_band():
    p = profile(bureau_score=700, ss_months_paid=30, current_overdue_months=1, tax_rating="B")
    explained = RULES.explain(p)
    shown = [(line.field, line.value, line.band, line.points) for line in explained.lines]
    assert shown == [
        ("bureau_score", 700, ">= 680", 40),
        ("ss_months_paid", 30, ">= 24", 20),
        ("current_overdue_months", 1, ">= 1", 5),
        ("tax_rating", "B", "= B", 7),
    ]
    assert (explained.total, explained.score) == (72, 72)
    assert explained.section == "person"
    assert (explained.approve_at, explained.reject_below, explained.tier) == (70, 40, 1)
    assert explained.outcome == "APPROVE"


def test_a_missing_value_gives_the_missing_points_and_checks_no_hard_reject():
    p = profile(bureau_score=None, tax_rating=None, tax_arrears=None, missing_sources="tax")
    explained = RULES.explain(p)
    lines = {line.field: line for line in explained.lines}
    assert (lines["bureau_score"].band, lines["bureau_score"].points) == ("missing", 10)
    assert (lines["tax_rating"].value, lines["tax_rating"].points) == (None, 3)
    checks = {c.id: c for c in explained.hard_rejects}
    assert not checks["tax_arrears"].checked
    assert not checks["tax_arrears"].fired
    assert checks["public_record"].checked
    assert explained.missing == ("tax",)
    assert explained.outcome == "REFER"


def test_a_fired_hard_reject_shows_its_value_against_its_threshold():
    explained = RULES.explain(profile(public_records=2, tax_arrears=Decimal("5.00")))
    fired = [(c.id, c.value, c.op, c.threshold) for c in explained.fired]
    assert fired == [("public_record", 2, ">", 0), ("tax_arrears", Decimal("5.00"), ">", 0)]
    assert explained.decided_by == "rule:public_record"


def test_a_company_is_explained_by_the_enterprise_section():
    p = profile(
        party_kind="ENTERPRISE",
        party_id_number="91350100M000100Y43",
        years_established=12,
        registered_capital=Decimal("20000000"),
        guarantee_exposure_pct=30,
        tax_rating="A",
    )
    explained = RULES.explain(p)
    assert explained.section == "enterprise"
    assert explained.total == 25 + 15 + 20 + 25 + 10
    assert explained.score == 95
    assert "young_company" in [c.id for c in explained.hard_rejects]


def test_a_rule_set_without_an_enterprise_section_explains_why_it_refers():
    spec = RULES.spec.model_copy(update={"enterprise": None})
    bare = RuleSet(RuleSetSpec.model_validate(spec.model_dump()), "bare@0")
    explained = bare.explain(profile(party_kind="ENTERPRISE", party_id_number="91350100M000100Y43"))
    assert explained.section is None
    assert (explained.lines, explained.hard_rejects, explained.score) == ((), (), 0)
    assert explained.outcome == "REFER"


def test_a_version_is_found_only_when_those_very_rules_are_installed():
    assert RuleSet.of_version(RULES.version) is RULES
    name, _, digest = RULES.version.partition("@")
    assert RuleSet.of_version(f"{name}@{'0' * len(digest)}") is None
    assert RuleSet.of_version(None) is None
