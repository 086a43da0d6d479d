import io
import tracemalloc
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from mappings import lnrepay
from mappings.lnrepay import (
    COLUMNS,
    DUPLICATE,
    LISTED,
    check_extract,
    check_extract_file,
    check_stream,
    detail_chunks,
    installment_rows,
    installment_table,
)
from tests.mappings.ebcdic import detail, header, trailer

ROWS = [
    (
        "LN000000000000000001",
        100000000001,
        1,
        20261020,
        150000,
        2500,
        150000,
        2500,
        20261019,
        0,
        "P",
    ),
    ("LN000000000000000001", 100000000001, 2, 20261120, 150000, 2400, 0, 0, 0, 0, "D"),
    ("LN000000000000000002", 100000000002, 5, 20261101, 99999, 1, 50000, 0, 0, 19, "A"),
]


def build(rows=ROWS, count=None, hash_total=None, corrupt=None, signs=None) -> bytes:
    body = [detail(*r, signs=(signs or ())) for r in rows]
    if corrupt is not None:
        bad = bytearray(body[corrupt])
        bad[62] = (bad[62] & 0x0F) | 0xA0  # a nibble of principal paid that is no digit
        body[corrupt] = bytes(bad)
    total = sum(r[6] + r[7] for r in rows)
    return (
        header(20261120)
        + b"".join(body)
        + trailer(
            len(rows) if count is None else count, total if hash_total is None else hash_total
        )
    )


def test_a_good_file_decodes_to_the_values_written():
    result = check_extract(build(), "LNREPAY.D261120")
    assert result.rejected is None
    assert (result.records, result.valid, result.trailer_ok, result.hash_verified) == (
        3,
        3,
        True,
        True,
    )
    assert result.business_date == "20261120"
    v = result.details.values
    assert list(v["DTL-LOAN-ACCOUNT"]) == [r[0] for r in ROWS]
    assert list(v["DTL-PRINCIPAL-PAID"]) == [150000, 0, 50000]
    assert list(v["DTL-DAYS-PAST-DUE"]) == [0, 0, 19]
    assert list(v["DTL-STATUS"]) == ["P", "D", "A"]
    assert result.principal_paid_total == Decimal("2000.00")
    assert result.interest_paid_total == Decimal("25.00")


def test_c_d_and_f_signs_all_decode():
    f_signed = check_extract(build(signs=(0xF, 0xF, 0xF, 0xF)))
    assert f_signed.hash_verified
    zero_rows = [(*ROWS[1][:6], 0, 0, 0, 0, "D")]
    minus_zero = check_extract(build(rows=zero_rows, signs=(0xC, 0xC, 0xD, 0xD)))
    assert minus_zero.valid == 1
    assert minus_zero.hash_verified


def test_a_corrupt_record_is_quarantined_named_and_the_rest_load():
    result = check_extract(build(corrupt=1))
    assert result.rejected is None
    assert (result.valid, result.trailer_ok, result.hash_verified) == (2, True, None)
    assert result.quarantined == {"DTL-PRINCIPAL-PAID: bad packed-decimal nibble": 1}
    assert result.quarantined_records[0]["record"] == 3
    assert result.quarantined_records[0]["installment_no"] == 2


def test_a_count_mismatch_rejects_the_whole_file():
    result = check_extract(build(count=4))
    assert "trailer counts 4" in result.rejected
    assert not result.trailer_ok


def test_a_hash_mismatch_rejects_the_file_only_when_nothing_was_quarantined():
    assert "hash total" in check_extract(build(hash_total=1)).rejected
    corrupt = check_extract(build(corrupt=0, hash_total=1))
    assert corrupt.rejected is None
    assert corrupt.hash_verified is None


def test_records_breaking_the_contract_are_quarantined_with_the_field():
    rows = [ROWS[0], (*ROWS[1][:3], 20261131, *ROWS[1][4:]), (*ROWS[2][:10], "X")]
    result = check_extract(build(rows=rows))
    assert result.valid == 1
    assert set(result.quarantined) == {
        "DTL-DUE-DATE: not a date",
        "DTL-STATUS: unknown status code",
    }


def test_truncated_or_shuffled_files_are_rejected():
    good = build()
    assert "whole number" in check_extract(good[:-10]).rejected
    assert "not a header" in check_extract(good[87:] + good[:87]).rejected


def test_the_simulators_nightly_extract_checks_out(sim, sim_endpoints):
    from pathlib import Path

    data = (Path(sim_endpoints["sftp"]["root"]) / "extracts" / "LNREPAY.D261120").read_bytes()
    result = check_extract(data)
    assert result.rejected is None
    assert result.hash_verified is True
    assert result.records > 20


def test_low_values_in_a_text_field_and_a_damaged_record_type_are_quarantined():
    data = bytearray(build())
    data[87 * 2 + 5] = 0x00  # NUL inside the second detail's loan account
    data[87 * 3] = 0x00  # the third detail's record type, damaged in transfer
    result = check_extract(bytes(data))
    assert result.rejected is None
    assert result.valid == 1
    assert set(result.quarantined) == {
        "text field holds control characters (low-values?)",
        "DTL-REC-TYPE: not a detail record (damaged)",
    }


