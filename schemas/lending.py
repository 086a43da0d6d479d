"""What the hub decides and does: decisions, loans, disbursements, repayments and warnings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from schemas.base import CanonicalModel, Fact
from schemas.types import Money, Rate, UtcDateTime


class DecisionOutcome(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    RETURN = "RETURN"  # return for more documents


class Decision(Fact):
    application_no: str = Field(max_length=32)
    round: int = Field(
        default=1, ge=1, description="the decision round: 1, and one more after each return"
    )
    outcome: DecisionOutcome
    approved_amount: Money | None = Field(default=None, gt=0)
    term_months: int | None = Field(default=None, ge=1, le=360)
    annual_rate: Rate | None = None
    conditions: str | None = Field(default=None, max_length=500)
    comment: str | None = Field(default=None, max_length=500)
    decided_by: str = Field(max_length=64)  # the user, or rule:<id> when a rule decided
    decided_at: UtcDateTime
    rule_set_version: str | None = Field(
        default=None, max_length=64, description="the rule set that decided or referred it"
    )
    reasons: str | None = Field(default=None, max_length=500)
    score: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="the rule set's score of the profile it was decided on (none before 0013)",
    )
    los_reference: str | None = Field(default=None, max_length=40, description="审批流水号")
    los_status: str | None = Field(
        default=None, max_length=20, description="the LOS's status after posting"
    )


class LoanStatus(StrEnum):
    BOOKED = "BOOKED"
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"
    WRITTEN_OFF = "WRITTEN_OFF"


class Loan(Fact):
    loan_account: str = Field(max_length=20)
    application_no: str = Field(max_length=32)
    customer_no: str = Field(max_length=12)
    principal: Money = Field(gt=0)
    annual_rate: Rate
    term_months: int = Field(ge=1, le=360)
    start_date: date
    status: LoanStatus = LoanStatus.BOOKED


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    ACCP = "ACCP"
    ACSC = "ACSC"
    RJCT = "RJCT"


class Disbursement(Fact):
    """One tranche paid out; ``end_to_end_id`` derives from loan, tranche and instruction:
    never paid twice. A rejected tranche is paid again only under a new instruction an
    operator gave (``disburse.reinstruct``); the earlier instruction's files stay its record."""

    loan_account: str = Field(max_length=20)
    tranche: int = Field(ge=1)
    amount: Money = Field(gt=0)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$", max_length=3)
    creditor_account: str = Field(max_length=34)
    end_to_end_id: str = Field(max_length=35)
    instruction: int = Field(
        default=0,
        ge=0,
        description="0 the first; n the operator's n-th re-instruction after a rejection",
    )
    msg_id: str | None = Field(default=None, max_length=35)
    status: PaymentStatus = PaymentStatus.PENDING
    status_reason: str | None = Field(default=None, max_length=8)
    requested_at: UtcDateTime
    settled_at: UtcDateTime | None = None


class PaymentFileState(StrEnum):
    """Where one pain.001 file of a tranche stands, as far as the hub knows."""

    ASSIGNED = "ASSIGNED"  # its MsgId is stored, before any byte of it is uploaded
    SENT = "SENT"  # the gateway has it (triggered, processed or reported)
    WITHDRAWN = "WITHDRAWN"  # it never reached the gateway whole; its partial upload is gone


class PaymentFile(CanonicalModel):
    """One file a tranche was ever sent under. Kept for good: an IN_DOUBT tranche is settled,
    and a later duplicate refusal (DU01/DU05) is read, against every MsgId it ever used; a
    new MsgId is only chosen once every earlier one is known not to be live."""

    id: int | None = None
    end_to_end_id: str = Field(max_length=35)
    msg_id: str = Field(max_length=35)
    state: PaymentFileState = PaymentFileState.ASSIGNED
    gateway_status: str | None = Field(
        default=None, max_length=4, description="the gateway's latest status of the tranche in it"
    )
    gateway_reason: str | None = Field(default=None, max_length=8)
    detail: str | None = Field(default=None, max_length=500, description="what settled its state")
    assigned_at: UtcDateTime
    updated_at: UtcDateTime


class RepaymentInstallment(Fact):
    loan_account: str = Field(max_length=20)
    installment_no: int = Field(ge=1, le=999)
    customer_no: str = Field(max_length=12)
    due_date: date
    principal_due: Money
    interest_due: Money
    principal_paid: Money = Decimal("0")
    interest_paid: Money = Decimal("0")
    paid_date: date | None = None
    days_past_due: int = 0
    status: str = Field(max_length=1, description="the core's status code, as extracted")


class WarningSeverity(StrEnum):
    INFO = "INFO"
    WATCH = "WATCH"
    HIGH = "HIGH"


class EarlyWarning(Fact):
    warning_key: str = Field(max_length=80, description="rule + loan + period: raised once")
    loan_account: str = Field(max_length=20)
    rule: str = Field(max_length=40)
    severity: WarningSeverity
    message: str = Field(max_length=500)
    raised_at: UtcDateTime
    notified_at: UtcDateTime | None = None
    risk_class: str | None = Field(
        default=None, max_length=4, description="five-tier class hint: 正常 关注 次级 可疑 损失"
    )
    acknowledged_at: UtcDateTime | None = None
    escalated_at: UtcDateTime | None = None
