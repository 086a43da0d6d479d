"""Disburse: approved loans become loans, each tranche one payment (pain.001 over SFTP), the
gateway's status reports (pain.002) settle them, and a reconciliation says what disagrees.

Exactly one payment per loan tranche, across retries, clears and crashed workers:
- the ``EndToEndId`` is derived from loan and tranche, so the gateway itself refuses a second
  one (DU05);
- each tranche is a work item ``payment:<EndToEndId>``; every file it is sent in is a
  ``payment_file`` row whose ``MsgId`` is stored before the upload and kept for good, so an
  item left IN_DOUBT (a crash, a drop after the rename, a lost answer) is settled by reading
  the gateway for each of its MsgIds (its reports, its ``.processed`` files, its inbox), never
  by sending again; a file found renamed without its ``.ok`` is completed, a partial upload is
  withdrawn, and only then may a new MsgId go;
- a later file refused as a repeat (DU01/DU05) never makes a tranche RJCT while a file of its
  paid; ``reconcile`` reads every file of every tranche;
- one tranche that fails, conflicts, needs a person or is in doubt never stops the others;
- a real refusal (AC01, AC04, AM04, FF01...) records the tranche RJCT with its reason and
  raises one early warning (``payment_rejected``) in the same transaction; nothing is sent
  again by itself: only an operator's re-instruction (``reinstruct``, audited) pays it, under
  a new EndToEndId derived from loan, tranche and instruction number, once;
- a status report's receipt says LOADED once what it says is stored (``_read_tranche``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from connectors.payments import (
    FileAtGateway,
    PaymentGatewayConnector,
    StatusReport,
    end_to_end_id,
    new_msg_id,
    parse_end_to_end_id,
    parse_pain002,
    reason_text,
)
from connectors.sftp import TakenFile
from kernel.calls import call_subject
from kernel.failures import (
    BusinessAnswer,
    ContractError,
    LegacyError,
    NeedsHuman,
    OutcomeUnknown,
    TransientError,
)
from loanhub.flows.warnings import store_warnings
from loanhub.platform import audit
from loanhub.platform.canonical import jsonable, sha256_hex
from loanhub.platform.db import insert_or_ignore
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import (
    ConflictingWorkItem,
    IllegalTransition,
    WorkItemError,
    WorkItemLedger,
)
from loanhub.platform.receipts import FileReceiptBook
from schemas.base import Lineage
from schemas.hub import FileState, WorkItemState
from schemas.lending import (
    Disbursement,
    EarlyWarning,
    Loan,
    PaymentFileState,
    PaymentStatus,
    WarningSeverity,
)
from schemas.tables import (
    applicant_profile,
    application,
    core_account,
    decision,
    disbursement,
    early_warning,
    fact_row,
    loan,
    payment_file,
    work_item,
)
from schemas.types import utcnow

log = logging.getLogger(__name__)
KIND = "payment"
CONFLICT_KIND = "payment_conflict"  # a tranche changed after its claim: a person decides
DUPLICATE_REASONS = frozenset({"DU01", "DU05"})  # "this file is a repeat": not the tranche's fate
REJECTED_RULE = "payment_rejected"  # the early warning a real refusal raises


def loan_account_for(application_no: str) -> str:
    """The loan's account number, derived from its application (one loan per application)."""
    return f"LN{application_no[-16:]}"[:20]


def _lineage(source: str, digest: str) -> Lineage:
    return Lineage(
        source_system="hub", fetched_at=utcnow(), mapping_version=source, raw_payload_hash=digest
    )


def book_loans(engine: Engine, *, today: date) -> list[str]:
    """A loan and its single tranche for every approval the LOS holds and the hub has not
    booked, paid into the applicant's active deposit account at the core. An approval with no
    such account is not skipped in silence: it waits for a person as the work item
    ``payee_account`` (``_payee``), and once an operator has named the account
    (``name_payee``) the next run books it, once (one loan per application). A loan starts on
    ``today``, the bank's day (the runtime's clock), never the UTC date."""
    booked = []
    ledger = WorkItemLedger(engine)
    with engine.connect() as conn:
        approvals = (
            conn.execute(
                select(
                    decision, applicant_profile.c.core_customer_no, applicant_profile.c.inputs_hash
                )
                .join(
                    applicant_profile,
                    applicant_profile.c.application_no == decision.c.application_no,
                )
                .where(
                    decision.c.outcome == "APPROVE",
                    decision.c.los_status == "APPROVED",  # not while the LOS waits for a checker
                    decision.c.application_no.not_in(select(loan.c.application_no)),
                )
                .order_by(decision.c.application_no, applicant_profile.c.id.desc())
            )
            .mappings()
            .all()
        )
    seen: set[str] = set()
    for row in approvals:
        if row["application_no"] in seen:
            continue
        seen.add(row["application_no"])
        # the payee first, outside the booking's transaction: the ledger writes in its own
        # (SQLite has one writer at a time)
        payee = _payee(engine, ledger, row)
        if payee is None:
            continue
        account, customer_no = payee
        number = loan_account_for(row["application_no"])
        made = Loan(
            loan_account=number,
            application_no=row["application_no"],
            customer_no=customer_no,
            principal=row["approved_amount"],
            annual_rate=row["annual_rate"],
            term_months=row["term_months"],
            start_date=today,
            lineage=_lineage("loan-v1", row["inputs_hash"]),
        )
        tranche = Disbursement(
            loan_account=number,
            tranche=1,
            amount=row["approved_amount"],
            creditor_account=account,
            end_to_end_id=end_to_end_id(number, 1),
            requested_at=utcnow(),
            lineage=_lineage("disbursement-v1", row["inputs_hash"]),
        )
        with engine.begin() as conn:
            lent = conn.execute(
                select(loan.c.loan_account).where(loan.c.application_no == row["application_no"])
            ).first()
            if lent is not None:  # another run booked it meanwhile: one loan per application
                continue
            conn.execute(loan.insert().values(fact_row(made)))
            conn.execute(disbursement.insert().values(fact_row(tranche)))
            audit.append(
                conn,
                actor="loanhub",
                action="loan.booked",
                subject=number,
                after={"application_no": row["application_no"], "amount": str(made.principal)},
            )
        booked.append(number)
    return booked


