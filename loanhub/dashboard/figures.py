"""The numbers behind every dashboard page, computed from the store (and, for runs, from
Airflow's metadata DB, read only). Pages and tests both read them from here, so a number on a
screen and the database's answer cannot drift apart.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, String, Table, bindparam, func, select, text
from sqlalchemy.engine import make_url

from kernel.calls import SUCCESSFUL
from kernel.failures import FailureKind
from loanhub.dashboard.i18n import N_
from loanhub.dashboard.quantiles import Ranked
from loanhub.dashboard.quantiles import percentile as quantile
from loanhub.platform.db import make_engine
from loanhub.platform.quarantine import QuarantinedSource, open_sources
from schemas.hub import WorkItemState
from schemas.tables import (
    applicant_profile,
    application,
    core_customer,
    credit_report,
    decision,
    disbursement,
    early_warning,
    file_receipt,
    loan,
    quarantined_record,
    repayment_installment,
    social_security_month,
    source_call,
    tax_profile,
    work_item,
)
from schemas.types import UTCDateTimeType

RUN_STATES = ("failed", "running", "queued", "success")
"""The order runs are shown in: failures first."""


@dataclass(frozen=True)
class System:
    """A legacy system as the dashboard shows it: the name its calls are journaled under and
    the tables that hold the data it provides (none for systems that only receive)."""

    key: str
    title: str
    calls: str
    data: tuple[Table, ...] = ()


SYSTEMS = (
    System("bureau", N_("Credit bureau (SOAP)"), "bureau", (credit_report,)),
    System("tax", N_("Tax authority (SFTP)"), "tax", (tax_profile,)),
    System(
        "social_security", N_("Social-security portal (browser)"), "ss", (social_security_month,)
    ),
    System(
        "core",
        N_("Core banking (SOAP, SFTP extracts)"),
        "core",
        (core_customer, repayment_installment),
    ),
    System("los", N_("Loan origination (browser)"), "los"),
    System("gateway", N_("Payment gateway (SFTP)"), "gateway"),
    System("smtp", N_("Mail (SMTP)"), "smtp"),
)


def _select(table: Table, shape: type) -> Select[Any]:
    """The columns a dataclass names, in its order: its fields are the table's column names."""
    return select(*(table.c[f.name] for f in fields(shape)))


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile by linear interpolation (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# -- overview ---------------------------------------------------------------------------------


@dataclass
class RunCounts:
    dag_id: str
    states: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.states.values())