def test_valid_records_map_to_the_canonical_installment_columns():
    rows = [
        ROWS[0],
        ("LN000000000000000003", 42, 12, 20240229, -1, 0, 0, 0, 0, 0, "M"),
        ROWS[2],
    ]
    result = check_extract(build(rows=rows, corrupt=2), "LNREPAY.D261120")
    table = installment_table(result)
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("principal_due").type == pa.decimal128(18, 2)
    assert table.schema.field("due_date").type == pa.date32()
    assert table.to_pylist() == [  # the corrupt third record is not there
        {
            "loan_account": "LN000000000000000001",
            "installment_no": 1,
            "customer_no": "100000000001",
            "due_date": date(2026, 10, 20),
            "principal_due": Decimal("1500.00"),
            "interest_due": Decimal("25.00"),
            "principal_paid": Decimal("1500.00"),
            "interest_paid": Decimal("25.00"),
            "paid_date": date(2026, 10, 19),
            "days_past_due": 0,
            "status": "P",
        },
        {
            "loan_account": "LN000000000000000003",
            "installment_no": 12,
            "customer_no": "000000000042",  # zero-padded to its PIC 9(12)
            "due_date": date(2024, 2, 29),
            "principal_due": Decimal("-0.01"),
            "interest_due": Decimal("0.00"),
            "principal_paid": Decimal("0.00"),
            "interest_paid": Decimal("0.00"),
            "paid_date": None,  # zeros: not paid
            "days_past_due": 0,
            "status": "M",
        },
    ]


# --- streamed: the file is checked chunk by chunk, never read whole --------------------------


def _dup_rows() -> list[tuple]:
    """Five installments, the fourth repeating the first (across any chunk boundary)."""
    extra = ("LN000000000000000009", 100000000009, 1, 20261101, 500, 5, 500, 5, 20261101, 0, "P")
    return [ROWS[0], ROWS[1], ROWS[2], (*ROWS[0][:6], 1, 1, 20261019, 0, "P"), extra]


@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_a_file_checked_in_chunks_is_checked_as_a_whole(chunk):
    data = build(rows=_dup_rows(), corrupt=1)
    whole = check_extract(data, "LNREPAY.D261120")
    streamed = check_stream(io.BytesIO(data), "LNREPAY.D261120", chunk=chunk)
    assert streamed.summary() == whole.summary()
    assert whole.quarantined == {
        "DTL-PRINCIPAL-PAID: bad packed-decimal nibble": 1,
        DUPLICATE: 1,
    }
    assert [q["record"] for q in streamed.quarantined_records] == [
        3,
        5,
    ]  # the repeat, not the first
    chunks = list(detail_chunks(io.BytesIO(data), streamed, chunk))
    assert sum(installment_rows(d).num_rows for _, d in chunks) == whole.valid == 3
    assert installment_rows(whole.details).to_pylist() == [
        r for _, d in chunks for r in installment_rows(d).to_pylist()
    ]


def test_keys_whose_hashes_meet_are_compared_byte_by_byte(monkeypatch):
    monkeypatch.setattr(lnrepay, "_key_hash", lambda keys: np.zeros(len(keys), dtype=np.uint64))
    clean = check_stream(io.BytesIO(build()), chunk=2)  # every hash collides, no key repeats
    assert (clean.valid, clean.hash_verified) == (3, True)
    dup = check_stream(io.BytesIO(build(rows=_dup_rows())), chunk=2)
    assert dup.quarantined == {DUPLICATE: 1}


def test_an_extract_on_disk_is_checked_in_bounded_memory(tmp_path, monkeypatch):
    """200,000 records (17 MB): the check's peak stays well under the file's size (a whole
    read alone is the file's size, decoding it whole about five times more)."""
    from bench.bench_extract import synthetic_extract

    path = tmp_path / "LNREPAY.D261120"
    path.write_bytes(synthetic_extract(200_000))
    monkeypatch.setattr(lnrepay, "CHUNK_RECORDS", 8192)
    tracemalloc.start()
    try:
        result = check_extract_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.rejected, result.valid, result.hash_verified) == (None, 200_000, True)
    assert peak < path.stat().st_size / 2, f"peak {peak / 1e6:.1f} MB"


def test_a_file_of_only_bad_records_names_a_bounded_few(tmp_path):
    rows = [(f"LN{i:018d}", *ROWS[0][1:3], 20261131, *ROWS[0][4:]) for i in range(LISTED + 50)]
    path = tmp_path / "LNREPAY.D261120"
    path.write_bytes(build(rows=rows))
    result = check_extract_file(path)
    assert result.quarantined_total == LISTED + 50
    assert len(result.quarantined_records) == LISTED
    assert not result.listed_all
