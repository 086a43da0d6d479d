"""Post-loan re-pull against the simulators on PostgreSQL: reason 02 at the bureau, the portal
again, warnings from what the sources now say, raised once."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete, select, update

from devtools.synthetic import los_intake
from loanhub.flows import harvest, postloan, warnings
from loanhub.flows.harvest import settle_bureau_inquiries
from loanhub.flows.intake import load_applicants
from loanhub.platform.consents import ConsentBook
from loanhub.platform.ledger import WorkItemLedger
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.tasks import Hub
from loanhub.runtime.wiring import HubBots
from schemas.lending import Loan
from schemas.tables import consent, early_warning, fact_row, loan, tax_profile
from schemas.types import utcnow
from tests.loanhub.flows.test_bureau_inquiries import inquiries
from tests.loanhub.flows.test_rules import profile

TODAY = utcnow().date()  # the day these tests run (the zone is not what they check)


def active_loan(engine, app, loan_account: str, days_ago: int = 0, applied_before: int = 0) -> None:
    """The application taken in from the LOS ``applied_before`` days before a loan was paid
    out on it, ``days_ago`` (today, unless said)."""
    paid_out = datetime.now(UTC) - timedelta(days=days_ago)
    records = los_intake([dataclasses.asdict(app)], paid_out - timedelta(days=applied_before))
    load_applicants(engine, records, source_ref="los-list")
    made = Loan(
        loan_account=loan_account,
        application_no=app.application_no,
        customer_no="C1",
        principal=Decimal("100000"),
        annual_rate=Decimal("4.35"),
        term_months=12,
        start_date=paid_out.date(),
        lineage=profile().lineage,
    )
    with engine.begin() as conn:
        conn.execute(loan.insert().values(fact_row(made)))


def test_repull_asks_the_bureau_for_post_loan_and_warns_once(
    sim,
    sim_dir,
    sim_dataset,
    pg_url,
    pg_engine,
    tmp_path: Path,
    chromium,
):
    people = {p.id_number: p for p in sim_dataset.persons}
    app = next(
        a
        for a in sim_dataset.applications[60:80]
        if people[a.id_number].known_to_bureau
        and people[a.id_number].contributions
        and max(people[a.id_number].contributions, key=lambda c: c.month).status == "欠缴"
    )
    active_loan(pg_engine, app, "LNPOST0001")
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    hub = Hub(settings)
    bots = HubBots.build(settings, pg_engine, chromium)
    assert postloan.active_applications(pg_engine) == [app.application_no]
    first = postloan.repull(
        pg_engine,
        hub.bureau,
        bots.social_security,
        [app.application_no],
        "领航银行",
        today=TODAY,
        zone=UTC,
    )
    assert first >= 1
    with pg_engine.connect() as conn:
        rules = set(conn.execute(select(early_warning.c.rule)).scalars())
    assert "contributions_owed" in rules
    reasons = [q.get("reason") or q.get("queryReason") for q in sim.journal("bureau", "query")]
    assert "02" in reasons
    again = postloan.repull(
        pg_engine,
        hub.bureau,
        bots.social_security,
        [app.application_no],
        "领航银行",
        today=TODAY,
        zone=UTC,
    )
    assert again == 0  # the same state raises nothing new


def test_a_tax_re_pull_is_kept_beside_origination_and_a_downgrade_warns_once(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    people = {p.id_number: p for p in sim_dataset.persons}
    app = next(
        a
        for a in sim_dataset.applications[70:80]
        if people[a.id_number].tax and people[a.id_number].tax.rating in "AB"
    )
    active_loan(pg_engine, app, "LNPOST0002")
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    hub = Hub(settings)
    tax = hub.connectors.tax
    batch = harvest.applicants(pg_engine, [app.application_no])
    ledger = WorkItemLedger(pg_engine, owner="test")

    def ask(purpose: str, suffix: str) -> str:
        day = date(2026, 7, 7)  # a day of its own: the authority answers a file name once
        seq = harvest.tax_request_seq(ledger, day, [app.application_no], purpose)
        reason = "01" if purpose == "harvest" else postloan.POST_LOAN
        queries = harvest.tax_queries(ConsentBook(pg_engine), batch, suffix, reason)
        request = tax.submit(queries, day, seq)
        deadline = time.monotonic() + 30
        while not harvest.collect_tax(pg_engine, tax, hub.receipts, request, batch, suffix):
            assert time.monotonic() < deadline, "no tax answer"
            time.sleep(0.1)
        return request

    at_origination = ask("harvest", "")
    # the authority has since rated the applicant D
    sim.controls({"tax": {"answer": {"ratings": {app.id_number: "D"}}}})
    re_pull = ask("post_loan", "-R261124")
    assert re_pull != at_origination  # its own file: the authority answers a name once
    with pg_engine.connect() as conn:
        answers = conn.execute(
            select(tax_profile.c.request_id, tax_profile.c.tax_credit_rating)
            .where(tax_profile.c.id_or_uscc == app.id_number)
            .order_by(tax_profile.c.fetched_at)
        ).all()
    assert [tuple(r) for r in answers] == [
        (app.application_no, people[app.id_number].tax.rating),
        (f"{app.application_no}-R261124", "D"),
    ]
    assert warnings.post_loan_warnings(pg_engine, [app.application_no], "领航银行", TODAY) >= 1
    with pg_engine.connect() as conn:
        downgrades = (
            conn.execute(
                select(early_warning.c.message).where(
                    early_warning.c.rule == "tax_rating_downgrade"
                )
            )
            .scalars()
            .all()
        )
    assert downgrades == [f"LNPOST0002: tax rating {people[app.id_number].tax.rating} -> D"]
    assert warnings.post_loan_warnings(pg_engine, [app.application_no], "领航银行", TODAY) == 0


def test_one_applicant_failing_never_stops_the_bureau_re_pull_of_the_others(
    sim, sim_endpoints, sim_dataset, pg_engine, evidence
):
    """In one batch: a lost answer (in doubt), no consent for post-loan (refused), a key taken
    by another effect (conflict), and one that goes through: each counted, none stopping the
    rest; nothing among them is worth a task retry."""
    people = {p.id_number: p for p in sim_dataset.persons}
    apps = sorted(
        (a for a in sim_dataset.applications[60:80] if people[a.id_number].known_to_bureau),
        key=lambda a: a.application_no,
    )[:4]
    for n, app in enumerate(apps):
        active_loan(pg_engine, app, f"LNISO{n:05d}")
    lost, unconsented, conflicting, fine = apps
    with pg_engine.begin() as conn:
        conn.execute(
            delete(consent).where(
                consent.c.party_id_number == unconsented.id_number, consent.c.reason == "02"
            )
        )
    other = WorkItemLedger(pg_engine, owner="elsewhere")
    taken = other.claim(
        harvest.BUREAU_QUERY,
        f"{conflicting.application_no}:{conflicting.id_number}:02",
        {"something": "else"},
    )
    other.complete(taken, {})
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    bureau = inquiries(sim_endpoints, evidence, pg_engine)
    outcome = postloan.repull_bureau(pg_engine, bureau, [a.application_no for a in apps])
    assert outcome.counts() == {"ok": 1, "refused": 1, "in_doubt": 1, "conflicts": 1, "failed": 0}
    assert outcome.errors == []  # the task has nothing worth retrying
    asked = {q["subject"] for q in sim.journal("bureau", "query")}
    assert asked == {lost.id_number, fine.id_number}
    # the next run settles the lost one by reading it, and asks nobody twice
    assert settle_bureau_inquiries(bureau.guard.ledger, bureau.bureau)["done"] == 1
    again = postloan.repull_bureau(pg_engine, bureau, [a.application_no for a in apps])
    assert again.counts() == {"ok": 2, "refused": 1, "conflicts": 1, "failed": 0}
    assert len(sim.journal("bureau", "query")) == 2


def test_a_loan_older_than_90_days_is_still_re_pulled_with_reason_02(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path, chromium
):
    """Application 23, applied for 200 days ago and paid out 150 days ago: the approval's
    consents (90 days) have long lapsed, the post-loan ones last the loan's life. The bureau
    is asked with reason 02 under the post-loan consent, the portal too, the tax file would
    carry the post-loan consent; no lapse warning (they outlast the loan)."""
    app = sim_dataset.applications[23]
    active_loan(pg_engine, app, "LNOLD00023", days_ago=150, applied_before=50)
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    hub = Hub(settings)
    bots = HubBots.build(settings, pg_engine, chromium)
    postloan.repull(
        pg_engine,
        hub.bureau,
        bots.social_security,
        [app.application_no],
        "领航银行",
        today=TODAY,
        zone=UTC,
    )
    (asked,) = sim.journal("bureau", "query")
    assert (asked["subject"], asked["reason"]) == (app.id_number, "02")
    assert asked["consent_ref"] == f"CNS-{app.application_no}-BUR02"
    assert app.id_number in {j["id_number"] for j in sim.journal("ss", "lookup")}
    batch = harvest.applicants(pg_engine, [app.application_no])
    (query,) = harvest.tax_queries(hub.consents, batch, "-R261124", postloan.POST_LOAN)
    assert query.consent_ref == f"CNS-{app.application_no}-TAX02"
    assert harvest.tax_queries(hub.consents, batch, "-R261124", "01") == []  # lapsed
    with pg_engine.connect() as conn:
        lapsing = conn.execute(
            select(early_warning.c.id).where(early_warning.c.rule == "consent_lapsing")
        ).all()
    assert lapsing == []


def test_a_post_loan_consent_lapsing_before_the_loan_matures_warns_once(pg_engine, sim_dataset):
    """Application 24, a 12-month loan paid out today: its post-loan TAX consent lapses in 10
    days, its SOCIAL_SECURITY one in 40 (outside the 30-day window until 15 days from now),
    its BUREAU one outlasts the loan, CORE is not re-pulled. Each lapsing consent warns once,
    however often the check runs; a closed loan warns of nothing."""
    app = sim_dataset.applications[24]
    active_loan(pg_engine, app, "LNLAPSE024")
    now = utcnow()
    refs = {}
    with pg_engine.begin() as conn:
        for scope, days in (("TAX", 10), ("SOCIAL_SECURITY", 40), ("CORE", 1)):
            refs[scope] = f"CNS-{app.application_no}-{scope[:3]}02"
            conn.execute(
                update(consent)
                .where(consent.c.consent_ref == refs[scope])
                .values(expires_at=now + timedelta(days=days))
            )
    book = ConsentBook(pg_engine)
    today = now.date()

    def check(day: date) -> int:
        return postloan.consent_lapse_warnings(
            pg_engine, book, [app.application_no], 30, day, zone=UTC
        )

    assert check(today) == 1
    assert check(today) == 0  # the same consent: nothing new
    assert check(today + timedelta(days=15)) == 1  # social security is now within 30 days
    assert check(today + timedelta(days=16)) == 0  # the tax one has lapsed: still the same one
    with pg_engine.connect() as conn:
        raised = conn.execute(
            select(early_warning.c.warning_key, early_warning.c.severity, early_warning.c.message)
            .where(early_warning.c.rule == "consent_lapsing")
            .order_by(early_warning.c.id)
        ).all()
    assert [(k, s) for k, s, _ in raised] == [
        (f"consent_lapse:LNLAPSE024:{refs['TAX']}", "WATCH"),
        (f"consent_lapse:LNLAPSE024:{refs['SOCIAL_SECURITY']}", "WATCH"),
    ]
    matures = postloan.maturity(today, 12)
    assert f"before the loan matures on {matures:%Y-%m-%d}" in raised[0][2]
    with pg_engine.begin() as conn:  # no post-loan bureau consent at all: the re-pull stops
        conn.execute(delete(consent).where(consent.c.consent_ref.like("%-BUR02")))
    assert check(today + timedelta(days=16)) == 1
    with pg_engine.connect() as conn:
        severity = conn.execute(
            select(early_warning.c.severity).where(
                early_warning.c.warning_key == "consent_none:LNLAPSE024:BUREAU"
            )
        ).scalar_one()
    assert severity == "HIGH"
    with pg_engine.begin() as conn:
        conn.execute(delete(early_warning))
        conn.execute(update(loan).values(status="CLOSED"))
    assert check(today) == 0  # a closed loan is not watched
