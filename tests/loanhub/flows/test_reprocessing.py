"""Quarantined records reprocessed with the current mapping after a fix, and a received file
taken again, on PostgreSQL, with the tax authority's real answers over the SFTP simulator.

The story: the hub's tax mapping knows too few tax credit ratings (a code table missing B and
C), so an answer's rows rated B and C are quarantined; a partial fix (B added) is deployed and
reprocessed: B is stored under the new mapping version, C stays with its new reason; the full
fix moves C too. Throughout, the file's receipt counts records in = loaded + quarantined, and
the quarantine holds exactly the records it says are quarantined."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from connectors.sftp import SftpConnector
from connectors.tax import TaxExchange
from loanhub.flows import harvest, reprocessing, retakes
from loanhub.flows.operator_actions import ActionRefused, BadInput
from loanhub.flows.repayments import load_extract
from loanhub.platform.ledger import WorkItemLedger
from loanhub.platform.quarantine import open_sources, quarantine
from loanhub.platform.receipts import FileReceiptBook
from mappings import engine as mapping_engine
from schemas.hub import FileState
from schemas.tables import audit_event, file_receipt, quarantined_record, repayment_installment
from tests.connectors.conftest import sftp_config
from tests.loanhub.flows.test_harvest import take_in
from tests.mappings.test_lnrepay import build

REAL = (mapping_engine.HERE / "tax_answer.yaml").read_text(encoding="utf-8")
RATING = "      tax_credit_rating: {column: tax_credit_rating, transform: [empty_to_none]}\n"
assert RATING in REAL


def with_ratings(*known: str) -> str:
    """The tax mapping with a code table of only these ratings: the bug, then the fixes."""
    table = "".join(f"    {r}: {r}\n" for r in known)
    text = REAL.replace(
        RATING,
        "      tax_credit_rating: {column: tax_credit_rating, transform: [empty_to_none], "
        "code: ratings}\n",
    )
    return text.replace("records:\n", f"codes:\n  ratings:\n{table}records:\n", 1)


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch) -> Path:
    """The hub's mappings folder as deployed: every mapping as shipped, the tax one ours to
    change (what a deployment of a mapping fix does)."""
    folder = tmp_path / "mappings"
    folder.mkdir()
    for shipped in mapping_engine.HERE.glob("*.yaml"):
        (folder / shipped.name).write_bytes(shipped.read_bytes())
    monkeypatch.setattr(mapping_engine, "HERE", folder)
    mapping_engine._load.cache_clear()
    yield folder
    mapping_engine._load.cache_clear()


def deploy(folder: Path, text: str) -> str:
    (folder / "tax_answer.yaml").write_text(text, encoding="utf-8")
    mapping_engine._load.cache_clear()
    return mapping_engine.Mapping.load("tax_answer").version


def counts(engine: Engine, source_ref: str) -> tuple[int, int, int, str]:
    """(loaded, quarantined) by the receipt, the records still quarantined, its state."""
    with engine.connect() as conn:
        receipt = conn.execute(select(file_receipt)).mappings().one()
        open_records = conn.execute(
            select(func.count(func.distinct(quarantined_record.c.record_ref))).where(
                quarantined_record.c.source_ref == source_ref,
                quarantined_record.c.reprocessed_at.is_(None),
            )
        ).scalar_one()
    return (
        receipt["records_loaded"],
        receipt["records_quarantined"],
        open_records,
        receipt["state"],
    )


def stored_ratings(engine: Engine) -> dict[str, tuple[str, str]]:
    from schemas.tables import tax_profile

    with engine.connect() as conn:
        rows = conn.execute(
            select(
                tax_profile.c.request_id,
                tax_profile.c.tax_credit_rating,
                tax_profile.c.mapping_version,
            )
        ).all()
    return {r: (rating, version) for r, rating, version in rows}


def answered(sim, sim_endpoints, sim_dataset, pg_engine, tmp_path, day: date):
    """Three applicants the authority knows, rated A, B and C, asked in one request."""
    people = {p.id_number: p for p in sim_dataset.persons}
    apps = [
        a
        for a in sim_dataset.applications[20:80]
        if a.id_number in people and people[a.id_number].tax
    ][:3]
    batch = take_in(pg_engine, apps)
    ratings = dict(zip([a.id_number for a in apps], "ABC", strict=True))
    sim.controls({"tax": {"answer": {"ratings": ratings}}})
    tax = TaxExchange(SftpConnector(sftp_config(sim_endpoints), system="tax"), tmp_path, "LHB001")
    from loanhub.platform.consents import ConsentBook

    queries = harvest.tax_queries(ConsentBook(pg_engine), batch)
    seq = harvest.tax_request_seq(
        WorkItemLedger(pg_engine, owner="t"), day, [a.application_no for a in apps]
    )
    request = tax.submit(queries, day, seq)
    receipts = FileReceiptBook(pg_engine)
    deadline = time.monotonic() + 30
    while not harvest.collect_tax(pg_engine, tax, receipts, request, batch):
        assert time.monotonic() < deadline, "no tax answer"
        time.sleep(0.1)
    return tax, receipts, request, batch, [a.application_no for a in apps]


def test_a_mapping_fix_moves_quarantined_records_to_the_store_under_the_new_version(
    sim, sim_endpoints, sim_dataset, pg_engine, tmp_path, deployed
):
    v1 = deploy(deployed, with_ratings("A"))
    *_, (a, b, c) = answered(
        sim, sim_endpoints, sim_dataset, pg_engine, tmp_path, date(2026, 3, 11)
    )
    [source] = open_sources(pg_engine, "tax")
    ref = source.source_ref
    assert (source.records, source.mapping_version) == (2, v1)
    assert counts(pg_engine, ref) == (1, 2, 2, "PARTIAL")
    assert set(stored_ratings(pg_engine)) == {a}
    with pytest.raises(BadInput, match="needs a note"):
        reprocessing.reprocess(pg_engine, "tax", ref, actor="otto", note="")

    v2 = deploy(deployed, with_ratings("A", "B"))  # a partial fix
    done = reprocessing.reprocess(pg_engine, "tax", ref, actor="otto", note="rating B added")
    assert (done.moved, done.still, done.mapping_version) == (1, 1, v2)
    assert (done.records_in, done.loaded, done.quarantined) == (3, 2, 1)
    assert counts(pg_engine, ref) == (2, 1, 1, "PARTIAL")
    assert stored_ratings(pg_engine)[b] == ("B", v2)  # stored under the new mapping version
    assert stored_ratings(pg_engine)[a] == ("A", v1)  # what was stored before is left alone
    with pg_engine.connect() as conn:
        left = conn.execute(
            select(quarantined_record.c.mapping_version, quarantined_record.c.reason).where(
                quarantined_record.c.reprocessed_at.is_(None)
            )
        ).all()
        moved = conn.execute(
            select(
                quarantined_record.c.reprocessed_by, quarantined_record.c.stored_mapping_version
            ).where(quarantined_record.c.reprocessed_at.is_not(None))
        ).all()
    assert [tuple(r) for r in left] == [(v2, "not in code table ratings")]  # C, its new reason
    assert [tuple(r) for r in moved] == [("otto", v2)]  # B's row, kept as the trail

    v3 = deploy(deployed, REAL)  # the whole fix
    done = reprocessing.reprocess(pg_engine, "tax", ref, actor="otto", note="every rating")
    assert (done.moved, done.still, done.mapping_version) == (1, 0, v3)
    assert counts(pg_engine, ref) == (3, 0, 0, "LOADED")
    assert stored_ratings(pg_engine)[c] == ("C", v3)
    assert open_sources(pg_engine, "tax") == []
    with pytest.raises(BadInput, match="nothing of tax"):
        reprocessing.reprocess(pg_engine, "tax", ref, actor="otto", note="again")
    with pg_engine.connect() as conn:
        audited = conn.execute(
            select(audit_event.c.actor, audit_event.c.after).where(
                audit_event.c.action == "quarantine.reprocessed"
            )
        ).all()
    assert [(who, after["moved"], after["note"]) for who, after in audited] == [
        ("otto", 1, "rating B added"),
        ("otto", 1, "every rating"),
    ]


def test_a_retaken_answer_is_taken_once_more_by_the_next_wait_without_storing_twice(
    sim, sim_endpoints, sim_dataset, pg_engine, tmp_path, deployed
):
    deploy(deployed, with_ratings("A"))
    tax, receipts, request, batch, (a, b, c) = answered(
        sim, sim_endpoints, sim_dataset, pg_engine, tmp_path, date(2026, 3, 12)
    )
    [source] = open_sources(pg_engine, "tax")
    with pg_engine.connect() as conn:
        receipt_id = conn.execute(select(file_receipt.c.id)).scalar_one()
    v2 = deploy(deployed, REAL)
    with pytest.raises(BadInput, match="needs a note"):
        retakes.retake(receipts, receipt_id, actor="otto", note=" ")
    retaken = retakes.retake(receipts, receipt_id, actor="otto", note="the mapping was fixed")
    assert retaken.state is FileState.RECEIVED
    assert "let through again by otto" in retaken.detail
    with pytest.raises(ActionRefused, match="not taken yet"):
        retakes.retake(receipts, receipt_id, actor="otto", note="twice")
    assert harvest.collect_tax(pg_engine, tax, receipts, request, batch)  # the next wait
    assert counts(pg_engine, source.source_ref) == (3, 0, 0, "LOADED")
    assert {r: v for r, (_, v) in stored_ratings(pg_engine).items() if r != a} == {b: v2, c: v2}
    assert len(stored_ratings(pg_engine)) == 3  # a, stored the first time, not twice
    with pg_engine.connect() as conn:
        before = conn.execute(
            select(audit_event.c.before).where(audit_event.c.action == "file.retake")
        ).scalar_one()
    assert (before["state"], before["records_quarantined"]) == ("PARTIAL", 2)


# -- the core's extract, and what is not retaken or reprocessed -----------------------------------

NAME = "LNREPAY.D261120"


def installments(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    repayment_installment.c.loan_account,
                    repayment_installment.c.installment_no,
                    repayment_installment.c.principal_paid,
                ).order_by(repayment_installment.c.loan_account)
            )
        ]


def test_a_retaken_extract_is_loaded_again_once_and_posts_nothing_twice(pg_engine, tmp_path):
    receipts = FileReceiptBook(pg_engine)
    first = load_extract(pg_engine, build(corrupt=1), NAME, receipts, tmp_path)
    assert first.state == "PARTIAL"
    fixed = load_extract(pg_engine, build(), NAME, receipts, tmp_path)  # the corrected delivery
    loaded = installments(pg_engine)
    with pg_engine.connect() as conn:
        ids = dict(conn.execute(select(file_receipt.c.sha256, file_receipt.c.id)).all())
    with pytest.raises(ActionRefused, match="later delivery"):
        retakes.retake(receipts, ids[first.sha256], actor="otto", note="old one")
    retakes.retake(receipts, ids[fixed.sha256], actor="otto", note="the core re-sent it")
    again = load_extract(pg_engine, build(), NAME, receipts, tmp_path)  # the next run
    assert (again.state, again.inserted, again.updated) == ("LOADED", 0, 0)
    assert installments(pg_engine) == loaded  # nothing posted twice
    after = load_extract(pg_engine, build(), NAME, receipts, tmp_path)
    assert after.state == "SKIPPED"  # once: the next run after that skips it again
    with pytest.raises(BadInput, match="no file receipt 999"):
        retakes.retake(receipts, 999, actor="otto", note="x")


def test_status_reports_and_sources_without_a_copy_are_refused(pg_engine):
    receipts = FileReceiptBook(pg_engine)
    receipts.record("gateway", "PAIN002_X.xml", "a" * 64, 10)
    receipts.mark("gateway", "PAIN002_X.xml", "a" * 64, FileState.LOADED)
    with pg_engine.connect() as conn:
        report = conn.execute(select(file_receipt.c.id)).scalar_one()
    with pytest.raises(ActionRefused, match="never reopens a settled payment"):
        retakes.retake(receipts, report, actor="otto", note="x")
    with pg_engine.begin() as conn:
        quarantine(conn, source_system="ss", source_ref="ss:portal", record_ref="m#1", reason="bad")
    with pytest.raises(ActionRefused, match="not kept"):
        reprocessing.reprocess(pg_engine, "ss", "ss:portal", actor="otto", note="x")
    with pytest.raises(ActionRefused, match="copybook"):
        reprocessing.reprocess(pg_engine, "core", NAME, actor="otto", note="x")


def test_a_bureau_report_is_mapped_again_from_its_raw_copy_in_the_evidence_store(
    sim, sim_endpoints, evidence, sim_dataset, pg_engine, deployed
):
    """The bureau mapping knew no credit cards: the card account (and its months, refused
    with it) quarantined; after the fix, the report's raw bytes, kept by hash when the
    inquiry fetched them, are mapped again: no second inquiry, the card stored."""
    from schemas.tables import credit_account
    from tests.loanhub.flows.conftest import record_consent
    from tests.loanhub.flows.test_bureau_inquiries import inquiries, known

    person = known(sim_dataset, 44)  # one credit card, one loan
    record_consent(pg_engine, person.id_number)
    report = inquiries(sim_endpoints, evidence, pg_engine).personal_report(
        "APP-RP44", person.id_number, person.name
    )
    shipped = (deployed / "bureau_personal.yaml").read_text(encoding="utf-8")
    card = "account_type: {LOAN: LOAN, CREDIT_CARD: CREDIT_CARD}"
    assert card in shipped
    (deployed / "bureau_personal.yaml").write_text(
        shipped.replace(card, "account_type: {LOAN: LOAN}"), encoding="utf-8"
    )
    mapping_engine._load.cache_clear()
    ref = f"bureau:{report.report_no}"
    harvest.store_source(
        pg_engine,
        "bureau_personal",
        report.raw,
        fetched_at=report.fetched_at,
        raw_hash=report.raw_sha256,
        source_ref=ref,
        application_no="APP-RP44",
        reason="01",
    )
    [source] = open_sources(pg_engine, "bureau")
    assert (source.source_ref, source.records) == (ref, 2)  # the card and its months

    def accounts() -> dict[str, str]:
        with pg_engine.connect() as conn:
            return dict(
                conn.execute(
                    select(credit_account.c.account_type, credit_account.c.mapping_version)
                ).all()
            )

    assert set(accounts()) == {"LOAN"}
    (deployed / "bureau_personal.yaml").write_text(shipped, encoding="utf-8")
    mapping_engine._load.cache_clear()
    fixed = mapping_engine.Mapping.load("bureau_personal").version
    with pytest.raises(ActionRefused, match="evidence store is not at hand"):
        reprocessing.reprocess(pg_engine, "bureau", ref, actor="otto", note="cards")
    done = reprocessing.reprocess(
        pg_engine, "bureau", ref, actor="otto", note="credit cards known", raw=evidence.get_raw
    )
    assert (done.moved, done.still, done.records_in) == (2, 0, None)
    assert accounts()["CREDIT_CARD"] == fixed
    assert open_sources(pg_engine, "bureau") == []
    assert len(sim.journal("bureau", "query")) == 1  # mapped again, never asked again
