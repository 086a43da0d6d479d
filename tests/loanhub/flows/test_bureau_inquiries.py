"""The bureau as the flows may query it (``harvest.BureauInquiries``): with the subject's
consent, once per application, subject and reason, a report younger than 30 days reused, and
concurrent runs querying once. Real simulator, real PostgreSQL ledger and consent book."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from connectors.bureau import BureauConnector
from kernel.failures import ContractError, TransientError
from loanhub.flows.harvest import BureauInquiries
from loanhub.platform.consents import ConsentBook, ConsentMissing
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.tables import audit_event, work_item
from tests.connectors.conftest import soap_config
from tests.loanhub.flows.conftest import record_consent


def inquiries(sim_endpoints, evidence, engine: Engine, owner: str = "test") -> BureauInquiries:
    return BureauInquiries(
        BureauConnector(soap_config(sim_endpoints, "bureau"), mask_text, evidence),
        ConsentBook(engine),
        LedgerGuard(WorkItemLedger(engine, owner=owner), wait_seconds=20),
    )


@pytest.fixture
def bureau(sim_endpoints, evidence, pg_engine) -> BureauInquiries:
    return inquiries(sim_endpoints, evidence, pg_engine)


def known(sim_dataset, n: int = 0):
    return [p for p in sim_dataset.persons if p.known_to_bureau and p.accounts][n]


def queries(sim) -> list[dict]:
    return sim.journal("bureau", "query")


def test_a_report_is_fetched_once_and_reused(sim, bureau, sim_dataset, pg_engine):
    person = known(sim_dataset, 10)
    ref = record_consent(pg_engine, person.id_number)
    first = bureau.personal_report("APP1", person.id_number, person.name)
    again = bureau.personal_report("APP1", person.id_number, person.name)
    assert not first.thin_file
    assert person.id_number.encode() in first.raw
    assert again.raw_sha256 == first.raw_sha256
    assert again.raw == first.raw
    (sent,) = queries(sim)
    assert sent["consent_ref"] == ref  # the consent recorded for this subject and reason
    assert record_consent(pg_engine, person.id_number, reason="02")
    bureau.personal_report("APP1", person.id_number, person.name, reason="02")
    assert len(queries(sim)) == 2  # another reason is another query


def test_a_report_older_than_30_days_is_fetched_again_once(sim, bureau, sim_dataset, pg_engine):
    person = known(sim_dataset, 18)
    record_consent(pg_engine, person.id_number)
    first = bureau.personal_report("APP12", person.id_number, person.name)
    with pg_engine.begin() as conn:  # the first answer is now 31 days old
        item = conn.execute(select(work_item.c.id, work_item.c.result)).one()
        aged = first.fetched_at - timedelta(days=31)
        conn.execute(
            update(work_item)
            .where(work_item.c.id == item.id)
            .values(result={**item.result, "fetched_at": aged.isoformat()})
        )
    bureau.personal_report("APP12", person.id_number, person.name)
    bureau.personal_report("APP12", person.id_number, person.name)
    assert len(queries(sim)) == 2  # renewed once, then the renewal is reused


def test_without_consent_nothing_is_sent_and_the_refusal_is_audited(
    sim, bureau, sim_dataset, pg_engine
):
    person = known(sim_dataset, 11)
    with pytest.raises(ConsentMissing):
        bureau.personal_report("APP2", person.id_number, person.name)
    assert queries(sim) == []
    with pg_engine.connect() as conn:
        actions = conn.execute(select(audit_event.c.action, audit_event.c.subject)).all()
    assert actions == [("consent.refused", mask_text(person.id_number))]


def test_a_bad_checksum_is_refused_before_the_consent_book_or_the_ledger(sim, bureau, pg_engine):
    with pytest.raises(ContractError, match="check character"):
        bureau.personal_report("APP7", "110105194912310021", "张三")
    assert sim.journal("bureau") == []
    with pg_engine.connect() as conn:
        assert conn.execute(select(audit_event.c.action)).all() == []  # no consent refusal
        assert conn.execute(select(work_item.c.kind)).all() == []


def test_busy_beyond_the_retry_budget_fails_transient_and_can_be_claimed_again(
    sim, bureau, sim_dataset, pg_engine
):
    person = known(sim_dataset, 13)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "busy", "times": 3}}})
    with pytest.raises(TransientError):
        bureau.personal_report("APP4", person.id_number, person.name)
    with pg_engine.connect() as conn:
        state, kind = conn.execute(select(work_item.c.state, work_item.c.failure_kind)).one()
    assert (state, kind) == ("FAILED", "transient")
    assert bureau.personal_report("APP4", person.id_number, person.name).report_no


def test_an_unknown_subject_is_a_thin_file_not_asked_again(sim, bureau, sim_dataset, pg_engine):
    stranger = next(p for p in sim_dataset.persons if not p.known_to_bureau)
    record_consent(pg_engine, stranger.id_number)
    assert bureau.personal_report("APP5", stranger.id_number, stranger.name).thin_file
    assert bureau.personal_report("APP5", stranger.id_number, stranger.name).raw is None
    assert len(queries(sim)) == 1


def test_two_concurrent_harvests_of_one_application_query_once(
    sim, sim_endpoints, evidence, sim_dataset, pg_engine
):
    person = known(sim_dataset, 15)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"latency": 0.5}}})
    results, errors = [], []

    def harvest(owner: str) -> None:
        try:
            mine = inquiries(sim_endpoints, evidence, pg_engine, owner)
            results.append(mine.personal_report("APP8", person.id_number, person.name))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=harvest, args=(f"worker-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(queries(sim)) == 1
    assert results[0].raw_sha256 == results[1].raw_sha256


def test_two_threads_sharing_one_inquiry_book_query_once(sim, bureau, sim_dataset, pg_engine):
    person = known(sim_dataset, 17)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"latency": 0.5}}})
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                bureau.personal_report("APP10", person.id_number, person.name)
            )
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert len(queries(sim)) == 1


def test_an_enterprise_report_is_fetched_once(sim, bureau, sim_dataset, pg_engine):
    firm = next(e for e in sim_dataset.enterprises if e.known_to_bureau)
    record_consent(pg_engine, firm.uscc)
    first = bureau.report("enterprise", "APP11", firm.uscc, firm.name, "01")
    again = bureau.report("enterprise", "APP11", firm.uscc, firm.name, "01")
    assert firm.uscc.encode() in first.raw
    assert again.raw_sha256 == first.raw_sha256
    assert len(queries(sim)) == 1