PAYEE_KIND = "payee_account"
"""The work item of an approval with no active deposit account to pay into: NEEDS_HUMAN until
an operator names one (``name_payee``); DONE holds the account (and the borrower's core
customer number when the core does not know the applicant)."""


def _payee(engine: Engine, ledger: WorkItemLedger, row: Any) -> tuple[str, str] | None:
    """The account to pay the approval into and the loan's core customer number: the one the
    operator named (a DONE ``payee_account`` item), else the applicant's active deposit
    account at the core. None when there is neither: the item is then left (or already waits)
    NEEDS_HUMAN with the reason, so the approval is in a person's queue, never just logged."""
    app_no, customer_no = row["application_no"], row["core_customer_no"]
    named = ledger.get(PAYEE_KIND, app_no)
    if named is not None and named.state is WorkItemState.CLOSED:
        return None  # an operator's word: the payout was settled outside the hub, never here
    if named is not None and named.state is WorkItemState.DONE:
        result = named.result or {}
        return str(result["account"]), str(customer_no or result["customer_no"])
    account = None
    if customer_no:
        with engine.connect() as conn:
            account = conn.execute(
                select(core_account.c.account_no)
                .where(
                    core_account.c.customer_no == customer_no,
                    core_account.c.account_type == "DEPOSIT",
                    core_account.c.status == "ACTIVE",
                )
                .order_by(core_account.c.account_no)
            ).scalar()
    if account is not None:
        if named is not None and named.state is WorkItemState.NEEDS_HUMAN:
            # the core has one now (a later harvest): the operator is no longer needed
            ledger.resolve_waiting(
                named,
                result={"account": account, "customer_no": customer_no, "by": "core"},
                evidence=f"the core shows an active deposit account of customer {customer_no}",
            )
        return account, customer_no
    why = (
        f"customer {customer_no} has no active deposit account at the core"
        if customer_no
        else "the applicant is no customer of the core"
    )
    reason = (
        f"{app_no}: approved, but nothing to pay into ({why}); an operator names the account: "
        f"loanhub payments payee {app_no} --account ACCOUNT --note ... --operator ..."
    )
    try:
        item = ledger.claim(
            PAYEE_KIND,
            app_no,
            {"application_no": app_no, "amount": str(row["approved_amount"])},
        )
        if item.state is WorkItemState.IN_PROGRESS and item.owner == ledger.owner:
            ledger.needs_human(item, reason)
            log.warning("%s", reason)
    except WorkItemError as exc:  # another run holds it, or the approval changed: a person's
        log.warning("%s: payee item not raised: %s", app_no, exc)
    return None


class PayeeRefused(ValueError):
    """An operator's payee account the hub will not take, with the one-line reason."""


def name_payee(
    engine: Engine,
    application_no: str,
    *,
    account: str,
    note: str,
    operator: str,
    customer_no: str | None = None,
) -> dict[str, str]:
    """An operator names the account an approval with nothing to pay into is paid into (the
    company's new settlement account, say): its ``payee_account`` item, NEEDS_HUMAN, turns
    DONE with the account, audited in the same transaction; the next ``book_loans`` books the
    loan and its tranche once, and the payment run pays it once.

    ``customer_no`` is the borrower's core customer number, needed only when the core did not
    know the applicant at the harvest and the hub does not know the account's holder (a loan
    is booked under a customer). Refused (``PayeeRefused``) for an account that is not one
    by shape, or that the hub knows as anything but an active deposit account; for an
    application with no approval waiting for a payee; without a note or an operator."""
    payee = account.strip().upper()
    if not re.fullmatch(ACCOUNT_SHAPE, payee):
        raise PayeeRefused(f"{account!r} is not an account number (6-34 digits/letters)")
    if not note.strip():
        raise PayeeRefused("naming a payee needs a note saying where the account comes from")
    if not operator.strip():
        raise PayeeRefused("naming a payee needs the operator's name")
    if customer_no is not None and not re.fullmatch(r"^[0-9]{12}$", customer_no.strip()):
        raise PayeeRefused(f"{customer_no!r} is not a core customer number (12 digits)")
    ledger = WorkItemLedger(engine, actor=operator)
    item = ledger.get(PAYEE_KIND, application_no)
    with engine.connect() as conn:
        approval = conn.execute(
            select(decision.c.outcome).where(decision.c.application_no == application_no)
        ).scalar()
        lent = conn.execute(
            select(loan.c.loan_account).where(loan.c.application_no == application_no)
        ).scalar()
        known = conn.execute(
            select(core_account.c.customer_no, core_account.c.account_type, core_account.c.status)
            .where(core_account.c.account_no == payee)
            .order_by(core_account.c.id.desc())
        ).first()
        borrower = conn.execute(
            select(applicant_profile.c.core_customer_no)
            .where(applicant_profile.c.application_no == application_no)
            .order_by(applicant_profile.c.id.desc())
        ).scalar()
    if approval is None:
        raise PayeeRefused(f"no decision for application {application_no!r}")
    if lent is not None:
        raise PayeeRefused(f"{application_no} is already lent as {lent}: its payee is fixed")
    if item is None or item.state is not WorkItemState.NEEDS_HUMAN:
        state = "no payee item" if item is None else f"its payee item is {item.state.value}"
        raise PayeeRefused(f"{application_no} does not wait for a payee account ({state})")
    if known is not None and (known.account_type, known.status) != ("DEPOSIT", "ACTIVE"):
        raise PayeeRefused(
            f"{payee} is a {known.status} {known.account_type} account at the core: name an "
            "active deposit account"
        )
    holder = customer_no.strip() if customer_no else (known.customer_no if known else None)
    loan_customer = borrower or holder
    if loan_customer is None:
        raise PayeeRefused(
            f"the core did not know the applicant of {application_no}: name the borrower's "
            "core customer number too (--customer)"
        )
    named = {"account": payee, "customer_no": loan_customer, "by": operator, "note": note}

    def record(conn: Connection) -> None:
        audit.append(
            conn,
            actor=operator,
            action="payment.payee_named",
            subject=application_no,
            after=named,
        )

    try:
        ledger.resolve_waiting(
            item, result=named, evidence=f"payee account named by {operator}: {note}", also=record
        )
    except IllegalTransition as exc:
        raise PayeeRefused(f"{application_no} changed meanwhile: {exc}") from exc
    return named


