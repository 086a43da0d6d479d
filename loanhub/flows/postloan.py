"""Post-loan monitoring: a weekly re-pull for active loans (the bureau with reason 02, the
social-security portal); what got worse since (overdue at other lenders, contributions stopped
or owed, a tax rating downgrade) is the warnings flow's (``warnings.post_loan_warnings``).

The bureau reuses a report younger than 30 days (an inquiry is a cost and a mark on the
subject's file), so a weekly run queries each subject at most once a month.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from bots.ss.bot import SocialSecurityBot
from loanhub.flows import harvest, warnings
from schemas.tables import loan


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
    return warnings.post_loan_warnings(engine, application_nos, own_institution)
