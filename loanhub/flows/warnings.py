"""After the loan: the nightly repayment extract in, days past due and a five-tier class hint
out, early warnings raised once per loan and rule, mailed (masked), escalated when nobody
acknowledges them.

A warning's key is rule + loan (+ the DPD threshold) + the episode, unique in the store: the
same condition seen again tomorrow raises nothing new, so there is one open warning per loan,
rule and episode and no repeated mails. An episode of arrears starts at the due date of the
oldest installment left unpaid; a loan that catches up and falls behind again later starts a
new one, and is warned about again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, select, update

from connectors.smtp import Notifier, message_id_for
from kernel.calls import call_subject
from kernel.failures import (
    BusinessAnswer,
    ContractError,
    NeedsHuman,
    OutcomeUnknown,
    TransientError,
)
from loanhub.flows.harvest import Applicant, applicants
from loanhub.platform import audit
from loanhub.platform.db import retrying
from loanhub.platform.early_warnings import raise_once
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import ConflictingWorkItem, WorkItemLedger
from schemas.base import Lineage
from schemas.hub import WorkItemState
from schemas.lending import EarlyWarning, WarningSeverity
from schemas.tables import (
    credit_account,
    credit_account_month,
    credit_report,
    early_warning,
    loan,
    repayment_installment,
    social_security_month,
    tax_profile,
)
from schemas.types import utcnow

RULES_VERSION = "warnings-v1"
log = logging.getLogger(__name__)


CLASSIFICATION_RULE = (
    "商业银行金融资产风险分类办法 (2023, 国家金融监督管理总局 / 中国人民银行): a loan "
    "overdue from day 1 is at least 关注, more than 90 days at least 次级, more than 270 "
    "days at least 可疑, more than 360 days 损失"
)


class WarningPolicy(BaseModel):
    """What raises a warning and who hears of it (``LOANHUB_WARNINGS__*``).

    The five-tier class hint follows the 2023 rule named in ``classification_rule``: a loan
    overdue (principal or interest) is at least 关注 from its first day, 次级 from day 91,
    可疑 from day 271 and 损失 from day 361. The rule says "at least": the hint is the floor
    the days past due alone set; a credit officer may classify lower, never higher."""

    classification_rule: str = Field(
        default=CLASSIFICATION_RULE,
        description="the regulation the five-tier thresholds in risk_classes follow",
    )
    risk_classes: dict[str, int] = Field(
        default={"正常": 0, "关注": 1, "次级": 91, "可疑": 271, "损失": 361},
        description=(
            "five-tier class hint: the days past due from which each class starts, by the "
            "2023 financial-asset risk classification rule (classification_rule)"
        ),
    )
    dpd_thresholds: list[int] = Field(
        default=[1, 30, 60, 90], description="a warning when a loan's DPD crosses each"
    )
    recipients: list[str] = ["risk-monitoring@bank.local"]
    escalation_recipients: list[str] = ["credit-risk-head@bank.local"]
    escalate_after_hours: int = Field(default=48, ge=1)
    consent_lapse_days: int = Field(
        default=30,
        ge=0,
        description="a warning when a post-loan consent of an active loan lapses within this "
        "many days, before the loan matures (postloan.consent_lapse_warnings)",
    )


def risk_class(dpd: int, classes: dict[str, int]) -> str:
    """The five-tier class hint for a number of days past due (the highest class reached)."""
    return max(((start, name) for name, start in classes.items() if dpd >= start))[1]


@dataclass(frozen=True)
class LoanState:
    loan_account: str
    dpd: int
    missed: int
    partial: int
    risk_class: str
    since: date | None = None  # the oldest unpaid due installment: when these arrears began
    last_missed: date | None = None  # the due dates of the latest installments missed or paid
    last_partial: date | None = None  # in part: a new one is a new event

    def episode(self, event: date | None = None) -> str:
        """What tells this episode from an earlier one: when the arrears began, or (paid up
        since) when the event happened."""
        day = self.since or event
        return f"{day:%Y%m%d}" if day else "-"


def loan_states(engine: Engine, as_of: date, classes: dict[str, int]) -> list[LoanState]:
    """Per loan: days past due of its oldest unpaid due installment, and what was missed."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                repayment_installment.c.loan_account,
                repayment_installment.c.due_date,
                repayment_installment.c.status,
                repayment_installment.c.principal_due,
                repayment_installment.c.interest_due,
                repayment_installment.c.principal_paid,
                repayment_installment.c.interest_paid,
            )
        ).all()
    by_loan: dict[str, dict[str, Any]] = {}
    for account, due, status, p_due, i_due, p_paid, i_paid in rows:
        state = by_loan.setdefault(account, {"dpd": 0, "missed": 0, "partial": 0})
        unpaid = (p_due + i_due) - (p_paid + i_paid) > 0
        if due <= as_of and unpaid:
            state["dpd"] = max(state["dpd"], (as_of - due).days)
            state["since"] = min(state.get("since", due), due)
        if status == "M":
            state["missed"] += 1
            state["last_missed"] = max(state.get("last_missed", due), due)
        if status == "A":
            state["partial"] += 1
            state["last_partial"] = max(state.get("last_partial", due), due)
    return [
        LoanState(account, risk_class=risk_class(s["dpd"], classes), **s)
        for account, s in sorted(by_loan.items())
    ]