def disbursement_from_row(row: Any) -> Disbursement:
    values = dict(row._mapping)
    lineage = {k: values.pop(k) for k in Lineage.model_fields}
    values.pop("id")
    return Disbursement.model_validate({**values, "lineage": lineage})


def work_payload(tranche: Disbursement) -> dict[str, Any]:
    """What a payment work item is about: its loan, tranche, amount and payee."""
    return {
        "loan": tranche.loan_account,
        "tranche": tranche.tranche,
        "amount": str(tranche.amount),
        "creditor_account": tranche.creditor_account,
    }


# -- the files of a tranche ---------------------------------------------------------------------


def tranche_files(engine: Engine, end_to_end_id: str) -> list[tuple[str, PaymentFileState]]:
    """Every file the tranche was ever sent under, oldest first, with its state.

    A MsgId found only on the disbursement or in the work item's result (stored before
    revision 0005, or by a hand repair) is adopted as a file, never ignored: whatever the hub
    once sent under must be read before anything new is sent."""
    now = utcnow()
    with engine.begin() as conn:
        rows = conn.execute(
            select(payment_file.c.msg_id, payment_file.c.state)
            .where(payment_file.c.end_to_end_id == end_to_end_id)
            .order_by(payment_file.c.id)
        ).all()
        known = {m for m, _ in rows}
        on_row = conn.execute(
            select(disbursement.c.msg_id).where(disbursement.c.end_to_end_id == end_to_end_id)
        ).scalar()
        done = conn.execute(
            select(work_item.c.result).where(
                work_item.c.kind == KIND, work_item.c.business_key == end_to_end_id
            )
        ).scalar()
        recorded = (done or {}).get("msg_id") if isinstance(done, dict) else None
        for msg_id in dict.fromkeys(m for m in (on_row, recorded) if m and m not in known):
            conn.execute(
                insert_or_ignore(conn, payment_file, ["msg_id"]).values(
                    end_to_end_id=end_to_end_id,
                    msg_id=msg_id,
                    state=PaymentFileState.ASSIGNED.value,
                    detail="adopted from the disbursement or its work item",
                    assigned_at=now,
                    updated_at=now,
                )
            )
            rows.append((msg_id, PaymentFileState.ASSIGNED.value))
    return [(m, PaymentFileState(s)) for m, s in rows]


def _assign_file(engine: Engine, end_to_end_id: str, msg_id: str) -> None:
    """The new file's MsgId is stored before any byte of it leaves: a crash from here on
    leaves a file the next run reads, never one it forgets."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            payment_file.insert().values(
                end_to_end_id=end_to_end_id,
                msg_id=msg_id,
                state=PaymentFileState.ASSIGNED.value,
                assigned_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            update(disbursement)
            .where(disbursement.c.end_to_end_id == end_to_end_id)
            .values(msg_id=msg_id)
        )


def _set_file(engine: Engine, msg_id: str, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(payment_file)
            .where(payment_file.c.msg_id == msg_id)
            .values(**values, updated_at=utcnow())
        )


def mark_sent(engine: Engine, end_to_end_id: str, msg_id: str) -> None:
    """A tranche settled as arrived (by the automatic settling or an operator's): SENT in
    ``msg_id``, its file SENT, unless a report moved it on already."""
    _mark_sent(engine, end_to_end_id, msg_id)


def _mark_sent(engine: Engine, end_to_end_id: str, msg_id: str) -> None:
    """A tranche the gateway has: sent in the file ``msg_id`` (a report may have moved it on)."""
    with engine.begin() as conn:
        conn.execute(
            update(disbursement)
            .where(
                disbursement.c.end_to_end_id == end_to_end_id,
                disbursement.c.status == PaymentStatus.PENDING.value,
            )
            .values(status=PaymentStatus.SENT.value, msg_id=msg_id)
        )
        conn.execute(
            update(payment_file)
            .where(
                payment_file.c.msg_id == msg_id,
                payment_file.c.state == PaymentFileState.ASSIGNED.value,
            )
            .values(state=PaymentFileState.SENT.value, updated_at=utcnow())
        )


def _taken_reports(
    gateway: PaymentGatewayConnector, receipts: FileReceiptBook, msg_id: str
) -> list[tuple[TakenFile, StatusReport]]:
    """The gateway's status report files for one file so far, each receipted (RECEIVED, the
    first time) as it is taken, with what it says."""
    out = []
    for taken in gateway.report_files(msg_id):
        receipts.record(gateway.system, taken.name, taken.sha256, taken.size)
        out.append((taken, parse_pain002(taken.path.read_bytes())))
    return out


def gateway_reports(
    gateway: PaymentGatewayConnector, receipts: FileReceiptBook, msg_id: str
) -> list[StatusReport]:
    """The gateway's status reports for one file so far, each receipted as it is taken."""
    return [report for _, report in _taken_reports(gateway, receipts, msg_id)]


