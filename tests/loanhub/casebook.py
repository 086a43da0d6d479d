"""Applications at every stage of their life, stored as the flows store them (the canonical
models' rows), for the archive, retention and export tests: open, rejected and posted,
rejected but not yet in the LOS, lent and running, lent and repaid."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert

from devtools.synthetic import person_name, resident_id
from loanhub.flows.decide import posting_key
from schemas.base import Lineage
from schemas.lending import Decision, Disbursement, Loan, RepaymentInstallment
from schemas.party import Application, Party
from schemas.tables import (
    application,
    consent,
    core_customer,
    decision,
    disbursement,
    fact_row,
    loan,
    party,
    repayment_installment,
    work_item,
)

_rng = random.Random(2126)


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str
    mobile: str


def lineage(at: datetime, system: str = "hub") -> Lineage:
    return Lineage(
        source_system=system, fetched_at=at, mapping_version="t", raw_payload_hash="a" * 64
    )


def person() -> Person:
    born = date(1960, 1, 1) + timedelta(days=_rng.randrange(365 * 40))
    mobile = f"139{_rng.randrange(10**8):08d}"
    return Person(resident_id(_rng, born), person_name(_rng), mobile)


def add_party(engine: Engine, who: Person, at: datetime) -> None:
    row = fact_row(
        Party(
            kind="PERSON",
            id_number=who.id_number,
            name=who.name,
            mobile=who.mobile,
            lineage=lineage(at),
        )
    )
    with engine.begin() as conn:
        conn.execute(insert(party).values(**row))


def add_application(
    engine: Engine,
    number: str,
    applicant: Person,
    *,
    status: str,
    at: datetime,
    guarantor: Person | None = None,
) -> None:
    row = fact_row(
        Application(
            application_no=number,
            party_id_number=applicant.id_number,
            guarantor_id_number=guarantor.id_number if guarantor else None,
            product="CONSUMER",
            requested_amount=Decimal("30000.00"),
            term_months=3,
            submitted_at=at,
            status=status,
            lineage=lineage(at, "intake"),
        )
    )
    with engine.begin() as conn:
        conn.execute(insert(application).values(**row))
        conn.execute(
            insert(consent).values(
                consent_ref=f"CNS-{number}",
                party_id_number=applicant.id_number,
                scope="BUREAU",
                reason="01",
                granted_at=at,
                expires_at=at + timedelta(days=90),
                evidence_hash=None,
                **lineage(at, "intake").model_dump(),
            )
        )


def decide(
    engine: Engine,
    number: str,
    outcome: str,
    at: datetime,
    *,
    posted: bool = True,
    comment: str | None = None,
) -> None:
    """The decision, and its posting into the LOS: DONE with the LOS's reference when
    ``posted``, else still NEW (the rejection is not in the LOS yet)."""
    row = fact_row(
        Decision(
            application_no=number,
            outcome=outcome,
            approved_amount=Decimal("30000.00") if outcome == "APPROVE" else None,
            term_months=3 if outcome == "APPROVE" else None,
            decided_by="rule:test",
            decided_at=at,
            comment=comment,
            los_reference=f"SP{number[-6:]}" if posted else None,
            los_status=("APPROVED" if outcome == "APPROVE" else "REJECTED") if posted else None,
            lineage=lineage(at),
        )
    )
    with engine.begin() as conn:
        conn.execute(insert(decision).values(**row))
        conn.execute(
            insert(work_item).values(
                kind="los_decision",
                business_key=posting_key(number),
                payload={"application_no": number, "outcome": outcome},
                payload_hash="b" * 64,
                state="DONE" if posted else "NEW",
                attempts=1 if posted else 0,
                created_at=at,
                updated_at=at,
            )
        )


def lend(
    engine: Engine,
    number: str,
    borrower: Person,
    at: datetime,
    *,
    paid: int,
    term: int = 3,
    tranche: str = "ACSC",
) -> str:
    """A loan of ``term`` monthly installments, its tranche in ``tranche``, the first ``paid``
    installments paid in full (the rest missed), as the nightly extract left them."""
    account = f"LN{number[-8:]}"
    customer = f"{zlib.crc32(number.encode()):012d}"
    with engine.begin() as conn:
        conn.execute(
            insert(loan).values(
                **fact_row(
                    Loan(
                        loan_account=account,
                        application_no=number,
                        customer_no=customer,
                        principal=Decimal("30000.00"),
                        annual_rate=Decimal("0.0435"),
                        term_months=term,
                        start_date=at.date(),
                        status="ACTIVE",
                        lineage=lineage(at),
                    )
                )
            )
        )
        conn.execute(
            insert(disbursement).values(
                **fact_row(
                    Disbursement(
                        loan_account=account,
                        tranche=1,
                        amount=Decimal("30000.00"),
                        creditor_account="6222021234567890128",
                        end_to_end_id=f"{account}-T01",
                        status=tranche,
                        requested_at=at,
                        settled_at=at if tranche == "ACSC" else None,
                        lineage=lineage(at),
                    )
                )
            )
        )
        conn.execute(
            insert(core_customer).values(
                customer_no=customer,
                id_number=borrower.id_number,
                name=borrower.name,
                segment="RETAIL",
                customer_since=date(2020, 1, 1),
                **lineage(at, "core").model_dump(),
            )
        )
        for n in range(1, term + 1):
            due = at.date() + timedelta(days=30 * n)
            done = n <= paid
            conn.execute(
                insert(repayment_installment).values(
                    **fact_row(
                        RepaymentInstallment(
                            loan_account=account,
                            installment_no=n,
                            customer_no=customer,
                            due_date=due,
                            principal_due=Decimal("10000.00"),
                            interest_due=Decimal("108.75"),
                            principal_paid=Decimal("10000.00") if done else Decimal("0"),
                            interest_paid=Decimal("108.75") if done else Decimal("0"),
                            paid_date=due if done else None,
                            days_past_due=0 if done else 5,
                            status="P" if done else "M",
                            lineage=lineage(at + timedelta(days=30 * n), "core"),
                        )
                    )
                )
            )
    return account


def long_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)