def warning(
    key: str, loan: LoanState, rule: str, severity: WarningSeverity, message: str
) -> EarlyWarning:
    return EarlyWarning(
        warning_key=key[:80],
        loan_account=loan.loan_account,
        rule=rule,
        severity=severity,
        message=message,
        raised_at=utcnow(),
        risk_class=loan.risk_class,
        lineage=Lineage(
            source_system="hub",
            fetched_at=utcnow(),
            mapping_version=RULES_VERSION,
            raw_payload_hash="0" * 64,
        ),
    )


def raise_warnings(engine: Engine, policy: WarningPolicy, as_of: date) -> int:
    """Raise what the repayments show; returns how many warnings are new."""
    found: list[EarlyWarning] = []
    for state in loan_states(engine, as_of, policy.risk_classes):
        for threshold in policy.dpd_thresholds:
            if state.dpd >= threshold:
                severity = WarningSeverity.HIGH if threshold >= 60 else WarningSeverity.WATCH
                found.append(
                    warning(
                        f"dpd_{threshold}:{state.loan_account}:{state.episode()}",
                        state,
                        f"dpd_crossed_{threshold}",
                        severity,
                        f"{state.loan_account} is {state.dpd} days past due (>= {threshold}), "
                        f"class hint {state.risk_class}",
                    )
                )
        if state.missed:
            found.append(
                warning(
                    f"missed:{state.loan_account}:{state.episode(state.last_missed)}",
                    state,
                    "missed_installment",
                    WarningSeverity.HIGH,
                    f"{state.loan_account} missed {state.missed} installment(s)",
                )
            )
        if state.partial:
            found.append(
                warning(
                    f"partial:{state.loan_account}:{state.episode(state.last_partial)}",
                    state,
                    "partial_payment",
                    WarningSeverity.WATCH,
                    f"{state.loan_account} paid {state.partial} installment(s) in part",
                )
            )
    return store_warnings(engine, found)


def store_warnings(engine: Engine | Connection, warnings: list[EarlyWarning]) -> int:
    """Store the warnings not raised before (by key); returns how many are new. Given a
    ``Connection``, inside the caller's transaction: a warning and the change it reports (a
    payment recorded rejected) commit together, so neither is ever kept without the other."""
    if isinstance(engine, Connection):
        return _insert_new(engine, warnings)
    with engine.begin() as conn:
        return _insert_new(conn, warnings)


def _insert_new(conn: Connection, warnings: list[EarlyWarning]) -> int:
    return sum(raise_once(conn, warning) for warning in warnings)


MAIL = "warning_mail"
ESCALATION = "warning_escalation"
MAIL_KINDS = (MAIL, ESCALATION)
_MARK = {MAIL: "notified_at", ESCALATION: "escalated_at"}