def tranche_status_in(
    reports: list[StatusReport], msg_id: str, e2e: str
) -> tuple[str, str | None] | None:
    """The gateway's latest word on tranche ``e2e`` in the file ``msg_id``: its transaction
    status, or the whole file's refusal (a file refused whole, DU01 or FF01, lists no
    transactions); None while the file has no report. Reports about another MsgId (a stray
    trigger's FF01 names none) say nothing about this file."""
    latest = None
    for report in reports:
        if report.original_msg_id != msg_id:
            continue
        mine = [p for p in report.payments if p.end_to_end_id == e2e]
        if mine:
            latest = (mine[-1].status, mine[-1].reason)
        elif report.group_status == "RJCT":
            latest = ("RJCT", report.group_reason)
    return latest


@dataclass(frozen=True)
class Verdict:
    """What the gateway says of one tranche over all its files."""

    status: str | None  # ACSC, ACCP or RJCT; None while waiting, or when only refused as a repeat
    reason: str | None = None
    msg_id: str | None = None  # the file that paid it (or the one refused)
    accepted: tuple[
        str, ...
    ] = ()  # every file the gateway accepted it in: more than one = paid twice
    duplicate_only: bool = False  # only "a repeat" refusals (DU01/DU05) and no file that paid


def verdict(readings: dict[str, tuple[str, str | None] | None]) -> Verdict:
    """Combine the tranche's files: a file that paid wins over any later refusal; a refusal
    as a repeat (DU01/DU05) says only that *this* file did not pay, so it never makes the
    tranche RJCT; a real refusal (AC04, AM04, FF01...) does, once every file has answered."""
    accepted = tuple(m for m, r in readings.items() if r and r[0] in ("ACCP", "ACSC"))
    for status in ("ACSC", "ACCP"):
        paid = [m for m, r in readings.items() if r and r[0] == status]
        if paid:
            return Verdict(status, None, paid[0], accepted)
    if any(r is None for r in readings.values()):
        return Verdict(None)  # a file has not answered yet: it may still pay
    real = [(m, r) for m, r in readings.items() if r and r[1] not in DUPLICATE_REASONS]
    if real:
        msg_id, (_, reason) = real[-1]
        return Verdict("RJCT", reason, msg_id)
    if readings:
        return Verdict(None, "DU05", next(iter(readings)), duplicate_only=True)
    return Verdict(None)


def read_files(
    engine: Engine, gateway: PaymentGatewayConnector, receipts: FileReceiptBook, e2e: str
) -> tuple[str | None, list[str]]:
    """What the gateway shows of every file of the tranche not yet withdrawn, read-only (no
    ``.ok`` written, no partial upload removed): the first file that ``settle_files`` would
    take as live (reported on, triggered, processed, or whole without its ``.ok``), or None,
    and one line per file. ``LegacyError`` when the gateway cannot be read."""
    live: str | None = None
    seen: list[str] = []
    for msg_id, state in tranche_files(engine, e2e):
        if state is PaymentFileState.WITHDRAWN:
            seen.append(f"{msg_id}: withdrawn before")
            continue
        if gateway_reports(gateway, receipts, msg_id):
            where, detail = "reported", "the gateway reported on it"
        else:
            where = gateway.locate(msg_id).value
            detail = f"the gateway's folders show it {where}"
            if where == FileAtGateway.UNTRIGGERED:
                detail += " (whole, its .ok missing: settling writes it, the upload's last step)"
        if where in (
            "reported",
            FileAtGateway.UNTRIGGERED,
            FileAtGateway.TRIGGERED,
            FileAtGateway.PROCESSED,
        ):
            live = live or msg_id
        seen.append(f"{msg_id}: {detail}")
    return live, seen or ["no file was ever assigned"]


def settle_files(
    engine: Engine, gateway: PaymentGatewayConnector, receipts: FileReceiptBook, e2e: str
) -> tuple[str | None, str]:
    """Read the gateway for every file of the tranche not yet withdrawn, deterministically:
    a file reported on, processed or triggered is live; a file renamed into place without its
    ``.ok`` is completed (the rename is the last step of a whole upload) and so live; a
    partial upload is withdrawn (our ``.part`` removed) and a file with nothing at the gateway
    is withdrawn, so neither can ever be taken. Returns the first live MsgId (None when no file
    is live: nothing was sent, and a new file may go) and what was read, for the audit."""
    live: str | None = None
    seen: list[str] = []
    for msg_id, state in tranche_files(engine, e2e):
        if state is PaymentFileState.WITHDRAWN:
            continue
        if gateway_reports(gateway, receipts, msg_id):
            where, detail = "reported", "the gateway reported on it"
        else:
            where = gateway.locate(msg_id).value
            detail = f"the gateway's folders show it {where}"
            if where == FileAtGateway.UNTRIGGERED:
                gateway.complete(msg_id)
                where, detail = "completed", "renamed into place without its .ok: .ok written"
        if where in ("reported", "completed", FileAtGateway.TRIGGERED, FileAtGateway.PROCESSED):
            _set_file(engine, msg_id, state=PaymentFileState.SENT.value, detail=detail)
            live = live or msg_id
        else:
            removed = where == FileAtGateway.PART and gateway.withdraw(msg_id)
            detail = "its partial upload removed" if removed else "nothing of it at the gateway"
            _set_file(engine, msg_id, state=PaymentFileState.WITHDRAWN.value, detail=detail)
        seen.append(f"{msg_id}: {detail}")
    return live, "; ".join(seen) or "no file was ever assigned"


