"""Harvest against the simulators on PostgreSQL: every source into the store, a profile that
agrees with the simulators' own data, and a second harvest that adds nothing."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import delete, func, select

from devtools.synthetic import los_intake
from kernel.failures import BusinessAnswer
from loanhub.flows import harvest
from loanhub.flows.intake import load_applicants
from loanhub.flows.profile import build_profile
from loanhub.platform.consents import ConsentBook
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from loanhub.runtime.settings import HubSettings
from loanhub.runtime.tasks import Hub
from loanhub.runtime.wiring import HubBots
from schemas.tables import audit_event, consent, credit_report, social_security_month, tax_profile


def wanted(sim_dataset, count: int = 3):
    """LOS applications whose applicants the bureau knows and the portal has a history of."""
    people = {p.id_number: p for p in sim_dataset.persons}
    chosen = [
        a
        for a in sim_dataset.applications[20:80]
        if people[a.id_number].known_to_bureau
        and people[a.id_number].contributions
        and people[a.id_number].tax is not None
    ]
    return chosen[:count], people


def test_harvest_fills_the_store_and_the_profile_agrees_with_the_sources(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path, chromium
):
    apps, people = wanted(sim_dataset)
    records = los_intake([dataclasses.asdict(a) for a in apps], datetime.now(UTC))
    assert load_applicants(pg_engine, records, source_ref="los-list").loaded == len(apps)
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    hub = Hub(settings)
    connectors = hub.connectors
    bots = HubBots.build(settings, pg_engine, chromium)
    batch = harvest.applicants(pg_engine, [a.application_no for a in apps])
    assert sorted(b.application_no for b in batch) == sorted(a.application_no for a in apps)

    def run_all() -> None:
        steps = [
            harvest.BureauStep(pg_engine, hub.bureau),
            harvest.CoreStep(pg_engine, connectors.core, sim_dataset.business_date, hub.consents),
            harvest.SocialSecurityStep(pg_engine, bots.social_security, hub.consents),
        ]
        for step in steps:
            assert harvest.run_batch(step, batch).counts() == {
                "ok": len(batch),
                "refused": 0,
                "failed": 0,
            }
        queries = harvest.tax_queries(ConsentBook(pg_engine), batch)
        request = connectors.tax.submit(queries, sim_dataset.business_date, int(time.time()) % 997)
        deadline = time.monotonic() + 30
        while not harvest.collect_tax(pg_engine, connectors.tax, hub.receipts, request, batch):
            assert time.monotonic() < deadline, "no tax answer"
            time.sleep(0.2)

    run_all()
    for a in batch:
        person = people[a.id_number]
        profile = build_profile(pg_engine, a)
        assert profile.bureau_score == person.score
        assert profile.public_records == len(person.public_records)
        history = {c.month: c.status for c in person.contributions}
        latest = max(history)
        recent = {m for m in history if int(latest) - int(m) < 100}  # YYYYMM: the last year
        assert profile.ss_months_paid == sum(s != "欠缴" for s in history.values())
        assert profile.ss_months_owed == sum(history[m] == "欠缴" for m in recent)
        assert profile.tax_rating == person.tax.rating
        assert profile.tax_arrears == person.tax.arrears_amount
        assert "bureau" not in profile.missing_sources

    with pg_engine.connect() as conn:
        reports = conn.execute(select(func.count()).select_from(credit_report)).scalar_one()
        months = conn.execute(select(func.count()).select_from(social_security_month)).scalar_one()
    run_all()  # a second harvest: the bureau is not asked again, no fact is stored twice
    with pg_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(credit_report)).scalar_one() == reports
        assert (
            conn.execute(select(func.count()).select_from(social_security_month)).scalar_one()
            == months
        )
    queries = sim.journal("bureau", "query")
    assert len(queries) == len(apps)  # one inquiry per application and reason


def test_tax_request_numbers_are_unique_per_batch_and_stable_on_retry(pg_engine):
    ledger = WorkItemLedger(pg_engine, owner="w1")
    day = date(2026, 11, 24)
    first = harvest.tax_request_seq(ledger, day, ["A1", "A2"])
    second = harvest.tax_request_seq(WorkItemLedger(pg_engine, owner="w2"), day, ["B1"])
    assert (first, second) == (1, 2)
    assert harvest.tax_request_seq(ledger, day, ["A2", "A1"]) == 1  # the retry gets its own
    assert harvest.tax_request_seq(ledger, date(2026, 11, 25), ["B1"]) == 1  # a new day


class RecordingStep(harvest.SourceStep):
    """A source whose calls take a while and whose answers take a while to store; it records
    when each ran, and refuses or breaks where it is told to."""

    source = "recording"

    def __init__(self, refuse: str, break_store: str) -> None:
        self.refuse, self.break_store = refuse, break_store
        self.events: list[tuple[str, str, float, float]] = []
        self.lock = threading.Lock()

    def _timed(self, kind: str, a: harvest.Applicant) -> None:
        start = time.monotonic()
        time.sleep(0.05)
        with self.lock:
            self.events.append((kind, a.application_no, start, time.monotonic()))

    def fetch(self, a: harvest.Applicant) -> str:
        if a.application_no == self.refuse:
            raise BusinessAnswer("no such subject", system="recording")
        self._timed("fetch", a)
        return a.application_no

    def store(self, a: harvest.Applicant, answer: str) -> str:
        self._timed("store", a)
        if answer == self.break_store:
            raise RuntimeError("store failed")
        return "stored"


def test_a_batch_stores_each_answer_while_the_next_call_waits_one_call_at_a_time():
    batch = [harvest.Applicant(f"A{i}", "x", "y", 1, 12) for i in range(6)]
    step = RecordingStep(refuse="A2", break_store="A4")
    outcome = harvest.run_batch(step, batch)
    assert outcome.counts() == {"ok": 4, "refused": 1, "failed": 1}
    assert outcome.errors == ["A4: RuntimeError: store failed"]
    fetches = sorted((s, e) for kind, _, s, e in step.events if kind == "fetch")
    # never two calls to the system at once: the pool's promise holds inside a batch
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(fetches))
    stores = {n: (s, e) for kind, n, s, e in step.events if kind == "store"}
    fetched = {n: (s, e) for kind, n, s, e in step.events if kind == "fetch"}
    # A0 was being stored while A1 was being fetched
    assert stores["A0"][0] < fetched["A1"][1]
    assert set(stores) == {"A0", "A1", "A3", "A4", "A5"}


def take_in(engine, apps, withheld: dict[str, set[str]] | None = None) -> list[harvest.Applicant]:
    """The applications into the store with their consents, less the ``withheld`` scopes (for
    loan approval) of the named application numbers."""
    load_applicants(
        engine,
        los_intake([dataclasses.asdict(a) for a in apps], datetime.now(UTC)),
        source_ref="los-list",
    )
    for app_no, scopes in (withheld or {}).items():
        party = next(a.id_number for a in apps if a.application_no == app_no)
        with engine.begin() as conn:
            conn.execute(
                delete(consent).where(
                    consent.c.party_id_number == party,
                    consent.c.scope.in_(scopes),
                    consent.c.reason == "01",
                )
            )
    return harvest.applicants(engine, [a.application_no for a in apps])


def refusals(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_event.c.subject, audit_event.c.after).where(
                audit_event.c.action == "consent.refused"
            )
        ).all()
    return sorted((subject, after["scope"]) for subject, after in rows)


def test_one_applicant_without_tax_consent_does_not_stop_the_others_tax_file(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path
):
    """Applications 8 (the authority knows them) and 9 (no tax consent): the file asks for 8,
    9 is refused alone and audited, and its profile names tax as missing."""
    with_tax, without = sim_dataset.applications[8], sim_dataset.applications[9]
    batch = take_in(pg_engine, [with_tax, without], {without.application_no: {"TAX"}})
    hub = Hub(HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url))
    queries = harvest.tax_queries(ConsentBook(pg_engine), batch)
    assert [q.request_id for q in queries] == [with_tax.application_no]
    assert refusals(pg_engine) == [(mask_text(without.id_number), "TAX")]
    day = date(2026, 7, 19)  # a day of its own: the authority answers a file name once
    seq = harvest.tax_request_seq(WorkItemLedger(pg_engine, owner="test"), day, ["8", "9"])
    request = hub.connectors.tax.submit(queries, day, seq)
    deadline = time.monotonic() + 30
    while not harvest.collect_tax(pg_engine, hub.connectors.tax, hub.receipts, request, batch):
        assert time.monotonic() < deadline, "no tax answer"
        time.sleep(0.1)
    (asked,) = [j for j in sim.journal("tax", "request") if j["file"] == request]
    assert asked["rows"] == 1
    with pg_engine.connect() as conn:
        found = conn.execute(select(tax_profile.c.id_or_uscc, tax_profile.c.status)).all()
    assert [tuple(r) for r in found] == [(with_tax.id_number, "FOUND")]
    by_app = {a.application_no: a for a in batch}
    assert "tax" in build_profile(pg_engine, by_app[without.application_no]).missing_sources
    assert "tax" not in build_profile(pg_engine, by_app[with_tax.application_no]).missing_sources


def test_social_security_and_core_refuse_without_consent_and_ask_nothing(
    sim, sim_dir, sim_dataset, pg_url, pg_engine, tmp_path: Path, chromium
):
    """Applications 21 (no social-security or core consent) and 22, both customers with an
    insured history: 21 is refused by both steps and neither system hears of them; 22 is
    harvested; the batch goes on."""
    refused, fine = sim_dataset.applications[21], sim_dataset.applications[22]
    batch = take_in(
        pg_engine, [refused, fine], {refused.application_no: {"SOCIAL_SECURITY", "CORE"}}
    )
    settings = HubSettings(data_dir=tmp_path, sim_dir=sim_dir, database_url=pg_url)
    hub = Hub(settings)
    bots = HubBots.build(settings, pg_engine, chromium)
    for step in (
        harvest.CoreStep(pg_engine, hub.connectors.core, sim_dataset.business_date, hub.consents),
        harvest.SocialSecurityStep(pg_engine, bots.social_security, hub.consents),
    ):
        outcome = harvest.run_batch(step, batch)
        assert outcome.counts() == {"ok": 1, "refused": 1, "failed": 0}, step.source
    core_asked = {j["subject"] for j in sim.journal("core", "query")}
    ss_asked = {j["id_number"] for j in sim.journal("ss", "lookup")}
    assert refused.id_number not in core_asked | ss_asked
    assert fine.id_number in core_asked
    assert fine.id_number in ss_asked
    assert refusals(pg_engine) == sorted(
        [(mask_text(refused.id_number), "CORE"), (mask_text(refused.id_number), "SOCIAL_SECURITY")]
    )
    by_app = {a.application_no: a for a in batch}
    missing = build_profile(pg_engine, by_app[refused.application_no]).missing_sources
    assert {"core", "social_security"} <= set(missing.split(","))
