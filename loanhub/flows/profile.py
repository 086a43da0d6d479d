"""The applicant profile: what the rules read, condensed from the facts the harvest stored.

Two steps, so that the condensing can be read and tested on its own: ``stored_facts`` asks
the store what it knows about one applicant (the latest bureau report, the latest tax answer
found, the contribution months, the bank's own relationship, the blacklist), and ``condense``
turns those facts into the profile's values with no I/O at all. A profile is stored once per
distinct input (``inputs_hash``) and decision round: building it again from the same facts
adds nothing, and an application re-opened after a return (its next round) gets a profile of
its own even when its facts did not change, the one its new round is decided on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select

from loanhub.flows.harvest import Applicant
from loanhub.platform import blacklist
from loanhub.platform.canonical import sha256_hex
from loanhub.platform.db import insert_or_ignore
from schemas.base import Lineage
from schemas.bureau import AccountType
from schemas.party import PartyKind
from schemas.profile import ApplicantProfile
from schemas.tables import (
    applicant_profile,
    core_account,
    core_customer,
    core_monthly_summary,
    credit_account,
    credit_account_month,
    credit_public_record,
    credit_report,
    fact_row,
    social_security_month,
    tax_profile,
)
from schemas.tables import application as application_table
from schemas.types import utcnow

PROFILE_VERSION = "profile-v1"


@dataclass(frozen=True)
class BureauFacts:
    report_no: str | None
    score: int | None
    thin_file: bool
    latest_overdue_months: int
    overdue_amount: Decimal
    public_records: int
    # an enterprise report's own facts (None on a personal report)
    report_date: date | None = None
    registered_capital: Decimal | None = None
    established_on: date | None = None
    guarantees_given: Decimal | None = None


@dataclass(frozen=True)
class StoredFacts:
    """What the store holds about one applicant, as the profile needs it."""

    bureau: BureauFacts | None  # None: no report stored (the bureau was not reached)
    tax_rating: str | None
    tax_arrears: Decimal | None
    tax_found: bool
    contribution_months: list[tuple[date, str]]
    core_customer_no: str | None
    core_average_balance: Decimal | None
    blacklisted: bool
    guarantor: BureauFacts | None = None  # the guarantor's report (reason 03), when stored


def stored_facts(engine: Engine, a: Applicant) -> StoredFacts:
    """The query step: one read of everything the profile is condensed from."""
    with engine.connect() as conn:
        tax = conn.execute(
            select(tax_profile)
            .where(tax_profile.c.id_or_uscc == a.id_number, tax_profile.c.status == "FOUND")
            .order_by(tax_profile.c.fetched_at.desc())
        ).first()
        months = conn.execute(
            select(social_security_month.c.month, social_security_month.c.status).where(
                social_security_month.c.id_number == a.id_number
            )
        ).all()
        customer = conn.execute(
            select(core_customer.c.customer_no).where(core_customer.c.id_number == a.id_number)
        ).scalar()
        surety = a.guarantor
        return StoredFacts(
            bureau=_bureau_facts(conn, a.application_no, a.id_number),
            tax_rating=tax.tax_credit_rating if tax is not None else None,
            tax_arrears=tax.arrears_amount if tax is not None else None,
            tax_found=tax is not None,
            contribution_months=[(m, status) for m, status in months],
            core_customer_no=customer,
            core_average_balance=_average_balance(conn, customer),
            blacklisted=blacklist.is_listed(conn, a.id_number),
            guarantor=None
            if surety is None
            else _bureau_facts(conn, a.application_no, surety.id_number),
        )


def _bureau_facts(conn: Connection, application_no: str, subject: str) -> BureauFacts | None:
    """The latest report about ``subject`` fetched for the application: the applicant's own, or
    its guarantor's (both are filed under the application)."""
    report = conn.execute(
        select(credit_report)
        .where(
            credit_report.c.application_no == application_no,
            credit_report.c.subject_id_number == subject,
        )
        .order_by(credit_report.c.report_date.desc(), credit_report.c.fetched_at.desc())
    ).first()
    if report is None:
        return None
    accounts = select(credit_account.c.id).where(credit_account.c.report_id == report.id)
    enterprise = report.subject_type == PartyKind.ENTERPRISE.value
    latest = conn.execute(
        select(func.max(credit_account_month.c.month)).where(
            credit_account_month.c.account_id.in_(accounts)
        )
    ).scalar()
    return BureauFacts(
        report_no=report.report_no,
        score=report.score,
        thin_file=bool(report.thin_file),
        latest_overdue_months=conn.execute(
            select(func.coalesce(func.max(credit_account_month.c.months_overdue), 0)).where(
                credit_account_month.c.account_id.in_(accounts),
                credit_account_month.c.month == latest,
            )
        ).scalar_one(),
        overdue_amount=conn.execute(
            select(func.coalesce(func.sum(credit_account.c.overdue_amount), 0)).where(
                credit_account.c.report_id == report.id
            )
        ).scalar_one(),
        public_records=conn.execute(
            select(func.count()).where(credit_public_record.c.report_id == report.id)
        ).scalar_one(),
        report_date=report.report_date,
        registered_capital=report.registered_capital,
        established_on=report.established_on,
        guarantees_given=conn.execute(
            select(func.coalesce(func.sum(credit_account.c.balance), 0)).where(
                credit_account.c.report_id == report.id,
                credit_account.c.account_type == AccountType.GUARANTEE.value,
            )
        ).scalar_one()
        if enterprise
        else None,
    )


