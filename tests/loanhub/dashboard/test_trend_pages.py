"""The trend charts in the real Chromium at 1366x768, over the dashboard's seeded store plus a
history written through the hub's own parts (the call journal, the ledger and its audit
chain, the receipt book) at chosen times: each chart's numbers are the database's answer,
computed here with PostgreSQL's own time zones and percentiles; every page says when its data
was read, in the bank's time zone, reloads itself and can be paused; nothing personal shows.
Screenshots of each page land in /tmp/shots/trends-*.png."""

from __future__ import annotations

import re
import time as wall
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import insert, select, text, update

from kernel.calls import CallOutcome, SourceCall
from kernel.failures import FailureKind
from loanhub.platform import audit, ledger, receipts
from loanhub.platform.calls import CallJournal
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.receipts import FileReceiptBook
from schemas.base import Lineage
from schemas.hub import FileState
from schemas.lending import Decision, Disbursement, Loan
from schemas.tables import application, decision, disbursement, fact_row, loan, work_item
from tests.loanhub.dashboard.conftest import Served, browser_page
from tests.loanhub.dashboard.serving import PASSWORDS

SHOTS = Path("/tmp/shots")
SVG = "{http://www.w3.org/2000/svg}"
QUEUES = ("NEEDS_HUMAN", "IN_DOUBT", "FAILED")
# (hours ago, item, what happens to it)
QUEUE_SCRIPT = [
    (20.0, "a", "claim"),
    (19.9, "a", "needs_human"),
    (14.0, "b", "claim"),
    (13.9, "b", "needs_human"),
    (9.0, "c", "claim"),
    (8.9, "c", "in_doubt"),
    (7.0, "d", "claim"),
    (6.9, "d", "fail"),
    (4.0, "a", "resolve_waiting"),
    (2.0, "e", "claim"),
    (1.9, "e", "needs_human"),
]
# nights ago (1 = the bank's yesterday) -> (first delivery, state, load) after its due time;
# a second tuple is a re-delivery; absent: no file
NIGHTS = {
    1: [(timedelta(minutes=1), FileState.LOADED, timedelta(minutes=3))],
    2: [(timedelta(minutes=1), FileState.PARTIAL, timedelta(minutes=4))],
    3: [(timedelta(hours=3), FileState.LOADED, timedelta(hours=3, minutes=2))],
    4: [(timedelta(minutes=2), FileState.LOADED, timedelta(minutes=5))],
    6: [(timedelta(minutes=1), FileState.LOADED, timedelta(minutes=2))],
    7: [
        (timedelta(minutes=1), FileState.REJECTED, timedelta(minutes=1)),
        (timedelta(hours=4, minutes=30), FileState.LOADED, timedelta(hours=4, minutes=32)),
    ],
    8: [(timedelta(minutes=1), FileState.LOADED, timedelta(minutes=2))],
    9: [(timedelta(minutes=1), FileState.REJECTED, timedelta(minutes=1))],
    10: [(timedelta(minutes=1), FileState.LOADED, timedelta(minutes=2))],
}
EXPECTED_NIGHTS = {3: "late", 5: "missing", 7: "late", 9: "rejected"}  # the others: on time


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def history(served: Served) -> dict:
    """Write the history once for the module; what the tests need to know of it."""
    store, world, zone = served.store, served.world, ZoneInfo(served.settings.timezone)
    now = world.now
    with store.connect() as conn:
        baseline = Counter(
            dict(conn.execute(select(work_item.c.state, text("count(*)")).group_by("state")).all())
        )
    journal = CallJournal(store)
    for i in range(180):  # every 10 minutes for 30 hours; the bureau failing for the last 6
        at = now - timedelta(minutes=10 * i + 1)
        failing = at > now - timedelta(hours=6) and i % 3 != 0
        journal(
            SourceCall(
                system="bureau",
                operation="PersonalCreditReport",
                started_at=at,
                duration_ms=100 + i,
                outcome=CallOutcome.TRANSIENT if failing else CallOutcome.OK,
                error=f"busy for {world.ids[6]}" if failing else None,
            )
        )
        journal(
            SourceCall(
                system="core",
                operation="GetCustomer",
                started_at=at,
                duration_ms=40,
                outcome=CallOutcome.OK,
            )
        )

    clock = Clock(now)
    with pytest.MonkeyPatch.context() as patch:
        for module in (ledger, audit, receipts):
            patch.setattr(module, "utcnow", clock)
        book = WorkItemLedger(store, owner="history")
        items = {}
        for hours, key, what in QUEUE_SCRIPT:
            clock.now = now - timedelta(hours=hours)
            item = items.get(key)
            if what == "claim":
                item = book.claim("bureau_query", f"{world.ids[6]}:01:{key}", {"k": key})
            elif what == "needs_human":
                item = book.needs_human(item, f"subject {world.ids[6]} locked")
            elif what == "in_doubt":
                item = book.mark_in_doubt(item, "sent, no answer")
            elif what == "fail":
                item = book.fail(item, FailureKind.BUSINESS, "refused")
            elif what == "resolve_waiting":
                item = book.resolve_waiting(item, evidence="answered in the bureau")
            items[key] = item

        files = FileReceiptBook(store)
        due = served.settings.dashboard.extract_due
        yesterday = now.astimezone(zone).date() - timedelta(days=1)
        for ago, deliveries in NIGHTS.items():
            night = yesterday - timedelta(days=ago - 1)
            due_at = datetime.combine(night + timedelta(days=1), due, tzinfo=zone)
            for n, (arrive, state, load) in enumerate(deliveries):
                digest = f"{ago:02d}{n}".ljust(64, "0")
                clock.now = due_at + arrive
                files.record("core", f"LNREPAY.D{night:%y%m%d}", digest, 1000)
                clock.now = due_at + load
                files.mark("core", f"LNREPAY.D{night:%y%m%d}", digest, state, records=(9, 0))

        for ago, minutes in ((1, 7), (2, 25), (3, 80), (4, None), (5, 12)):
            made = now - timedelta(days=ago, hours=1)
            day = made.astimezone(zone).date()
            clock.now = made
            item = book.claim("tax_request", f"{day:%Y%m%d}:001", {"seq": 1})
            book.complete(item, {"seq": 1})
            if minutes is not None:
                clock.now = made + timedelta(minutes=minutes)
                files.record(
                    "tax", f"TAXR_LHB001_{day:%Y%m%d}_001.csv", f"{ago}".ljust(64, "1"), 10
                )

    # decisions weeks ago, for the applications the seed left undecided
    lineage = Lineage(
        source_system="hub", fetched_at=now, mapping_version="t", raw_payload_hash="0" * 64
    )
    with store.begin() as conn:
        decided_nos = set(conn.execute(select(decision.c.application_no)).scalars())
        free = [
            a
            for a in conn.execute(
                select(application.c.application_no).order_by(application.c.application_no)
            ).scalars()
            if a not in decided_nos
        ]
        for i, (days_ago, hours) in enumerate(((8, 3.0), (9, 7.5), (16, 26.0), (23, 1.5))):
            app_no = free[i]
            decided = now - timedelta(days=days_ago)
            conn.execute(
                update(application)
                .where(application.c.application_no == app_no)
                .values(submitted_at=decided - timedelta(hours=hours))
            )
            conn.execute(
                insert(decision).values(
                    fact_row(
                        Decision(
                            application_no=app_no,
                            outcome="APPROVE",
                            decided_by="credit_officer",
                            decided_at=decided,
                            los_reference=f"SPH{i:07d}",
                            lineage=lineage,
                        )
                    )
                )
            )
            account = f"LNH{i:07d}"
            settled = decided + timedelta(hours=20 + i)
            conn.execute(
                insert(loan).values(
                    fact_row(
                        Loan(
                            loan_account=account,
                            application_no=app_no,
                            customer_no="CH",
                            principal=Decimal("1000"),
                            annual_rate=Decimal("0.04"),
                            term_months=12,
                            start_date=decided.date(),
                            lineage=lineage,
                        )
                    )
                )
            )
            conn.execute(
                insert(disbursement).values(
                    fact_row(
                        Disbursement(
                            loan_account=account,
                            tranche=1,
                            amount=Decimal("1000"),
                            creditor_account="6222020000000000",
                            end_to_end_id=f"{account}-1",
                            status="ACSC",
                            requested_at=settled - timedelta(hours=1),
                            settled_at=settled,
                            lineage=lineage,
                        )
                    )
                )
            )
    return {"baseline": baseline, "now": now, "zone": zone, "yesterday": yesterday}


