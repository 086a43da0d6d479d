import logging
import threading

import pytest
from sqlalchemy import select

from connectors.bureau import BureauConnector, ConsentMissing
from kernel.failures import ContractError, TransientError
from loanhub.platform.consents import ConsentBook
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.tables import audit_event, work_item
from tests.connectors.conftest import record_consent, soap_config


@pytest.fixture
def bureau(sim_endpoints, evidence, consents, guard) -> BureauConnector:
    return BureauConnector(
        soap_config(sim_endpoints, "bureau"), mask_text, evidence, consents, guard
    )


def known(sim_dataset, n: int = 0):
    return [p for p in sim_dataset.persons if p.known_to_bureau and p.accounts][n]


def queries(sim) -> list[dict]:
    return sim.journal("bureau", "query")


def test_a_report_is_fetched_once_and_reused(sim, bureau, sim_dataset, pg_engine):
    person = known(sim_dataset, 10)
    record_consent(pg_engine, person.id_number)
    first = bureau.personal_report("APP1", person.id_number, person.name)
    again = bureau.personal_report("APP1", person.id_number, person.name)
    assert not first.thin_file
    assert first.report_no.startswith("R")
    assert person.id_number.encode() in first.raw
    assert again.raw_sha256 == first.raw_sha256
    assert len(queries(sim)) == 1
    other_reason = record_consent(pg_engine, person.id_number, reason="02")
    assert other_reason
    bureau.personal_report("APP1", person.id_number, person.name, reason="02")
    assert len(queries(sim)) == 2  # another reason is another query


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


def test_busy_then_success_is_retried(sim, bureau, sim_dataset, pg_engine):
    person = known(sim_dataset, 12)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "busy", "times": 2}}})
    report = bureau.personal_report("APP3", person.id_number, person.name)
    assert report.report_no
    assert len(sim.journal("bureau", "busy")) == 2
    assert len(queries(sim)) == 1


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


def test_an_unknown_subject_is_a_thin_file_not_retried(sim, bureau, sim_dataset, pg_engine):
    stranger = next(p for p in sim_dataset.persons if not p.known_to_bureau)
    record_consent(pg_engine, stranger.id_number)
    report = bureau.personal_report("APP5", stranger.id_number, stranger.name)
    assert report.thin_file
    assert report.raw is None
    bureau.personal_report("APP5", stranger.id_number, stranger.name)
    assert len(queries(sim)) == 1


def test_a_wrong_password_fails_at_once(
    sim, sim_endpoints, evidence, consents, guard, sim_dataset, pg_engine
):
    person = known(sim_dataset, 14)
    record_consent(pg_engine, person.id_number)
    wrong = soap_config(sim_endpoints, "bureau", password="wrong")
    bureau = BureauConnector(wrong, mask_text, evidence, consents, guard)
    with pytest.raises(ContractError, match=r"Client\.Authentication"):
        bureau.personal_report("APP6", person.id_number, person.name)
    assert len(sim.journal("bureau", "auth_failed")) == 1  # not retried


def test_a_bad_checksum_is_refused_before_anything_is_sent(sim, bureau):
    with pytest.raises(ContractError, match="check character"):
        bureau.personal_report("APP7", "110105194912310021", "张三")
    assert sim.journal("bureau") == []


def test_two_concurrent_harvests_of_one_application_query_once(
    sim, sim_endpoints, evidence, sim_dataset, pg_engine
):
    person = known(sim_dataset, 15)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"latency": 0.5}}})
    results, errors = [], []

    def harvest(owner: str) -> None:
        guard = LedgerGuard(WorkItemLedger(pg_engine, owner=owner), wait_seconds=20)
        connector = BureauConnector(
            soap_config(sim_endpoints, "bureau"), mask_text, evidence, ConsentBook(pg_engine), guard
        )
        try:
            results.append(connector.personal_report("APP8", person.id_number, person.name))
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


def test_zeep_debug_logging_shows_no_password_and_no_clear_id(
    sim, bureau, sim_endpoints, sim_dataset, pg_engine, caplog
):
    person = known(sim_dataset, 16)
    record_consent(pg_engine, person.id_number)
    with caplog.at_level(logging.DEBUG, logger="zeep"):
        bureau.personal_report("APP9", person.id_number, person.name)
    text = caplog.text
    assert "QueryPersonalReport" in text  # zeep did log the envelopes
    assert person.id_number not in text
    assert mask_text(person.id_number) in text
    assert sim_endpoints["bureau"]["password"] not in text
    assert 'PasswordDigest">***<' in text


def test_two_threads_sharing_one_connector_query_once(sim, bureau, sim_dataset, pg_engine):
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
    first = bureau.enterprise_report("APP11", firm.uscc, firm.name)
    again = bureau.enterprise_report("APP11", firm.uscc, firm.name)
    assert firm.uscc.encode() in first.raw
    assert again.raw_sha256 == first.raw_sha256
    assert len(queries(sim)) == 1
