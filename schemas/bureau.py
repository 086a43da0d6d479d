"""The credit bureau's personal and enterprise reports, split into per-fact records."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from schemas.base import Fact
from schemas.party import PartyKind, QueryReason
from schemas.types import Money

STATUS_24M_CODES = "N1234567*C/"
"""Codes of the bureau's 24-month string: N on time, 1-7 months overdue, * no activity,
C closed, / not opened yet."""


class AccountType(StrEnum):
    LOAN = "LOAN"
    CREDIT_CARD = "CREDIT_CARD"
    FACILITY = "FACILITY"
    GUARANTEE = "GUARANTEE"


class CreditReport(Fact):
    """One report as fetched: the header; accounts, months, inquiries and records hang off it."""

    report_no: str = Field(max_length=40)
    subject_type: PartyKind
    subject_id_number: str = Field(max_length=18)
    application_no: str | None = Field(default=None, max_length=32)
    query_reason: QueryReason
    report_date: date
    score: int | None = Field(default=None, ge=300, le=900)
    registered_capital: Money | None = None
    established_on: date | None = None
    thin_file: bool = False


class CreditAccount(Fact):
    account_ref: str = Field(max_length=40)
    account_type: AccountType
    institution: str = Field(max_length=100)
    status: str = Field(max_length=20)
    opened_on: date | None = None
    credit_limit: Money | None = None
    balance: Money = Decimal("0")
    overdue_amount: Money = Field(default=Decimal("0"), ge=0)
    status_24m: str = Field(pattern=rf"^[{STATUS_24M_CODES}]{{24}}$", max_length=24)


class CreditAccountMonth(Fact):
    """One month of an account's 24-month string, as a fact of its own."""

    month: date
    status_code: str = Field(pattern=rf"^[{STATUS_24M_CODES}]$", max_length=1)
    months_overdue: int = Field(ge=0, le=7)


class CreditInquiry(Fact):
    inquired_on: date
    institution: str = Field(max_length=100)
    reason: str = Field(max_length=40)


class PublicRecordKind(StrEnum):
    COURT_JUDGMENT = "COURT_JUDGMENT"
    TAX_ARREARS = "TAX_ARREARS"
    ADMINISTRATIVE_PENALTY = "ADMINISTRATIVE_PENALTY"


class CreditPublicRecord(Fact):
    kind: PublicRecordKind
    recorded_on: date
    amount: Money | None = None
    authority: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=500)
