"""The applicant profile: what the decision rules read, condensed from every source's facts.

One profile per application and harvest; ``inputs_hash`` is the hash of the facts it was built
from, so a re-harvest that changes nothing changes no profile.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field

from schemas.base import Fact
from schemas.party import PartyKind
from schemas.sources import TaxRating
from schemas.types import Money


class ApplicantProfile(Fact):
    application_no: str = Field(max_length=32)
    round: int = Field(default=1, ge=1, description="the decision round it was built for")
    party_id_number: str = Field(max_length=18)
    requested_amount: Money = Field(gt=0)
    term_months: int = Field(ge=1, le=360)
    bureau_report_no: str | None = Field(default=None, max_length=40)
    bureau_score: int | None = Field(default=None, ge=300, le=900)
    bureau_thin_file: bool = False
    current_overdue_months: int = Field(
        default=0, ge=0, le=7, description="worst overdue level in the report's latest month"
    )
    overdue_amount: Money = Field(default=Decimal("0"), ge=0)
    public_records: int = Field(default=0, ge=0)
    blacklisted: bool = Field(default=False, description="on the bank's own blacklist")
    tax_rating: TaxRating | None = None
    tax_arrears: Money | None = Field(default=None, ge=0)
    ss_months_paid: int = Field(default=0, ge=0)
    ss_months_owed: int = Field(
        default=0, ge=0, description="months owed in the year up to the latest month"
    )
    ss_latest_month: date | None = None
    core_customer_no: str | None = Field(default=None, max_length=12)
    core_average_balance: Money | None = None
    party_kind: PartyKind = Field(
        default=PartyKind.PERSON, description="a company is read by the rules' enterprise section"
    )
    years_established: int | None = Field(
        default=None, ge=0, description="full years from establishment to the bureau report"
    )
    registered_capital: Money | None = None
    guarantees_given: Money | None = Field(
        default=None, ge=0, description="sum of the guarantees the company has given, in force"
    )
    guarantee_exposure_pct: int | None = Field(
        default=None, ge=0, description="guarantees given as a percentage of registered capital"
    )
    guarantor_id_number: str | None = Field(default=None, max_length=18)
    guarantor_score: int | None = Field(default=None, ge=300, le=900)
    guarantor_overdue_months: int | None = Field(
        default=None, ge=0, le=7, description="the guarantor's worst overdue level, latest month"
    )
    guarantor_public_records: int | None = Field(default=None, ge=0)
    missing_sources: str = Field(
        default="", max_length=100, description="sources that had nothing to say, comma-separated"
    )
    inputs_hash: str = Field(max_length=64)
