"""Prometheus ``/metrics``: the hub's counters, histograms and gauges, read from the store.

Tasks run in many short-lived processes, so nothing in-process would survive to be scraped.
Every process writes the store, so a scrape is a handful of aggregate queries there, and any
dashboard replica serves the same numbers.

- **Counters** are running totals (``loanhub.platform.totals``), added to in the transaction
  that stores what they count: a purge of old calls, records taken out of quarantine or a
  retention purge never lowers one. Every known system and outcome is exposed from zero, so
  the first failure of a source is an increase Prometheus can see.
- **Gauges** are what is true now: work items by state and the age of the oldest stuck one,
  rejected files not yet replaced, records in quarantine, the last nightly load, the audit
  chain's last recorded verification, and the applications waiting for their decision (the
  referrals credit ops have not answered).

The alerting rules that read these are in ``deploy/prometheus/loanhub-rules.yml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, and_, exists, func, select

from kernel.calls import SUCCESSFUL, CallOutcome
from loanhub.dashboard.figures import STUCK, SYSTEMS, _aware
from loanhub.platform import totals
from loanhub.platform.calls import (
    CALLS,
    DURATION_BUCKET,
    DURATION_MS_SUM,
    LATENCY_BUCKETS_SECONDS,
)
from loanhub.platform.early_warnings import RAISED
from loanhub.platform.quarantine import QUARANTINED
from loanhub.platform.receipts import OUTCOMES, RECEIVED, RECORDS_LOADED
from schemas.hub import FileState
from schemas.tables import (
    applicant_profile,
    application,
    audit_verification,
    decision,
    early_warning,
    file_receipt,
    quarantined_record,
    work_item,
)
from schemas.types import utcnow

BUCKETS_SECONDS = LATENCY_BUCKETS_SECONDS
NIGHTLY_SOURCE = "core"
NIGHTLY_PREFIX = "LNREPAY"
"""The nightly sync is the core's repayment extract (``LNREPAY.D<YYMMDD>``) loaded."""
DECIDABLE_DAYS = 30
"""A bureau report is valid 30 days (legacy-systems.md): a profile older is not decided."""
KNOWN_SYSTEMS = tuple(s.calls for s in SYSTEMS)
"""The systems whose call counters exist from zero (others appear with their first call)."""


def _seconds(moment: datetime | str | None) -> float | None:
    found = _aware(moment)
    return None if found is None else found.timestamp()


class HubCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.engine.connect() as conn:
            counted = totals.read(
                conn,
                CALLS,
                DURATION_BUCKET,
                DURATION_MS_SUM,
                RECEIVED,
                OUTCOMES,
                RECORDS_LOADED,
                QUARANTINED,
                RAISED,
            )
            yield from _calls(counted)
            yield _latency(counted)
            yield from _files(conn, counted)
            yield from _quarantine(conn, counted)
            yield from _work_items(conn, now)
            yield from _warnings(conn, counted)
            yield _nightly_sync(conn)
            yield from _audit_chain(conn)
            yield from _decisions_waiting(conn, now)


Counted = dict[str, list[tuple[dict[str, str], int]]]


def _calls(counted: Counted) -> Iterator[Metric]:
    calls = CounterMetricFamily(
        "loanhub_source_calls",
        "Calls to legacy systems by outcome (ok and business are answers)",
        labels=["system", "outcome"],
    )
    errors = CounterMetricFamily(
        "loanhub_source_call_errors",
        "Calls to legacy systems that failed, by failure kind",
        labels=["system", "kind"],
    )
    by: dict[tuple[str, str], int] = {(s, o.value): 0 for s in KNOWN_SYSTEMS for o in CallOutcome}
    for labels, n in counted[CALLS]:
        by[labels["system"], labels["outcome"]] = n
    successful = {o.value for o in SUCCESSFUL}
    for (system, outcome), n in sorted(by.items()):
        calls.add_metric([system, outcome], n)
        if outcome not in successful:
            errors.add_metric([system, outcome], n)
    yield calls
    yield errors


