"""The case file of applications that went through the real credit lifecycle: intake, harvest
from every simulated legacy system, profile, the rules (a referral answered by an approver),
the LOS posting (a held approval confirmed by its checker), booking and payment with the
gateway's pain.002, and two nights of repayments with their warnings, all by the functions the
DAG tasks call. Then the case file's numbers are checked against the store with queries of
our own; the CLI, the standalone file and the dashboard page (the real uvicorn server, in
Chromium at 1366x768) show no resident ID, card number or mobile in clear.

Its own simulators (another seed): the session's LOS and gateway remember what other tests
posted and paid on the default data set's applications.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from devtools.los_checker import confirm_held, held_in_store
from devtools.synthetic import los_intake
from kernel.calls import SUCCESSFUL, CallOutcome
from loanhub.cli import app as cli
from loanhub.dashboard.i18n import COOKIE
from loanhub.flows import disburse
from loanhub.flows.casefile import CaseFile, build
from loanhub.flows.casefile.render import render_standalone
from loanhub.flows.intake import load_applicants
from loanhub.flows.rules import RuleSet
from loanhub.platform.masking import mask_text
from loanhub.runtime import tasks
from loanhub.runtime.settings import HubSettings
from schemas.tables import (
    applicant_profile,
    audit_event,
    core_account,
    decision,
    disbursement,
    loan,
    payment_file,
    repayment_installment,
    source_call,
)
from tests.conftest import FAST, SimAdmin, scratch_store
from tests.loanhub.dashboard.serving import PASSWORDS, serving
from tests.simulators.portal_pages import los_users

SEED = 20191  # not the session's seed: an LOS and a gateway nobody else posted to
TAKEN = 8  # the first persons' applications waiting in this LOS
MAKER = "ops_casefile"
CARD = "6222021234567890128"  # Luhn-valid: a card number written into an application
MOBILES = ["13912345678", "15811112222"]
SHOTS = Path("/tmp/shots")


@dataclass
class Lived:
    engine: Engine
    url: str
    settings: HubSettings
    numbers: list[str]
    secrets: list[str]
    nights: list[date]
    admin: SimAdmin


def nights_after(paid_out: date, months: int) -> date:
    """Five days after the ``months``-th installment of a loan paid out on ``paid_out``."""
    index = paid_out.month - 1 + months
    due = paid_out.replace(year=paid_out.year + index // 12, month=index % 12 + 1, day=1)
    return due.replace(day=min(paid_out.day, 28)) + timedelta(days=5)


def until(check, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def sim_dir3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("sim-casefile")
    cmd = [sys.executable, "-m", "simulators"]
    up = [*cmd, "up", "--data-dir", str(data_dir), "--seed", str(SEED), "--persons", "40"]
    subprocess.run(up, check=True, timeout=60)
    yield data_dir
    subprocess.run([*cmd, "down", "--data-dir", str(data_dir)], check=True, timeout=60)


@pytest.fixture(scope="module")
def lived(sim_dir3: Path, chromium, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lived]:
    endpoints = json.loads((sim_dir3 / "endpoints.json").read_text())
    admin = SimAdmin(endpoints)
    admin.post("/controls/reset", {})
    admin.controls(FAST)
    for user in los_users(endpoints):
        admin.post("/unlock", {"system": "los", "user": user["username"]})
    admin.post("/unlock", {"system": "ss", "user": endpoints["ss_portal"]["username"]})
    dataset = requests.get(f"{endpoints['admin']['url']}/dataset", timeout=60).json()
    apps = [a for a in dataset["applications"] if a.get("applicant_kind", "PERSON") == "PERSON"]
    apps = apps[:TAKEN]
    with scratch_store("loanhub_casefile") as url:
        data_dir = tmp_path_factory.mktemp("casefile-hub")
        settings = HubSettings(data_dir=data_dir, sim_dir=sim_dir3, database_url=url)
        hub = tasks.Hub(settings)
        hub.__dict__["chromium"] = chromium  # the module's browser: one Playwright per thread
        before, tasks.Hub._current = tasks.Hub._current, hub
        try:
            numbers, secrets = intake(hub.engine, apps)
            nights = run_lifecycle(hub, admin, endpoints, numbers)
            secrets += accounts(hub.engine)
            yield Lived(hub.engine, url, settings, numbers, secrets, nights, admin)
        finally:
            tasks.Hub._current = before
            hub.__dict__.pop("bots", None)
            hub.engine.dispose()


def intake(engine: Engine, apps: list[dict]) -> tuple[list[str], list[str]]:
    """The day's intake, with a mobile on two applicants and a card number written into one
    application's purpose: what the case file must never show in clear."""
    records = los_intake(apps, datetime.now(UTC))
    for record, mobile in zip(records, MOBILES, strict=False):
        record["party"]["mobile"] = mobile
    records[0]["application"]["purpose"] = f"consolidate the card {CARD}"
    assert load_applicants(engine, records, source_ref="los-daily-list").loaded == len(apps)
    ids = [a["id_number"] for a in apps] + [
        a["guarantor_id_number"] for a in apps if a.get("guarantor_id_number")
    ]
    return [a["application_no"] for a in apps], [*ids, CARD, *MOBILES]