def _letter(kind: str, row: Any, policy: WarningPolicy) -> tuple[str, str]:
    """Subject and body of a warning's mail or escalation: built from the warning alone, so
    that a resend (``settle_mails``) is the same letter as the first send."""
    if kind == MAIL:
        return (
            f"[loanhub {row['severity']}] {row['rule']} {row['loan_account']}",
            f"{row['message']}\nclass hint: {row['risk_class']}\nkey: {row['warning_key']}",
        )
    return (
        f"[loanhub ESCALATION] {row['rule']} {row['loan_account']} unanswered",
        f"Not acknowledged within {policy.escalate_after_hours} h:\n{row['message']}",
    )


def _mail_once(
    guard: LedgerGuard,
    notifier: Notifier,
    kind: str,
    row: Any,
    to: list[str],
    policy: WarningPolicy,
) -> dict[str, Any]:
    """One warning's mail as a work item, under the Message-ID derived from that item: a
    retry after a send that was not recorded sends nothing, and a resend after an unknown
    outcome is recognisably the same message."""
    subject, body = _letter(kind, row, policy)
    message_id = message_id_for(kind, row["warning_key"])
    return guard.once(
        kind,
        row["warning_key"],
        {"to": to},
        lambda: {"id": notifier.send(to, subject, body, message_id=message_id)},
    )


def _outcome(send: Any, counts: dict[str, int], done: str, what: str) -> bool:
    """Run one mail, sort what happened into ``counts``; never raises for one item's trouble
    (a store outage, or a bug, does stop the loop: every item after would meet it too)."""
    try:
        send()
    except OutcomeUnknown as exc:  # the server may have it: settle_mails resends it
        counts["in_doubt"] += 1
        log.warning("%s is in doubt: %s", what, exc)
    except NeedsHuman as exc:  # the item was IN_DOUBT (or NEEDS_HUMAN) from before
        counts["in_doubt"] += 1
        log.warning("%s waits to be settled: %s", what, exc)
    except TransientError as exc:  # nothing sent; the next run sends it
        counts["failed"] += 1
        counts["retryable"] += 1
        log.warning("%s not sent, will be retried: %s", what, exc)
    except (ContractError, BusinessAnswer) as exc:  # will not work by retrying
        counts["failed"] += 1
        log.error("%s refused: %s", what, exc)
    except ConflictingWorkItem as exc:  # its recipients changed since it was first tried
        counts["conflicts"] += 1
        log.error("%s conflicts with its earlier attempt: %s", what, exc)
    else:
        counts[done] += 1
        return True
    return False


def notify(
    engine: Engine, notifier: Notifier, policy: WarningPolicy, now: datetime, guard: LedgerGuard
) -> dict[str, int]:
    """Mail every warning not mailed yet (one mail each, masked by the notifier), then
    escalate the ones nobody acknowledged within ``escalate_after_hours``. Each mail is a work
    item: a retry after a send that was not recorded does not send it again.

    One warning whose mail fails, is in doubt or conflicts never stops the others; each is
    counted (and logged with its reason): ``notified``, ``escalated``, ``failed`` (of which
    ``retryable`` were transient: nothing sent, the next run sends them), ``in_doubt`` (the
    server may have them: ``settle_mails`` settles them) and ``conflicts``. ``pending`` says
    whether the run should end failed so that Airflow retries it.
    """
    counts = {
        "notified": 0,
        "escalated": 0,
        "failed": 0,
        "retryable": 0,
        "in_doubt": 0,
        "conflicts": 0,
    }
    with engine.connect() as conn:
        fresh = (
            conn.execute(
                select(early_warning)
                .where(early_warning.c.notified_at.is_(None))
                .order_by(early_warning.c.id)
            )
            .mappings()
            .all()
        )
        stale = (
            conn.execute(
                select(early_warning)
                .where(
                    early_warning.c.notified_at.is_not(None),
                    early_warning.c.acknowledged_at.is_(None),
                    early_warning.c.escalated_at.is_(None),
                    early_warning.c.notified_at
                    < now - timedelta(hours=policy.escalate_after_hours),
                )
                .order_by(early_warning.c.id)
            )
            .mappings()
            .all()
        )
        lent = dict(
            conn.execute(
                select(loan.c.loan_account, loan.c.application_no).where(
                    loan.c.loan_account.in_({r["loan_account"] for r in (*fresh, *stale)})
                )
            ).all()
        )

    for kind, rows, to, done in (
        (MAIL, fresh, policy.recipients, "notified"),
        (ESCALATION, stale, policy.escalation_recipients, "escalated"),
    ):
        for row in rows:
            with call_subject(lent.get(row["loan_account"])):  # the mail, journaled for it
                sent = _outcome(
                    lambda row=row, kind=kind, to=to: _mail_once(
                        guard, notifier, kind, row, to, policy
                    ),
                    counts,
                    done,
                    f"{kind} {row['warning_key']}",
                )
            if sent:
                _mark(engine, row["id"], **{_MARK[kind]: utcnow()})
    return counts


