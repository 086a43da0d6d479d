"""The dashboard in the real Chromium at 1366x768, over seeded data: every page renders, the
numbers it shows are the database's answer (computed here with SQL of our own, percentiles by
PostgreSQL), no resident ID, card or mobile appears unmasked in any HTML, anonymous requests
go to the login page, and each page leaves a screenshot under ``var/screenshots``.

``LOANHUB_README_SHOTS=docs/images`` also writes the README's pictures there: each page as the
1366x768 screen shows it (the login page too), over the same seeded data."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import text

from tests.loanhub.dashboard.conftest import Served, browser_page
from tests.loanhub.dashboard.serving import PASSWORDS

PAGES = ["/", "/sources", "/queues", "/approvals", "/warnings", "/files"]
ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "var" / "screenshots"
README_PAGES = {"overview", "sources", "queues", "approvals", "warnings", "files", "login"}


def readme_shot(page: Page, name: str) -> None:
    """The README's picture of a page, when asked for (``LOANHUB_README_SHOTS``)."""
    wanted = os.environ.get("LOANHUB_README_SHOTS")
    if wanted and name in README_PAGES:
        folder = ROOT / wanted
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"dashboard-{name}.png"))


@pytest.fixture
def desk(chromium, served: Served) -> Iterator[Page]:
    """A browser at 1366x768 that reads the dashboard in English (test_pages_i18n.py reads it
    in Chinese, as a first visit does)."""
    with browser_page(chromium, served.url) as page:
        yield page


def log_in(page: Page, served: Served, user: str, wanted: str = "/") -> None:
    page.goto(served.url + wanted)
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(served.url + wanted) + r"(\?.*)?$"))


def assert_masked(html: str, served: Served) -> None:
    leaked = [s for s in served.world.secrets if s and s in html]
    assert not leaked, f"unmasked personal data in the page: {len(leaked)} value(s)"


