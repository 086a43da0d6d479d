"""Post-loan monitoring: a weekly re-pull for active loans (the bureau with reason 02, the
social-security portal); what got worse since (overdue at other lenders, contributions stopped
or owed, a tax rating downgrade) is the warnings flow's (``warnings.post_loan_warnings``).

The bureau reuses a report younger than 30 days (an inquiry is a cost and a mark on the
subject's file), so a weekly run queries each subject at most once a month.

Each re-pull is a batch of its own (``harvest.run_batch``): one applicant that fails, needs a
person, conflicts or is in doubt is counted with its reason and never stops the others. The
``BatchOutcome`` says what is worth a retry (``errors``: transient or unforeseen) and what is
not (answers and refusals, items in doubt, which the bureau's resolver settles by reading, and
conflicts, which a person must look at).

Every re-pull carries the post-loan reason ``02`` and needs the subject's post-loan consent for
its source (BUREAU, TAX, SOCIAL_SECURITY with reason 02): not the approval's (reason 01, 90
days), which has lapsed on any loan older than a quarter. Post-loan consents last as long as
their record says (the channel sets it to the loan's life); the hub derives no expiry of its
own. A missing one refuses that applicant alone. A post-loan consent that lapses before its
loan matures is an early warning, once per consent (``consent_lapse_warnings``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

from sqlalchemy import Engine, select

from bots.ss.bot import SocialSecurityBot
from loanhub.flows import harvest, warnings
from loanhub.platform.consents import ConsentBook
from schemas.lending import EarlyWarning, WarningSeverity
from schemas.tables import application, loan
from schemas.types import local_day

POST_LOAN = "02"  # the bureau's post-loan management code; the hub's post-loan reason for all
WATCHED_SCOPES = ("BUREAU", "TAX", "SOCIAL_SECURITY")  # what the re-pull calls
ACTIVE = ("BOOKED", "ACTIVE")


def active_applications(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(loan.c.application_no).where(loan.c.status.in_(ACTIVE))).scalars()
        )


@dataclass(frozen=True)
class RepullBureauStep(harvest.SourceStep):
    """The applicant's report for post-loan management (reason 02: personal or enterprise),
    reused for 30 days."""

    engine: Engine
    bureau: harvest.BureauInquiries
    source = "bureau"

    def fetch(self, a: harvest.Applicant) -> Any:
        kind = harvest.SUBJECT_KIND[a.kind]
        return self.bureau.report(kind, a.application_no, a.id_number, a.name, POST_LOAN)

    def store(self, a: harvest.Applicant, report: Any) -> str:
        if report.raw is None:
            return "thin file"
        new = harvest.store_source(
            self.engine,
            harvest.BUREAU_MAPPING[a.kind],
            report.raw,
            fetched_at=report.fetched_at,
            raw_hash=report.raw_sha256 or "",
            source_ref=f"bureau:{report.report_no}",
            application_no=a.application_no,
            reason=POST_LOAN,
        )
        return f"report {report.report_no}: {sum(new.values())} new facts"


def repull_bureau(
    engine: Engine, bureau: harvest.BureauInquiries, application_nos: list[str]
) -> harvest.BatchOutcome:
    """The bureau with reason 02 (post-loan) for each active loan, each applicant on its own:
    ``ok`` counts reports stored and thin files."""
    return harvest.run_batch(
        RepullBureauStep(engine, bureau), harvest.applicants(engine, application_nos)
    )


def repull_social_security(
    engine: Engine, ss: SocialSecurityBot, consents: ConsentBook, application_nos: list[str]
) -> harvest.BatchOutcome:
    """The portal again for each active loan (the harvest's own step, with the post-loan
    consent), each applicant on its own: ``ok`` counts histories stored and applicants with no
    insured history; an applicant without consent is refused and the portal never sees them."""
    return harvest.run_batch(
        harvest.SocialSecurityStep(engine, ss, consents, POST_LOAN),
        harvest.applicants(engine, application_nos),
    )


def maturity(start: date, term_months: int) -> date:
    """The day a loan started on ``start`` matures: ``term_months`` later, on the same day of
    the month (the month's last day when it has fewer)."""
    months = start.month - 1 + term_months
    year, month = start.year + months // 12, months % 12 + 1
    return start.replace(
        year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1])
    )