@pytest.fixture
def desk(chromium, served: Served) -> Iterator[Page]:
    """A 1366x768 session reading English (the assertions read the English labels)."""
    with browser_page(chromium, served.url) as page:
        yield page


def log_in(page: Page, served: Served, user: str, wanted: str) -> None:
    page.goto(served.url + wanted)
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(served.url + wanted.split("?")[0]) + r"(\?.*)?$"))


def chart(page: Page, selector: str) -> ElementTree.Element:
    """The SVG inside ``selector``, parsed (it must be well-formed XML)."""
    return ElementTree.fromstring(
        page.locator(f"{selector} svg").first.evaluate("e => e.outerHTML")
    )


def titled(svg: ElementTree.Element, tag: str) -> dict[str, str]:
    """``{title text before the last colon: value after it}`` of every ``tag`` in the chart."""
    out = {}
    for element in svg.iter(SVG + tag):
        title = element.find(SVG + "title")
        if title is not None and title.text:
            name, value = title.text.rsplit(": ", 1)
            out[name] = value
    return out


def as_hours(shown: str) -> float:
    number, unit = shown.split()
    return float(number) / (60 if unit == "min" else 1)


def assert_masked(html: str, served: Served) -> None:
    leaked = [s for s in served.world.secrets if s and s in html]
    assert not leaked, f"unmasked personal data in the page: {len(leaked)} value(s)"


