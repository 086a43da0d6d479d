"""The profile's condensing step on its own: facts in, values out, no store."""

from datetime import date
from decimal import Decimal

from loanhub.flows.harvest import Applicant
from loanhub.flows.profile import BureauFacts, StoredFacts, condense

APPLICANT = Applicant("AP-1", "11010519491231002X", "张三", Decimal("100000.00"), 36)


def facts(**over) -> StoredFacts:
    base = {
        "bureau": BureauFacts("R1", 710, False, 0, Decimal("0"), 0),
        "tax_rating": "A",
        "tax_arrears": Decimal("0"),
        "tax_found": True,
        "contribution_months": [(date(2026, m, 1), "PAID") for m in range(1, 11)],
        "core_customer_no": "C1",
        "core_average_balance": Decimal("1234.567"),
        "blacklisted": False,
    }
    return StoredFacts(**{**base, **over})


def test_a_full_file_condenses_to_the_sources_values() -> None:
    values = condense(APPLICANT, facts())
    assert values["bureau_score"] == 710
    assert values["bureau_thin_file"] is False
    assert values["ss_months_paid"] == 10
    assert values["ss_latest_month"] == date(2026, 10, 1)
    assert values["core_average_balance"] == Decimal("1234.57")
    assert values["missing_sources"] == ""


def test_what_was_not_stored_is_named_missing_and_thin() -> None:
    values = condense(
        APPLICANT,
        facts(
            bureau=None,
            tax_found=False,
            tax_rating=None,
            tax_arrears=None,
            contribution_months=[],
            core_customer_no=None,
            core_average_balance=None,
        ),
    )
    assert values["missing_sources"] == "bureau,tax,social_security,core"
    assert values["bureau_thin_file"] is True
    assert (values["current_overdue_months"], values["public_records"]) == (0, 0)
    assert values["ss_latest_month"] is None


def test_months_owed_count_only_within_the_year_before_the_latest_month() -> None:
    months = [
        (date(2024, 1, 1), "OWED"),  # long ago: paid history, not a recent debt
        (date(2025, 12, 1), "OWED"),
        (date(2026, 6, 1), "PAID_LATE"),
        (date(2026, 10, 1), "PAID"),
    ]
    values = condense(APPLICANT, facts(contribution_months=months))
    assert values["ss_months_owed"] == 1
    assert values["ss_months_paid"] == 2