def accounts(engine: Engine) -> list[str]:
    """The deposit accounts paid into and the applicants' accounts at the core: printed, they
    are masked like a card (issuer prefix and last four)."""
    with engine.connect() as conn:
        paid = conn.execute(select(disbursement.c.creditor_account)).scalars().all()
        held = conn.execute(select(core_account.c.account_no)).scalars().all()
    assert paid
    return sorted(a for a in {*paid, *held} if a.isdigit())  # a loan account "LN..." is ours


def run_lifecycle(
    hub: tasks.Hub, admin: SimAdmin, endpoints: dict, numbers: list[str]
) -> list[date]:
    for source in ("bureau", "core", "social_security"):
        tasks.harvest_source(source, numbers)
    asked = tasks.submit_tax(numbers)
    until(lambda: tasks.collect_tax(asked["request"], numbers), "the tax answer")
    tasks.build_profiles(numbers)
    for referral in tasks.evaluate(numbers, "credit-v1", MAKER):
        answered = tasks.record_review(
            referral,
            chosen="Approve",
            responder=referral["approvers"][0],
            comment="documents seen",
            maker=MAKER,
            rule_set="credit-v1",
        )
        assert answered == "APPROVE"
    tasks.post_decisions(numbers)
    held = held_in_store(hub.engine)
    if held:
        confirm_held(endpoints["los"], held)
        tasks.refresh_pending_reviews()
    tasks.book_loans()
    tasks.send_payments()

    def settled() -> bool:
        tasks.settle_payments()
        return not disburse.msg_ids_in_flight(hub.engine)

    until(settled, "the gateway's status reports")
    paid_out = datetime.now(UTC).date()
    nights = [nights_after(paid_out, 1), nights_after(paid_out, 2)]
    for night in nights:
        admin.post("/extract", {"business_date": night.isoformat()})
        report = tasks.fetch_and_ingest_extract(night)
        assert report is not None
        tasks.reconcile_extract(night, report)
        tasks.raise_warnings(night)
    tasks.notify_warnings()
    return nights


def scalar(engine: Engine, query) -> object:
    with engine.connect() as conn:
        return conn.execute(query).scalar()


# -- the numbers -------------------------------------------------------------------------------


def test_the_lifecycle_went_everywhere_a_case_file_must_show(lived: Lived):
    """Guards the scenario itself: a person answered a referral, the LOS checker confirmed a
    held approval, a tranche was paid and installments were extracted."""
    with lived.engine.connect() as conn:
        by = Counter(
            "rule" if d.startswith("rule:") else "person"
            for d in conn.execute(select(decision.c.decided_by)).scalars()
        )
        checked = conn.execute(
            select(func.count()).where(audit_event.c.action == "decision.los_status")
        ).scalar_one()
        paid = conn.execute(
            select(func.count()).where(disbursement.c.status == "ACSC")
        ).scalar_one()
        installments = conn.execute(
            select(func.count()).select_from(repayment_installment)
        ).scalar_one()
    assert by["person"] >= 1, by
    assert by["rule"] >= 1, by
    assert checked >= 1
    assert paid >= 1
    assert installments >= 1