def test_sources_show_calls_and_success_per_hour_as_the_database_counts_them(
    served: Served, history: dict, desk: Page
):
    log_in(desk, served, "vera", "/sources?hours=24")
    svg = chart(desk, '#source-trends [data-system="bureau"]')
    assert svg.get("aria-label").startswith("Credit bureau (SOAP): calls per hour and success rate")
    columns = titled(svg, "rect")
    points = titled(svg, "circle")
    with served.store.connect() as conn:
        expected = conn.execute(
            text(
                "SELECT to_char(date_trunc('hour', started_at AT TIME ZONE :z),"
                " 'YYYY-MM-DD HH24:MI'),"
                " count(*) FILTER (WHERE outcome IN ('ok', 'business')),"
                " count(*) FILTER (WHERE outcome NOT IN ('ok', 'business'))"
                " FROM source_call WHERE system = 'bureau' AND started_at >="
                " (date_trunc('hour', (now() - interval '23 hours') AT TIME ZONE :z))"
                " AT TIME ZONE :z"
                " GROUP BY 1 ORDER BY 1"
            ),
            {"z": served.settings.timezone},
        ).all()
    assert len(expected) >= 20
    for hour, ok, failed in expected:
        assert columns.get(f"{hour} calls succeeded", "0") == str(ok), hour
        assert columns.get(f"{hour} calls failed", "0") == str(failed), hour
        assert points[f"{hour} success rate"] == f"{ok / (ok + failed) * 100:.1f} %", hour
    assert any(int(columns.get(f"{h} calls failed", 0)) for h, _, _ in expected)
    # a system without calls in the window says so rather than drawing an empty axis
    assert "nothing to show" in desk.locator('#source-trends [data-system="los"]').inner_text()


def test_queue_lengths_over_time_replay_the_transitions(served: Served, history: dict, desk: Page):
    log_in(desk, served, "vera", "/queues?hours=24")
    svg = chart(desk, "#queue-history")
    points = titled(svg, "circle")
    zone, now, baseline = history["zone"], history["now"], history["baseline"]
    hours = sorted({name.rsplit(" ", 1)[0] for name in points})
    assert len(hours) == 25
    for hour in hours:
        end = datetime.strptime(hour, "%Y-%m-%d %H:%M").replace(tzinfo=zone) + timedelta(hours=1)
        states: dict[str, str] = {}
        for ago, key, what in QUEUE_SCRIPT:
            if now - timedelta(hours=ago) < end:
                states[key] = {
                    "claim": "IN_PROGRESS",
                    "needs_human": "NEEDS_HUMAN",
                    "in_doubt": "IN_DOUBT",
                    "fail": "FAILED",
                    "resolve_waiting": "DONE",
                }[what]
        at_end = Counter(states.values())
        for state in QUEUES:
            assert points[f"{hour} {state}"] == str(baseline[state] + at_end[state]), (hour, state)
    with served.store.connect() as conn:
        for state in QUEUES:
            now_count = conn.execute(
                text("SELECT count(*) FROM work_item WHERE state = :s"), {"s": state}
            ).scalar_one()
            assert points[f"{hours[-1]} {state}"] == str(now_count)  # the last point is now
    desk.get_by_role("link", name="7 days").click()
    expect(
        desk.get_by_role("img", name=re.compile("end of each hour, last 7 days"))
    ).to_be_visible()
    desk.get_by_role("link", name="30 days").click()
    expect(
        desk.get_by_role("img", name=re.compile("end of each day, last 30 days"))
    ).to_be_visible()


