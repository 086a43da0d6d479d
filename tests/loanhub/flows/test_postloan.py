"""Post-loan re-pull against the simulators on PostgreSQL: reason 02 at the bureau, the portal
again, warnings from what the sources now say, raised once."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete, select

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
from tests.loanhub.flows.test_bureau_inquiries import inquiries
from tests.loanhub.flows.test_rules import profile


def active_loan(engine, app, loan_account: str) -> None:
    """The application taken in from the LOS, and a loan paid out on it today."""
    load_applicants(
        engine, los_intake([dataclasses.asdict(app)], datetime.now(UTC)), source_ref="los-list"
    )
    made = Loan(
        loan_account=loan_account,
        application_no=app.application_no,
        customer_no="C1",
        principal=Decimal("100000"),
        annual_rate=Decimal("4.35"),
        term_months=12,
        start_date=datetime.now(UTC).date(),
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
        pg_engine, hub.bureau, bots.social_security, [app.application_no], "领航银行"
    )
    assert first >= 1
    with pg_engine.connect() as conn:
        rules = set(conn.execute(select(early_warning.c.rule)).scalars())
    assert "contributions_owed" in rules
    reasons = [q.get("reason") or q.get("queryReason") for q in sim.journal("bureau", "query")]
    assert "02" in reasons
    again = postloan.repull(
        pg_engine, hub.bureau, bots.social_security, [app.application_no], "领航银行"
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
        request = tax.submit(harvest.tax_queries(ConsentBook(pg_engine), batch, suffix), day, seq)
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
    assert warnings.post_loan_warnings(pg_engine, [app.application_no], "领航银行") >= 1
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
    assert warnings.post_loan_warnings(pg_engine, [app.application_no], "领航银行") == 0


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
