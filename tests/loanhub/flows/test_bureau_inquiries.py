"""The bureau as the flows may query it (``harvest.BureauInquiries``): with the subject's
consent, once per application, subject and reason, a report younger than 30 days reused, and
concurrent runs querying once. Real simulator, real PostgreSQL ledger and consent book."""

import contextlib
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, update

from connectors.bureau import BureauConnector
from connectors.evidence import EvidenceStore
from kernel.failures import ContractError, NeedsHuman, OutcomeUnknown, TransientError
from loanhub.flows.harvest import (
    BUREAU_QUERY,
    Applicant,
    BureauInquiries,
    BureauStep,
    request_ref,
    settle_bureau_inquiries,
)
from loanhub.flows.profile import stored_facts
from loanhub.platform.consents import ConsentBook, ConsentMissing
from loanhub.platform.guards import LedgerGuard
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.masking import mask_text
from schemas.tables import audit_event, credit_report, work_item
from tests.connectors.conftest import soap_config
from tests.connectors.test_soap import WSDL_PATH, bad_tls_peer
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


# -- in doubt, settled by RetrieveReport (legacy-systems.md §1) --------------------------------


def bureau_items(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(work_item.c.state, work_item.c.failure_kind).order_by(work_item.c.id)
            )
        ]


def crashed_claim(engine: Engine, application_no: str, person, reason: str = "01"):
    """A worker that claimed the query and died (its lease runs out at once): whether it sent
    anything, only the bureau knows."""
    ledger = WorkItemLedger(engine, owner="crashed", lease=timedelta(milliseconds=200))
    item = ledger.claim(
        BUREAU_QUERY,
        f"{application_no}:{person.id_number}:{reason}",
        {
            "application_no": application_no,
            "subject": person.id_number,
            "reason": reason,
            "operation": "QueryPersonalReport",
        },
    )
    time.sleep(0.3)
    return item


def test_a_lost_answer_is_settled_by_retrieval_without_a_second_inquiry(
    sim, bureau, sim_dataset, pg_engine
):
    person = known(sim_dataset, 19)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    with pytest.raises(OutcomeUnknown):
        bureau.personal_report("APP20", person.id_number, person.name)
    assert bureau_items(pg_engine) == [("IN_DOUBT", None)]
    with pytest.raises(NeedsHuman):  # in doubt: never asked again blindly
        bureau.personal_report("APP20", person.id_number, person.name)
    assert len(queries(sim)) == 1
    ledger = bureau.guard.ledger
    counts = settle_bureau_inquiries(ledger, bureau.bureau)
    assert counts == {"done": 1, "not_received": 0, "left": 0}
    assert bureau_items(pg_engine) == [("DONE", None)]
    report = bureau.personal_report("APP20", person.id_number, person.name)  # reused
    assert person.id_number.encode() in report.raw
    assert bureau.bureau.store.get_raw(report.raw_sha256) == report.raw
    assert len(queries(sim)) == 1  # one hard inquiry on the subject's file, ever
    (sent,) = queries(sim)
    (read,) = sim.journal("bureau", "retrieval")
    assert read["request_ref"] == sent["request_ref"]
    assert settle_bureau_inquiries(ledger, bureau.bureau) == {
        "done": 0,
        "not_received": 0,
        "left": 0,
    }
    with pg_engine.connect() as conn:
        actions = list(conn.execute(select(audit_event.c.action)).scalars())
    assert "work_item.resolved_done" in actions


def test_a_crash_after_sending_is_settled_from_the_bureau(sim, bureau, sim_dataset, pg_engine):
    person = known(sim_dataset, 20)
    consent = record_consent(pg_engine, person.id_number)
    item = crashed_claim(pg_engine, "APP21", person)
    # what the dead worker did before it died: the query, under its attempt's reference
    bureau.bureau.query("personal", person.id_number, person.name, "01", consent, request_ref(item))
    with pytest.raises(NeedsHuman):  # the lease ran out: IN_DOUBT
        bureau.personal_report("APP21", person.id_number, person.name)
    assert settle_bureau_inquiries(bureau.guard.ledger, bureau.bureau)["done"] == 1
    assert bureau.personal_report("APP21", person.id_number, person.name).report_no
    assert len(queries(sim)) == 1