def test_files_show_how_late_each_night_was(served: Served, history: dict, desk: Page):
    log_in(desk, served, "vera", "/files?nights=30")
    yesterday = history["yesterday"]
    rows = desk.locator("#nights tbody tr[data-night]")
    shown = {r.get_attribute("data-night"): r.get_attribute("data-status") for r in rows.all()}
    expected = {
        (yesterday - timedelta(days=ago - 1)).isoformat(): s for ago, s in EXPECTED_NIGHTS.items()
    }
    # before the first extract the store ever took: not missing, not listed
    assert shown == expected
    late3 = (yesterday - timedelta(days=2)).isoformat()
    assert as_hours(
        desk.locator(f'#nights tr[data-night="{late3}"] td[data-field="late"]').inner_text()
    ) == pytest.approx(3 + 2 / 60, abs=0.05)
    svg = chart(desk, "#nightly")
    columns, marks = titled(svg, "rect"), titled(svg, "text")
    assert columns[f"{late3} loaded late"] == "3.0 h"  # 3 h 2 min
    on_time = [a for a in range(1, 11) if a not in EXPECTED_NIGHTS]
    assert {k for k, v in marks.items() if v == "on time"} == {
        (yesterday - timedelta(days=a - 1)).isoformat() for a in on_time
    }
    assert marks[(yesterday - timedelta(days=8)).isoformat()] == "rejected"
    tax = titled(chart(desk, "#tax-waits"), "rect")
    assert sorted(float(v.split()[0]) for k, v in tax.items() if "longest wait" in k) == [
        7,
        12,
        25,
        80,
    ]


def test_approvals_show_cycle_times_per_week(served: Served, history: dict, desk: Page):
    log_in(desk, served, "vera", "/approvals?days=30")
    zone = served.settings.timezone
    with served.store.connect() as conn:
        weeks = conn.execute(
            text(
                "SELECT date_trunc('week', d.decided_at AT TIME ZONE :z)::date, count(*),"
                " percentile_cont(0.5) WITHIN GROUP"
                " (ORDER BY extract(epoch FROM d.decided_at - a.submitted_at) / 3600)"
                " FROM decision d JOIN application a USING (application_no)"
                " WHERE d.decided_at >="
                " date_trunc('week', (now() - interval '30 days') AT TIME ZONE :z) AT TIME ZONE :z"
                " GROUP BY 1"
            ),
            {"z": zone},
        ).all()
        paid = conn.execute(
            text(
                "SELECT date_trunc('week', m.settled AT TIME ZONE :z)::date, count(*),"
                " percentile_cont(0.5) WITHIN GROUP"
                " (ORDER BY extract(epoch FROM m.settled - d.decided_at) / 3600)"
                " FROM (SELECT l.application_no, min(s.settled_at) AS settled FROM loan l"
                " JOIN disbursement s USING (loan_account) GROUP BY 1) m"
                " JOIN decision d ON d.application_no = m.application_no AND d.outcome = 'APPROVE'"
                " WHERE m.settled IS NOT NULL GROUP BY 1"
            ),
            {"z": zone},
        ).all()
    assert len(weeks) >= 3
    for week, n, middle in weeks:
        row = f'#cycles tr[data-start="{week.isoformat()}"]'
        assert desk.locator(f'{row} td[data-field="decisions"]').inner_text() == str(n)
        shown = desk.locator(f'{row} td[data-field="decision-median"]').inner_text()
        assert as_hours(shown) == pytest.approx(float(middle), abs=0.05)
    for week, n, middle in paid:
        row = f'#cycles tr[data-start="{week.isoformat()}"]'
        if desk.locator(row).count():
            assert desk.locator(f'{row} td[data-field="paid"]').inner_text() == str(n)
            assert as_hours(
                desk.locator(f'{row} td[data-field="payout-median"]').inner_text()
            ) == pytest.approx(float(middle), abs=0.05)
    expect(desk.get_by_role("img", name=re.compile("Median cycle time per week"))).to_be_visible()
    desk.get_by_role("link", name="7 days").click()
    expect(
        desk.get_by_role("img", name=re.compile("Median cycle time per day, last 7 days"))
    ).to_be_visible()


