"""The history behind the trend charts, for the question "since when?": calls and success
rate per bucket per source, how late each night's extract was, how long the tax authority
took to answer, cycle times per week, and queue lengths over time.

Everything is aggregated by the database in buckets of the bank's clock
(``loanhub.dashboard.buckets``); at most one row per bucket (and group) leaves it, however many
calls the journal holds. Nothing new is recorded for these: each series is derived from what
the store keeps anyway:

- calls: the call journal (``source_call``);
- nights: the file receipts of the core's ``LNREPAY.D<YYMMDD>`` extracts (first delivery,
  first load) against the due time in settings;
- tax answers: the receipt of each ``TAXR_`` answer against its request's number, taken as a
  ``tax_request`` work item when the request was made;
- cycle times: application, decision and disbursement timestamps;
- queues: the ledger audits every work-item transition with the state before and after, so
  the length of a queue at any moment is today's count minus what changed since.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Float, Integer, case, cast, func, literal, select, union_all

from connectors.extracts import extract_name
from kernel.calls import SUCCESSFUL
from loanhub.dashboard.buckets import Window, epoch_seconds
from loanhub.dashboard.figures import _aware
from loanhub.dashboard.quantiles import Ranked, percentile
from schemas.hub import FileState, WorkItemState
from schemas.tables import (
    application,
    audit_event,
    decision,
    disbursement,
    file_receipt,
    loan,
    source_call,
    work_item,
)

QUEUE_STATES = (WorkItemState.NEEDS_HUMAN, WorkItemState.IN_DOUBT, WorkItemState.FAILED)
"""The queues a person works off, in the order they need attention."""


# -- calls per bucket per source --------------------------------------------------------------


@dataclass(frozen=True)
class CallTrend:
    """One system's calls per bucket of the window (``calls[i]`` is bucket ``keys[i]``)."""

    system: str
    calls: list[int]
    ok: list[int]

    @property
    def failed(self) -> list[int]:
        return [n - k for n, k in zip(self.calls, self.ok, strict=True)]

    @property
    def rates(self) -> list[float | None]:
        """Success rate per bucket; None where there was no call (no rate, not 0 %)."""
        return [k / n if n else None for n, k in zip(self.calls, self.ok, strict=True)]


def calls(engine: Engine, window: Window, systems: list[str]) -> dict[str, CallTrend]:
    """Calls and successful calls ("not found" is an answer) per bucket, for each system."""
    c = source_call.c
    rows = select(
        c.system,
        window.bucket(c.started_at).label("bucket"),
        case((c.outcome.in_([o.value for o in SUCCESSFUL]), 1), else_=0).label("ok"),
    ).where(
        c.started_at >= window.since,
        c.started_at < window.until,
        c.system.in_(systems),
    )
    inner = rows.subquery()
    grouped = select(inner.c.system, inner.c.bucket, func.count(), func.sum(inner.c.ok)).group_by(
        inner.c.system, inner.c.bucket
    )
    found: dict[tuple[str, int], tuple[int, int]] = {}
    with engine.connect() as conn:
        for system, bucket, n, ok in conn.execute(grouped):
            found[(system, int(bucket))] = (int(n), int(ok or 0))
    keys = window.buckets()
    return {
        s: CallTrend(
            s,
            [found.get((s, k), (0, 0))[0] for k in keys],
            [found.get((s, k), (0, 0))[1] for k in keys],
        )
        for s in systems
    }


# -- queue lengths over time ------------------------------------------------------------------


def queue_levels(engine: Engine, window: Window) -> dict[str, list[int]]:
    """Per work-item state, how many items were in it at the end of each bucket.

    Derived from the audit chain: every transition the ledger makes is an audit event
    ``work_item.*`` whose before and after images name the states (a new item has no before).
    The database sums, per bucket and state, +1 for each arrival and -1 for each departure; the
    level at the end of a bucket is the count now minus everything that changed after it. The
    count and the events are read in one snapshot. An item written without the ledger (none is
    in the hub's code) has no history: it counts as always there."""
    at = audit_event.c
    moved = at.action.like("work_item.%")
    since = at.occurred_at >= window.since
    bucket = window.bucket(at.occurred_at)
    changes = union_all(
        select(
            bucket.label("bucket"),
            at.after["state"].as_string().label("state"),
            literal(1, Integer()).label("delta"),
        ).where(moved, since, at.after.is_not(None)),
        select(
            bucket.label("bucket"),
            at.before["state"].as_string().label("state"),
            literal(-1, Integer()).label("delta"),
        ).where(moved, since, at.before.is_not(None)),
    ).subquery()
    per_bucket = select(changes.c.bucket, changes.c.state, func.sum(changes.c.delta)).group_by(
        changes.c.bucket, changes.c.state
    )
    now_counts = select(work_item.c.state, func.count()).group_by(work_item.c.state)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # the count and the changes from one snapshot
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            current = {s: int(n) for s, n in conn.execute(now_counts)}
            deltas: dict[str, dict[int, int]] = defaultdict(dict)
            for key, state, delta in conn.execute(per_bucket):
                if state is not None:
                    deltas[state][int(key)] = int(delta)
    keys = window.buckets()
    out: dict[str, list[int]] = {}
    for state in WorkItemState:
        changed = deltas.get(state.value, {})
        later = sum(d for k, d in changed.items() if k > keys[-1])  # after the window (a race)
        level = current.get(state.value, 0) - later
        levels: list[int] = []
        for key in reversed(keys):
            levels.append(max(level, 0))
            level -= changed.get(key, 0)
        out[state.value] = levels[::-1]
    return out