def test_every_case_files_numbers_are_the_stores(lived: Lived):
    rules = RuleSet.load()
    for number in lived.numbers:
        case = build(lived.engine, number)
        check_against_store(lived.engine, case, rules)


def check_against_store(engine: Engine, case: CaseFile, rules: RuleSet) -> None:
    number = case.application_no
    with engine.connect() as conn:
        calls = conn.execute(
            select(source_call.c.system, source_call.c.outcome, source_call.c.duration_ms).where(
                source_call.c.subject == number
            )
        ).all()
        made = conn.execute(select(decision).where(decision.c.application_no == number)).first()
        profiles = conn.execute(
            select(func.count()).where(applicant_profile.c.application_no == number)
        ).scalar_one()
        lent = conn.execute(select(loan).where(loan.c.application_no == number)).first()
        audited = conn.execute(
            select(func.count()).where(audit_event.c.subject == number)
        ).scalar_one()
    # calls: every call journaled for it, counted per system, successes and time as stored
    assert len(case.calls) == len(calls) > 0
    for total in case.call_totals:
        mine = [c for c in calls if c.system == total.system]
        assert total.calls == len(mine)
        assert total.successful == sum(CallOutcome(c.outcome) in SUCCESSFUL for c in mine)
        assert total.total_ms == sum(c.duration_ms for c in mine)
    assert {t.system for t in case.call_totals} >= {"bureau", "core", "ss"}
    # facts: the bureau report, the tax answer, the contribution months, the core's facts
    sources = {f.source for f in case.facts}
    assert sources >= {"bureau", "tax"}
    (decided_on,) = [p for p in case.profiles if p.decided_on]
    assert ("core" in sources) is (decided_on.values["core_customer_no"] is not None)
    assert ("social_security" in sources) is (decided_on.values["ss_latest_month"] is not None)
    assert all(len(f.trace.raw_payload_hash) == 64 for f in case.facts)
    assert len(case.profiles) == profiles
    # the decision and its breakdown
    assert made is not None
    d = case.decision
    assert (d.outcome, d.decided_by, d.score) == (made.outcome, made.decided_by, made.score)
    assert d.rule_set_version == made.rule_set_version == rules.version
    x = d.evaluation.explanation
    assert x is not None
    assert x.score == made.score  # the factor breakdown adds up to the stored score
    assert max(0, min(100, sum(line.points for line in x.lines))) == made.score
    assert d.evaluation.agrees is True
    assert d.evaluation.notes == ()
    assert [p.decided_on for p in case.profiles].count(True) == 1
    if d.by_rule:
        assert x.outcome == made.outcome
        assert d.referral is None
    else:
        assert x.outcome == "REFER"
        assert d.referral is not None
        assert d.referral.referred_at, "when it was referred"
        assert d.referral.answered_by == made.decided_by
        assert d.referral.answered_at == made.decided_at
        assert d.referral.score == made.score
    if made.los_reference:
        assert d.los_history[0].reference == made.los_reference
        assert d.los_history[-1].status == made.los_status
    # the loan, its tranches and their pain.002 statuses, its installments
    if lent is None:
        assert case.loans == ()
    else:
        (shown,) = case.loans
        with engine.connect() as conn:
            tranches = conn.execute(
                select(disbursement).where(disbursement.c.loan_account == lent.loan_account)
            ).all()
            files = conn.execute(
                select(func.count()).where(
                    payment_file.c.end_to_end_id.in_([t.end_to_end_id for t in tranches])
                )
            ).scalar_one()
            rows = conn.execute(
                select(repayment_installment).where(
                    repayment_installment.c.loan_account == lent.loan_account
                )
            ).all()
        assert shown.principal == lent.principal
        assert [(t.amount, t.status) for t in shown.tranches] == [
            (t.amount, t.status) for t in tranches
        ]
        assert sum(len(t.files) for t in shown.tranches) == files
        assert shown.disbursed == sum(
            (t.amount for t in tranches if t.status == "ACSC"), Decimal(0)
        )
        assert len(shown.installments) == len(rows)
        assert shown.repaid == sum((r.principal_paid + r.interest_paid for r in rows), Decimal(0))
        unpaid = [
            r.days_past_due
            for r in rows
            if r.status != "D"
            and r.principal_paid + r.interest_paid < r.principal_due + r.interest_due
        ]
        assert shown.dpd_now == max(unpaid, default=0)
        assert shown.history, "days past due over time"
    # the audit chain: every event naming the application is there
    assert sum(a.subject == number for a in case.audit) == audited
    assert any(a.action == "decision.recorded" for a in case.audit)
    assert case.timeline == tuple(sorted(case.timeline, key=lambda e: e.at))


