"""After the nightly load: does the core's extract agree with what the hub booked and computes?

Two questions, asked of the file the hub took for the night (the kept bytes of its latest
LOADED or PARTIAL receipt), never of the store alone (a merge leaves unchanged rows with an
older file's lineage, so the store cannot say which loans tonight's file carried):

- **every active hub loan is in it**: a loan the hub paid out (``loan.status`` ACTIVE) with an
  installment due within the extract's window (``window_days`` up to the business date, by its
  monthly schedule from ``start_date``) must have a record; one without is *missing*: the core
  reports no repayment of a loan the hub lent, and the hub's warnings are blind to it;
- **the core's days past due agree with the hub's**: each record's ``DTL-DAYS-PAST-DUE`` against
  the days the hub computes from the same record's due date, amounts and paid date as of the
  business date (``installment_dpd``); a difference is a *DPD mismatch*: the five-tier class
  hint and the DPD warnings rest on the hub's figure, the core's books on its own.

Each missing loan and each loan with a mismatch is raised as an early warning, once per loan
and business date (mailed by the notify path like any other); the totals (expected, found,
missing, mismatches, amounts) are returned, logged and audited (``extract.reconciled``).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from connectors.extracts import extract_name
from kernel.failures import ContractError
from loanhub.platform import audit
from loanhub.platform.early_warnings import raise_once
from mappings.lnrepay import check_stream, detail_chunks, installment_rows
from schemas.base import Lineage
from schemas.hub import FileState
from schemas.lending import EarlyWarning, LoanStatus, WarningSeverity
from schemas.tables import audit_event, file_receipt, loan
from schemas.types import utcnow

RULES_VERSION = "reconciliation-v1"
MISSING = "extract_missing_loan"
DPD_MISMATCH = "core_dpd_mismatch"
log = logging.getLogger(__name__)


class ReconciliationPolicy(BaseModel):
    """What the reconciliation expects of the night's extract (``LOANHUB_RECONCILIATION__*``)."""

    window_days: int = Field(
        default=31,
        ge=1,
        description=(
            "the extract carries the installments due within this many days up to its "
            "business date: an active hub loan with one due in them is expected in it"
        ),
    )


@dataclass(frozen=True)
class DpdMismatch:
    loan_account: str
    installment_no: int
    core_dpd: int
    hub_dpd: int


@dataclass
class Reconciliation:
    """One night's comparison; ``totals()`` is its XCom-sized summary."""

    business_date: date
    file: str
    sha256: str
    records: int  # valid detail records compared
    expected: dict[str, Decimal]  # active hub loan -> principal
    missing: list[str]
    dpd_mismatches: list[DpdMismatch]
    amount_due: Decimal  # principal + interest due over the file's valid records
    amount_paid: Decimal
    hub_amount_due: Decimal  # the same over the records of the hub's expected loans
    hub_amount_paid: Decimal
    new_warnings: int = 0
    quarantined: int = 0

    def totals(self) -> dict[str, Any]:
        mismatched = sorted({m.loan_account for m in self.dpd_mismatches})
        return {
            "business_date": self.business_date.isoformat(),
            "file": self.file,
            "sha256": self.sha256,
            "records": self.records,
            "quarantined": self.quarantined,
            "loans_expected": len(self.expected),
            "loans_found": len(self.expected) - len(self.missing),
            "loans_missing": len(self.missing),
            "missing": self.missing,
            "missing_principal": str(sum((self.expected[a] for a in self.missing), Decimal(0))),
            "dpd_mismatches": len(self.dpd_mismatches),
            "dpd_mismatch_loans": mismatched,
            "amount_due": str(self.amount_due),
            "amount_paid": str(self.amount_paid),
            "hub_amount_due": str(self.hub_amount_due),
            "hub_amount_paid": str(self.hub_amount_paid),
            "new_warnings": self.new_warnings,
        }


def _add_months(day: date, months: int) -> date:
    """The same day ``months`` later, the month's last day when it has no such day (the
    core dates installments by calendar month)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def expected_loans(engine: Engine, business_date: date, window_days: int) -> dict[str, Decimal]:
    """The active hub loans that have an installment due within the extract's window."""
    since = business_date - timedelta(days=window_days)
    with engine.connect() as conn:
        rows = conn.execute(
            select(loan.c.loan_account, loan.c.principal, loan.c.start_date, loan.c.term_months)
            .where(loan.c.status == LoanStatus.ACTIVE.value)
            .order_by(loan.c.loan_account)
        ).all()
    return {
        account: principal
        for account, principal, start, term in rows
        if any(since <= _add_months(start, n) <= business_date for n in range(1, term + 1))
    }