# -- the nightly extract ----------------------------------------------------------------------


@dataclass(frozen=True)
class Night:
    """A business date's extract: when it was due, first delivered, first loaded."""

    night: date
    due: datetime
    received: datetime | None
    loaded: datetime | None
    deliveries: int
    rejected: int
    tracked: bool = True  # False: before the first extract the store ever received

    def status(self, now: datetime, grace: timedelta = timedelta(0)) -> str:
        """on time (loaded by ``grace`` after due), late, rejected (and not re-delivered),
        waiting (delivered, not loaded), missing, not due yet, or before the first extract
        the hub ever took (it was not taking them yet: not a missing night)."""
        if self.loaded is not None:
            return "late" if self.loaded > self.due + grace else "on time"
        if not self.tracked and self.received is None:
            return "before the first extract"
        if self.received is not None and self.rejected:
            return "rejected"
        if now < self.due:
            return "not due"
        return "waiting" if self.received is not None else "missing"

    def late_by(self, now: datetime) -> timedelta | None:
        """How long after its due time the night's data was in the store (0 if in time);
        for a night still without data, how long it has been overdue."""
        end = self.loaded or (now if now > self.due else None)
        if end is None:
            return None
        return max(end - self.due, timedelta(0))


def due_time(night: date, due: time, zone: ZoneInfo) -> datetime:
    """When the extract of business date ``night`` is due: the next morning, bank's clock."""
    return datetime.combine(night + timedelta(days=1), due, tzinfo=zone)


def nightly_extracts(
    engine: Engine, last: date, nights: int, due: time, zone: ZoneInfo
) -> list[Night]:
    """The ``nights`` business dates up to ``last``, oldest first, with their extract's
    receipts summed up by the database: one row per file name (a rejected delivery and its
    corrected re-delivery share one). Nights before the first extract the store ever received
    are not tracked: the hub was not taking extracts yet."""
    first = last - timedelta(days=nights - 1)
    r = file_receipt.c
    used = r.state.in_([FileState.LOADED.value, FileState.PARTIAL.value])
    query = (
        select(
            r.name,
            func.min(r.received_at),
            func.min(case((used, r.updated_at))),
            func.count(),
            func.sum(case((r.state == FileState.REJECTED.value, 1), else_=0)),
        )
        .where(
            r.source_system == "core",
            r.name.like("LNREPAY.D%"),
            r.name >= extract_name(first),
            r.name <= extract_name(last),
        )
        .group_by(r.name)
    )
    earliest = select(func.min(r.name)).where(r.source_system == "core", r.name.like("LNREPAY.D%"))
    with engine.connect() as conn:
        found = {name: rest for name, *rest in conn.execute(query)}
        first_ever = conn.execute(earliest).scalar()
    out = []
    for i in range(nights):
        night = first + timedelta(days=i)
        received, loaded, deliveries, rejected = found.get(extract_name(night), (None, None, 0, 0))
        out.append(
            Night(
                night,
                due_time(night, due, zone),
                _aware(received),
                _aware(loaded),
                int(deliveries),
                int(rejected or 0),
                first_ever is not None and extract_name(night) >= first_ever,
            )
        )
    return out


# -- tax answers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxDay:
    """The tax requests of one bucket and how long their answers took (minutes)."""

    start: datetime
    requests: int
    answered: int
    mean_minutes: float | None
    longest_minutes: float | None
    overdue: int  # unanswered past the allowed wait


