"""What happened to an application after the rules: the referral and who answered it, the
LOS's statuses, the loan with its tranches and their pain.002 statuses, the installments with
days past due and the five-tier class over time, and the work items and audit events that
touch it.

The LOS's status history is read from the audit chain: ``decision.posted`` (the status the
LOS answered the posting with, or the one read back from its status page) and then every
``decision.los_status`` (the checker's confirmation, rejection or return). A decision posted
before those events existed shows its posting as the work item's closing event.

Days past due over time are computed from the installments as the core's last extract gives
them (due and paid dates): the core sends each installment's latest state, not a night-by-night
history, so the series is what those dates imply, each point named by the event it follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select

from connectors.payments import parse_end_to_end_id, reason_text
from loanhub.flows.casefile.facts import trace_of
from loanhub.flows.warnings import risk_class
from loanhub.platform.masking import mask_text
from schemas.tables import (
    audit_event,
    disbursement,
    loan,
    payment_file,
    repayment_installment,
    work_item,
)

if TYPE_CHECKING:
    from loanhub.flows.casefile.model import AuditRow, LoanRow, WorkItemRow

BY_APPLICATION = ("los_decision", "payee_account")  # keyed by the number (and round)
BY_PREFIX = ("bureau_query", "return_notice")  # keyed "<number>:..."
BY_LOAN = ("payment", "payment_conflict")  # keyed by an EndToEndId of the loan's
BY_WARNING = ("warning_mail", "warning_escalation")  # keyed by the warning
BY_BATCH = ("tax_request", "tax_request_again")  # a batch whose payload names it


@dataclass(frozen=True)
class LosStatus:
    at: datetime
    status: str | None
    reference: str | None
    by: str
    how: str


@dataclass(frozen=True)
class Referral:
    round: int
    referred_at: tuple[datetime, ...]  # each time the rules referred it (a run asked again)
    score: int | None
    tier: int | None
    approvers: tuple[str, ...]
    reasons: tuple[str, ...]
    answered_by: str | None
    answered_at: datetime | None
    answer: str | None
    comment: str | None


@dataclass(frozen=True)
class ClassPoint:
    on: date
    dpd: int
    risk_class: str
    why: str


# -- work items and audit events ---------------------------------------------------------------


def work_items(
    conn: Connection,
    number: str,
    accounts: list[str],
    warning_keys: list[str],
    loans: tuple[LoanRow, ...],
) -> list[WorkItemRow]:
    from loanhub.flows.casefile.model import WorkItemRow

    c = work_item.c
    mine = or_(
        (c.kind.in_(BY_APPLICATION) & (c.business_key == number)),
        ((c.kind == "los_decision") & c.business_key.like(f"{number}#round-%")),
        (c.kind.in_(BY_PREFIX) & c.business_key.like(f"{number}:%")),
        *((c.kind.in_(BY_LOAN) & c.business_key.like(f"{a}-T%")) for a in accounts),
        (c.kind.in_(BY_WARNING) & c.business_key.in_(warning_keys)),
    )
    rows = list(conn.execute(select(work_item).where(mine)))
    rows += [
        r
        for r in conn.execute(select(work_item).where(c.kind.in_(BY_BATCH)))
        if number in ((r.payload or {}).get("applications") or [])
    ]
    return [
        WorkItemRow(
            r.id,
            r.kind,
            r.business_key,
            r.state,
            r.failure_kind,
            r.attempts,
            r.error,
            r.created_at,
            r.updated_at,
            r.evidence,
        )
        for r in sorted(rows, key=lambda r: (r.created_at, r.id))
    ]


def audit_rows(
    conn: Connection,
    number: str,
    *,
    accounts: list[str],
    keys: list[str],
    payments: list[str],
    items: list[tuple[str, str]],
) -> list[AuditRow]:
    """Every audit event whose subject is the application, its loan, a warning or payment of
    it, or one of its work items (written masked: matched masked)."""
    from loanhub.flows.casefile.model import AuditRow

    subjects = {number, *accounts, *keys, *payments}
    subjects |= {mask_text(f"{kind}:{key}") for kind, key in items}
    rows = conn.execute(
        select(audit_event)
        .where(audit_event.c.subject.in_(sorted(subjects)))
        .order_by(audit_event.c.seq)
    )
    return [
        AuditRow(r.seq, r.occurred_at, r.actor, r.action, r.subject, r.before, r.after, r.hash)
        for r in rows
    ]


# -- the decision's way through the LOS ------------------------------------------------------


def _in_round(event: AuditRow, made: Any, until: datetime | None) -> bool:
    """An event of this round: it names the round, or (older events) it falls between this
    round's decision and the next one's."""
    named = (event.after or {}).get("round")
    if named is not None:
        return int(named) == made.round
    return event.occurred_at >= made.decided_at and (until is None or event.occurred_at < until)


def los_history(made: Any, until: datetime | None, events: list[AuditRow]) -> tuple[LosStatus, ...]:
    """The round's statuses in the LOS, oldest first (``until``: the next round's decision)."""
    from loanhub.flows.decide import posting_key

    found = []
    posted = False
    for e in events:
        after = e.after or {}
        if e.subject != made.application_no or not _in_round(e, made, until):
            continue
        if e.action == "decision.posted":
            posted = True
            how = after.get("settled") or "posted by the hub"
            found.append(
                LosStatus(e.occurred_at, after.get("status"), after.get("reference"), e.actor, how)
            )
        elif e.action == "decision.los_status":
            checker = after.get("checker")
            how = f"the checker's {after.get('checker_decision')}" if checker else "LOS status page"
            found.append(
                LosStatus(
                    e.occurred_at,
                    after.get("status"),
                    after.get("checker_reference"),
                    checker or e.actor,
                    how,
                )
            )
    if not posted and made.los_reference:  # posted before postings were audited
        found[:0] = _posting_closed(made, events, posting_key(made.application_no, made.round))
    return tuple(sorted(found, key=lambda s: s.at))


CLOSING = ("work_item.done", "work_item.needs_human", "work_item.resolved_done")


def _posting_closed(made: Any, events: list[AuditRow], key: str) -> list[LosStatus]:
    """The posting as its work item's closing event shows it (when; its status then is not
    kept: the item's result holds only its latest)."""
    item = mask_text(f"los_decision:{key}")
    closed = [e for e in events if e.subject == item and e.action in CLOSING]
    if not closed:
        return []
    how = "posted (its status then was not kept)"
    return [LosStatus(closed[0].occurred_at, None, made.los_reference, closed[0].actor, how)]