def _average_balance(conn: Connection, customer_no: str | None) -> Decimal | None:
    if customer_no is None:
        return None
    return conn.execute(
        select(func.avg(core_monthly_summary.c.average_balance)).where(
            core_monthly_summary.c.account_no.in_(
                select(core_account.c.account_no).where(core_account.c.customer_no == customer_no)
            )
        )
    ).scalar()


def condense(a: Applicant, facts: StoredFacts) -> dict[str, Any]:
    """The pure step: the profile's values from the facts. Contributions paid count over the
    whole history; months owed only within the year before the latest month; a source with
    nothing stored is named in ``missing_sources`` so that the rules refer it to a person."""
    statuses = Counter(status for _, status in facts.contribution_months)
    latest_month = max((m for m, _ in facts.contribution_months), default=None)
    recent_owed = sum(
        1
        for m, status in facts.contribution_months
        if status == "OWED" and latest_month is not None and (latest_month - m).days < 365
    )
    present = {
        "bureau": facts.bureau is not None,
        "tax": facts.tax_found,
        "social_security": bool(facts.contribution_months),
        "core": facts.core_customer_no is not None,
    }
    if a.is_enterprise:  # the portal holds persons: a company has no history to miss
        del present["social_security"]
    if a.guarantor is not None:
        present["guarantor_bureau"] = facts.guarantor is not None
    bureau = facts.bureau
    balance = facts.core_average_balance
    values: dict[str, Any] = {
        "application_no": a.application_no,
        "party_id_number": a.id_number,
        "requested_amount": a.requested_amount,
        "term_months": a.term_months,
        "bureau_report_no": bureau.report_no if bureau else None,
        "bureau_score": bureau.score if bureau else None,
        "bureau_thin_file": bureau is None or bureau.thin_file,
        "current_overdue_months": bureau.latest_overdue_months if bureau else 0,
        "overdue_amount": bureau.overdue_amount if bureau else 0,
        "public_records": bureau.public_records if bureau else 0,
        "blacklisted": facts.blacklisted,
        "tax_rating": facts.tax_rating,
        "tax_arrears": facts.tax_arrears,
        "ss_months_paid": statuses["PAID"] + statuses["PAID_LATE"],
        "ss_months_owed": recent_owed,
        "ss_latest_month": latest_month,
        "core_customer_no": facts.core_customer_no,
        "core_average_balance": round(balance, 2) if balance is not None else None,
        "missing_sources": ",".join(name for name, there in present.items() if not there),
    }
    # a person without a guarantor gets exactly the values (and so the inputs hash) as before
    if a.is_enterprise:
        values.update(_enterprise_values(bureau))
    if a.guarantor is not None:
        values.update(_guarantor_values(a.guarantor.id_number, facts.guarantor))
    return values


def _enterprise_values(bureau: BureauFacts | None) -> dict[str, Any]:
    """A company's own facts: its age at the report, its capital, the guarantees it gave and
    what they are of its capital."""
    values: dict[str, Any] = {"party_kind": PartyKind.ENTERPRISE.value}
    if bureau is None:
        return values
    capital, given = bureau.registered_capital, bureau.guarantees_given
    if bureau.established_on is not None and bureau.report_date is not None:
        values["years_established"] = _full_years(bureau.established_on, bureau.report_date)
    values["registered_capital"] = capital
    values["guarantees_given"] = given
    if capital and given is not None:
        values["guarantee_exposure_pct"] = int(given * 100 / capital)
    return values


def _guarantor_values(id_number: str, bureau: BureauFacts | None) -> dict[str, Any]:
    values: dict[str, Any] = {"guarantor_id_number": id_number}
    if bureau is not None:
        values["guarantor_score"] = bureau.score
        values["guarantor_overdue_months"] = bureau.latest_overdue_months
        values["guarantor_public_records"] = bureau.public_records
    return values


def _full_years(since: date, on: date) -> int:
    return max(0, on.year - since.year - ((on.month, on.day) < (since.month, since.day)))


def build_profile(engine: Engine, a: Applicant) -> ApplicantProfile:
    """Query, condense, and store the profile once per distinct input and round (round 1's
    hash is the hash from before rounds existed, so rebuilding an old profile adds nothing)."""
    values = condense(a, stored_facts(engine, a))
    with engine.connect() as conn:
        decision_round = current_round(conn, a.application_no)
    digest = sha256_hex(values if decision_round == 1 else {**values, "round": decision_round})
    profile = ApplicantProfile.model_validate(
        {
            **values,
            "round": decision_round,
            "inputs_hash": digest,
            "lineage": Lineage(
                source_system="hub",
                fetched_at=utcnow(),
                mapping_version=PROFILE_VERSION,
                raw_payload_hash=digest,
            ),
        }
    )
    with engine.begin() as conn:
        conn.execute(insert_or_ignore(conn, applicant_profile).values(fact_row(profile)))
    return profile


def current_round(conn: Connection, application_no: str) -> int:
    """The application's decision round now (1 for one the store does not hold)."""
    found = conn.execute(
        select(application_table.c.round).where(
            application_table.c.application_no == application_no
        )
    ).scalar()
    return 1 if found is None else int(found)


def newest_profile(conn: Connection, application_no: str, round: int) -> Row[Any] | None:
    """The round's newest stored profile row: what a decision, and the case file's reading of
    an undecided round, start from (an earlier round's profile is never the current one)."""
    return conn.execute(
        select(applicant_profile)
        .where(
            applicant_profile.c.application_no == application_no,
            applicant_profile.c.round == round,
        )
        .order_by(applicant_profile.c.id.desc())
    ).first()
