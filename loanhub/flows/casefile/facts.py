"""The facts the store holds for one application, each with its lineage: which system said it,
when, under which mapping version, and the hash of the raw payload it was read from.

One record per thing a source answered (a bureau report, a tax answer, a core customer or
account), or per answer for the row-per-month facts (contribution months, monthly summaries:
one line per payload they were read from, with how many rows it gave), so the lineage of
every number is one line away without listing hundreds of months.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from schemas.base import Lineage
from schemas.tables import (
    applicant_profile,
    core_account,
    core_customer,
    core_monthly_summary,
    credit_account,
    credit_inquiry,
    credit_public_record,
    credit_report,
    social_security_month,
    tax_profile,
)

LINEAGE = tuple(Lineage.model_fields)


@dataclass(frozen=True)
class Trace:
    """A stored fact's lineage (``schemas.base.Lineage``)."""

    source_system: str
    fetched_at: datetime
    mapping_version: str
    raw_payload_hash: str


def trace_of(row: Any) -> Trace:
    return Trace(*(getattr(row, name) for name in LINEAGE))


@dataclass(frozen=True)
class FactRecord:
    source: str  # bureau | tax | social_security | core
    kind: str  # what it is: "credit report", "tax answer", ...
    key: str  # its business key: report number, request id, account number, months
    summary: str  # the values a reader looks for first
    rows: int  # stored rows it stands for (the report with its accounts, months...)
    trace: Trace
    role: str = "applicant"  # whose fact: applicant | guarantor


def records(
    conn: Connection, application_no: str, applicant: str, roles: dict[str, str]
) -> tuple[FactRecord, ...]:
    found = [*_bureau(conn, application_no, roles), *_tax(conn, application_no, roles)]
    found += _social_security(conn, applicant)
    found += _core(conn, roles)
    return tuple(sorted(found, key=lambda f: (f.trace.fetched_at, f.source, f.key)))


def _bureau(conn: Connection, application_no: str, roles: dict[str, str]) -> list[FactRecord]:
    found = []
    for r in conn.execute(
        select(credit_report)
        .where(credit_report.c.application_no == application_no)
        .order_by(credit_report.c.fetched_at)
    ):
        accounts = conn.execute(
            select(func.count()).where(credit_account.c.report_id == r.id)
        ).scalar_one()
        inquiries = conn.execute(
            select(func.count()).where(credit_inquiry.c.report_id == r.id)
        ).scalar_one()
        records_ = conn.execute(
            select(func.count()).where(credit_public_record.c.report_id == r.id)
        ).scalar_one()
        summary = (
            f"reason {r.query_reason}, report of {r.report_date}, score {r.score or '-'}"
            f"{', thin file' if r.thin_file else ''}; {accounts} accounts, {inquiries} "
            f"inquiries, {records_} public records"
        )
        found.append(
            FactRecord(
                "bureau",
                "credit report",
                r.report_no,
                summary,
                1 + accounts + inquiries + records_,
                trace_of(r),
                roles.get(r.subject_id_number, "applicant"),
            )
        )
    return found


def _tax(conn: Connection, application_no: str, roles: dict[str, str]) -> list[FactRecord]:
    """The tax answers asked under this application (its number, or its number and a
    re-pull's suffix, is the request id)."""
    rows = conn.execute(
        select(tax_profile)
        .where(
            tax_profile.c.id_or_uscc.in_(roles),
            tax_profile.c.request_id.like(f"{application_no}%"),
        )
        .order_by(tax_profile.c.fetched_at)
    ).all()
    return [
        FactRecord(
            "tax",
            "tax answer",
            r.request_id,
            f"{r.status}, rating {r.tax_credit_rating or '-'}, arrears "
            f"{r.arrears_amount if r.arrears_amount is not None else '-'}",
            1,
            trace_of(r),
            roles.get(r.id_or_uscc, "applicant"),
        )
        for r in rows
    ]


def _social_security(conn: Connection, applicant: str) -> list[FactRecord]:
    by_answer: dict[Trace, list[Any]] = defaultdict(list)
    for r in conn.execute(
        select(social_security_month)
        .where(social_security_month.c.id_number == applicant)
        .order_by(social_security_month.c.month)
    ):
        by_answer[trace_of(r)].append(r)
    found = []
    for trace, months in by_answer.items():
        statuses = Counter(m.status for m in months)
        found.append(
            FactRecord(
                "social_security",
                "contribution months",
                f"{months[0].month:%Y-%m}..{months[-1].month:%Y-%m}",
                ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
                len(months),
                trace,
            )
        )
    return found


def _core(conn: Connection, roles: dict[str, str]) -> list[FactRecord]:
    found = []
    customers = conn.execute(
        select(core_customer).where(core_customer.c.id_number.in_(roles))
    ).all()
    for c in customers:
        found.append(
            FactRecord(
                "core",
                "core customer",
                c.customer_no,
                f"segment {c.segment}, customer since {c.customer_since}",
                1,
                trace_of(c),
                roles.get(c.id_number, "applicant"),
            )
        )
        accounts = conn.execute(
            select(core_account)
            .where(core_account.c.customer_no == c.customer_no)
            .order_by(core_account.c.account_no)
        ).all()
        for a in accounts:
            found.append(
                FactRecord(
                    "core",
                    "core account",
                    a.account_no,
                    f"{a.account_type} {a.status}, balance {a.balance} {a.currency}",
                    1,
                    trace_of(a),
                    roles.get(c.id_number, "applicant"),
                )
            )
        months: dict[Trace, list[Any]] = defaultdict(list)
        for m in conn.execute(
            select(core_monthly_summary)
            .where(core_monthly_summary.c.account_no.in_([a.account_no for a in accounts]))
            .order_by(core_monthly_summary.c.account_no, core_monthly_summary.c.month)
        ):
            months[trace_of(m)].append(m)
        for trace, rows in months.items():
            found.append(
                FactRecord(
                    "core",
                    "monthly summaries",
                    f"{rows[0].account_no} {rows[0].month:%Y-%m}..{rows[-1].month:%Y-%m}",
                    f"average balance {rows[-1].average_balance} in the latest month",
                    len(rows),
                    trace,
                    roles.get(c.id_number, "applicant"),
                )
            )
    return found


@dataclass(frozen=True)
class StoredProfile:
    id: int
    round: int
    built_at: datetime
    inputs_hash: str
    values: dict[str, Any]


SKIPPED = frozenset({"id", "application_no", "round", "inputs_hash", *LINEAGE})


def profiles(conn: Connection, application_no: str) -> list[StoredProfile]:
    """Every profile built for the application, oldest first, each value as stored."""
    return [
        StoredProfile(
            r.id,
            r.round,
            r.fetched_at,
            r.inputs_hash,
            {k: v for k, v in r._mapping.items() if k not in SKIPPED},
        )
        for r in conn.execute(
            select(applicant_profile)
            .where(applicant_profile.c.application_no == application_no)
            .order_by(applicant_profile.c.id)
        )
    ]