def test_a_query_never_received_is_sent_once_more_under_a_new_reference(
    sim, bureau, sim_dataset, pg_engine
):
    person = known(sim_dataset, 21)
    record_consent(pg_engine, person.id_number)
    first = crashed_claim(pg_engine, "APP22", person)  # died before sending anything
    with pytest.raises(NeedsHuman):
        bureau.personal_report("APP22", person.id_number, person.name)
    counts = settle_bureau_inquiries(bureau.guard.ledger, bureau.bureau)
    assert counts == {"done": 0, "not_received": 1, "left": 0}
    assert bureau_items(pg_engine) == [("FAILED", "transient")]
    assert bureau.personal_report("APP22", person.id_number, person.name).report_no
    assert bureau.personal_report("APP22", person.id_number, person.name).report_no
    (sent,) = queries(sim)  # sent once
    assert sent["request_ref"] != request_ref(first)  # under the second attempt's reference
    assert sim.journal("bureau", "duplicate_request") == []


def test_retries_after_transient_failures_never_repeat_a_reference(
    sim, bureau, sim_dataset, pg_engine
):
    person = known(sim_dataset, 22)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    with pytest.raises(OutcomeUnknown):
        bureau.personal_report("APP23", person.id_number, person.name, reason="01")
    # an operator (or a settling that found nothing) frees the item: it is sent again, and
    # the bureau, which has the first reference, must not see it twice
    (item,) = bureau.guard.ledger.items(kind=BUREAU_QUERY)
    bureau.guard.ledger.resolve_in_doubt(item, happened=False, evidence="test: released")
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "busy", "times": 3}}})
    with pytest.raises(TransientError):  # busy, busy, busy: FAILED(transient)
        bureau.personal_report("APP23", person.id_number, person.name)
    assert bureau.personal_report("APP23", person.id_number, person.name).report_no
    refs = [q["request_ref"] for q in queries(sim)]
    assert len(refs) == 2
    assert len(set(refs)) == 2
    assert sim.journal("bureau", "duplicate_request") == []


def test_a_bureau_that_cannot_be_reached_leaves_the_item_in_doubt(
    sim, sim_endpoints, evidence, bureau, sim_dataset, pg_engine
):
    person = known(sim_dataset, 23)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    with pytest.raises(OutcomeUnknown):
        bureau.personal_report("APP24", person.id_number, person.name)
    away = BureauConnector(
        soap_config(sim_endpoints, "bureau", url="http://127.0.0.1:9/bureau"), mask_text, evidence
    )
    counts = settle_bureau_inquiries(bureau.guard.ledger, away)
    assert counts == {"done": 0, "not_received": 0, "left": 1}
    assert bureau_items(pg_engine) == [("IN_DOUBT", None)]


# -- failures before anything was sent are never in doubt --------------------------------------


def with_url(sim_endpoints, evidence, engine: Engine, url: str) -> BureauInquiries:
    config = soap_config(sim_endpoints, "bureau", url=url, wsdl=str(WSDL_PATH), connect_timeout=1.0)
    return BureauInquiries(
        BureauConnector(config, mask_text, evidence),
        ConsentBook(engine),
        LedgerGuard(WorkItemLedger(engine, owner="test"), wait_seconds=5),
    )


@pytest.mark.parametrize("peer", ["refused", "self-signed", "plain"])
def test_an_unreachable_or_untrusted_bureau_fails_transient_not_in_doubt(
    sim, sim_endpoints, evidence, sim_dataset, pg_engine, tmp_path, peer
):
    person = known(sim_dataset, 24)
    record_consent(pg_engine, person.id_number)
    with contextlib.ExitStack() as stack:
        if peer == "refused":
            url = "http://127.0.0.1:9/bureau"
        else:
            url, _ = stack.enter_context(bad_tls_peer(peer, tmp_path))
        mine = with_url(sim_endpoints, evidence, pg_engine, url)
        with pytest.raises(TransientError, match="nothing sent"):
            mine.personal_report("APP25", person.id_number, person.name)
    assert bureau_items(pg_engine) == [("FAILED", "transient")]
    assert queries(sim) == []


def test_evidence_that_cannot_be_written_fails_transient_not_in_doubt(
    sim, sim_endpoints, sim_dataset, pg_engine, tmp_path
):
    store = EvidenceStore(tmp_path / "evidence", mask_text)
    (store.root / "masked" / "bureau").write_text("a file where the evidence must go")
    person = known(sim_dataset, 25)
    record_consent(pg_engine, person.id_number)
    mine = inquiries(sim_endpoints, store, pg_engine)
    with pytest.raises(TransientError, match="not sent"):
        mine.personal_report("APP26", person.id_number, person.name)
    assert bureau_items(pg_engine) == [("FAILED", "transient")]
    assert queries(sim) == []