def airflow_engine(url: str) -> Engine:
    """Airflow's metadata DB with the store's PostgreSQL driver (psycopg 3), whatever driver
    Airflow's own URL names."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return make_engine(parsed.render_as_string(hide_password=False))


def runs_since(airflow: Engine, since: datetime) -> list[RunCounts]:
    """Runs started (or, not started yet, due) since ``since`` by DAG and state; DAGs with
    failed runs first, then by how many runs they had."""
    query = text(
        "SELECT dag_id, state, count(*) FROM dag_run "
        "WHERE coalesce(start_date, run_after) >= :since GROUP BY dag_id, state"
    ).bindparams(bindparam("since", type_=UTCDateTimeType()))
    by_dag: dict[str, RunCounts] = {}
    with airflow.connect() as conn:
        for dag_id, state, n in conn.execute(query, {"since": since}):
            by_dag.setdefault(dag_id, RunCounts(dag_id)).states[state or "none"] += n
    return sorted(by_dag.values(), key=lambda r: (-r.states["failed"], -r.total, r.dag_id))


# -- sources ----------------------------------------------------------------------------------


@dataclass
class SourceHealth:
    system: System
    calls: int
    ok: int
    by_outcome: Counter[str]
    p50_ms: float | None
    p95_ms: float | None
    last_success: datetime | None
    newest_data: datetime | None

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.calls if self.calls else None

    def sync_delay(self, now: datetime) -> timedelta | None:
        return None if self.newest_data is None else now - self.newest_data


def sources(engine: Engine, since: datetime) -> list[SourceHealth]:
    """Per legacy system over the window: calls, successes ("not found" is an answer), p50 and
    p95 latency; the last success ever; the newest data it gave the store. Counted and ranked
    by the database (``loanhub.dashboard.quantiles``): the journal may hold millions of calls,
    and one row per system and outcome leaves it."""
    c = source_call.c
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    latency = Ranked.of(
        select(c.system, c.duration_ms).where(c.started_at >= since).subquery(),
        ["system"],
        "duration_ms",
    ).grouped(["system"], [0.5, 0.95])
    with engine.connect() as conn:
        for system, outcome, n in conn.execute(
            select(c.system, c.outcome, func.count())
            .where(c.started_at >= since)
            .group_by(c.system, c.outcome)
        ):
            outcomes[system][outcome] += n
        percentiles = {
            row.system: (quantile(row, 0.5), quantile(row, 0.95)) for row in conn.execute(latency)
        }
        last_ok = dict(
            conn.execute(
                select(c.system, func.max(c.started_at))
                .where(c.outcome.in_([o.value for o in SUCCESSFUL]))
                .group_by(c.system)
            ).all()
        )
        newest = {s.key: _newest(conn, s.data) for s in SYSTEMS}
    out = []
    for s in SYSTEMS:
        seen = outcomes[s.calls]
        p50, p95 = percentiles.get(s.calls, (None, None))
        out.append(
            SourceHealth(
                system=s,
                calls=sum(seen.values()),
                ok=sum(seen[o.value] for o in SUCCESSFUL),
                by_outcome=seen,
                p50_ms=p50,
                p95_ms=p95,
                last_success=_aware(last_ok.get(s.calls)),
                newest_data=newest[s.key],
            )
        )
    return out


def _newest(conn: object, tables: tuple[Table, ...]) -> datetime | None:
    found = [
        _aware(conn.execute(select(func.max(t.c.fetched_at))).scalar())  # type: ignore[attr-defined]
        for t in tables
    ]
    found = [f for f in found if f is not None]
    return max(found) if found else None


@dataclass(frozen=True)
class FailedRun:
    dag_id: str
    run_id: str
    started: datetime | None
    ended: datetime | None


def failed_runs(airflow: Engine, since: datetime, limit: int = 50) -> list[FailedRun]:
    """The failed runs of the period, newest first, to open in Airflow."""
    query = text(
        "SELECT dag_id, run_id, start_date, end_date FROM dag_run "
        "WHERE state = 'failed' AND coalesce(start_date, run_after) >= :since "
        "ORDER BY coalesce(start_date, run_after) DESC LIMIT :limit"
    ).bindparams(bindparam("since", type_=UTCDateTimeType()))
    with airflow.connect() as conn:
        rows = conn.execute(query, {"since": since, "limit": limit}).all()
    return [FailedRun(d, r, _aware(s), _aware(e)) for d, r, s, e in rows]


def _aware(value: datetime | str | None) -> datetime | None:
    """A max() over a timestamp column: SQLite hands back text, without the type's decoding."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UTCDateTimeType().process_result_value(value, None)  # type: ignore[arg-type]


# -- queues -----------------------------------------------------------------------------------


@dataclass
class QueueItem:
    id: int
    kind: str
    business_key: str
    state: str
    attempts: int
    error: str | None
    updated_at: datetime
    evidence: str | None = None
    """Where the hub filed the item's evidence: the item's own column, written by the hub
    (``WorkItemLedger``), never parsed out of ``error``, which carries a legacy system's words."""


@dataclass
class Queues:
    by_kind: dict[str, Counter[str]]
    waiting: list[QueueItem]  # NEEDS_HUMAN and IN_DOUBT, oldest first
    refused: list[QueueItem] = field(default_factory=list)  # FAILED, not retried by itself
    closed: list[QueueItem] = field(default_factory=list)  # CLOSED by an operator, newest first

    def total(self, state: str) -> int:
        return sum(c[state] for c in self.by_kind.values())


STUCK = (WorkItemState.NEEDS_HUMAN.value, WorkItemState.IN_DOUBT.value)