def referral(made: Any, events: list[AuditRow]) -> Referral | None:
    """The round's referral: when the rules referred it and why, and who answered when. None
    for a decision the rules made without one."""
    asked = [
        e
        for e in events
        if e.action == "decision.referred"
        and e.subject == made.application_no
        and int((e.after or {}).get("round", 1)) == made.round
        and e.occurred_at <= made.decided_at
    ]
    by_person = not made.decided_by.startswith("rule:")
    if not asked and not by_person:
        return None
    last = (asked[-1].after or {}) if asked else {}
    return Referral(
        round=made.round,
        referred_at=tuple(e.occurred_at for e in asked),
        score=last.get("score"),
        tier=last.get("tier"),
        approvers=tuple(last.get("approvers") or ()),
        reasons=tuple(last.get("reasons") or ()),
        answered_by=made.decided_by if by_person else None,
        answered_at=made.decided_at if by_person else None,
        answer=made.outcome if by_person else None,
        comment=made.comment,
    )


# -- the loan ----------------------------------------------------------------------------------


def loans(
    conn: Connection, number: str, today: date, classes: dict[str, int]
) -> tuple[LoanRow, ...]:
    from loanhub.flows.casefile.model import (
        InstallmentRow,
        LoanRow,
        PaymentFileRow,
        TrancheRow,
    )

    found = []
    for lent in conn.execute(
        select(loan).where(loan.c.application_no == number).order_by(loan.c.start_date)
    ):
        account = lent.loan_account
        files_by_tranche: dict[int, list[PaymentFileRow]] = {}
        for f in conn.execute(
            select(payment_file)
            .where(payment_file.c.end_to_end_id.like(f"{account}-T%"))
            .order_by(payment_file.c.assigned_at, payment_file.c.id)
        ):
            parsed = parse_end_to_end_id(f.end_to_end_id)
            if parsed is None or parsed[0] != account:
                continue
            files_by_tranche.setdefault(parsed[1], []).append(
                PaymentFileRow(
                    f.end_to_end_id,
                    f.msg_id,
                    f.state,
                    f.gateway_status,
                    f.gateway_reason,
                    reason_text(f.gateway_reason) if f.gateway_reason else None,
                    f.detail,
                    f.assigned_at,
                    f.updated_at,
                )
            )
        tranches = tuple(
            TrancheRow(
                t.tranche,
                t.amount,
                t.currency,
                t.creditor_account,
                t.end_to_end_id,
                t.instruction,
                t.msg_id,
                t.status,
                t.status_reason,
                reason_text(t.status_reason) if t.status_reason else None,
                t.requested_at,
                t.settled_at,
                tuple(files_by_tranche.get(t.tranche, [])),
            )
            for t in conn.execute(
                select(disbursement)
                .where(disbursement.c.loan_account == account)
                .order_by(disbursement.c.tranche)
            )
        )
        installments = tuple(
            InstallmentRow(
                i.installment_no,
                i.due_date,
                i.principal_due,
                i.interest_due,
                i.principal_paid,
                i.interest_paid,
                i.paid_date,
                i.days_past_due,
                i.status,
                trace_of(i),
            )
            for i in conn.execute(
                select(repayment_installment)
                .where(repayment_installment.c.loan_account == account)
                .order_by(repayment_installment.c.installment_no)
            )
        )
        dpd_now = max(
            (i.days_past_due for i in installments if i.status != "D" and i.paid < i.due),
            default=0,
        )
        found.append(
            LoanRow(
                loan_account=account,
                customer_no=lent.customer_no,
                principal=lent.principal,
                annual_rate=lent.annual_rate,
                term_months=lent.term_months,
                start_date=lent.start_date,
                status=lent.status,
                trace=trace_of(lent),
                tranches=tranches,
                installments=installments,
                dpd_now=dpd_now,
                class_now=risk_class(dpd_now, classes),
                history=class_history(installments, today, classes),
            )
        )
    return tuple(found)