def test_a_referred_and_paid_application_shows_who_answered_and_the_pain002(lived: Lived):
    with lived.engine.connect() as conn:
        chosen = (
            conn.execute(
                select(decision.c.application_no)
                .join(loan, loan.c.application_no == decision.c.application_no)
                .join(disbursement, disbursement.c.loan_account == loan.c.loan_account)
                .where(disbursement.c.status == "ACSC")
                .order_by(decision.c.decided_by.like("rule:%"), decision.c.application_no)
            )
            .scalars()
            .first()
        )
    case = build(lived.engine, chosen)
    d = case.decision
    assert d.outcome == "APPROVE"
    assert d.los_history[-1].status == "APPROVED"
    (tranche,) = case.loans[0].tranches
    assert tranche.status == "ACSC"
    assert [f.gateway_status for f in tranche.files] == ["ACSC"]
    kinds = {e.kind for e in case.timeline}
    assert {"submitted", "consent", "fact", "profiled", "decided", "los_status", "booked"} <= kinds
    assert {"tranche", "settled"} <= kinds
    assert {i.kind for i in case.work_items} >= {"bureau_query", "los_decision", "payment"}


# -- masked wherever it is printed -------------------------------------------------------------


def clear(secrets: list[str], shown: str) -> list[str]:
    return [s for s in secrets if s in shown]


def test_the_cli_prints_every_case_masked_and_refuses_an_unknown_one(lived: Lived):
    runner = CliRunner()
    for number in lived.numbers:
        for extra in ([], ["--json"]):
            out = runner.invoke(cli, ["case", number, "--url", lived.url, *extra])
            assert out.exit_code == 0, out.output
            assert number in out.output
            assert not clear(lived.secrets, out.output)
    image = json.loads(
        runner.invoke(cli, ["case", lived.numbers[0], "--url", lived.url, "--json"]).output
    )
    assert image["application_no"] == lived.numbers[0]
    assert image["decisions"][-1]["score"] == scalar(
        lived.engine, select(decision.c.score).where(decision.c.application_no == lived.numbers[0])
    )
    missing = runner.invoke(cli, ["case", "NO-SUCH-APP", "--url", lived.url])
    assert missing.exit_code == 1
    assert missing.output.strip().splitlines() == ["no application 'NO-SUCH-APP' in the store"]


def test_the_cli_finds_by_id_number_masked_and_audited(lived: Lived):
    runner = CliRunner()
    applicant = lived.secrets[0]
    out = runner.invoke(cli, ["case", "--id-number", applicant, "--url", lived.url])
    assert out.exit_code == 0, out.output
    assert lived.numbers[0] in out.output
    assert applicant not in out.output
    with lived.engine.connect() as conn:
        searched = conn.execute(
            select(audit_event.c.actor, audit_event.c.subject, audit_event.c.after).where(
                audit_event.c.action == "case.searched_by_id"
            )
        ).all()
    assert searched[-1].actor == lived.settings.actor
    assert searched[-1].subject == applicant[0] + "*" * 16 + applicant[-1]
    assert searched[-1].after["found"] == [lived.numbers[0]]
    assert applicant not in json.dumps([list(r) for r in searched], default=str)