def queues(engine: Engine, limit: int = 200) -> Queues:
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    with engine.connect() as conn:
        for kind, state, n in conn.execute(
            select(work_item.c.kind, work_item.c.state, func.count()).group_by(
                work_item.c.kind, work_item.c.state
            )
        ):
            by_kind[kind][state] += n
        rows = conn.execute(
            _select(work_item, QueueItem)
            .where(work_item.c.state.in_(STUCK))
            .order_by(work_item.c.updated_at, work_item.c.id)
            .limit(limit)
        ).all()
        refused = conn.execute(
            _select(work_item, QueueItem)
            .where(
                work_item.c.state == WorkItemState.FAILED.value,
                work_item.c.failure_kind != FailureKind.TRANSIENT.value,
            )
            .order_by(work_item.c.updated_at, work_item.c.id)
            .limit(limit)
        ).all()
        closed = conn.execute(
            _select(work_item, QueueItem)
            .where(work_item.c.state == WorkItemState.CLOSED.value)
            .order_by(work_item.c.updated_at.desc(), work_item.c.id.desc())
            .limit(limit)
        ).all()
    return Queues(
        dict(sorted(by_kind.items())),
        [QueueItem(*r) for r in rows],
        [QueueItem(*r) for r in refused],
        [QueueItem(*r) for r in closed],
    )


def queue_item(engine: Engine, item_id: int) -> QueueItem | None:
    with engine.connect() as conn:
        row = conn.execute(_select(work_item, QueueItem).where(work_item.c.id == item_id)).first()
    return None if row is None else QueueItem(*row)


# -- approvals --------------------------------------------------------------------------------

STEPS = (
    ("gathering data", "submitted", "profiled"),
    ("deciding", "profiled", "decided"),
    ("paying out", "decided", "requested"),
    ("settling", "requested", "settled"),
)
"""The steps of an application's way, each from one timestamp to the next."""


@dataclass
class Approvals:
    decisions: int
    automated: int  # decided by the rule set
    referred: int  # decided by a person
    by_outcome: Counter[str]
    step_hours: dict[str, list[float]]  # per step, one value per application that passed it
    cycle_hours: list[float]  # submitted -> decided
    payout_hours: list[float]  # submitted -> settled

    @property
    def automation_rate(self) -> float | None:
        return self.automated / self.decisions if self.decisions else None

    @property
    def referral_rate(self) -> float | None:
        return self.referred / self.decisions if self.decisions else None


def approvals(engine: Engine, since: datetime) -> Approvals:
    """Applications decided since ``since``: where their time went, step by step."""
    first_profile = (
        select(
            applicant_profile.c.application_no,
            func.min(applicant_profile.c.fetched_at).label("profiled"),
        )
        .group_by(applicant_profile.c.application_no)
        .subquery()
    )
    payout = (
        select(
            loan.c.application_no,
            func.min(disbursement.c.requested_at).label("requested"),
            func.min(disbursement.c.settled_at).label("settled"),
        )
        .join(disbursement, disbursement.c.loan_account == loan.c.loan_account)
        .group_by(loan.c.application_no)
        .subquery()
    )
    query = (
        select(
            decision.c.application_no,
            decision.c.outcome,
            decision.c.decided_by,
            application.c.submitted_at,
            first_profile.c.profiled,
            decision.c.decided_at,
            payout.c.requested,
            payout.c.settled,
        )
        .join(application, application.c.application_no == decision.c.application_no)
        .outerjoin(first_profile, first_profile.c.application_no == decision.c.application_no)
        .outerjoin(payout, payout.c.application_no == decision.c.application_no)
        .where(decision.c.decided_at >= since)
    )
    result = Approvals(0, 0, 0, Counter(), {name: [] for name, _, _ in STEPS}, [], [])
    with engine.connect() as conn:
        for row in conn.execute(query):
            result.decisions += 1
            result.by_outcome[row.outcome] += 1
            if row.decided_by.startswith("rule:"):
                result.automated += 1
            else:
                result.referred += 1
            at = {
                "submitted": _aware(row.submitted_at),
                "profiled": _aware(row.profiled),
                "decided": _aware(row.decided_at),
                "requested": _aware(row.requested),
                "settled": _aware(row.settled),
            }
            for name, start, end in STEPS:
                if at[start] is not None and at[end] is not None:
                    result.step_hours[name].append(_hours(at[end] - at[start]))
            result.cycle_hours.append(_hours(at["decided"] - at["submitted"]))
            if at["settled"] is not None:
                result.payout_hours.append(_hours(at["settled"] - at["submitted"]))
    return result


