"""The trend series against a seeded store, on PostgreSQL and on SQLite: every bucket the
database computes is checked against numbers worked out here another way (the zone database's
own wall clock, ``statistics.median``, a replay of the transitions). The ledger, the audit
chain and the receipt book are the real ones; only their clock is moved, so that history can
be written at chosen times."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, select, update

from devtools.synthetic import applicant_batch
from kernel.calls import CallOutcome, SourceCall
from kernel.failures import FailureKind
from loanhub.dashboard import figures, trends
from loanhub.dashboard.buckets import DAY, HOUR, WEEK, Window, offset_changes
from loanhub.flows.intake import load_applicants
from loanhub.platform import audit, ledger, receipts
from loanhub.platform.calls import CallJournal
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from schemas.base import Lineage
from schemas.hub import FileState
from schemas.lending import Decision, Disbursement, Loan
from schemas.tables import application, decision, disbursement, fact_row, loan

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)  # 18:30 in Shanghai


class Clock:
    """The hub's clock for the modules that stamp history, set by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    for module in (ledger, audit, receipts):
        monkeypatch.setattr(module, "utcnow", moved)
    return moved


def hour_of(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(minute=0, second=0, microsecond=0)


def test_buckets_follow_the_banks_wall_clock_across_a_dst_change():
    since = datetime(2026, 10, 20, tzinfo=UTC)
    until = datetime(2026, 10, 30, tzinfo=UTC)
    changes = offset_changes(BERLIN, since, until)
    assert [o for _, o in changes] == [7200, 3600]
    assert datetime.fromtimestamp(changes[1][0], UTC) == datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert offset_changes(SHANGHAI, since, until) == [(int(since.timestamp()), 8 * 3600)]
    window = Window(since, until, DAY, BERLIN)
    starts = [window.start(k) for k in window.buckets()]
    assert all((s.hour, s.minute) == (0, 0) for s in starts)  # local midnights, both sides
    assert [s.date() for s in starts] == [date(2026, 10, 20) + timedelta(days=i) for i in range(11)]
    weeks = Window(since, until, WEEK, BERLIN)
    assert {weeks.start(k).weekday() for k in weeks.buckets()} == {0}  # Mondays


def test_calls_per_hour_per_source(engine: Engine):
    journal = CallJournal(engine)
    plan = []  # (system, started_at, outcome)
    outcomes = [CallOutcome.OK, CallOutcome.BUSINESS, CallOutcome.TRANSIENT, CallOutcome.ERROR]
    for i in range(120):
        at = NOW - timedelta(minutes=17 * i + 3)
        system = "bureau" if i % 3 else "core"
        plan.append((system, at, outcomes[(i * 7) % 4] if system == "bureau" else CallOutcome.OK))
    plan.append(("bureau", NOW - timedelta(days=3), CallOutcome.OK))  # outside the window
    plan.append(("bureau", NOW + timedelta(minutes=5), CallOutcome.OK))  # after "now"
    for system, at, outcome in plan:
        journal(
            SourceCall(system=system, operation="x", started_at=at, duration_ms=5, outcome=outcome)
        )

    window = Window.ending(NOW, timedelta(hours=24), HOUR, SHANGHAI)
    found = trends.calls(engine, window, ["bureau", "core", "ss"])
    expected_calls: Counter[tuple[str, datetime]] = Counter()
    expected_ok: Counter[tuple[str, datetime]] = Counter()
    start = hour_of(NOW - timedelta(hours=24), SHANGHAI)
    for system, at, outcome in plan:
        if start <= at < NOW:
            expected_calls[(system, hour_of(at, SHANGHAI))] += 1
            expected_ok[(system, hour_of(at, SHANGHAI))] += outcome in (
                CallOutcome.OK,
                CallOutcome.BUSINESS,
            )
    starts = [window.start(k) for k in window.buckets()]
    assert len(starts) == 25  # 24 hours back to a whole hour, and this one so far
    for system in ("bureau", "core"):
        assert found[system].calls == [expected_calls[(system, s)] for s in starts]
        assert found[system].ok == [expected_ok[(system, s)] for s in starts]
    assert sum(found["bureau"].calls) == sum(
        n for (s, _), n in expected_calls.items() if s == "bureau"
    )
    assert found["ss"].calls == [0] * 25
    assert found["ss"].rates == [None] * 25  # no call, no rate
    rates = found["bureau"].rates
    assert all(r is None or 0 <= r <= 1 for r in rates)
    assert any(r is not None and r < 1 for r in rates)


def test_queue_lengths_are_replayed_from_the_audit_chain(engine: Engine, clock: Clock):
    book = WorkItemLedger(engine, owner="test-owner")
    start = NOW - timedelta(hours=10)
    # (hours after start, item, what happens)
    script = [
        (0.5, "a", "claim"),
        (0.6, "a", "needs_human"),
        (1.2, "b", "claim"),
        (1.3, "b", "in_doubt"),
        (2.5, "c", "claim"),
        (2.6, "c", "fail"),
        (3.1, "d", "claim"),
        (3.2, "d", "needs_human"),
        (4.4, "b", "resolve_done"),
        (5.5, "a", "release"),
        (6.5, "a", "claim"),
        (6.6, "a", "done"),
        (7.7, "e", "claim"),
        (7.8, "e", "in_doubt"),
        (8.9, "d", "resolve_waiting"),
    ]
    items = {}
    states: dict[str, str] = {}
    history = []  # (at, {item: state})
    for hours, key, what in script:
        clock.now = start + timedelta(hours=hours)
        item = items.get(key)
        if what == "claim":
            item = book.claim("payment", key, {"k": key})
            states[key] = "IN_PROGRESS"
        elif what == "needs_human":
            item = book.needs_human(item, "a person must look")
            states[key] = "NEEDS_HUMAN"
        elif what == "in_doubt":
            item = book.mark_in_doubt(item, "sent, no answer")
            states[key] = "IN_DOUBT"
        elif what == "fail":
            item = book.fail(item, FailureKind.BUSINESS, "refused")
            states[key] = "FAILED"
        elif what == "resolve_done":
            item = book.resolve_in_doubt(item, happened=True, evidence="read back")
            states[key] = "DONE"
        elif what == "release":
            item = book.release(item, "fixed")
            states[key] = "FAILED"
        elif what == "done":
            item = book.complete(item)
            states[key] = "DONE"
        elif what == "resolve_waiting":
            item = book.resolve_waiting(item, evidence="checker confirmed")
            states[key] = "DONE"
        items[key] = item
        history.append((clock.now, dict(states)))

    clock.now = NOW
    window = Window.ending(NOW, timedelta(hours=12), HOUR, SHANGHAI)
    levels = trends.queue_levels(engine, window)
    for i, key in enumerate(window.buckets()):
        end = window.start(key) + timedelta(hours=1)
        known = [s for at, s in history if at < end]
        at_end = Counter(known[-1].values()) if known else Counter()
        for state in ("NEEDS_HUMAN", "IN_DOUBT", "FAILED", "IN_PROGRESS", "DONE"):
            assert levels[state][i] == at_end[state], (state, end)
    assert levels["NEEDS_HUMAN"][-1] == 0
    assert levels["IN_DOUBT"][-1] == 1
    assert max(levels["NEEDS_HUMAN"]) == 2


def test_nightly_extracts_how_late_each_night_was(engine: Engine, clock: Clock):
    book = FileReceiptBook(engine)
    due = time(2, 30)

    def night_file(night: date, digest: str, arrive: timedelta, state: FileState, load: timedelta):
        name = f"LNREPAY.D{night:%y%m%d}"
        due_at = datetime.combine(night + timedelta(days=1), due, tzinfo=SHANGHAI)
        clock.now = due_at + arrive
        book.record("core", name, digest * 64, 100)
        clock.now = due_at + load
        book.mark("core", name, digest * 64, state, records=(10, 0))

    night_file(
        date(2026, 11, 18), "a", timedelta(minutes=8), FileState.LOADED, timedelta(minutes=10)
    )  # 10 minutes after due: within the grace
    night_file(
        date(2026, 11, 19),
        "b",
        timedelta(hours=2),
        FileState.PARTIAL,
        timedelta(hours=2, minutes=5),
    )
    # the 20th: rejected at 02:31, its corrected re-delivery loaded at 05:00
    night_file(
        date(2026, 11, 20), "c", timedelta(minutes=1), FileState.REJECTED, timedelta(minutes=1)
    )
    night_file(
        date(2026, 11, 20),
        "d",
        timedelta(hours=2, minutes=29),
        FileState.LOADED,
        timedelta(hours=2, minutes=30),
    )
    # the 21st: nothing; the 22nd: rejected and never corrected
    night_file(date(2026, 11, 22), "e", timedelta(0), FileState.REJECTED, timedelta(0))
    clock.now = NOW
    book.record("tax", "LNREPAY.D261121", "f" * 64, 1)  # another system's file: not counted

    nights = trends.nightly_extracts(engine, date(2026, 11, 24), 7, due, SHANGHAI)
    assert [n.night for n in nights] == [date(2026, 11, 18) + timedelta(days=i) for i in range(7)]
    status = {n.night.day: n.status(NOW, timedelta(minutes=30)) for n in nights}
    assert status == {
        18: "on time",
        19: "late",
        20: "late",
        21: "missing",
        22: "rejected",
        23: "missing",  # due at 02:30 today
        24: "not due",
    }
    late = {n.night.day: n.late_by(NOW) for n in nights}
    assert late[18] == timedelta(minutes=10)
    assert nights[0].status(NOW) == "late"  # without the grace
    assert late[19] == timedelta(hours=2, minutes=5)
    assert late[20] == timedelta(hours=2, minutes=30)
    due_21 = datetime.combine(date(2026, 11, 22), due, tzinfo=SHANGHAI)
    assert late[21] == NOW - due_21  # still overdue
    assert late[24] is None
    earlier = trends.nightly_extracts(engine, date(2026, 11, 20), 5, due, SHANGHAI)
    assert [n.status(NOW) for n in earlier[:2]] == ["before the first extract"] * 2
    assert earlier[2].tracked
    by_night = {n.night.day: n for n in nights}
    assert by_night[20].deliveries == 2
    assert by_night[20].rejected == 1
    assert by_night[20].received == datetime.combine(
        date(2026, 11, 21), due, tzinfo=SHANGHAI
    ) + timedelta(minutes=1)


def test_tax_answer_waits_per_day(engine: Engine, clock: Clock):
    book = WorkItemLedger(engine, owner="test-owner")
    receipts_book = FileReceiptBook(engine)
    plan = [  # (request made, its day and number, minutes to the answer or None)
        (NOW - timedelta(days=2, hours=3), "20261122", 1, 12),
        (NOW - timedelta(days=2, hours=1), "20261122", 2, 95),
        (NOW - timedelta(days=1, hours=5), "20261123", 1, 30),
        (NOW - timedelta(days=1, hours=4), "20261123", 2, None),  # never answered
        (NOW - timedelta(minutes=20), "20261124", 1, None),  # not overdue yet
    ]
    for made, day, seq, minutes in plan:
        clock.now = made
        item = book.claim("tax_request", f"{day}:{seq:03d}", {"seq": seq})
        book.complete(item, {"seq": seq})
        if minutes is not None:
            clock.now = made + timedelta(minutes=minutes)
            receipts_book.record(
                "tax",
                f"TAXR_LHB001_{day}_{seq:03d}.csv",
                f"{seq:02d}{day}".ljust(64, "0"),
                10,
            )
    # a re-delivery of the first answer later: the wait is to the first delivery
    clock.now = plan[0][0] + timedelta(hours=5)
    receipts_book.record("tax", "TAXR_LHB001_20261122_001.csv", "e" * 64, 10)
    clock.now = NOW

    window = Window.ending(NOW, timedelta(days=3), DAY, SHANGHAI)
    days = trends.tax_answers(engine, window, timedelta(hours=1), NOW)
    by_day: dict[date, list[tuple[datetime, int | None]]] = {}
    for made, _, _, minutes in plan:
        by_day.setdefault(made.astimezone(SHANGHAI).date(), []).append((made, minutes))
    for d in days:
        got = by_day.get(d.start.date(), [])
        waits = [m for _, m in got if m is not None]
        assert d.requests == len(got)
        assert d.answered == len(waits)
        assert d.mean_minutes == (pytest.approx(statistics.mean(waits)) if waits else None)
        assert d.longest_minutes == (max(waits) if waits else None)
        assert d.overdue == sum(
            1 for made, m in got if m is None and made < NOW - timedelta(hours=1)
        )
    assert sum(d.overdue for d in days) == 1


def test_cycle_times_per_week(engine: Engine):
    batch = applicant_batch(5, 16, mistyped_every=1000)
    load_applicants(engine, batch, source_ref="intake-5.json")
    with engine.connect() as conn:
        numbers = sorted(conn.execute(select(application.c.application_no)).scalars())
    assert len(numbers) >= 12
    lineage = Lineage(
        source_system="hub", fetched_at=NOW, mapping_version="t", raw_payload_hash="0" * 64
    )
    facts = []  # (decided_at, hours to decision, settled_at or None)
    with engine.begin() as conn:
        for i, app_no in enumerate(numbers[:12]):
            decided = NOW - timedelta(days=3 + 5 * i, hours=i)
            hours = 2 + 3.5 * i
            submitted = decided - timedelta(hours=hours)
            conn.execute(
                update(application)
                .where(application.c.application_no == app_no)
                .values(submitted_at=submitted)
            )
            outcome = "APPROVE" if i % 3 else "REJECT"
            conn.execute(
                insert(decision).values(
                    fact_row(
                        Decision(
                            application_no=app_no,
                            outcome=outcome,
                            decided_by="rule:x",
                            decided_at=decided,
                            los_reference=f"SP{i:08d}",
                            lineage=lineage,
                        )
                    )
                )
            )
            settled = None
            if outcome == "APPROVE" and i != 4:
                settled = decided + timedelta(hours=6 + i)
                account = f"LN5{i:06d}"
                conn.execute(
                    insert(loan).values(
                        fact_row(
                            Loan(
                                loan_account=account,
                                application_no=app_no,
                                customer_no="C5",
                                principal=Decimal("1000"),
                                annual_rate=Decimal("0.04"),
                                term_months=12,
                                start_date=decided.date(),
                                lineage=lineage,
                            )
                        )
                    )
                )
                for tranche, later in ((1, 0), (2, 48)):  # the first tranche's money counts
                    conn.execute(
                        insert(disbursement).values(
                            fact_row(
                                Disbursement(
                                    loan_account=account,
                                    tranche=tranche,
                                    amount=Decimal("500"),
                                    creditor_account="6222020000000000",
                                    end_to_end_id=f"{account}-{tranche}",
                                    status="ACSC",
                                    requested_at=settled - timedelta(hours=1),
                                    settled_at=settled + timedelta(hours=later),
                                    lineage=lineage,
                                )
                            )
                        )
                    )
            facts.append((decided, hours, settled))

    window = Window.ending(NOW, timedelta(days=70), WEEK, SHANGHAI)
    points = trends.cycle_times(engine, window)

    def monday(at: datetime) -> date:
        local = at.astimezone(SHANGHAI).date()
        return local - timedelta(days=local.weekday())

    assert all(p.start.weekday() == 0 and p.start.hour == 0 for p in points)
    for p in points:
        week = p.start.date()
        decided = [h for d, h, _ in facts if monday(d) == week and d >= window.since]
        paid = [
            (s - d).total_seconds() / 3600
            for d, _, s in facts
            if s and monday(s) == week and s >= window.since
        ]
        assert p.decisions == len(decided), week
        assert p.decision_median == (pytest.approx(statistics.median(decided)) if decided else None)
        assert p.decision_mean == (pytest.approx(statistics.mean(decided)) if decided else None)
        assert p.paid == len(paid), week
        assert p.payout_median == (pytest.approx(statistics.median(paid)) if paid else None)
    assert sum(p.decisions for p in points) == sum(1 for d, _, _ in facts if d >= window.since)
    assert any(p.decisions >= 2 for p in points)  # a median of two, at least once


def test_source_percentiles_are_ranked_by_the_database(engine: Engine):
    """p50 and p95 per system as PostgreSQL's percentile_cont interpolates them, on both
    stores, counted there rather than by reading every call."""
    journal = CallJournal(engine)
    durations = {"bureau": [120, 180, 250, 900, 1500, 1750, 2100, 60, 3000, 3100], "core": [40]}
    for system, values in durations.items():
        for i, ms in enumerate(values):
            outcome = CallOutcome.TRANSIENT if ms >= 3000 else CallOutcome.OK
            at = NOW - timedelta(minutes=i + 1)
            journal(
                SourceCall(
                    system=system, operation="x", started_at=at, duration_ms=ms, outcome=outcome
                )
            )
    journal(
        SourceCall(
            system="bureau",
            operation="x",
            started_at=NOW - timedelta(days=2),
            duration_ms=99999,
            outcome=CallOutcome.OK,
        )
    )
    health = {h.system.calls: h for h in figures.sources(engine, NOW - timedelta(hours=24))}
    for system, values in durations.items():
        assert health[system].calls == len(values)
        assert health[system].p50_ms == pytest.approx(figures.percentile(values, 0.5))
        assert health[system].p95_ms == pytest.approx(figures.percentile(values, 0.95))
    assert health["bureau"].ok == 8
    assert health["ss"].p95_ms is None
