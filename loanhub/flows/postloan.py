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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class RepullBureauStep(harvest.SourceStep):
    """The applicant's report for post-loan management (reason 02: personal or enterprise),
    reused for 30 days."""

    engine: Engine
    bureau: harvest.BureauInquiries
    source = "bureau"

    def fetch(self, a: harvest.Applicant) -> Any:
        kind = harvest.SUBJECT_KIND[a.kind]
        return self.bureau.report(kind, a.application_no, a.id_number, a.name, "02")

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
            reason="02",
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
    engine: Engine, ss: SocialSecurityBot, application_nos: list[str]
) -> harvest.BatchOutcome:
    """The portal again for each active loan (the harvest's own step), each applicant on its
    own: ``ok`` counts histories stored and applicants with no insured history."""
    return harvest.run_batch(
        harvest.SocialSecurityStep(engine, ss), harvest.applicants(engine, application_nos)
    )


def repull(
    engine: Engine,
    bureau: harvest.BureauInquiries,
    ss: SocialSecurityBot,
    application_nos: list[str],
    own_institution: str,
) -> int:
    """All of it, in one go (the DAG runs the three steps in their pools): the warnings raised.
    A source that failed for some applicants does not stop the other source or the warnings
    (they are drawn from what is stored)."""
    repull_bureau(engine, bureau, application_nos)
    repull_social_security(engine, ss, application_nos)
    return warnings.post_loan_warnings(engine, application_nos, own_institution)