def _hours(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0) / 3600


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# -- warnings ---------------------------------------------------------------------------------


@dataclass
class OpenWarning:
    warning_key: str
    loan_account: str
    rule: str
    severity: str
    risk_class: str | None
    message: str
    raised_at: datetime
    notified_at: datetime | None
    escalated_at: datetime | None


@dataclass
class Warnings:
    open: list[OpenWarning]
    acknowledged: int

    def count_by(self, attribute: str) -> Counter[str]:
        return Counter(getattr(w, attribute) or "—" for w in self.open)


def warnings(engine: Engine) -> Warnings:
    """Open (not acknowledged) warnings, most severe and oldest first."""
    severity_rank = {"HIGH": 0, "WATCH": 1, "INFO": 2}
    with engine.connect() as conn:
        rows = conn.execute(
            _select(early_warning, OpenWarning).where(early_warning.c.acknowledged_at.is_(None))
        ).all()
        acknowledged = conn.execute(
            select(func.count()).where(early_warning.c.acknowledged_at.is_not(None))
        ).scalar_one()
    found = sorted(
        (OpenWarning(*r) for r in rows),
        key=lambda w: (severity_rank.get(w.severity, 9), w.raised_at, w.warning_key),
    )
    return Warnings(found, acknowledged)


# -- files ------------------------------------------------------------------------------------


@dataclass
class Receipt:
    id: int
    source_system: str
    name: str
    state: str
    size_bytes: int
    records_loaded: int | None
    records_quarantined: int | None
    detail: str | None
    kept_at: str | None
    received_at: datetime


@dataclass
class Quarantined:
    source_system: str
    source_ref: str
    record_ref: str
    field_path: str | None
    value_masked: str | None
    reason: str
    created_at: datetime


@dataclass
class Files:
    receipts: list[Receipt]
    quarantined: list[Quarantined]  # still quarantined (not reprocessed into the store)
    quarantined_total: int
    by_state: Counter[str]
    quarantine_reasons: Counter[str]
    sources: list[QuarantinedSource] = field(default_factory=list)


def files(engine: Engine, limit: int = 200) -> Files:
    """Files received (newest first), rejected ones among them, and quarantined records with
    their reasons; reasons are counted by their first clause (the field or rule)."""
    with engine.connect() as conn:
        receipts = [
            Receipt(*r)
            for r in conn.execute(
                _select(file_receipt, Receipt)
                .order_by(file_receipt.c.received_at.desc(), file_receipt.c.id.desc())
                .limit(limit)
            )
        ]
        by_state = Counter(
            dict(
                conn.execute(
                    select(file_receipt.c.state, func.count()).group_by(file_receipt.c.state)
                ).all()
            )
        )
        still = quarantined_record.c.reprocessed_at.is_(None)  # not reprocessed into the store
        quarantined = [
            Quarantined(*r)
            for r in conn.execute(
                _select(quarantined_record, Quarantined)
                .where(still)
                .order_by(quarantined_record.c.created_at.desc(), quarantined_record.c.id.desc())
                .limit(limit)
            )
        ]
        reasons = Counter(
            {
                (reason or "—"): n
                for reason, n in conn.execute(
                    select(
                        func.coalesce(quarantined_record.c.field_path, "—").cast(String),
                        func.count(),
                    )
                    .where(still)
                    .group_by(quarantined_record.c.field_path)
                )
            }
        )
        total = conn.execute(
            select(func.count()).select_from(quarantined_record).where(still)
        ).scalar_one()
    return Files(receipts, quarantined, total, by_state, reasons, open_sources(engine))