def class_history(
    installments: tuple[Any, ...], today: date, classes: dict[str, int]
) -> tuple[ClassPoint, ...]:
    """Days past due and the class hint at each event the installments' dates name: each
    installment falling due, the day before one overdue was paid (its worst) and the day it
    was, and today (or the last extract's date, when the core's business date is ahead). An
    installment is unpaid from its due date until the day it was paid in full (a part payment
    leaves it unpaid); days past due are counted from the oldest unpaid one, as the warnings
    count them."""
    known = [i.due_date for i in installments if i.status != "D"]
    known += [i.paid_date for i in installments if i.paid_date is not None]
    as_of = max([today, *known])  # an extract is of a business date: it may be ahead of ours
    spans = []
    for i in installments:
        if i.status == "D" or i.due_date > as_of:  # not due on the extract's date
            continue
        end = i.paid_date if i.paid >= i.due and i.paid_date else None
        spans.append((i.installment_no, i.due_date, end, i.status))

    def dpd(day: date) -> int:
        return max(
            (
                (day - due).days
                for _, due, end, _ in spans
                if due <= day and (end is None or day < end)
            ),
            default=0,
        )

    moments: dict[date, list[str]] = {}
    for no, due, end, status in spans:
        moments.setdefault(due, []).append(f"installment {no} due")
        if end is not None and end > due:
            if end - timedelta(days=1) > due:
                moments.setdefault(end - timedelta(days=1), []).append(
                    f"the day before installment {no} was paid"
                )
            moments.setdefault(end, []).append(f"installment {no} paid ({status})")
    if spans:
        last = "today" if as_of == today else "the core's last extract (its dates reach this day)"
        moments.setdefault(as_of, []).append(last)
    return tuple(
        ClassPoint(day, (n := dpd(day)), risk_class(n, classes), "; ".join(why))
        for day, why in sorted(moments.items())
        if day <= as_of
    )
