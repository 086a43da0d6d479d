"""Disburse: approved loans become loans, each tranche one payment (pain.001 over SFTP), the
gateway's status reports (pain.002) settle them, and a reconciliation says what disagrees.

Exactly one payment per loan tranche, across retries, clears and crashed workers:
- the ``EndToEndId`` is derived from loan and tranche, so the gateway itself refuses a second
  one (DU05);
- each tranche is a work item ``payment:<EndToEndId>``; the file's ``MsgId`` is stored on the
  disbursement before the upload, so an item left IN_DOUBT (a crash or a timeout after sending)
  is settled by reading the gateway's reports for that ``MsgId``, never by sending again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from connectors.payments import (
    PaymentGatewayConnector,
    StatusReport,
    end_to_end_id,
    new_msg_id,
    parse_pain002,
)
from kernel.failures import LegacyError, NeedsHuman, TransientError
from loanhub.platform import audit
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from schemas.base import Lineage
from schemas.hub import WorkItemState
from schemas.lending import Disbursement, Loan, PaymentStatus
from schemas.tables import (
    applicant_profile,
    application,
    core_account,
    decision,
    disbursement,
    fact_row,
    loan,
)
from schemas.types import utcnow

log = logging.getLogger(__name__)
KIND = "payment"


def loan_account_for(application_no: str) -> str:
    """The loan's account number, derived from its application (one loan per application)."""
    return f"LN{application_no[-16:]}"[:20]


def _lineage(source: str, digest: str) -> Lineage:
    return Lineage(
        source_system="hub", fetched_at=utcnow(), mapping_version=source, raw_payload_hash=digest
    )