# -- sending ------------------------------------------------------------------------------------


@dataclass
class PaymentRun:
    """What one ``pay_tranches`` did, tranche by tranche (EndToEndId -> reason)."""

    sent: list[str] = field(default_factory=list)  # MsgIds the tranches went (or had gone) in
    failed: dict[str, str] = field(default_factory=dict)  # transient: worth retrying
    in_doubt: dict[str, str] = field(default_factory=dict)  # settled by reading, next run
    needs_human: dict[str, str] = field(default_factory=dict)  # waiting in a person's queue
    conflicts: dict[str, str] = field(default_factory=dict)  # a tranche changed after its claim
    refused: dict[str, str] = field(default_factory=dict)  # business or contract: not retried

    def retry_error(self) -> TransientError | None:
        """The error a task should end with: only transient failures are worth a retry (the
        others are in their queues, and a retry would find them there again)."""
        if not self.failed:
            return None
        return TransientError(
            f"{len(self.failed)} payment(s) not sent: {list(self.failed.items())[:3]}"
        )

    def summary(self) -> dict[str, Any]:
        """Counts and keys only (XCom carries no payloads)."""
        return {
            "sent": len(self.sent),
            **{
                name: sorted(getattr(self, name))
                for name in ("failed", "in_doubt", "needs_human", "conflicts", "refused")
            },
        }


def _queue_conflict(ledger: WorkItemLedger, tranche: Disbursement, reason: str) -> None:
    """A tranche whose payment changed after its work item was claimed (its amount, say) is
    one business key with two effects: nothing is sent, and a person is asked, as a
    NEEDS_HUMAN item of its own (once per changed payload), with the reason."""
    payload = work_payload(tranche)
    key = f"{tranche.end_to_end_id}@{sha256_hex(jsonable(payload))[:12]}"
    item = ledger.claim(CONFLICT_KIND, key, payload)
    if item.state is WorkItemState.IN_PROGRESS and item.owner == ledger.owner:
        ledger.needs_human(item, reason)


def pay_tranches(
    engine: Engine, gateway: PaymentGatewayConnector, guard: LedgerGuard
) -> PaymentRun:
    """One pain.001 per pending tranche, each under its work item; one tranche that fails,
    conflicts, needs a person or is in doubt is put in its queue and never stops the others.

    Before a tranche gets a new file, every file it had is read at the gateway
    (``settle_files``): one that may be live is settled, never sent again under a new MsgId."""
    with engine.connect() as conn:
        pending = [
            disbursement_from_row(r)
            for r in conn.execute(
                select(disbursement).where(disbursement.c.status == PaymentStatus.PENDING.value)
            )
        ]
        lent = dict(
            conn.execute(
                select(loan.c.loan_account, loan.c.application_no).where(
                    loan.c.loan_account.in_({t.loan_account for t in pending})
                )
            ).all()
        )
    run = PaymentRun()
    for tranche in pending:
        e2e = tranche.end_to_end_id

        def pay(tranche: Disbursement = tranche) -> dict[str, Any]:
            live, evidence = settle_files(
                engine, gateway, FileReceiptBook(engine), tranche.end_to_end_id
            )
            if live is not None:  # an earlier file is at the gateway: that one is the payment
                return {"msg_id": live, "found": evidence}
            msg_id = new_msg_id()
            _assign_file(engine, tranche.end_to_end_id, msg_id)
            gateway.send([tranche], msg_id)
            return {"msg_id": msg_id, "sent_at": utcnow().isoformat()}

        try:
            with call_subject(lent.get(tranche.loan_account)):  # journaled for its application
                result = guard.once(KIND, e2e, work_payload(tranche), pay)
        except ConflictingWorkItem as exc:
            log.warning("%s not sent, its payment changed: %s", e2e, exc)
            run.conflicts[e2e] = str(exc)
            _queue_conflict(guard.ledger, tranche, str(exc))
            continue
        except OutcomeUnknown as exc:
            log.warning("%s in doubt: %s", e2e, exc)
            run.in_doubt[e2e] = str(exc)
            continue
        except NeedsHuman as exc:  # in doubt or waiting for a person: settled elsewhere
            item = guard.ledger.get(KIND, e2e)
            queue = (
                run.in_doubt if item and item.state is WorkItemState.IN_DOUBT else run.needs_human
            )
            log.warning("%s not sent: %s", e2e, exc)
            queue[e2e] = str(exc)
            continue
        except (BusinessAnswer, ContractError) as exc:
            log.warning("%s refused: %s", e2e, exc)
            run.refused[e2e] = str(exc)
            continue
        except TransientError as exc:
            log.warning("%s failed: %s", e2e, exc)
            run.failed[e2e] = str(exc)
            continue
        except Exception as exc:  # a bug or a lost store: the others still go
            log.exception("%s: unexpected failure", e2e)
            item = guard.ledger.get(KIND, e2e)
            queue = run.in_doubt if item and item.state is WorkItemState.IN_DOUBT else run.failed
            queue[e2e] = f"{type(exc).__name__}: {exc}"
            continue
        _mark_sent(engine, e2e, result["msg_id"])
        run.sent.append(result["msg_id"])
    return run


