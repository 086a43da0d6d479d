"""The case file's read model: one application, everything the store keeps about it.

Assembled from the store alone, in one pass of small queries (``build``): the application and
its parties, the consents, every call made for it, the facts with their lineage, its profiles,
the rules' reading factor by factor, each round's decision with its referral and LOS status
history, the loan, its tranches and their pain.002 statuses, the installments, days past due
and the five-tier class over time, warnings, work items, audit events and the evidence an
operator may open. Values are kept as stored (in clear): whoever prints them masks them, as
every page and the CLI do (``render``).

What the store does not keep is said, not guessed: ``notes`` lists it for the case at hand
(a decision made before scores were stored, rules no longer installed, calls journaled before
they named their application).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from kernel.calls import SUCCESSFUL, CallOutcome
from loanhub.flows.casefile import evaluation, evidence, facts, history, timeline
from loanhub.flows.casefile.evaluation import Evaluation
from loanhub.flows.casefile.evidence import Evidence
from loanhub.flows.casefile.facts import FactRecord, Trace, trace_of
from loanhub.flows.casefile.history import ClassPoint, LosStatus, Referral
from loanhub.flows.casefile.timeline import Event
from loanhub.flows.rules import RuleSet
from loanhub.flows.warnings import WarningPolicy
from loanhub.platform.masking import known_names
from schemas.tables import (
    application,
    blacklist_entry,
    consent,
    decision,
    early_warning,
    file_receipt,
    party,
    source_call,
)
from schemas.types import local_day, utcnow

BANK_ZONE = ZoneInfo("Asia/Shanghai")


class CaseNotFound(LookupError):
    """No application of that number is stored."""


@dataclass(frozen=True)
class PartyRow:
    role: str  # applicant | guarantor
    kind: str
    id_number: str
    name: str
    mobile: str | None
    birth_date: date | None
    registered_capital: Decimal | None
    established_on: date | None
    trace: Trace


@dataclass(frozen=True)
class ConsentRow:
    role: str
    consent_ref: str
    scope: str
    reason: str
    granted_at: datetime
    expires_at: datetime
    evidence_hash: str | None
    valid_now: bool
    trace: Trace


@dataclass(frozen=True)
class BlacklistRow:
    role: str
    reason: str
    listed_by: str
    listed_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None


@dataclass(frozen=True)
class Call:
    system: str
    operation: str
    started_at: datetime
    duration_ms: int
    outcome: str
    attempt: int | None
    error: str | None

    @property
    def successful(self) -> bool:
        return CallOutcome(self.outcome) in SUCCESSFUL


@dataclass(frozen=True)
class CallTotal:
    """The calls made for the application to one system."""

    system: str
    calls: int
    successful: int
    retries: int  # attempts after the first in a connector's retry loop
    total_ms: int
    slowest_ms: int


@dataclass(frozen=True)
class ProfileRow:
    id: int
    round: int
    built_at: datetime
    inputs_hash: str
    values: dict[str, Any]
    decided_on: bool  # the profile a decision was made on


@dataclass(frozen=True)
class DecisionRow:
    round: int
    outcome: str
    approved_amount: Decimal | None
    term_months: int | None
    annual_rate: Decimal | None
    decided_by: str
    decided_at: datetime
    rule_set_version: str | None
    score: int | None  # as stored with the decision (None before they were stored)
    reasons: str | None
    comment: str | None
    conditions: str | None
    los_reference: str | None
    los_status: str | None
    los_history: tuple[LosStatus, ...]
    referral: Referral | None
    evaluation: Evaluation
    trace: Trace

    @property
    def by_rule(self) -> bool:
        return self.decided_by.startswith("rule:")


@dataclass(frozen=True)
class PaymentFileRow:
    end_to_end_id: str
    msg_id: str
    state: str
    gateway_status: str | None
    gateway_reason: str | None
    reason_text: str | None
    detail: str | None
    assigned_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TrancheRow:
    tranche: int
    amount: Decimal
    currency: str
    creditor_account: str
    end_to_end_id: str
    instruction: int
    msg_id: str | None
    status: str
    status_reason: str | None
    reason_text: str | None
    requested_at: datetime
    settled_at: datetime | None
    files: tuple[PaymentFileRow, ...]  # every pain.001 this tranche went in, any instruction


@dataclass(frozen=True)
class InstallmentRow:
    installment_no: int
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    paid_date: date | None
    days_past_due: int
    status: str
    trace: Trace

    @property
    def due(self) -> Decimal:
        return self.principal_due + self.interest_due

    @property
    def paid(self) -> Decimal:
        return self.principal_paid + self.interest_paid


@dataclass(frozen=True)
class LoanRow:
    loan_account: str
    customer_no: str
    principal: Decimal
    annual_rate: Decimal
    term_months: int
    start_date: date
    status: str
    trace: Trace
    tranches: tuple[TrancheRow, ...]
    installments: tuple[InstallmentRow, ...]
    dpd_now: int  # as the core's last extract says (its unpaid installments' days past due)
    class_now: str
    history: tuple[ClassPoint, ...]  # days past due and class at each event

    @property
    def disbursed(self) -> Decimal:
        return sum((t.amount for t in self.tranches if t.status == "ACSC"), Decimal(0))

    @property
    def due_so_far(self) -> Decimal:
        return sum((i.due for i in self.installments if i.status != "D"), Decimal(0))

    @property
    def repaid(self) -> Decimal:
        return sum((i.paid for i in self.installments), Decimal(0))


@dataclass(frozen=True)
class WarningRow:
    warning_key: str
    loan_account: str
    rule: str
    severity: str
    risk_class: str | None
    message: str
    raised_at: datetime
    notified_at: datetime | None
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


@dataclass(frozen=True)
class WorkItemRow:
    id: int
    kind: str
    business_key: str
    state: str
    failure_kind: str | None
    attempts: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    evidence: str | None = None
    """Where the hub filed the item's evidence: the item's own column, never the error text."""


@dataclass(frozen=True)
class AuditRow:
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str


@dataclass(frozen=True)
class CaseFile:
    application_no: str
    built_at: datetime
    today: date
    status: str
    round: int
    product: str
    requested_amount: Decimal
    term_months: int
    purpose: str | None
    submitted_at: datetime
    trace: Trace
    parties: tuple[PartyRow, ...]
    consents: tuple[ConsentRow, ...]
    blacklist: tuple[BlacklistRow, ...]
    timeline: tuple[Event, ...]
    calls: tuple[Call, ...]
    call_totals: tuple[CallTotal, ...]
    facts: tuple[FactRecord, ...]
    profiles: tuple[ProfileRow, ...]
    decisions: tuple[DecisionRow, ...]
    pending: Evaluation | None  # the current round, not decided yet: how the rules read it
    loans: tuple[LoanRow, ...]
    warnings: tuple[WarningRow, ...]
    work_items: tuple[WorkItemRow, ...]
    audit: tuple[AuditRow, ...]
    evidence: tuple[Evidence, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def applicant(self) -> PartyRow:
        return next(p for p in self.parties if p.role == "applicant")

    @property
    def decision(self) -> DecisionRow | None:
        """The decision of the latest decided round."""
        return self.decisions[-1] if self.decisions else None

    def names(self) -> list[str]:
        """The parties' names: what the printers mask wherever they appear."""
        return [p.name for p in self.parties]


