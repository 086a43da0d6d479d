"""Companies and guarantors end to end against the simulators on PostgreSQL: the LOS's company
applications (indices 80+, appended to the dataset) through intake and harvest, the bureau asked
QueryEnterpriseReport with reason 01 for the company and QueryPersonalReport with reason 03 for
its guarantor, each once; one tax file of P and E rows, both answered; the profile's enterprise
facts agreeing with the simulators' data; no portal lookup for a company, the core's by its USCC."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from connectors.tax import RequestNameTaken
from devtools.synthetic import los_intake
from loanhub.flows import harvest
from loanhub.flows.intake import load_applicants
from loanhub.flows.profile import build_profile
from loanhub.flows.rules import RuleSet
from loanhub.platform.consents import ConsentBook
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.tasks import Hub
from schemas.party import PartyKind
from schemas.tables import application, consent, credit_account, party, tax_profile

FIRST_COMPANY = 80  # the persons' applications are 0-79, every one used by other tests


def companies(sim_dataset, guaranteed: bool | None = None):
    apps = sim_dataset.applications[FIRST_COMPANY:]
    assert apps
    assert all(a.applicant_kind == "ENTERPRISE" for a in apps)
    if guaranteed is None:
        return apps
    return [a for a in apps if bool(a.guarantor_id_number) is guaranteed]


def take(engine, apps) -> list[harvest.Applicant]:
    records = los_intake([dataclasses.asdict(a) for a in apps], datetime.now(UTC))
    assert load_applicants(engine, records, source_ref="los-list").loaded == len(apps)
    return harvest.applicants(engine, [a.application_no for a in apps])


@pytest.fixture
def hub(sim_dir, pg_url, tmp_path: Path) -> Hub:
    return Hub(HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url))


def test_intake_records_the_company_its_guarantor_and_the_guarantors_consent(
    sim_dataset, pg_engine
):
    app = companies(sim_dataset, guaranteed=True)[0]
    (a,) = take(pg_engine, [app])
    assert a.kind is PartyKind.ENTERPRISE
    assert a.is_enterprise
    assert a.guarantor == harvest.Guarantor(app.guarantor_id_number, app.guarantor_name)
    with pg_engine.connect() as conn:
        kinds = dict(conn.execute(select(party.c.id_number, party.c.kind)).all())
        surety_consents = conn.execute(
            select(consent.c.scope, consent.c.reason).where(
                consent.c.party_id_number == app.guarantor_id_number
            )
        ).all()
        named = conn.execute(select(application.c.guarantor_id_number)).scalar_one()
    assert kinds == {app.id_number: "ENTERPRISE", app.guarantor_id_number: "PERSON"}
    assert surety_consents == [("BUREAU", "03")]
    assert named == app.guarantor_id_number


def test_a_guarantor_the_application_does_not_name_is_quarantined(sim_dataset, pg_engine):
    app = companies(sim_dataset, guaranteed=True)[0]
    (record,) = los_intake([dataclasses.asdict(app)], datetime.now(UTC))
    record["application"]["guarantor_id_number"] = None
    summary = load_applicants(pg_engine, [record], source_ref="los-list")
    assert (summary.loaded, summary.quarantined_records) == (0, 1)


def test_companies_and_guarantors_at_the_bureau_once_each_with_their_reason(
    sim, sim_dataset, pg_engine, hub
):
    chosen = [companies(sim_dataset, guaranteed=True)[0], companies(sim_dataset, False)[0]]
    batch = take(pg_engine, chosen)
    step = harvest.BureauStep(pg_engine, hub.bureau)
    for _ in range(2):  # a second run reuses what the first fetched: no second hard inquiry
        assert harvest.run_batch(step, batch).counts() == {"ok": 2, "refused": 0, "failed": 0}
    asked = sorted(
        (q["operation"], q["subject"], q["reason"]) for q in sim.journal("bureau", "query")
    )
    guaranteed, alone = chosen
    assert asked == sorted(
        [
            ("QueryEnterpriseReport", guaranteed.id_number, "01"),
            ("QueryPersonalReport", guaranteed.guarantor_id_number, "03"),
            ("QueryEnterpriseReport", alone.id_number, "01"),
        ]
    )
    firms, people = sim_dataset.enterprise_by_uscc, sim_dataset.person_by_id
    for a in batch:
        firm = firms[a.id_number]
        profile = build_profile(pg_engine, a)
        assert profile.party_kind is PartyKind.ENTERPRISE
        assert profile.registered_capital == firm.registered_capital
        assert profile.guarantees_given == sum((g.amount for g in firm.guarantees), Decimal(0))
        assert profile.years_established is not None
        assert profile.years_established >= 1
        assert profile.public_records == len(firm.public_records)
        assert "social_security" not in profile.missing_sources.split(",")
        assert "bureau" not in profile.missing_sources.split(",")
        if a.guarantor is not None:
            assert profile.guarantor_score == people[a.guarantor.id_number].score
            assert "guarantor_bureau" not in profile.missing_sources
        else:
            assert profile.guarantor_id_number is None
    with pg_engine.connect() as conn:
        types = set(conn.execute(select(credit_account.c.account_type)).scalars())
    assert "LOAN" not in types
    assert "CREDIT_CARD" not in types


def test_a_guarantor_without_consent_costs_the_company_nothing_and_refers_it(
    sim, sim_dataset, pg_engine, hub
):
    app = companies(sim_dataset, guaranteed=True)[1]
    (a,) = take(pg_engine, [app])
    with pg_engine.begin() as conn:
        conn.execute(delete(consent).where(consent.c.party_id_number == app.guarantor_id_number))
    step = harvest.BureauStep(pg_engine, hub.bureau)
    assert harvest.run_batch(step, [a]).counts() == {"ok": 1, "refused": 0, "failed": 0}
    asked = [(q["operation"], q["reason"]) for q in sim.journal("bureau", "query")]
    assert asked == [("QueryEnterpriseReport", "01")]  # nothing about the guarantor was sent
    profile = build_profile(pg_engine, a)
    assert profile.registered_capital is not None  # the company's own report is kept
    assert "guarantor_bureau" in profile.missing_sources.split(",")
    verdict = RuleSet.load().evaluate(profile)
    assert verdict.outcome in ("REFER", "REJECT")
    if verdict.outcome == "REFER":
        assert "guarantor_bureau" in verdict.missing


def test_a_company_is_never_looked_up_at_the_portal_and_at_the_core_by_its_uscc(
    sim, sim_dataset, pg_engine, hub
):
    batch = take(pg_engine, companies(sim_dataset, guaranteed=False)[:1])
    # the portal's bot is never even needed for a company: the step does not touch it
    ss = harvest.SocialSecurityStep(pg_engine, None, hub.consents)  # type: ignore[arg-type]
    core = harvest.CoreStep(pg_engine, hub.connectors.core, sim_dataset.business_date, hub.consents)
    for step in (ss, core):
        assert harvest.run_batch(step, batch).counts() == {"ok": 1, "refused": 0, "failed": 0}
    assert sim.journal("ss") == []
    [first, *_] = sim.journal("core", "query")  # the core knows companies too
    assert (first["operation"], first["subject"]) == ("GetCustomerByIdNumber", batch[0].id_number)


def test_a_mixed_batch_is_one_tax_file_of_p_and_e_rows_both_answered(
    sim, sim_dataset, pg_engine, hub
):
    # The tax authority keeps no state about an applicant, so a person's application that
    # other tests use serves here for its P row; the companies are the dataset's own (80+).
    people = sim_dataset.person_by_id
    person = next(a for a in sim_dataset.applications[20:FIRST_COMPANY] if people[a.id_number].tax)
    firms = [a for a in companies(sim_dataset) if sim_dataset.enterprise_by_uscc[a.id_number].tax]
    batch = take(pg_engine, [person, *firms[:2]])
    queries = harvest.tax_queries(ConsentBook(pg_engine), batch)
    assert sorted(q.subject_type for q in queries) == ["E", "E", "P"]
    tax = hub.connectors.tax
    seq = int(time.time()) % 900
    while True:
        try:
            request = tax.submit(queries, sim_dataset.business_date, seq)
            break
        except RequestNameTaken:
            seq += 1
    deadline = time.monotonic() + 30
    while not harvest.collect_tax(pg_engine, tax, hub.receipts, request, batch):
        assert time.monotonic() < deadline, "no tax answer"
        time.sleep(0.2)
    (received,) = [r for r in sim.journal("tax", "request") if r["file"] == request]
    assert (received["rows"], received["problem"]) == (3, None)
    with pg_engine.connect() as conn:
        stored = dict(conn.execute(select(tax_profile.c.id_or_uscc, tax_profile.c.status)).all())
    assert stored == {a.id_number: "FOUND" for a in batch}
    for a in (a for a in batch if a.is_enterprise):
        firm = sim_dataset.enterprise_by_uscc[a.id_number]
        assert build_profile(pg_engine, a).tax_rating == firm.tax.rating