def tax_answers(engine: Engine, window: Window, allowed: timedelta, now: datetime) -> list[TaxDay]:
    """Per bucket of the request: requests, answers, mean and longest wait for the answer's
    first delivery, and the requests still unanswered after ``allowed``. A request is the
    ``tax_request`` work item keyed ``<YYYYMMDD>:<seq>`` (its number, taken when it is made);
    its answer is the receipt ``TAXR_<bank>_<YYYYMMDD>_<seq>.csv``."""
    r = file_receipt.c
    answers = (
        select(r.name, func.min(r.received_at).label("received"))
        .where(r.source_system == "tax", r.name.like("TAXR%"))
        .group_by(r.name)
        .subquery()
    )
    w = work_item.c
    pattern = literal("TAXR_%") + func.replace(w.business_key, ":", "_") + literal(".csv")
    waited = epoch_seconds(answers.c.received) - epoch_seconds(w.created_at)
    cutoff = now - allowed
    rows = (
        select(
            window.bucket(w.created_at).label("bucket"),
            answers.c.received,
            waited.label("waited"),
            case((answers.c.received.is_(None) & (w.created_at < cutoff), 1), else_=0).label(
                "overdue"
            ),
        )
        .select_from(work_item.outerjoin(answers, answers.c.name.like(pattern)))
        .where(w.kind == "tax_request", w.created_at >= window.since, w.created_at < window.until)
        .subquery()
    )
    query = select(
        rows.c.bucket,
        func.count(),
        func.count(rows.c.received),
        func.avg(cast(rows.c.waited, Float())),
        func.max(rows.c.waited),
        func.sum(rows.c.overdue),
    ).group_by(rows.c.bucket)
    with engine.connect() as conn:
        found = {int(k): rest for k, *rest in conn.execute(query)}
    out = []
    for key in window.buckets():
        n, answered, mean, longest, overdue = found.get(key, (0, 0, None, None, 0))
        out.append(
            TaxDay(
                window.start(key),
                int(n),
                int(answered),
                None if mean is None else float(mean) / 60,
                None if longest is None else float(longest) / 60,
                int(overdue or 0),
            )
        )
    return out


# -- cycle times ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CyclePoint:
    """One bucket's cycle times in hours: application to decision (by the decision's bucket)
    and decision to the first money settled (by the settlement's bucket)."""

    start: datetime
    decisions: int
    decision_median: float | None
    decision_mean: float | None
    paid: int
    payout_median: float | None
    payout_mean: float | None


def _hours_by_bucket(engine: Engine, source: Any) -> dict[int, tuple[int, float, float | None]]:
    """(count, mean, median) in hours of ``source``'s ``seconds`` per ``bucket``."""
    ranked = Ranked.of(source, ["bucket"], "seconds")
    query = ranked.grouped(["bucket"], [0.5], func.avg(cast(ranked.c.seconds, Float())))
    with engine.connect() as conn:
        return {
            int(row.bucket): (int(row.group_size), float(row[2]) / 3600, _h(percentile(row, 0.5)))
            for row in conn.execute(query)
        }


def _h(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def cycle_times(engine: Engine, window: Window) -> list[CyclePoint]:
    """Per bucket: how long applications took to be decided, and approved loans to be paid."""
    d, a = decision.c, application.c
    decided = (
        select(
            window.bucket(d.decided_at).label("bucket"),
            (epoch_seconds(d.decided_at) - epoch_seconds(a.submitted_at)).label("seconds"),
        )
        .select_from(decision.join(application, a.application_no == d.application_no))
        .where(d.decided_at >= window.since, d.decided_at < window.until)
        .subquery()
    )
    first_money = (
        select(loan.c.application_no, func.min(disbursement.c.settled_at).label("settled"))
        .join(disbursement, disbursement.c.loan_account == loan.c.loan_account)
        .group_by(loan.c.application_no)
        .subquery()
    )
    paid = (
        select(
            window.bucket(first_money.c.settled).label("bucket"),
            (epoch_seconds(first_money.c.settled) - epoch_seconds(d.decided_at)).label("seconds"),
        )
        .select_from(first_money.join(decision, d.application_no == first_money.c.application_no))
        .where(
            d.outcome == "APPROVE",
            first_money.c.settled >= window.since,
            first_money.c.settled < window.until,
        )
        .subquery()
    )
    to_decision = _hours_by_bucket(engine, decided)
    to_money = _hours_by_bucket(engine, paid)
    out = []
    for key in window.buckets():
        n, mean, middle = to_decision.get(key, (0, None, None))
        m, money_mean, money_middle = to_money.get(key, (0, None, None))
        out.append(CyclePoint(window.start(key), n, middle, mean, m, money_middle, money_mean))
    return out