def build(
    engine: Engine,
    application_no: str,
    *,
    rules: RuleSet | None = None,
    zone: ZoneInfo = BANK_ZONE,
    risk_classes: dict[str, int] | None = None,
    evidence_root: Path | None = None,
    screens_root: Path | None = None,
) -> CaseFile:
    """The case file of ``application_no`` as the store holds it now (``CaseNotFound`` if it
    holds no such application). ``rules``: the rule set loaded for deciding now (default
    ``credit-v1``): a decision made under another version is explained by its own rules when
    they are installed, and said so otherwise. ``zone``: the bank's, for "today".
    ``evidence_root`` (the connectors' evidence store) and ``screens_root`` (the bots'
    captures): where to look for the evidence an operator may open; unset, it is listed from
    the store alone."""
    rules = rules or RuleSet.load()
    classes = risk_classes or WarningPolicy().risk_classes
    now = utcnow()
    today = local_day(zone, now)
    with engine.connect() as conn:
        app = conn.execute(
            select(application).where(application.c.application_no == application_no.strip())
        ).first()
        if app is None:
            raise CaseNotFound(f"no application {application_no.strip()!r} in the store")
        number = app.application_no
        roles = {app.party_id_number: "applicant"}
        if app.guarantor_id_number:
            roles[app.guarantor_id_number] = "guarantor"
        parties = tuple(
            PartyRow(
                roles[r.id_number],
                r.kind,
                r.id_number,
                r.name,
                r.mobile,
                r.birth_date,
                r.registered_capital,
                r.established_on,
                trace_of(r),
            )
            for r in sorted(
                conn.execute(select(party).where(party.c.id_number.in_(roles))).all(),
                key=lambda r: roles[r.id_number] != "applicant",
            )
        )
        known_names.add(*(p.name for p in parties))
        consents = tuple(
            ConsentRow(
                roles[r.party_id_number],
                r.consent_ref,
                r.scope,
                r.reason,
                r.granted_at,
                r.expires_at,
                r.evidence_hash,
                r.granted_at <= now < r.expires_at,
                trace_of(r),
            )
            for r in conn.execute(
                select(consent)
                .where(consent.c.party_id_number.in_(roles))
                .order_by(consent.c.granted_at, consent.c.consent_ref)
            )
        )
        listed = tuple(
            BlacklistRow(
                roles[r.id_number], r.reason, r.listed_by, r.listed_at, r.lifted_by, r.lifted_at
            )
            for r in conn.execute(
                select(blacklist_entry)
                .where(blacklist_entry.c.id_number.in_(roles))
                .order_by(blacklist_entry.c.listed_at)
            )
        )
        calls = tuple(
            Call(r.system, r.operation, r.started_at, r.duration_ms, r.outcome, r.attempt, r.error)
            for r in conn.execute(
                select(source_call)
                .where(source_call.c.subject == number)
                .order_by(source_call.c.started_at, source_call.c.id)
            )
        )
        found_facts = facts.records(conn, number, app.party_id_number, roles)
        profiles = facts.profiles(conn, number)
        decision_rows = conn.execute(
            select(decision).where(decision.c.application_no == number).order_by(decision.c.round)
        ).all()
        loans = history.loans(conn, number, today, classes)
        accounts = [loan.loan_account for loan in loans]
        warning_rows = conn.execute(
            select(early_warning)
            .where(early_warning.c.loan_account.in_(accounts))
            .order_by(early_warning.c.raised_at, early_warning.c.id)
        ).all()
        items = history.work_items(
            conn, number, accounts, [w.warning_key for w in warning_rows], loans
        )
        audit_rows = history.audit_rows(
            conn,
            number,
            accounts=accounts,
            keys=[w.warning_key for w in warning_rows],
            payments=[f.end_to_end_id for loan in loans for t in loan.tranches for f in t.files]
            + [t.end_to_end_id for loan in loans for t in loan.tranches],
            items=[(i.kind, i.business_key) for i in items],
        )
        acknowledged = {
            a.subject: a.actor for a in audit_rows if a.action == "warning.acknowledged"
        }
        decided_profiles = {(d.round, d.raw_payload_hash) for d in decision_rows}
        profiles = tuple(
            ProfileRow(
                p.id,
                p.round,
                p.built_at,
                p.inputs_hash,
                p.values,
                (p.round, p.inputs_hash) in decided_profiles,
            )
            for p in profiles
        )
        decisions = tuple(
            _decision(conn, d, nxt, rules, app.party_id_number, audit_rows)
            for d, nxt in zip(
                decision_rows, [*(d.decided_at for d in decision_rows[1:]), None], strict=False
            )
        )
        files = dict(  # a fact read from a file: the file is kept where its receipt says
            conn.execute(
                select(file_receipt.c.sha256, file_receipt.c.kept_at).where(
                    file_receipt.c.sha256.in_({f.trace.raw_payload_hash for f in found_facts})
                )
            ).all()
        )
        pending = None
        if app.round not in {d.round for d in decisions}:
            pending = evaluation.undecided(conn, number, app.round, app.party_id_number, rules)
    warnings = tuple(
        WarningRow(
            w.warning_key,
            w.loan_account,
            w.rule,
            w.severity,
            w.risk_class,
            w.message,
            w.raised_at,
            w.notified_at,
            w.escalated_at,
            w.acknowledged_at,
            acknowledged.get(w.warning_key),
        )
        for w in warning_rows
    )
    case = CaseFile(
        application_no=number,
        built_at=now,
        today=today,
        status=app.status,
        round=app.round,
        product=app.product,
        requested_amount=app.requested_amount,
        term_months=app.term_months,
        purpose=app.purpose,
        submitted_at=app.submitted_at,
        trace=trace_of(app),
        parties=parties,
        consents=consents,
        blacklist=listed,
        timeline=(),
        calls=calls,
        call_totals=_totals(calls),
        facts=found_facts,
        profiles=profiles,
        decisions=decisions,
        pending=pending,
        loans=loans,
        warnings=warnings,
        work_items=tuple(items),
        audit=tuple(audit_rows),
        evidence=evidence.listed(items, found_facts, evidence_root, files)
        + evidence.screens(screens_root, number, app.party_id_number),
    )
    return replace(case, timeline=timeline.milestones(case), notes=timeline.notes(case))


def _decision(
    conn: Any,
    row: Any,
    until: datetime | None,
    rules: RuleSet,
    party_id: str,
    audit_rows: list[AuditRow],
) -> DecisionRow:
    return DecisionRow(
        round=row.round,
        outcome=row.outcome,
        approved_amount=row.approved_amount,
        term_months=row.term_months,
        annual_rate=row.annual_rate,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        rule_set_version=row.rule_set_version,
        score=row.score,
        reasons=row.reasons,
        comment=row.comment,
        conditions=row.conditions,
        los_reference=row.los_reference,
        los_status=row.los_status,
        los_history=history.los_history(row, until, audit_rows),
        referral=history.referral(row, audit_rows),
        evaluation=evaluation.of_decision(conn, row, party_id, rules),
        trace=trace_of(row),
    )


def _totals(calls: tuple[Call, ...]) -> tuple[CallTotal, ...]:
    systems = sorted({c.system for c in calls})
    return tuple(
        CallTotal(
            system,
            len(mine := [c for c in calls if c.system == system]),
            sum(c.successful for c in mine),
            sum(1 for c in mine if (c.attempt or 1) > 1),
            sum(c.duration_ms for c in mine),
            max(c.duration_ms for c in mine),
        )
        for system in systems
    )