def installment_dpd(
    due: np.ndarray, paid: np.ndarray, owed: np.ndarray, business_date: date
) -> np.ndarray:
    """Days past due of each installment as the hub reads it (whole columns): still owed
    (in full or in part) and due: the days since its due date; paid in full: the days it was
    paid late (zero when on time); not yet due: zero. ``paid`` is NaT when unpaid."""
    today = np.datetime64(business_date, "D")
    overdue = (today - due).astype(np.int64)
    paid_on = np.where(np.isnat(paid), due, paid)
    late = (paid_on - due).astype(np.int64)
    return np.where(owed, np.maximum(overdue, 0), np.maximum(late, 0))


def reconcile(
    engine: Engine,
    data: bytes | Path,
    name: str,
    business_date: date,
    policy: ReconciliationPolicy,
) -> Reconciliation:
    """Compare one extract (its bytes, or the kept file) with the hub's active loans and its
    own days past due, chunk by chunk: a night's file of any size is read in bounded memory
    (``mappings.lnrepay.detail_chunks``), never whole."""
    with io.BytesIO(data) if isinstance(data, bytes) else data.open("rb") as source:
        result = check_stream(source, name)
        if result.rejected:
            raise ContractError(f"{name} is rejected, nothing to reconcile: {result.rejected}")
        expected = expected_loans(engine, business_date, policy.window_days)
        known = list(expected)
        present: set[str] = set()
        mismatches: list[DpdMismatch] = []
        records = 0
        due = paid = hub_due = hub_paid = 0
        for _, details in detail_chunks(source, result):
            v, good = details.values, details.good
            table = installment_rows(details)
            accounts = v["DTL-LOAN-ACCOUNT"][good]
            due_cents = v["DTL-PRINCIPAL-DUE"][good] + v["DTL-INTEREST-DUE"][good]
            paid_cents = v["DTL-PRINCIPAL-PAID"][good] + v["DTL-INTEREST-PAID"][good]
            hub_dpd = installment_dpd(
                table["due_date"].to_numpy(),
                table["paid_date"].to_numpy(),
                due_cents - paid_cents > 0,
                business_date,
            )
            core_dpd = v["DTL-DAYS-PAST-DUE"][good].astype(np.int64)
            numbers = v["DTL-INSTALLMENT-NO"][good]
            mismatches.extend(
                DpdMismatch(str(accounts[i]), int(numbers[i]), int(core_dpd[i]), int(hub_dpd[i]))
                for i in np.flatnonzero(core_dpd != hub_dpd)
            )
            # which of the hub's loans the file carries (only those: a night's file names
            # every loan of the core); one whose record was quarantined is there all the same
            every = v["DTL-LOAN-ACCOUNT"]
            present |= {str(a) for a in np.unique(every[np.isin(every, known)])} if known else set()
            ours = np.isin(accounts, known) if known else np.zeros(len(accounts), bool)
            records += int(good.sum())
            due += int(due_cents.sum())
            paid += int(paid_cents.sum())
            hub_due += int(due_cents[ours].sum())
            hub_paid += int(paid_cents[ours].sum())

    def money(cents: int) -> Decimal:
        return Decimal(cents).scaleb(-2)

    return Reconciliation(
        business_date=business_date,
        file=name,
        sha256=result.sha256,
        records=records,
        quarantined=result.quarantined_total,
        expected=expected,
        missing=sorted(set(expected) - present),
        dpd_mismatches=mismatches,
        amount_due=money(due),
        amount_paid=money(paid),
        hub_amount_due=money(hub_due),
        hub_amount_paid=money(hub_paid),
    )


def _warning(
    key: str, account: str, rule: str, severity: WarningSeverity, message: str
) -> EarlyWarning:
    return EarlyWarning(
        warning_key=key[:80],
        loan_account=account,
        rule=rule,
        severity=severity,
        message=message[:500],
        raised_at=utcnow(),
        risk_class="",
        lineage=Lineage(
            source_system="hub",
            fetched_at=utcnow(),
            mapping_version=RULES_VERSION,
            raw_payload_hash="0" * 64,
        ),
    )


