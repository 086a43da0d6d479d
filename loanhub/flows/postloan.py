"""Post-loan monitoring: a weekly re-pull for active loans (the bureau with reason 02, the
social-security portal) and warnings for what got worse: overdue at other lenders, contributions
stopped or owed, a tax rating downgrade between the last two tax answers.

The bureau reuses a report younger than 30 days (an inquiry is a cost and a mark on the
subject's file), so a weekly run queries each subject at most once a month.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from bots.ss.bot import SocialSecurityBot
from loanhub.flows import harvest, warnings
from loanhub.flows.warnings import LoanState
from schemas.lending import WarningSeverity
from schemas.tables import (
    credit_account,
    credit_account_month,
    credit_report,
    loan,
    social_security_month,
    tax_profile,
)

RATING_ORDER = "ABMCD"  # best to worst


def active_applications(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(loan.c.application_no).where(loan.c.status.in_(["BOOKED", "ACTIVE"]))
            ).scalars()
        )


def repull_bureau(
    engine: Engine, bureau: harvest.BureauInquiries, application_nos: list[str]
) -> int:
    """The bureau with reason 02 (post-loan) for each active loan; returns reports stored."""
    stored = 0
    for a in harvest.applicants(engine, application_nos):
        report = bureau.personal_report(a.application_no, a.id_number, a.name, "02")
        if report.raw is not None:
            harvest.store_source(
                engine,
                "bureau_personal",
                report.raw,
                fetched_at=report.fetched_at,
                raw_hash=report.raw_sha256 or "",
                source_ref=f"bureau:{report.report_no}",
                application_no=a.application_no,
                reason="02",
            )
            stored += 1
    return stored


def repull_social_security(
    engine: Engine, ss: SocialSecurityBot, application_nos: list[str]
) -> int:
    """The portal again for each active loan (the harvest's own step); returns histories
    stored."""
    step = harvest.SocialSecurityStep(engine, ss)
    stored = 0
    for a in harvest.applicants(engine, application_nos):
        history = step.fetch(a)
        step.store(a, history)
        stored += history.found
    return stored


def warn(engine: Engine, application_nos: list[str], own_institution: str) -> int:
    """Warnings from what the re-pulled sources now say; returns how many are new."""
    found = []
    for a in harvest.applicants(engine, application_nos):
        found.extend(_changes(engine, a, own_institution))
    return warnings.store_warnings(engine, found)


def repull(
    engine: Engine,
    bureau: harvest.BureauInquiries,
    ss: SocialSecurityBot,
    application_nos: list[str],
    own_institution: str,
) -> int:
    """All of it, in one go (the DAG runs the three steps in their pools)."""
    repull_bureau(engine, bureau, application_nos)
    repull_social_security(engine, ss, application_nos)
    return warn(engine, application_nos, own_institution)


def _changes(engine: Engine, a: harvest.Applicant, own_institution: str) -> list:
    with engine.connect() as conn:
        account = conn.execute(
            select(loan.c.loan_account).where(loan.c.application_no == a.application_no)
        ).scalar_one()
        state = LoanState(account, 0, 0, 0, "")
        found = []
        reports = conn.execute(
            select(credit_report.c.id, credit_report.c.report_no)
            .where(credit_report.c.subject_id_number == a.id_number)
            .order_by(credit_report.c.report_date.desc(), credit_report.c.id.desc())
        ).all()
        if reports:
            worst = conn.execute(
                select(credit_account_month.c.months_overdue)
                .join(credit_account, credit_account.c.id == credit_account_month.c.account_id)
                .where(
                    credit_account.c.report_id == reports[0].id,
                    credit_account.c.institution != own_institution,  # our loan is ours to see
                )
                .order_by(
                    credit_account_month.c.month.desc(),
                    credit_account_month.c.months_overdue.desc(),
                )
            ).scalar()
            if worst:
                found.append(
                    warnings.warning(
                        f"bureau_overdue:{account}:{reports[0].report_no}",
                        state,
                        "overdue_other_lender",
                        WarningSeverity.HIGH,
                        f"{account}: the bureau shows overdue level M{worst} (report "
                        f"{reports[0].report_no})",
                    )
                )
        months = conn.execute(
            select(social_security_month.c.month, social_security_month.c.status)
            .where(social_security_month.c.id_number == a.id_number)
            .order_by(social_security_month.c.month.desc())
        ).all()
        if months:
            latest, status = months[0]
            if status == "OWED":
                found.append(
                    warnings.warning(
                        f"ss_owed:{account}:{latest:%Y%m}",
                        state,
                        "contributions_owed",
                        WarningSeverity.WATCH,
                        f"{account}: social security owed for {latest:%Y-%m}",
                    )
                )
            if latest < (warnings.utcnow().date().replace(day=1) - timedelta(days=62)):
                found.append(
                    warnings.warning(
                        f"ss_stopped:{account}:{latest:%Y%m}",
                        state,
                        "contributions_stopped",
                        WarningSeverity.HIGH,
                        f"{account}: no contributions since {latest:%Y-%m} (employment ended?)",
                    )
                )
        ratings = (
            conn.execute(
                select(tax_profile.c.tax_credit_rating)
                .where(tax_profile.c.id_or_uscc == a.id_number, tax_profile.c.status == "FOUND")
                .order_by(tax_profile.c.fetched_at.desc())
                .limit(2)
            )
            .scalars()
            .all()
        )
        if len(ratings) == 2 and all(ratings):
            now, before = ratings
            if RATING_ORDER.index(str(now)) > RATING_ORDER.index(str(before)):
                found.append(
                    warnings.warning(
                        f"tax_downgrade:{account}:{before}{now}",
                        state,
                        "tax_rating_downgrade",
                        WarningSeverity.WATCH,
                        f"{account}: tax rating {before} -> {now}",
                    )
                )
    return found