def test_the_standalone_file_is_self_contained_and_masked(lived: Lived):
    html = render_standalone(lived.engine, lived.numbers[0]).decode("utf-8")
    assert html.startswith("<!doctype html>")
    assert not clear(lived.secrets, html)
    assert mask_text(CARD) in html  # the card is there, masked
    assert not re.search(r"<script|<link|<img|@import|url\(", html, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
    assert lived.numbers[0] in html


# -- the page on the real dashboard ------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(lived: Lived) -> Iterator[str]:
    with serving(lived.settings) as url:
        yield url


def session(url: str, user: str) -> requests.Session:
    http = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', http.get(f"{url}/login").text)[1]
    answer = http.post(
        f"{url}/login",
        data={"username": user, "password": PASSWORDS[user], "csrf": token},
        allow_redirects=False,
    )
    assert answer.status_code == 303
    return http


def test_every_case_page_over_http_is_masked_and_shows_the_stores_score(
    lived: Lived, dashboard: str
):
    for user in ("vera", "otto"):
        http = session(dashboard, user)
        for number in lived.numbers:
            page = http.get(f"{dashboard}/case/{number}")
            assert page.status_code == 200
            assert not clear(lived.secrets, page.text)
            score = scalar(
                lived.engine, select(decision.c.score).where(decision.c.application_no == number)
            )
            assert f'id="cf-score">{score}<' in page.text
        assert http.get(f"{dashboard}/case/NO-SUCH").status_code == 404
        found = http.get(f"{dashboard}/case", params={"q": lived.numbers[0]}, allow_redirects=False)
        assert found.headers["location"] == f"/case/{lived.numbers[0]}"


def test_the_case_page_in_chromium_at_1366x768(lived: Lived, dashboard: str, chromium):
    with lived.engine.connect() as conn:
        number = (
            conn.execute(
                select(loan.c.application_no)
                .join(decision, decision.c.application_no == loan.c.application_no)
                .order_by(decision.c.decided_by.like("rule:%"), loan.c.application_no)
            )
            .scalars()
            .first()
        )
    context = chromium.browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(10_000)
    context.add_cookies([{"name": COOKIE, "value": "en", "url": dashboard}])  # English steps
    page: Page = context.new_page()
    try:
        page.goto(f"{dashboard}/case/{number}")
        page.get_by_label("User").fill("otto")
        page.get_by_label("Password").fill(PASSWORDS["otto"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(re.escape(f"{dashboard}/case/{number}")))
        assert page.locator("#cf-status").inner_text()
        with lived.engine.connect() as conn:
            score = conn.execute(
                select(decision.c.score).where(decision.c.application_no == number)
            ).scalar_one()
        assert page.locator("#cf-score").inner_text() == str(score)
        points = [
            int(p)
            for p in page.locator("#cf-rules .cf-eval")
            .last.locator("[data-field=points]")
            .all_inner_texts()
        ]
        assert max(0, min(100, sum(points))) == score
        assert not clear(lived.secrets, page.content())
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, "the page fits the screen's width"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "casefile-top.png"))
        page.screenshot(path=str(SHOTS / "casefile-full.png"), full_page=True)
        for section in page.locator("#casefile section.card").all():
            name = section.get_attribute("id").removeprefix("cf-")
            section.scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"casefile-{name}.png"))
        page.set_content(render_standalone(lived.engine, number).decode("utf-8"))
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "casefile-standalone.png"))
        # the same page in Chinese, the dashboard's default, once the switch is used
        page.goto(f"{dashboard}/language/zh-CN?next=/case/{number}")
        page.wait_for_url(re.compile(re.escape(f"{dashboard}/case/{number}")))
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("#cf-score").inner_text() == str(score)
        assert not clear(lived.secrets, page.content())
        page.screenshot(path=str(SHOTS / "casefile-zh-CN-top.png"))
        page.screenshot(path=str(SHOTS / "casefile-zh-CN-full.png"), full_page=True)
    finally:
        context.close()


def test_nothing_of_this_module_was_left_in_doubt(lived: Lived):
    with lived.engine.connect() as conn:
        stuck = conn.execute(
            text("SELECT count(*) FROM work_item WHERE state IN ('IN_DOUBT', 'IN_PROGRESS')")
        ).scalar_one()
    assert stuck == 0