def send_payments(
    engine: Engine, gateway: PaymentGatewayConnector, guard: LedgerGuard
) -> list[str]:
    """``pay_tranches``, then the MsgIds sent; raises ``TransientError`` at the end only when
    a tranche failed in a way worth retrying (the others are already in their queues)."""
    run = pay_tranches(engine, gateway, guard)
    if (error := run.retry_error()) is not None:
        raise error
    return run.sent


# -- reading the gateway back -------------------------------------------------------------------


@dataclass
class Settlement:
    settled: int = 0
    accepted: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # EndToEndId -> reason
    waiting: int = 0
    warned: int = 0  # early warnings raised for rejections (each once)
    # refused only as a repeat (DU01/DU05) with no file of the hub's that paid: a person looks
    disputed: dict[str, str] = field(default_factory=dict)


def _read_tranche(
    engine: Engine,
    gateway: PaymentGatewayConnector,
    receipts: FileReceiptBook,
    e2e: str,
    extra: tuple[str, ...] = (),
) -> Verdict:
    """The gateway's reports for every file of the tranche, each file's latest status kept
    on its row, combined into one verdict."""
    files = [m for m, _ in tranche_files(engine, e2e)]
    readings: dict[str, tuple[str, str | None] | None] = {}
    for msg_id in dict.fromkeys([*files, *extra]):
        taken = _taken_reports(gateway, receipts, msg_id)
        reading = tranche_status_in([report for _, report in taken], msg_id, e2e)
        if reading is not None:  # stored, and its reports receipted as applied, at once
            with engine.begin() as conn:
                conn.execute(
                    update(payment_file)
                    .where(payment_file.c.msg_id == msg_id)
                    .values(
                        gateway_status=reading[0], gateway_reason=reading[1], updated_at=utcnow()
                    )
                )
                for file, _ in taken:
                    receipts.mark(
                        gateway.system,
                        file.name,
                        file.sha256,
                        FileState.LOADED,
                        detail=f"applied: {e2e} {reading[0]} {reading[1] or ''}".strip(),
                        conn=conn,
                    )
        readings[msg_id] = reading
    with engine.connect() as conn:
        withdrawn = set(
            conn.execute(
                select(payment_file.c.msg_id).where(
                    payment_file.c.end_to_end_id == e2e,
                    payment_file.c.state == PaymentFileState.WITHDRAWN.value,
                )
            ).scalars()
        )
    # a withdrawn file never reached the gateway: it is not waited for (it is still read,
    # above, so that a late one would show)
    return verdict({m: r for m, r in readings.items() if r is not None or m not in withdrawn})


def msg_ids_in_flight(engine: Engine) -> list[str]:
    """Every file of the tranches still in flight (sent or accepted, not settled): the files
    whose next status report ``collect_reports`` waits for."""
    with engine.connect() as conn:
        in_flight = conn.execute(
            select(disbursement.c.end_to_end_id).where(disbursement.c.status.in_(["SENT", "ACCP"]))
        ).scalars()
        e2es = list(in_flight)
    return list(dict.fromkeys(m for e2e in e2es for m, _ in tranche_files(engine, e2e)))


def collect_reports(
    engine: Engine, gateway: PaymentGatewayConnector, receipts: FileReceiptBook
) -> Settlement:
    """Apply every status report the gateway wrote for the tranches in flight, over all of
    each tranche's files: a later file refused as a repeat never hides the one that paid."""
    out = Settlement()
    with engine.connect() as conn:
        in_flight = conn.execute(
            select(disbursement.c.end_to_end_id, disbursement.c.loan_account).where(
                disbursement.c.status.in_(["SENT", "ACCP"])
            )
        ).all()
    for e2e, loan_account in in_flight:
        seen = _read_tranche(engine, gateway, receipts, e2e)
        if seen.duplicate_only:
            out.disputed[e2e] = (
                f"{seen.msg_id} refused as a repeat ({seen.reason}) and no file of the hub's "
                "paid it"
            )
            continue
        if seen.status is None:
            out.waiting += 1
            continue
        changes: dict[str, Any] = {
            "status": seen.status,
            "status_reason": seen.reason,
            "msg_id": seen.msg_id,
        }
        if seen.status == "ACSC":
            changes["settled_at"] = utcnow()
            out.settled += 1
        elif seen.status == "RJCT":
            out.rejected[e2e] = seen.reason or "?"
        else:
            out.accepted += 1
            out.waiting += 1
        with engine.begin() as conn:
            conn.execute(
                update(disbursement).where(disbursement.c.end_to_end_id == e2e).values(**changes)
            )
            if seen.status == "RJCT":
                out.warned += _report_rejection(conn, loan_account, e2e, seen)
            if seen.status == "ACSC":
                conn.execute(
                    update(loan).where(loan.c.loan_account == loan_account).values(status="ACTIVE")
                )
                conn.execute(
                    update(application)
                    .where(
                        application.c.application_no.in_(
                            select(loan.c.application_no).where(loan.c.loan_account == loan_account)
                        )
                    )
                    .values(status="DISBURSED")
                )
    return out


def rejection_key(e2e: str, reason: str | None) -> str:
    """The rejection warning's key: one per instruction (EndToEndId) and reason, ever."""
    return f"{REJECTED_RULE}:{e2e}:{reason or '-'}"