# -- after 30 days: a new inquiry (subjects no other test queries: not applicants, known > 25)


def age_items(engine: Engine, days: float, column: str = "fetched_at") -> None:
    """Every work item as if its report were fetched (``fetched_at``) or it went in doubt
    (``updated_at``) ``days`` ago: the store's clock moved, no sleeping."""
    with engine.begin() as conn:
        for item in conn.execute(select(work_item)).all():
            if column == "fetched_at" and item.result and item.result.get("fetched_at"):
                at = datetime.fromisoformat(item.result["fetched_at"]) - timedelta(days=days)
                values = {"result": {**item.result, "fetched_at": at.isoformat()}}
            elif column == "updated_at":
                values = {"updated_at": item.updated_at - timedelta(days=days)}
            else:
                continue
            conn.execute(update(work_item).where(work_item.c.id == item.id).values(**values))


def applicant(application_no: str, person) -> Applicant:
    return Applicant(application_no, person.id_number, person.name, Decimal("100000.00"), 12)


def test_a_report_is_reused_for_30_days_and_after_them_queried_again_as_a_new_inquiry(
    sim, bureau, sim_dataset, pg_engine
):
    person = known(sim_dataset, 150)
    assert person.id_number not in {a.id_number for a in sim_dataset.applications}
    record_consent(pg_engine, person.id_number)
    step = BureauStep(pg_engine, bureau)
    a = applicant("APP-R150", person)
    step.run(a)
    first = bureau.personal_report(a.application_no, person.id_number, person.name)
    age_items(pg_engine, 29)
    step.run(a)  # 29 days: still valid, reused
    assert len(queries(sim)) == 1
    age_items(pg_engine, 2)  # 31 days: over
    step.run(a)
    step.run(a)  # the renewal is reused in its turn
    sent = queries(sim)
    assert len(sent) == 2  # one query within the 30 days, a second after them
    assert sent[0]["request_ref"] != sent[1]["request_ref"]  # a new request, not a resend
    assert sim.journal("bureau", "retrieval") == []  # no RetrieveReport of an old reference
    assert sim.journal("bureau", "duplicate_request") == []
    with pg_engine.connect() as conn:
        stored = conn.execute(
            select(credit_report.c.report_no).where(credit_report.c.application_no == "APP-R150")
        ).scalars()
        assert len(set(stored)) == 2  # the new report is stored beside the first
    renewed = bureau.personal_report(a.application_no, person.id_number, person.name)
    assert renewed.report_no != first.report_no
    assert stored_facts(pg_engine, a).bureau.report_no == renewed.report_no  # and used
    assert [s for s, _ in bureau_items(pg_engine)] == ["DONE", "DONE"]


def test_an_inquiry_in_doubt_past_the_bureaus_seven_days_is_not_retrieved(
    sim, bureau, sim_dataset, pg_engine
):
    """``RequestNotFound`` for a reference older than the bureau keeps it proves nothing:
    within the 30 days the item waits for a person (no query), after them it is queried once
    more, under a new reference, and never retrieved."""
    person = known(sim_dataset, 154)
    record_consent(pg_engine, person.id_number)
    sim.controls({"bureau": {"QueryPersonalReport": {"fault": "lost", "times": 1}}})
    with pytest.raises(OutcomeUnknown):
        bureau.personal_report("APP-R154", person.id_number, person.name)
    ledger = bureau.guard.ledger
    age_items(pg_engine, 8, "updated_at")
    sim.controls({"bureau": {"RetrieveReport": {"retention_days": 0}}})  # and the bureau's
    assert settle_bureau_inquiries(ledger, bureau.bureau) == {
        "done": 0,
        "not_received": 0,
        "left": 1,
    }
    assert bureau_items(pg_engine) == [("IN_DOUBT", None)]
    age_items(pg_engine, 23, "updated_at")  # 31 days in doubt
    assert settle_bureau_inquiries(ledger, bureau.bureau) == {
        "done": 0,
        "not_received": 1,
        "left": 0,
    }
    assert sim.journal("bureau", "retrieval") == []
    report = bureau.personal_report("APP-R154", person.id_number, person.name)
    assert report.report_no
    sent = queries(sim)
    assert len(sent) == 2  # the one in doubt, and one new inquiry after 30 days
    assert sent[0]["request_ref"] != sent[1]["request_ref"]