def cell(page: Page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def as_ms(shown: str) -> float:
    number, unit = shown.split()
    return float(number) * (1000 if unit == "s" else 1)


def as_hours(shown: str) -> float:
    number, unit = shown.split()
    return float(number) / (60 if unit == "min" else 1)


def one(served: Served, sql: str, **params) -> float:
    with served.store.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_anonymous_requests_are_sent_to_the_login_page(served: Served, desk: Page):
    for path in [*PAGES, f"/evidence/{served.world.evidence_item}"]:
        desk.goto(served.url + path)
        assert desk.url.startswith(f"{served.url}/login?next=")
        expect(desk.get_by_role("button", name="Log in")).to_be_visible()
    readme_shot(desk, "login")
    plain = requests.get(served.url + "/queues", allow_redirects=False, timeout=10)
    assert plain.status_code == 303
    assert plain.headers["location"] == "/login?next=/queues"
    assert "NEEDS_HUMAN" not in plain.text


def test_a_wrong_password_and_a_foreign_next_are_refused(served: Served, desk: Page):
    desk.goto(served.url + "/login?next=//evil.example/")
    desk.get_by_label("User").fill("vera")
    desk.get_by_label("Password").fill("not her password")
    desk.get_by_role("button", name="Log in").click()
    expect(desk.get_by_role("alert")).to_contain_text("wrong password")
    desk.get_by_label("User").fill("vera")
    desk.get_by_label("Password").fill(PASSWORDS["vera"])
    desk.get_by_role("button", name="Log in").click()
    desk.wait_for_url(served.url + "/")  # home, not the foreign site


def test_every_page_renders_masked_and_fits_the_screen(served: Served, desk: Page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    log_in(desk, served, "otto")
    for path in [*PAGES, f"/evidence/{served.world.evidence_item}"]:
        response = desk.goto(served.url + path)
        assert response is not None
        assert response.status == 200, path
        expect(desk.get_by_role("heading", level=1)).to_be_visible()
        assert_masked(desk.content(), served)
        assert_masked(response.text(), served)
        width = desk.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, f"{path} scrolls sideways at 1366 px ({width} px)"
        name = path.strip("/").split("/")[0] or "overview"
        desk.screenshot(path=str(SHOTS / f"dashboard-{name}.png"), full_page=True)
        readme_shot(desk, name)


def test_overview_shows_todays_runs_from_airflow(served: Served, desk: Page):
    log_in(desk, served, "vera")
    zone = ZoneInfo(served.settings.timezone)
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    with served.airflow.connect() as conn:
        expected = conn.execute(
            text(
                "SELECT dag_id, state, count(*) FROM dag_run "
                "WHERE coalesce(start_date, run_after) >= :since GROUP BY dag_id, state"
            ),
            {"since": today.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")},
        ).all()
    shown_dags = desk.locator("#runs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.dag)")
    failing = {d for d, s, n in expected if s == "failed" and n}
    assert set(shown_dags[: len(failing)]) == failing  # failures first
    for dag_id, state, n in expected:
        assert cell(desk, f'#runs tr[data-dag="{dag_id}"] td[data-state="{state}"]') == str(n)
    assert cell(desk, "#runs-failed") == str(sum(n for _, s, n in expected if s == "failed"))
    assert cell(desk, "#items-stuck") == str(
        int(one(served, "SELECT count(*) FROM work_item WHERE state IN ('NEEDS_HUMAN','IN_DOUBT')"))
    )
    assert cell(desk, "#warnings-open") == str(
        int(one(served, "SELECT count(*) FROM early_warning WHERE acknowledged_at IS NULL"))
    )
    assert "dashboard_seed__old" not in desk.content()  # two days ago: not today


def test_sources_show_calls_success_and_percentiles_as_the_database_computes_them(
    served: Served, desk: Page
):
    log_in(desk, served, "vera", "/sources")
    window = "started_at >= now() - interval '24 hours'"
    for system, key in [("bureau", "bureau"), ("ss", "social_security"), ("gateway", "gateway")]:
        row = f'#sources tr[data-system="{key}"]'
        calls = one(
            served, f"SELECT count(*) FROM source_call WHERE system = :s AND {window}", s=system
        )
        ok = one(
            served,
            "SELECT count(*) FROM source_call WHERE system = :s "
            f"AND outcome IN ('ok', 'business') AND {window}",
            s=system,
        )
        p50, p95 = (
            one(
                served,
                f"SELECT percentile_cont({q}) WITHIN GROUP (ORDER BY duration_ms) "
                f"FROM source_call WHERE system = :s AND {window}",
                s=system,
            )
            for q in (0.5, 0.95)
        )
        assert cell(desk, f'{row} td[data-field="calls"]') == str(calls)
        assert cell(desk, f'{row} td[data-field="success"]') == f"{ok / calls * 100:.1f} %"
        assert as_ms(cell(desk, f'{row} td[data-field="p50"]')) == pytest.approx(p50, abs=5)
        assert as_ms(cell(desk, f'{row} td[data-field="p95"]')) == pytest.approx(p95, abs=5)
    # freshness is only shown for systems that give the store data
    assert cell(desk, '#sources tr[data-system="gateway"] td[data-field="freshness"]') == (
        "receives only"
    )


def test_queues_list_what_waits_for_a_person_with_its_evidence(served: Served, desk: Page):
    log_in(desk, served, "otto", "/queues")
    for state in ("NEEDS_HUMAN", "IN_DOUBT", "DONE", "FAILED"):
        n = one(served, "SELECT count(*) FROM work_item WHERE state = :s", s=state)
        assert cell(desk, f'.tile [data-state="{state}"]') == str(n)
    with served.store.connect() as conn:
        stuck = (
            conn.execute(
                text(
                    "SELECT id FROM work_item WHERE state IN ('NEEDS_HUMAN','IN_DOUBT') "
                    "ORDER BY updated_at, id"
                )
            )
            .scalars()
            .all()
        )
    shown = desk.locator("#stuck tbody tr").evaluate_all("rows => rows.map(r => +r.dataset.item)")
    assert shown == stuck
    desk.locator(f'#stuck tr[data-item="{served.world.evidence_item}"]').get_by_role(
        "link", name="evidence"
    ).click()
    expect(desk.locator("#evidence-text")).to_contain_text("unrecognised screen")
    preview = desk.locator("#evidence-text").inner_text()
    assert served.world.ids[0] not in preview
    assert "*" in preview
    shot = desk.get_by_role("img", name=re.compile("screen"))
    assert shot.evaluate("img => img.naturalWidth") == 1
    trace = requests.get(
        f"{served.url}/evidence/{served.world.evidence_item}/trace.zip",
        cookies={c["name"]: c["value"] for c in desk.context.cookies()},
        timeout=10,
    )
    assert trace.status_code == 404  # the unmasked trace is never served


def test_approvals_show_cycle_times_and_rates(served: Served, desk: Page):
    log_in(desk, served, "vera", "/approvals")
    decisions = one(served, "SELECT count(*) FROM decision")
    automated = one(served, "SELECT count(*) FROM decision WHERE decided_by LIKE 'rule:%'")
    cycle = one(
        served,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
        "d.decided_at - a.submitted_at) / 3600) FROM decision d "
        "JOIN application a USING (application_no)",
    )
    settle = one(
        served,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
        "s.settled_at - s.requested_at) / 3600) FROM disbursement s WHERE s.settled_at IS NOT NULL",
    )
    assert cell(desk, "#decisions") == str(decisions)
    assert cell(desk, "#automation-rate") == f"{automated / decisions * 100:.1f} %"
    assert cell(desk, "#referral-rate") == f"{(decisions - automated) / decisions * 100:.1f} %"
    assert as_hours(cell(desk, "#cycle-median")) == pytest.approx(float(cycle), abs=0.05)
    settling = cell(desk, '#steps tr[data-step="settling"] td[data-field="median"]')
    assert as_hours(settling) == pytest.approx(float(settle), abs=0.05)
    expect(desk.get_by_role("img", name="Median wait per step (hours)")).to_be_visible()


def test_warnings_by_rule_severity_and_class_and_an_operator_acknowledges(
    served: Served, desk: Page
):
    log_in(desk, served, "otto", "/warnings")
    with served.store.connect() as conn:
        open_by_rule = dict(
            conn.execute(
                text(
                    "SELECT rule, count(*) FROM early_warning WHERE acknowledged_at IS NULL "
                    "GROUP BY rule"
                )
            ).all()
        )
    rows = desk.locator("#warnings tbody tr")
    expect(rows).to_have_count(sum(open_by_rule.values()))
    chart = desk.get_by_role("img", name="Open warnings by rule")
    for rule, n in open_by_rule.items():
        expect(chart.locator("title", has_text=f"{rule}: {n}")).to_have_count(1)
    expect(desk.get_by_role("img", name="Open warnings by five-tier class")).to_contain_text("关注")

    first = rows.first
    key = first.get_attribute("data-key")
    first.get_by_role("button", name="Acknowledge").click()
    expect(rows).to_have_count(sum(open_by_rule.values()) - 1)
    assert (
        one(
            served,
            "SELECT count(*) FROM early_warning WHERE warning_key = :k "
            "AND acknowledged_at IS NOT NULL",
            k=key,
        )
        == 1
    )
    assert (
        one(
            served,
            "SELECT count(*) FROM audit_event WHERE action = 'warning.acknowledged' "
            "AND subject = :k AND actor = 'dashboard:otto'",
            k=key,
        )
        == 1
    )


def test_a_viewer_may_not_open_evidence_or_acknowledge(served: Served, desk: Page):
    log_in(desk, served, "vera", "/queues")
    expect(desk.get_by_role("link", name="evidence")).to_have_count(0)
    response = desk.goto(f"{served.url}/evidence/{served.world.evidence_item}")
    assert response is not None
    assert response.status == 403
    desk.goto(served.url + "/warnings")
    expect(desk.get_by_role("button", name="Acknowledge")).to_have_count(0)


def test_files_show_receipts_rejections_and_quarantine(served: Served, desk: Page):
    log_in(desk, served, "vera", "/files")
    receipts = one(served, "SELECT count(*) FROM file_receipt")
    quarantined = one(served, "SELECT count(*) FROM quarantined_record")
    expect(desk.locator("#receipts tbody tr")).to_have_count(receipts)
    expect(desk.get_by_role("heading", level=1)).to_contain_text(
        f"{quarantined} records quarantined"
    )
    rejected = desk.locator("#receipts tr.bad")
    expect(rejected).to_have_count(
        one(served, "SELECT count(*) FROM file_receipt WHERE state = 'REJECTED'")
    )
    expect(rejected.first).to_contain_text("trailer count")
    expect(desk.locator("#quarantined")).to_contain_text("DTL-DUE-DATE: not a date")