def _report_rejection(conn: Connection, loan_account: str, e2e: str, seen: Verdict) -> int:
    """The early warning of a payment the gateway refused for a real reason, raised inside the
    transaction that records the tranche RJCT (and audited with it): once per instruction and
    reason, however often the reports are read again. Returns 1 when it is new."""
    text = reason_text(seen.reason)
    made = EarlyWarning(
        warning_key=rejection_key(e2e, seen.reason),
        loan_account=loan_account,
        rule=REJECTED_RULE,
        severity=WarningSeverity.HIGH,
        message=(
            f"{loan_account}: payment {e2e} rejected by the gateway ({seen.reason}: {text}) in "
            f"file {seen.msg_id}. Nothing is sent again by itself: once the account is fixed, "
            f"an operator re-instructs it: loanhub payments repay {e2e} --note ... --operator ..."
        )[:500],
        raised_at=utcnow(),
        lineage=_lineage("disburse-v1", sha256_hex(jsonable({"e2e": e2e, "reason": seen.reason}))),
    )
    if not store_warnings(conn, [made]):
        return 0
    audit.append(
        conn,
        actor="loanhub",
        action="payment.rejected",
        subject=e2e,
        after={"reason": seen.reason, "text": text, "msg_id": seen.msg_id},
    )
    return 1


class ReinstructionRefused(ValueError):
    """A re-instruction the hub will not make, with the one-line reason."""


ACCOUNT_SHAPE = r"^[0-9A-Z]{6,34}$"


def reinstruct(
    engine: Engine,
    end_to_end: str,
    *,
    note: str,
    operator: str,
    account: str | None = None,
) -> Disbursement:
    """An operator's re-instruction of a rejected tranche: its next instruction (a new
    EndToEndId ``-R<n>``, derived from loan, tranche and the counter stored with it, so that
    the gateway's 90-day refusal of the old one does not apply and a retry of the new one still
    pays at most once), to ``account`` if given (else the same account, fixed at the core),
    PENDING for the next payment run to send once. Never automatic; audited in the same
    transaction; the rejection warning is acknowledged with it.

    Refused (``ReinstructionRefused``) for a tranche that is not rejected for a real reason,
    whose payment is in doubt or not settled by the gateway in every file, or that was already
    re-instructed (the EndToEndId named is no longer the tranche's)."""
    parsed = parse_end_to_end_id(end_to_end)
    if parsed is None:
        raise ReinstructionRefused(f"{end_to_end!r} is not a tranche's EndToEndId")
    if not note.strip():
        raise ReinstructionRefused("a re-instruction needs a note saying what was fixed")
    if not operator.strip():
        raise ReinstructionRefused("a re-instruction needs the operator's name")
    payee = account.strip().upper() if account is not None else None
    if payee is not None and not re.fullmatch(ACCOUNT_SHAPE, payee):
        raise ReinstructionRefused(f"{account!r} is not an account number (6-34 digits/letters)")
    loan_account, tranche_no, _ = parsed
    with engine.begin() as conn:
        row = conn.execute(
            select(disbursement).where(
                disbursement.c.loan_account == loan_account, disbursement.c.tranche == tranche_no
            )
        ).first()
        if row is None:
            raise ReinstructionRefused(f"no tranche {end_to_end}")
        current = disbursement_from_row(row)
        if current.end_to_end_id != end_to_end:
            raise ReinstructionRefused(
                f"{end_to_end} was already re-instructed: the tranche is now "
                f"{current.end_to_end_id} ({current.status.value})"
            )
        if current.status is not PaymentStatus.RJCT:
            raise ReinstructionRefused(
                f"{end_to_end} is {current.status.value}, not rejected: only a rejected payment "
                "is re-instructed"
            )
        if current.status_reason in DUPLICATE_REASONS:
            raise ReinstructionRefused(
                f"{end_to_end} was refused only as a repeat ({current.status_reason}): the "
                "gateway may have paid it; reconcile, do not re-instruct"
            )
        item_state = conn.execute(
            select(work_item.c.state).where(
                work_item.c.kind == KIND, work_item.c.business_key == end_to_end
            )
        ).scalar()
        if item_state in (WorkItemState.IN_DOUBT.value, WorkItemState.IN_PROGRESS.value):
            raise ReinstructionRefused(
                f"{end_to_end} is in doubt ({item_state}): settle it first (loanhub settle "
                "payments)"
            )
        unsettled = conn.execute(
            select(payment_file.c.msg_id, payment_file.c.gateway_status).where(
                payment_file.c.end_to_end_id == end_to_end,
                payment_file.c.state != PaymentFileState.WITHDRAWN.value,
                (payment_file.c.gateway_status.is_(None))
                | (payment_file.c.gateway_status != PaymentStatus.RJCT.value),
            )
        ).first()
        if unsettled is not None:
            raise ReinstructionRefused(
                f"{end_to_end} is in doubt: its file {unsettled.msg_id} is "
                f"{unsettled.gateway_status or 'not answered'} at the gateway"
            )
        number = current.instruction + 1
        new_e2e = end_to_end_id(loan_account, tranche_no, number)
        payee = payee or current.creditor_account
        changed = conn.execute(
            update(disbursement)
            .where(
                disbursement.c.id == row.id,
                disbursement.c.end_to_end_id == end_to_end,
                disbursement.c.status == PaymentStatus.RJCT.value,
            )
            .values(
                end_to_end_id=new_e2e,
                instruction=number,
                creditor_account=payee,
                status=PaymentStatus.PENDING.value,
                status_reason=None,
                msg_id=None,  # the new instruction's files are its own: none adopted
                settled_at=None,
            )
        )
        if changed.rowcount != 1:
            raise ReinstructionRefused(f"{end_to_end} changed meanwhile: look again")
        conn.execute(
            update(early_warning)
            .where(
                early_warning.c.warning_key == rejection_key(end_to_end, current.status_reason),
                early_warning.c.acknowledged_at.is_(None),
            )
            .values(acknowledged_at=utcnow())
        )
        audit.append(
            conn,
            actor=operator,
            action="payment.reinstructed",
            subject=new_e2e,
            before={
                "end_to_end_id": end_to_end,
                "status": current.status.value,
                "reason": current.status_reason,
                "creditor_account": current.creditor_account,
            },
            after={
                "end_to_end_id": new_e2e,
                "instruction": number,
                "creditor_account": payee,
                "note": note,
            },
        )
    return current.model_copy(
        update={
            "end_to_end_id": new_e2e,
            "instruction": number,
            "creditor_account": payee,
            "status": PaymentStatus.PENDING,
            "status_reason": None,
            "msg_id": None,
        }
    )


