from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from loanhub.flows.repayments import load_extract
from loanhub.platform import audit
from loanhub.platform.receipts import FileReceiptBook
from schemas.hub import FileState
from schemas.tables import audit_event, quarantined_record, repayment_installment
from tests.mappings.test_lnrepay import ROWS, build

NAME = "LNREPAY.D261120"


@pytest.fixture
def receipts(engine: Engine) -> FileReceiptBook:
    return FileReceiptBook(engine)


def rows(engine: Engine) -> dict[tuple[str, int], dict]:
    with engine.connect() as conn:
        return {
            (r["loan_account"], r["installment_no"]): dict(r)
            for r in conn.execute(select(repayment_installment)).mappings()
        }


def test_a_file_loads_once_with_lineage(engine, receipts, tmp_path: Path):
    report = load_extract(engine, build(), NAME, receipts, tmp_path)
    assert (report.state, report.inserted, report.updated) == ("LOADED", 3, 0)
    stored = rows(engine)
    first = stored[("LN000000000000000001", 1)]
    assert first["principal_paid"] == Decimal("1500.00")
    assert first["customer_no"] == "100000000001"
    assert str(first["due_date"]) == "2026-10-20"
    assert stored[("LN000000000000000001", 2)]["paid_date"] is None
    assert first["raw_payload_hash"] == report.sha256
    again = load_extract(engine, build(), NAME, receipts, tmp_path)
    assert (again.receipt, again.state) == ("duplicate", "SKIPPED")
    assert rows(engine) == stored
    assert receipts.state("core", NAME, report.sha256) is FileState.LOADED
    assert audit.verify(engine).ok


def test_a_corrected_redelivery_changes_only_what_was_wrong(engine, receipts, tmp_path):
    load_extract(engine, build(corrupt=1), NAME, receipts, tmp_path)
    before = rows(engine)
    assert len(before) == 2
    fixed = [ROWS[0], ROWS[1], (*ROWS[2][:6], 60000, *ROWS[2][7:])]  # one amount corrected too
    report = load_extract(engine, build(rows=fixed), NAME, receipts, tmp_path)
    assert report.receipt == "redelivery"
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 1)
    after = rows(engine)
    assert after[("LN000000000000000001", 1)] == before[("LN000000000000000001", 1)]
    assert after[("LN000000000000000002", 5)]["principal_paid"] == Decimal("600.00")


def test_a_rejected_file_is_kept_reported_and_nothing_is_loaded(engine, receipts, tmp_path, caplog):
    report = load_extract(engine, build(count=7), NAME, receipts, tmp_path)
    assert "ALERT extract LNREPAY.D261120 rejected" in caplog.text
    assert report.state == "REJECTED"
    assert rows(engine) == {}
    assert (tmp_path / f"{report.sha256[:12]}-{NAME}").read_bytes() == build(count=7)
    assert receipts.state("core", NAME, report.sha256) is FileState.REJECTED
    with engine.connect() as conn:
        actions = [a for (a,) in conn.execute(select(audit_event.c.action))]
    assert actions == ["extract.rejected"]


def test_records_in_equal_loaded_plus_quarantined(engine, receipts, tmp_path):
    duplicated = [*ROWS, ROWS[0]]
    report = load_extract(engine, build(rows=duplicated, corrupt=1), NAME, receipts, tmp_path)
    assert report.state == "PARTIAL"
    with engine.connect() as conn:
        quarantined = conn.execute(select(func.count()).select_from(quarantined_record)).scalar()
    assert report.inserted + quarantined == len(duplicated)


def test_a_load_that_failed_half_way_is_loaded_when_tried_again(engine, receipts, tmp_path):
    data = build()
    receipts.record("core", NAME, __import__("hashlib").sha256(data).hexdigest(), len(data))
    report = load_extract(engine, data, NAME, receipts, tmp_path)  # receipt still RECEIVED
    assert (report.receipt, report.state, report.inserted) == ("duplicate", "LOADED", 3)


def test_a_redelivery_with_the_same_bad_record_does_not_quarantine_it_twice(
    engine, receipts, tmp_path
):
    load_extract(engine, build(corrupt=1), NAME, receipts, tmp_path)
    other = [*ROWS[:2], (*ROWS[2][:6], 60000, *ROWS[2][7:])]
    load_extract(engine, build(rows=other, corrupt=1), NAME, receipts, tmp_path)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(quarantined_record)).scalar() == 1


def test_a_file_loaded_from_its_path_in_chunks_loads_as_its_bytes_do(
    engine, receipts, tmp_path: Path, monkeypatch
):
    from mappings import lnrepay

    duplicated = [*ROWS, (*ROWS[0][:6], 1, 1, 20261019, 0, "P")]
    data = build(rows=duplicated, corrupt=1)
    path = tmp_path / NAME
    path.write_bytes(data)
    monkeypatch.setattr(lnrepay, "CHUNK_RECORDS", 1)  # every record a chunk of its own
    report = load_extract(engine, path, NAME, receipts, tmp_path / "kept")
    assert (report.state, report.inserted) == ("PARTIAL", 2)
    assert report.check["quarantined_total"] == 2
    with engine.connect() as conn:
        refs = sorted(conn.execute(select(quarantined_record.c.record_ref)).scalars())
    assert refs == ["3", "5"]  # the corrupt record and the repeat, named by position
    (kept,) = (tmp_path / "kept").iterdir()
    assert kept.read_bytes() == data  # kept whole, no temporary left beside it


def test_a_large_extract_is_downloaded_and_loaded_in_bounded_memory(
    sim, sim_endpoints, pg_engine, tmp_path: Path, monkeypatch
):
    """100,000 records (8.7 MB) through SFTP into PostgreSQL: the peak of Python's heap stays
    under half the file (the file read whole was the file itself, plus its decoding)."""
    import tracemalloc
    from datetime import date

    from bench.bench_extract import synthetic_extract
    from connectors import sftp
    from connectors.extracts import CoreExtracts
    from connectors.sftp import SftpConnector
    from loanhub.flows.repayments import ingest_extract
    from mappings import lnrepay
    from tests.connectors.conftest import sftp_config

    data = synthetic_extract(100_000)
    served = Path(sim_endpoints["sftp"]["root"]) / "extracts" / "LNREPAY.D310102"  # no other's
    served.write_bytes(data)
    del data
    monkeypatch.setattr(lnrepay, "CHUNK_RECORDS", 4096)
    # a window well under the file, as a production window (32 MiB) is under a night's file:
    # what waits in memory is at most a window, however fast the network runs ahead of the disk
    monkeypatch.setattr(sftp, "PREFETCH", 8 * sftp.REQUEST)
    extracts = CoreExtracts(SftpConnector(sftp_config(sim_endpoints), "core"), tmp_path / "in")
    tracemalloc.start()
    try:
        report = ingest_extract(
            pg_engine,
            extracts,
            FileReceiptBook(pg_engine),
            date(2031, 1, 2),
            tmp_path / "kept",
            "test",
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        served.unlink()
    assert (report.state, report.inserted) == ("LOADED", 100_000)
    assert peak < 87 * 100_002 / 2, f"peak {peak / 1e6:.1f} MB"
