"""When an application is closed, and archiving its case file once when it is.

Closed means nothing more will happen to it in the hub, so its case file is final:

- **rejected**: the application is ``REJECTED`` (by the rules, by an approver, or by the LOS's
  checker) and the rejection is in the LOS: its latest round's decision has the LOS's
  reference and is not waiting for a checker, and no posting of it is unfinished in the ledger.
  Closed at the time of that decision.
- **paid and settled**: the application is ``DISBURSED`` and every loan of it is settled both
  ways: every tranche paid (``ACSC``), and the loan repaid, either ``CLOSED`` in the store or
  with every installment of its term paid in full (``P`` or ``L``, principal and interest).
  Closed when the hub learned of the last payment (the installment's ``fetched_at``).
- **withdrawn**: the store has no such state (``ApplicationStatus`` has none, and the LOS shows
  none to the hub), so nothing closes as withdrawn; once intake carries one, it is a third
  branch here.

Not closed: a return for more documents (``RETURNED``: it re-opens at the next intake), an
approval not (yet) lent, a loan still running, and a loan written off (``WRITTEN_OFF``: the bank
is still recovering it; its file is not final).

The mechanics (the file, its record, its audit event) are ``loanhub.platform.archive``; the
case file itself comes from the renderer the caller hands in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from loanhub.flows.decide import KIND as LOS_DECISION
from loanhub.flows.decide import ROUND_MARK
from loanhub.platform.archive import Archived, CaseArchiveStore, Renderer
from loanhub.platform.masking import mask_text
from schemas.hub import WorkItemState
from schemas.tables import (
    application,
    decision,
    disbursement,
    loan,
    repayment_installment,
    work_item,
)

log = logging.getLogger(__name__)

PAID_IN_FULL = frozenset({"P", "L"})  # the core's status: paid on time, paid late


class ClosedAs(StrEnum):
    REJECTED = "rejected"
    PAID_AND_SETTLED = "paid_and_settled"


@dataclass(frozen=True)
class Closure:
    application_no: str
    closed_as: ClosedAs
    closed_at: datetime


class NotClosed(ValueError):
    """An application that is not closed (or not in the store): its case file is not final."""


def _rejection(conn: Connection, application_no: str) -> Closure | None:
    latest = conn.execute(
        select(decision.c.los_reference, decision.c.los_status, decision.c.decided_at)
        .where(decision.c.application_no == application_no)
        .order_by(decision.c.round.desc())
        .limit(1)
    ).first()
    if latest is None or latest.los_reference is None or latest.los_status == "PENDING_REVIEW":
        return None
    unfinished = conn.execute(
        select(work_item.c.id)
        .where(
            work_item.c.kind == LOS_DECISION,
            (work_item.c.business_key == application_no)
            | work_item.c.business_key.startswith(f"{application_no}{ROUND_MARK}", autoescape=True),
            work_item.c.state != WorkItemState.DONE.value,
        )
        .limit(1)
    ).first()
    if unfinished is not None:
        return None
    return Closure(application_no, ClosedAs.REJECTED, latest.decided_at)


def _loan_settled(conn: Connection, row: Row[Any]) -> datetime | None:
    """When the hub learned the loan was settled both ways; None while it is not."""
    account, term, status, fetched = row.loan_account, row.term_months, row.status, row.fetched_at
    tranches = list(
        conn.execute(
            select(disbursement.c.status).where(disbursement.c.loan_account == account)
        ).scalars()
    )
    if not tranches or any(s != "ACSC" for s in tranches):
        return None
    installments = conn.execute(
        select(repayment_installment).where(repayment_installment.c.loan_account == account)
    ).all()
    last_learned = max((i.fetched_at for i in installments), default=None)
    if status == "CLOSED":
        return last_learned or fetched
    if status != "ACTIVE" or not installments:
        return None
    paid = {
        i.installment_no
        for i in installments
        if i.status in PAID_IN_FULL
        and Decimal(i.principal_paid) >= Decimal(i.principal_due)
        and Decimal(i.interest_paid) >= Decimal(i.interest_due)
    }
    if len(paid) != len(installments) or not set(range(1, term + 1)) <= paid:
        return None
    return last_learned


def _repayment(conn: Connection, application_no: str) -> Closure | None:
    loans = conn.execute(
        select(loan.c.loan_account, loan.c.term_months, loan.c.status, loan.c.fetched_at).where(
            loan.c.application_no == application_no
        )
    ).all()
    if not loans:
        return None
    settled = [_loan_settled(conn, row) for row in loans]
    known = [when for when in settled if when is not None]
    if len(known) != len(settled):
        return None
    return Closure(application_no, ClosedAs.PAID_AND_SETTLED, max(known))


def closure_of(engine: Engine, application_no: str) -> Closure | None:
    """How and when the application closed; None while it is open (or unknown)."""
    with engine.connect() as conn:
        status = conn.execute(
            select(application.c.status).where(application.c.application_no == application_no)
        ).scalar()
        if status == "REJECTED":
            return _rejection(conn, application_no)
        if status == "DISBURSED":
            return _repayment(conn, application_no)
    return None


def closed_not_archived(engine: Engine, archived: set[str]) -> list[Closure]:
    """Every closed application whose case file is not archived yet, oldest first."""
    with engine.connect() as conn:
        candidates = list(
            conn.execute(
                select(application.c.application_no)
                .where(application.c.status.in_(("REJECTED", "DISBURSED")))
                .order_by(application.c.application_no)
            ).scalars()
        )
    found = [
        c
        for number in candidates
        if number not in archived and (c := closure_of(engine, number)) is not None
    ]
    return sorted(found, key=lambda c: (c.closed_at, c.application_no))


@dataclass
class ArchiveRun:
    """What one run did: archived now, closed but failed to render or write (retried by the
    next run), and how many were archived before."""

    archived: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        return {"archived": len(self.archived), "failed": len(self.failed)}


def archive_application(
    engine: Engine, store: CaseArchiveStore, render: Renderer, application_no: str
) -> Archived:
    """Archive one application's case file, once, if it is closed."""
    existing = store.get(application_no)
    if existing is not None:
        return Archived(existing, new=False)
    closure = closure_of(engine, application_no)
    if closure is None:
        raise NotClosed(f"{application_no} is not closed: its case file is not final yet")
    return store.archive(
        application_no, render, closed_as=closure.closed_as.value, closed_at=closure.closed_at
    )


def archive_closed(
    engine: Engine, store: CaseArchiveStore, render: Renderer, *, limit: int | None = None
) -> ArchiveRun:
    """Archive every closed application not archived yet; one that fails (its renderer, the
    disk) is logged and left for the next run, never stopping the others."""
    run = ArchiveRun()
    for closure in closed_not_archived(engine, store.archived())[:limit]:
        number = closure.application_no
        try:
            done = store.archive(
                number, render, closed_as=closure.closed_as.value, closed_at=closure.closed_at
            )
        except Exception as exc:  # one case file must not stop the others
            run.failed[number] = mask_text(f"{type(exc).__name__}: {exc}")[:300]
            log.warning("archive of %s failed: %s", number, run.failed[number])
            continue
        if done.new:
            run.archived.append(number)
    return run