def resolve_in_doubt(
    engine: Engine,
    gateway: PaymentGatewayConnector,
    receipts: FileReceiptBook,
    ledger: WorkItemLedger,
) -> dict[str, int]:
    """Settle payments whose upload outcome is unknown by reading the gateway, never by
    sending: run at the start of every disbursement run and by hand.

    First, a payment whose worker died mid-upload holds its item IN_PROGRESS until its lease
    runs out; claiming it then turns it IN_DOUBT (the ledger's rule), so it is settled here
    rather than left for ever. Then each IN_DOUBT item: a live file (``settle_files``) means
    it arrived (DONE); no live file means nothing was sent (FAILED, transient: the next run
    sends it once, under a new MsgId, every earlier one being withdrawn)."""
    counts = {"arrived": 0, "never_arrived": 0, "still_unknown": 0, "lease_expired": 0}
    now = utcnow()
    for item in ledger.items(WorkItemState.IN_PROGRESS, kind=KIND):
        if item.lease_expires_at is None or item.lease_expires_at > now:
            continue
        try:
            ledger.claim(KIND, item.business_key, item.payload)
        except WorkItemError as exc:  # taken by another worker meanwhile
            log.info("%s: %s", item.business_key, exc)
            continue
        counts["lease_expired"] += 1
    for item in ledger.items(WorkItemState.IN_DOUBT, kind=KIND):
        try:
            live, evidence = settle_files(engine, gateway, receipts, item.business_key)
        except LegacyError as exc:  # the gateway cannot be read now: the next run reads it
            log.warning("%s: cannot read the gateway: %s", item.business_key, exc)
            counts["still_unknown"] += 1
            continue
        try:
            if live is not None:
                ledger.resolve_in_doubt(
                    item, happened=True, result={"msg_id": live}, evidence=evidence
                )
                _mark_sent(engine, item.business_key, live)
                counts["arrived"] += 1
            else:
                ledger.resolve_in_doubt(item, happened=False, evidence=evidence)
                counts["never_arrived"] += 1
        except IllegalTransition as exc:  # another settler was first
            log.info("%s: %s", item.business_key, exc)
    return counts


def reconcile(
    engine: Engine,
    gateway: PaymentGatewayConnector,
    receipts: FileReceiptBook,
    ledger: WorkItemLedger,
) -> dict[str, Any]:
    """The hub's payments against the gateway's own status reports, over every file each
    tranche was ever sent under (its files, the one on the disbursement, the one its work item
    recorded): tranches whose stored status disagrees with the gateway's, tranches recorded
    RJCT that a file of theirs paid, and tranches the gateway accepted in more than one file
    (paid twice). All three must be empty."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                disbursement.c.end_to_end_id,
                disbursement.c.status,
                disbursement.c.msg_id,
                disbursement.c.loan_account,
                disbursement.c.tranche,
                disbursement.c.instruction,
            )
        ).all()
    by_status: dict[str, int] = {}
    mismatches: dict[str, tuple[str, str]] = {}
    paid_twice: list[str] = []
    paid_but_rejected: list[str] = []
    for e2e, status, msg_id, loan_account, tranche_no, instruction in rows:
        by_status[status] = by_status.get(status, 0) + 1
        item = ledger.get(KIND, e2e)
        recorded = (item.result or {}).get("msg_id") if item else None
        seen = _read_tranche(
            engine, gateway, receipts, e2e, tuple(m for m in (msg_id, recorded) if m)
        )
        # the earlier instructions of a re-instructed tranche were all recorded rejected:
        # any file of theirs the gateway accepted is a payment too
        earlier = [
            m
            for k in range(instruction)
            for m in _read_tranche(
                engine, gateway, receipts, end_to_end_id(loan_account, tranche_no, k)
            ).accepted
        ]
        if len(seen.accepted) + len(earlier) > 1:
            paid_twice.append(e2e)
        if (status == PaymentStatus.RJCT.value and seen.accepted) or earlier:
            paid_but_rejected.append(e2e)
        gateway_says = "DUPLICATE" if seen.duplicate_only else seen.status
        if gateway_says is not None and gateway_says != status:
            mismatches[e2e] = (status, gateway_says)
    return {
        "by_status": by_status,
        "mismatches": mismatches,
        "paid_twice": paid_twice,
        "paid_but_rejected": paid_but_rejected,
        "in_flight": by_status.get("SENT", 0) + by_status.get("ACCP", 0),
    }