def consent_lapse_warnings(
    engine: Engine,
    consents: ConsentBook,
    application_nos: list[str],
    lapse_days: int,
    today: date,
    *,
    zone: tzinfo,
) -> int:
    """An early warning for every post-loan consent of an active loan that lapses before the
    loan matures and within ``lapse_days`` of ``today`` (or has lapsed, or was never given):
    without it the loan's re-pulls of that source are refused, so credit ops must have it
    renewed. Keyed by loan and consent: raised once per consent however often the check runs;
    a renewed consent that lapses in its turn is warned about again. Returns how many are new.
    ``today`` is the bank's day and a consent's last day the day its expiry falls on in the
    bank's ``zone`` (an expiry at 04:00 Shanghai on the 6th is 20:00 UTC on the 5th).
    """
    query = select(
        loan.c.loan_account, loan.c.start_date, loan.c.term_months, application.c.party_id_number
    ).join(application, application.c.application_no == loan.c.application_no)
    query = query.where(loan.c.status.in_(ACTIVE))
    if application_nos:
        query = query.where(loan.c.application_no.in_(application_nos))
    with engine.connect() as conn:
        loans = conn.execute(query.order_by(loan.c.loan_account)).all()
    horizon = today + timedelta(days=lapse_days)
    found: list[EarlyWarning] = []
    for account, start, term, subject in loans:
        matures = maturity(start, term)
        state = warnings.LoanState(account, 0, 0, 0, "")
        for scope in WATCHED_SCOPES:
            held = consents.longest(subject, scope, POST_LOAN)
            if held is None:
                key, severity = f"consent_none:{account}:{scope}", WarningSeverity.HIGH
                what = f"no post-loan {scope} consent recorded"
            else:
                ends = local_day(zone, held.expires_at)
                if ends >= matures or ends > horizon:
                    continue
                key = f"consent_lapse:{account}:{held.consent_ref}"
                lapsed = ends <= today
                severity = WarningSeverity.HIGH if lapsed else WarningSeverity.WATCH
                what = (
                    f"the post-loan {scope} consent {held.consent_ref} "
                    f"{'lapsed' if lapsed else 'lapses'} on {ends:%Y-%m-%d}"
                )
            found.append(
                warnings.warning(
                    key,
                    state,
                    "consent_lapsing",
                    severity,
                    f"{account}: {what}, before the loan matures on {matures:%Y-%m-%d}: "
                    f"have it renewed, or the {scope.lower()} re-pull is refused",
                )
            )
    return warnings.store_warnings(engine, found)


def repull(
    engine: Engine,
    bureau: harvest.BureauInquiries,
    ss: SocialSecurityBot,
    application_nos: list[str],
    own_institution: str,
    policy: warnings.WarningPolicy | None = None,
    *,
    today: date,
    zone: tzinfo,
) -> int:
    """All of it, in one go (the DAG runs the three steps in their pools): the warnings raised,
    post-loan consents about to lapse included. A source that failed for some applicants does
    not stop the other source or the warnings (they are drawn from what is stored). ``today``
    is the bank's day, ``zone`` its time zone."""
    policy = policy or warnings.WarningPolicy()
    repull_bureau(engine, bureau, application_nos)
    repull_social_security(engine, ss, bureau.consents, application_nos)
    raised = warnings.post_loan_warnings(engine, application_nos, own_institution, today)
    return raised + consent_lapse_warnings(
        engine, bureau.consents, application_nos, policy.consent_lapse_days, today, zone=zone
    )