def reconciliation_warnings(recon: Reconciliation) -> list[EarlyWarning]:
    """One warning per missing loan and per loan with a DPD mismatch, keyed by the business
    date: the same night reconciled again raises nothing new."""
    night = f"{recon.business_date:%Y%m%d}"
    found = [
        _warning(
            f"recon_missing:{account}:{night}",
            account,
            MISSING,
            WarningSeverity.HIGH,
            f"{account} is an active hub loan (principal {recon.expected[account]}) with an "
            f"installment due by {recon.business_date}, and the core's extract {recon.file} "
            "has no record of it",
        )
        for account in recon.missing
    ]
    by_loan: dict[str, list[DpdMismatch]] = {}
    for m in recon.dpd_mismatches:
        by_loan.setdefault(m.loan_account, []).append(m)
    for account, items in sorted(by_loan.items()):
        shown = ", ".join(
            f"#{m.installment_no} core {m.core_dpd} / hub {m.hub_dpd}" for m in items[:5]
        )
        found.append(
            _warning(
                f"recon_dpd:{account}:{night}",
                account,
                DPD_MISMATCH,
                WarningSeverity.WATCH,
                f"{account}: the core's days past due differ from the hub's in {recon.file} "
                f"({len(items)} installment(s): {shown})",
            )
        )
    return found


def record(engine: Engine, recon: Reconciliation, actor: str) -> int:
    """Store the warnings (once each) and the audit event in one transaction; returns how
    many warnings are new."""
    new = 0
    with engine.begin() as conn:
        for w in reconciliation_warnings(recon):
            new += raise_once(conn, w)
        recon.new_warnings = new
        totals = recon.totals()
        audit.append(
            conn,
            actor=actor,
            action="extract.reconciled",
            subject=recon.file,
            after={k: v for k, v in totals.items() if k not in ("missing", "dpd_mismatch_loans")},
        )
    return new


def taken_file(engine: Engine, business_date: date) -> tuple[str, str, Path] | None:
    """(name, sha256, kept path) of the latest file of the night the hub loaded (LOADED or
    PARTIAL); None when none was (not delivered yet, or rejected)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(file_receipt.c.name, file_receipt.c.sha256, file_receipt.c.kept_at)
            .where(
                file_receipt.c.source_system == "core",
                file_receipt.c.name == extract_name(business_date),
                file_receipt.c.state.in_([FileState.LOADED.value, FileState.PARTIAL.value]),
            )
            .order_by(file_receipt.c.updated_at.desc(), file_receipt.c.id.desc())
            .limit(1)
        ).first()
    if row is None or row.kept_at is None:
        return None
    return row.name, row.sha256, Path(row.kept_at)


def reconcile_night(
    engine: Engine, business_date: date, policy: ReconciliationPolicy, actor: str
) -> Reconciliation | None:
    """Reconcile the night's loaded extract, raise its warnings, log and audit the totals;
    None when no file of that night was loaded. Run again, it raises nothing new."""
    taken = taken_file(engine, business_date)
    if taken is None:
        log.warning("reconciliation %s: no extract of that night was loaded", business_date)
        return None
    name, sha256, path = taken
    recon = reconcile(engine, path, name, business_date, policy)
    if recon.sha256 != sha256:
        raise ContractError(f"{path} is not the file the hub loaded as {name} ({sha256[:12]})")
    record(engine, recon, actor)
    totals = recon.totals()
    log_at = logging.WARNING if recon.missing or recon.dpd_mismatches else logging.INFO
    log.log(
        log_at,
        "reconciliation %s (%s): %d hub loans expected, %d found, %d missing, %d DPD "
        "mismatch(es) over %d records; due %s, paid %s; %d new warning(s)",
        business_date,
        name,
        totals["loans_expected"],
        totals["loans_found"],
        totals["loans_missing"],
        totals["dpd_mismatches"],
        recon.records,
        totals["amount_due"],
        totals["amount_paid"],
        recon.new_warnings,
    )
    return recon


def reconciled_totals(engine: Engine, business_date: date) -> dict[str, Any] | None:
    """The totals the latest reconciliation of the night recorded (its audit event), read
    only: what a summary or report shows without reconciling again; None when never run."""
    with engine.connect() as conn:
        after = conn.execute(
            select(audit_event.c.after)
            .where(
                audit_event.c.action == "extract.reconciled",
                audit_event.c.subject == extract_name(business_date),
            )
            .order_by(audit_event.c.seq.desc())
            .limit(1)
        ).scalar()
    return dict(after) if after is not None else None
