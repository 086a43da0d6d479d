"""Loans made older for the demo: the demo pays its loans out today, so none is older than the
90 days the approval consents last. ``age_loans`` moves chosen loans (their start date, and
their applicants' consents' grant dates) back in time, and lets the approval consents lapse
as they would have, so that the post-loan re-pull shows an old loan still watched under its
post-loan consents (reason 02, valid for the loan's life). Demo data only: never shipped."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, update

from schemas.tables import application, consent, loan
from schemas.types import utcnow

APPROVAL_DAYS = 90  # how long the approval consents (reason 01) last (devtools.synthetic)


def age_loans(engine: Engine, application_nos: list[str], days: int) -> list[str]:
    """Start the loans of ``application_nos`` ``days`` earlier and grant their applicants'
    consents ``days`` earlier; the approval consents (reason 01) then expire 90 days after
    their grant (lapsed once ``days`` > 90), the post-loan ones keep the expiry their record
    gave. Returns the loan accounts moved."""
    shift = timedelta(days=days)
    with engine.begin() as conn:
        loans = conn.execute(
            select(loan.c.loan_account, loan.c.start_date, application.c.party_id_number)
            .join(application, application.c.application_no == loan.c.application_no)
            .where(loan.c.application_no.in_(application_nos))
        ).all()
        for account, start, party in loans:
            conn.execute(
                update(loan).where(loan.c.loan_account == account).values(start_date=start - shift)
            )
            for ref, granted, reason in conn.execute(
                select(consent.c.consent_ref, consent.c.granted_at, consent.c.reason).where(
                    consent.c.party_id_number == party
                )
            ).all():
                values = {"granted_at": granted - shift}
                if reason == "01":
                    values["expires_at"] = granted - shift + timedelta(days=APPROVAL_DAYS)
                conn.execute(update(consent).where(consent.c.consent_ref == ref).values(**values))
    return [account for account, _, _ in loans]


def approval_lapsed(engine: Engine) -> int:
    """How many approval consents have lapsed (what the demo's summary can show beside the
    re-pull's counts)."""
    with engine.connect() as conn:
        return len(
            conn.execute(
                select(consent.c.id).where(
                    consent.c.reason == "01", consent.c.expires_at <= utcnow()
                )
            ).all()
        )