PAGES = ["/", "/sources", "/queues", "/approvals", "/warnings", "/files"]
PERIODS = [
    "/sources?hours=1",
    "/sources?hours=168",
    "/sources?hours=720",
    "/queues?hours=720",
    "/approvals?days=7",
    "/approvals?days=365",
    "/files?nights=7",
]


def test_every_page_says_when_its_data_was_read_is_masked_and_fits(
    served: Served, history: dict, desk: Page
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_in(desk, served, "otto", "/")
    zone = ZoneInfo(served.settings.timezone)
    for path in [*PAGES, *PERIODS]:
        before = datetime.now(UTC).replace(microsecond=0)
        response = desk.goto(served.url + path)
        assert response is not None
        assert response.status == 200, path
        as_of = desk.locator("#as-of")
        shown = datetime.strptime(as_of.inner_text(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
        assert before - timedelta(seconds=1) <= shown <= datetime.now(UTC) + timedelta(seconds=1), (
            path
        )
        assert (
            datetime.fromisoformat(as_of.get_attribute("datetime"))
            .astimezone(zone)
            .replace(microsecond=0)
            == shown
        )
        expect(desk.locator("#freshness")).to_contain_text(served.settings.timezone)
        expect(desk.locator("#refresh-toggle")).to_have_text("Pause")
        assert_masked(desk.content(), served)
        assert_masked(response.text(), served)
        width = desk.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, f"{path} scrolls sideways at 1366 px ({width} px)"
        name = (
            re.sub(r"\W+", "-", path.strip("/"))
            .replace("-hours-", "-")
            .replace("-days-", "-")
            .replace("-nights-", "-")
            or "overview"
        )
        desk.screenshot(path=str(SHOTS / f"trends-{name}.png"), full_page=True)
    plain = requests.get(served.url + "/sources", timeout=10, allow_redirects=False)
    assert plain.status_code == 303  # and none of it without signing in


def test_pages_reload_themselves_until_paused(served: Served, history: dict, desk: Page):
    dashboard = served.settings.dashboard
    kept = dashboard.refresh_seconds
    dashboard.refresh_seconds = 2
    try:
        log_in(desk, served, "vera", "/queues")
        expect(desk.locator("#refresh-state")).to_have_text("refreshes every 2 s")
        first = desk.locator("#as-of").inner_text()
        expect(desk.locator("#as-of")).not_to_have_text(first, timeout=6000)  # it reloaded
        desk.get_by_role("button", name="Pause").click()
        expect(desk.locator("#refresh-state")).to_have_text("auto-refresh paused")
        paused_at = desk.locator("#as-of").inner_text()
        wall.sleep(4.5)
        assert desk.locator("#as-of").inner_text() == paused_at
        desk.get_by_role("link", name="Sources").click()  # paused from page to page in the tab
        expect(desk.get_by_role("button", name="Resume")).to_be_visible()
        on_sources = desk.locator("#as-of").inner_text()
        wall.sleep(3.5)
        assert desk.locator("#as-of").inner_text() == on_sources
        desk.get_by_role("button", name="Resume").click()
        expect(desk.locator("#as-of")).not_to_have_text(on_sources, timeout=6000)
        # a person typing into a form is never reloaded away
        desk.evaluate(
            "() => { const i = document.createElement('input'); i.id = 'note';"
            " document.querySelector('main').prepend(i); }"
        )
        desk.locator("#note").fill("half a note")
        desk.locator("h1").click()  # the field no longer has the focus, but was typed into
        typed_at = desk.locator("#as-of").inner_text()
        wall.sleep(3.5)
        assert desk.locator("#as-of").inner_text() == typed_at
        assert desk.locator("#note").input_value() == "half a note"
    finally:
        dashboard.refresh_seconds = kept
    dashboard.refresh_seconds = 0
    try:
        desk.goto(served.url + "/queues")
        expect(desk.locator("#as-of")).to_be_visible()
        expect(desk.locator("#refresh-toggle")).to_have_count(0)  # 0: never, and no control
    finally:
        dashboard.refresh_seconds = kept
