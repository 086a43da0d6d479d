"""Post-loan re-pull against the simulators on PostgreSQL: reason 02 at the bureau, the portal
again, warnings from what the sources now say, raised once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from loanhub import postloan
from loanhub.intake import load_applicants
from loanhub.settings import HubSettings
from loanhub.synthetic import los_intake
from loanhub.wiring import HubBots, HubConnectors
from schemas.lending import Loan
from schemas.tables import early_warning, fact_row, loan
from tests.loanhub.test_rules import profile


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
        for a in sim_dataset.applications[60:]
        if people[a.id_number].known_to_bureau
        and people[a.id_number].contributions
        and max(people[a.id_number].contributions, key=lambda c: c.month).status == "欠缴"
    )
    load_applicants(
        pg_engine,
        los_intake([dataclasses.asdict(app)], datetime.now(UTC)),
        source_ref="los-list",
    )
    made = Loan(
        loan_account="LNPOST0001",
        application_no=app.application_no,
        customer_no="C1",
        principal=Decimal("100000"),
        annual_rate=Decimal("4.35"),
        term_months=12,
        start_date=datetime.now(UTC).date(),
        lineage=profile().lineage,
    )
    with pg_engine.begin() as conn:
        conn.execute(loan.insert().values(fact_row(made)))
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    connectors = HubConnectors.build(settings, pg_engine)
    bots = HubBots.build(settings, pg_engine, chromium)
    assert postloan.active_applications(pg_engine) == [app.application_no]
    first = postloan.repull(
        pg_engine, connectors.bureau, bots.social_security, [app.application_no], "领航银行"
    )
    assert first >= 1
    with pg_engine.connect() as conn:
        rules = set(conn.execute(select(early_warning.c.rule)).scalars())
    assert "contributions_owed" in rules
    reasons = [q.get("reason") or q.get("queryReason") for q in sim.journal("bureau", "query")]
    assert "02" in reasons
    again = postloan.repull(
        pg_engine, connectors.bureau, bots.social_security, [app.application_no], "领航银行"
    )
    assert again == 0  # the same state raises nothing new