def book_loans(engine: Engine) -> list[str]:
    """A loan and its single tranche for every approval the LOS holds and the hub has not
    booked; an approval whose applicant has no active deposit account is reported, not paid."""
    booked = []
    with engine.begin() as conn:
        approvals = conn.execute(
            select(decision, applicant_profile.c.core_customer_no, applicant_profile.c.inputs_hash)
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
        ).mappings()
        seen: set[str] = set()
        for row in approvals:
            if row["application_no"] in seen:
                continue
            seen.add(row["application_no"])
            account = None
            if row["core_customer_no"]:
                account = conn.execute(
                    select(core_account.c.account_no).where(
                        core_account.c.customer_no == row["core_customer_no"],
                        core_account.c.account_type == "DEPOSIT",
                        core_account.c.status == "ACTIVE",
                    )
                ).scalar()
            if account is None:
                log.warning("%s: no active deposit account to pay into", row["application_no"])
                continue
            number = loan_account_for(row["application_no"])
            made = Loan(
                loan_account=number,
                application_no=row["application_no"],
                customer_no=row["core_customer_no"],
                principal=row["approved_amount"],
                annual_rate=row["annual_rate"],
                term_months=row["term_months"],
                start_date=utcnow().date(),
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


def send_payments(
    engine: Engine, gateway: PaymentGatewayConnector, guard: LedgerGuard
) -> list[str]:
    """One pain.001 per pending tranche, each under its work item; returns the MsgIds sent."""
    with engine.connect() as conn:
        pending = [
            disbursement_from_row(r)
            for r in conn.execute(
                select(disbursement).where(disbursement.c.status == PaymentStatus.PENDING.value)
            )
        ]
    sent: list[str] = []
    failures: list[str] = []
    for tranche in pending:

        def pay(tranche: Disbursement = tranche) -> dict[str, Any]:
            msg_id = new_msg_id()
            with engine.begin() as conn:  # before the upload: an IN_DOUBT item knows its file
                conn.execute(
                    update(disbursement)
                    .where(disbursement.c.end_to_end_id == tranche.end_to_end_id)
                    .values(msg_id=msg_id)
                )
            gateway.send([tranche], msg_id)
            return {"msg_id": msg_id, "sent_at": utcnow().isoformat()}

        try:
            result = guard.once(KIND, tranche.end_to_end_id, work_payload(tranche), pay)
        except NeedsHuman as exc:  # in doubt or waiting for a person: settled elsewhere
            log.warning("%s not sent: %s", tranche.end_to_end_id, exc)
            continue
        except LegacyError as exc:  # the others still go; the task fails at the end
            log.warning("%s failed: %s", tranche.end_to_end_id, exc)
            failures.append(f"{tranche.end_to_end_id}: {exc}")
            continue
        _mark_sent(engine, tranche.end_to_end_id, result["msg_id"])
        sent.append(result["msg_id"])
    if failures:
        raise TransientError(f"{len(failures)} payment(s) not sent: {failures[:3]}")
    return sent


@dataclass
class Settlement:
    settled: int = 0
    accepted: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # EndToEndId -> reason
    waiting: int = 0


def gateway_reports(
    gateway: PaymentGatewayConnector, receipts: FileReceiptBook, msg_id: str
) -> list[StatusReport]:
    """The gateway's status reports for one file so far, each receipted as it is taken."""
    out = []
    for taken in gateway.report_files(msg_id):
        receipts.record(gateway.system, taken.name, taken.sha256, taken.size)
        out.append(parse_pain002(taken.path.read_bytes()))
    return out


def collect_reports(
    engine: Engine, gateway: PaymentGatewayConnector, receipts: FileReceiptBook
) -> Settlement:
    """Apply every status report the gateway wrote for the files in flight."""
    out = Settlement()
    with engine.connect() as conn:
        in_flight = conn.execute(
            select(
                disbursement.c.end_to_end_id, disbursement.c.msg_id, disbursement.c.loan_account
            ).where(disbursement.c.status.in_(["SENT", "ACCP"]))
        ).all()
    for e2e, msg_id, loan_account in in_flight:
        statuses = [
            p
            for report in gateway_reports(gateway, receipts, msg_id)
            for p in report.payments
            if p.end_to_end_id == e2e
        ]
        if not statuses:
            out.waiting += 1
            continue
        last = statuses[-1]
        changes: dict[str, Any] = {"status": last.status, "status_reason": last.reason}
        if last.status == "ACSC":
            changes["settled_at"] = utcnow()
            out.settled += 1
        elif last.status == "RJCT":
            out.rejected[e2e] = last.reason or "?"
        else:
            out.accepted += 1
            out.waiting += 1
        with engine.begin() as conn:
            conn.execute(
                update(disbursement).where(disbursement.c.end_to_end_id == e2e).values(**changes)
            )
            if last.status == "ACSC":
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


def resolve_in_doubt(
    engine: Engine,
    gateway: PaymentGatewayConnector,
    receipts: FileReceiptBook,
    ledger: WorkItemLedger,
    *,
    quiet_for: timedelta = timedelta(minutes=10),
) -> dict[str, int]:
    """Settle IN_DOUBT payments by reading the gateway, never by sending blindly: a report for
    the stored MsgId, or the file in the gateway's inbox, means it arrived (DONE); neither,
    after ``quiet_for``, means the upload never reached the gateway (FAILED, so the next run
    sends it, once)."""
    counts = {"arrived": 0, "never_arrived": 0, "still_unknown": 0}
    for item in ledger.items(WorkItemState.IN_DOUBT, kind=KIND):
        with engine.connect() as conn:
            msg_id = conn.execute(
                select(disbursement.c.msg_id).where(
                    disbursement.c.end_to_end_id == item.business_key
                )
            ).scalar()
        reports = gateway_reports(gateway, receipts, msg_id) if msg_id else []
        if reports or (msg_id and gateway.received(msg_id)):
            what = f"reported {reports[-1].group_status}" if reports else "has the file"
            ledger.resolve_in_doubt(
                item,
                happened=True,
                result={"msg_id": msg_id},
                evidence=f"the gateway {what} for {msg_id}",
            )
            _mark_sent(engine, item.business_key, msg_id)
            counts["arrived"] += 1
        elif utcnow() - item.updated_at > quiet_for:
            ledger.resolve_in_doubt(
                item, happened=False, evidence=f"no report for {msg_id} after {quiet_for}"
            )
            counts["never_arrived"] += 1
        else:
            counts["still_unknown"] += 1
    return counts


def reconcile(
    engine: Engine,
    gateway: PaymentGatewayConnector,
    receipts: FileReceiptBook,
    ledger: WorkItemLedger,
) -> dict[str, Any]:
    """The hub's payments against the gateway's own status reports, for every file the hub
    knows it sent (the one on the disbursement and the one its work item recorded): tranches
    whose stored status disagrees with the gateway's latest, and tranches the gateway accepted
    in more than one file (paid twice: must be 0)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(disbursement.c.end_to_end_id, disbursement.c.status, disbursement.c.msg_id)
        ).all()
    by_status: dict[str, int] = {}
    mismatches: dict[str, tuple[str, str]] = {}
    paid_twice: list[str] = []
    for e2e, status, msg_id in rows:
        by_status[status] = by_status.get(status, 0) + 1
        item = ledger.get(KIND, e2e)
        files = {m for m in (msg_id, (item.result or {}).get("msg_id") if item else None) if m}
        accepted, latest = set(), None
        for sent in sorted(files):
            for report in gateway_reports(gateway, receipts, sent):
                for p in report.payments:
                    if p.end_to_end_id == e2e:
                        latest = p.status if sent == msg_id else latest
                        if p.status in ("ACCP", "ACSC"):
                            accepted.add(sent)
        if len(accepted) > 1:
            paid_twice.append(e2e)
        if latest is not None and latest != status:
            mismatches[e2e] = (status, latest)
    return {
        "by_status": by_status,
        "mismatches": mismatches,
        "paid_twice": paid_twice,
        "in_flight": by_status.get("SENT", 0) + by_status.get("ACCP", 0),
    }
