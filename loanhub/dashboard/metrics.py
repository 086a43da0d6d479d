"""Prometheus ``/metrics``: the hub's counters and histograms, read from the store at scrape.

Tasks run in many short-lived processes, so nothing in-process would survive to be scraped.
The store already holds every call, work item, warning and file, so a scrape is a handful of
aggregate queries, and any dashboard replica serves the same numbers. Counters restart from
what is kept when old calls are purged (Prometheus reads that as a counter reset).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, func, select

from kernel.calls import SUCCESSFUL
from schemas.tables import (
    early_warning,
    file_receipt,
    quarantined_record,
    source_call,
    work_item,
)

BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
"""Latency buckets: legacy calls take from tens of milliseconds (SFTP stat) to a minute (a
portal under load)."""


class HubCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        with self.engine.connect() as conn:
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
            for system, outcome, n in conn.execute(
                select(source_call.c.system, source_call.c.outcome, func.count()).group_by(
                    source_call.c.system, source_call.c.outcome
                )
            ):
                calls.add_metric([system, outcome], n)
                if outcome not in {o.value for o in SUCCESSFUL}:
                    errors.add_metric([system, outcome], n)
            yield calls
            yield errors

            latency = HistogramMetricFamily(
                "loanhub_source_call_duration_seconds",
                "Time of calls to legacy systems, per system",
                labels=["system"],
            )
            bucket_columns = [
                func.sum(case((source_call.c.duration_ms <= b * 1000, 1), else_=0))
                for b in BUCKETS_SECONDS
            ]
            for system, n, total_ms, *cumulative in conn.execute(
                select(
                    source_call.c.system,
                    func.count(),
                    func.coalesce(func.sum(source_call.c.duration_ms), 0),
                    *bucket_columns,
                ).group_by(source_call.c.system)
            ):
                buckets = [
                    (str(b), int(c)) for b, c in zip(BUCKETS_SECONDS, cumulative, strict=True)
                ]
                buckets.append(("+Inf", int(n)))
                latency.add_metric([system], buckets, int(total_ms) / 1000)
            yield latency

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

            raised = CounterMetricFamily(
                "loanhub_warnings_raised", "Early warnings raised", labels=["rule", "severity"]
            )
            open_ = GaugeMetricFamily(
                "loanhub_warnings_open",
                "Early warnings not acknowledged yet",
                labels=["rule", "severity"],
            )
            for rule, severity, n, still_open in conn.execute(
                select(
                    early_warning.c.rule,
                    early_warning.c.severity,
                    func.count(),
                    func.sum(case((early_warning.c.acknowledged_at.is_(None), 1), else_=0)),
                ).group_by(early_warning.c.rule, early_warning.c.severity)
            ):
                raised.add_metric([rule, severity], n)
                open_.add_metric([rule, severity], int(still_open or 0))
            yield raised
            yield open_

            files = CounterMetricFamily(
                "loanhub_files_received",
                "Files taken from legacy systems",
                labels=["system", "state"],
            )
            loaded = CounterMetricFamily(
                "loanhub_file_records_loaded",
                "Records of received files that were loaded",
                labels=["system"],
            )
            records: Counter[str] = Counter()
            for system, state, n, records_loaded in conn.execute(
                select(
                    file_receipt.c.source_system,
                    file_receipt.c.state,
                    func.count(),
                    func.coalesce(func.sum(file_receipt.c.records_loaded), 0),
                ).group_by(file_receipt.c.source_system, file_receipt.c.state)
            ):
                files.add_metric([system, state], n)
                records[system] += int(records_loaded)
            for system, n in sorted(records.items()):
                loaded.add_metric([system], n)
            yield files
            yield loaded

            quarantined = CounterMetricFamily(
                "loanhub_records_quarantined",
                "Records refused by a contract and kept with their reason",
                labels=["system"],
            )
            for system, n in conn.execute(
                select(quarantined_record.c.source_system, func.count()).group_by(
                    quarantined_record.c.source_system
                )
            ):
                quarantined.add_metric([system], n)
            yield quarantined


def exposition(engine: Engine) -> bytes:
    """The text format Prometheus scrapes, computed now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(engine))
    return generate_latest(registry)