def _latency(counted: Counted) -> Metric:
    latency = HistogramMetricFamily(
        "loanhub_source_call_duration_seconds",
        "Time of calls to legacy systems, per system",
        labels=["system"],
    )
    per_bucket: dict[str, dict[str, int]] = {s: {} for s in KNOWN_SYSTEMS}
    for labels, n in counted[DURATION_BUCKET]:
        per_bucket.setdefault(labels["system"], {})[labels["le"]] = n
    sums = {labels["system"]: n for labels, n in counted[DURATION_MS_SUM]}
    bounds = [repr(b) for b in BUCKETS_SECONDS]
    for system in sorted(per_bucket):
        seen = per_bucket[system]
        running, buckets = 0, []
        for bound in bounds:
            running += seen.get(bound, 0)
            buckets.append((bound, running))
        buckets.append(("+Inf", sum(seen.values())))  # buckets of older bounds count here
        latency.add_metric([system], buckets, sums.get(system, 0) / 1000)
    return latency


def _files(conn: Connection, counted: Counted) -> Iterator[Metric]:
    received = CounterMetricFamily(
        "loanhub_files_received", "Files taken from legacy systems", labels=["system"]
    )
    for labels, n in counted[RECEIVED]:
        received.add_metric([labels["system"]], n)
    outcomes = CounterMetricFamily(
        "loanhub_file_outcomes",
        "Times a taken file reached a state (LOADED, PARTIAL, REJECTED)",
        labels=["system", "state"],
    )
    for labels, n in counted[OUTCOMES]:
        outcomes.add_metric([labels["system"], labels["state"]], n)
    loaded = CounterMetricFamily(
        "loanhub_file_records_loaded",
        "Records of received files that were loaded",
        labels=["system"],
    )
    for labels, n in counted[RECORDS_LOADED]:
        loaded.add_metric([labels["system"]], n)
    yield received
    yield outcomes
    yield loaded

    rejected = GaugeMetricFamily(
        "loanhub_files_rejected",
        "Files rejected as a whole and not replaced since by a loaded delivery of the same name",
        labels=["system"],
    )
    later = file_receipt.alias("later")
    replaced = exists().where(
        and_(
            later.c.source_system == file_receipt.c.source_system,
            later.c.name == file_receipt.c.name,
            later.c.state.in_([FileState.LOADED.value, FileState.PARTIAL.value]),
            later.c.updated_at >= file_receipt.c.updated_at,
        )
    )
    found = dict(
        conn.execute(
            select(file_receipt.c.source_system, func.count())
            .where(file_receipt.c.state == FileState.REJECTED.value, ~replaced)
            .group_by(file_receipt.c.source_system)
        ).all()
    )
    for system in sorted({*KNOWN_SYSTEMS, *found}):
        rejected.add_metric([system], found.get(system, 0))
    yield rejected


def _quarantine(conn: Connection, counted: Counted) -> Iterator[Metric]:
    quarantined = CounterMetricFamily(
        "loanhub_records_quarantined",
        "Records refused by a contract and kept with their reason (ever)",
        labels=["system"],
    )
    for labels, n in counted[QUARANTINED]:
        quarantined.add_metric([labels["system"]], n)
    yield quarantined
    held = GaugeMetricFamily(
        "loanhub_records_in_quarantine",
        "Records in quarantine now (not reprocessed yet)",
        labels=["system"],
    )
    for system, n in conn.execute(
        select(quarantined_record.c.source_system, func.count()).group_by(
            quarantined_record.c.source_system
        )
    ):
        held.add_metric([system], n)
    yield held


def _work_items(conn: Connection, now: datetime) -> Iterator[Metric]:
    items = GaugeMetricFamily(
        "loanhub_work_items", "Work items by kind and state", labels=["kind", "state"]
    )
    for kind, state, n in conn.execute(
        select(work_item.c.kind, work_item.c.state, func.count()).group_by(
            work_item.c.kind, work_item.c.state
        )
    ):
        items.add_metric([kind, state], n)
    yield items
    oldest = GaugeMetricFamily(
        "loanhub_work_item_oldest_age_seconds",
        "Age of the oldest NEEDS_HUMAN or IN_DOUBT work item, since it last changed",
        labels=["kind", "state"],
    )
    for kind, state, since in conn.execute(
        select(work_item.c.kind, work_item.c.state, func.min(work_item.c.updated_at))
        .where(work_item.c.state.in_(STUCK))
        .group_by(work_item.c.kind, work_item.c.state)
    ):
        oldest.add_metric([kind, state], max(now.timestamp() - (_seconds(since) or 0), 0.0))
    yield oldest