class MailsPending(RuntimeError):
    """Some mails are worth another run: not sent for a passing reason, or in doubt (the next
    run's ``settle_mails`` resends those). What the notify task raises at its end, after every
    other mail went out, so that Airflow retries it."""


def pending(counts: dict[str, int]) -> str | None:
    """Why the run should be retried, or None: transient failures and mails in doubt are;
    refusals and conflicts are not (a retry would meet them again: they are for a person,
    in the log and on the work-item dashboard)."""
    retry = counts.get("retryable", 0)
    doubt = counts.get("in_doubt", 0)
    if not retry and not doubt:
        return None
    return f"{retry} mail(s) not sent for now, {doubt} in doubt: {counts}"


def raise_if_pending(counts: dict[str, int]) -> dict[str, int]:
    """``counts``, or ``MailsPending`` when something is worth a retry of the task."""
    reason = pending(counts)
    if reason is not None:
        raise MailsPending(reason)
    return counts


def settle_mails(
    ledger: WorkItemLedger,
    notifier: Notifier,
    policy: WarningPolicy | None = None,
) -> dict[str, int]:
    """Settle every mail work item left IN_DOUBT (a connection lost after the end of DATA,
    or a worker that died with the claim): run at the start of every notify run and by hand.

    An SMTP server cannot be asked what it accepted (the simulator's journal can, the bank's
    server cannot), so a doubt is settled by what SMTP does allow: the mail is sent again
    under the **same Message-ID**, and receivers drop a second copy by it: at least once, and
    recognisably once. The audit chain says so (``work_item.resolved_not_done`` with that
    evidence, then the resend's own claim and close). A warning already recorded as mailed
    is settled DONE without a resend; one that no longer exists is released, not resent.

    Returns counts ``resent``, ``already``, ``gone``, and of the resends that did not go
    through ``in_doubt`` (unknown again: the next run settles them once more), ``failed``
    (of which ``retryable``) and ``conflicts``. Isolated like ``notify``: one mail's trouble
    never stops the others.
    """
    policy = policy or WarningPolicy()
    guard = LedgerGuard(ledger)
    counts = dict.fromkeys(
        ("resent", "already", "gone", "in_doubt", "failed", "retryable", "conflicts"), 0
    )
    for kind in MAIL_KINDS:
        for item in ledger.items(state=WorkItemState.IN_DOUBT, kind=kind):
            seen = read_mail(ledger.engine, kind, item.business_key)
            row, message_id = seen.row, seen.message_id
            if seen.found == "gone":
                ledger.resolve_in_doubt(item, happened=False, evidence=seen.evidence)
                counts["gone"] += 1
                continue
            if seen.found == "already":
                ledger.resolve_in_doubt(
                    item, happened=True, result={"id": message_id}, evidence=seen.evidence
                )
                counts["already"] += 1
                continue
            ledger.resolve_in_doubt(item, happened=False, evidence=seen.evidence)
            to = list(item.payload.get("to") or [])
            sent = _outcome(
                lambda kind=kind, row=row, to=to: _mail_once(
                    guard, notifier, kind, row, to, policy
                ),
                counts,
                "resent",
                f"{kind} {item.business_key} (settling)",
            )
            if sent:
                _mark(ledger.engine, row["id"], **{_MARK[kind]: utcnow()})
    return counts


