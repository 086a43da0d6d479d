"""Facts from the tax authority, the social-security portal and the core banking system."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from schemas.base import Fact
from schemas.types import Money


class TaxAnswerStatus(StrEnum):
    FOUND = "FOUND"
    NOT_FOUND = "NOT_FOUND"
    REJECTED = "REJECTED"


class TaxRating(StrEnum):
    A = "A"
    B = "B"
    M = "M"
    C = "C"
    D = "D"


class TaxProfile(Fact):
    """One answer row of the tax authority's batch exchange."""

    request_id: str = Field(max_length=40)
    id_or_uscc: str = Field(max_length=18)
    status: TaxAnswerStatus
    tax_credit_rating: TaxRating | None = None
    revenue_y1: Money | None = None
    revenue_y2: Money | None = None
    revenue_y3: Money | None = None
    tax_paid_y1: Money | None = None
    tax_paid_y2: Money | None = None
    tax_paid_y3: Money | None = None
    arrears_amount: Money | None = Field(default=None, ge=0)
    arrears_since: date | None = None
    penalty_count: int | None = Field(default=None, ge=0)


class ContributionStatus(StrEnum):
    PAID = "PAID"  # 已缴
    OWED = "OWED"  # 欠缴
    PAID_LATE = "PAID_LATE"  # 补缴


class SocialSecurityMonth(Fact):
    """One month of a person's contribution history, as the portal shows it."""

    id_number: str = Field(max_length=18)
    month: date = Field(description="first day of the contribution month")
    employer_name: str = Field(max_length=200)
    employer_uscc: str = Field(max_length=18)
    contribution_base: Money = Field(ge=0)
    pension_personal: Money = Field(ge=0)
    pension_employer: Money = Field(ge=0)
    status: ContributionStatus


class CoreCustomer(Fact):
    customer_no: str = Field(max_length=12)
    id_number: str = Field(max_length=18)
    name: str = Field(max_length=100)
    segment: str = Field(max_length=20)
    customer_since: date


class CoreAccountType(StrEnum):
    DEPOSIT = "DEPOSIT"
    LOAN = "LOAN"


class CoreAccount(Fact):
    account_no: str = Field(max_length=20)
    customer_no: str = Field(max_length=12)
    account_type: CoreAccountType
    currency: str = Field(pattern=r"^[A-Z]{3}$", max_length=3)
    balance: Money
    status: str = Field(max_length=20)
    opened_on: date


class CoreMonthlySummary(Fact):
    account_no: str = Field(max_length=20)
    month: date = Field(description="first day of the month")
    inflow: Money = Field(ge=0)
    outflow: Money = Field(ge=0)
    average_balance: Money