def _warnings(conn: Connection, counted: Counted) -> Iterator[Metric]:
    raised = CounterMetricFamily(
        "loanhub_warnings_raised", "Early warnings raised", labels=["rule", "severity"]
    )
    for labels, n in counted[RAISED]:
        raised.add_metric([labels["rule"], labels["severity"]], n)
    yield raised
    open_ = GaugeMetricFamily(
        "loanhub_warnings_open",
        "Early warnings not acknowledged yet",
        labels=["rule", "severity"],
    )
    for rule, severity, n in conn.execute(
        select(early_warning.c.rule, early_warning.c.severity, func.count())
        .where(early_warning.c.acknowledged_at.is_(None))
        .group_by(early_warning.c.rule, early_warning.c.severity)
    ):
        open_.add_metric([rule, severity], n)
    yield open_


def _nightly_sync(conn: Connection) -> Metric:
    last = GaugeMetricFamily(
        "loanhub_nightly_sync_last_success_timestamp_seconds",
        "When the core's nightly repayment extract was last loaded (Unix time; 0: never)",
    )
    when = conn.execute(
        select(func.max(file_receipt.c.updated_at)).where(
            file_receipt.c.source_system == NIGHTLY_SOURCE,
            file_receipt.c.name.like(f"{NIGHTLY_PREFIX}%"),
            file_receipt.c.state.in_([FileState.LOADED.value, FileState.PARTIAL.value]),
        )
    ).scalar()
    last.add_metric([], _seconds(when) or 0.0)  # never: 0, so that "late" fires then too
    return last


def _audit_chain(conn: Connection) -> Iterator[Metric]:
    newest = conn.execute(
        select(
            audit_verification.c.verified_at,
            audit_verification.c.ok,
            audit_verification.c.checked,
        )
        .order_by(audit_verification.c.id.desc())
        .limit(1)
    ).first()
    ok = GaugeMetricFamily(
        "loanhub_audit_chain_verified",
        "1 if the newest recorded walk of the audit chain found it intact, 0 if broken",
    )
    at = GaugeMetricFamily(
        "loanhub_audit_chain_last_verification_timestamp_seconds",
        "When the audit chain was last walked (loanhub audit verify; 0: never)",
    )
    checked = GaugeMetricFamily(
        "loanhub_audit_chain_events_verified",
        "Events the newest walk verified (before the broken one, if any)",
    )
    # never walked: no result to report, and 0 as its time (the "not verified" alert fires)
    at.add_metric([], 0.0 if newest is None else _seconds(newest.verified_at) or 0.0)
    if newest is not None:
        ok.add_metric([], 1 if newest.ok else 0)
        checked.add_metric([], newest.checked)
    yield ok
    yield at
    yield checked


def _decisions_waiting(conn: Connection, now: datetime) -> Iterator[Metric]:
    """Applications profiled for their current round and not decided yet: the referrals
    waiting for credit ops (under Airflow's Required actions) and any profile no decision run
    has taken up. Their age runs from the round's first profile: since it could be decided.
    Only profiles of the last ``DECIDABLE_DAYS`` are read (the scrape stays cheap as the book
    grows): an older one rests on a bureau report past its validity, and is harvested again
    rather than decided."""
    p, a, d = applicant_profile, application, decision
    undecided = (
        select(p.c.application_no, func.min(p.c.fetched_at).label("since"))
        .join(a, and_(a.c.application_no == p.c.application_no, a.c.round == p.c.round))
        .where(
            p.c.fetched_at >= now - timedelta(days=DECIDABLE_DAYS),
            ~exists().where(d.c.application_no == p.c.application_no, d.c.round == p.c.round),
        )
        .group_by(p.c.application_no)
        .subquery()
    )
    n, since = conn.execute(select(func.count(), func.min(undecided.c.since))).one()
    waiting = GaugeMetricFamily(
        "loanhub_decisions_waiting",
        "Profiled applications without a decision yet (referrals waiting for credit ops)",
    )
    waiting.add_metric([], n)
    yield waiting
    oldest = GaugeMetricFamily(
        "loanhub_decision_oldest_waiting_age_seconds",
        "How long the longest-waiting profiled application has waited for its decision",
    )
    if since is not None:
        oldest.add_metric([], max(now.timestamp() - (_seconds(since) or 0.0), 0.0))
    yield oldest


def exposition(engine: Engine) -> bytes:
    """The text format Prometheus scrapes, computed now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(engine))
    return generate_latest(registry)