@dataclass(frozen=True)
class MailReading:
    """What the store says of one mail in doubt (an SMTP server cannot be asked): ``found``
    is ``already`` (the warning is recorded as mailed), ``gone`` (the warning no longer
    exists: nothing to resend) or ``resend`` (the next run sends it again under the same
    Message-ID, which receivers drop a duplicate by)."""

    found: str
    evidence: str
    message_id: str
    row: Any = None


def read_mail(engine: Engine, kind: str, warning_key: str) -> MailReading:
    """The rule that settles a warning mail or escalation in doubt, read from the store."""
    with engine.connect() as conn:
        row = (
            conn.execute(select(early_warning).where(early_warning.c.warning_key == warning_key))
            .mappings()
            .first()
        )
    message_id = message_id_for(kind, warning_key)
    if row is None:
        return MailReading("gone", "the warning is gone: nothing to resend", message_id)
    if row[_MARK[kind]] is not None:
        return MailReading(
            "already", f"the warning is recorded as mailed ({_MARK[kind]})", message_id, row
        )
    return MailReading(
        "resend",
        "an SMTP server cannot be asked what it accepted: resent under the same "
        f"Message-ID {message_id}, receivers drop a duplicate by it",
        message_id,
        row,
    )


def acknowledge(engine: Engine, warning_key: str, actor: str = "loanhub") -> bool:
    """Acknowledge a warning once, and its audit event (who acknowledged it) in the same
    transaction: an acknowledgement the audit chain does not record never happened (an
    append that fails rolls it back), and a second click changes and audits nothing."""
    with engine.begin() as conn:
        done = conn.execute(
            update(early_warning)
            .where(
                early_warning.c.warning_key == warning_key,
                early_warning.c.acknowledged_at.is_(None),
            )
            .values(acknowledged_at=utcnow())
        )
        if done.rowcount != 1:
            return False
        audit.append(conn, actor=actor, action="warning.acknowledged", subject=warning_key)
    return True


def _mark(engine: Engine, warning_id: int, **values: Any) -> None:
    """Record a warning as mailed (or escalated): idempotent, so repeated on a dropped
    connection; a mark lost anyway leaves a DONE work item, and the next run only re-marks."""
    retrying(
        engine,
        lambda conn: conn.execute(
            update(early_warning).where(early_warning.c.id == warning_id).values(**values)
        ),
        what=f"mark warning {warning_id}",
    )


# -- after the loan: what the re-pulled sources say ------------------------------------------

RATING_ORDER = "ABMCD"  # best to worst


def post_loan_warnings(
    engine: Engine, application_nos: list[str], own_institution: str, today: date
) -> int:
    """Warnings from what the re-pulled sources now say about active loans: overdue at other
    lenders, contributions owed or stopped (measured from ``today``, the bank's day), a tax
    rating downgrade; returns how many are new."""
    found = []
    for a in applicants(engine, application_nos):
        found.extend(_source_changes(engine, a, own_institution, today))
    return store_warnings(engine, found)


def _source_changes(
    engine: Engine, a: Applicant, own_institution: str, today: date
) -> list[EarlyWarning]:
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
                    warning(
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
                    warning(
                        f"ss_owed:{account}:{latest:%Y%m}",
                        state,
                        "contributions_owed",
                        WarningSeverity.WATCH,
                        f"{account}: social security owed for {latest:%Y-%m}",
                    )
                )
            if latest < (today.replace(day=1) - timedelta(days=62)):
                found.append(
                    warning(
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
                    warning(
                        f"tax_downgrade:{account}:{before}{now}",
                        state,
                        "tax_rating_downgrade",
                        WarningSeverity.WATCH,
                        f"{account}: tax rating {before} -> {now}",
                    )
                )
    return found
